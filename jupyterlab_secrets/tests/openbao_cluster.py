"""A real OpenBao Raft cluster for the tests: three ``bao server`` processes on loopback.

Each node has its own integrated storage (``storage "raft"``, ``performance_multiplier = 1``,
``retry_join`` towards the others), a listener without TLS and ``disable_mlock``. The first
node is initialised (one unseal key) and unsealed; the others join it when unsealed, and the
cluster is ready once OpenBao's autopilot counts three voters. `BaoCluster.kill` ends a node
with SIGKILL, as a crash or an OOM kill would, and `BaoCluster.restart` brings it back.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import hvac
import hvac.exceptions
import requests

from .openbao_server import BaoDidNotStart, _free_port


@dataclass
class BaoNode:
    """One ``bao server`` of the cluster."""

    name: str
    folder: Path
    port: int
    cluster_port: int
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """The end of its latest start's log."""
        path = self.folder / f"server-{self.starts}.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


@dataclass
class BaoCluster:
    """Three OpenBao nodes sharing one Raft log."""

    binary: str
    nodes: list[BaoNode]
    root_token: str = ""
    unseal_key: str = ""
    killed: set[str] = field(default_factory=set)

    @property
    def urls(self) -> str:
        """Every node's address, separated by commas (what ``openbao_url`` takes)."""
        return ",".join(node.url for node in self.nodes)

    def client(self, node: BaoNode, token: str | None = None) -> hvac.Client:
        """An hvac client of one node (the root token by default)."""
        return hvac.Client(url=node.url, token=token or self.root_token, timeout=5)

    def config(self, node: BaoNode) -> str:
        """The node's HCL: its Raft storage, joining the other nodes, and its listener."""
        joins = "".join(
            f'  retry_join {{\n    leader_api_addr = "{other.url}"\n  }}\n'
            for other in self.nodes
            if other is not node
        )
        return (
            f'storage "raft" {{\n  path = "{node.folder / "raft"}"\n'
            f'  node_id = "{node.name}"\n  performance_multiplier = 1\n{joins}}}\n'
            f'listener "tcp" {{\n  address = "127.0.0.1:{node.port}"\n'
            f'  cluster_address = "127.0.0.1:{node.cluster_port}"\n  tls_disable = true\n}}\n'
            f'api_addr = "{node.url}"\n'
            f'cluster_addr = "http://127.0.0.1:{node.cluster_port}"\n'
            "disable_mlock = true\n"
        )

    def start(self, node: BaoNode) -> None:
        """Start (or start again) one node's process; it is sealed until `unseal`."""
        (node.folder / "raft").mkdir(parents=True, exist_ok=True)
        config = node.folder / "config.hcl"
        config.write_text(self.config(node))
        node.starts += 1
        with (node.folder / f"server-{node.starts}.log").open("wb") as output:
            node.process = subprocess.Popen(
                [self.binary, "server", f"-config={config}"],
                stdout=output,
                stderr=subprocess.STDOUT,
                env={"PATH": "/usr/bin:/bin", "HOME": str(node.folder)},
            )
        self.killed.discard(node.name)
        self._wait(node, lambda: self.client(node).sys.read_health_status(method="GET") is not None)

    def unseal(self, node: BaoNode) -> None:
        """Unseal a node with the cluster's key (a new node joins the cluster then)."""
        self._wait(
            node, lambda: not self.client(node).sys.submit_unseal_key(self.unseal_key)["sealed"]
        )

    def kill(self, node: BaoNode) -> None:
        """SIGKILL: no shutdown runs, the node just vanishes."""
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=30)
        self.killed.add(node.name)

    def restart(self, node: BaoNode) -> None:
        """Start a killed node again and unseal it: it catches up from the leader."""
        self.start(node)
        self.unseal(node)

    def leader(self, timeout: float = 60) -> BaoNode:
        """The node that is active now (waiting for an election if there is none)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.alive():
                with suppress(Exception):
                    if self.client(node).sys.read_leader_status().get("is_self"):
                        return node
            time.sleep(0.1)
        raise BaoDidNotStart("No OpenBao node became active.")

    def alive(self) -> list[BaoNode]:
        return [node for node in self.nodes if node.name not in self.killed]

    def voters(self) -> int:
        """How many nodes autopilot counts as healthy voters."""
        state = self.client(self.leader()).adapter.get("/v1/sys/storage/raft/autopilot/state")
        servers = (state.get("data") or state).get("servers") or {}
        return sum(
            1
            for one in servers.values()
            if one.get("status") in ("leader", "voter") and one.get("healthy")
        )

    def wait_voters(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with suppress(Exception):
                if self.voters() >= count:
                    return
            if time.monotonic() > deadline:
                raise BaoDidNotStart(
                    f"The OpenBao cluster did not reach {count} voters:\n"
                    + "\n".join(node.log() for node in self.nodes)
                )
            time.sleep(0.2)

    def _wait(self, node: BaoNode, ready: object, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():  # type: ignore[operator]
                    return
            except (requests.RequestException, hvac.exceptions.VaultError):
                pass
            assert node.process is not None
            if node.process.poll() is not None or time.monotonic() > deadline:
                raise BaoDidNotStart(f"OpenBao node {node.name} did not start:\n{node.log()}")
            time.sleep(0.1)


@contextmanager
def running_cluster(binary: str, folder: Path, size: int = 3) -> Iterator[BaoCluster]:
    """Start ``size`` nodes, initialise and unseal them, and wait for ``size`` voters; stop
    every node on exit."""
    nodes = [
        BaoNode(f"node{index}", folder / f"node{index}", _free_port(), _free_port())
        for index in range(1, size + 1)
    ]
    cluster = BaoCluster(binary, nodes)
    try:
        for node in nodes:
            cluster.start(node)
        first = nodes[0]
        answer = hvac.Client(url=first.url, timeout=10).sys.initialize(1, 1)
        cluster.root_token, cluster.unseal_key = answer["root_token"], answer["keys"][0]
        cluster.unseal(first)
        cluster.leader()
        # Autopilot promotes a joined node to voter once it was healthy this long (10 s by
        # default).
        cluster.client(first).adapter.post(
            "/v1/sys/storage/raft/autopilot/configuration",
            json={"server_stabilization_time": "1s"},
        )
        for node in nodes[1:]:
            cluster.unseal(node)
        cluster.wait_voters(size)
        yield cluster
    finally:
        for node in nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()
        for node in nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
