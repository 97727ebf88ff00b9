"""The SQL store: secrets in SQLite (one person) or PostgreSQL (a trusted team), with SQLAlchemy.

Values are encrypted here, with the server's `Keyring` (AES-256-GCM), so the service never sees
a ciphertext. Associated data binds each ciphertext to its project and secret ID, and a kept
earlier value to its version number too: moving a ciphertext to another row, or swapping kept
versions, makes it fail to decrypt.

Concurrency: every write is one transaction that first locks the secret's row (``SELECT … FOR
UPDATE`` on PostgreSQL; SQLite writers queue behind ``BEGIN IMMEDIATE``), so a check-and-set
sees the latest version. Every read runs in a read-only snapshot that takes no write lock.
Each write also bumps the change counters of every project and community that sees it, in the
same transaction, so `SqlSecretStore.change_marker` reads a few rows however many secrets
there are.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from traitlets import Int, Unicode

from ..crypto import DecryptionError, Keyring, Sealed
from ..errors import (
    ForbiddenError,
    InvalidInputError,
    NameTakenError,
    NotFoundError,
    StaleVersionError,
    UnavailableError,
    UndecryptableError,
)
from ..migrations import upgrade_schema
from .base import Recorder, Rotation, SecretStore, StoredSecret, VersionInfo, View, utc_now
from .sql_audit import SqlAuditLog
from .sql_engine import BUSY_TIMEOUT_MS, create_store_engine, read_snapshot, redact_url
from .sql_schema import (
    GCM_TAG_BYTES,
    AttachmentRow,
    ChangeCounterRow,
    SecretRow,
    ShareRow,
    VersionRow,
)

_ID = re.compile(r"[0-9a-f]{32}")
"""The form of every secret ID this store makes; anything else is not found without a query."""
_BATCH = 500
"""Rows fetched (or IDs asked for) at a time: big lists are streamed, never held twice."""

_VALUE_LENGTH = func.coalesce(
    SecretRow.value_length, func.length(SecretRow.ciphertext) - GCM_TAG_BYTES
).label("value_length")
"""Characters of the value; for a row from before revision 0003, its UTF-8 bytes."""

_META = (
    SecretRow.id,
    SecretRow.project,
    SecretRow.name,
    SecretRow.version,
    SecretRow.created_by,
    SecretRow.created_at,
    SecretRow.updated_at,
    SecretRow.updated_by,
    _VALUE_LENGTH,
)

_CHECKPOINT_WAIT_MS = 1000
"""How long a SQLite checkpoint waits for readers and writers (best effort, see `_checkpoint`)."""

_PROJECT, _COMMUNITY = "p", "c"
"""The scopes of change counters."""


def _valid_id(secret_id: object) -> bool:
    return isinstance(secret_id, str) and _ID.fullmatch(secret_id) is not None


def _not_found() -> NotFoundError:
    return NotFoundError("No secret has this ID in this project or its communities.")


def _not_own() -> ForbiddenError:
    return ForbiddenError("This secret belongs to another project; only that project changes it.")


def _undecryptable() -> UndecryptableError:
    return UndecryptableError("This secret cannot be decrypted with the configured key.")


def count_stored_secrets(db_url: str) -> int:
    """How many secrets the database at ``db_url`` holds (0 when it has no table yet), without
    keys, without migrating it, and without creating a SQLite file: whether a new key may be
    created depends on it."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and not database.startswith("file:") and database != ":memory:":
            if not Path(database).expanduser().exists():
                return 0
    engine = create_store_engine(db_url)
    try:
        with read_snapshot(engine) as connection:
            if not connection.dialect.has_table(connection, SecretRow.__tablename__):
                return 0
            return connection.execute(select(func.count()).select_from(SecretRow)).scalar_one()
    finally:
        engine.dispose()


class SqlSecretStore(SecretStore):
    """Secrets in a SQL database (SQLite or PostgreSQL), encrypted with the server's keys.

    Opening it upgrades the database schema to this release's (see
    `jupyterlab_secrets.migrations`).
    """

    db_url = Unicode(help="The SQLAlchemy URL of the database.").tag(config=False)
    keep_versions = Int(10, help="How many earlier values of a secret are kept (encrypted).").tag(
        config=False
    )

    def __init__(self, db_url: str, keyring: Keyring, keep_versions: int = 10, **kwargs: Any):
        if keep_versions < 0:
            raise ValueError("keep_versions must be 0 or more")
        super().__init__(db_url=db_url, keep_versions=keep_versions, **kwargs)
        self.keyring = keyring
        self.engine = create_store_engine(db_url)
        self._sqlite = self.engine.dialect.name == "sqlite"
        try:
            upgrade_schema(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        self.audit = SqlAuditLog(self.engine, keyring)

    def audit_log(self) -> SqlAuditLog:
        """The audit log, in this database."""
        return self.audit

    @property
    def primary_key_id(self) -> str:
        """The id of the key that encrypts new values (`KeyRotation`)."""
        return self.keyring.primary_key_id

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Database failures as domain errors, with no statement parameter in them."""
        try:
            yield
        except IntegrityError:
            raise  # a constraint the calling method turns into its own error
        except DataError:
            raise InvalidInputError("The database refused this input.") from None
        except DBAPIError as error:
            # Unreachable, locked for too long, damaged, or a schema changed under us.
            self.log.debug("The secrets database failed", exc_info=True)
            raise UnavailableError(
                f"The secrets database {redact_url(self.db_url)} cannot be used right now "
                f"({type(error.orig).__name__}). Try again; if it persists, check the database."
            ) from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read snapshot: never a write lock (SQLite: a deferred WAL reader)."""
        with self._guard(), read_snapshot(self.engine) as connection:
            yield connection

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: READ COMMITTED with
        the rows it changes locked first)."""
        with self._guard(), self.engine.begin() as connection:
            yield connection

    def _record(
        self, connection: Connection, record: Recorder | None, secret: StoredSecret
    ) -> None:
        """Append a write's audit events in its own transaction: both commit, or neither."""
        if record is None:
            return
        try:
            self.audit.append_in(connection, record(secret))
        except DBAPIError as error:
            # Raised inside the transaction, so the write is rolled back with the event.
            self.log.debug("The audit log refused an event", exc_info=True)
            raise UnavailableError(
                "The audit log cannot record this change right now, so it was not made "
                f"({type(error.orig).__name__}). Try again; if it persists, check the database."
            ) from None

    def _decrypt(
        self,
        project: str,
        secret_id: str,
        sealed: Sealed,
        version: int | None = None,
    ) -> str:
        """The plaintext; `DecryptionError` if it cannot be opened (or is not UTF-8)."""
        data = self.keyring.decrypt(sealed, project=project, secret_id=secret_id, version=version)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError("the plaintext is not UTF-8") from None

    @staticmethod
    def _visible(view: View) -> Any:
        """The condition on `SecretRow` of what ``view`` sees."""
        condition = SecretRow.project == view.project
        if view.communities:
            shared = select(ShareRow.secret_id).where(ShareRow.community.in_(view.communities))
            condition = or_(condition, SecretRow.id.in_(shared))
        return condition

    def _stored(self, connection: Connection, view: View, condition: Any) -> list[StoredSecret]:
        """The secrets matching ``condition`` (within what ``view`` sees), with their shares and
        the names the view's project added them under; streamed in batches."""
        shares: dict[str, list[str]] = {}
        for secret_id, community in connection.execute(
            select(ShareRow.secret_id, ShareRow.community)
            .join(SecretRow, SecretRow.id == ShareRow.secret_id)
            .where(condition)
            .order_by(ShareRow.community)
        ):
            shares.setdefault(secret_id, []).append(community)
        attached = {
            secret_id: name
            for secret_id, name in connection.execute(
                select(AttachmentRow.secret_id, AttachmentRow.name)
                .join(SecretRow, SecretRow.id == AttachmentRow.secret_id)
                .where(AttachmentRow.project == view.project, condition)
            )
        }
        result: list[StoredSecret] = []
        rows = connection.execute(select(*_META).where(condition))
        for batch in rows.partitions(_BATCH):
            for (
                secret_id,
                project,
                name,
                version,
                created_by,
                created,
                updated,
                by,
                length,
            ) in batch:
                result.append(
                    StoredSecret(
                        id=secret_id,
                        project=project,
                        name=name,
                        version=version,
                        created_by=created_by,
                        created_at=created,
                        updated_at=updated,
                        updated_by=by,
                        value_length=length,
                        shared_with=tuple(shares.get(secret_id, ())),
                        attached_as=None if project == view.project else attached.get(secret_id),
                    )
                )
        return result

    def _one(self, connection: Connection, view: View, secret_id: str) -> StoredSecret:
        if not _valid_id(secret_id):
            raise _not_found()
        found = self._stored(connection, view, and_(self._visible(view), SecretRow.id == secret_id))
        if not found:
            raise _not_found()
        return found[0]

    def _lock(self, connection: Connection, view: View, secret_id: str, *, own: bool) -> Any:
        """The secret's row, locked until the transaction ends; `NotFoundError` if the view
        cannot see it, and with ``own``, `ForbiddenError` if it is another project's."""
        if not _valid_id(secret_id):
            raise _not_found()
        row = connection.execute(
            select(
                SecretRow.id,
                SecretRow.project,
                SecretRow.name,
                SecretRow.version,
                SecretRow.ciphertext,
                SecretRow.nonce,
                SecretRow.key_id,
                SecretRow.updated_at,
                SecretRow.updated_by,
            )
            .where(SecretRow.id == secret_id)
            .with_for_update()
        ).first()
        if row is None:
            raise _not_found()
        if row.project != view.project:
            shared = connection.execute(
                select(ShareRow.community).where(
                    ShareRow.secret_id == secret_id, ShareRow.community.in_(view.communities)
                )
            ).first()
            if shared is None:
                raise _not_found()
            if own:
                raise _not_own()
        return row

    def _audience(self, connection: Connection, secret_id: str) -> set[tuple[str, str]]:
        """The counters of those who see a secret besides its owner: the communities it is
        shared with and the projects that added it."""
        communities = (
            connection.execute(select(ShareRow.community).where(ShareRow.secret_id == secret_id))
            .scalars()
            .all()
        )
        projects = (
            connection.execute(
                select(AttachmentRow.project).where(AttachmentRow.secret_id == secret_id)
            )
            .scalars()
            .all()
        )
        return {(_COMMUNITY, c) for c in communities} | {(_PROJECT, p) for p in projects}

    def _bump(self, connection: Connection, scopes: Iterable[tuple[str, str]]) -> None:
        """Count one change for each scope, in this transaction. Always in sorted order, last
        in the transaction, so concurrent writers lock counters in one order (no deadlock)."""
        ordered = sorted(set(scopes))
        if not ordered:
            return
        upsert = sqlite.insert if self._sqlite else postgresql.insert
        statement = upsert(ChangeCounterRow).on_conflict_do_update(
            index_elements=[ChangeCounterRow.scope, ChangeCounterRow.name],
            set_={"counter": ChangeCounterRow.counter + 1},
        )
        for scope, name in ordered:
            connection.execute(statement, {"scope": scope, "name": name, "counter": 1})

    def _checkpoint(self, *, vacuum: bool = False) -> None:
        """SQLite: move the WAL into the database and empty it, so replaced or deleted
        ciphertexts (zeroed by ``secure_delete`` in the database) leave no copy in old WAL
        frames; with ``vacuum``, also rebuild the file. Best effort: a busy database is left
        for SQLite's own checkpoints."""
        if not self._sqlite:
            return
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                # A waiting checkpoint holds new writers back: wait less than they would.
                cursor.execute(f"PRAGMA busy_timeout={_CHECKPOINT_WAIT_MS}")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                if vacuum:
                    cursor.execute("VACUUM")
                    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                cursor.close()
        except Exception:
            self.log.warning("The secrets database could not be checkpointed", exc_info=True)
        finally:
            connection.close()

    # -- reads ---------------------------------------------------------------------------

    def count(self) -> int:
        """How many secrets the database holds, in every project."""
        with self._read() as connection:
            return connection.execute(select(func.count()).select_from(SecretRow)).scalar_one()

    def check_keys(self, view: View) -> None:
        """Decrypt one value under each key id among the secrets ``view`` sees; raise
        `UndecryptableError` when one fails (a wrong or missing key). Other projects' rows
        are not looked at: one of them cannot take this project offline."""
        visible = self._visible(view)
        with self._read() as connection:
            key_ids = (
                connection.execute(select(SecretRow.key_id).where(visible).distinct())
                .scalars()
                .all()
            )
            for key_id in sorted(key_ids):
                secret_id, project, ciphertext, nonce = connection.execute(
                    select(SecretRow.id, SecretRow.project, SecretRow.ciphertext, SecretRow.nonce)
                    .where(visible, SecretRow.key_id == key_id)
                    .limit(1)
                ).one()
                try:
                    self._decrypt(project, secret_id, Sealed(ciphertext, nonce, key_id))
                except DecryptionError:
                    raise UndecryptableError(
                        f"The configured keys cannot decrypt the stored secrets (key id {key_id})."
                    ) from None

    def list(self, view: View) -> list[StoredSecret]:
        """The view's own secrets and those shared with its communities."""
        with self._read() as connection:
            return self._stored(connection, view, self._visible(view))

    def get(self, view: View, secret_id: str) -> StoredSecret:
        """One secret the view can see."""
        with self._read() as connection:
            return self._one(connection, view, secret_id)

    def read_values(
        self, view: View, secret_ids: Iterable[str], *, cached: bool = False
    ) -> Mapping[str, str | None]:
        """Current values by ID; None for one that cannot be decrypted. Always read from
        the database (``cached`` changes nothing: decrypting is cheaper than keeping)."""
        wanted = sorted({secret_id for secret_id in secret_ids if _valid_id(secret_id)})
        values: dict[str, str | None] = {}
        visible = self._visible(view)
        with self._read() as connection:
            for start in range(0, len(wanted), _BATCH):
                chunk = wanted[start : start + _BATCH]
                rows = connection.execute(
                    select(
                        SecretRow.id,
                        SecretRow.project,
                        SecretRow.ciphertext,
                        SecretRow.nonce,
                        SecretRow.key_id,
                    ).where(visible, SecretRow.id.in_(chunk))
                )
                for secret_id, project, ciphertext, nonce, key_id in rows:
                    try:
                        sealed = Sealed(ciphertext, nonce, key_id)
                        values[secret_id] = self._decrypt(project, secret_id, sealed)
                    except DecryptionError:
                        self.log.warning("Secret %s cannot be decrypted", secret_id)
                        values[secret_id] = None
        return values

    def change_marker(self, view: View) -> str:
        """The change counters of the view's project and communities, joined: they grow with
        every write anyone of them can see."""
        scopes = [(_PROJECT, view.project)] + [(_COMMUNITY, c) for c in sorted(view.communities)]
        with self._read() as connection:
            counters = {
                (scope, name): counter
                for scope, name, counter in connection.execute(
                    select(
                        ChangeCounterRow.scope, ChangeCounterRow.name, ChangeCounterRow.counter
                    ).where(
                        or_(
                            and_(
                                ChangeCounterRow.scope == _PROJECT,
                                ChangeCounterRow.name == view.project,
                            ),
                            and_(
                                ChangeCounterRow.scope == _COMMUNITY,
                                ChangeCounterRow.name.in_(view.communities),
                            ),
                        )
                    )
                )
            }
        return ".".join(str(counters.get(scope, 0)) for scope in scopes)

    # -- writes --------------------------------------------------------------------------

    def create(
        self, view: View, *, name: str, value: str, user: str, record: Recorder | None = None
    ) -> StoredSecret:
        """A new secret of the view's project, at version 1."""
        secret_id = uuid.uuid4().hex
        sealed = self.keyring.encrypt(
            value.encode("utf-8"), project=view.project, secret_id=secret_id
        )
        now = utc_now()
        try:
            with self._write() as connection:
                connection.execute(
                    insert(SecretRow).values(
                        id=secret_id,
                        project=view.project,
                        name=name,
                        ciphertext=sealed.ciphertext,
                        nonce=sealed.nonce,
                        key_id=sealed.key_id,
                        created_by=user,
                        created_at=now,
                        updated_at=now,
                        updated_by=user,
                        version=1,
                        value_length=len(value),
                    )
                )
                self._bump(connection, [(_PROJECT, view.project)])
                created = StoredSecret(
                    id=secret_id,
                    project=view.project,
                    name=name,
                    version=1,
                    created_by=user,
                    created_at=now,
                    updated_at=now,
                    updated_by=user,
                    value_length=len(value),
                )
                self._record(connection, record, created)
        except IntegrityError:
            raise NameTakenError(
                "This project already has a secret of this name.", field="name"
            ) from None
        return created

    def update(
        self,
        view: View,
        secret_id: str,
        *,
        expected_version: int,
        user: str,
        name: str | None = None,
        value: str | None = None,
        record: Recorder | None = None,
    ) -> StoredSecret:
        """Check-and-set a new name and/or value; a changed value keeps the earlier one."""
        try:
            with self._write() as connection:
                row = self._lock(connection, view, secret_id, own=True)
                if row.version != expected_version:
                    raise StaleVersionError(
                        "The secret changed since it was read; nothing was written."
                    )
                values: dict[str, Any] = {
                    "version": row.version + 1,
                    "updated_at": utc_now(),
                    "updated_by": user,
                }
                if name is not None:
                    values["name"] = name
                if value is not None:
                    sealed = self.keyring.encrypt(
                        value.encode("utf-8"), project=row.project, secret_id=row.id
                    )
                    values.update(
                        ciphertext=sealed.ciphertext,
                        nonce=sealed.nonce,
                        key_id=sealed.key_id,
                        value_length=len(value),
                    )
                    self._keep_version(connection, row)
                connection.execute(
                    update(SecretRow)
                    .where(SecretRow.id == row.id, SecretRow.version == row.version)
                    .values(**values)
                )
                self._bump(
                    connection,
                    {(_PROJECT, row.project)} | self._audience(connection, row.id),
                )
                updated = self._one(connection, view, row.id)
                self._record(connection, record, updated)
                return updated
        except IntegrityError:
            raise NameTakenError(
                "This project already has a secret of this name.", field="name"
            ) from None

    def _keep_version(self, connection: Connection, row: Any) -> None:
        """Keep the value ``row`` holds as version ``row.version``, re-encrypted bound to that
        number; then drop the oldest beyond ``keep_versions``."""
        if self.keep_versions > 0:
            try:
                old = self._decrypt(
                    row.project, row.id, Sealed(row.ciphertext, row.nonce, row.key_id)
                )
            except DecryptionError:
                # The new value is still written: an earlier value that no key opens is lost
                # from the history rather than blocking every edit.
                self.log.warning("Secret %s: the earlier value cannot be kept", row.id)
            else:
                kept = self.keyring.encrypt(
                    old.encode("utf-8"), project=row.project, secret_id=row.id, version=row.version
                )
                connection.execute(
                    insert(VersionRow).values(
                        secret_id=row.id,
                        version=row.version,
                        ciphertext=kept.ciphertext,
                        nonce=kept.nonce,
                        key_id=kept.key_id,
                        updated_at=row.updated_at,
                        updated_by=row.updated_by,
                    )
                )
        numbers = (
            connection.execute(
                select(VersionRow.version)
                .where(VersionRow.secret_id == row.id)
                .order_by(VersionRow.version.desc())
            )
            .scalars()
            .all()
        )
        if len(numbers) > self.keep_versions:
            connection.execute(
                delete(VersionRow).where(
                    VersionRow.secret_id == row.id,
                    VersionRow.version <= numbers[self.keep_versions],
                )
            )

    def delete(self, view: View, secret_id: str, record: Recorder | None = None) -> None:
        """Remove the view's own secret, its kept versions, shares and attachments; on SQLite
        no copy of its ciphertexts stays in the files."""
        with self._write() as connection:
            row = self._lock(connection, view, secret_id, own=True)
            if record is not None:
                self._record(connection, record, self._one(connection, view, row.id))
            audience = self._audience(connection, row.id)
            connection.execute(delete(SecretRow).where(SecretRow.id == row.id))
            self._bump(connection, {(_PROJECT, row.project)} | audience)
        self._checkpoint()

    def set_shares(
        self,
        view: View,
        secret_id: str,
        *,
        add: Iterable[str],
        remove: Iterable[str],
        detach: Iterable[str] = (),
        record: Recorder | None = None,
    ) -> StoredSecret:
        """Share with ``add``, unshare from ``remove`` (which wins over ``add``), and remove
        the secret from the projects ``detach``."""
        removed = set(remove)
        detached = set(detach)
        with self._write() as connection:
            row = self._lock(connection, view, secret_id, own=True)
            audience = self._audience(connection, row.id)
            current = {name for scope, name in audience if scope == _COMMUNITY}
            added = set(add) - current - removed
            gone = current & removed
            if gone:
                connection.execute(
                    delete(ShareRow).where(
                        ShareRow.secret_id == row.id, ShareRow.community.in_(gone)
                    )
                )
            for community in sorted(added):
                connection.execute(insert(ShareRow).values(secret_id=row.id, community=community))
            dropped = detached & {name for scope, name in audience if scope == _PROJECT}
            if dropped:
                connection.execute(
                    delete(AttachmentRow).where(
                        AttachmentRow.secret_id == row.id, AttachmentRow.project.in_(dropped)
                    )
                )
            if added or gone or dropped:
                # Every community that had it or has it sees its ``shared_with`` change.
                self._bump(
                    connection,
                    {(_PROJECT, row.project)} | audience | {(_COMMUNITY, c) for c in added},
                )
            updated = self._one(connection, view, row.id)
            self._record(connection, record, updated)
            return updated

    def set_attachment(
        self, view: View, secret_id: str, name: str | None, record: Recorder | None = None
    ) -> StoredSecret:
        """Add a secret shared with the view to its project under ``name``, or remove it."""
        try:
            with self._write() as connection:
                row = self._lock(connection, view, secret_id, own=False)
                if row.project == view.project:
                    raise InvalidInputError(
                        "A project's own secret is in its environment already; only a "
                        "secret shared with it can be added."
                    )
                present = connection.execute(
                    select(AttachmentRow.name).where(
                        AttachmentRow.secret_id == row.id,
                        AttachmentRow.project == view.project,
                    )
                ).scalar_one_or_none()
                where = (AttachmentRow.secret_id == row.id, AttachmentRow.project == view.project)
                changed = True
                if name is None and present is not None:
                    connection.execute(delete(AttachmentRow).where(*where))
                elif name is not None and present is None:
                    connection.execute(
                        insert(AttachmentRow).values(
                            secret_id=row.id, project=view.project, name=name
                        )
                    )
                elif name is not None and present != name:
                    connection.execute(update(AttachmentRow).where(*where).values(name=name))
                else:
                    changed = False
                if changed:
                    self._bump(connection, [(_PROJECT, view.project)])
                updated = self._one(connection, view, row.id)
                self._record(connection, record, updated)
                return updated
        except IntegrityError:
            raise _not_found() from None

    # -- versions ------------------------------------------------------------------------

    def versions(self, view: View, secret_id: str) -> list[VersionInfo]:
        """The current version, then the kept ones, newest first."""
        with self._read() as connection:
            current = self._one(connection, view, secret_id)
            kept = connection.execute(
                select(VersionRow.version, VersionRow.updated_at, VersionRow.updated_by)
                .where(VersionRow.secret_id == current.id)
                .order_by(VersionRow.version.desc())
            )
            return [
                VersionInfo(current.version, current.updated_at, current.updated_by, True),
                *(VersionInfo(number, at, by, False) for number, at, by in kept),
            ]

    def read_version(self, view: View, secret_id: str, version: int) -> str:
        """The value of a kept version (or of the current one)."""
        with self._read() as connection:
            current = self._one(connection, view, secret_id)
            if version == current.version:
                query = select(SecretRow.ciphertext, SecretRow.nonce, SecretRow.key_id).where(
                    SecretRow.id == current.id
                )
                bound: int | None = None
            else:
                query = select(VersionRow.ciphertext, VersionRow.nonce, VersionRow.key_id).where(
                    VersionRow.secret_id == current.id, VersionRow.version == version
                )
                bound = version
            found = connection.execute(query).first()
        if found is None:
            raise NotFoundError(f"Version {version} of this secret is no longer kept.")
        try:
            return self._decrypt(current.project, current.id, Sealed(*found), bound)
        except DecryptionError:
            raise _undecryptable() from None

    # -- key rotation --------------------------------------------------------------------

    def rotate(self) -> Rotation:
        """Re-encrypt every current and kept value under the keyring's first key.

        First every value not yet under that key is decrypted, in a read snapshot: if one
        cannot be, `UndecryptableError` is raised and nothing is written. Then the values are
        re-encrypted in batches, each a transaction that locks its rows and writes a row only
        where it is still as read, so an edit made meanwhile is never overwritten (it is
        already under the first key). On SQLite it ends with a checkpoint and a ``VACUUM``, so
        the old ciphertexts leave the files.
        """
        primary = self.keyring.primary_key_id
        kept = self._check_all_decrypt(primary)
        # The audit log is left as it is: its chain needs no master key (the MACs of events
        # recorded before revision 0005 stay checkable while their key is listed).
        changed = self._rotate_rows(primary, SecretRow) + self._rotate_rows(primary, VersionRow)
        self._checkpoint(vacuum=True)
        return Rotation(changed=changed, kept=kept)

    def _check_all_decrypt(self, primary: str) -> int:
        """Decrypt (and forget) every value not under ``primary``; return how many are."""
        current = select(
            SecretRow.project,
            SecretRow.id,
            SecretRow.ciphertext,
            SecretRow.nonce,
            SecretRow.key_id,
            null().label("version"),
        )
        kept = select(
            SecretRow.project,
            SecretRow.id,
            VersionRow.ciphertext,
            VersionRow.nonce,
            VersionRow.key_id,
            VersionRow.version,
        ).join(SecretRow, SecretRow.id == VersionRow.secret_id)
        under_primary = 0
        with self._read() as connection:
            for query in (current, kept):
                for batch in connection.execute(query).partitions(_BATCH):
                    for project, secret_id, ciphertext, nonce, key_id, version in batch:
                        if key_id == primary:
                            under_primary += 1
                            continue
                        try:
                            self._decrypt(
                                project,
                                secret_id,
                                Sealed(ciphertext, nonce, key_id),
                                version,
                            )
                        except DecryptionError:
                            raise UndecryptableError(
                                "A stored secret cannot be decrypted with any of the given "
                                "keys; nothing was changed."
                            ) from None
        return under_primary

    def _rotate_rows(self, primary: str, table: type[SecretRow] | type[VersionRow]) -> int:
        """Re-encrypt the rows of ``table`` (current values, or kept ones, which are bound to
        their version) not under ``primary``, in batches; return how many were written."""
        kept = table is VersionRow
        secret_id_column = VersionRow.secret_id if kept else SecretRow.id
        query = select(
            secret_id_column,
            SecretRow.project,
            table.version,
            table.ciphertext,
            table.nonce,
            table.key_id,
        )
        if kept:
            query = query.join(SecretRow, SecretRow.id == VersionRow.secret_id)
        changed = 0
        after_id, after_version = "", 0
        while True:
            with self._write() as connection:
                rows = connection.execute(
                    query.where(
                        table.key_id != primary,
                        or_(
                            secret_id_column > after_id,
                            and_(secret_id_column == after_id, table.version > after_version),
                        ),
                    )
                    .order_by(secret_id_column, table.version)
                    .limit(_BATCH)
                    .with_for_update(of=table)
                ).all()
                if not rows:
                    return changed
                for secret_id, project, version, ciphertext, nonce, key_id in rows:
                    bound = version if kept else None
                    plaintext = self._reopen(
                        project, secret_id, Sealed(ciphertext, nonce, key_id), bound
                    )
                    sealed = self.keyring.encrypt(
                        plaintext, project=project, secret_id=secret_id, version=bound
                    )
                    # Only where it is still as read: the row is locked (PostgreSQL) or the
                    # database is (SQLite), and this makes sure of it.
                    result = connection.execute(
                        update(table)
                        .where(
                            secret_id_column == secret_id,
                            table.version == version,
                            table.nonce == nonce,
                        )
                        .values(
                            ciphertext=sealed.ciphertext, nonce=sealed.nonce, key_id=sealed.key_id
                        )
                    )
                    changed += result.rowcount
                after_id, after_version = rows[-1][0], rows[-1][2]

    def _reopen(
        self, project: str, secret_id: str, sealed: Sealed, version: int | None = None
    ) -> bytes:
        try:
            return self.keyring.decrypt(
                sealed, project=project, secret_id=secret_id, version=version
            )
        except DecryptionError:
            # Written meanwhile under a key this keyring lacks: stop; what is done is sound.
            raise UndecryptableError(
                "A stored secret cannot be decrypted with any of the given keys; the secrets "
                "re-encrypted so far stay readable with the first key."
            ) from None
