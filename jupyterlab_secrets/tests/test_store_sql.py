"""The SQL store on SQLite and PostgreSQL: the store contract, and what only SQL has (rows
encrypted at rest, SQLite's files, locks, key checks and rotation)."""

from __future__ import annotations

import ast
import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

import jupyterlab_secrets
from jupyterlab_secrets.crypto import Keyring, generate_key
from jupyterlab_secrets.errors import NotFoundError, UnavailableError, UndecryptableError
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.sql import SqlSecretStore, count_stored_secrets
from jupyterlab_secrets.stores.sql_schema import SecretRow, VersionRow

from .store_contract import *  # noqa: F403  (the contract's tests, collected here)
from .store_contract import StoreFactory

UTC = dt.timezone.utc
A = View("proj-a", ("ml-team",))
B = View("proj-b", ("ml-team",))
C = View("proj-c", ("other-team",))


@pytest.fixture
def contract_store(db_url: str, keyring: Keyring) -> Iterator[StoreFactory]:
    """SQL stores on one database (a SQLite file, or a PostgreSQL schema), with one keyring."""
    opened: list[SqlSecretStore] = []

    def make(keep_versions: int = 10) -> SqlSecretStore:
        store = SqlSecretStore(db_url, keyring, keep_versions=keep_versions)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """Where a SQLite store keeps its database (the directory does not exist yet)."""
    return tmp_path / "deep" / "dir" / "secrets.db"


@pytest.fixture
def sqlite(sqlite_path: Path, keyring: Keyring) -> Iterator[SqlSecretStore]:
    """A store on SQLite only, for what only SQLite has."""
    store = SqlSecretStore(f"sqlite:///{sqlite_path}", keyring)
    try:
        yield store
    finally:
        store.close()


def database_files(path: Path) -> dict[str, bytes]:
    """The bytes of the database file and its WAL files, by name."""
    return {
        candidate.name: candidate.read_bytes()
        for candidate in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        )
        if candidate.exists()
    }


def ciphertexts(store: SqlSecretStore, secret_id: str) -> list[bytes]:
    """Every ciphertext stored for a secret: its current value and its kept versions."""
    with store.engine.connect() as connection:
        current = connection.execute(
            select(SecretRow.ciphertext).where(SecretRow.id == secret_id)
        ).scalars()
        kept = connection.execute(
            select(VersionRow.ciphertext).where(VersionRow.secret_id == secret_id)
        ).scalars()
        return [*current, *kept]


# -- SQLite's configuration and files ------------------------------------------------------------


def test_sqlite_is_configured_for_durability_concurrency_and_secure_deletion(
    sqlite: SqlSecretStore, sqlite_path: Path
) -> None:
    # Given a SQLite store in a directory that did not exist
    # When a connection is opened
    with sqlite.engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in (
                "journal_mode",
                "synchronous",
                "busy_timeout",
                "foreign_keys",
                "secure_delete",
            )
        }
    # Then the directory and file exist, private, and the pragmas are set
    assert sqlite_path.exists()
    assert sqlite_path.stat().st_mode & 0o077 == 0
    assert sqlite_path.parent.stat().st_mode & 0o077 == 0
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "busy_timeout": 5000,
        "foreign_keys": 1,
        "secure_delete": 1,
    }


def test_no_value_is_stored_in_plain_text(sqlite: SqlSecretStore, sqlite_path: Path) -> None:
    # Given secrets with distinctive values, changed so that earlier values are kept
    values = ["plain-needle-one", "plain-needle-two ✓", "plain-needle-three"]
    secret = sqlite.create(A, name="token", value=values[0], user="alice")
    sqlite.update(A, secret.id, expected_version=1, user="alice", value=values[1])
    sqlite.update(A, secret.id, expected_version=2, user="alice", value=values[2])
    # When the database and its WAL files are read
    files = database_files(sqlite_path)
    # Then they hold the ciphertexts, and no value in any encoding
    assert any(c in data for c in ciphertexts(sqlite, secret.id) for data in files.values())
    for data in files.values():
        for value in values:
            for encoded in (value.encode(), value.encode("utf-16-le"), value.encode()[:10]):
                assert encoded not in data


def test_a_deleted_secret_leaves_no_ciphertext_in_the_files(
    sqlite: SqlSecretStore, sqlite_path: Path
) -> None:
    # Given a secret with two kept versions, and another secret
    secret = sqlite.create(A, name="token", value="v1" * 100, user="alice")
    sqlite.update(A, secret.id, expected_version=1, user="alice", value="v2" * 100)
    sqlite.update(A, secret.id, expected_version=2, user="alice", value="v3" * 100)
    other = sqlite.create(A, name="other", value="stays", user="alice")
    stored = ciphertexts(sqlite, secret.id)
    assert len(stored) == 3
    # (which the files hold now)
    files = database_files(sqlite_path)
    assert all(any(c in data for data in files.values()) for c in stored)
    # When it is deleted
    sqlite.delete(A, secret.id)
    # Then none of its ciphertexts is found in the database, its WAL or its shared memory
    files = database_files(sqlite_path)
    found = [(name, i) for name, data in files.items() for i, c in enumerate(stored) if c in data]
    assert found == []
    # And the other secret is intact
    assert sqlite.read_values(A, [other.id]) == {other.id: "stays"}


def test_reads_take_no_write_lock(sqlite: SqlSecretStore, sqlite_path: Path) -> None:
    # Given a secret with a kept version, shared
    secret = sqlite.create(A, name="token", value="v1", user="alice")
    sqlite.update(A, secret.id, expected_version=1, user="alice", value="v2")
    sqlite.set_shares(A, secret.id, add=["ml-team"], remove=[])
    # When another connection holds a write transaction
    blocker = sqlite3.connect(sqlite_path, isolation_level=None, timeout=0)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("UPDATE secrets SET name = name")
        other_writer = sqlite3.connect(sqlite_path, isolation_level=None, timeout=0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other_writer.execute("BEGIN IMMEDIATE")  # (the lock is really held)
        other_writer.close()
        started = time.monotonic()
        # Then every read is answered at once (a write lock would wait, then fail)
        assert sqlite.count() == 1
        assert [s.id for s in sqlite.list(B)] == [secret.id]
        assert sqlite.get(A, secret.id).version == 2
        assert sqlite.read_values(B, [secret.id]) == {secret.id: "v2"}
        sqlite.check_keys(A)
        assert sqlite.change_marker(B)
        assert [v.version for v in sqlite.versions(A, secret.id)] == [2, 1]
        assert sqlite.read_version(A, secret.id, 1) == "v1"
        # And another server opens the store (its schema is current: nothing to migrate)
        SqlSecretStore(f"sqlite:///{sqlite_path}", sqlite.keyring).close()
        assert time.monotonic() - started < 4.5  # below the busy timeout of 5 s
    finally:
        blocker.rollback()
        blocker.close()


def test_a_damaged_database_is_reported_as_unavailable(
    sqlite: SqlSecretStore, sqlite_path: Path
) -> None:
    # Given a store whose database file is replaced by something that is not a database
    sqlite.create(A, name="token", value="the-value", user="alice")
    sqlite.engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        sqlite_path.with_name(sqlite_path.name + suffix).unlink(missing_ok=True)
    sqlite_path.write_bytes(b"not a database " * 1000)
    # When it is read from and written to
    # Then each says the database cannot be used, naming it, with no value or statement
    for call in (
        lambda: sqlite.list(A),
        lambda: sqlite.count(),
        lambda: sqlite.change_marker(A),
        lambda: sqlite.create(A, name="other", value="the-value", user="alice"),
    ):
        with pytest.raises(UnavailableError) as refused:
            call()
        assert refused.value.message.startswith(
            f"The secrets database sqlite:///{sqlite_path} cannot be used right now ("
        )
        assert "the-value" not in refused.value.message
        assert "SELECT" not in refused.value.message and "INSERT" not in refused.value.message


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2024-05-17 09:30:12.345678", dt.datetime(2024, 5, 17, 9, 30, 12, 345678, tzinfo=UTC)),
        ("2024-05-17 09:30:12.000000", dt.datetime(2024, 5, 17, 9, 30, 12, tzinfo=UTC)),
        ("2024-05-17 09:30:12", dt.datetime(2024, 5, 17, 9, 30, 12, tzinfo=UTC)),
        ("2024-05-17 09:30:12.5", dt.datetime(2024, 5, 17, 9, 30, 12, 500000, tzinfo=UTC)),
    ],
)
def test_every_sqlite_time_text_reads_as_aware_utc(
    sqlite: SqlSecretStore, stored: str, expected: dt.datetime
) -> None:
    # Given a row whose time text is in one of the forms SQLite may hold
    secret = sqlite.create(A, name="token", value="v", user="alice")
    with sqlite.engine.begin() as connection:
        connection.execute(
            text("UPDATE secrets SET created_at = :t, updated_at = :t WHERE id = :id"),
            {"t": stored, "id": secret.id},
        )
    # When it is listed, and read alone
    (listed,) = sqlite.list(A)
    alone = sqlite.get(A, secret.id)
    # Then both read the same aware UTC time
    assert listed.created_at == alone.created_at == alone.updated_at == expected


# -- encryption ------------------------------------------------------------------------------


def test_a_ciphertext_moved_to_another_row_fails_alone(db_url: str, keyring: Keyring) -> None:
    # Given three secrets
    store = SqlSecretStore(db_url, keyring)
    try:
        first, second, third = (
            store.create(A, name=name, value=f"{name} value", user="alice")
            for name in ("first", "second", "third")
        )
        # When the first row's ciphertext is copied into the second row
        with store.engine.begin() as connection:
            source = connection.execute(
                select(SecretRow.ciphertext, SecretRow.nonce, SecretRow.key_id).where(
                    SecretRow.id == first.id
                )
            ).one()
            connection.execute(
                update(SecretRow)
                .where(SecretRow.id == second.id)
                .values(ciphertext=source[0], nonce=source[1], key_id=source[2])
            )
        # Then the second cannot be read, and the others still are
        assert store.read_values(A, [first.id, second.id, third.id]) == {
            first.id: "first value",
            second.id: None,
            third.id: "third value",
        }
        with pytest.raises(UndecryptableError):
            store.read_version(A, second.id, 1)
    finally:
        store.close()


def test_kept_versions_cannot_be_swapped(db_url: str, keyring: Keyring) -> None:
    # Given a secret with two kept versions
    store = SqlSecretStore(db_url, keyring)
    try:
        secret = store.create(A, name="token", value="one", user="alice")
        store.update(A, secret.id, expected_version=1, user="alice", value="two")
        store.update(A, secret.id, expected_version=2, user="alice", value="three")
        # When version 1's ciphertext is written into version 2's row
        with store.engine.begin() as connection:
            one = connection.execute(
                select(VersionRow.ciphertext, VersionRow.nonce).where(
                    VersionRow.secret_id == secret.id, VersionRow.version == 1
                )
            ).one()
            connection.execute(
                update(VersionRow)
                .where(VersionRow.secret_id == secret.id, VersionRow.version == 2)
                .values(ciphertext=one[0], nonce=one[1])
            )
        # Then version 2 cannot be read (it is bound to its number), and version 1 still is
        with pytest.raises(UndecryptableError):
            store.read_version(A, secret.id, 2)
        assert store.read_version(A, secret.id, 1) == "one"
    finally:
        store.close()


def test_a_store_that_keeps_no_versions_keeps_only_the_current_value(
    db_url: str, keyring: Keyring
) -> None:
    # Given a store configured to keep no earlier values, and one that keeps two
    store = SqlSecretStore(db_url, keyring, keep_versions=0)
    keeping = SqlSecretStore(db_url, keyring, keep_versions=2)
    try:
        secret = keeping.create(A, name="token", value="one", user="alice")
        keeping.update(A, secret.id, expected_version=1, user="alice", value="two")
        # When the first changes the value
        store.update(A, secret.id, expected_version=2, user="alice", value="three")
        # Then only the current version is left, and the earlier ones are not found
        assert [v.version for v in store.versions(A, secret.id)] == [3]
        for gone in (1, 2):
            with pytest.raises(NotFoundError):
                store.read_version(A, secret.id, gone)
        with store.engine.connect() as connection:
            assert connection.execute(select(VersionRow.version)).all() == []
    finally:
        store.close()
        keeping.close()
    with pytest.raises(ValueError):
        SqlSecretStore(db_url, keyring, keep_versions=-1)


def test_keys_are_checked_only_against_what_a_view_sees(db_url: str, keyring: Keyring) -> None:
    # Given proj-a's secret, and a proj-c secret written under a key this server lacks
    store = SqlSecretStore(db_url, keyring)
    foreign = SqlSecretStore(db_url, Keyring([generate_key()]))
    try:
        own = store.create(A, name="own", value="a", user="alice")
        foreign.create(C, name="foreign", value="c", user="carol")
        # When the keys are checked for proj-a, and for proj-c
        store.check_keys(A)
        store.check_keys(View("proj-d"))
        # Then proj-a is served; proj-c's check fails, saying no value
        with pytest.raises(UndecryptableError) as refused:
            store.check_keys(C)
        assert "foreign" not in str(refused.value) and "'c'" not in str(refused.value)
        assert store.read_values(A, [own.id]) == {own.id: "a"}
        # And the store counts every project's secrets
        assert store.count() == 2
        assert count_stored_secrets(db_url) == 2
    finally:
        store.close()
        foreign.close()


def test_counting_creates_and_migrates_nothing(tmp_path: Path) -> None:
    # Given no database yet
    path = tmp_path / "new" / "secrets.db"
    # When its secrets are counted
    # Then there are none, and no file was created
    assert count_stored_secrets(f"sqlite:///{path}") == 0
    assert not path.exists()
    # Given an empty database file
    path.parent.mkdir()
    sqlite3.connect(path).close()
    # Then there are none, and no table was created
    assert count_stored_secrets(f"sqlite:///{path}") == 0
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


# -- key rotation ------------------------------------------------------------------------------


def test_rotation_re_encrypts_current_and_kept_values_under_the_first_key(
    db_url: str,
) -> None:
    # Given secrets with kept versions under an old key
    old, new = generate_key(), generate_key()
    before = SqlSecretStore(db_url, Keyring([old]))
    secret = before.create(A, name="token", value="one", user="alice")
    before.update(A, secret.id, expected_version=1, user="alice", value="two")
    other = before.create(B, name="other", value="b", user="bob")
    before.close()
    # When the keys are rotated to a new first key
    store = SqlSecretStore(db_url, Keyring([new, old]))
    try:
        rotation = store.rotate()
        # Then every value (2 current, 1 kept) was re-encrypted, and a second run has none left
        assert (rotation.changed, rotation.kept) == (3, 0)
        assert store.rotate() == (0, 3)
        # And the new key alone opens them all
        only_new = SqlSecretStore(db_url, Keyring([new]))
        try:
            assert only_new.read_values(A, [secret.id]) == {secret.id: "two"}
            assert only_new.read_values(B, [other.id]) == {other.id: "b"}
            assert only_new.read_version(A, secret.id, 1) == "one"
            only_new.check_keys(A)
        finally:
            only_new.close()
    finally:
        store.close()


def test_rotation_that_cannot_decrypt_a_value_changes_nothing(db_url: str) -> None:
    # Given one secret under a key the rotation is given, and one under a key it is not
    known, unknown, new = generate_key(), generate_key(), generate_key()
    first = SqlSecretStore(db_url, Keyring([known]))
    second = SqlSecretStore(db_url, Keyring([unknown]))
    first.create(A, name="known", value="k", user="alice")
    second.create(C, name="unknown", value="u", user="carol")
    first.close()
    second.close()
    store = SqlSecretStore(db_url, Keyring([new, known]))
    try:
        with store.engine.connect() as connection:
            before = connection.execute(select(SecretRow.id, SecretRow.ciphertext)).all()
        # When the keys are rotated
        with pytest.raises(UndecryptableError) as refused:
            store.rotate()
        # Then it says so, and no row changed
        assert "nothing was changed" in refused.value.message
        with store.engine.connect() as connection:
            assert connection.execute(select(SecretRow.id, SecretRow.ciphertext)).all() == before
    finally:
        store.close()


def test_rotation_leaves_no_old_ciphertext_in_the_sqlite_files(sqlite_path: Path) -> None:
    # Given a secret with a kept version under an old key
    old, new = generate_key(), generate_key()
    url = f"sqlite:///{sqlite_path}"
    store = SqlSecretStore(url, Keyring([old]))
    secret = store.create(A, name="token", value="one" * 50, user="alice")
    store.update(A, secret.id, expected_version=1, user="alice", value="two" * 50)
    stored = ciphertexts(store, secret.id)
    store.close()
    # When the keys are rotated
    store = SqlSecretStore(url, Keyring([new, old]))
    try:
        store.rotate()
        # Then none of the old ciphertexts is left in the database or its WAL files
        files = database_files(sqlite_path)
        assert [c for c in stored for data in files.values() if c in data] == []
        assert files.get("secrets.db-wal", b"") == b""
        assert store.read_values(A, [secret.id]) == {secret.id: "two" * 50}
    finally:
        store.close()


def test_rotation_loses_no_concurrent_edit(db_url: str) -> None:
    # Given 500 secrets under an old key, and a server editing them in a loop (4 threads,
    # each its own secrets, so every edit it is told succeeded must be the last word)
    old, new = generate_key(), generate_key()
    server = SqlSecretStore(db_url, Keyring([old]))
    ids = [
        server.create(A, name=f"secret-{i:03}", value="initial", user="alice").id
        for i in range(500)
    ]
    acknowledged: dict[str, str] = {}
    versions = dict.fromkeys(ids, 1)
    failures: list[Exception] = []
    stop = threading.Event()
    rotating = threading.Event()
    during = [0]
    busy = [0]
    busy_rotations = [0]
    progress = threading.Condition()
    edits = [0]

    def wait_for_edits(more: int) -> None:
        """Wait until the editors made ``more`` edits (or one of them failed)."""
        with progress:
            target = edits[0] + more
            assert progress.wait_for(lambda: edits[0] >= target or failures, timeout=60), (
                "the edits stalled"
            )

    def edit(worker: int) -> None:
        mine = ids[worker::4]
        count = 0
        while not stop.is_set():
            secret_id = mine[count % len(mine)]
            value = f"edit-{worker}-{count}"
            try:
                updated = server.update(
                    A, secret_id, expected_version=versions[secret_id], user="bob", value=value
                )
            except UnavailableError:
                # SQLite's lock was busy for longer than its timeout (the machine may be
                # loaded): refused, so nothing was acknowledged, and nothing may be lost.
                busy[0] += 1
                continue
            except Exception as error:  # asserted on below
                with progress:
                    failures.append(error)
                    progress.notify_all()
                return
            versions[secret_id] = updated.version
            acknowledged[secret_id] = value
            if rotating.is_set():
                during[0] += 1
            count += 1
            with progress:
                edits[0] += 1
                progress.notify_all()
            # A breath between edits, as users take: SQLite's busy handler is not fair, and
            # writers in a tight loop could starve the rotation's transactions of the lock.
            time.sleep(0.002)

    threads = [threading.Thread(target=edit, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    # When the keys are rotated three times (the operator's CLI: its own store) meanwhile
    rotator_keys = [Keyring([new, old]), Keyring([old, new]), Keyring([new, old])]
    changed = 0
    try:
        wait_for_edits(8)
        rotating.set()
        for keys in rotator_keys:
            for _attempt in range(5):
                rotator = SqlSecretStore(db_url, keys)
                try:
                    changed += rotator.rotate().changed
                    break
                except UnavailableError:
                    # SQLite stayed busy (its lock is not handed out fairly): the operator
                    # runs it again, and it carries on where it stopped.
                    busy_rotations[0] += 1
                finally:
                    rotator.close()
            else:
                pytest.fail("the rotation stayed busy five times")
        rotating.clear()
        # and the editors carry on after it
        wait_for_edits(8)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    # Then no acknowledged edit was lost
    reader = SqlSecretStore(db_url, Keyring([new, old]))
    try:
        values = reader.read_values(A, ids)
    finally:
        reader.close()
        server.close()
    lost = sum(values[i] != acknowledged.get(i, "initial") for i in ids)
    print(
        f"\n{len(acknowledged)} secrets edited, {during[0]} edits acknowledged during "
        f"{len(rotator_keys)} rotations ({changed} values re-encrypted), {busy[0]} edits and "
        f"{busy_rotations[0]} rotations refused as busy; lost: {lost}"
    )
    assert failures == []
    assert lost == 0


# -- production code ---------------------------------------------------------------------------


def test_the_store_and_migrations_use_no_assert() -> None:
    # Given the store's and the migrations' code (assert vanishes under python -O)
    package = Path(jupyterlab_secrets.__file__).parent
    files = [
        *sorted((package / "stores").glob("*.py")),
        *sorted((package / "migrations").rglob("*.py")),
    ]
    # Then none of it checks anything with assert
    found = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in files
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert files and found == []
