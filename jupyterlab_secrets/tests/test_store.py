"""The store on SQLite and PostgreSQL: rows, constraints, compare-and-swap, concurrency."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from jupyterlab_secrets.crypto import Keyring, Sealed
from jupyterlab_secrets.service import SecretsError, SecretsService, isoformat
from jupyterlab_secrets.store import (
    NameTakenError,
    NotFoundError,
    SecretRecord,
    SecretsStore,
    StaleVersionError,
)

UTC = dt.timezone.utc


def record(name: str = "token", project: str = "proj-a", version: int = 1) -> SecretRecord:
    """A record with made-up ciphertext; the store never looks inside it."""
    now = dt.datetime.now(UTC)
    return SecretRecord(
        id=uuid.uuid4().hex,
        project=project,
        name=name,
        sealed=Sealed(ciphertext=b"\x00cipher\xff", nonce=b"n" * 12, key_id="0123456789abcdef"),
        created_by="alice",
        created_at=now,
        updated_at=now,
        version=version,
    )


def test_insert_and_get_round_trip_with_aware_utc_times(store: SecretsStore) -> None:
    # Given a stored record
    stored = store.insert(record())
    # When it is read back
    loaded = store.get(stored.id)
    # Then every column is the same, and the times are aware UTC
    assert loaded is not None
    assert loaded.sealed == stored.sealed
    assert (loaded.name, loaded.project, loaded.version) == ("token", "proj-a", 1)
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == dt.timedelta(0)
    assert abs(loaded.created_at - stored.created_at) < dt.timedelta(milliseconds=1)
    assert store.get(uuid.uuid4().hex) is None


def test_names_are_unique_per_project_only(store: SecretsStore) -> None:
    # Given "token" in proj-a
    store.insert(record("token", "proj-a"))
    # When "token" is added again to proj-a
    # Then the database refuses it
    with pytest.raises(NameTakenError):
        store.insert(record("token", "proj-a"))
    # But proj-b may have its own "token"
    store.insert(record("token", "proj-b"))
    assert store.count() == 2


def test_update_is_a_compare_and_swap(store: SecretsStore) -> None:
    # Given a record at version 1
    stored = store.insert(record())
    later = dt.datetime.now(UTC) + dt.timedelta(seconds=5)
    # When it is updated from version 1
    updated = store.update(stored.id, 1, updated_at=later, name="renamed")
    # Then the version is 2
    assert (updated.name, updated.version) == ("renamed", 2)
    assert abs(updated.updated_at - later) < dt.timedelta(milliseconds=1)
    # When it is updated from version 1 again
    # Then it is stale and nothing is written
    with pytest.raises(StaleVersionError):
        store.update(stored.id, 1, updated_at=later, name="lost-update")
    assert store.get(stored.id) == updated
    # And an unknown ID is reported as such
    with pytest.raises(NotFoundError):
        store.update(uuid.uuid4().hex, 1, updated_at=later, name="x")


def test_rename_onto_a_taken_name_writes_nothing(store: SecretsStore) -> None:
    # Given two records
    first = store.insert(record("first"))
    store.insert(record("second"))
    # When the first is renamed to the second's name
    with pytest.raises(NameTakenError):
        store.update(first.id, 1, updated_at=dt.datetime.now(UTC), name="second")
    # Then it is unchanged
    assert store.get(first.id) == first


def test_delete_cascades_to_shares_and_attachments(store: SecretsStore) -> None:
    # Given a record shared with a community and attached to a project
    stored = store.insert(record())
    store.change_shares(stored.id, add=["ml-team"])
    attached = store.set_attached(stored.id, "proj-b", True)
    assert attached.shared_with == ("ml-team",)
    assert attached.attached_to == {"proj-b"}
    # When it is deleted
    assert store.delete(stored.id) is True
    # Then its shares and attachments are gone too (foreign keys cascade)
    with store.engine.connect() as connection:
        shares = connection.execute(text("SELECT count(*) FROM secret_shares")).scalar()
        attachments = connection.execute(text("SELECT count(*) FROM attachments")).scalar()
    assert (shares, attachments) == (0, 0)
    assert store.delete(stored.id) is False


def test_shares_and_attachments_are_idempotent(store: SecretsStore) -> None:
    # Given a record
    stored = store.insert(record())
    # When it is shared and attached twice
    store.change_shares(stored.id, add=["b-team", "a-team"])
    again = store.change_shares(stored.id, add=["a-team"])
    store.set_attached(stored.id, "proj-b", True)
    attached = store.set_attached(stored.id, "proj-b", True)
    # Then each exists once
    assert again.shared_with == ("a-team", "b-team")
    assert attached.attached_to == {"proj-b"}
    # When they are removed, twice
    store.change_shares(stored.id, remove=["a-team"])
    removed = store.change_shares(stored.id, remove=["a-team"])
    store.set_attached(stored.id, "proj-b", False)
    detached = store.set_attached(stored.id, "proj-b", False)
    # Then they are gone
    assert removed.shared_with == ("b-team",)
    assert detached.attached_to == frozenset()


def test_list_visible_is_own_plus_shared_with_my_communities(store: SecretsStore) -> None:
    # Given secrets of three projects, some shared
    own = store.insert(record("own", "proj-a"))
    shared = store.insert(record("shared", "proj-b"))
    store.change_shares(shared.id, add=["ml-team"])
    elsewhere = store.insert(record("elsewhere", "proj-c"))
    store.change_shares(elsewhere.id, add=["other-team"])
    store.insert(record("private", "proj-b"))
    # When proj-a (in ml-team) lists what it can see
    visible = store.list_visible("proj-a", ["ml-team"])
    # Then it sees its own and the one shared with ml-team
    assert sorted(r.id for r in visible) == sorted([own.id, shared.id])
    assert [r.id for r in store.list_visible("proj-a", [])] == [own.id]


def test_reseal_all_is_one_transaction(store: SecretsStore) -> None:
    # Given three records
    for name in ("one", "two", "three"):
        store.insert(record(name))
    before = {r.id: r.sealed for r in store.list_visible("proj-a", [])}
    calls = 0

    def reseal(current: SecretRecord) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("fails half-way")
        return Sealed(b"new", b"m" * 12, "fedcba9876543210")

    # When re-encryption fails on the third row
    with pytest.raises(RuntimeError):
        store.reseal_all(reseal)
    # Then no row changed
    assert {r.id: r.sealed for r in store.list_visible("proj-a", [])} == before


def _run_concurrently(count: int, work: Callable[[int], Any]) -> list[Any]:
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


def test_concurrent_patches_of_one_version_let_exactly_one_win(store: SecretsStore) -> None:
    # Given a record at version 1
    stored = store.insert(record())
    # When 20 threads update it from version 1 at once, each to its own name
    results = _run_concurrently(
        20,
        lambda i: store.update(stored.id, 1, updated_at=dt.datetime.now(UTC), name=f"name-{i}"),
    )
    # Then exactly one succeeds, the others are stale, and the winner's write is the one kept
    winners = [r for r in results if isinstance(r, SecretRecord)]
    assert len(winners) == 1, results
    assert all(isinstance(r, StaleVersionError) for r in results if r is not winners[0])
    final = store.get(stored.id)
    assert final is not None
    assert (final.name, final.version) == (winners[0].name, 2)


def test_concurrent_creates_of_one_name_let_exactly_one_win(store: SecretsStore) -> None:
    # Given an empty store
    # When 50 threads create "token" in proj-a at once
    results = _run_concurrently(50, lambda i: store.insert(record("token")))
    # Then exactly one succeeds and the others are told the name is taken
    winners = [r for r in results if isinstance(r, SecretRecord)]
    assert len(winners) == 1, results
    assert sum(isinstance(r, NameTakenError) for r in results) == 49
    assert store.count() == 1


def test_concurrent_service_patches_give_one_200_and_409s(
    store: SecretsStore, keyring: Keyring
) -> None:
    # Given a secret through the service
    service = SecretsService(store, keyring, "proj-a")
    created = service.create("alice", b'{"name": "token", "value": "v0"}')
    # When 20 edits based on version 1 race
    results = _run_concurrently(
        20,
        lambda i: service.patch(
            "alice", created["id"], f'{{"version": 1, "value": "v{i + 1}"}}'.encode()
        ),
    )
    # Then one wins; the rest are 409 and their values were not written
    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1
    assert all(
        isinstance(r, SecretsError) and r.status == 409 for r in results if r is not winners[0]
    )
    value = service.reveal("alice", created["id"])["value"]
    assert value == f"v{results.index(winners[0]) + 1}"


def test_concurrent_shares_and_attachments_all_succeed_once(store: SecretsStore) -> None:
    # Given a record
    stored = store.insert(record())
    # When 20 threads share it with one community and attach it to one project at once
    results = _run_concurrently(
        20,
        lambda i: (
            store.change_shares(stored.id, add=["ml-team"])
            if i % 2
            else store.set_attached(stored.id, "proj-b", True)
        ),
    )
    # Then every call succeeds and each link exists once
    assert all(isinstance(r, SecretRecord) for r in results), results
    final = store.get(stored.id)
    assert final is not None
    assert (final.shared_with, final.attached_to) == (("ml-team",), {"proj-b"})


def test_sqlite_is_configured_for_durability_and_concurrency(tmp_path: Path) -> None:
    # Given a SQLite store in a directory that does not exist yet
    path = tmp_path / "deep" / "dir" / "secrets.db"
    opened = SecretsStore(db_url=f"sqlite:///{path}")
    try:
        # When a connection is opened
        with opened.engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        # Then the directory exists and the pragmas are set
        assert path.exists()
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,
            "busy_timeout": 5000,
            "foreign_keys": 1,
        }
    finally:
        opened.close()


def test_a_second_store_on_the_same_database_sees_the_same_rows(db_url: str) -> None:
    # Given two stores (two servers) on one database
    first, second = SecretsStore(db_url=db_url), SecretsStore(db_url=db_url)
    try:
        # When one writes
        stored = first.insert(record())
        # Then the other reads it, and their CAS guards each other
        assert second.get(stored.id) == stored
        second.update(stored.id, 1, updated_at=dt.datetime.now(UTC), name="by-second")
        with pytest.raises(StaleVersionError):
            first.update(stored.id, 1, updated_at=dt.datetime.now(UTC), name="by-first")
    finally:
        first.close()
        second.close()


def test_a_listing_reads_times_as_one_by_one_reads_them(store: SecretsStore) -> None:
    # Given a record created at a time with microseconds, on each backend
    moment = dt.datetime(2024, 5, 17, 9, 30, 12, 345678, tzinfo=UTC)
    stored = store.insert(record()._replace(created_at=moment, updated_at=moment))
    # When it is read in a listing (times as stored, not parsed) and alone (parsed)
    (listed,) = store.metas("proj-a", [])
    alone = store.get(stored.id)
    # Then both give the same ISO 8601 text, to the millisecond, in UTC
    assert alone is not None
    assert listed.created_at == listed.updated_at == "2024-05-17T09:30:12.345Z"
    assert isoformat(alone.created_at) == listed.created_at


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2024-05-17 09:30:12.345678", "2024-05-17T09:30:12.345Z"),
        ("2024-05-17 09:30:12.000000", "2024-05-17T09:30:12.000Z"),
        ("2024-05-17 09:30:12", "2024-05-17T09:30:12.000Z"),
        ("2024-05-17 09:30:12.5", "2024-05-17T09:30:12.500Z"),
    ],
)
def test_a_listing_reads_every_sqlite_time_text(
    sqlite_store: SecretsStore, stored: str, expected: str
) -> None:
    # Given a SQLite row whose time text is in one of the forms SQLite may hold
    secret = sqlite_store.insert(record())
    with sqlite_store.engine.begin() as connection:
        connection.execute(
            text("UPDATE secrets SET created_at = :t, updated_at = :t WHERE id = :id"),
            {"t": stored, "id": secret.id},
        )
    # When it is listed, and read alone
    (listed,) = sqlite_store.metas("proj-a", [])
    alone = sqlite_store.get(secret.id)
    # Then both read the same time
    assert alone is not None
    assert listed.created_at == isoformat(alone.created_at) == expected
