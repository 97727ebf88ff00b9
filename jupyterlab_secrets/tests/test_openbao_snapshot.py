"""The values snapshot against a real OpenBao: a server's first kernel environment is one
read, an entry the project's index does not name at its KV version is never used, no value
outlives its secret in any version of it, and a snapshot that cannot be written never fails
a change."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import hvac.exceptions
import pytest

from jupyterlab_secrets.errors import ForbiddenError
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    layout,
    member_policy_name,
    project_policy,
    server_policies,
)
from jupyterlab_secrets.stores.openbao.kv import CasConflict
from jupyterlab_secrets.stores.openbao.snapshot import MAX_VALUE, pack, unpack

from .conftest import COMMUNITIES
from .openbao_server import OpenBao, answered, documents_read
from .test_openbao_cache import older_release

T = TypeVar("T")

SNAPSHOT = "projects/proj-a/snapshot"


_opened: list[OpenBaoSecretStore] = []


@pytest.fixture
def open_store(open_store: Callable[..., OpenBaoSecretStore]) -> Iterator[Callable[..., Any]]:
    """The shared fixture, remembering the stores it opens: a store brings the snapshot up
    to date after a change has answered, so what a test looks at waits for that first
    (`settled`)."""
    _opened.clear()

    def open_with(token: str, **settings: Any) -> OpenBaoSecretStore:
        store = open_store(token, **settings)
        _opened.append(store)
        return store

    yield open_with
    _opened.clear()


def settled() -> None:
    """Wait for the snapshot updates of every store the test opened."""
    for store in _opened:
        store.snapshots.settle()


def alice(openbao: OpenBao) -> str:
    return openbao.mint(*server_policies("alice", "proj-a", COMMUNITIES))


def reads(openbao: OpenBao, call: Callable[[], T]) -> tuple[T, list[str], int]:
    """``call()``'s result, the value documents OpenBao's audit device saw read meanwhile,
    and how many times it saw the snapshot read."""
    settled()
    result, requests = answered(openbao, call)
    paths = documents_read(openbao, requests)
    return result, [p for p in paths if "/secrets/" in p], paths.count(SNAPSHOT)


def every_version(openbao: OpenBao) -> list[str]:
    """The unpacked text of every version of proj-a's snapshot OpenBao holds, read as an
    operator with the root token."""
    settled()
    kv = openbao.server.client().secrets.kv.v2
    try:
        meta = kv.read_secret_metadata(SNAPSHOT, mount_point=openbao.mount)["data"]
    except hvac.exceptions.InvalidPath:
        return []
    texts = []
    for version in range(1, int(meta["current_version"]) + 1):
        try:
            answer = kv.read_secret_version(
                SNAPSHOT, version=version, mount_point=openbao.mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath:
            continue
        data = answer["data"]["data"]
        if data:
            texts.append(json.dumps(unpack(data)))
    return texts


def change(service: SecretsService, secret_id: str, value: str) -> None:
    """Give a secret a new value, as its project's server does."""
    version = service.store.get(service.view, secret_id).version
    service.store.update(
        service.view, secret_id, expected_version=version, user="alice", value=value
    )


def fill(service: SecretsService, count: int, tag: str) -> dict[str, str]:
    """``count`` secrets; their IDs and names."""
    return {
        service.create("alice", f"key-{i}", f"value-{i}-{tag}").id: f"key-{i}" for i in range(count)
    }


def test_a_server_that_read_nothing_gets_the_environment_from_the_snapshot(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a project of 12 secrets, one of them changed by another server
    token = alice(openbao)
    writer = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    created = fill(writer, 12, "a41c")
    changed = next(iter(created))
    change(writer, changed, "changed-77d0")
    # When a server that has read nothing reads the kernels' environment
    service = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    environment, values, snapshots = reads(openbao, lambda: service.environment("kernels"))
    # Then it read the snapshot once and no value document
    expected = {name: f"value-{name[4:]}-a41c" for name in created.values()}
    expected[created[changed]] = "changed-77d0"
    assert environment == expected
    assert (values, snapshots) == ([], 1)
    # And the next environment reads neither
    again, values, snapshots = reads(openbao, lambda: service.environment("kernels"))
    assert again == expected
    assert (values, snapshots) == ([], 0)


def test_a_value_the_snapshot_lacks_at_its_version_is_read_by_itself(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a project of 6 secrets, where a server of an older release changed one value and
    # created one secret (neither in the snapshot), and the snapshot names another at a
    # version that is not the index's
    token = alice(openbao)
    writer = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    created = list(fill(writer, 6, "5b2e"))
    older = SecretsService(older_release(open_store(token)), "proj-a", COMMUNITIES)
    change(older, created[0], "older-9e13")
    added = older.create("alice", "added", "older-added-40aa").id
    root = openbao.server.client().secrets.kv.v2
    stored = root.read_secret_version(
        SNAPSHOT, mount_point=openbao.mount, raise_on_deleted_version=True
    )["data"]
    entries = unpack(stored["data"])
    assert created[0] in entries and added not in entries
    entries[created[1]] = [entries[created[1]][0] + 1, "never-used-0c1f"]
    root.create_or_update_secret(
        SNAPSHOT, pack(entries), cas=stored["metadata"]["version"], mount_point=openbao.mount
    )
    # When a server that has read nothing reads the kernels' environment
    service = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    environment, values, snapshots = reads(openbao, lambda: service.environment("kernels"))
    # Then those three values were read by themselves, the others from the snapshot
    assert environment == {
        "key-0": "older-9e13",
        "key-1": "value-1-5b2e",
        **{f"key-{i}": f"value-{i}-5b2e" for i in range(2, 6)},
        "added": "older-added-40aa",
    }
    assert snapshots == 1
    assert sorted(values) == sorted(
        f"projects/proj-a/secrets/{i}" for i in (created[0], created[1], added)
    )


def test_a_project_without_a_snapshot_is_read_one_by_one_and_warming_fills_it(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a project whose 5 secrets were written by servers of an older release
    token = alice(openbao)
    older = SecretsService(older_release(open_store(token)), "proj-a", COMMUNITIES)
    created = list(fill(older, 5, "d3a8"))
    assert every_version(openbao) == []
    # And one value since changed by a server of this release, the snapshot's only entry
    change(SecretsService(open_store(token), "proj-a", COMMUNITIES), created[0], "new-0e4b")
    # When a server of this release starts (and warms up)
    first = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    warmed, values, snapshots = reads(openbao, first.warm)
    # Then it took the changed value from the snapshot, read each other by itself, and
    # added those to the snapshot
    assert warmed == 5
    assert snapshots >= 1
    assert sorted(values) == sorted(f"projects/proj-a/secrets/{i}" for i in created[1:])
    # And the next server to start reads the snapshot alone
    second = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    environment, values, snapshots = reads(openbao, lambda: second.environment("kernels"))
    assert environment == {
        "key-0": "new-0e4b",
        **{f"key-{i}": f"value-{i}-d3a8" for i in range(1, 5)},
    }
    assert (values, snapshots) == ([], 1)


def test_a_reveal_still_reads_the_value_document(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    token = alice(openbao)
    fill(SecretsService(open_store(token), "proj-a", COMMUNITIES), 3, "11fe")
    service = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    secret = service.create("alice", "revealed", "shown-2b7c")
    revealed, values, snapshots = reads(openbao, lambda: service.reveal("alice", secret.id))
    assert revealed == "shown-2b7c"
    assert (values, snapshots) == ([f"projects/proj-a/secrets/{secret.id}"], 0)


def test_no_version_of_the_snapshot_keeps_a_replaced_or_deleted_value(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given two secrets in the snapshot
    service = SecretsService(open_store(alice(openbao)), "proj-a", COMMUNITIES)
    service.create("alice", "kept", "kept-value-6a0d")
    replaced = service.create("alice", "replaced", "first-value-8c3b")
    deleted = service.create("alice", "deleted", "deleted-value-f19e")
    assert any("first-value-8c3b" in text for text in every_version(openbao))
    # When one value is replaced and another secret deleted
    change(service, replaced.id, "second-value-2d4f")
    service.delete("alice", deleted.id)
    # Then OpenBao holds one version of the snapshot, with neither old value
    texts = every_version(openbao)
    assert len(texts) == 1
    assert "kept-value-6a0d" in texts[0] and "second-value-2d4f" in texts[0]
    assert "first-value-8c3b" not in texts[0] and "deleted-value-f19e" not in texts[0]
    assert deleted.id not in texts[0]


def test_a_large_value_stays_out_of_the_snapshot(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    token = alice(openbao)
    writer = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    small = writer.create("alice", "small", "small-9f01")
    large = writer.create("alice", "large", "x" * (MAX_VALUE + 1))
    assert large.id not in every_version(openbao)[0]
    service = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    environment, values, snapshots = reads(openbao, lambda: service.environment("kernels"))
    assert environment == {"small": "small-9f01", "large": "x" * (MAX_VALUE + 1)}
    assert (values, snapshots) == ([f"projects/proj-a/secrets/{large.id}"], 1)
    assert small.id in every_version(openbao)[0]


def test_a_snapshot_that_cannot_be_written_never_fails_a_change(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a token whose policy grants proj-a's secrets but not its snapshot
    root = openbao.server.client()
    denied = f"""
path "{openbao.mount}/data/{SNAPSHOT}" {{
  capabilities = ["deny"]
}}
path "{openbao.mount}/metadata/{SNAPSHOT}" {{
  capabilities = ["deny"]
}}
"""
    root.sys.create_or_update_policy("no-snapshot", project_policy(openbao.mount, "proj-a"))
    root.sys.create_or_update_policy("no-snapshot-deny", denied)
    token = openbao.mint("no-snapshot", "no-snapshot-deny")
    service = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    # When it creates, changes and deletes secrets
    secrets = [service.create("alice", f"key-{i}", f"value-{i}-0a9d") for i in range(3)]
    change(service, secrets[0].id, "new-5c2a")
    service.delete("alice", secrets[2].id)
    # Then each change was made, no snapshot was written, and values are read one by one
    assert every_version(openbao) == []
    fresh = SecretsService(open_store(token), "proj-a", COMMUNITIES)
    environment, values, _ = reads(openbao, lambda: fresh.environment("kernels"))
    assert environment == {"key-0": "new-5c2a", "key-1": "value-1-0a9d"}
    assert len(values) == 2


def test_a_snapshot_write_that_keeps_conflicting_never_fails_a_change(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    store = open_store(alice(openbao))
    service = SecretsService(store, "proj-a", COMMUNITIES)
    first = service.create("alice", "first", "first-3e7a")
    settled()
    write = store.kv.write

    def conflicting(path: str, document: Any, cas: int | None) -> int:
        if path == SNAPSHOT:
            raise CasConflict()
        return write(path, document, cas)

    store.kv.write = conflicting  # type: ignore[method-assign]
    second = service.create("alice", "second", "second-61b0")
    change(service, first.id, "changed-4d8e")
    assert {s.name for s in store.list(service.view)} == {"first", "second"}
    texts = every_version(openbao)
    assert second.id not in texts[0] and "first-3e7a" in texts[0]
    # A reader takes only what the index names: the stale entry is not used
    fresh = SecretsService(open_store(alice(openbao)), "proj-a", COMMUNITIES)
    assert fresh.environment("kernels") == {"first": "changed-4d8e", "second": "second-61b0"}


@pytest.mark.parametrize(
    "policies",
    [
        [member_policy_name("ml-team")],
        server_policies("dave", "proj-b", COMMUNITIES),
    ],
    ids=["member", "admin-of-another-project"],
)
def test_no_token_without_the_project_policy_reads_the_snapshot(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore], policies: list[str]
) -> None:
    # Given proj-a's snapshot, and a token of a member or admin of its communities that
    # lacks proj-a's policy (as a token that lost it)
    service = SecretsService(open_store(alice(openbao)), "proj-a", COMMUNITIES)
    service.create("alice", "key", "value-7f3c")
    store = open_store(openbao.mint(*policies))
    # Then OpenBao refuses it the snapshot, and the store reads nothing from it
    with pytest.raises(ForbiddenError):
        store.kv.read(layout.project_snapshot("proj-a"))
    assert store.snapshots.read("proj-a") == {}
