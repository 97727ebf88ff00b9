"""`OpenBaoSecretStore`: the store interface on OpenBao (or HashiCorp Vault) KV v2, where
OpenBao's policies decide.

Each server holds an OpenBao token minted with its user's policies (``policies.py``); what
the token may not read or write, the server cannot either, whatever its own configuration
says. OpenBao encrypts the values, keeps their versions (KV v2) and records every request in
its audit device; the extension's own audit log is kept on the mount too (``audit.py``). The
server keeps no value, key or token on disk.

This module holds the operations of the interface; the documents they read and write are laid
out in ``layout.py``, the indexes packed and changed in ``index.py``, shared copies and share
epochs kept in ``shares.py``, the values snapshot (a kernel environment in one read) in
``snapshot.py``, and every request goes through ``kv.py``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import hvac
from traitlets import Int, Unicode

from ...errors import (
    ForbiddenError,
    NameTakenError,
    NotFoundError,
    StaleVersionError,
    UnavailableError,
)
from ..base import Recorder, SecretStore, StoredSecret, VersionInfo, View, utc_now
from . import layout
from .audit import OpenBaoAuditLog
from .cache import Indexes, Versioned
from .index import (
    drop_unkept,
    format_time,
    modify,
    parse_time,
    record_version,
    stored,
)
from .kv import CasConflict, Kv
from .layout import check_id
from .migration import import_secret
from .policies import admin_policy_name
from .shares import Copies, attached_as, attachment, next_share
from .snapshot import Snapshots


class OpenBaoSecretStore(SecretStore):
    """Secrets on an OpenBao (or Vault) KV v2 mount, read and written with ``hvac``.

    See ``layout.py`` for the layout. A 403 of OpenBao becomes `ForbiddenError` carrying
    OpenBao's reason; an unreachable OpenBao, `UnavailableError`.
    """

    url = Unicode(help="The OpenBao address.").tag(config=False)
    mount = Unicode("jupyterlab-secrets", help="The KV v2 mount.").tag(config=False)
    keep_versions = Int(10, help="How many earlier versions of a value are kept.").tag(config=False)
    read_concurrency = Int(
        16,
        min=1,
        help="How many documents (values, indexes, markers) are read at once, each by its own "
        "client; 1 reads them one after another in the calling thread.",
    ).tag(config=False)

    def __init__(self, *, url: str, token: str, **kwargs: Any) -> None:
        super().__init__(url=url, **kwargs)
        self.kv = Kv(
            url=self.url,
            token=token,
            mount=self.mount,
            read_concurrency=self.read_concurrency,
            log=self.log,
        )
        self.indexes = Indexes(self.kv)
        """The indexes read, unpacked, by KV version (in memory only)."""
        self.values: Versioned[str] = Versioned()
        """The values read for kernels, by path and KV version (in memory only; see
        `read_values`)."""
        self._reading_for_kernels = threading.Lock()
        """Held while values are read for kernels: a kernel that asks while the values are
        being read at the server's start (`warm`) waits for that read rather than making
        the same requests again."""
        self.copies = Copies(self.kv, self.indexes, self.keep_versions, self.log)
        self.audit = OpenBaoAuditLog(self.kv, self.log)
        """The extension's audit log, on the mount (append-only by the policies)."""
        self.snapshots = Snapshots(self.kv, self.log)
        """The projects' values snapshots (``snapshot.py``): a shortcut for kernels."""

    @property
    def client(self) -> hvac.Client:
        """This thread's ``hvac`` client."""
        return self.kv.client

    def close(self) -> None:
        """Finish the snapshot updates asked for; release the connections; forget what was
        read."""
        self.snapshots.close()
        self.values.clear()
        self.indexes.kept.clear()
        self.kv.close()

    def check(self) -> list[str]:
        """Check that OpenBao answers and accepts the token; return the token's policies
        (names only). Raises `UnavailableError` with what to fix."""
        try:
            return self.kv.policies()
        except ForbiddenError as error:
            raise UnavailableError(
                f"OpenBao at {self.url} does not accept this server's token ({error.message}) "
                "Give the server a valid token (SecretsExtension.openbao_token_file or "
                "BAO_TOKEN), then restart it."
            ) from None

    def audit_log(self) -> OpenBaoAuditLog:
        """The audit log on the mount: every event a document no server can change."""
        return self.audit

    def capabilities(self, paths: Iterable[str]) -> dict[str, list[str]]:
        """This token's capabilities on mount-relative paths (``sys/capabilities-self``)."""
        return self.kv.capabilities(paths)

    # -- documents -----------------------------------------------------------------------

    def _own(self, project: str) -> dict[str, Any]:
        """The project's index: ``{"secrets": {id: entry}, "attached": {id: attachment}}``.
        Shared with the cache: never change it. A token refused it keeps no value of the
        project in memory."""
        try:
            return self.indexes.read(layout.project_index(project))[0]
        except ForbiddenError:
            self.values.forget_under(layout.project_tree(project))
            raise

    def _modify_own(self, project: str, change: Callable[[dict[str, Any]], Any]) -> Any:
        """`modify` the project's index."""
        return modify(self.kv, layout.project_index(project), change, self.indexes.wrote)

    def _read_or_none(self, path: str) -> tuple[dict[str, Any] | None, int]:
        try:
            return self.kv.read(path)
        except ForbiddenError:
            return None, 0

    def _locate(self, view: View, secret_id: str) -> tuple[str | None, dict[str, Any], dict]:
        """Where the view sees a secret: (None, entry, index) for its own, (community,
        entry, index) for a shared one; `NotFoundError` otherwise."""
        check_id(secret_id)
        own = self._own(view.project)
        entry = (own.get("secrets") or {}).get(secret_id)
        if entry is not None:
            return None, entry, own
        shared = self.copies.seen_by(view).get(secret_id)
        if shared is None:
            raise NotFoundError("No such secret.")
        return shared[0], shared[1], own

    def _own_entry(self, view: View, secret_id: str) -> dict[str, Any]:
        check_id(secret_id)
        own = self._own(view.project)
        entry = (own.get("secrets") or {}).get(secret_id)
        if entry is None:
            raise NotFoundError("No such secret.")
        return entry

    def _history(self, entry: dict[str, Any], user: str, at: str, new_value: bool) -> None:
        record_version(entry, user, at, new_value, self.keep_versions)

    # -- reads ---------------------------------------------------------------------------

    def list(self, view: View) -> list[StoredSecret]:
        """The view's own secrets (one read) and those shared with its communities (one list
        and one read per owning project and community). Values of secrets the view no
        longer sees leave memory."""
        own = self._own(view.project)
        attached = own.get("attached") or {}
        secrets = own.get("secrets") or {}
        shared = self.copies.seen_by(view)
        result = [stored(secret_id, entry, None) for secret_id, entry in secrets.items()]
        for secret_id, (_, entry) in shared.items():
            shown = attached_as(attached.get(secret_id), entry, view.project)
            result.append(stored(secret_id, entry, shown))
        seen = {path for path, _ in self._value_paths(view, secrets, shared).values()}
        self.values.retain(seen, under=layout.project_tree(view.project))
        for community in view.communities:
            self.values.retain(seen, under=layout.community_tree(community))
        return result

    def get(self, view: View, secret_id: str) -> StoredSecret:
        """One secret the view can see."""
        community, entry, own = self._locate(view, secret_id)
        if community is None:
            return stored(secret_id, entry, None)
        added = (own.get("attached") or {}).get(secret_id)
        return stored(secret_id, entry, attached_as(added, entry, view.project))

    def read_values(
        self, view: View, secret_ids: Iterable[str], *, cached: bool = False
    ) -> Mapping[str, str | None]:
        """The current values, read in parallel: own ones from the project, shared ones from
        their community copy. IDs the view cannot see are left out.

        With ``cached`` (a kernel's environment), a value read before is given from memory
        while the index that names the secret, read with this server's token now, gives it
        the same KV version; only the others are read from OpenBao: own ones from the
        project's values snapshot (one read) where it holds them at that KV version, the
        rest one by one. Every value read is kept in memory, never on disk, until its secret
        leaves the view's listing. Without ``cached`` (reveal, copy) each value document is
        read itself.
        """
        wanted = [i for i in dict.fromkeys(secret_ids) if layout.is_id(i)]
        if not wanted:
            return {}
        if cached:
            with self._reading_for_kernels:
                return self._read_values(view, wanted, cached=True)
        return self._read_values(view, wanted, cached=False)

    def warm(self, view: View, secret_ids: Iterable[str]) -> int:
        """Read into memory the values of these secrets not kept at their current KV
        version (`ValueCache`); the server does it at its start. The project's values
        snapshot gets those it lacks at their current KV version (written by servers of an
        earlier release), or is written now if the project has none."""
        values = self.read_values(view, secret_ids, cached=True)
        try:
            secrets = self._own(view.project).get("secrets") or {}
        except ForbiddenError:
            return len(values)
        known: dict[str, tuple[int, str] | None] = {}
        for secret_id, entry in secrets.items():
            kv_version = entry.get("kv_version")
            path = layout.own_value(view.project, secret_id)
            value = self.values.get(path, kv_version) if kv_version else None
            if value is not None:
                known[secret_id] = (kv_version, value)
        if known:
            self.snapshots.update(view.project, known, lambda: self._own_secrets(view.project))
        return len(values)

    def _own_secrets(self, project: str) -> Mapping[str, Any]:
        """The project's secrets as its index holds them now."""
        return self._own(project).get("secrets") or {}

    def _snapshot(self, project: str, changes: Mapping[str, tuple[int, str] | None]) -> None:
        """Bring the project's values snapshot up to date after a change, in the background
        (the change answers first); never raises."""
        self.snapshots.update_later(project, changes, lambda: self._own_secrets(project))

    def _read_values(
        self, view: View, wanted: Sequence[str], *, cached: bool
    ) -> Mapping[str, str | None]:
        secrets = self._own(view.project).get("secrets") or {}
        missing = [secret_id for secret_id in wanted if secret_id not in secrets]
        shared = self.copies.seen_by(view) if missing else {}
        located = self._value_paths(view, secrets, shared, wanted)
        values: dict[str, str | None] = {}
        unread: dict[str, str] = {}
        for secret_id, (path, kv_version) in located.items():
            kept = self.values.get(path, kv_version) if cached and kv_version else None
            if kept is None:
                unread[secret_id] = path
            else:
                values[secret_id] = kept
        own = [i for i in unread if i in secrets and secrets[i].get("kv_version")]
        if cached and len(own) > 1:
            # One read for every own value the snapshot holds at the index's KV version (a
            # single value is read by itself: as many requests, and a smaller answer).
            snapshot = self.snapshots.read(view.project)
            for secret_id in own:
                item = snapshot.get(secret_id)
                if item is not None and item[0] == secrets[secret_id]["kv_version"]:
                    path = unread.pop(secret_id)
                    values[secret_id] = item[1]
                    self.values.put(path, item[0], item[1])
        # One audited KV read per value still unread, ``read_concurrency`` at a time.
        documents = self.kv.map(self._read_or_none, unread.values())
        for (secret_id, path), (document, version) in zip(unread.items(), documents, strict=True):
            if document is not None and isinstance(document.get("value"), str):
                values[secret_id] = document["value"]
                self.values.put(path, version, document["value"])
        return {secret_id: values[secret_id] for secret_id in located if secret_id in values}

    def _value_paths(
        self,
        view: View,
        secrets: Mapping[str, Mapping[str, Any]],
        shared: Mapping[str, tuple[str, Mapping[str, Any]]],
        wanted: Iterable[str] | None = None,
    ) -> dict[str, tuple[str, int | None]]:
        """Where the value of each ``wanted`` secret (all by default) is read, and the KV
        version its index names: own ones under the project, shared ones from the copy in
        the community they are seen through."""
        located: dict[str, tuple[str, int | None]] = {}
        for secret_id in secrets if wanted is None else wanted:
            if secret_id in secrets:
                entry = secrets[secret_id]
                path = layout.own_value(view.project, secret_id)
            elif secret_id in shared:
                community, entry = shared[secret_id]
                path = layout.shared_value(community, entry["project"], secret_id)
            else:
                continue
            located[secret_id] = (path, entry.get("kv_version"))
        if wanted is None:
            for secret_id, (community, entry) in shared.items():
                if secret_id not in secrets:
                    path = layout.shared_value(community, entry["project"], secret_id)
                    located[secret_id] = (path, entry.get("kv_version"))
        return located

    def change_marker(self, view: View) -> str:
        """The KV version of the project's index and a digest of each community's change
        markers: one request each (a metadata read, a listing), whatever the number of
        secrets. They are made with this server's token, so a token that lost a policy
        changes the marker (a community shows as "-") or is refused (its project): values
        kept in memory for what it may no longer read are forgotten then, and the next
        environment lacks them."""
        communities = sorted(view.communities)
        # The project's own refusal is raised; a community's only shows as "-".
        items = [(view.project, None), *((view.project, c) for c in communities)]
        try:
            markers = self.kv.map(self._marker_or_none, items)
        except ForbiddenError:
            self.values.forget_under(layout.project_tree(view.project))
            raise
        parts = [markers[0]]
        for community, marker in zip(communities, markers[1:], strict=True):
            parts.append(f"{community}={'-' if marker is None else marker}")
            if marker is None:
                self.values.forget_under(layout.community_tree(community))
        return ";".join(parts)

    def _marker_or_none(self, item: tuple[str, str | None]) -> str | None:
        """The project's marker (``item`` names no community), or a community's; None when
        this token may not read the community's."""
        project, community = item
        if community is None:
            return str(self.kv.version_of(layout.project_index(project)))
        try:
            return self.copies.changes(community)
        except ForbiddenError:
            return None

    # -- writes --------------------------------------------------------------------------

    def _record(self, record: Recorder | None, secret: StoredSecret) -> None:
        """Append a write's audit events once the write is made. No transaction spans OpenBao
        documents: a write whose events cannot be recorded stays made, and is logged as
        such (a write refused earlier records nothing)."""
        if record is None:
            return
        try:
            for entry in record(secret):
                self.audit.append(entry)
        except Exception:
            self.log.exception(
                "A change of secret %s was made but is missing from the audit log", secret.id
            )

    def create(
        self, view: View, *, name: str, value: str, user: str, record: Recorder | None = None
    ) -> StoredSecret:
        """Write the value (a new ID, so it clashes with nothing), then claim the name in the
        project's index; on a clash the value is deleted again."""
        project, secret_id = view.project, uuid.uuid4().hex
        path = layout.own_value(project, secret_id)
        try:
            kv_version = self.kv.write(path, {"value": value}, cas=0)
        except CasConflict:
            raise NameTakenError("A secret with this ID exists already.") from None
        self.kv.keep(path, self.keep_versions + 1)
        at = format_time(utc_now())
        entry = {
            "project": project,
            "name": name,
            "version": 1,
            "kv_version": kv_version,
            "created_by": user,
            "created_at": at,
            "updated_at": at,
            "updated_by": user,
            "value_length": len(value),
            "shared_with": [],
            "share": None,
        }
        self._history(entry, user, at, True)

        def claim(document: dict[str, Any]) -> None:
            secrets = document.setdefault("secrets", {})
            if any(other["name"] == name for other in secrets.values()):
                raise NameTakenError(
                    "A secret with this name already exists in this project.", "name"
                )
            secrets[secret_id] = entry

        try:
            self._modify_own(project, claim)
        except BaseException:
            self.kv.destroy(path)
            raise
        created = stored(secret_id, entry, None)
        self._record(record, created)
        self._snapshot(project, {secret_id: (kv_version, value)})
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
        """Claim the new version in the project's index (check-and-set: the index decides
        the race), then write the value over its KV version (check-and-set again), then let
        the change follow into the shared copies."""
        check_id(secret_id)
        at = format_time(utc_now())
        before: dict[str, Any] = {}

        def claim(document: dict[str, Any]) -> dict[str, Any]:
            secrets = document.get("secrets") or {}
            entry = secrets.get(secret_id)
            if entry is None:
                raise NotFoundError("No such secret.")
            if entry["version"] != expected_version:
                raise StaleVersionError(
                    "This secret was changed by someone else. Reload it and try again.",
                    "version",
                )
            if name is not None and any(
                other["name"] == name for key, other in secrets.items() if key != secret_id
            ):
                raise NameTakenError(
                    "A secret with this name already exists in this project.", "name"
                )
            before.clear()
            before.update(entry)
            changed = dict(entry)
            changed["version"] = entry["version"] + 1
            changed["updated_at"] = at
            changed["updated_by"] = user
            if name is not None:
                changed["name"] = name
            if value is not None:
                changed["kv_version"] = entry["kv_version"] + 1
                changed["value_length"] = len(value)
            self._history(changed, user, at, value is not None)
            secrets[secret_id] = changed
            return changed

        entry = self._modify_own(view.project, claim)
        if value is not None:
            try:
                entry = self._write_claimed_value(view.project, secret_id, entry, before, value)
            except CasConflict:
                self._restore_entry(view.project, secret_id, entry, before)
                raise StaleVersionError(
                    "This secret was changed by someone else. Reload it and try again.",
                    "version",
                ) from None
            except BaseException:
                self._restore_entry(view.project, secret_id, entry, before)
                raise
        self.copies.follow(view.project, secret_id, entry, value)
        updated = stored(secret_id, entry, None)
        self._record(record, updated)
        if value is not None:
            self._snapshot(view.project, {secret_id: (entry["kv_version"], value)})
        return updated

    def _write_claimed_value(
        self,
        project: str,
        secret_id: str,
        claimed: dict[str, Any],
        before: dict[str, Any],
        value: str,
    ) -> dict[str, Any]:
        """Write the value of a version this edit claimed in the index, over the KV version
        the index named before; return the entry as the index now holds it.

        KV may hold newer versions that the index never names: a value that reached OpenBao
        after the edit that sent it was reported failed and undone (its answer was lost in an
        outage). Every later edit would then lose its check-and-set for good. Holding the
        claim, no other edit may write this value, so such versions are passed over: the
        claim is moved to the version after them, and the value written there. `CasConflict`
        when KV is behind the index instead (an edit still writing its value)."""
        path = layout.own_value(project, secret_id)
        try:
            self.kv.write(path, {"value": value}, cas=before["kv_version"])
            return claimed
        except CasConflict:
            _, current = self.kv.read(path)
            if current <= before["kv_version"]:
                raise
        moved = dict(claimed)
        moved["kv_version"] = current + 1
        moved["history"] = [
            [h[0], current + 1, *h[2:]] if index == 0 else h
            for index, h in enumerate(claimed.get("history") or [])
        ]
        drop_unkept(moved, self.keep_versions)

        def move(document: dict[str, Any]) -> None:
            secrets = document.get("secrets") or {}
            if secrets.get(secret_id) != claimed:
                raise CasConflict(path)
            secrets[secret_id] = moved

        self._modify_own(project, move)
        self.log.warning(
            "Secret %s: KV held %d version(s) its index never named (a change whose answer "
            "was lost); they are passed over",
            secret_id,
            current - before["kv_version"],
        )
        try:
            self.kv.write(path, {"value": value}, cas=current)
        except BaseException:
            self._restore_entry(project, secret_id, moved, before)
            raise
        return moved

    def _restore_entry(
        self, project: str, secret_id: str, claimed: dict[str, Any], before: dict[str, Any]
    ) -> None:
        """Undo a claimed version whose value could not be written."""

        def undo(document: dict[str, Any]) -> None:
            secrets = document.get("secrets") or {}
            if secrets.get(secret_id) == claimed:
                secrets[secret_id] = before

        try:
            self._modify_own(project, undo)
        except Exception:
            self.log.warning("Could not undo a failed change of secret %s", secret_id)

    def delete(self, view: View, secret_id: str, record: Recorder | None = None) -> None:
        """Remove it from the index, then its value and versions, then its shared copies.
        A shared secret is refused before anything is written unless the token may delete
        its copies (deleting it unshares it, which only the communities' admins may)."""
        shared_with = sorted(self._own_entry(view, secret_id).get("shared_with") or ())
        self._check_admin(
            view.project, secret_id, [], shared_with, ", and deleting a shared secret unshares it"
        )

        def remove(document: dict[str, Any]) -> dict[str, Any]:
            entry = (document.get("secrets") or {}).pop(secret_id, None)
            if entry is None:
                raise NotFoundError("No such secret.")
            return entry

        entry = self._modify_own(view.project, remove)
        self._record(record, stored(secret_id, entry, None))
        self.values.forget(layout.own_value(view.project, secret_id))
        self._snapshot(view.project, {secret_id: None})
        self.kv.destroy(layout.own_value(view.project, secret_id))
        for community in entry.get("shared_with") or ():
            try:
                self.copies.remove(community, view.project, secret_id)
            except ForbiddenError as error:
                self.log.warning(
                    "The copy of deleted secret %s in community %s remains: %s",
                    secret_id,
                    community,
                    error.message,
                )

    # -- shares --------------------------------------------------------------------------

    def community_admin(self, view: View, community: str) -> bool:
        """Whether this server's token may share the view's secrets with ``community``: its
        policy decides, whatever the configuration names (the `SharingPolicy` ability)."""
        path = layout.data(layout.shared_value(community, view.project, "any"))
        capabilities = self.capabilities([path])[path]
        return "root" in capabilities or "create" in capabilities

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
        """Create the copies of ``add`` and delete those of ``remove`` (the admin policies of
        those communities allow it, or nothing is written), then record the shares, and the
        projects ``detach``ed, in the secret's share state (see ``shares.py``)."""
        project = view.project
        check_id(secret_id)
        entry = self._own_entry(view, secret_id)
        current = set(entry.get("shared_with") or ())
        added = sorted(set(add) - set(remove) - current)
        removed = sorted(set(remove) & current)
        detached = sorted(set(detach))
        if not added and not removed and not detached:
            unchanged = stored(secret_id, entry, None)
            self._record(record, unchanged)
            return unchanged
        self._check_admin(project, secret_id, added, removed)
        # The admin's writes first: a refusal there leaves everything as it was.
        copies = {c: self.copies.make(c, project, secret_id, entry) for c in added}
        for community in removed:
            self.copies.remove(community, project, secret_id)

        def record_shares(document: dict[str, Any]) -> dict[str, Any]:
            secrets = document.get("secrets") or {}
            fresh = secrets.get(secret_id)
            if fresh is None:
                raise NotFoundError("No such secret.")
            fresh = dict(fresh)
            before = set(fresh.get("shared_with") or ())
            after = (before | set(added)) - set(removed)
            fresh["shared_with"] = sorted(after)
            fresh["share"] = next_share(fresh.get("share"), before, after, detached)
            secrets[secret_id] = fresh
            return fresh

        entry = self._modify_own(project, record_shares)
        for community in entry["shared_with"]:
            if community in copies:
                history, copy_kv = copies[community]
                self.copies.set_entry(
                    community, project, secret_id, entry, copy_kv=copy_kv, history=history
                )
            else:
                self.copies.set_entry(community, project, secret_id, entry)
            self.copies.bump(community, project)
        shared = stored(secret_id, entry, None)
        self._record(record, shared)
        return shared

    def _check_admin(
        self, project: str, secret_id: str, added: list[str], removed: list[str], why: str = ""
    ) -> None:
        """Refuse before writing anything unless the token may create the copies of
        ``added`` and delete those of ``removed``; ``why`` ends the refusal."""
        wanted = {
            layout.data(layout.shared_value(c, project, secret_id)): ("create", c) for c in added
        }
        wanted.update(
            {
                layout.metadata(layout.shared_value(c, project, secret_id)): ("delete", c)
                for c in removed
            }
        )
        if not wanted:
            return
        granted = self.capabilities(wanted)
        for path, (capability, community) in wanted.items():
            if "root" in granted[path] or capability in granted[path]:
                continue
            raise ForbiddenError(
                f"OpenBao refused this: permission denied ({capability} on {self.mount}/{path}; "
                f"this server's token lacks the policy {admin_policy_name(community, project)})"
                f"{why}."
            )

    def set_attachment(
        self, view: View, secret_id: str, name: str | None, record: Recorder | None = None
    ) -> StoredSecret:
        """Record in the project's index that it added the shared secret (with the share it
        came through), or remove that record."""
        check_id(secret_id)
        shared = self.copies.seen_by(view).get(secret_id)
        if shared is None:
            raise NotFoundError("No such secret.")
        _, entry = shared
        added = attachment(entry, name)

        def change(document: dict[str, Any]) -> None:
            attached = document.setdefault("attached", {})
            if name is None:
                attached.pop(secret_id, None)
            else:
                attached[secret_id] = added

        self._modify_own(view.project, change)
        shown = attached_as(added, entry, view.project) if name else None
        attached = stored(secret_id, entry, shown)
        self._record(record, attached)
        return attached

    def import_secret(
        self,
        project: str,
        secret: StoredSecret,
        value: str,
        earlier: Callable[[], Sequence[tuple[VersionInfo, str]]] | None = None,
    ) -> bool:
        """Copy a secret from another store, for the migration (the `SecretImport` ability;
        see `import_secret` of ``migration.py``). False when OpenBao holds that version
        already."""
        return import_secret(self, project, secret, value, earlier)

    # -- versions ------------------------------------------------------------------------

    def versions(self, view: View, secret_id: str) -> list[VersionInfo]:
        """From the index's history (a shared copy has its own): no value is read."""
        _, entry, _ = self._locate(view, secret_id)
        history = entry.get("history") or [
            [entry["version"], entry.get("kv_version"), entry["updated_at"], entry["updated_by"]]
        ]
        return [
            VersionInfo(
                version=int(version),
                updated_at=parse_time(at),
                updated_by=by,
                current=index == 0,
            )
            for index, (version, _, at, by) in enumerate(history)
        ]

    def read_version(self, view: View, secret_id: str, version: int) -> str:
        """The value of a kept version, at its KV version (of the copy, for a shared one)."""
        community, entry, _ = self._locate(view, secret_id)
        gone = NotFoundError(f"Version {version} of this secret is no longer kept.")
        kv_versions = [item[1] for item in entry.get("history") or () if item[0] == version]
        if not kv_versions or kv_versions[0] is None:
            raise gone
        if community is None:
            path = layout.own_value(view.project, secret_id)
        else:
            path = layout.shared_value(community, entry["project"], secret_id)
        document, _ = self.kv.read(path, version=int(kv_versions[0]))
        if document is None or not isinstance(document.get("value"), str):
            raise gone
        return document["value"]
