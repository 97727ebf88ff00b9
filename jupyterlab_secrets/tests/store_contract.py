"""The contract of `SecretStore`: tests every backend passes, whatever it keeps secrets in.

How to run it against a backend (SQL: ``test_store_sql.py``; OpenBao: your test file):

1. In the backend's test module, import the tests, which pytest then collects there::

       from .store_contract import *  # noqa: F403

2. In that module, define a fixture ``contract_store`` that yields a `StoreFactory`: a
   function ``make(keep_versions=10) -> SecretStore`` that opens a new store of that backend
   (as another server would: its own connections or client) on ONE database, mount or
   namespace shared by every store the factory makes in a test, empty when the test starts.
   The fixture closes the stores it made, and cleans up, when the test ends.

3. The stores must be allowed to act for every view the suite uses (for OpenBao: a token
   holding every policy of these projects and communities). The suite reads and writes as
   projects ``proj-a``, ``proj-b``, ``proj-c`` and ``proj-d``: ``proj-a`` is in the communities
   ``ml-team`` and ``data-team``, ``proj-b`` in ``ml-team``, ``proj-c`` in ``data-team`` and
   ``other-team``, ``proj-d`` in none. It names secrets with valid names only, and gives IDs
   that are not the store's (malformed, unknown) where it expects `NotFoundError`.

What the suite does not fix, and each backend decides: the order of `SecretStore.list`; the
exact text of change markers; what a failed operation of the backend's own policy says.
Writing another project's secret is refused with `ForbiddenError` or `NotFoundError`, and
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import pytest

from jupyterlab_secrets.errors import (
    ForbiddenError,
    NameTakenError,
    NotFoundError,
    SecretsError,
    StaleVersionError,
)
from jupyterlab_secrets.stores.base import SecretStore, StoredSecret, View

__all__ = [
    "StoreFactory",
    "run_concurrently",
    "test_a_created_secret_reads_back_with_its_metadata",
    "test_values_read_back_byte_for_byte_and_only_those_visible",
    "test_names_are_unique_per_project_only",
    "test_update_is_a_check_and_set",
    "test_a_view_sees_its_own_and_those_shared_with_its_communities_only",
    "test_unknown_and_malformed_ids_are_not_found",
    "test_only_the_owner_writes_a_secret",
    "test_sharing_adds_and_removes_communities_idempotently",
    "test_an_added_secret_keeps_the_name_it_was_added_under",
    "test_unsharing_detaches_and_sharing_again_does_not_reattach",
    "test_delete_removes_the_secret_its_versions_shares_and_attachments",
    "test_the_change_marker_changes_on_every_kind_of_change_and_not_otherwise",
    "test_versions_are_kept_newest_first_up_to_keep_versions",
    "test_a_rename_alone_keeps_no_new_version",
    "test_concurrent_updates_of_one_version_let_exactly_one_win",
    "test_concurrent_creates_of_one_name_let_exactly_one_win",
    "test_concurrent_shares_and_attachments_all_succeed_once",
    "test_a_second_store_sees_the_same_secrets_and_their_check_and_set",
    "test_values_for_kernels_follow_every_change_made_elsewhere",
]

UTC = dt.timezone.utc

A = View("proj-a", ("data-team", "ml-team"))
B = View("proj-b", ("ml-team",))
C = View("proj-c", ("data-team", "other-team"))
D = View("proj-d", ())


class StoreFactory(Protocol):
    """Opens another store of one backend on the test's shared, initially empty storage."""

    def __call__(self, keep_versions: int = 10) -> SecretStore: ...


def run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads released together; return results or exceptions."""
    barrier = threading.Barrier(count)

    def task(index: int) -> Any:
        barrier.wait()
        try:
            return work(index)
        except Exception as error:  # collected, then asserted on
            return error

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(task, range(count)))


def _close_in_time(moment: dt.datetime, reference: dt.datetime) -> bool:
    """Whether two times are the same instant to the millisecond, both aware UTC."""
    return moment.utcoffset() == dt.timedelta(0) and abs(moment - reference) < dt.timedelta(
        milliseconds=1
    )


def _state(store: SecretStore, view: View, secret_id: str) -> tuple[Any, ...]:
    """Everything ``view`` can read of one secret: metadata, value, kept versions."""
    return (
        store.get(view, secret_id),
        store.read_values(view, [secret_id]),
        store.versions(view, secret_id),
    )


# -- reads -------------------------------------------------------------------------------------


def test_a_created_secret_reads_back_with_its_metadata(contract_store: StoreFactory) -> None:
    # Given a store
    store = contract_store()
    before = dt.datetime.now(UTC)
    # When proj-a creates a secret
    created = store.create(A, name="api-key", value="línea 🙂", user="alice")
    after = dt.datetime.now(UTC)
    # Then it is version 1 of proj-a, made and last changed by alice, now, in UTC
    assert (created.project, created.name, created.version) == ("proj-a", "api-key", 1)
    assert (created.created_by, created.updated_by) == ("alice", "alice")
    assert created.created_at.utcoffset() == dt.timedelta(0)
    assert before - dt.timedelta(seconds=1) <= created.created_at <= after + dt.timedelta(seconds=1)
    assert _close_in_time(created.updated_at, created.created_at)
    # And its length is in characters, its shares and attachment empty
    assert created.value_length == 7
    assert (created.shared_with, created.attached_as) == ((), None)
    # And reading it back gives the same
    loaded = store.get(A, created.id)
    assert (loaded.id, loaded.name, loaded.version, loaded.value_length) == (
        created.id,
        "api-key",
        1,
        7,
    )
    assert _close_in_time(loaded.created_at, created.created_at)
    assert _close_in_time(loaded.updated_at, created.updated_at)
    assert [s.id for s in store.list(A)] == [created.id]


def test_values_read_back_byte_for_byte_and_only_those_visible(
    contract_store: StoreFactory,
) -> None:
    # Given values with newlines, any Unicode and trailing spaces, in two projects
    store = contract_store()
    values = {
        "multi-line": "line 1\r\nline 2\n\ttabbed  \n",
        "unicode": "ключ 🔑 键 \u200b",
        "long": "x" * 65_536,
    }
    ids = {
        name: store.create(A, name=name, value=value, user="alice").id
        for name, value in values.items()
    }
    private = store.create(B, name="private", value="b's own", user="bob")
    # When proj-a reads them, with an ID of proj-b's and unknown ones among them
    unknown = uuid.uuid4().hex
    read = store.read_values(A, [*ids.values(), private.id, unknown, "not-an-id"])
    # Then its own come back exactly, and the others are left out
    assert read == {ids[name]: value for name, value in values.items()}
    assert store.read_values(A, []) == {}
    assert store.read_values(B, [private.id]) == {private.id: "b's own"}


def test_names_are_unique_per_project_only(contract_store: StoreFactory) -> None:
    # Given "token" in proj-a
    store = contract_store()
    first = store.create(A, name="token", value="one", user="alice")
    second = store.create(A, name="other", value="two", user="alice")
    # When "token" is created again in proj-a
    # Then it is refused, and nothing is added
    with pytest.raises(NameTakenError):
        store.create(A, name="token", value="three", user="alice")
    assert sorted(s.name for s in store.list(A)) == ["other", "token"]
    # And renaming another secret onto it is refused and changes nothing
    before = _state(store, A, second.id)
    with pytest.raises(NameTakenError):
        store.update(A, second.id, expected_version=1, user="alice", name="token", value="new")
    assert _state(store, A, second.id) == before
    assert store.read_values(A, [first.id]) == {first.id: "one"}
    # But proj-b may have its own "token"
    other = store.create(B, name="token", value="b", user="bob")
    assert other.name == "token"


def test_update_is_a_check_and_set(contract_store: StoreFactory) -> None:
    # Given a secret at version 1
    store = contract_store()
    created = store.create(A, name="token", value="v1", user="alice")
    # When it is updated from version 1
    updated = store.update(A, created.id, expected_version=1, user="bob", value="v2")
    # Then it is version 2, changed by bob, later than before
    assert (updated.version, updated.updated_by, updated.created_by) == (2, "bob", "alice")
    assert updated.updated_at >= created.updated_at
    assert _close_in_time(updated.created_at, created.created_at)
    assert store.read_values(A, [created.id]) == {created.id: "v2"}
    # When it is updated from version 1 again (stale)
    before = _state(store, A, created.id)
    with pytest.raises(StaleVersionError):
        store.update(A, created.id, expected_version=1, user="carol", name="lost", value="lost")
    # Then nothing was written: not the name, not the value, not a version
    assert _state(store, A, created.id) == before
    # And a rename, then both, each grow the version by one
    renamed = store.update(A, created.id, expected_version=2, user="bob", name="renamed")
    assert (renamed.name, renamed.version) == ("renamed", 3)
    assert store.read_values(A, [created.id]) == {created.id: "v2"}
    both = store.update(A, created.id, expected_version=3, user="bob", name="both", value="v4")
    assert (both.name, both.version, both.value_length) == ("both", 4, 2)
    assert store.read_values(A, [created.id]) == {created.id: "v4"}


def test_a_view_sees_its_own_and_those_shared_with_its_communities_only(
    contract_store: StoreFactory,
) -> None:
    # Given secrets of three projects; one of proj-b's shared with ml-team, one of proj-c's
    # with other-team, one of proj-b's private
    store = contract_store()
    own = store.create(A, name="own", value="a", user="alice")
    shared = store.create(B, name="shared", value="b", user="bob")
    store.set_shares(B, shared.id, add=["ml-team"], remove=[])
    elsewhere = store.create(C, name="elsewhere", value="c", user="carol")
    store.set_shares(C, elsewhere.id, add=["other-team"], remove=[])
    private = store.create(B, name="private", value="p", user="bob")
    # When proj-a (in ml-team and data-team) lists what it sees
    # Then it sees its own and the one shared with ml-team, as another project's
    assert sorted(s.id for s in store.list(A)) == sorted([own.id, shared.id])
    seen = store.get(A, shared.id)
    assert (seen.project, seen.shared_with, seen.attached_as) == ("proj-b", ("ml-team",), None)
    # And every community it is shared with, also those proj-a is not in
    store.set_shares(B, shared.id, add=["other-team"], remove=[])
    assert store.get(A, shared.id).shared_with == ("ml-team", "other-team")
    listed = {s.id: s for s in store.list(A)}
    assert listed[shared.id].shared_with == ("ml-team", "other-team")
    assert listed[own.id].shared_with == ()
    assert store.read_values(A, [shared.id]) == {shared.id: "b"}
    # And the others are not found, by any read
    for hidden in (elsewhere.id, private.id):
        with pytest.raises(NotFoundError):
            store.get(A, hidden)
        with pytest.raises(NotFoundError):
            store.versions(A, hidden)
        with pytest.raises(NotFoundError):
            store.read_version(A, hidden, 1)
        with pytest.raises(NotFoundError):
            store.set_attachment(A, hidden, "x-name")
        assert store.read_values(A, [hidden]) == {}
    # And a project in no community sees only its own
    assert store.list(D) == []


@pytest.mark.parametrize(
    "secret_id", ["", "abc", "0" * 31, "g" * 32, "A" * 32, "\x00abc", "../" * 40, "x" * 5000]
)
def test_unknown_and_malformed_ids_are_not_found(
    contract_store: StoreFactory, secret_id: str
) -> None:
    # Given a store with a secret
    store = contract_store()
    store.create(A, name="token", value="v", user="alice")
    # When an ID that is not a secret's is used, by every method that takes one
    # Then each says it is not found, and nothing changes
    for call in (
        lambda i: store.get(A, i),
        lambda i: store.versions(A, i),
        lambda i: store.read_version(A, i, 1),
        lambda i: store.update(A, i, expected_version=1, user="alice", value="x"),
        lambda i: store.delete(A, i),
        lambda i: store.set_shares(A, i, add=["ml-team"], remove=[]),
        lambda i: store.set_attachment(A, i, "token"),
    ):
        for candidate in (secret_id, uuid.uuid4().hex):
            with pytest.raises(NotFoundError):
                call(candidate)
    assert store.read_values(A, [secret_id]) == {}
    assert [s.name for s in store.list(A)] == ["token"]


def test_only_the_owner_writes_a_secret(contract_store: StoreFactory) -> None:
    # Given a secret of proj-b shared with ml-team, which proj-a sees
    store = contract_store()
    shared = store.create(B, name="shared", value="b", user="bob")
    store.set_shares(B, shared.id, add=["ml-team"], remove=[])
    before = _state(store, B, shared.id)
    # When proj-a tries to change, share or delete it
    # Then each is refused and nothing changes
    for call in (
        lambda: store.update(A, shared.id, expected_version=2, user="alice", value="mine"),
        lambda: store.set_shares(A, shared.id, add=["data-team"], remove=["ml-team"]),
        lambda: store.delete(A, shared.id),
    ):
        with pytest.raises((ForbiddenError, NotFoundError)):
            call()
        assert _state(store, B, shared.id) == before
    # And a project's own secret cannot be added to it
    own = store.create(A, name="own", value="a", user="alice")
    with pytest.raises(SecretsError):
        store.set_attachment(A, own.id, "own")
    assert store.get(A, own.id).attached_as is None


def test_sharing_adds_and_removes_communities_idempotently(contract_store: StoreFactory) -> None:
    # Given a secret of proj-a
    store = contract_store()
    secret = store.create(A, name="token", value="v", user="alice")
    # When it is shared with two communities, twice
    store.set_shares(A, secret.id, add=["ml-team", "data-team"], remove=[])
    again = store.set_shares(A, secret.id, add=["ml-team"], remove=[])
    # Then each share exists once, sorted
    assert again.shared_with == ("data-team", "ml-team")
    assert store.get(A, secret.id).shared_with == ("data-team", "ml-team")
    # When one is removed, twice, and removal wins over adding the same community
    store.set_shares(A, secret.id, add=["data-team"], remove=["data-team"])
    removed = store.set_shares(A, secret.id, add=[], remove=["data-team"])
    # Then only the other is left; sharing changes no version and no value
    assert removed.shared_with == ("ml-team",)
    assert removed.version == 1
    assert store.read_values(A, [secret.id]) == {secret.id: "v"}


def test_an_added_secret_keeps_the_name_it_was_added_under(contract_store: StoreFactory) -> None:
    # Given proj-a's "api-token", shared with ml-team and added by proj-b
    store = contract_store()
    secret = store.create(A, name="api-token", value="v", user="alice")
    store.set_shares(A, secret.id, add=["ml-team"], remove=[])
    added = store.set_attachment(B, secret.id, "api-token")
    assert added.attached_as == "api-token"
    # Adding again changes nothing
    assert store.set_attachment(B, secret.id, "api-token").attached_as == "api-token"
    # And its owner sees no attachment of its own
    assert store.get(A, secret.id).attached_as is None
    # When proj-a renames it
    store.update(A, secret.id, expected_version=1, user="alice", name="HTTPS_PROXY")
    # Then proj-b still holds it under the old name, and sees the new one
    seen = store.get(B, secret.id)
    assert (seen.name, seen.attached_as) == ("HTTPS_PROXY", "api-token")
    # When proj-b adds it again, under the name it has now
    readded = store.set_attachment(B, secret.id, "HTTPS_PROXY")
    assert readded.attached_as == "HTTPS_PROXY"
    # When proj-b removes it, twice
    store.set_attachment(B, secret.id, None)
    assert store.set_attachment(B, secret.id, None).attached_as is None
    assert store.get(B, secret.id).attached_as is None


def test_unsharing_detaches_and_sharing_again_does_not_reattach(
    contract_store: StoreFactory,
) -> None:
    # Given proj-a's secret shared with ml-team and added by proj-b
    store = contract_store()
    secret = store.create(A, name="token", value="v", user="alice")
    store.set_shares(A, secret.id, add=["ml-team"], remove=[])
    store.set_attachment(B, secret.id, "token")
    # When proj-a unshares it, detaching the projects that can no longer see it
    unshared = store.set_shares(A, secret.id, add=[], remove=["ml-team"], detach=["proj-b"])
    # Then proj-b no longer sees it
    assert unshared.shared_with == ()
    with pytest.raises(NotFoundError):
        store.get(B, secret.id)
    # When it is shared again
    store.set_shares(A, secret.id, add=["ml-team"], remove=[])
    # Then proj-b sees it, not added
    assert store.get(B, secret.id).attached_as is None


def test_delete_removes_the_secret_its_versions_shares_and_attachments(
    contract_store: StoreFactory,
) -> None:
    # Given a secret with kept versions, shared with ml-team and added by proj-b
    store = contract_store()
    secret = store.create(A, name="token", value="v1", user="alice")
    store.update(A, secret.id, expected_version=1, user="alice", value="v2")
    store.set_shares(A, secret.id, add=["ml-team"], remove=[])
    store.set_attachment(B, secret.id, "token")
    other = store.create(A, name="other", value="stays", user="alice")
    # When proj-a deletes it
    store.delete(A, secret.id)
    # Then no one finds it, its versions or its value
    for view in (A, B):
        with pytest.raises(NotFoundError):
            store.get(view, secret.id)
        with pytest.raises(NotFoundError):
            store.versions(view, secret.id)
        with pytest.raises(NotFoundError):
            store.read_version(view, secret.id, 1)
        assert store.read_values(view, [secret.id]) == {}
        assert secret.id not in {s.id for s in store.list(view)}
    with pytest.raises(NotFoundError):
        store.delete(A, secret.id)
    # And a new secret of that name starts afresh, with no versions of the old one
    again = store.create(A, name="token", value="new", user="alice")
    assert [v.version for v in store.versions(A, again.id)] == [1]
    assert store.read_values(A, [other.id]) == {other.id: "stays"}


def test_the_change_marker_changes_on_every_kind_of_change_and_not_otherwise(
    contract_store: StoreFactory,
) -> None:
    store = contract_store()
    views = (A, B, C, D)

    def markers() -> dict[str, str]:
        return {view.project: store.change_marker(view) for view in views}

    def changed(action: Callable[[], Any]) -> set[str]:
        """The projects whose marker ``action`` changed."""
        before = markers()
        action()
        after = markers()
        return {project for project in before if before[project] != after[project]}

    # A create changes its project's marker, and not those of projects that cannot see it
    holder: dict[str, StoredSecret] = {}

    def create() -> None:
        holder["s"] = store.create(A, name="token", value="v1", user="alice")

    assert changed(create) == {"proj-a"}
    secret = holder["s"]
    # Sharing with ml-team changes proj-a's and proj-b's (ml-team), not proj-c's or proj-d's
    assert changed(lambda: store.set_shares(A, secret.id, add=["ml-team"], remove=[])) == {
        "proj-a",
        "proj-b",
    }
    # Adding it to proj-b changes proj-b's
    assert "proj-b" in changed(lambda: store.set_attachment(B, secret.id, "token"))
    # A new value, a rename: those who see it
    for action in (
        lambda: store.update(A, secret.id, expected_version=1, user="alice", value="v2"),
        lambda: store.update(A, secret.id, expected_version=2, user="alice", name="renamed"),
    ):
        assert {"proj-a", "proj-b"} <= changed(action)
    # Sharing with data-team too: proj-c now sees it
    assert {"proj-a", "proj-b", "proj-c"} <= changed(
        lambda: store.set_shares(A, secret.id, add=["data-team"], remove=[])
    )
    # Removing it from proj-b
    assert "proj-b" in changed(lambda: store.set_attachment(B, secret.id, None))
    # Reads, failed writes and another project's private writes change nothing it sees
    private = store.create(D, name="private", value="d", user="dora")

    def reads_and_failures() -> None:
        store.list(A)
        store.get(B, secret.id)
        store.read_values(A, [secret.id])
        store.versions(A, secret.id)
        store.read_version(A, secret.id, 3)
        with pytest.raises(StaleVersionError):
            store.update(A, secret.id, expected_version=1, user="alice", value="stale")
        with pytest.raises(NameTakenError):
            store.create(A, name="renamed", value="x", user="alice")
        with pytest.raises(NotFoundError):
            store.get(A, private.id)

    assert changed(reads_and_failures) == set()
    assert changed(
        lambda: store.update(D, private.id, expected_version=1, user="dora", value="d2")
    ) == {"proj-d"}
    # Unsharing from ml-team changes proj-b's; deleting changes everyone's who saw it
    assert "proj-b" in changed(
        lambda: store.set_shares(A, secret.id, add=[], remove=["ml-team"], detach=["proj-b"])
    )
    assert {"proj-a", "proj-c"} <= changed(lambda: store.delete(A, secret.id))
    # And a marker is short
    assert all(len(marker) <= 200 for marker in markers().values())


def test_versions_are_kept_newest_first_up_to_keep_versions(
    contract_store: StoreFactory,
) -> None:
    # Given a store that keeps 3 earlier values, and a secret changed 5 times by turns
    store = contract_store(keep_versions=3)
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    secret = store.create(A, name="token", value="value-1", user=users[0])
    for number in range(2, 7):
        store.update(
            A,
            secret.id,
            expected_version=number - 1,
            user=users[number - 1],
            value=f"value-{number}",
        )
    # When its versions are listed
    versions = store.versions(A, secret.id)
    # Then the current one comes first, then the 3 kept, newest first, each with its author
    assert [(v.version, v.current, v.updated_by) for v in versions] == [
        (6, True, "frank"),
        (5, False, "erin"),
        (4, False, "dave"),
        (3, False, "carol"),
    ]
    assert all(v.updated_at.utcoffset() == dt.timedelta(0) for v in versions)
    assert versions[0].updated_at >= versions[1].updated_at >= versions[3].updated_at
    # And each kept version reads its own value; the pruned ones are not found
    for number in (6, 5, 4, 3):
        assert store.read_version(A, secret.id, number) == f"value-{number}"
    for number in (1, 2, 7, 0, -1):
        with pytest.raises(NotFoundError):
            store.read_version(A, secret.id, number)
    # And a project it is shared with sees the versions too, never another
    store.set_shares(A, secret.id, add=["ml-team"], remove=[])
    assert [v.version for v in store.versions(B, secret.id)] == [6, 5, 4, 3]
    assert store.read_version(B, secret.id, 4) == "value-4"


def test_a_rename_alone_keeps_no_new_version(contract_store: StoreFactory) -> None:
    # Given a secret with one earlier value
    store = contract_store()
    secret = store.create(A, name="token", value="one", user="alice")
    store.update(A, secret.id, expected_version=1, user="alice", value="two")
    before = store.versions(A, secret.id)
    # When it is only renamed
    store.update(A, secret.id, expected_version=2, user="bob", name="renamed")
    # Then the current version is the new one, holding the same value, and the kept ones stay
    after = store.versions(A, secret.id)
    assert (after[0].version, after[0].current, after[0].updated_by) == (3, True, "bob")
    assert after[1:] == [v for v in before[1:]]
    assert store.read_version(A, secret.id, 3) == "two"
    assert store.read_version(A, secret.id, 1) == "one"


# -- concurrency -------------------------------------------------------------------------------


def test_concurrent_updates_of_one_version_let_exactly_one_win(
    contract_store: StoreFactory,
) -> None:
    # Given a secret at version 1
    store = contract_store()
    secret = store.create(A, name="token", value="v0", user="alice")
    # When 20 threads update it from version 1 at once, each to its own name and value
    results = run_concurrently(
        20,
        lambda i: store.update(
            A, secret.id, expected_version=1, user="alice", name=f"name-{i}", value=f"v{i}"
        ),
    )
    # Then exactly one succeeds, the others are stale, and the winner's write is the one kept
    winners = [r for r in results if isinstance(r, StoredSecret)]
    assert len(winners) == 1, results
    assert all(isinstance(r, StaleVersionError) for r in results if r is not winners[0])
    final = store.get(A, secret.id)
    assert (final.name, final.version) == (winners[0].name, 2)
    index = results.index(winners[0])
    assert store.read_values(A, [secret.id]) == {secret.id: f"v{index}"}
    assert [v.version for v in store.versions(A, secret.id)] == [2, 1]


def test_concurrent_creates_of_one_name_let_exactly_one_win(contract_store: StoreFactory) -> None:
    # Given an empty store
    store = contract_store()
    # When 50 threads create "token" in proj-a at once
    results = run_concurrently(
        50, lambda i: store.create(A, name="token", value=f"v{i}", user="alice")
    )
    # Then exactly one succeeds and the others are told the name is taken
    winners = [r for r in results if isinstance(r, StoredSecret)]
    assert len(winners) == 1, results
    assert sum(isinstance(r, NameTakenError) for r in results) == 49, results
    assert [s.id for s in store.list(A)] == [winners[0].id]
    index = results.index(winners[0])
    assert store.read_values(A, [winners[0].id]) == {winners[0].id: f"v{index}"}


def test_concurrent_shares_and_attachments_all_succeed_once(contract_store: StoreFactory) -> None:
    # Given a secret of proj-a
    store = contract_store()
    secret = store.create(A, name="token", value="v", user="alice")
    store.set_shares(A, secret.id, add=["ml-team"], remove=[])
    # When 20 threads share it with data-team and add it to proj-b at once
    results = run_concurrently(
        20,
        lambda i: (
            store.set_shares(A, secret.id, add=["data-team"], remove=[])
            if i % 2
            else store.set_attachment(B, secret.id, "token")
        ),
    )
    # Then every call succeeds and each link exists once
    assert all(isinstance(r, StoredSecret) for r in results), results
    assert store.get(A, secret.id).shared_with == ("data-team", "ml-team")
    assert store.get(B, secret.id).attached_as == "token"


def test_a_second_store_sees_the_same_secrets_and_their_check_and_set(
    contract_store: StoreFactory,
) -> None:
    # Given two stores (two servers) on one storage
    first, second = contract_store(), contract_store()
    # When one writes
    secret = first.create(A, name="token", value="v1", user="alice")
    # Then the other reads it, and their check-and-set guards each other
    assert second.read_values(A, [secret.id]) == {secret.id: "v1"}
    marker = first.change_marker(A)
    second.update(A, secret.id, expected_version=1, user="bob", value="by-second")
    assert first.change_marker(A) != marker
    with pytest.raises(StaleVersionError):
        first.update(A, secret.id, expected_version=1, user="alice", value="by-first")
    assert first.read_values(A, [secret.id]) == {secret.id: "by-second"}


def test_values_for_kernels_follow_every_change_made_elsewhere(
    contract_store: StoreFactory,
) -> None:
    # Given a server whose kernels hold an own secret and one shared by proj-b, read as for
    # the kernels (which a store may answer from memory)
    here, there = contract_store(), contract_store()
    own = here.create(A, name="own", value="own-1", user="alice")
    shared = there.create(B, name="shared", value="shared-1", user="bob")
    there.set_shares(B, shared.id, add=["ml-team"], remove=[])
    here.set_attachment(A, shared.id, "shared")
    ids = [own.id, shared.id]
    assert here.read_values(A, ids, cached=True) == {own.id: "own-1", shared.id: "shared-1"}
    # When another server changes both values, then renames one
    there.update(A, own.id, expected_version=1, user="bob", value="own-2")
    there.update(B, shared.id, expected_version=1, user="bob", value="shared-2")
    # Then the next read for the kernels has the new values
    assert here.read_values(A, ids, cached=True) == {own.id: "own-2", shared.id: "shared-2"}
    there.update(A, own.id, expected_version=2, user="bob", name="renamed")
    assert here.read_values(A, ids, cached=True) == {own.id: "own-2", shared.id: "shared-2"}
    # And once one is unshared and the other deleted, neither is given any more
    there.set_shares(B, shared.id, add=[], remove=["ml-team"], detach=["proj-a"])
    there.delete(A, own.id)
    assert here.read_values(A, ids, cached=True) == {}
