"""What giving kernels their secrets costs, against real jupyter_servers and real ipykernels.

All figures come from one run, each beside its baseline:

- **First cell after start**, for a kernel started through the REST API (as VS Code,
  nbclient or papermill start one): from ``POST /api/kernels`` to the reply of the first
  cell, which reads the environment. With 100 and 1,000 secrets, on a server with the
  extension and on one without it; the median of ``--repeat`` runs, and their ratio.
- **Change to kernel**, with no page open: from the ``PATCH`` of one secret through the
  REST API to the moment a running kernel holds the new value (asked with silent user
  expressions, every 5 ms).
- **No-change check**: what the server's poll costs when nothing changed (reading the
  store's change marker, once per server every ``poll_interval`` seconds), at 10 and at
  10,000 secrets, beside ``GET /api/status``.

    python bench/kernels_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from jupyter_client.asynchronous import AsyncKernelClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api_bench import fill, free_port, wait_ready  # noqa: E402

from jupyterlab_secrets.crypto import Keyring, parse_keys  # noqa: E402
from jupyterlab_secrets.service import SecretsService  # noqa: E402
from jupyterlab_secrets.stores.sql import SqlSecretStore  # noqa: E402
from jupyterlab_secrets.stores.sql_schema import SecretRow  # noqa: E402

PROJECT = "bench"
FIRST_CELL = "import os; print(len(os.environ))"


class Server:
    """A ``jupyter server`` in a temporary directory, with or without the extension."""

    def __init__(
        self,
        workdir: Path,
        db_url: str,
        key_file: Path,
        extension: bool,
        store_options: list[str] | None = None,
        store_env: dict[str, str] | None = None,
    ) -> None:
        """``store_options`` (command-line options) and ``store_env`` replace the SQLite
        store of ``db_url`` and ``key_file`` with another (``openbao_bench.py``)."""
        self.workdir = workdir
        self.port, self.token = free_port(), secrets.token_hex(24)
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(workdir / "config"),
            "JUPYTER_DATA_DIR": str(workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
            "IPYTHONDIR": str(workdir / "ipython"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            **(store_env or {}),
        }
        env.pop("JUPYTERLAB_SECRETS_KEY", None)
        (workdir / "root").mkdir(parents=True)
        command = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={workdir / 'root'}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.jpserver_extensions=jupyterlab_secrets={extension}",
            f"--SecretsExtension.project={PROJECT}",
            *(
                store_options
                if store_options is not None
                else [
                    f"--SecretsExtension.db_url={db_url}",
                    f"--SecretsExtension.key_file={key_file}",
                ]
            ),
            "--ServerApp.log_level=WARN",
        ]
        if os.geteuid() == 0:
            command.append("--allow-root")
        self.log = open(workdir / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"token {self.token}"},
            timeout=120,
        )
        if extension:
            wait_ready(self.http, self.process)
        else:
            self._wait_status()

    def _wait_status(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.http.get("/api/status").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not start in time")

    def client(self, kernel_id: str) -> AsyncKernelClient:
        """A client on the kernel's connection file, as nbclient makes one."""
        client = AsyncKernelClient(
            connection_file=str(self.workdir / "runtime" / f"kernel-{kernel_id}.json")
        )
        client.load_connection_file()
        client.start_channels(hb=False)
        return client

    def stop(self) -> None:
        for kernel in self.http.get("/api/kernels").json():
            self.http.delete(f"/api/kernels/{kernel['id']}")
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


async def first_cell(server: Server) -> float:
    """Seconds from ``POST /api/kernels`` to the first cell's reply; the kernel is then
    shut down."""
    start = time.perf_counter()
    kernel_id = server.http.post("/api/kernels", json={"name": "python3"}).json()["id"]
    client = server.client(kernel_id)
    try:
        reply = await client.execute(FIRST_CELL, reply=True, timeout=120)
        elapsed = time.perf_counter() - start
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        server.http.delete(f"/api/kernels/{kernel_id}")
    return elapsed


async def change_to_kernel(server: Server, repeat: int) -> list[float]:
    """Seconds from a ``PATCH`` through REST to a running kernel holding the new value."""
    api = "/jupyterlab-secrets/api"
    meta = next(
        s for s in server.http.get(f"{api}/secrets").json()["secrets"] if s["name"] == "bench-0"
    )
    kernel_id = server.http.post("/api/kernels", json={"name": "python3"}).json()["id"]
    client = server.client(kernel_id)
    timings = []
    try:
        await client.wait_for_ready(timeout=60)
        for index in range(repeat + 1):
            value = f"changed-{index}-{secrets.token_hex(4)}"
            start = time.perf_counter()
            reply = server.http.patch(
                f"{api}/secrets/{meta['id']}", json={"version": meta["version"], "value": value}
            )
            meta = reply.json()
            while True:
                answer = await client.execute(
                    "",
                    silent=True,
                    store_history=False,
                    user_expressions={"v": "__import__('os').environ.get('bench-0')"},
                    reply=True,
                    timeout=60,
                )
                if answer["content"]["user_expressions"]["v"]["data"]["text/plain"] == repr(value):
                    break
                await asyncio.sleep(0.005)
            if index:  # the first one warms up the server's kernel client
                timings.append(time.perf_counter() - start)
    finally:
        client.stop_channels()
    return timings


def time_calls(call: Callable[[], object], count: int) -> float:
    """The median of ``count`` calls, in milliseconds, after a warm-up."""
    for _ in range(5):
        call()
    timings = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


@contextmanager
def store(workdir: Path, rows: int) -> Iterator[tuple[str, Path]]:
    """A SQLite store holding ``rows`` secrets named ``bench-<n>``."""
    db_url = f"sqlite:///{workdir / 'secrets' / 'secrets.db'}"
    key_file = workdir / "secrets" / "key"
    (workdir / "secrets").mkdir(mode=0o700, parents=True)  # a key's directory is private
    fill(db_url, key_file, rows)
    opened = SqlSecretStore(db_url=db_url, keyring=Keyring(parse_keys(key_file.read_text())))
    try:
        from sqlalchemy import update

        # api_bench names them secret-NNNNN; the change bench reads bench-0.
        with opened.engine.begin() as connection:
            first = connection.execute(SecretRow.__table__.select().limit(1)).first()
            if first is not None:
                connection.execute(
                    update(SecretRow).where(SecretRow.id == first.id).values(name="bench-0")
                )
    finally:
        opened.close()
    yield db_url, key_file


def no_change_check(workdir: Path, rows: int, count: int) -> tuple[float, float]:
    """The poll's check when nothing changed (ms), and ``GET /api/status`` (ms)."""
    with store(workdir, rows) as (db_url, key_file):
        opened = SqlSecretStore(db_url=db_url, keyring=Keyring(parse_keys(key_file.read_text())))
        try:
            service = SecretsService(opened, PROJECT)
            check = time_calls(service.change_marker, count)
        finally:
            opened.close()
        server = Server(workdir / "server", db_url, key_file, extension=True)
        try:
            status = time_calls(lambda: server.http.get("/api/status"), count)
        finally:
            server.stop()
    return check, status


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--checks", type=int, default=200, help="timed no-change checks")
    args = parser.parse_args()

    print(f"jupyterlab-secrets kernel bench: Python {sys.version.split()[0]}, SQLite store")
    print()
    print("First cell after start, kernel started through REST (median of", args.repeat, "runs)")
    print(f"{'secrets':>8} {'with ext. s':>12} {'without s':>10} {'ratio':>7}")
    for size in (100, 1000):
        with tempfile.TemporaryDirectory(prefix="secrets-kbench-") as tmp:
            workdir = Path(tmp)
            with store(workdir, size) as (db_url, key_file):
                servers = {
                    flag: Server(workdir / f"server-{flag}", db_url, key_file, extension=flag)
                    for flag in (True, False)
                }
                try:
                    timings: dict[bool, list[float]] = {True: [], False: []}
                    await first_cell(servers[True])  # warm-ups: imports, caches
                    await first_cell(servers[False])
                    for _ in range(args.repeat):  # interleaved, so both see the same machine
                        for flag in (True, False):
                            timings[flag].append(await first_cell(servers[flag]))
                finally:
                    for server in servers.values():
                        server.stop()
        with_ext, without = statistics.median(timings[True]), statistics.median(timings[False])
        print(f"{size:>8,} {with_ext:>12.3f} {without:>10.3f} {with_ext / without:>6.2f}x")

    print()
    with tempfile.TemporaryDirectory(prefix="secrets-kbench-") as tmp:
        workdir = Path(tmp)
        with store(workdir, 100) as (db_url, key_file):
            server = Server(workdir / "server", db_url, key_file, extension=True)
            try:
                changes = await change_to_kernel(server, args.repeat)
            finally:
                server.stop()
    print(
        "Change to kernel, no page open, 100 secrets: median "
        f"{statistics.median(changes) * 1000:.1f} ms, max {max(changes) * 1000:.1f} ms "
        f"over {len(changes)} changes (PATCH through REST to the kernel holding the value)"
    )

    print()
    print(f"No-change check, median of {args.checks} (the poll runs it once per server)")
    print(f"{'secrets':>8} {'check ms':>9} {'GET /api/status ms':>19} {'ratio':>7}")
    for rows in (10, 10_000):
        with tempfile.TemporaryDirectory(prefix="secrets-kbench-") as tmp:
            check, status = no_change_check(Path(tmp), rows, args.checks)
        print(f"{rows:>8,} {check:>9.3f} {status:>19.3f} {check / status:>6.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
