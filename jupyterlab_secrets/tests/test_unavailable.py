"""A missing, malformed or wrong key (or an unreachable, unknown or malformed database URL):
503 everywhere, no damage."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jupyterlab_secrets.crypto import Keyring, encode_key, generate_key
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import Api, stored_rows
from .test_api import ALL_ROUTES

SEED_KEY = generate_key()


@dataclass
class Scenario:
    """How the server is misconfigured, and what its 503 message must say."""

    seed: bool
    key_file: str | None
    env: str | None
    db_url: str | None
    expected: tuple[str, ...]


SCENARIOS = {
    "wrong-key-file": Scenario(
        seed=True,
        key_file=encode_key(generate_key()),
        env=None,
        db_url=None,
        expected=("cannot decrypt the stored secrets", "SecretsExtension.key_file"),
    ),
    "missing-key-file": Scenario(
        seed=True,
        key_file=None,
        env=None,
        db_url=None,
        expected=(
            "is missing, but the database holds encrypted secrets",
            "SecretsExtension.key_file",
            "JUPYTERLAB_SECRETS_KEY",
        ),
    ),
    "malformed-key-file": Scenario(
        seed=True,
        key_file="this is not base64!",
        env=None,
        db_url=None,
        expected=("is malformed: key 1 is not valid base64", "SecretsExtension.key_file"),
    ),
    "short-key-file": Scenario(
        seed=False,
        key_file=base64.b64encode(b"k" * 16).decode(),
        env=None,
        db_url=None,
        expected=("is malformed: key 1 is 16 bytes long, not 32",),
    ),
    "malformed-env": Scenario(
        seed=True,
        key_file=encode_key(SEED_KEY),
        env="definitely-not-a-key",
        db_url=None,
        expected=("The environment variable JUPYTERLAB_SECRETS_KEY is malformed",),
    ),
    "wrong-env-key": Scenario(
        seed=True,
        key_file=encode_key(SEED_KEY),
        env=encode_key(generate_key()),
        db_url=None,
        expected=(
            "The master key from the environment variable JUPYTERLAB_SECRETS_KEY cannot "
            "decrypt the stored secrets",
        ),
    ),
    "unreachable-database": Scenario(
        seed=False,
        key_file=None,
        env=None,
        db_url="postgresql+psycopg://postgres:hunter2@127.0.0.1:1/test",
        expected=(
            "postgresql+psycopg://postgres:***@127.0.0.1:1/test",
            "SecretsExtension.db_url",
            "cannot be opened",
        ),
    ),
    "unknown-backend": Scenario(
        seed=False,
        key_file=None,
        env=None,
        db_url="mysql+pymysql://root:hunter2@127.0.0.1/secrets",
        expected=(
            "No store backend is named 'mysql'",
            "openbao, postgresql, sqlite",
            "SecretsExtension.db_url",
        ),
    ),
    "not-a-database-url": Scenario(
        seed=False,
        key_file=None,
        env=None,
        db_url="secrets.db with hunter2",
        expected=("SecretsExtension.db_url is not a database URL",),
    ),
}


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> Scenario:
    return SCENARIOS[request.param]


@pytest.fixture
def secrets_config(
    secrets_config: dict[str, Any], scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Prepare the database, key file and environment before the server starts."""
    if scenario.seed:
        store = SqlSecretStore(db_url=secrets_config["db_url"], keyring=Keyring([SEED_KEY]))
        service = SecretsService(store, "default")
        service.create("alice", "stored-one", "precious-1")
        service.create("alice", "stored-two", "precious-2")
        store.close()
    key_file = Path(secrets_config["key_file"])
    if scenario.key_file is not None:
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_file.write_text(scenario.key_file + "\n")
        key_file.chmod(0o600)
    if scenario.env is not None:
        monkeypatch.setenv("JUPYTERLAB_SECRETS_KEY", scenario.env)
    if scenario.db_url is not None:
        return {**secrets_config, "db_url": scenario.db_url}
    return secrets_config


@pytest.mark.parametrize(("method", "path", "body"), ALL_ROUTES)
async def test_every_route_answers_503_with_what_to_fix(
    api: Api,
    jp_fetch: Any,
    scenario: Scenario,
    secrets_config: dict[str, Any],
    method: str,
    path: tuple[str, ...],
    body: Any,
) -> None:
    # Given a server whose key or database is not usable
    key_file = Path(secrets_config["key_file"])
    key_before = key_file.read_bytes() if key_file.exists() else None
    rows_before = stored_rows(secrets_config["db_url"]) if scenario.seed else None
    # When a route is called
    parts = [part.replace("{id}", "0" * 32) for part in path]
    kwargs = {"body": body} if body is not None else {}
    reply = await api(method, *parts, **kwargs)
    # Then it is 503, and the message says what the operator must fix
    assert reply.status == 503
    assert set(reply.body) == {"message"}
    for fragment in scenario.expected:
        assert fragment in reply.message
    assert "precious" not in reply.message
    assert "hunter2" not in reply.message
    # And the server itself runs
    status = await jp_fetch("api", "status")
    assert status.code == 200
    # And no key was created or changed, and no row was touched
    assert (key_file.read_bytes() if key_file.exists() else None) == key_before
    if rows_before is not None:
        assert stored_rows(secrets_config["db_url"]) == rows_before
        assert len(rows_before) == 2


async def test_unavailable_still_requires_authentication(api: Api, scenario: Scenario) -> None:
    # Given an unavailable server
    # When a request has no token
    reply = await api("GET", "secrets", auth=False)
    # Then it is refused before anything about the configuration is told
    assert reply.status in (401, 403)
    assert "JUPYTERLAB_SECRETS_KEY" not in str(reply.body)
