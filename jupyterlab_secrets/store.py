"""Storage of encrypted secrets with SQLAlchemy: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    DateTime,
    TypeDecorator,
    and_,
    delete,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from traitlets import Unicode
from traitlets.config import LoggingConfigurable

from .crypto import Sealed
from .migrations import upgrade_schema
from .stores.sql_engine import create_store_engine, read_snapshot, redact_url
from .stores.sql_schema import (
    UTC,
    AttachmentRow,
    Base,
    SecretRow,
    ShareRow,
)

__all__ = ["Base", "SecretRow", "create_store_engine", "redact_url"]


class StoreError(Exception):
    """Base class of the store's own errors."""


class NotFoundError(StoreError):
    """No secret has that ID."""


class NameTakenError(StoreError):
    """The project already has a secret of that name."""


class StaleVersionError(StoreError):
    """The secret changed since the version the caller read."""


class SecretRecord(NamedTuple):
    """A stored secret, detached from the database session (a tuple: cheap to build)."""

    id: str
    project: str
    name: str
    sealed: Sealed
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int
    shared_with: tuple[str, ...] = ()
    attached_to: frozenset[str] = frozenset()

    @classmethod
    def from_row(cls, row: SecretRow) -> SecretRecord:
        """Copy a row's columns and its shares and attachments."""
        return cls(
            id=row.id,
            project=row.project,
            name=row.name,
            sealed=Sealed(ciphertext=row.ciphertext, nonce=row.nonce, key_id=row.key_id),
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            shared_with=tuple(sorted(share.community for share in row.shares)),
            attached_to=frozenset(attachment.project for attachment in row.attachments),
        )


class Stamp(NamedTuple):
    """What a project's view of a secret depends on, apart from times that never change
    without its version: no value, nothing to decrypt."""

    id: str
    project: str
    name: str
    version: int
    shared_with: tuple[str, ...]
    attached: bool
    """Whether the secret is added to the project that asks."""


class MetaRow(NamedTuple):
    """A `Stamp` with the rest of the public metadata, times already in ISO 8601."""

    id: str
    project: str
    name: str
    version: int
    shared_with: tuple[str, ...]
    attached: bool
    created_by: str
    created_at: str
    updated_at: str


class SealedRow(NamedTuple):
    """A secret to inject: its identity, its version, and its ciphertext."""

    id: str
    project: str
    name: str
    version: int
    sealed: Sealed


def iso_millis(moment: dt.datetime | str) -> str:
    """A stored time in ISO 8601, UTC, to the millisecond, as JavaScript's ``toISOString``.

    Accepts a datetime, or SQLite's text as SQLAlchemy writes it (naive UTC,
    ``YYYY-MM-DD HH:MM:SS.ffffff``), which is sliced rather than parsed: listing thousands of
    secrets would otherwise spend most of its time here.
    """
    if isinstance(moment, str):
        if len(moment) == 26 and moment[10] == " " and moment[19] == ".":
            return f"{moment[:10]}T{moment[11:23]}Z"
        moment = dt.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


class _StoredTime(TypeDecorator[Any]):
    """A time column read as the driver gives it (SQLite: text), for `iso_millis`."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def result_processor(self, dialect: Any, coltype: Any) -> None:
        return None


_NOWHERE: frozenset[str] = frozenset()

_RECORD_COLUMNS = (
    SecretRow.id,
    SecretRow.project,
    SecretRow.name,
    SecretRow.ciphertext,
    SecretRow.nonce,
    SecretRow.key_id,
    SecretRow.created_by,
    SecretRow.created_at,
    SecretRow.updated_at,
    SecretRow.version,
)


_BATCH = 500
"""Rows fetched at a time when streaming: few enough to die young (no full GC pass)."""


class SecretsStore(LoggingConfigurable):
    """Encrypted rows of secrets, their shares and their attachments.

    It never sees a plaintext value: callers pass and receive `Sealed` ciphertexts. Opening it
    upgrades the database schema to this release's (see `jupyterlab_secrets.migrations`).
    """

    db_url = Unicode(help="The SQLAlchemy URL of the database.").tag(config=False)

    def __init__(self, db_url: str, **kwargs: Any) -> None:
        super().__init__(db_url=db_url, **kwargs)
        self.engine = create_store_engine(db_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        try:
            upgrade_schema(self.engine)
        except BaseException:
            self.engine.dispose()
            raise

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def count(self) -> int:
        """How many secrets (encrypted rows) the database holds, in every project."""
        with self._transaction() as session:
            return session.scalar(select(func.count()).select_from(SecretRow)) or 0

    def key_samples(self) -> list[SecretRecord]:
        """One secret encrypted under each key id in use, to check the keys can open them."""
        with self._transaction() as session:
            key_ids = session.scalars(select(SecretRow.key_id).distinct()).all()
            samples = []
            for key_id in sorted(key_ids):
                row = session.scalars(
                    select(SecretRow).where(SecretRow.key_id == key_id).limit(1)
                ).one()
                samples.append(SecretRecord.from_row(row))
            return samples

    def get(self, secret_id: str) -> SecretRecord | None:
        """The secret with that ID, if any."""
        with self._transaction() as session:
            row = session.get(SecretRow, secret_id)
            return SecretRecord.from_row(row) if row is not None else None

    def list_visible(self, project: str, communities: Iterable[str]) -> list[SecretRecord]:
        """The project's secrets and those shared with any of ``communities``, by name.

        Core queries rather than ORM objects: this is the hot path of listing and injection.
        """
        community_list = list(communities)
        condition = SecretRow.project == project
        if community_list:
            shared = select(ShareRow.secret_id).where(ShareRow.community.in_(community_list))
            condition = or_(condition, SecretRow.id.in_(shared))
        visible_ids = select(SecretRow.id).where(condition)
        with self._transaction() as session:
            connection = session.connection()
            rows = connection.execute(
                select(*_RECORD_COLUMNS).where(condition).order_by(SecretRow.name, SecretRow.id)
            ).all()
            shares: dict[str, list[str]] = {}
            for secret_id, community in connection.execute(
                select(ShareRow.secret_id, ShareRow.community)
                .where(ShareRow.secret_id.in_(visible_ids))
                .order_by(ShareRow.community)
            ):
                shares.setdefault(secret_id, []).append(community)
            attachments: dict[str, set[str]] = {}
            for secret_id, attached_project in connection.execute(
                select(AttachmentRow.secret_id, AttachmentRow.project).where(
                    AttachmentRow.secret_id.in_(visible_ids)
                )
            ):
                attachments.setdefault(secret_id, set()).add(attached_project)
        return [
            SecretRecord(
                secret_id,
                secret_project,
                name,
                Sealed(ciphertext, nonce, key_id),
                created_by,
                created_at,
                updated_at,
                version,
                tuple(shares.get(secret_id, ())),
                frozenset(attachments[secret_id]) if secret_id in attachments else _NOWHERE,
            )
            for (
                secret_id,
                secret_project,
                name,
                ciphertext,
                nonce,
                key_id,
                created_by,
                created_at,
                updated_at,
                version,
            ) in rows
        ]

    def _snapshot(self) -> Any:
        """A read-only transaction whose statements all see one state of the database."""
        return read_snapshot(self.engine)

    @staticmethod
    def _visible(project: str, communities: list[str]) -> Any:
        condition = SecretRow.project == project
        if communities:
            shared = select(ShareRow.secret_id).where(ShareRow.community.in_(communities))
            condition = or_(condition, SecretRow.id.in_(shared))
        return condition

    @staticmethod
    def _links(
        connection: Connection, visible: Any, project: str
    ) -> tuple[dict[str, tuple[str, ...]], frozenset[str]]:
        """The shares of the visible secrets, and which secrets are added to ``project``."""
        shares: dict[str, list[str]] = {}
        for secret_id, community in connection.execute(
            select(ShareRow.secret_id, ShareRow.community)
            .join(SecretRow, SecretRow.id == ShareRow.secret_id)
            .where(visible)
            .order_by(ShareRow.community)
        ):
            shares.setdefault(secret_id, []).append(community)
        attached = frozenset(
            connection.execute(
                select(AttachmentRow.secret_id).where(AttachmentRow.project == project)
            ).scalars()
        )
        return {key: tuple(value) for key, value in shares.items()}, attached

    def stamp_columns(
        self, project: str, communities: Iterable[str], *, name: str | None = None
    ) -> list[list[Any]]:
        """What ``project`` sees (its own secrets and those shared with ``communities``), by
        ID, as the columns of `Stamp` (one list per field; none when it sees nothing): the
        cheapest form to read, and to compute a tag from. With ``name``, only those so named.
        """
        visible = self._visible(project, list(communities))
        if name is not None:
            visible = and_(visible, SecretRow.name == name)
        query = select(SecretRow.id, SecretRow.project, SecretRow.name, SecretRow.version)
        columns: list[list[Any]] = [[], [], [], []]
        with self._snapshot() as connection:
            result = connection.execute(query.where(visible).order_by(SecretRow.id))
            for rows in result.partitions(_BATCH):
                for column, values in zip(columns, zip(*rows, strict=True), strict=True):
                    column.extend(values)
            shares, attached = self._links(connection, visible, project)
        if not columns[0]:
            return []
        shared_with = shares.get
        columns.append([shared_with(secret_id, ()) for secret_id in columns[0]])
        columns.append([secret_id in attached for secret_id in columns[0]])
        return columns

    def stamps(
        self, project: str, communities: Iterable[str], *, name: str | None = None
    ) -> list[Stamp]:
        """`stamp_columns` as a list of `Stamp`."""
        columns = self.stamp_columns(project, communities, name=name)
        return [Stamp._make(fields) for fields in zip(*columns, strict=True)]

    def metas(
        self, project: str, communities: Iterable[str], *, ids: Iterable[str] | None = None
    ) -> list[MetaRow]:
        """What ``project`` sees, with the public metadata, by ID: the rows of a listing.
        With ``ids``, only those of these IDs."""
        visible = self._visible(project, list(communities))
        if ids is not None:
            visible = and_(visible, SecretRow.id.in_(list(ids)))
        query = (
            select(
                SecretRow.id,
                SecretRow.project,
                SecretRow.name,
                SecretRow.version,
                SecretRow.created_by,
                type_coerce(SecretRow.created_at, _StoredTime()),
                type_coerce(SecretRow.updated_at, _StoredTime()),
            )
            .where(visible)
            .order_by(SecretRow.id)
        )
        with self._snapshot() as connection:
            rows = connection.execute(query).all()
            shares, attached = self._links(connection, visible, project)
        make, shared_with = MetaRow._make, shares.get
        return [
            make(
                (
                    secret_id,
                    owner,
                    name,
                    version,
                    shared_with(secret_id, ()),
                    secret_id in attached,
                    created_by,
                    iso_millis(created_at),
                    iso_millis(updated_at),
                )
            )
            for secret_id, owner, name, version, created_by, created_at, updated_at in rows
        ]

    @staticmethod
    def _injected_queries(project: str, communities: Iterable[str], columns: Any) -> list[Any]:
        """Its own secrets by name, then the shared ones added to it (while still shared with
        one of ``communities``) by project: both orders are total, so every read agrees."""
        community_list = list(communities)
        queries = [select(*columns).where(SecretRow.project == project).order_by(SecretRow.name)]
        if community_list:
            added = select(AttachmentRow.secret_id).where(AttachmentRow.project == project)
            shared = select(ShareRow.secret_id).where(ShareRow.community.in_(community_list))
            queries.append(
                select(*columns)
                .where(
                    SecretRow.project != project,
                    SecretRow.id.in_(added),
                    SecretRow.id.in_(shared),
                )
                .order_by(SecretRow.project, SecretRow.id)
            )
        return queries

    def injected(self, project: str, communities: Iterable[str]) -> Iterator[SealedRow]:
        """What ``project``'s kernels get: its own secrets by name, then the shared ones added
        to it (while still shared with one of ``communities``) by project.

        Rows are yielded as they are read, in one snapshot, so thousands of them are never
        held at once.
        """
        columns = (
            SecretRow.id,
            SecretRow.project,
            SecretRow.name,
            SecretRow.version,
            SecretRow.ciphertext,
            SecretRow.nonce,
            SecretRow.key_id,
        )
        with self._snapshot() as connection:
            for query in self._injected_queries(project, communities, columns):
                for rows in connection.execute(query).partitions(_BATCH):
                    for secret_id, owner, name, version, ciphertext, nonce, key_id in rows:
                        sealed = Sealed(ciphertext, nonce, key_id)
                        yield SealedRow(secret_id, owner, name, version, sealed)

    def injected_columns(self, project: str, communities: Iterable[str]) -> list[list[Any]]:
        """The IDs, projects, names and versions of `injected`, in its order, by column;
        no ciphertext is read."""
        columns: list[list[Any]] = [[], [], [], []]
        fields = (SecretRow.id, SecretRow.project, SecretRow.name, SecretRow.version)
        with self._snapshot() as connection:
            for query in self._injected_queries(project, communities, fields):
                for rows in connection.execute(query).partitions(_BATCH):
                    for column, values in zip(columns, zip(*rows, strict=True), strict=True):
                        column.extend(values)
        return columns

    def insert(self, record: SecretRecord) -> SecretRecord:
        """Add a new secret; raise `NameTakenError` if its project has that name already."""
        row = SecretRow(
            id=record.id,
            project=record.project,
            name=record.name,
            ciphertext=record.sealed.ciphertext,
            nonce=record.sealed.nonce,
            key_id=record.sealed.key_id,
            created_by=record.created_by,
            created_at=record.created_at,
            updated_at=record.updated_at,
            updated_by=record.created_by,
            # Unknown here (no plaintext): reported from the ciphertext's length until the
            # next write (see SecretRow.value_length).
            value_length=None,
            version=record.version,
        )
        try:
            with self._transaction() as session:
                session.add(row)
        except IntegrityError:
            raise NameTakenError(record.name) from None
        return record._replace(shared_with=(), attached_to=frozenset())

    def update(
        self,
        secret_id: str,
        expected_version: int,
        *,
        updated_at: dt.datetime,
        name: str | None = None,
        sealed: Sealed | None = None,
    ) -> SecretRecord:
        """Compare-and-swap: change the secret only if its version is still ``expected_version``.

        Raises `StaleVersionError` (nothing written), `NameTakenError` or `NotFoundError`.
        """
        values: dict[str, Any] = {"version": expected_version + 1, "updated_at": updated_at}
        if name is not None:
            values["name"] = name
        if sealed is not None:
            values.update(
                ciphertext=sealed.ciphertext,
                nonce=sealed.nonce,
                key_id=sealed.key_id,
                value_length=None,
            )
        statement = (
            update(SecretRow)
            .where(SecretRow.id == secret_id, SecretRow.version == expected_version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        try:
            with self._transaction() as session:
                result = session.execute(statement)
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    if session.get(SecretRow, secret_id) is None:
                        raise NotFoundError(secret_id)
                    raise StaleVersionError(secret_id)
                row = session.get(SecretRow, secret_id, populate_existing=True)
                if row is None:  # deleted between the update and this read
                    raise NotFoundError(secret_id)
                return SecretRecord.from_row(row)
        except IntegrityError:
            raise NameTakenError(name or "") from None

    def delete(self, secret_id: str) -> bool:
        """Remove the secret with its shares and attachments; False if there was none."""
        with self._transaction() as session:
            result = session.execute(delete(SecretRow).where(SecretRow.id == secret_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def change_shares(
        self, secret_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> SecretRecord:
        """Share the secret with ``add`` and stop sharing it with ``remove``."""
        with self._transaction() as session:
            # Lock the row (PostgreSQL) so concurrent changes of one secret queue up.
            row = session.get(SecretRow, secret_id, with_for_update=True)
            if row is None:
                raise NotFoundError(secret_id)
            removed = set(remove)
            current = {share.community for share in row.shares}
            row.shares = [share for share in row.shares if share.community not in removed]
            for community in sorted(set(add) - current - removed):
                row.shares.append(ShareRow(secret_id=secret_id, community=community))
            session.flush()
            return SecretRecord.from_row(row)

    def set_attached(self, secret_id: str, project: str, attached: bool) -> SecretRecord:
        """Add the secret to ``project`` or remove it from there; both are idempotent."""
        with self._transaction() as session:
            # Lock the row (PostgreSQL) so concurrent changes of one secret queue up.
            row = session.get(SecretRow, secret_id, with_for_update=True)
            if row is None:
                raise NotFoundError(secret_id)
            present = [a for a in row.attachments if a.project == project]
            if attached and not present:
                row.attachments.append(
                    AttachmentRow(secret_id=secret_id, project=project, name=row.name)
                )
            elif not attached and present:
                row.attachments = [a for a in row.attachments if a.project != project]
            session.flush()
            return SecretRecord.from_row(row)

    def reseal_all(self, reseal: Callable[[SecretRecord], Sealed | None]) -> tuple[int, int]:
        """Re-encrypt every row in one transaction; ``reseal`` returns None to keep a row.

        If ``reseal`` raises, nothing is written. Returns (rows changed, rows kept).
        """
        changed = kept = 0
        with self._transaction() as session:
            for row in session.scalars(select(SecretRow).order_by(SecretRow.id)):
                sealed = reseal(SecretRecord.from_row(row))
                if sealed is None:
                    kept += 1
                    continue
                row.ciphertext = sealed.ciphertext
                row.nonce = sealed.nonce
                row.key_id = sealed.key_id
                changed += 1
        return changed, kept
