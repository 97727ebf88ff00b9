"""Schema migrations: a fresh database, a database of the release before migrations, a newer one,
and servers that start at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text, update
from sqlalchemy.engine import make_url

from jupyterlab_secrets.audit import AuditEntry
from jupyterlab_secrets.crypto import Keyring, encode_key, generate_key
from jupyterlab_secrets.migrations import (
    VERSION_TABLE,
    SchemaError,
    alembic_config,
    current_revision,
    head_revision,
)
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.sql import SqlSecretStore
from jupyterlab_secrets.stores.sql_audit import SqlAuditLog, event_hash
from jupyterlab_secrets.stores.sql_schema import AuditEventRow, Base

from .conftest import Api
from .store_contract import run_concurrently

UTC = dt.timezone.utc

REVISION_1_DDL = """
CREATE TABLE secrets (
    id VARCHAR(32) NOT NULL,
    project VARCHAR(255) NOT NULL,
    name VARCHAR(63) NOT NULL,
    ciphertext {blob} NOT NULL,
    nonce {blob} NOT NULL,
    key_id VARCHAR(16) NOT NULL,
    created_by VARCHAR(255) NOT NULL,
    created_at {timestamp} NOT NULL,
    updated_at {timestamp} NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_secrets_project_name UNIQUE (project, name)
);
CREATE INDEX ix_secrets_project ON secrets (project);
CREATE TABLE secret_shares (
    secret_id VARCHAR(32) NOT NULL,
    community VARCHAR(255) NOT NULL,
    PRIMARY KEY (secret_id, community),
    FOREIGN KEY(secret_id) REFERENCES secrets (id) ON DELETE CASCADE
);
CREATE INDEX ix_secret_shares_community ON secret_shares (community);
CREATE TABLE attachments (
    secret_id VARCHAR(32) NOT NULL,
    project VARCHAR(255) NOT NULL,
    PRIMARY KEY (secret_id, project),
    FOREIGN KEY(secret_id) REFERENCES secrets (id) ON DELETE CASCADE
);
CREATE INDEX ix_attachments_project ON attachments (project);
"""
"""What ``create_all`` of the release before migrations created, as it wrote it."""

TYPES = {
    "sqlite": {"blob": "BLOB", "timestamp": "DATETIME"},
    "postgresql": {"blob": "BYTEA", "timestamp": "TIMESTAMP WITH TIME ZONE"},
}

COMMUNITIES = {"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}}
PROJ_A = View("proj-a", ("ml-team",))
PROJ_B = View("proj-b", ("ml-team",))
HEAD = "0005"
LEGACY_COLUMNS = {
    "secrets": "id, project, name, ciphertext, nonce, key_id, created_by, created_at, "
    "updated_at, version",
    "secret_shares": "secret_id, community",
    "attachments": "secret_id, project",
}
"""The columns of revision 1, which every later revision keeps as they are."""

HEAD_INDEXES = {
    "secrets": set(),
    "secret_shares": {("ix_secret_shares_community_secret", ("community", "secret_id"))},
    "attachments": {("ix_attachments_project_secret", ("project", "secret_id"))},
}


def _timestamp(moment: dt.datetime, dialect: str) -> str:
    """A time as the previous release stored it (SQLite: naive UTC text with microseconds)."""
    if dialect == "sqlite":
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return moment.isoformat()


def build_revision_1(db_url: str, keyring: Keyring) -> dict[str, str]:
    """Create the previous release's schema by raw SQL and fill it; return the values by ID.

    proj-a has three secrets (one multi-line and non-ASCII, one shared with ml-team and added to
    proj-b), proj-b has one.
    """
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    dialect = engine.dialect.name
    values: dict[str, str] = {}
    created = dt.datetime(2024, 5, 17, 9, 30, 12, 345678, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            for statement in REVISION_1_DDL.format(**TYPES[dialect]).split(";"):
                if statement.strip():
                    connection.exec_driver_sql(statement)
            rows = [
                ("proj-a", "api-key", "s3cr3t"),
                ("proj-a", "multi-line", "línea 1\nline 2 🙂"),
                ("proj-a", "team-token", "shared-with-ml-team"),
                ("proj-b", "api-key", "b's own"),
            ]
            for index, (project, name, value) in enumerate(rows):
                secret_id = uuid.uuid4().hex
                sealed = keyring.encrypt(value.encode(), project=project, secret_id=secret_id)
                values[secret_id] = value
                connection.execute(
                    text(
                        "INSERT INTO secrets (id, project, name, ciphertext, nonce, key_id, "
                        "created_by, created_at, updated_at, version) VALUES (:id, :project, "
                        ":name, :ciphertext, :nonce, :key_id, :by, :created, :updated, :version)"
                    ),
                    {
                        "id": secret_id,
                        "project": project,
                        "name": name,
                        "ciphertext": sealed.ciphertext,
                        "nonce": sealed.nonce,
                        "key_id": sealed.key_id,
                        "by": "alice",
                        "created": _timestamp(created + dt.timedelta(minutes=index), dialect),
                        "updated": _timestamp(
                            created + dt.timedelta(days=1, minutes=index), dialect
                        ),
                        "version": index + 1,
                    },
                )
                if name == "team-token":
                    connection.execute(
                        text("INSERT INTO secret_shares VALUES (:id, 'ml-team')"), {"id": secret_id}
                    )
                    connection.execute(
                        text("INSERT INTO attachments VALUES (:id, 'proj-b')"), {"id": secret_id}
                    )
    finally:
        engine.dispose()
    return values


def dump(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of revision 1, in its columns, as the database holds it."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            return {
                table: [
                    tuple(row)
                    for row in connection.execute(
                        text(f"SELECT {columns} FROM {table} ORDER BY 1, 2")
                    )
                ]
                for table, columns in LEGACY_COLUMNS.items()
            }
    finally:
        engine.dispose()


def schema_of(db_url: str) -> tuple[str | None, dict[str, set[tuple[str, tuple[str, ...]]]]]:
    """The revision the database is at, and the non-unique indexes of each table."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            indexes = {
                table: {
                    (index["name"], tuple(index["column_names"]))
                    for index in inspector.get_indexes(table)
                    if not index.get("unique")
                }
                for table in ("secrets", "secret_shares", "attachments")
            }
            return current_revision(connection), indexes
    finally:
        engine.dispose()


@pytest.fixture
def legacy(db_url: str, keyring: Keyring) -> dict[str, str]:
    """A database of the release before migrations, on each backend; the values by ID."""
    return build_revision_1(db_url, keyring)


def all_values(store: SqlSecretStore) -> dict[str, str | None]:
    """Every value proj-a and proj-b see, by ID."""
    seen: dict[str, str | None] = {}
    for view in (PROJ_A, PROJ_B):
        seen.update(store.read_values(view, [s.id for s in store.list(view)]))
    return seen


def test_a_fresh_database_is_created_at_head_and_matches_the_models(
    db_url: str, keyring: Keyring
) -> None:
    # Given an empty database
    # When a store opens it
    store = SqlSecretStore(db_url, keyring)
    try:
        # Then it is at the newest revision, in our own version table
        with store.engine.connect() as connection:
            assert current_revision(connection) == head_revision() == HEAD
            assert inspect(connection).has_table(VERSION_TABLE)
            assert not inspect(connection).has_table("alembic_version")
            assert inspect(connection).has_table("secret_versions")
            assert inspect(connection).has_table("change_counters")
            # And the migrated schema is exactly what the models declare
            differences = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}),
                Base.metadata,
            )
        assert [d for d in differences if d[0] != "remove_table"] == []
        assert schema_of(db_url)[1] == HEAD_INDEXES
    finally:
        store.close()


def test_a_database_of_the_previous_release_is_upgraded_in_place(
    db_url: str, legacy: dict[str, str], keyring: Keyring
) -> None:
    # Given a database created by the previous release, with rows, and no version table
    before = dump(db_url)
    revision, indexes = schema_of(db_url)
    assert revision is None
    assert ("ix_secrets_project", ("project",)) in indexes["secrets"]
    # When a store opens it
    store = SqlSecretStore(db_url, keyring)
    try:
        # Then it is upgraded to head, every column it had is byte for byte the same
        assert schema_of(db_url) == (HEAD, HEAD_INDEXES)
        assert dump(db_url) == before
        # And every secret, share and attachment reads and decrypts as before
        assert all_values(store) == legacy
        listing = sorted(store.list(PROJ_A), key=lambda s: s.name)
        assert [(s.name, s.version, s.created_at) for s in listing] == [
            ("api-key", 1, dt.datetime(2024, 5, 17, 9, 30, 12, 345678, tzinfo=UTC)),
            ("multi-line", 2, dt.datetime(2024, 5, 17, 9, 31, 12, 345678, tzinfo=UTC)),
            ("team-token", 3, dt.datetime(2024, 5, 17, 9, 32, 12, 345678, tzinfo=UTC)),
        ]
        assert listing[2].shared_with == ("ml-team",)
        shared = next(s for s in store.list(PROJ_B) if s.project == "proj-a")
        assert (shared.name, shared.attached_as) == ("team-token", "team-token")
    finally:
        store.close()
    # And opening it again changes nothing
    SqlSecretStore(db_url, keyring).close()
    assert dump(db_url) == before
    assert schema_of(db_url) == (HEAD, HEAD_INDEXES)


def upgrade_to(db_url: str, revision: str) -> None:
    """Bring a database of revision 1 (`build_revision_1`) to ``revision`` with Alembic, as
    that release's store did."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as connection:
            command.stamp(alembic_config(connection), "0001")
            command.upgrade(alembic_config(connection), revision)
    finally:
        engine.dispose()


def test_a_database_of_the_previous_schema_gets_authors_names_lengths_and_versions(
    db_url: str, legacy: dict[str, str], keyring: Keyring
) -> None:
    # Given a database at revision 0002 (the previous schema), with rows
    upgrade_to(db_url, "0002")
    assert schema_of(db_url)[0] == "0002"
    before = dump(db_url)
    # When this release's store opens it
    store = SqlSecretStore(db_url, keyring)
    try:
        # Then the rows are kept, and each secret was last changed by its creator
        assert schema_of(db_url)[0] == HEAD
        assert dump(db_url) == before
        by_name = {s.name: s for s in store.list(PROJ_A)}
        assert {s.updated_by for s in by_name.values()} == {"alice"}
        # And a project's attachment keeps the name the secret had when it was added
        (attached,) = [s for s in store.list(PROJ_B) if s.project == "proj-a"]
        assert attached.attached_as == "team-token"
        # And a value's length, which a migration cannot decrypt, is its UTF-8 byte count
        # (exact for ASCII, never less than its characters) until the value next changes
        multi_line = legacy[by_name["multi-line"].id]
        assert by_name["api-key"].value_length == len("s3cr3t")
        assert by_name["multi-line"].value_length == len(multi_line.encode()) > len(multi_line)
        # And there are no kept versions yet
        assert [v.version for v in store.versions(PROJ_A, by_name["multi-line"].id)] == [2]
        # When a migrated secret's value changes
        marker = store.change_marker(PROJ_B)
        secret = by_name["team-token"]
        updated = store.update(PROJ_A, secret.id, expected_version=3, user="bob", value="línea 🙂")
        # Then its length is exact, its earlier value is kept, and proj-b sees a change
        assert updated.value_length == len("línea 🙂") == 7
        assert [v.version for v in store.versions(PROJ_A, secret.id)] == [4, 3]
        assert store.read_version(PROJ_A, secret.id, 3) == "shared-with-ml-team"
        assert store.change_marker(PROJ_B) != marker
    finally:
        store.close()


@pytest.mark.parametrize("start", ["fresh", "previous-release"])
def test_servers_starting_at_once_upgrade_once(db_url: str, keyring: Keyring, start: str) -> None:
    # Given a fresh database, or one of the previous release
    values = build_revision_1(db_url, keyring) if start == "previous-release" else {}
    before = dump(db_url) if values else None
    # When eight servers open it at the same moment
    results = run_concurrently(8, lambda i: SqlSecretStore(db_url, keyring))
    try:
        # Then every one opens, and the schema is at head once, with the rows intact
        assert all(isinstance(r, SqlSecretStore) for r in results), results
        assert schema_of(db_url) == (HEAD, HEAD_INDEXES)
        if before is not None:
            assert dump(db_url) == before
        assert all_values(results[0]) == values
        created = results[-1].create(View("proj-c"), name="after", value="v", user="alice")
        assert results[1].get(View("proj-c"), created.id) == created
    finally:
        for result in results:
            if isinstance(result, SqlSecretStore):
                result.close()


def test_a_new_sqlite_database_opened_by_servers_at_once_opens_for_each(
    tmp_path: Path, keyring: Keyring
) -> None:
    # Given new SQLite databases, each opened by eight servers at the same moment (switching
    # a new database to WAL needs it alone, and SQLite refuses the others at once)
    for attempt in range(12):
        url = f"sqlite:///{tmp_path / str(attempt) / 'secrets.db'}"
        results = run_concurrently(8, lambda i, url=url: SqlSecretStore(url, keyring))
        try:
            # Then every server opens it
            assert all(isinstance(r, SqlSecretStore) for r in results), (attempt, results)
        finally:
            for result in results:
                if isinstance(result, SqlSecretStore):
                    result.close()


def test_a_database_of_a_newer_release_is_refused_untouched(db_url: str, keyring: Keyring) -> None:
    # Given a database that a newer release upgraded beyond this release's head
    SqlSecretStore(db_url, keyring).close()
    engine = create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0099'"))
    engine.dispose()
    before = dump(db_url)
    # When a store opens it
    with pytest.raises(SchemaError) as refused:
        SqlSecretStore(db_url, keyring)
    # Then it says what to do, and changes nothing
    assert str(refused.value) == (
        "The secrets database is at schema revision '0099', which this release of "
        f"jupyterlab-secrets does not know (its newest is '{HEAD}'): a newer release upgraded "
        "it. Install that release or a later one."
    )
    assert dump(db_url) == before


def test_every_revision_downgrades_and_upgrades_again(
    db_url: str, legacy: dict[str, str], keyring: Keyring
) -> None:
    # Given a previous-release database, upgraded
    before = dump(db_url)
    SqlSecretStore(db_url, keyring).close()
    engine = create_engine(db_url)
    try:
        # When it is taken back to revision 1, then forward again
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0001")
        assert schema_of(db_url)[0] == "0001"
        assert dump(db_url) == before
        SqlSecretStore(db_url, keyring).close()
        # Then it is at head with its rows; and down to nothing leaves no table of ours
        assert schema_of(db_url) == (HEAD, HEAD_INDEXES)
        assert dump(db_url) == before
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
            tables = set(inspect(connection).get_table_names())
        assert (
            tables
            & {
                "secrets",
                "secret_shares",
                "attachments",
                "secret_versions",
                "change_counters",
            }
            == set()
        )
    finally:
        engine.dispose()


def test_the_migration_scripts_ship_inside_the_package() -> None:
    # Given the installed package
    import jupyterlab_secrets.migrations as migrations

    folder = Path(migrations.__file__).parent
    # Then the environment and every revision are files of the package, found without alembic.ini
    assert (folder / "env.py").is_file()
    assert sorted(p.name for p in (folder / "versions").glob("*.py")) == [
        "0001_initial_schema.py",
        "0002_covering_link_indexes.py",
        "0003_versions_names_and_counters.py",
        "0004_audit_log.py",
        "0005_audit_hash_chain.py",
    ]
    assert not (folder / "alembic.ini").exists()


# -- the audit log of revision 0004: MACs under the master key --------------------------------


def mac_chained_events(db_url: str, keyring: Keyring, count: int) -> list[dict[str, Any]]:
    """Write ``count`` events as revision 0004's log did (an HMAC-SHA256 chain under a key
    derived with HKDF from the master key, over its own field order), and answer them."""
    engine = create_engine(db_url)
    key_id = keyring.primary_key_id
    mac_key = keyring.derive(b"jupyterlab-secrets:audit-log:v1", key_id)
    written: list[dict[str, Any]] = []
    previous = ""
    start = dt.datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    try:
        with engine.begin() as connection:
            for index in range(count):
                row: dict[str, Any] = {
                    "id": uuid.uuid4().hex,
                    "at": start + dt.timedelta(minutes=index),
                    "user": ["alice", "bob"][index % 2],
                    "project": "proj-a",
                    "server_project": "proj-a",
                    "action": ["create", "reveal"][index % 2],
                    "secret_id": "a" * 32,
                    "secret_name": "api-key",
                    "detail": "{}",
                    "key_id": key_id,
                    "prev_mac": previous,
                }
                fields = [
                    "v1",
                    *(row[name] for name in ("id",)),
                    row["at"].isoformat(timespec="microseconds"),
                    *(
                        row[name]
                        for name in (
                            "user",
                            "project",
                            "server_project",
                            "action",
                            "secret_id",
                            "secret_name",
                            "detail",
                            "key_id",
                            "prev_mac",
                        )
                    ),
                ]
                canonical = json.dumps(fields, ensure_ascii=True, separators=(",", ":")).encode()
                row["mac"] = previous = hmac.new(mac_key, canonical, hashlib.sha256).hexdigest()
                stored = {**row, "at": _timestamp(row["at"], engine.dialect.name)}
                connection.execute(
                    text(
                        'INSERT INTO audit_events (id, at, "user", project, server_project, '
                        "action, secret_id, secret_name, detail, key_id, prev_mac, mac) VALUES "
                        "(:id, :at, :user, :project, :server_project, :action, :secret_id, "
                        ":secret_name, :detail, :key_id, :prev_mac, :mac)"
                    ),
                    stored,
                )
                written.append(row)
    finally:
        engine.dispose()
    return written


def test_a_log_chained_under_the_master_key_stays_verifiable_after_the_upgrade(
    db_url: str, legacy: dict[str, str], keyring: Keyring
) -> None:
    # Given a database at revision 0004 whose log holds four MAC-chained events
    upgrade_to(db_url, "0004")
    written = mac_chained_events(db_url, keyring, 4)
    # When this release's store opens it
    store = SqlSecretStore(db_url, keyring)
    try:
        rows = [dict(row) for row in _audit_rows(store)]
        # Then every event is kept with its MAC, and the switch to a hash chain is recorded
        assert [(r["id"], r["mac"]) for r in rows[:4]] == [(w["id"], w["mac"]) for w in written]
        switch = rows[4]
        assert switch["action"] == "hash-chain" and switch["mac"] is None
        assert json.loads(switch["detail"]) == {
            "events": 4,
            "key_id": keyring.primary_key_id,
            "last_mac": written[-1]["mac"],
        }
        # And the log verifies, the MACs checked with the master key
        result = store.audit.verify()
        assert result.ok, result
        assert (result.checked, result.legacy, result.legacy_unchecked) == (5, 4, 0)
        # And with another master key only, it verifies by its hashes, and says the MACs
        # were not checked
        elsewhere = SqlAuditLog(store.engine, Keyring([generate_key()])).verify()
        assert elsewhere.ok and elsewhere.legacy_unchecked == 4
        # And an old event changed, with the whole chain of hashes computed again (as anyone
        # with the database could), is found by its MAC
        previous = ""
        with store.engine.begin() as connection:
            for row in rows:
                if row["seq"] == rows[1]["seq"]:
                    row["user"] = "mallory"
                row["prev_hash"] = previous
                row["hash"] = previous = event_hash(row)
                connection.execute(
                    update(AuditEventRow)
                    .where(AuditEventRow.seq == row["seq"])
                    .values(user=row["user"], prev_hash=row["prev_hash"], hash=row["hash"])
                )
        found = store.audit.verify()
        assert (found.bad_event, found.reason) == (
            rows[1]["id"],
            "it was altered (its master-key MAC)",
        )
    finally:
        store.close()


def test_an_event_after_the_switch_with_a_master_key_mac_is_found(
    db_url: str, legacy: dict[str, str], keyring: Keyring
) -> None:
    # Given an upgraded log, and an event recorded since by this release
    upgrade_to(db_url, "0004")
    written = mac_chained_events(db_url, keyring, 2)
    store = SqlSecretStore(db_url, keyring)
    try:
        store.create(View("proj-a"), name="later", value="v", user="alice", record=_one_event)
        rows = [dict(row) for row in _audit_rows(store)]
        assert store.audit.verify().ok
        # When someone with the master key and the database turns that event into a prune
        # that carries a MAC, as events before the switch do (whose prunes were not signed),
        # and computes the MAC and the hashes again
        forged = rows[-1]
        forged.update(
            action="prune",
            detail=json.dumps({"anchor": "", "events": 3}),
            key_id=keyring.primary_key_id,
            prev_mac=written[-1]["mac"],
        )
        forged["mac"] = store.audit._legacy_mac(forged)
        forged["hash"] = event_hash(forged)
        with store.engine.begin() as connection:
            connection.execute(
                update(AuditEventRow)
                .where(AuditEventRow.seq == forged["seq"])
                .values(
                    **{
                        name: forged[name]
                        for name in ("action", "detail", "key_id", "prev_mac", "mac", "hash")
                    }
                )
            )
        # Then verify names it
        found = store.audit.verify()
        assert (found.bad_event, found.reason) == (
            forged["id"],
            "it carries a master-key MAC, which no event after the switch to the hash chain may",
        )
        assert found.checked == len(rows) - 1
    finally:
        store.close()


def _audit_rows(store: SqlSecretStore) -> list[Any]:
    with store.engine.connect() as connection:
        return list(
            connection.execute(
                select(AuditEventRow.__table__).order_by(AuditEventRow.seq)
            ).mappings()
        )


def test_a_downgrade_below_the_hash_chain_keeps_the_events_it_cannot_hold(
    db_url: str, legacy: dict[str, str], keyring: Keyring
) -> None:
    # Given a log with an event recorded by this release (it has no MAC)
    store = SqlSecretStore(db_url, keyring)
    store.create(View("proj-a"), name="recorded", value="v", user="alice", record=_one_event)
    before = [dict(row) for row in _audit_rows(store)]
    store.close()
    # When the schema is taken back to revision 0004
    engine = create_engine(db_url)
    try:
        with pytest.raises(RuntimeError, match="revision 0004 cannot keep them"):
            with engine.begin() as connection:
                command.downgrade(alembic_config(connection), "0004")
        # Then it is refused, and nothing changed
        assert schema_of(db_url)[0] == HEAD
    finally:
        engine.dispose()
    store = SqlSecretStore(db_url, keyring)
    try:
        assert [dict(row) for row in _audit_rows(store)] == before
    finally:
        store.close()


def _one_event(secret: Any) -> list[AuditEntry]:
    return [AuditEntry("alice", secret.project, secret.project, "create", secret.id, secret.name)]


# -- through the server ---------------------------------------------------------------------

LEGACY_KEY = generate_key()


@pytest.fixture
def prepared(request: pytest.FixtureRequest, secrets_dir: Path) -> dict[str, str]:
    """Before the server starts: a previous-release SQLite database and its key file, upgraded
    by a newer release if ``request.param`` is "newer". Returns the values by ID."""
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (secrets_dir / "key").write_text(encode_key(LEGACY_KEY) + "\n")
    (secrets_dir / "key").chmod(0o600)
    url = f"sqlite:///{secrets_dir / 'secrets.db'}"
    values = build_revision_1(url, Keyring([LEGACY_KEY]))
    if getattr(request, "param", "previous-release") == "newer":
        SqlSecretStore(url, Keyring([LEGACY_KEY])).close()
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0099'"))
        engine.dispose()
    return values


@pytest.fixture
def secrets_config(secrets_config: dict[str, Any], prepared: dict[str, str]) -> dict[str, Any]:
    return {**secrets_config, "project": "proj-b", "communities": COMMUNITIES}


async def test_the_server_starts_on_a_previous_release_database_and_serves_it(
    api: Api, prepared: dict[str, str], secrets_config: dict[str, Any]
) -> None:
    # Given a server started on a previous release's database
    # When proj-b lists, reveals and injects its secrets
    listing = await api("GET", "secrets")
    environment = await api("GET", "environment")
    # Then they are all there, upgraded in place
    assert listing.status == 200
    names = [(m["name"], m["origin"], m["attached"]) for m in listing.body["secrets"]]
    assert names == [("api-key", "project", False), ("team-token", "shared", True)]
    for meta in listing.body["secrets"]:
        revealed = await api("POST", "secrets", meta["id"], "reveal")
        assert revealed.body["value"] == prepared[meta["id"]]
    assert environment.body == {
        "environment": {"api-key": "b's own", "team-token": "shared-with-ml-team"}
    }
    assert schema_of(secrets_config["db_url"]) == (HEAD, HEAD_INDEXES)


@pytest.mark.parametrize("prepared", ["newer"], indirect=True)
async def test_a_newer_database_makes_the_server_answer_503_with_what_to_do(
    api: Api, secrets_config: dict[str, Any]
) -> None:
    # Given a database of a newer release
    before = dump(secrets_config["db_url"])
    # When the server started on it is called
    reply = await api("GET", "secrets")
    # Then it answers 503 saying why and what to do, and nothing changed
    assert reply.status == 503
    assert reply.message == (
        f"The secrets database sqlite:///{secrets_config['db_url'][10:]} "
        "(SecretsExtension.db_url) cannot be used: The secrets database is at schema revision "
        f"'0099', which this release of jupyterlab-secrets does not know (its newest is '{HEAD}'): "
        "a newer release upgraded it. Install that release or a later one. Nothing was changed."
    )
    assert dump(secrets_config["db_url"]) == before
