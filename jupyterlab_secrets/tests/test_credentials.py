"""The master key and the OpenBao token never reach a kernel or a terminal of the server.

jupyter_client gives every kernel a copy of the server's environment, and a terminal's shell
inherits it. A server started with ``JUPYTERLAB_SECRETS_KEY`` must therefore have taken it out
of its environment before it starts either.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from traitlets.config import Config

from jupyterlab_secrets.app import SecretsExtension
from jupyterlab_secrets.cli import SecretsExtension as CliSecretsExtension
from jupyterlab_secrets.config import SecretsSettings, warn_audit_key_held
from jupyterlab_secrets.credentials import (
    CREDENTIAL_ENVS,
    erase_from_startup_environment,
    forget_credentials,
    take_credentials,
)
from jupyterlab_secrets.crypto import encode_key, generate_key
from jupyterlab_secrets.errors import UnavailableError
from jupyterlab_secrets.openbao_admin import read_token

from .conftest import Api

TEAM_KEY = encode_key(generate_key())
OLD_KEY = encode_key(generate_key())
KEY_TEXT = f"{TEAM_KEY};{OLD_KEY}"
BAO_TOKEN = "s.bao-token-" + uuid.uuid4().hex
VAULT_TOKEN = "hvs.vault-token-" + uuid.uuid4().hex
AUDIT_KEY_TEXT = (
    Ed25519PrivateKey.generate()
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)
AUDIT_KEY_BODY = AUDIT_KEY_TEXT.splitlines()[1]
"""The operator's audit key, which a server should never be given: if it is, it is taken all
the same."""
CREDENTIALS = {
    "JUPYTERLAB_SECRETS_KEY": KEY_TEXT,
    "BAO_TOKEN": BAO_TOKEN,
    "VAULT_TOKEN": VAULT_TOKEN,
    "JUPYTERLAB_SECRETS_AUDIT_KEY": AUDIT_KEY_TEXT,
}
FORBIDDEN_VALUES = (TEAM_KEY, OLD_KEY, BAO_TOKEN, VAULT_TOKEN, AUDIT_KEY_BODY)
"""Each key of the key list on its own too: no part may appear under any name."""

TIMEOUT = 60


@pytest.fixture
def secrets_config(
    secrets_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The server is started with the team key and both tokens in its environment."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return secrets_config


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    """This server also serves terminals."""
    jp_server_config.ServerApp.jpserver_extensions["jupyter_server_terminals"] = True
    jp_server_config.ServerApp.terminals_enabled = True
    return jp_server_config


def assert_no_credential(environment: dict[str, str], where: str) -> None:
    """Neither the variables nor any of their values, under any name.

    Only names are compared and reported, so a failure never prints a credential.
    """
    assert [name for name in CREDENTIAL_ENVS if name in environment] == [], where
    holding = [
        name
        for name, value in environment.items()
        if any(forbidden in value for forbidden in FORBIDDEN_VALUES)
    ]
    assert holding == [], f"{where} holds a credential under these names"


async def kernel_environment(jp_fetch: Any, jp_ws_fetch: Any) -> dict[str, str]:
    """Start an ipykernel through the REST API and read its ``os.environ`` over its websocket."""
    started = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(started.body)["id"]
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    try:
        msg_id = uuid.uuid4().hex
        request = {
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "username": "test",
                "session": uuid.uuid4().hex,
                "version": "5.3",
                "date": "",
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": "import json, os; print(json.dumps(dict(os.environ)))",
                "silent": False,
                "store_history": False,
                "user_expressions": {},
                "allow_stdin": False,
            },
            "channel": "shell",
            "buffers": [],
        }
        await ws.write_message(json.dumps(request))
        printed = []
        while True:
            raw = await asyncio.wait_for(ws.read_message(), TIMEOUT)
            assert raw is not None, "the kernel's websocket closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["header"]["msg_type"]
            if kind == "stream":
                printed.append(message["content"]["text"])
            elif kind == "error":
                raise AssertionError(message["content"]["evalue"])
            elif kind == "status" and message["content"]["execution_state"] == "idle":
                break
        return json.loads("".join(printed))
    finally:
        ws.close()
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")


async def terminal_output(jp_fetch: Any, jp_ws_fetch: Any, command: str) -> str:
    """Open a terminal through the REST API, run ``command`` in it, and answer what it printed."""
    started = await jp_fetch("api", "terminals", method="POST", body="{}")
    name = json.loads(started.body)["name"]
    ws = await jp_ws_fetch("terminals", "websocket", name)
    try:
        # The marker is computed by the shell, so the echo of the typed line never matches it.
        await ws.write_message(json.dumps(["stdin", f"{command}; echo done-$((6*7))\r"]))
        output = ""
        while "done-42" not in output:
            raw = await asyncio.wait_for(ws.read_message(), TIMEOUT)
            assert raw is not None, "the terminal's websocket closed"
            kind, *rest = json.loads(raw)
            if kind == "stdout":
                output += rest[0]
        return output
    finally:
        ws.close()
        await jp_fetch("api", "terminals", name, method="DELETE")


async def test_a_kernel_inherits_neither_the_key_nor_a_token(
    api: Api, jp_fetch: Any, jp_ws_fetch: Any, extension: SecretsExtension, secrets_dir: Any
) -> None:
    # Given a server started with the team key and OpenBao tokens in its environment
    # Then it serves with that key, and made no key file of its own
    created = await api("POST", "secrets", body={"name": "works", "value": "yes"})
    assert created.status == 201
    assert not (secrets_dir / "key").exists()
    # And it holds them in memory only
    assert extension.credentials.key == KEY_TEXT
    assert extension.credentials.openbao_token == BAO_TOKEN
    assert extension.credentials.audit_key == AUDIT_KEY_TEXT
    assert_no_credential(dict(os.environ), "the server's own environment")
    # When a kernel is started through the REST API and prints its environment
    environment = await kernel_environment(jp_fetch, jp_ws_fetch)
    # Then the kernel ran (it sees the server's ordinary variables) and holds no credential
    assert "PATH" in environment
    assert_no_credential(environment, "the kernel's environment")


def test_a_server_that_can_read_the_audit_key_says_it_needs_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server's settings, with the audit key in its environment and a readable file
    monkeypatch.setenv("JUPYTERLAB_SECRETS_AUDIT_KEY", AUDIT_KEY_TEXT)
    key_file = tmp_path / "audit_key"
    key_file.write_text(AUDIT_KEY_TEXT)
    settings = SecretsSettings(audit_key_file=str(key_file))
    assert settings.credentials.audit_key == AUDIT_KEY_TEXT
    # When the server starts
    warn_audit_key_held(settings)
    # Then it warns that no server needs it, naming where it found it, never the key
    assert "this server can read the operator's audit key" in caplog.text
    assert "the environment variable JUPYTERLAB_SECRETS_AUDIT_KEY" in caplog.text
    assert f"the file {key_file} (SecretsExtension.audit_key_file)" in caplog.text
    assert AUDIT_KEY_BODY not in caplog.text
    # And one that cannot read it says nothing
    caplog.clear()
    forget_credentials()
    warn_audit_key_held(SecretsSettings(audit_key_file=str(tmp_path / "elsewhere")))
    assert caplog.text == ""


async def test_a_terminal_inherits_neither_the_key_nor_a_token(
    api: Api, jp_fetch: Any, jp_ws_fetch: Any
) -> None:
    # Given a server started with the team key and OpenBao tokens in its environment
    assert (await api("GET", "secrets")).status == 200
    # When a terminal is opened through the REST API and runs env
    output = await terminal_output(jp_fetch, jp_ws_fetch, "env")
    environment = dict(
        line.split("=", 1) for line in output.replace("\r", "").splitlines() if "=" in line
    )
    # Then the shell printed its environment, and it holds no credential
    assert "PATH" in environment
    assert_no_credential(environment, "the terminal's environment")
    assert not any(forbidden in output for forbidden in FORBIDDEN_VALUES)


def test_taking_credentials_prefers_bao_token_and_is_repeatable() -> None:
    # Given an environment with both token names and a key
    environ = {**CREDENTIALS, "OTHER": "kept"}
    # When the credentials are taken twice
    first = take_credentials(environ)
    second = take_credentials(environ)
    # Then they left the environment, and both takes answer them
    assert environ == {"OTHER": "kept"}
    assert first.key == second.key == KEY_TEXT
    assert first.openbao_token == second.openbao_token == BAO_TOKEN
    # And their text form never shows a value
    assert all(value not in repr(first) for value in FORBIDDEN_VALUES)


def test_vault_token_is_used_when_bao_token_is_absent() -> None:
    # Given only VAULT_TOKEN
    environ = {"VAULT_TOKEN": VAULT_TOKEN}
    # When the credentials are taken
    taken = take_credentials(environ)
    # Then it is the OpenBao token, and the environment no longer holds it
    assert taken.openbao_token == VAULT_TOKEN
    assert taken.key is None
    assert environ == {}


def test_the_openbao_token_comes_from_the_file_then_bao_token_then_vault_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given both token variables in the environment, and a token file
    monkeypatch.setenv("BAO_TOKEN", BAO_TOKEN)
    monkeypatch.setenv("VAULT_TOKEN", VAULT_TOKEN)
    token_file = tmp_path / "token"
    token_file.write_text("s.from-the-file\n")
    # When the token is read, with and without the file
    from_file = read_token(str(token_file))
    from_variables = read_token()
    # Then the file wins, then BAO_TOKEN, and neither variable is left in the environment
    assert from_file == "s.from-the-file"
    assert from_variables == BAO_TOKEN
    assert not set(CREDENTIAL_ENVS) & set(os.environ)
    # And with VAULT_TOKEN alone (or BAO_TOKEN empty), VAULT_TOKEN
    forget_credentials()
    monkeypatch.setenv("BAO_TOKEN", "")
    monkeypatch.setenv("VAULT_TOKEN", VAULT_TOKEN)
    assert read_token() == VAULT_TOKEN
    # And with none, the error says where it looked, and holds no token
    forget_credentials()
    with pytest.raises(UnavailableError, match="No OpenBao token") as error:
        read_token()
    assert VAULT_TOKEN not in error.value.message and BAO_TOKEN not in error.value.message


def test_a_token_file_is_removed_once_read_by_the_server_and_kept_by_commands(
    tmp_path: Path,
) -> None:
    # Given two token files
    kept, removed = tmp_path / "kept", tmp_path / "removed"
    kept.write_text("s.kept-token\n")
    removed.write_text("s.removed-token\n")
    # When one is read as the commands read it, the other as the server reads it
    from_kept = read_token(str(kept))
    from_removed = read_token(str(removed), remove=True)
    # Then both tokens are read; the server's file is gone, the command's is left
    assert (from_kept, from_removed) == ("s.kept-token", "s.removed-token")
    assert kept.exists() and not removed.exists()
    # And the server's reads its settings the same way: the server removes, commands keep
    assert SecretsExtension.removes_token_file is True
    assert CliSecretsExtension.removes_token_file is False


def test_a_token_file_that_cannot_be_removed_is_used_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a file nobody may delete (in /proc), read as the server reads its token file
    path = "/proc/self/comm"
    if not Path(path).exists():
        pytest.skip("/proc/self/comm exists on Linux only")
    expected = Path(path).read_text().strip()
    # When it is read
    with caplog.at_level(logging.WARNING):
        token = read_token(path, remove=True)
    # Then the token is used all the same, and a warning says the file stays readable
    assert token == expected
    assert f"cannot remove the OpenBao token file {path} once read" in caplog.text


def test_erasing_the_start_up_environment_is_a_logged_no_op_where_it_cannot_work(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a key taken from an environment, on a system other than Linux
    take_credentials({"JUPYTERLAB_SECRETS_KEY": KEY_TEXT})
    monkeypatch.setattr(sys, "platform", "darwin")
    # When the start-up environment is to be erased
    with caplog.at_level(logging.WARNING):
        erased = erase_from_startup_environment(CREDENTIAL_ENVS)
    # Then nothing is erased, and a warning names the variable, never its value
    assert erased == 0
    assert "cannot erase JUPYTERLAB_SECRETS_KEY" in caplog.text
    assert TEAM_KEY not in caplog.text
