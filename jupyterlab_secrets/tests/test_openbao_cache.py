"""What a server keeps in memory of OpenBao, against a real OpenBao: each value is read once
per KV version for the kernels' environment, a change elsewhere is read at once, a reveal
still reads OpenBao, and the memory never outlives the token's rights."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from jupyterlab_secrets.errors import ForbiddenError
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    member_policy,
    member_policy_name,
    server_policies,
)

from .conftest import COMMUNITIES
from .openbao_server import OpenBao, answered, documents_read

T = TypeVar("T")


def alice(openbao: OpenBao) -> str:
    """The token of alice's server in proj-a: member of ml-team and data-team, admin of
    ml-team."""
    return openbao.mint(*server_policies("alice", "proj-a", COMMUNITIES))


def value_reads(openbao: OpenBao, call: Callable[[], T]) -> tuple[T, list[str]]:
    """``call()``'s result and the value documents OpenBao's audit device saw read meanwhile
    (their paths under the mount), in order."""
    result, requests = answered(openbao, call)
    return result, [path for path in documents_read(openbao, requests) if "/secrets/" in path]


def older_release(store: OpenBaoSecretStore) -> OpenBaoSecretStore:
    """A store that writes as a server of a release before the values snapshot: its values
    and indexes, never the snapshot (so values are read one by one)."""
    store.snapshots.update = lambda *args, **kwargs: False  # type: ignore[method-assign]
    return store


def kept(store: OpenBaoSecretStore, under: str) -> list[Any]:
    """The values the store keeps in memory under a folder of the mount."""
    folder = under.rstrip("/") + "/"
    return [path for path in store.values._items if path.startswith(folder)]


def test_the_environment_reads_each_value_once_per_version(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given alice's server with 12 secrets (of a project without a values snapshot), and
    # bob's server of the same project
    token = alice(openbao)
    store, other = older_release(open_store(token)), open_store(token)
    service = SecretsService(store, "proj-a", COMMUNITIES)
    created = {
        service.create("alice", f"key-{index}", f"value-{index}-7c2e").id: f"key-{index}"
        for index in range(12)
    }
    # When the kernels' environment is read three times
    first, cold = value_reads(openbao, lambda: service.environment("kernels"))
    second, warm = value_reads(openbao, lambda: service.environment("kernels"))
    # Then the first reads every value once, in OpenBao's audit log, and the next none
    assert first == second == {f"key-{i}": f"value-{i}-7c2e" for i in range(12)}
    assert sorted(cold) == sorted(f"projects/proj-a/secrets/{i}" for i in created)
    assert warm == []
    # When another server changes one value
    changed = next(iter(created))
    version = other.get(service.view, changed).version
    other.update(service.view, changed, expected_version=version, user="bob", value="new-4f1d")
    third, after_change = value_reads(openbao, lambda: service.environment("kernels"))
    # Then this server reads that value alone, at its new version
    assert third[created[changed]] == "new-4f1d"
    assert after_change == [f"projects/proj-a/secrets/{changed}"]


def test_warming_reads_each_value_once_and_the_kernels_then_read_none(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a project with 8 secrets and no values snapshot, and a server of it that has
    # read nothing yet
    token = alice(openbao)
    writer = SecretsService(older_release(open_store(token)), "proj-a", COMMUNITIES)
    created = [writer.create("alice", f"key-{i}", f"value-{i}-3d9a").id for i in range(8)]
    service = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    # When the server warms up, as it does at its start
    warmed, reads = value_reads(openbao, service.warm)
    # Then it read each value once and keeps the 8 in memory
    assert warmed == 8
    assert sorted(reads) == sorted(f"projects/proj-a/secrets/{i}" for i in created)
    # And the kernels' environment that follows reads no value from OpenBao
    environment, later = value_reads(openbao, lambda: service.environment("kernels"))
    assert environment == {f"key-{i}": f"value-{i}-3d9a" for i in range(8)}
    assert later == []


def test_a_kernel_that_asks_during_the_warm_up_waits_for_it_instead_of_reading_again(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a project with 40 secrets and no values snapshot, and a server that reads one
    # value at a time
    token = alice(openbao)
    writer = SecretsService(older_release(open_store(token)), "proj-a", COMMUNITIES)
    created = [writer.create("alice", f"key-{i}", f"value-{i}-90b1").id for i in range(40)]
    service = SecretsService(open_store(token, read_concurrency=1), "proj-a", COMMUNITIES)

    # When a kernel asks for the environment while the warm-up is reading
    def both() -> dict[str, str]:
        warming = threading.Thread(target=service.warm)
        warming.start()
        try:
            return service.environment("kernels")
        finally:
            warming.join()

    environment, reads = value_reads(openbao, both)
    # Then the kernel gets every value, and each was read from OpenBao once in all
    assert len(environment) == 40
    assert sorted(reads) == sorted(f"projects/proj-a/secrets/{i}" for i in created)


def test_a_store_that_keeps_no_values_in_memory_has_nothing_to_warm(
    sqlite_store: Any,
) -> None:
    service = SecretsService(sqlite_store, "proj-a", COMMUNITIES)
    service.create("alice", "kept-on-disk", "sealed-5e0c")
    assert service.warm() is None


def test_a_reveal_still_reads_openbao(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a secret whose value the kernels' environment holds in memory
    service = SecretsService(open_store(alice(openbao)), "proj-a", COMMUNITIES)
    secret = service.create("alice", "revealed", "shown-8a3b")
    service.environment("kernels")
    # When a user reveals it twice
    revealed, reads = value_reads(
        openbao, lambda: [service.reveal("alice", secret.id) for _ in range(2)]
    )
    # Then each reveal is its own read in OpenBao's audit log
    assert revealed == ["shown-8a3b"] * 2
    assert reads == [f"projects/proj-a/secrets/{secret.id}"] * 2


def test_a_deleted_secret_leaves_memory(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given two servers of proj-a whose kernels hold the same secret
    token = alice(openbao)
    first, second = open_store(token), open_store(token)
    here = SecretsService(first, "proj-a", COMMUNITIES)
    there = SecretsService(second, "proj-a", COMMUNITIES)
    secret = here.create("alice", "short-lived", "gone-soon-61fd")
    assert there.environment("kernels") == {"short-lived": "gone-soon-61fd"}
    assert kept(second, "projects/proj-a") == [f"projects/proj-a/secrets/{secret.id}"]
    # When one server deletes it, and the other reads the environment again
    here.delete("alice", secret.id)
    assert kept(first, "projects/proj-a") == []
    # Then the other's environment lacks it, and its memory no longer holds the value
    assert there.environment("kernels") == {}
    assert kept(second, "projects/proj-a") == []


def test_a_token_that_loses_a_community_policy_loses_its_values_at_the_next_poll(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a secret of proj-c shared with data-team and added to proj-a, in the environment
    # of alice's server (a member of data-team, not its admin), so held in its memory, and
    # one of proj-a's own
    carol = SecretsService(
        open_store(openbao.mint(*server_policies("bob", "proj-c", COMMUNITIES))),
        "proj-c",
        COMMUNITIES,
    )
    shared = carol.create("bob", "team-key", "shared-value-0b9c")
    carol.set_access("bob", shared.id, ["data-team"])
    store = open_store(alice(openbao))
    service = SecretsService(store, "proj-a", COMMUNITIES)
    service.create("alice", "own-key", "own-value-55e1")
    service.set_attached("alice", shared.id, True)
    assert service.environment("kernels") == {
        "own-key": "own-value-55e1",
        "team-key": "shared-value-0b9c",
    }
    marker = service.change_marker()
    assert kept(store, "communities/data-team")
    # When the operator withdraws data-team's member policy (a token's policies are fixed, so
    # the policy itself is emptied)
    root = openbao.server.client()
    root.sys.create_or_update_policy(member_policy_name("data-team"), "# withdrawn\n")
    try:
        # Then the next poll sees a change, the memory forgets the community's values, and
        # the next environment lacks them, though nothing else changed
        assert service.change_marker() != marker
        assert kept(store, "communities/data-team") == []
        assert service.environment("kernels") == {"own-key": "own-value-55e1"}
    finally:
        root.sys.create_or_update_policy(
            member_policy_name("data-team"), member_policy(openbao.mount, "data-team")
        )


def test_a_token_that_loses_its_project_gets_no_value_from_memory(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given alice's server whose kernels' environment is held in memory
    token = alice(openbao)
    store = open_store(token)
    service = SecretsService(store, "proj-a", COMMUNITIES)
    service.create("alice", "project-key", "project-value-d40a")
    assert service.environment("kernels") == {"project-key": "project-value-d40a"}
    # When her token is revoked (she left the project)
    openbao.server.client().auth.token.revoke(token)
    # Then the next poll is refused, the memory forgets the project's values, and no
    # environment is given
    with pytest.raises(ForbiddenError):
        service.change_marker()
    assert kept(store, "projects/proj-a") == []
    with pytest.raises(ForbiddenError):
        service.environment("kernels")
