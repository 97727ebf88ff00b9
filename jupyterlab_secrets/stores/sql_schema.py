"""The tables of the SQL store, as SQLAlchemy models (the migrations' target schema).

Values are never stored in plain text: ``ciphertext`` is AES-256-GCM (see `crypto.Keyring`),
bound to its project and secret ID, and for a kept version to its version number too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

UTC = dt.timezone.utc
NAME_LENGTH = 63
PROJECT_LENGTH = 255
COMMUNITY_LENGTH = 255
USER_LENGTH = 255
ID_LENGTH = 32
GCM_TAG_BYTES = 16
"""AES-GCM adds a 16-byte tag: a ciphertext is this much longer than its plaintext."""


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of the secrets schema."""


class SecretRow(Base):
    """One encrypted secret of one project: its current value and metadata."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("project", "name", name="uq_secrets_project_name"),)

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    project: Mapped[str] = mapped_column(String(PROJECT_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    key_id: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(USER_LENGTH))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(USER_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    value_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The current value's length in characters. NULL for a value written before schema
    revision 0003 (a migration cannot decrypt): then the store reports the value's UTF-8 byte
    count, ``len(ciphertext) - 16``, which is never less than the characters and equals them
    for ASCII. The next change of the value makes it exact."""

    shares: Mapped[list[ShareRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )
    attachments: Mapped[list[AttachmentRow]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"
    )


class ShareRow(Base):
    """A secret shared with a community."""

    __tablename__ = "secret_shares"
    __table_args__ = (Index("ix_secret_shares_community_secret", "community", "secret_id"),)

    secret_id: Mapped[str] = mapped_column(
        ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True
    )
    community: Mapped[str] = mapped_column(String(COMMUNITY_LENGTH), primary_key=True)


class AttachmentRow(Base):
    """A shared secret added to another project, under the name it had then."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_project_secret", "project", "secret_id"),)

    secret_id: Mapped[str] = mapped_column(
        ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True
    )
    project: Mapped[str] = mapped_column(String(PROJECT_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    """The secret's name when the project added it: a rename by its owner stops injection."""


class VersionRow(Base):
    """An earlier value of a secret, kept encrypted (bound to its version number too)."""

    __tablename__ = "secret_versions"

    secret_id: Mapped[str] = mapped_column(
        ForeignKey("secrets.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    key_id: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(USER_LENGTH))


class ChangeCounterRow(Base):
    """A counter of changes seen by one project or one community, bumped in the same
    transaction as each write: a view's change marker reads a few of them, whatever the
    number of secrets."""

    __tablename__ = "change_counters"

    scope: Mapped[str] = mapped_column(String(1), primary_key=True)
    """``p`` for a project, ``c`` for a community."""
    name: Mapped[str] = mapped_column(
        String(max(PROJECT_LENGTH, COMMUNITY_LENGTH)), primary_key=True
    )
    counter: Mapped[int] = mapped_column(BigInteger)


class AuditEventRow(Base):
    """One event of the append-only audit log: who did what to which secret, never a value.

    ``hash`` is SHA-256 over the event's fields and ``prev_hash`` (the hash of the event before
    it), so an altered, removed or reordered event breaks the chain; an operator's signed
    events (``anchor``, ``prune``) fix it against a rewrite (see
    `jupyterlab_secrets.stores.sql_audit`). ``key_id``, ``prev_mac`` and ``mac`` are set only on
    events recorded before revision 0005: an HMAC chain under a key derived from the master key.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_project_seq", "project", "seq"),
        Index("ix_audit_events_secret_seq", "secret_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(ID_LENGTH), unique=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    user: Mapped[str] = mapped_column(String(USER_LENGTH))
    project: Mapped[str] = mapped_column(String(PROJECT_LENGTH))
    """The project of the secret (this server's, for an event of no secret)."""
    server_project: Mapped[str] = mapped_column(String(PROJECT_LENGTH))
    """The project of the server (or command) that recorded it."""
    action: Mapped[str] = mapped_column(String(32))
    secret_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    secret_name: Mapped[str | None] = mapped_column(String(NAME_LENGTH), nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    """JSON (names, counts, versions; never a value); a signed event's signature too."""
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    prev_mac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
