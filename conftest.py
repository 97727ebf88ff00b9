"""Test configuration shared by the whole repository: a jupyter_server with the extension on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from jupyterlab_secrets.credentials import forget_credentials

pytest_plugins = ("pytest_jupyter.jupyter_server",)


@pytest.fixture(autouse=True)
def _no_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's own JUPYTERLAB_SECRETS_KEY (or audit key) must not leak into the tests,
    and neither may the credentials an earlier test's server took from the environment."""
    monkeypatch.delenv("JUPYTERLAB_SECRETS_KEY", raising=False)
    monkeypatch.delenv("JUPYTERLAB_SECRETS_AUDIT_KEY", raising=False)
    forget_credentials()
    yield
    forget_credentials()


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """Where the test server keeps its database and key."""
    return tmp_path / "secrets"


@pytest.fixture
def secrets_config(secrets_dir: Path) -> dict[str, Any]:
    """The SecretsExtension settings of the test server; override it to change them."""
    return {
        "db_url": f"sqlite:///{secrets_dir / 'secrets.db'}",
        "key_file": str(secrets_dir / "key"),
    }


@pytest.fixture
def jp_server_config(secrets_config: dict[str, Any]) -> Config:
    """A server with the extension enabled, refusing unauthenticated requests."""
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {
                    "jupyterlab_secrets": True,
                    "jupyter_server_terminals": False,
                },
                "allow_unauthenticated_access": False,
            },
            "SecretsExtension": secrets_config,
        }
    )
