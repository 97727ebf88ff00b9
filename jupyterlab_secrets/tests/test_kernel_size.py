"""However many and however large a project's secrets are, every kernel starts, and holds all of
them before any client's code runs.

A process environment is limited (on Linux, 128 KiB per variable and about 2 MiB for the
arguments and environment together): values that do not fit are set by a silent request right
after the start, which the start waits for, and which a client's message sent meanwhile (during
a restart) waits for too. Kernels are started through the REST API and reached through the
kernel websocket, as JupyterLab does.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import string
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyterlab_secrets.kernel_connection import INJECTOR_KEY, SETTINGS_KEY
from jupyterlab_secrets.kernels.injector import ENV_STRING_LIMIT, fit_launch
from jupyterlab_secrets.redaction import FORM_PREFIX

from .conftest import Api
from .kernel_client import V1, Connect, text_of
from .kernels_helpers import wait_until
from .test_redaction import create_secret

COUNT, LENGTH = 40, 60_000
"""2.4 MB of secrets: more than a process environment holds."""


def random_values(prefix: str, count: int, length: int, alphabet: str) -> dict[str, str]:
    rng = random.Random(prefix)
    return {
        f"{prefix}-{index:02d}": "".join(rng.choices(alphabet, k=length)) for index in range(count)
    }


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def python_hashes_code(prefix: str) -> str:
    """Python code printing the SHA-256 of each variable of ``os.environ`` named ``prefix…``."""
    return (
        "import hashlib, json, os\n"
        "print(json.dumps({k: hashlib.sha256(v.encode()).hexdigest()"
        f" for k, v in os.environ.items() if k.startswith({prefix!r})}}))"
    )


async def python_hashes(client: Any, prefix: str) -> dict[str, str]:
    """The SHA-256 of each variable of the kernel's ``os.environ`` named ``prefix…``."""
    return json.loads(text_of(await client.execute(python_hashes_code(prefix))))


def launched_names(jp_serverapp: Any, kernel_id: str, prefix: str) -> set[str]:
    """The names ``prefix-…`` the kernel process's environment held when it started."""
    pid = jp_serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    names = {entry.split(b"=", 1)[0].decode() for entry in environ.split(b"\0") if entry}
    return {name for name in names if name.startswith(prefix)}


async def create_all(api: Api, values: dict[str, str]) -> None:
    for name, value in values.items():
        await create_secret(api, name, value)


def test_values_that_do_not_fit_are_left_for_after_the_start() -> None:
    # Given values of several sizes, one larger than a variable may be
    environment = {
        "a-small": "x" * 10,
        "b-huge": "y" * ENV_STRING_LIMIT,
        "c-medium": "z" * 1000,
        "d-medium": "w" * 1000,
    }
    # When they are fitted in a little more room than the small and one medium take
    fits, later = fit_launch(environment, sorted(environment), room=1200)
    # Then the smallest go in the environment, the rest after the start, each sorted
    assert fits == ["a-small", "c-medium"]
    assert later == ["b-huge", "d-medium"]
    # And with room for all, the one larger than a variable may be still waits
    fits, later = fit_launch(environment, sorted(environment), room=10**9)
    assert later == ["b-huge"]


@pytest.mark.skipif(sys.platform != "linux", reason="reads the kernel's /proc/<pid>/environ")
@pytest.mark.parametrize("kernel", ["python3", "ir"])
async def test_secrets_larger_than_an_environment_are_all_set_before_the_first_cell(
    api: Api, connect: Connect, jp_serverapp: Any, kernel: str, tmp_path: Path
) -> None:
    # Given 2.4 MB of secrets, more than a kernel's environment can hold
    values = random_values("big", COUNT, LENGTH, string.ascii_letters + string.digits + "+/=")
    await create_all(api, values)
    # When a kernel is started (the answer of the REST API names it)
    client = await connect(kernel, V1)
    # Then it started with some in its environment, and the others set before its first cell
    launched = launched_names(jp_serverapp, client.kernel_id, "big-")
    assert 0 < len(launched) < COUNT
    status = (await api("GET", "kernels", client.kernel_id)).body
    assert status["state"] == "loaded"
    assert status["names"] == sorted(values)
    if kernel == "python3":
        assert await python_hashes(client, "big-") == {n: sha256(v) for n, v in values.items()}
    else:
        # (R writes each value to a file, which the test reads)
        folder = tmp_path / "values"
        folder.mkdir()
        code = (
            f"for (n in {json.dumps(sorted(values))[1:-1].join(['c(', ')'])}) "
            f"writeBin(charToRaw(Sys.getenv(n)), file.path({str(folder)!r}, n))"
        )
        await client.execute(code)
        written = {path.name: path.read_text() for path in folder.iterdir()}
        assert written == values


@pytest.mark.skipif(sys.platform != "linux", reason="reads the kernel's /proc/<pid>/environ")
async def test_a_cell_sent_during_a_restart_runs_once_every_secret_is_set(
    api: Api, connect: Connect, jp_serverapp: Any, jp_fetch: Any
) -> None:
    # Given a kernel whose secrets do not all fit in its environment
    values = random_values("big", COUNT, LENGTH, string.ascii_letters)
    await create_all(api, values)
    client = await connect("python3", V1)
    injector = jp_serverapp.web_app.settings[INJECTOR_KEY]
    # When it restarts, and a client sends a cell while it does
    restart = asyncio.ensure_future(
        jp_fetch("api", "kernels", client.kernel_id, "restart", method="POST", body=b"")
    )

    async def holding() -> bool:
        return injector.gate(client.kernel_id) is not None

    await wait_until(holding, what="the restart to begin")
    cell = asyncio.ensure_future(
        client.execute(python_hashes_code("big-") + "\nprint(os.getpid())")
    )
    await restart
    text = text_of(await cell)
    # Then the cell ran in the new process, once it held every secret
    hashes, pid = text.strip().split("\n")
    assert int(pid) == jp_serverapp.kernel_manager.get_kernel(client.kernel_id).provisioner.pid
    assert json.loads(hashes) == {n: sha256(v) for n, v in values.items()}
    assert 0 < len(launched_names(jp_serverapp, client.kernel_id, "big-")) < COUNT


async def test_largest_values_of_control_characters(
    api: Api, connect: Connect, jp_serverapp: Any
) -> None:
    # Given 20 values of the largest size made of control characters, whose escaped forms
    # are up to six times as long
    control = "".join(chr(code) for code in range(1, 32))
    values = random_values("ctl", 20, 65_536, control)
    await create_all(api, values)
    # When a kernel starts with them, and prints one as is and as its repr
    client = await connect("python3", V1)
    assert await python_hashes(client, "ctl-") == {n: sha256(v) for n, v in values.items()}
    text = text_of(await client.execute("print(os.environ['ctl-07']); os.environ['ctl-07']"))
    # Then both are redacted
    assert text.startswith("[REDACTED:ctl-07]\n")
    assert text.endswith("'[REDACTED:ctl-07]'")
    assert len(text) < 100
    # And the matcher that found them holds at most a prefix of each form of each value
    matcher = jp_serverapp.web_app.settings[SETTINGS_KEY].ready(client.kernel_id)
    assert max(map(len, matcher.patterns)) <= FORM_PREFIX
    assert sum(map(len, matcher.patterns)) <= len(values) * 75 * FORM_PREFIX
