"""The extension's configuration, entry points and first start."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from jupyter_core.paths import jupyter_data_dir
from traitlets import TraitError
from traitlets.config import Config

import jupyterlab_secrets
from jupyterlab_secrets.app import SecretsExtension
from jupyterlab_secrets.config import SecretsSettings, open_secrets, warn_retired_settings
from jupyterlab_secrets.errors import UnavailableError
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import Api

ROOT = Path(__file__).resolve().parents[2]


def test_entry_points() -> None:
    # Given the package
    # Then it names its frontend and its server extension
    assert jupyterlab_secrets._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "jupyterlab-secrets"}
    ]
    assert jupyterlab_secrets._jupyter_server_extension_points() == [
        {"module": "jupyterlab_secrets", "app": SecretsExtension}
    ]
    assert isinstance(jupyterlab_secrets.__version__, str)


def test_the_server_config_file_enables_the_extension() -> None:
    # Given the config file installed into etc/jupyter
    path = ROOT / "jupyter-config" / "server-config" / "jupyterlab_secrets.json"
    # Then it enables the extension
    assert json.loads(path.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_secrets": True}}
    }


def test_defaults(jp_environ: Any) -> None:
    # Given no configuration
    extension = SecretsExtension()
    # Then the defaults are those documented
    data = os.path.join(jupyter_data_dir(), "jupyterlab_secrets")
    assert extension.name == "jupyterlab_secrets"
    assert extension.project == "default"
    assert extension.db_url == "sqlite:///" + os.path.join(data, "secrets.db")
    assert extension.key_file == os.path.join(data, "key")
    assert extension.communities == {}
    assert extension.store_class is SqlSecretStore
    assert extension.redact_outputs is True
    assert extension.redact_min_length == 8
    assert extension.keep_versions == 10
    assert extension.poll_interval == 3.0
    assert (extension.openbao_url, extension.openbao_mount, extension.openbao_token_file) == (
        "",
        "jupyterlab-secrets",
        "",
    )


def test_the_settings_are_read_without_an_extension_app(tmp_path: Path) -> None:
    # Given a server config, as its config files give it
    config = Config(
        {
            "SecretsExtension": {
                "project": "proj-z",
                "db_url": f"sqlite:///{tmp_path / 'db' / 'secrets.db'}",
                "key_file": str(tmp_path / "db" / "key"),
                "keep_versions": 3,
                "redact_outputs": False,
            }
        }
    )
    # When the settings are read by themselves (as the command line does)
    settings = SecretsSettings(config=config)
    # Then they are the server's
    assert (settings.project, settings.keep_versions, settings.redact_outputs) == (
        "proj-z",
        3,
        False,
    )
    # And they open the store and the service of that project
    opened = open_secrets(settings)
    try:
        created = opened.service.create("alice", "from-settings", "v")
        assert created.project == "proj-z"
        assert created.explanation.hidden_in_outputs is False
        assert opened.store.keep_versions == 3  # type: ignore[attr-defined]
    finally:
        opened.store.close()


def test_an_openbao_url_without_a_token_or_openbao_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given OpenBao as the store, and no token anywhere
    for name in ("BAO_TOKEN", "VAULT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = SecretsSettings(openbao_url="http://127.0.0.1:9")
    # Then the store is unavailable, saying where a token is looked for
    with pytest.raises(UnavailableError, match="No OpenBao token: set SecretsExtension"):
        open_secrets(settings)
    # And with a token, but no OpenBao there, it says so (and never shows the token)
    token = tmp_path / "token"
    token.write_text("s.secret-token-value\n")
    settings = SecretsSettings(openbao_url="http://127.0.0.1:9", openbao_token_file=str(token))
    with pytest.raises(UnavailableError, match="cannot be reached") as error:
        open_secrets(settings)
    assert "secret-token-value" not in error.value.message


def test_communities_of_the_documented_shape_are_accepted() -> None:
    # Given communities as documented
    value = {"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}, "empty": {}}
    # When configured
    extension = SecretsExtension(communities=value)
    # Then they are kept, with missing lists empty
    assert extension.communities == {
        "ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]},
        "empty": {"admins": [], "projects": []},
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"ml-team": ["alice"]}, "SecretsExtension.communities['ml-team'] must be a dict like"),
        (
            {"ml-team": {"admin": ["alice"]}},
            "SecretsExtension.communities['ml-team'] has unknown keys ['admin']; only 'admins' "
            "and 'projects' are allowed.",
        ),
        (
            {"ml-team": {"admins": "alice"}},
            "SecretsExtension.communities['ml-team']['admins'] must be a list of non-empty "
            "strings.",
        ),
        (
            {"ml-team": {"projects": ["proj-a", 3]}},
            "SecretsExtension.communities['ml-team']['projects'] must be a list of non-empty "
            "strings.",
        ),
        (
            {"ml-team": {"projects": [""]}},
            "SecretsExtension.communities['ml-team']['projects'] must be a list of non-empty "
            "strings.",
        ),
        ({"": {}}, "SecretsExtension.communities has an empty or non-string name ''."),
    ],
)
def test_bad_communities_are_refused_with_a_clear_message(value: Any, message: str) -> None:
    # Given a malformed communities setting
    # When it is configured
    with pytest.raises(TraitError) as refused:
        SecretsExtension(communities=value)
    # Then the message names the fault
    assert message in str(refused.value)


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_a_poll_interval_of_zero_or_less_is_refused(value: float) -> None:
    # When the kernels' poll is set to run without a pause
    with pytest.raises(TraitError) as refused:
        SecretsExtension(poll_interval=value)
    # Then the message names the setting and what it must be
    assert "SecretsExtension.poll_interval must be more than 0 seconds." in str(refused.value)


@pytest.mark.parametrize("name", ["keep_versions", "redact_min_length"])
def test_a_negative_count_is_refused_and_zero_is_taken(name: str) -> None:
    # When a count is set below zero
    with pytest.raises(TraitError) as refused:
        SecretsExtension(**{name: -1})
    # Then the message names the setting and its bound
    assert f"'{name}' trait" in str(refused.value) and "less than 0" in str(refused.value)
    # And zero is a count like any other
    assert getattr(SecretsExtension(**{name: 0}), name) == 0


def test_a_retention_setting_left_in_a_config_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a config of an earlier release, which had servers prune the audit log
    config = Config({"SecretsExtension": {"audit_retention_days": 30}})
    settings = SecretsSettings(config=config)
    # Then no setting of that name exists any more
    assert not settings.has_trait("audit_retention_days")
    # And opening the store says it is ignored, and what replaces it
    warn_retired_settings(settings)
    assert "SecretsExtension.audit_retention_days is no longer a setting" in caplog.text
    assert "jupyter secrets audit --prune DAYS" in caplog.text


def test_the_command_line_reads_the_servers_poll_interval_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a server config that sets the kernels' poll
    config = Config({"SecretsExtension": {"poll_interval": 10.0}})
    # When the settings are read by themselves (as the command line does)
    settings = SecretsSettings(config=config)
    # Then they hold it, and no "not recognized" warning is logged
    assert settings.poll_interval == 10.0
    assert "not recognized" not in caplog.text


async def test_first_start_creates_a_private_key_file(
    api: Api, extension: SecretsExtension, secrets_dir: Path
) -> None:
    # Given a server started with no key file and an empty database
    key_file = secrets_dir / "key"
    # Then it created the key file and the database, mode 0600 in a 0700 directory, and serves
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((secrets_dir / "secrets.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    content = key_file.read_bytes()
    created = await api("POST", "secrets", body={"name": "first", "value": "v"})
    assert created.status == 201
    assert stat.S_IMODE((secrets_dir / "secrets.db-wal").stat().st_mode) == 0o600
    # When the extension starts again on the same files
    opened = open_secrets(SecretsExtension(config=extension.config))
    # Then the key file is unchanged, and the secret is readable
    try:
        assert key_file.read_bytes() == content
        assert opened.service.reveal("alice", created.body["id"]) == "v"
    finally:
        opened.store.close()


class RecordingStore(SqlSecretStore):
    """A store subclass, to check the store class is configurable."""


@pytest.fixture
def secrets_config(secrets_config: dict[str, Any]) -> dict[str, Any]:
    return {**secrets_config, "store_class": RecordingStore, "project": "proj-x"}


async def test_the_store_class_and_project_are_configurable(
    api: Api, extension: SecretsExtension
) -> None:
    # Given a server configured with a store subclass and a project
    # Then the extension uses them
    assert isinstance(extension.store, RecordingStore)
    reply = await api("GET", "secrets")
    assert reply.body == {"project": "proj-x", "secrets": []}
