"""What the hub's part costs a spawn, and how long a stopped server's token stays usable.

Starts two real JupyterHubs side by side, as the tests do (``jupyterhub`` from PyPI,
configurable-http-proxy from npm, SimpleLocalProcessSpawner, loopback ports): one configured
by ``examples/jupyterhub/jupyterhub_config.py`` (``configure_hub``, with ``bao server -dev``
set up by ``openbao-setup``), and one without ``configure_hub`` (the baseline, measured in the
same run). On each in turn it starts and stops alice's server, ``--repeat`` times, through
the hub's REST API, and prints the median and the spread of the time from the spawn request
to the hub saying the server is ready. A server with secrets also opens its OpenBao store at start.

Then, on the hub with secrets, it measures how long each stopped server's token can still be
looked up after the stop request returned: 0 when the post-stop hook revoked it.

    python bench/hub_bench.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import hvac.exceptions

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyterlab_secrets.tests.hub_server import Hub, missing, running_hub  # noqa: E402


def spawn_times(hub: Hub, user: str, server: str, repeat: int) -> tuple[list[float], list[float]]:
    """Start and stop ``user``'s server ``repeat`` times; the seconds from each spawn request
    to ready, and how long each stopped server's token stayed live (with secrets)."""
    spawns: list[float] = []
    live: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        reply = hub.spawn(user, server)
        assert reply.status_code in (201, 202), reply.text
        hub.wait_ready(user, server)
        spawns.append(time.perf_counter() - started)
        accessor = _accessor(hub, user, server)
        hub.stop_server(user, server)
        stopped = time.perf_counter()
        if accessor is not None:
            live.append(_live_for(hub, accessor, stopped))
    return spawns, live


def _accessor(hub: Hub, user: str, server: str) -> str | None:
    state = hub.folder / "jupyterlab_secrets_hub.json"
    if hub.bao is None or not state.exists():
        return None
    return json.loads(state.read_text())[f"{user}/{server}"]["accessor"]


def _live_for(hub: Hub, accessor: str, stopped: float, limit: float = 7200) -> float:
    """Seconds after ``stopped`` until OpenBao no longer knows the token (0 if it is gone at
    the first look)."""
    assert hub.bao is not None
    root = hub.bao.client()
    first = True
    while True:
        try:
            root.auth.token.lookup_accessor(accessor)
        except hvac.exceptions.InvalidRequest:
            return 0.0 if first else time.perf_counter() - stopped
        first = False
        if time.perf_counter() - stopped > limit:
            return float("inf")
        time.sleep(0.5)


def line(label: str, values: list[float]) -> str:
    return (
        f"{label:<34} median {statistics.median(values):6.2f} s   "
        f"min {min(values):6.2f}   max {max(values):6.2f}   (n={len(values)})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="spawns per hub (default 5)")
    args = parser.parse_args()
    reason = missing()
    if reason is not None:
        print(reason, file=sys.stderr)
        return 1
    baseline: list[float] = []
    secrets: list[float] = []
    live: list[float] = []
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as folder:
        with (
            running_hub(Path(folder) / "plain", with_secrets=False) as plain,
            running_hub(Path(folder) / "secrets") as hub,
        ):
            # Alternately, so that a change in the machine's load weighs on both alike.
            for _ in range(args.repeat):
                baseline += spawn_times(plain, "alice", "proj-a", 1)[0]
                spawned, stayed = spawn_times(hub, "alice", "proj-a", 1)
                secrets += spawned
                live += stayed
    print("Spawn request to ready server (alice/proj-a, SimpleLocalProcessSpawner):")
    print(line("  without configure_hub (baseline)", baseline))
    print(line("  with configure_hub and OpenBao", secrets))
    difference = statistics.median(secrets) - statistics.median(baseline)
    print(f"  difference of the medians: {difference:+.2f} s")
    print("A stopped server's token still live after the stop request returned:")
    print(line("  seconds", live))
    return 0


if __name__ == "__main__":
    sys.exit(main())
