"""The extension's own audit log on OpenBao: one KV v2 document per event, which no server can
change or delete.

A server records each event under its project's audit folder (``layout.audit_event``),
written with check-and-set 0: a new document, never one over another. The project's policy
(``policies.py``) lets its servers *create* documents there, read them and list them, and
nothing else: writing over an event (with or without check-and-set) is an *update*, and
deleting, destroying or undeleting one, or deleting its metadata, needs rights no server
holds. So the log is append-only by OpenBao's policies, where the SQL log relies on a hash
chain and the operator's signatures; nothing here signs, and only an operator's token
removes events (``bao kv metadata delete``).

OpenBao's own audit device still records every request, but a server keeps the values it
read for kernels in memory (``cache.py``), so that device sees only the first read of each
version of a value; this log records every environment, as on SQL.

A server reads its own project's folder only: events of a shared secret that another
project's server recorded (its members' reveals) are in that project's folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from ...audit import (
    ACTIONS,
    LOG_ACTIONS,
    Anchor,
    AuditEntry,
    AuditEvent,
    AuditLog,
    Pruned,
    SignatureCheck,
    Signer,
    Verification,
)
from ...errors import ForbiddenError, InvalidInputError, UnavailableError
from ..base import utc_now
from . import layout
from .kv import CasConflict, Kv

_log = logging.getLogger(__name__)

APPEND_ONLY = (
    "On OpenBao the audit log is append-only by OpenBao's policies: no server can change or "
    "delete an event, so the operator neither anchors nor signs it. To remove old events, an "
    "operator deletes them with an operator's token: bao kv metadata delete "
    "-mount=<mount> audit/<project>/<YYYYMMDD>/<event> (bao kv list shows them, by day)."
)

_FIELDS = ("id", "at", "user", "project", "server_project", "action")


def _document(event: AuditEvent) -> dict[str, Any]:
    """What is stored of an event: its fields, never a value."""
    return {
        "id": event.id,
        "at": event.at.astimezone(dt.timezone.utc).isoformat(timespec="microseconds"),
        "user": event.user,
        "project": event.project,
        "server_project": event.server_project,
        "action": event.action,
        "secret_id": event.secret_id,
        "secret_name": event.secret_name,
        # One string, whatever it holds: OpenBao refuses a body of more than about a
        # thousand JSON strings, and an environment names every secret it gives.
        "detail": json.dumps(event.detail, sort_keys=True),
    }


def _event(document: Mapping[str, Any]) -> AuditEvent:
    """The event a document holds; `ValueError` when it cannot be one of ours."""
    for name in _FIELDS:
        if not isinstance(document.get(name), str):
            raise ValueError(f"its field {name!r} is missing or not text")
    for name in ("secret_id", "secret_name"):
        if document.get(name) is not None and not isinstance(document[name], str):
            raise ValueError(f"its field {name!r} is not text")
    detail_text = document.get("detail") or "{}"
    if not isinstance(detail_text, str):
        raise ValueError("its detail is not text")
    detail = json.loads(detail_text)
    if not isinstance(detail, dict):
        raise ValueError("its detail is not an object")
    at = dt.datetime.fromisoformat(document["at"])
    if at.tzinfo is None:
        raise ValueError("its time has no zone")
    return AuditEvent(
        id=document["id"],
        at=at,
        user=document["user"],
        project=document["project"],
        server_project=document["server_project"],
        action=document["action"],
        secret_id=document.get("secret_id"),
        secret_name=document.get("secret_name"),
        detail=dict(detail),
    )


class OpenBaoAuditLog(AuditLog):
    """The audit log in the KV v2 mount of an `OpenBaoSecretStore`, read and written with its
    token through its `Kv`."""

    append_only = APPEND_ONLY

    def __init__(self, kv: Kv, log: logging.Logger | None = None) -> None:
        self.kv = kv
        self.log = log or _log

    # -- recording ---------------------------------------------------------------------

    def append(self, entry: AuditEntry) -> AuditEvent:
        """Write one event now, as a new document of the recording server's project (one KV
        write). Raises `UnavailableError` when OpenBao refuses it, saying what to fix."""
        if entry.action not in ACTIONS:
            raise ValueError(f"unknown audit action {entry.action!r}")
        if entry.action in LOG_ACTIONS:
            raise ValueError(f"the audit action {entry.action!r} is the log's own")
        at = utc_now()
        event = AuditEvent(
            id=layout.event_id(at),
            at=at,
            user=entry.user,
            project=entry.project,
            server_project=entry.server_project,
            action=entry.action,
            secret_id=entry.secret_id,
            secret_name=entry.secret_name,
            detail=dict(entry.detail or {}),
        )
        path = layout.audit_event(entry.server_project, event.id)
        document = _document(event)
        try:
            self.kv.write(path, document, cas=0)
        except CasConflict:
            # 48 random bits within one microsecond: not expected, and never written over.
            raise UnavailableError(
                f"The audit event {event.id} exists already; nothing was recorded over it."
            ) from None
        except ForbiddenError as error:
            # A sending handed on twice by a standby is refused the second time (an update):
            # the first one landed.
            if self._landed(path, document):
                return event
            raise UnavailableError(
                f"OpenBao refused to record an audit event ({error.message}). The project's "
                "policy may predate the audit log: run jupyter secrets openbao-setup again "
                "to upgrade the policies."
            ) from None
        return event

    def _landed(self, path: str, document: Mapping[str, Any]) -> bool:
        try:
            written, version = self.kv.read(path, version=1)
        except ForbiddenError:
            return False
        return version == 1 and written == document

    # -- reading -----------------------------------------------------------------------

    def events(
        self,
        project: str,
        secret_id: str | None = None,
        limit: int = 100,
        before: str | None = None,
    ) -> list[AuditEvent]:
        """Up to ``limit`` events recorded by ``project``'s servers, newest first (see
        `AuditLog.events`), with this token: a LIST per day folder, newest day first, then
        the documents ``read_concurrency`` at a time. Without ``secret_id`` only ``limit``
        documents are read; with it, documents are read until ``limit`` match."""
        if limit <= 0:
            return []
        days = layout.days_listed(self.kv.list(layout.audit_tree(project)))
        first: list[str] | None = None
        if before is not None:
            if not layout.is_event_id(before) or before[:8] not in days:
                raise KeyError(before)
            listed = layout.events_listed(self.kv.list(layout.audit_day(project, before[:8])))
            if before not in listed:
                raise KeyError(before)
            days = days[days.index(before[:8]) :]
            first = listed[listed.index(before) + 1 :]
        found: list[AuditEvent] = []
        for day in days:
            if first is not None:
                names, first = first, None
            else:
                names = layout.events_listed(self.kv.list(layout.audit_day(project, day)))
            while names and len(found) < limit:
                wanted = limit - len(found)
                if secret_id is not None:
                    wanted = max(wanted, self.kv.read_concurrency)
                batch, names = names[:wanted], names[wanted:]
                for event in self._read(project, batch):
                    if secret_id is None or event.secret_id == secret_id:
                        found.append(event)
            if len(found) >= limit:
                break
        return found[:limit]

    def _read(self, project: str, names: Sequence[str]) -> list[AuditEvent]:
        """The events of these names, in order; a document that is gone or is not an event
        is left out, and logged."""
        paths = [layout.audit_event(project, name) for name in names]
        documents = self.kv.map(self.kv.read, paths)
        events = []
        for name, (document, _) in zip(names, documents, strict=True):
            try:
                if document is None:
                    raise ValueError("it is gone")
                events.append(_event(document))
            except ValueError as error:
                self.log.warning("The audit event %s of %s is left out: %s", name, project, error)
        return events

    # -- checking ----------------------------------------------------------------------

    def verify(
        self, check: SignatureCheck | None = None, anchor: Anchor | None = None
    ) -> Verification:
        """Read every event of every project's folder (a token that may list ``audit/``: the
        operator's) and check that each is an event of ours, at its own place, never
        written over (KV version 1). Nothing is signed here, so ``check`` and ``anchor``
        are not used: no server can alter an event, and an operator's token can (only
        OpenBao's own audit device records that)."""
        try:
            projects = layout.owners_listed(self.kv.list(layout.AUDIT))
        except ForbiddenError as error:
            raise ForbiddenError(
                "Verifying the audit log reads every project's audit folder: use an "
                f"operator's token, which may list {layout.AUDIT}/ ({error.message})"
            ) from None
        checked = 0
        for project in projects:
            for day in sorted(layout.days_listed(self.kv.list(layout.audit_tree(project)))):
                names = sorted(self.kv.list(layout.audit_day(project, day)))
                paths = [f"{layout.audit_day(project, day)}/{name}" for name in names]
                documents = self.kv.map(self.kv.read, paths)
                for name, (document, version) in zip(names, documents, strict=True):
                    reason = _fault(project, day, name, document, version)
                    if reason is not None:
                        return Verification(checked, name, reason)
                    checked += 1
        return Verification(checked)

    # -- the operator's ------------------------------------------------------------------

    def sign(
        self,
        signer: Signer,
        check: SignatureCheck,
        anchor: Anchor | None = None,
        *,
        user: str,
        server_project: str,
    ) -> AuditEvent:
        """Refused: see `APPEND_ONLY`."""
        raise InvalidInputError(APPEND_ONLY)

    def prune(
        self,
        older_than: dt.datetime,
        signer: Signer,
        check: SignatureCheck,
        anchor: Anchor | None = None,
        *,
        user: str,
        server_project: str,
    ) -> Pruned:
        """Refused: see `APPEND_ONLY`."""
        raise InvalidInputError(APPEND_ONLY)


def _fault(
    project: str, day: str, name: str, document: Mapping[str, Any] | None, version: int
) -> str | None:
    """Why the document ``name`` of ``project``'s folder of ``day`` is not an event as a
    server recorded it (None: it is)."""
    if not layout.is_event_id(name) or name[:8] != day:
        return f"it is not an event's name, or not in its day's folder ({project}/{day})"
    if document is None:
        return "its current version was deleted"
    if version != 1:
        return f"it was written over (KV version {version}), which only an operator's token may"
    try:
        event = _event(document)
    except ValueError as error:
        return f"it is not an event ({error})"
    if event.id != name:
        return f"it names another ID ({event.id})"
    if event.server_project != project:
        return f"it names another recording project ({event.server_project})"
    if event.action not in ACTIONS or event.action in LOG_ACTIONS:
        return f"its action {event.action!r} is not one a server records"
    if layout.event_id(event.at)[:20] != name[:20]:
        return "its time is not the one its ID names"
    return None
