"""A jupyter server on a real three-node OpenBao Raft cluster: setup through a standby of a
fresh cluster works in one run, and when the leader is killed (SIGKILL) while users write,
no acknowledged write is lost, none is applied twice, and the server serves on.

The cluster is three ``bao server`` processes on loopback (`openbao_cluster.py`). The
figures of the failover (acknowledged writes, the longest time without one, requests sent
again) are printed, not asserted: they depend on the machine.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyterlab_secrets.openbao_admin import openbao_setup
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    configured_policies,
    project_policy_name,
)
from jupyterlab_secrets.stores.openbao.kv import Cluster, connect

from .conftest import COMMUNITIES, Api
from .openbao_cluster import BaoCluster, running_cluster
from .openbao_server import BaoDidNotStart, required_bao

A = View("proj-a", ("data-team", "ml-team"))
MOUNT = "raft-secrets"
WRITERS = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoCluster]:
    """Three OpenBao nodes in one Raft cluster, with three voters, for this module. With
    ``CI=true`` a missing ``bao`` fails; elsewhere these tests are skipped, saying why."""
    binary = required_bao()
    try:
        with running_cluster(binary, tmp_path_factory.mktemp("raft")) as started:
            yield started
    except BaoDidNotStart as error:
        pytest.fail(str(error), pytrace=False)


def test_setup_through_a_standby_of_a_fresh_cluster_works_in_one_run(
    cluster: BaoCluster,
) -> None:
    # Given a fresh cluster, and an operator whose client talks to a standby only
    standby = next(node for node in cluster.nodes if node is not cluster.leader())
    client = connect(Cluster(standby.url), cluster.root_token)
    said: list[str] = []
    # When openbao-setup runs once
    changed = openbao_setup(
        client, mount=MOUNT, project="proj-a", communities=COMMUNITIES, say=said.append
    )
    # Then it created the mount, set its versions, and wrote every policy, the hub's policy and
    # the token role, at once
    assert f"Created the KV v2 mount {MOUNT}/." in said
    assert changed == 2 + len(configured_policies(MOUNT, "proj-a", COMMUNITIES)) + 2
    config = client.secrets.kv.v2.read_configuration(mount_point=MOUNT)["data"]
    assert config["max_versions"] == 11
    # And running it again changes nothing
    again = openbao_setup(
        client, mount=MOUNT, project="proj-a", communities=COMMUNITIES, say=lambda line: None
    )
    assert again == 0


@pytest.fixture
def server_token(cluster: BaoCluster) -> str:
    """A token of proj-a's policy."""
    minted = cluster.client(cluster.leader()).auth.token.create(
        policies=[project_policy_name("proj-a")]
    )
    return minted["auth"]["client_token"]


@pytest.fixture
def secrets_config(cluster: BaoCluster, server_token: str, tmp_path: Path) -> dict[str, Any]:
    """proj-a's server on the cluster, given every node (the leader first, so that killing
    it takes the node the server talks to), with a token of its project (in a file the
    server deletes once read)."""
    leader = cluster.leader()
    token_file = tmp_path / "token"
    token_file.write_text(server_token + "\n")
    token_file.chmod(0o600)
    nodes = [leader, *(node for node in cluster.nodes if node is not leader)]
    return {
        "project": "proj-a",
        "communities": COMMUNITIES,
        "openbao_url": ",".join(node.url for node in nodes),
        "openbao_mount": MOUNT,
        "openbao_token_file": str(token_file),
    }


async def test_no_acknowledged_write_is_lost_when_the_leader_dies(
    cluster: BaoCluster,
    api: Api,
    extension: Any,
    secrets_config: dict[str, Any],
    server_token: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a server on the three nodes, and users writing through it
    acked: list[tuple[str, int, str, float]] = []  # secret, version, value, when
    failed: list[tuple[int, float]] = []  # status, when
    killed_at: list[float] = []
    started = time.monotonic()

    async def writer(index: int) -> None:
        created = await api("POST", "secrets", body={"name": f"writer-{index}", "value": "x-0"})
        assert created.status == 201, created.body
        secret, version = created.body["id"], created.body["version"]
        acked.append((secret, version, "x-0", time.monotonic()))
        count = 0
        while not killed_at or len([a for a in acked if a[3] > killed_at[0]]) < 40:
            if time.monotonic() - started > 120:
                break
            count += 1
            value = f"x-{index}-{count}"
            reply = await api("PATCH", "secrets", secret, body={"version": version, "value": value})
            if reply.status == 200:
                version = reply.body["version"]
                acked.append((secret, version, value, time.monotonic()))
                continue
            failed.append((reply.status, time.monotonic()))
            await asyncio.sleep(0.1)
            current = await api("GET", "secrets", secret)
            if current.status == 200:
                version = current.body["version"]

    async def killer() -> None:
        while len(acked) < 20:
            await asyncio.sleep(0.05)
        leader = cluster.leader()
        # When the leader is killed mid-write
        await asyncio.to_thread(cluster.kill, leader)
        killed_at.append(time.monotonic())

    await asyncio.gather(killer(), *(writer(index) for index in range(WRITERS)))
    assert killed_at, "the leader was never killed"

    # And each secret takes one more edit: a value that reached OpenBao after the edit that
    # sent it was reported failed and undone must block no later edit
    for secret in sorted({a[0] for a in acked}):
        current = await api("GET", "secrets", secret)
        assert current.status == 200, current.body
        last = f"after-{secret[:8]}"
        edit = {"version": current.body["version"], "value": last}
        reply = await api("PATCH", "secrets", secret, body=edit)
        assert reply.status == 200, reply.body
        assert (await api("POST", "secrets", secret, "reveal")).body == {"value": last}

    # Then every acknowledged write is there, at the version it was acknowledged with, and
    # no write was applied twice (each sent a value of its own)
    check = OpenBaoSecretStore(url=secrets_config["openbao_url"], token=server_token, mount=MOUNT)
    lost = []
    try:
        for secret in {a[0] for a in acked}:
            kept = {v.version for v in check.versions(A, secret)}
            values = [check.read_version(A, secret, version) for version in sorted(kept)]
            assert len(values) == len(set(values)), f"a write was applied twice: {values}"
            for _, version, value, _ in (a for a in acked if a[0] == secret):
                if version in kept and check.read_version(A, secret, version) != value:
                    lost.append((secret, version))
                if version > max(kept):
                    lost.append((secret, version))
    finally:
        check.close()
    assert lost == []

    # And the server serves normally afterwards
    listing = await api("GET", "secrets")
    assert listing.status == 200
    assert {f"writer-{index}" for index in range(WRITERS)} <= {
        s["name"] for s in listing.body["secrets"]
    }
    assert (await api("POST", "secrets", body={"name": "after", "value": "later"})).status == 201
    environment = await api("GET", "environment")
    assert environment.status == 200
    assert environment.body["environment"]["after"] == "later"

    times = sorted(a[3] for a in acked)
    outage = max(later - earlier for earlier, later in zip(times, times[1:], strict=False))
    kv = extension.store.kv
    with capsys.disabled():
        print(
            f"\nRaft failover: {len(acked)} acknowledged writes, {len(lost)} lost, "
            f"{len(failed)} refused; longest time without an acknowledged write "
            f"{outage:.2f} s; {kv.cluster.retried} requests sent again, "
            f"{kv.cluster.failovers} moved to another node"
        )
