"""Shared secrets: the community copies of a project's secrets, and share epochs.

A secret shared with a community is copied to ``communities/<c>/projects/<p>/…`` (see
``layout.py``), where the community's members read it. Only the admin policy of that
community and the owning project may create or delete a copy; the owning project may only
update it, so an owner's change follows into the copies (`Copies.follow`) but sharing needs an
admin's token. Members tell each other of a change with change markers of their own
(`Copies.bump`), which a poll lists (`Copies.changes`).

Who added a shared secret is kept in each project's own index, which only that project may
write; so the owner cannot remove another project's addition when it unshares. Instead each
secret's share state (the entry's ``share``) has an *epoch*, new whenever the secret becomes
shared at all, and a *generation*; unsharing ``detach``es projects by recording the current
generation for them, and an addition counts only while its epoch is current and it was made
after the generation its project was detached at (`attached_as`).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ...errors import ForbiddenError
from ..base import View, utc_now
from . import layout
from .cache import Indexes
from .index import format_time, modify, record_version
from .kv import Kv


def attached_as(
    attachment: Mapping[str, Any] | None, entry: Mapping[str, Any], project: str
) -> str | None:
    """The name under which ``project`` added the secret, while that still holds: the share
    it was added through was not withdrawn from ``project`` since."""
    if not attachment:
        return None
    share = entry.get("share") or {}
    if attachment.get("epoch") != share.get("epoch"):
        return None
    revoked = (share.get("revoked") or {}).get(project)
    if revoked is not None and attachment.get("generation", 0) <= revoked:
        return None
    return attachment.get("name")


def attachment(entry: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    """What a project records when it adds a shared secret: the name, the owner, and the
    share (epoch and generation) it came through."""
    share = entry.get("share") or {}
    return {
        "name": name,
        "project": entry["project"],
        "epoch": share.get("epoch"),
        "generation": share.get("generation", 0),
    }


def next_share(
    share: Mapping[str, Any] | None,
    before: Iterable[str],
    after: Iterable[str],
    detached: Iterable[str],
) -> dict[str, Any] | None:
    """The share state once the secret's communities go from ``before`` to ``after`` and
    ``detached`` projects lose what they added: a new epoch when it becomes shared, none when
    it is shared no more, a new generation for each detaching."""
    before, after, detached = set(before), set(after), list(detached)
    state = dict(share or {}) if before and after else {}
    if after and not state:
        state = {"epoch": uuid.uuid4().hex, "generation": 0, "revoked": {}}
    if state and detached:
        revoked = dict(state.get("revoked") or {})
        for other in detached:
            revoked[other] = state["generation"]
        state = {**state, "generation": state["generation"] + 1, "revoked": revoked}
    return state or None


class Copies:
    """The community copies of secrets, and their indexes and markers, on one mount."""

    def __init__(self, kv: Kv, indexes: Indexes, keep_versions: int, log: logging.Logger) -> None:
        self.kv = kv
        self.indexes = indexes
        self.keep_versions = keep_versions
        self.log = log

    # -- reads ---------------------------------------------------------------------------

    def seen_by(self, view: View) -> dict[str, tuple[str, dict[str, Any]]]:
        """The entries shared with the view's communities by other projects, by ID, with the
        first community (by name) the view sees each through. A community this token may not
        read is skipped: the configured list is only a hint."""
        communities = sorted(view.communities)
        # Two rounds whatever the number of communities: every listing at once, then every
        # owner's index at once.
        listings = self.kv.map(self._owners_or_none, communities)
        sources = [
            (community, owner, layout.shared_index(community, owner))
            for community, owners in zip(communities, listings, strict=True)
            if owners is not None
            for owner in owners
            if owner != view.project
        ]
        documents = self.kv.map(self.indexes.read_or_empty, [path for _, _, path in sources])
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for (community, owner, _), (document, _) in zip(sources, documents, strict=True):
            for secret_id, entry in (document.get("secrets") or {}).items():
                if secret_id in found or not layout.is_id(secret_id):
                    continue
                # The owner is the project the path names: another project wrote the entry.
                found[secret_id] = (community, {**entry, "project": owner})
        return found

    def _owners_or_none(self, community: str) -> list[str] | None:
        """The projects that shared something with ``community``; None when this token may
        not read it."""
        try:
            return layout.owners_listed(self.kv.list(layout.owners(community)))
        except ForbiddenError:
            self.log.debug("This token cannot read community %s", community)
            return None

    # -- writes --------------------------------------------------------------------------

    def changes(self, community: str) -> str:
        """A short digest of every project's change markers in ``community`` (one listing):
        it changes whenever one project tells of a change there."""
        keys = sorted(self.kv.list(layout.changes(community)))
        return hashlib.blake2b("\n".join(keys).encode(), digest_size=8).hexdigest()

    def bump(self, community: str, project: str) -> None:
        """Tell the members of ``community`` that something changed: write a new change
        marker of ``project`` there, then delete its older ones (a marker that cannot be
        deleted only lengthens the listing)."""
        stamp = layout.change_stamp()
        self.kv.write(
            layout.change(community, project, stamp), {"changed_at": format_time(utc_now())}, cas=0
        )
        older = layout.changes_listed(self.kv.list(layout.changes(community))).get(project, [])
        for old in older:
            if old >= stamp:
                break
            try:
                self.kv.destroy(layout.change(community, project, old))
            except ForbiddenError as error:
                self.log.warning(
                    "An old change marker of project %s in community %s remains: %s",
                    project,
                    community,
                    error.message,
                )

    def make(
        self, community: str, project: str, secret_id: str, entry: Mapping[str, Any]
    ) -> tuple[list[list[Any]], int | None]:
        """Create a community's copy of a secret with every kept value, oldest first, so its
        members see the same versions; return the copy's history and current KV version."""
        history = entry.get("history") or []
        source = layout.own_value(project, secret_id)
        target = layout.shared_value(community, project, secret_id)
        self.kv.keep(target, self.keep_versions + 1)
        copied: dict[int, int] = {}
        for kv_version in sorted({item[1] for item in history} | {entry["kv_version"]}):
            document, _ = self.kv.read(source, version=kv_version)
            if document is not None:
                copied[kv_version] = self.kv.write(target, {"value": document["value"]}, None)
        copy_history = [
            [version, copied[kv], at, by] for version, kv, at, by in history if kv in copied
        ]
        return copy_history, copied.get(entry["kv_version"])

    def remove(self, community: str, project: str, secret_id: str) -> None:
        """Delete a community's copy of a secret and its entry, and tell the members."""
        self.kv.destroy(layout.shared_value(community, project, secret_id))
        self.set_entry(community, project, secret_id, None)
        self.bump(community, project)

    def set_entry(
        self,
        community: str,
        project: str,
        secret_id: str,
        entry: dict[str, Any] | None,
        *,
        copy_kv: int | None = None,
        history: list[list[Any]] | None = None,
        advance: str | None = None,
    ) -> None:
        """Write the owner's entry into a community's index (None removes it). Its history
        counts the copy's own KV versions: a new copy brings its whole ``history``; a change
        ``advance``s it by a new ``"value"`` (at ``copy_kv``) or a ``"rename"``; otherwise
        (shares) it stays."""

        def change(document: dict[str, Any]) -> None:
            secrets = document.setdefault("secrets", {})
            if entry is None:
                secrets.pop(secret_id, None)
                return
            old = secrets.get(secret_id) or {}
            shared = dict(entry)
            if history is not None:
                shared["kv_version"], shared["history"] = copy_kv, history
            else:
                shared["kv_version"] = copy_kv if copy_kv is not None else old.get("kv_version")
                shared["history"] = list(old.get("history") or [])
                if advance is not None and shared["kv_version"] is not None:
                    record_version(
                        shared,
                        entry["updated_by"],
                        entry["updated_at"],
                        advance == "value",
                        self.keep_versions,
                    )
            secrets[secret_id] = shared

        modify(self.kv, layout.shared_index(community, project), change, self.indexes.wrote)

    def follow(
        self, project: str, secret_id: str, entry: dict[str, Any], value: str | None
    ) -> None:
        """Bring the shared copies up to date with the owner's change (an update only: the
        project policy cannot create a copy). A copy that cannot follow is logged."""
        for community in entry.get("shared_with") or ():
            try:
                copy_kv = None
                if value is not None:
                    copy_kv = self.kv.write(
                        layout.shared_value(community, project, secret_id), {"value": value}, None
                    )
                self.set_entry(
                    community,
                    project,
                    secret_id,
                    entry,
                    copy_kv=copy_kv,
                    advance="value" if value is not None else "rename",
                )
                self.bump(community, project)
            except ForbiddenError as error:
                self.log.warning(
                    "The copy of secret %s in community %s could not follow: %s",
                    secret_id,
                    community,
                    error.message,
                )
