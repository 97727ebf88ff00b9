"""No kernel can read the master key or an OpenBao token in its server's ``/proc`` files.

Removing the variables from ``os.environ`` is not enough: ``/proc/<pid>/environ`` shows the
environment a process was started with, and any process of the same user may read it. Each
test starts a real ``jupyter server`` process (SQLite, PostgreSQL, OpenBao with the token in a
variable or in a file) with the key and live OpenBao tokens, starts an ipykernel through it, and
lets a cell read everything it can of its parent server: ``/proc/<ppid>/environ``,
``/proc/<ppid>/cmdline`` and the token file. Every long string found there is then tried as a
token against OpenBao (``auth/token/lookup-self``): none may be live, and the key appears
nowhere. Failures name counts and variable names, never a credential.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from jupyterlab_secrets.credentials import CREDENTIAL_ENVS
from jupyterlab_secrets.crypto import encode_key, generate_key
from jupyterlab_secrets.stores.openbao import project_policy_name

from .kernel_client import JSON_PROTOCOL, KernelClient, outputs
from .live import LiveServer
from .openbao_server import OpenBao

LONG = 20
"""The shortest string tried as a token: OpenBao's tokens and a base64 key are longer."""

MARKER = "SECRETS_TEST_MARKER"
"""A plain variable of the server's start-up environment: a cell that finds it has really
read its server's environment."""

READ_PARENT = """
import base64, json, os
def read(path):
    try:
        with open(path, 'rb') as file:
            return base64.b64encode(file.read()).decode()
    except OSError as error:
        return None
parent = os.getppid()
print(json.dumps({
    'ppid': parent,
    'environ': read(f'/proc/{parent}/environ'),
    'cmdline': read(f'/proc/{parent}/cmdline'),
    'token_file': read(TOKEN_FILE),
}))
"""
"""A cell: what it can read of its parent (the server), base64 (None where it cannot)."""


def long_strings(data: bytes) -> set[str]:
    """Every string of at least `LONG` characters in a NUL-separated block: each entry, and
    its parts split at ``=``, ``;``, ``,`` and white space (a key list, an option's value)."""
    found: set[str] = set()
    for entry in data.decode("utf-8", errors="replace").split("\0"):
        parts = {entry, *entry.split("=", 1)}
        for separator in (";", ",", " ", "\n"):
            parts |= {piece for part in list(parts) for piece in part.split(separator)}
        found |= {part.strip() for part in parts if len(part.strip()) >= LONG}
    return found


def live_tokens(url: str, candidates: set[str]) -> int:
    """How many of ``candidates`` OpenBao accepts as a token."""
    live = 0
    for candidate in candidates:
        try:
            hvac.Client(url=url, token=candidate, timeout=10).auth.token.lookup_self()
        except (hvac.exceptions.VaultError, ValueError):
            continue  # refused: not a token (or not one that may look itself up)
        live += 1
    return live


async def read_parent_from_a_kernel(server: LiveServer, token_file: str) -> dict[str, Any]:
    """Start an ipykernel through ``server``'s REST API, run `READ_PARENT` in it over the
    kernel websocket, and answer what it printed (decoded)."""
    base = f"http://127.0.0.1:{server.port}"
    with httpx.Client(headers=server.headers, timeout=60) as client:
        started = client.post(f"{base}/api/kernels", json={"name": "python3"})
        assert started.status_code == 201, started.text
        kernel_id = started.json()["id"]
        try:
            request = HTTPRequest(
                f"ws://127.0.0.1:{server.port}/api/kernels/{kernel_id}/channels"
                f"?session_id={uuid.uuid4().hex}",
                headers=server.headers,
            )
            kernel = KernelClient(await websocket_connect(request), JSON_PROTOCOL, kernel_id)
            try:
                code = READ_PARENT.replace("TOKEN_FILE", repr(token_file))
                replies = await kernel.execute(code, timeout=120)
            finally:
                kernel.close()
        finally:
            client.delete(f"{base}/api/kernels/{kernel_id}")
    printed = "".join(o.get("text", "") for o in outputs(replies) if o["type"] == "stream")
    errors = [o["ename"] for o in outputs(replies) if o["type"] == "error"]
    assert errors == [], errors
    answer = json.loads(printed)
    for name in ("environ", "cmdline", "token_file"):
        if answer[name] is not None:
            answer[name] = base64.b64decode(answer[name])
    return answer


def assert_nothing_to_take(
    seen: dict[str, Any], server: LiveServer, openbao: OpenBao, key: str, tokens: list[str]
) -> None:
    """The cell read its server's files, and found in them no live token and no key.

    Each check is computed before it is asserted, so that a failure shows a count or a name,
    never what the cell read.
    """
    assert server.process is not None
    # The cell ran in a kernel of this server, and read its environment and command line
    assert seen["ppid"] == server.process.pid
    assert seen["environ"] is not None and seen["cmdline"] is not None
    marker_found = f"{MARKER}=".encode() in seen["environ"]
    assert marker_found, "the cell did not read its server's start-up environment"
    # The tokens given to the server are live: the check below would catch them
    given_live = live_tokens(openbao.url, set(tokens))
    assert given_live == len(tokens)
    readable = seen["environ"] + b"\0" + seen["cmdline"] + b"\0" + (seen["token_file"] or b"")
    candidates = long_strings(readable)
    tried = len(candidates)
    assert tried > 0, "the cell found no long string at all"
    readable_live = live_tokens(openbao.url, candidates)
    assert readable_live == 0, f"a live OpenBao token is readable (of {tried} strings tried)"
    key_readable = key.encode() in readable
    assert not key_readable, "the master key is readable"
    tokens_readable = sum(token.encode() in readable for token in tokens)
    assert tokens_readable == 0, "a token given to the server is readable"
    # The variables themselves are at most names left with an empty value
    holding = sorted(
        name
        for name in CREDENTIAL_ENVS
        for entry in seen["environ"].split(b"\0")
        if entry.startswith(f"{name}=".encode()) and entry != f"{name}=".encode()
    )
    assert holding == [], "these variables still hold a value"


def started(server: LiveServer) -> LiveServer:
    """Start ``server``; stop it at the end of the test whatever happens (see the callers)."""
    server.env[MARKER] = uuid.uuid4().hex
    return server.start()


async def test_a_kernel_of_a_sql_server_reads_no_key_and_no_token_in_its_server(
    tmp_path: Path, db_url: str, openbao: OpenBao
) -> None:
    # Given a server on SQLite or PostgreSQL started with the team key, and live OpenBao
    # tokens in both variables, in its start-up environment
    key = encode_key(generate_key())
    tokens = [openbao.mint(project_policy_name("proj-a")) for _ in range(2)]
    server = LiveServer(
        tmp_path / "server",
        db_url,
        key,
        env={"BAO_TOKEN": tokens[0], "VAULT_TOKEN": tokens[1]},
    )
    try:
        started(server)
        # And it serves with that key
        created = httpx.post(
            server.url + "secrets",
            json={"name": "works", "value": "yes"},
            headers=server.headers,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        # When a cell of one of its kernels reads the server's /proc files
        seen = await read_parent_from_a_kernel(server, str(tmp_path / "no-token-file"))
    finally:
        server.stop()
    # Then it finds no live token and no key there
    assert_nothing_to_take(seen, server, openbao, key, tokens)


@pytest.mark.parametrize("given_in", ["variable", "file"])
async def test_a_kernel_of_an_openbao_server_reads_no_token_in_its_server(
    tmp_path: Path, openbao: OpenBao, given_in: str
) -> None:
    # Given a server on OpenBao started with its token in BAO_TOKEN (another live one in
    # VAULT_TOKEN), or in a token file; and a key in its environment too
    key = encode_key(generate_key())
    tokens = [openbao.mint(project_policy_name("proj-a")) for _ in range(2)]
    token_file = tmp_path / "bao-token"
    settings: dict[str, Any] = {"openbao_url": openbao.url, "openbao_mount": openbao.mount}
    env = {"BAO_TOKEN": tokens[0], "VAULT_TOKEN": tokens[1]}
    if given_in == "file":
        token_file.write_text(tokens[0] + "\n")
        token_file.chmod(0o600)
        settings["openbao_token_file"] = str(token_file)
        env = {"VAULT_TOKEN": tokens[1]}
    server = LiveServer(tmp_path / "server", "", key, settings=settings, env=env)
    try:
        started(server)
        # And it serves from OpenBao with that token
        created = httpx.post(
            server.url + "secrets",
            json={"name": "works", "value": "yes"},
            headers=server.headers,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        # Then the token file is gone
        assert not token_file.exists()
        # When a cell of one of its kernels reads the server's /proc files and the token file
        seen = await read_parent_from_a_kernel(server, str(token_file))
    finally:
        server.stop()
    # Then it finds no live token and no key there
    assert seen["token_file"] is None
    assert_nothing_to_take(seen, server, openbao, key, tokens)


def test_a_child_of_the_command_line_reads_no_credential_in_its_parent(tmp_path: Path) -> None:
    # Given a Python process started with the key and tokens, which takes them as
    # `jupyter secrets` does first of all, then starts a child
    key = encode_key(generate_key())
    tokens = [f"s.token-{uuid.uuid4().hex}", f"hvs.token-{uuid.uuid4().hex}"]
    # (and the operator's audit key, which `jupyter secrets audit --anchor` signs with)
    audit_key = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    child = (
        "import os, sys; "
        "sys.stdout.buffer.write(open(f'/proc/{os.getppid()}/environ', 'rb').read())"
    )
    parent = (
        "import subprocess, sys\n"
        "from jupyterlab_secrets.credentials import take_credentials\n"
        "held = take_credentials()\n"
        "assert held.key and held.openbao_token\n"
        f"child = subprocess.run([sys.executable, '-c', {child!r}], capture_output=True)\n"
        "sys.stdout.buffer.write(child.stdout)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2])]),
        "JUPYTERLAB_SECRETS_KEY": key,
        "BAO_TOKEN": tokens[0],
        "VAULT_TOKEN": tokens[1],
        "JUPYTERLAB_SECRETS_AUDIT_KEY": audit_key,
        MARKER: "kept",
    }
    # When the child reads its parent's start-up environment
    result = subprocess.run(
        [sys.executable, "-c", parent], env=env, capture_output=True, timeout=60
    )
    # Then it read it, and every credential's value is gone from it; the rest is kept
    # (each check computed first: a failure shows no credential)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    entries = result.stdout.split(b"\0")
    marker_kept = f"{MARKER}=kept".encode() in entries
    assert marker_kept
    emptied = [name for name in CREDENTIAL_ENVS if f"{name}=".encode() in entries]
    assert emptied == list(CREDENTIAL_ENVS)
    audit_body = audit_key.splitlines()[1]
    readable = sum(value.encode() in result.stdout for value in (key, *tokens, audit_body))
    assert readable == 0, "a credential is readable in the parent's start-up environment"
