"""Schema migrations of the secrets database, with Alembic, applied by the store on start.

The migration environment ships inside the package (``env.py``, ``versions/``) and is
configured here in code, so no ``alembic.ini`` is needed at run time. Revision ``0001`` is the
schema that releases before migrations created with ``create_all``; such a database has no
version table, and is stamped at ``0001`` and then upgraded in place.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from ..stores.sql_engine import read_snapshot

SCRIPT_LOCATION = str(Path(__file__).resolve().parent)
VERSION_TABLE = "jupyterlab_secrets_version"
"""Our own version table, so a database shared with another Alembic-managed app is safe."""
BASELINE = "0001"
"""The revision of a database created by ``create_all`` before migrations existed."""
_LEGACY_TABLE = "secrets"


class SchemaError(Exception):
    """The database schema cannot be brought to this release's; the message says why."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for our scripts, running on ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this release knows."""
    head = _scripts().get_current_head()
    if head is None:
        raise SchemaError(
            f"No schema revision ships in {SCRIPT_LOCATION}/versions: the installation of "
            "jupyterlab-secrets is incomplete. Reinstall it."
        )
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None when it has no version table."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _lock_key(connection: Connection) -> int:
    """The advisory lock of this schema's migrations, as a signed 64-bit number."""
    schema = connection.execute(text("SELECT coalesce(current_schema(), '')")).scalar_one()
    digest = hashlib.sha256(f"jupyterlab_secrets.migrations:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest revision, in one transaction.

    Servers that start at once queue up: on PostgreSQL behind a transaction-scoped advisory
    lock, on SQLite behind the write lock that ``BEGIN IMMEDIATE`` takes. The last ones find
    the schema at head and change nothing. If a step fails, the transaction rolls back and the
    database stays as it was.
    """
    head = head_revision()
    # Usually there is nothing to do: find that out in a read snapshot, without the write lock
    # that other servers' writes (or a rotation) may hold for a while.
    with read_snapshot(engine) as connection:
        if current_revision(connection) == head:
            return
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(connection)}
            )
        revision = current_revision(connection)
        if revision == head:
            return
        known = {script.revision for script in _scripts().walk_revisions()}
        if revision is not None and revision not in known:
            raise SchemaError(
                f"The secrets database is at schema revision {revision!r}, which this release "
                f"of jupyterlab-secrets does not know (its newest is {head!r}): a newer release "
                "upgraded it. Install that release or a later one."
            )
        config = alembic_config(connection)
        if revision is None and inspect(connection).has_table(_LEGACY_TABLE):
            command.stamp(config, BASELINE)
        command.upgrade(config, "head")
