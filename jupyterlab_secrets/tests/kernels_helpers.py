"""Helpers of the kernel tests: kernels started through REST, and a client that talks to them
as nbclient does (jupyter_client over the kernel's own connection)."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.asynchronous import AsyncKernelClient


def big_value() -> str:
    """65,536 bytes of every printable ASCII character, as the frontend tests' value."""
    chars = []
    seed = 7
    while len(chars) < 65536:
        seed = (seed * 1103515245 + 12345) % 2147483648
        chars.append(chr(32 + seed % 95))
    return "".join(chars)


PEM_BLOCK = "\n".join(
    [
        "-----BEGIN PRIVATE KEY-----",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
        "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu",
        "NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ",
        "-----END PRIVATE KEY-----",
        "",
    ]
)


def tricky_values(marker: str) -> dict[str, str]:
    """Values that break naive quoting in one language or another, by exportable name.
    ``marker`` is a file an injection would create if it ran a value as code."""
    return {
        "TRICKY_QUOTES": "it's \"quoted\" and 'single' and `back`",
        "TRICKY_BACKSLASHES": "C:\\path\\to\\new\\file\\ \\n \\x00 \\\\",
        "TRICKY_NEWLINES": "line one\nline two\r\nline three\n\n",
        "TRICKY_TRIPLE": "''' \"\"\"",
        "TRICKY_TRIPLE_SINGLE": "'''",
        "TRICKY_TRIPLE_DOUBLE": '"""',
        "TRICKY_DOLLAR": "$HOME ${PATH} $1 $$ $(id) ${x:-y}",
        "TRICKY_BACKTICKS": "`id` `` `echo hacked`",
        "TRICKY_PERCENT": "%s %d %% %(name)s %1 %%bash",
        "TRICKY_UNICODE": (
            "🔑🔒👩‍💻 🇺🇦 مرحبا بالعالم — שלום עולם e\u0301 a\u0308 Z\u0335\u0321\u0322 \u0928\u093f"
        ),
        "TRICKY_BIG": big_value(),
        "TRICKY_PEM": PEM_BLOCK,
        "TRICKY_PYTHON": f"'); import os; os.system('touch {marker}') #",
        "TRICKY_SHELL": f"$(touch {marker})",
        "TRICKY_SHELL_TICKS": f"`touch {marker}`; touch {marker} #",
        "TRICKY_HISTORY": "!! !-1 !$ ^a^b",
        "TRICKY_SPACES": "  leading and trailing  \t",
    }


def env_hex_expression(names: list[str]) -> str:
    """A Python expression: the hex bytes of each name in the kernel's environment."""
    return (
        "__import__('json').dumps({k: (__import__('os').environb.get(k.encode()) or b'').hex() "
        f"if k.encode() in __import__('os').environb else None for k in {names!r}}})"
    )


@dataclass
class Execution:
    """What one execute request produced."""

    reply: dict[str, Any]
    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int | None:
        return self.reply["content"].get("execution_count")

    def expression(self, key: str) -> str:
        """A user expression's text, unquoted (it is a Python repr of a str)."""
        value = self.reply["content"]["user_expressions"][key]
        assert value["status"] == "ok", value
        return ast.literal_eval(value["data"]["text/plain"])  # the repr of a str


class KernelClient:
    """A client of one kernel over its own connection, as nbclient or VS Code talk to it."""

    def __init__(self, client: AsyncKernelClient) -> None:
        self.client = client

    async def run(self, code: str, **options: Any) -> Execution:
        """Run a cell (stored in history unless told otherwise) and collect its output."""
        execution: Execution | None = None
        outputs: list[dict[str, Any]] = []

        def hook(msg: dict[str, Any]) -> None:
            outputs.append(msg)

        reply = await self.client.execute_interactive(
            code, output_hook=hook, timeout=120, allow_stdin=False, **options
        )
        execution = Execution(reply)
        for msg in outputs:
            if msg["msg_type"] == "stream":
                if msg["content"]["name"] == "stdout":
                    execution.stdout += msg["content"]["text"]
                else:
                    execution.stderr += msg["content"]["text"]
            elif msg["msg_type"] in ("execute_result", "display_data", "error"):
                execution.outputs.append(msg)
        return execution

    async def peek(self, expression: str) -> str:
        """Evaluate an expression silently (no history, no count) and return its text."""
        execution = await self.run(
            "", silent=True, store_history=False, user_expressions={"v": expression}
        )
        return execution.expression("v")

    def close(self) -> None:
        self.client.stop_channels()


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout: float = 60, what: str = "condition"
) -> None:
    """Ask until a condition holds (a safety net against hangs, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await condition():
        if loop.time() > end:
            raise AssertionError(f"{what} never held")
        await asyncio.sleep(0.05)


def install_kernelspec(data_dir: Path, name: str, spec: dict[str, Any]) -> None:
    """A kernelspec for the test server only."""
    target = data_dir / "kernels" / name
    target.mkdir(parents=True, exist_ok=True)
    (target / "kernel.json").write_text(json.dumps(spec))


def bash_spec() -> dict[str, Any]:
    """bash_kernel's kernelspec (a plain pip install does not install it)."""
    return {
        "argv": [sys.executable, "-m", "bash_kernel", "-f", "{connection_file}"],
        "display_name": "Bash",
        "language": "bash",
    }


def echo_spec() -> dict[str, Any]:
    """A kernel in a language the injector does not know."""
    script = Path(__file__).resolve().parent / "echo_kernel.py"
    return {
        "argv": [sys.executable, str(script), "-f", "{connection_file}"],
        "display_name": "Echo",
        "language": "echo",
    }


def installed_kernelspec(name: str) -> dict[str, Any] | None:
    """A kernelspec installed on this machine (the tests' own Jupyter paths hide them)."""
    import subprocess

    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "kernelspec", "list", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        found = json.loads(listed.stdout)["kernelspecs"].get(name)
    except (ValueError, KeyError):
        return None
    return None if found is None else found["spec"]


def need_irkernel() -> dict[str, Any]:
    """IRkernel's kernelspec; skip (saying why) without it, and under CI fail instead."""
    spec = installed_kernelspec("ir")
    if spec is not None:
        return spec
    message = (
        "IRkernel is not installed: apt-get install r-cran-irkernel, then "
        "R -e 'IRkernel::installspec(sys_prefix = TRUE)'"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
