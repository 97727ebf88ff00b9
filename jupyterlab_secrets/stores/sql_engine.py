"""Database engines for the SQL store: durable SQLite, PostgreSQL, and read snapshots."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

BUSY_TIMEOUT_MS = 5000
"""How long a SQLite statement waits for another connection's lock before it fails."""
READ_ONLY = "jupyterlab_secrets_read_only"
"""The execution option of a connection whose transactions only read (see `read_snapshot`)."""


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (it stays so, in the file). Switching a new database
    needs it alone for a moment, and SQLite then answers "database is locked" at once to a
    connection that waits, whatever the busy timeout: servers that open a new database
    together try again, within the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _configure_sqlite(engine: Engine) -> None:
    """Durable, concurrent-safe SQLite: WAL, full sync, a busy timeout, FKs, deleted content
    overwritten, and ``BEGIN IMMEDIATE`` so a transaction never has to upgrade a read lock to a
    write lock (read-only snapshots, which never write, begin deferred and block no one)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Take over transaction control from the driver, so BEGIN is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # A deleted or replaced ciphertext is overwritten with zeros, not left in a free
            # page for anyone with the file (and an old key) to find.
            cursor.execute("PRAGMA secure_delete=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-only snapshot takes no lock up front: WAL readers block no one.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _create_private_file(path: Path) -> None:
    """Create the SQLite file owner-only (its WAL files inherit that), in a 0700 directory."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its parent directory and pragmas. Statement
    parameters (ciphertexts, names) are never put into error messages."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private_file(Path(database).expanduser())
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


def redact_url(url: str) -> str:
    """The URL with any password hidden, fit for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction whose statements all see one state of the database.

    It takes no write lock: on SQLite it begins deferred (a WAL reader), on PostgreSQL it is
    ``REPEATABLE READ, READ ONLY``.
    """
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
            yield connection
