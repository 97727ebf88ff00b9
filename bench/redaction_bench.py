"""Throughput of kernel output through the kernel websocket, with redaction off and on.

Starts a real jupyter_server with the extension in this process (temporary directories, a
temporary SQLite database), starts a real ipykernel, and opens a real websocket to it, as any
client does. Then it sends ``--megabytes`` of stream output through the server's outgoing path
and times it until the client has received the last frame, for each configuration:

- ``off``: jupyter_server's own connection class, as with ``redact_outputs = False``;
- ``0``, ``10``, ``100``: the redacting connection, with that many secrets in the project.

The output is fed to the connection's outgoing path (``handle_outgoing_message``, with
messages packed and signed as the kernel packs and signs them) rather than printed by the
kernel: ipykernel's own output rate (a few tens of MB/s at best) would otherwise be what is
measured. Everything after that point is the real path: decoding where needed, redaction,
jupyter_server's serialisation for the chosen protocol, tornado's websocket, and the client's
reading. One message in a hundred holds a secret value (or, with no secret, the same text).
Each configuration runs ``--rounds`` times, interleaved; the best round is reported.

    python bench/redaction_bench.py [--megabytes 50] [--chunk-kb 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import string
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROTOCOLS = {"json": None, "v1": "v1.kernel.websocket.jupyter.org"}
CONFIGS = ["off", 0, 10, 100]


def isolate(tmp: Path) -> None:
    """Point every Jupyter path at a temporary directory, before Jupyter is imported."""
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        path = tmp / name.lower()
        path.mkdir()
        os.environ[name] = str(path)
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
    os.environ.pop("JUPYTERLAB_SECRETS_KEY", None)


def output_text(size: int, rng: random.Random) -> str:
    """Log-like lines of printable ASCII, about ``size`` characters."""
    alphabet = string.ascii_letters + string.digits + " .,:;=-_/()[]"
    lines = []
    total = 0
    while total < size:
        line = "".join(rng.choices(alphabet, k=rng.randint(20, 120)))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:size]


class Bench:
    """One server, one kernel, and the client websockets."""

    def __init__(self, tmp: Path, args: argparse.Namespace) -> None:
        self.tmp = tmp
        self.args = args
        self.rng = random.Random(7)
        self.values: list[str] = [secrets.token_urlsafe(24) for _ in range(100)]

    async def start(self) -> None:
        from jupyter_server.serverapp import ServerApp
        from jupyter_server.services.kernels.connection.channels import (
            ZMQChannelsWebsocketConnection,
        )
        from tornado.httpserver import HTTPServer
        from tornado.netutil import bind_sockets
        from traitlets.config import Config

        self.token = uuid.uuid4().hex
        config = Config(
            {
                "ServerApp": {
                    "jpserver_extensions": {"jupyterlab_secrets": True},
                    "open_browser": False,
                    "allow_root": True,
                    "root_dir": str(self.tmp),
                },
                "IdentityProvider": {"token": self.token},
                # Every frame must arrive: jupyter_server's rate limit would drop most.
                "ZMQChannelsWebsocketConnection": {"limit_rate": False},
                "SecretsExtension": {
                    "project": "bench",
                    "db_url": f"sqlite:///{self.tmp / 'secrets.db'}",
                    "key_file": str(self.tmp / "key"),
                },
            }
        )
        self.app = ServerApp(config=config)
        self.app.init_signal = lambda: None  # type: ignore[method-assign]
        self.app.initialize(argv=[], new_httpserver=False)
        sockets = bind_sockets(0, "127.0.0.1")
        self.http = HTTPServer(self.app.web_app, max_buffer_size=1 << 30)
        self.http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        settings = self.app.web_app.settings
        self.redacting = settings["kernel_websocket_connection_class"]
        self.stock = ZMQChannelsWebsocketConnection
        assert self.redacting is not self.stock, "the extension did not install redaction"
        self.extension = settings["jupyterlab_secrets"]
        self.kernel_id = await self.app.kernel_manager.start_kernel(kernel_name="python3")

    async def stop(self) -> None:
        await self.app.kernel_manager.shutdown_all()
        self.http.stop()
        await self.app._cleanup()

    async def set_secrets(self, count: int) -> None:
        """Make the project hold exactly ``count`` secrets, the kernel hold them, and the
        redactor know them."""
        service = self.extension.service
        for meta in service.list("bench").secrets:
            service.delete("bench", meta.id)
        for index in range(count):
            service.create("bench", f"secret-{index:03d}", self.values[index])
        kernel_secrets = self.extension.kernel_secrets
        kernel_secrets.notify_changed()
        while len(kernel_secrets.secrets_for(self.kernel_id)) != count:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(self.extension.redactor.matcher, self.kernel_id)

    async def connect(self, connection_class: type, protocol: str | None) -> tuple[Any, Any]:
        """A client websocket, and the server's connection object behind it."""
        from jupyter_server.services.kernels.connection.channels import (
            ZMQChannelsWebsocketConnection,
        )
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        self.app.web_app.settings["kernel_websocket_connection_class"] = connection_class
        before = set(ZMQChannelsWebsocketConnection._open_sockets)
        url = (
            f"ws://127.0.0.1:{self.port}/api/kernels/{self.kernel_id}/channels"
            f"?session_id={uuid.uuid4().hex}"
        )
        request = HTTPRequest(url, headers={"Authorization": f"token {self.token}"})
        ws = await websocket_connect(
            request,
            subprotocols=[protocol] if protocol else None,
            max_message_size=1 << 30,
        )
        for _ in range(200):
            opened = set(ZMQChannelsWebsocketConnection._open_sockets) - before
            if opened:
                (connection,) = opened
                assert type(connection) is connection_class
                return ws, connection
            await asyncio.sleep(0.01)
        raise RuntimeError("the server did not open the kernel connection")

    def messages(self, connection: Any, count: int, chunk: int) -> list[list[bytes]]:
        """Stream messages packed and signed as the kernel sends them."""
        session = connection.session
        texts = [output_text(chunk, self.rng) for _ in range(8)]
        parent = session.msg_header("execute_request")
        packed = []
        for index in range(count):
            text = texts[index % len(texts)]
            if index % 100 == 50:
                # A secret value in the output (with no secret set, the same text anyway).
                text = text[:100] + self.values[index % 100] + text[100:]
            msg = session.msg(
                "stream", content={"name": "stdout", "text": text}, parent={"header": parent}
            )
            msg["parent_header"] = parent
            packed.append(session.serialize(msg))
        return packed

    async def run(self, config: str | int, protocol: str | None) -> tuple[float, float]:
        """MB/s of one configuration, from the first message fed to the last frame read: by
        the clock, and by the CPU time of this process (server and client), which the other
        programs of a busy machine disturb less."""
        connection_class = self.stock if config == "off" else self.redacting
        if config != "off":
            await self.set_secrets(int(config))
        ws, connection = await self.connect(connection_class, protocol)
        chunk = self.args.chunk_kb * 1024
        count = self.args.megabytes * (1 << 20) // chunk
        packed = self.messages(connection, count, chunk)
        # Let the connection's own start-up messages (status, kernel info) pass first.
        await asyncio.sleep(0.3)
        while True:
            try:
                await asyncio.wait_for(ws.read_message(), 0.2)
            except asyncio.TimeoutError:
                break

        received = 0

        async def read() -> None:
            nonlocal received
            while received < count:
                frame = await ws.read_message()
                assert frame is not None, "the websocket closed"
                received += 1

        reader = asyncio.ensure_future(read())
        start, cpu = time.perf_counter(), time.process_time()
        for index, msg_list in enumerate(packed):
            connection.handle_outgoing_message("iopub", list(msg_list))
            if index % 16 == 15:
                await asyncio.sleep(0)
        await reader
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        ws.close()
        await asyncio.sleep(0.05)
        megabytes = count * chunk / (1 << 20)
        return megabytes / elapsed, megabytes / cpu


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="redaction-bench-") as name:
        tmp = Path(name)
        isolate(tmp)
        bench = Bench(tmp, args)
        await bench.start()
        try:
            results: dict[tuple[str, str | int], tuple[float, float]] = {}
            for _ in range(args.rounds):
                for protocol_name, protocol in PROTOCOLS.items():
                    for config in CONFIGS:
                        wall, cpu = await bench.run(config, protocol)
                        key = (protocol_name, config)
                        best = results.get(key, (0.0, 0.0))
                        results[key] = (max(best[0], wall), max(best[1], cpu))
        finally:
            await bench.stop()
    from jupyterlab_secrets.redaction import Matcher

    named = [(f"secret-{index:03d}", value) for index, value in enumerate(bench.values)]
    engines = ", ".join(
        f"{count} secrets: {Matcher(dict(named[: int(count)])).engine}"
        for count in CONFIGS
        if count not in ("off", 0)
    )
    print(
        f"{args.megabytes} MB of stream output in {args.chunk_kb} KB messages, "
        f"best of {args.rounds} rounds, through a real server's kernel websocket; "
        f"screened with ({engines})"
    )
    print(f"{'protocol':<10}{'secrets':>8}{'MB/s':>10}{'× off':>8}{'MB/CPU-s':>10}{'× off':>8}")
    for protocol_name in PROTOCOLS:
        off_wall, off_cpu = results[(protocol_name, "off")]
        for config in CONFIGS:
            wall, cpu = results[(protocol_name, config)]
            label = "off" if config == "off" else str(config)
            print(
                f"{protocol_name:<10}{label:>8}{wall:>10.1f}{wall / off_wall:>8.2f}"
                f"{cpu:>10.1f}{cpu / off_cpu:>8.2f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--chunk-kb", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
