"""Latency of the secrets REST API against a real jupyter_server, with a full store.

Starts ``jupyter server`` on a free loopback port with a token, temporary directories and a
temporary SQLite database holding ``--rows`` secrets (inserted through the store, for speed),
then times ``--requests`` real HTTP requests per endpoint and prints p50/p95/p99 in ms.
jupyter_server's own ``GET /api/status`` is measured as the floor.

Listing and environment are timed three ways: a plain GET; a poll whose ``If-None-Match``
matches (304, what other servers' kernels and panels send every few seconds); and, for the
listing, a GET right after one secret was edited, so nothing of the last answer can be reused.
With ``--postgresql URL`` the store is a temporary schema of that PostgreSQL database.

    python bench/api_bench.py [--rows 10000] [--requests 200] [--postgresql URL]
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
    workdir: Path, port: int, token: str, db_url: str, key_file: Path
) -> subprocess.Popen:
    """Start ``jupyter server`` with the extension from this source tree."""
    env = {
        **os.environ,
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
        f"--SecretsExtension.db_url={db_url}",
        f"--SecretsExtension.key_file={key_file}",
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
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="secrets-bench-") as tmp:
        workdir = Path(tmp)
        if args.postgresql:
            backend = "PostgreSQL"
            with temporary_schema(args.postgresql) as db_url:
                results, sizes, fill_seconds = run(args, workdir, db_url)
        else:
            backend = "SQLite"
            db_url = f"sqlite:///{workdir / 'secrets' / 'secrets.db'}"
            results, sizes, fill_seconds = run(args, workdir, db_url)

    print(
        f"jupyterlab-secrets API latency: {args.rows:,} secrets in {backend} "
        f"(filled in {fill_seconds:.1f} s), {args.requests} sequential requests per endpoint, "
        f"one keep-alive connection, Python {sys.version.split()[0]}"
    )
    print(f"list body {sizes[0] / 1e6:.2f} MB, environment body {sizes[1] / 1e6:.2f} MB")
    print()
    print(f"{'endpoint':<44} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    print("-" * 80)
    for label, count, p50, p95, p99 in results:
        print(f"{label:<44} {count:>5} {p50:>9.2f} {p95:>9.2f} {p99:>9.2f}")


Case = tuple[str, Callable[[int], httpx.Response], int, Callable[[int], object] | None]


def run(
    args: argparse.Namespace, workdir: Path, db_url: str
) -> tuple[list[tuple[str, int, float, float, float]], tuple[int, int], float]:
    """Fill the store, start a server on it, and time every case."""
    key_file = workdir / "secrets" / "key"
    started = time.perf_counter()
    ids = fill(db_url, key_file, args.rows)
    fill_seconds = time.perf_counter() - started

    port, token = free_port(), secrets.token_hex(24)
    server = start_server(workdir, port, token, db_url, key_file)
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
