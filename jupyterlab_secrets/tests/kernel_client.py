"""A kernel websocket client, as any client (JupyterLab, VS Code, nbclient) talks to the server.

It speaks both protocols: the JSON one and ``v1.kernel.websocket.jupyter.org``. The fixture
`connect` starts a kernel through the REST API and opens a websocket to it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
    serialize_msg_to_ws_v1,
)

V1 = "v1.kernel.websocket.jupyter.org"
JSON_PROTOCOL = "json"

# Found before the tests point Jupyter's paths at temporary directories.
_REAL_SPECS = KernelSpecManager().find_kernel_specs()


def install_kernelspecs(data_dir: Path) -> list[str]:
    """Install the bash and R kernelspecs where the test server looks; the names installed.

    ipykernel's own spec (python3) is always there. R's spec is the one installed on this
    machine (by ``IRkernel::installspec`` or Debian's r-cran-irkernel), if any.
    """
    kernels = data_dir / "kernels"
    (kernels / "bash").mkdir(parents=True, exist_ok=True)
    (kernels / "bash" / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "bash_kernel", "-f", "{connection_file}"],
                "display_name": "Bash",
                "language": "bash",
            }
        )
    )
    installed = ["python3", "bash"]
    if "ir" in _REAL_SPECS:
        shutil.copytree(_REAL_SPECS["ir"], kernels / "ir", dirs_exist_ok=True)
        installed.append("ir")
    return installed


@dataclass
class Received:
    """One message as the client received it: its channel, its parts, its raw frame."""

    channel: str
    msg: dict[str, Any]
    raw: bytes


class KernelClient:
    """A websocket to one kernel of the test server."""

    def __init__(self, ws: Any, protocol: str, kernel_id: str = "") -> None:
        self.ws = ws
        self.protocol = protocol
        self.kernel_id = kernel_id
        self.session = uuid.uuid4().hex
        self.received: list[Received] = []

    @classmethod
    async def open(cls, jp_ws_fetch: Any, kernel_id: str, protocol: str) -> KernelClient:
        """Connect to a kernel's channels with one protocol."""
        subprotocols = [V1] if protocol == V1 else None
        ws = await jp_ws_fetch(
            "api",
            "kernels",
            kernel_id,
            "channels",
            params={"session_id": uuid.uuid4().hex},
            subprotocols=subprotocols,
        )
        assert ws.selected_subprotocol == (V1 if protocol == V1 else None)
        return cls(ws, protocol, kernel_id)

    def close(self) -> None:
        self.ws.close()

    def _message(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "header": {
                "msg_id": uuid.uuid4().hex,
                "msg_type": msg_type,
                "username": "test",
                "session": self.session,
                "date": dt.datetime.now(dt.timezone.utc).isoformat(),
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "buffers": [],
        }

    def send(self, channel: str, msg: dict[str, Any]) -> None:
        if self.protocol == V1:
            frame = serialize_msg_to_ws_v1(msg, channel, lambda part: json.dumps(part).encode())
            self.ws.write_message(frame, binary=True)
        else:
            self.ws.write_message(json.dumps({**msg, "channel": channel}))

    async def receive(self) -> Received:
        raw = await self.ws.read_message()
        assert raw is not None, "the websocket closed"
        if self.protocol == V1:
            channel, parts = deserialize_msg_from_ws_v1(raw)
            header, parent, metadata, content = (json.loads(part) for part in parts[:4])
            msg = {
                "header": header,
                "parent_header": parent,
                "metadata": metadata,
                "content": content,
                "msg_type": header["msg_type"],
                "buffers": list(parts[4:]),
            }
        elif isinstance(raw, bytes):
            # A message with binary buffers (a widget's, say) comes as one binary frame.
            msg = deserialize_binary_message(raw)
            channel = msg["channel"]
        else:
            msg = json.loads(raw)
            channel = msg["channel"]
        data = raw if isinstance(raw, bytes) else raw.encode()
        received = Received(channel, msg, data)
        self.received.append(received)
        return received

    async def execute(self, code: str, timeout: float = 60, **options: Any) -> list[Received]:
        """Run code; the IOPub messages it caused and its reply, once the kernel is idle."""
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
            **options,
        }
        return await self.request("shell", "execute_request", content, timeout)

    async def request(
        self,
        channel: str,
        msg_type: str,
        content: dict[str, Any],
        timeout: float = 60,
        answer: str | None = None,
    ) -> list[Received]:
        """Send a request; the messages it caused (its reply, what it broadcast, an input
        request, answered with ``answer``), once it was answered and the kernel is idle."""
        request = self._message(msg_type, content)
        self.send(channel, request)
        msg_id = request["header"]["msg_id"]
        reply_type = msg_type.replace("_request", "_reply")
        replies: list[Received] = []
        idle = replied = False

        async def collect() -> None:
            nonlocal idle, replied
            while not (idle and replied):
                received = await self.receive()
                if received.msg["parent_header"].get("msg_id") != msg_id:
                    continue
                replies.append(received)
                kind = received.msg["header"]["msg_type"]
                if kind == reply_type:
                    replied = True
                elif kind == "status" and received.msg["content"]["execution_state"] == "idle":
                    idle = True
                elif kind == "input_request":
                    reply = self._message("input_reply", {"value": answer or ""})
                    reply["parent_header"] = received.msg["header"]
                    self.send("stdin", reply)

        await asyncio.wait_for(collect(), timeout)
        return replies


def outputs(replies: list[Received]) -> list[dict[str, Any]]:
    """The contents of the output messages among ``replies``, with their type."""
    kinds = {"stream", "display_data", "update_display_data", "execute_result", "error"}
    return [
        {"type": r.msg["header"]["msg_type"], **r.msg["content"]}
        for r in replies
        if r.msg["header"]["msg_type"] in kinds
    ]


def strings(node: Any) -> list[str]:
    """Every string in a JSON-like value, keys included."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    if isinstance(node, dict):
        return [text for key, item in node.items() for text in [*strings(key), *strings(item)]]
    return []


def text_of(replies: list[Received]) -> str:
    """Everything the outputs show (stream text, data, error fields), one string a line."""
    shown = ("text", "data", "ename", "evalue", "traceback")
    return "\n".join(
        text
        for output in outputs(replies)
        for field in shown
        for text in strings(output.get(field))
    )


Connect = Callable[..., Awaitable[KernelClient]]


@pytest.fixture
def kernel_names(jp_data_dir: Path) -> list[str]:
    """The kernels the test server can start: ipykernel, bash_kernel and IRkernel."""
    return install_kernelspecs(jp_data_dir)


@pytest.fixture
def connect(jp_fetch: Any, jp_ws_fetch: Any, kernel_names: list[str]) -> Iterator[Connect]:
    """Start a kernel and open a websocket to it: ``await connect("python3", V1)``.

    The server shuts its kernels down when it stops.
    """
    clients: list[KernelClient] = []

    async def start(name: str = "python3", protocol: str = JSON_PROTOCOL) -> KernelClient:
        if name not in kernel_names:
            if os.environ.get("CI") == "true":
                pytest.fail(f"The {name} kernel is not installed: install IRkernel for R.")
            pytest.skip(f"The {name} kernel is not installed (R with IRkernel is missing).")
        reply = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": name}))
        kernel_id = json.loads(reply.body)["id"]
        client = await KernelClient.open(jp_ws_fetch, kernel_id, protocol)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
