"""Copying a SQL store into OpenBao (``jupyter secrets migrate --to-openbao``), and bringing a
mount written by an earlier release up to date (``openbao-setup``).

`migrate_to_openbao` reads every secret of the configured projects from the source store and
writes each into OpenBao with `import_secret`, keeping its ID, name, version, times, kept
versions, shares and the projects that added it; values pass through memory only. It is
idempotent, so a run after a partial failure completes it. It reports counts, never a value
or a name.

`upgrade_mount` removes what earlier releases wrote and this one no longer reads: each
community's single change marker, which every project could move (each project now has its
own, see ``layout.py``). Copies and indexes keep their paths.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import hvac
import hvac.exceptions

from ...errors import NameTakenError, SecretsError, UnavailableError
from ..base import SecretImport, SecretStore, StoredSecret, VersionInfo, View
from . import layout
from .index import modify, read_index, record_version
from .layout import check_id

if TYPE_CHECKING:  # the store imports this module
    from .store import OpenBaoSecretStore

UTC = dt.timezone.utc


def import_secret(
    store: OpenBaoSecretStore,
    project: str,
    secret: StoredSecret,
    value: str,
    earlier: Callable[[], Sequence[tuple[VersionInfo, str]]] | None = None,
) -> bool:
    """Copy a secret from another store into ``store`` with its ID, name, version, times and
    the kept versions ``earlier()`` gives (oldest first; asked only when the secret is new to
    OpenBao). False when OpenBao holds that version already; an older one there is brought up
    to date. Its shares and the projects that added it are set afterwards, as usual."""
    check_id(secret.id)
    kv, keep_versions = store.kv, store.keep_versions
    index_path = layout.project_index(project)
    existing = (read_index(kv, index_path)[0].get("secrets") or {}).get(secret.id)
    if existing is not None and (existing["version"], existing["name"]) == (
        secret.version,
        secret.name,
    ):
        return False
    path = layout.own_value(project, secret.id)
    kv.keep(path, keep_versions + 1)
    history: list[list[Any]] = []
    if existing is None and earlier is not None and keep_versions:
        for info, old_value in earlier()[-keep_versions:]:
            kv_version = kv.write(path, {"value": old_value}, cas=None)
            at = info.updated_at.astimezone(UTC).isoformat()
            history.insert(0, [info.version, kv_version, at, info.updated_by])
    kv_version = kv.write(path, {"value": value}, cas=None)

    def put(document: dict[str, Any]) -> dict[str, Any]:
        secrets = document.setdefault("secrets", {})
        if any(other["name"] == secret.name for key, other in secrets.items() if key != secret.id):
            raise NameTakenError("A secret with this name already exists in this project.", "name")
        before = secrets.get(secret.id) or {}
        entry = {
            "project": project,
            "name": secret.name,
            "version": secret.version,
            "kv_version": kv_version,
            "created_by": secret.created_by,
            "created_at": secret.created_at.astimezone(UTC).isoformat(),
            "updated_at": secret.updated_at.astimezone(UTC).isoformat(),
            "updated_by": secret.updated_by,
            "value_length": len(value),
            "shared_with": before.get("shared_with") or [],
            "share": before.get("share"),
            "history": before.get("history") or history,
        }
        record_version(entry, secret.updated_by, entry["updated_at"], True, keep_versions)
        secrets[secret.id] = entry
        return entry

    entry = modify(kv, index_path, put)
    store.copies.follow(project, secret.id, entry, value)
    return True


@dataclass
class MigrationReport:
    """What a migration did, in counts (never a value or a name)."""

    copied: int = 0
    unchanged: int = 0
    failed: int = 0
    shares: int = 0
    attachments: int = 0
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report for the operator."""
        lines = [
            f"Copied {self.copied} secrets into OpenBao; {self.unchanged} were there already; "
            f"{self.failed} failed.",
            f"Set {self.shares} shares and {self.attachments} additions to projects.",
        ]
        lines.extend(self.errors)
        return lines


def migrate_to_openbao(
    source: SecretStore,
    target: SecretStore,
    *,
    project: str,
    communities: Mapping[str, Mapping[str, Iterable[str]]],
    projects: Iterable[str] = (),
) -> MigrationReport:
    """Copy every secret of the configured projects from ``source`` into ``target``, with its
    ID, name, version, times, kept versions, shares and the projects that added it; values
    pass through memory only.

    Idempotent: a secret already in OpenBao at the same version is left alone, one at an
    older version is brought up to date, and a run after a partial failure completes it.
    """
    importer = target.ability(SecretImport)
    if importer is None:
        raise UnavailableError("The target store cannot import secrets from another store.")
    report = MigrationReport()
    projects = {project, *projects}
    for spec in communities.values():
        projects.update(spec.get("projects", ()))
    views = {
        name: View(
            name,
            tuple(sorted(c for c, spec in communities.items() if name in spec.get("projects", ()))),
        )
        for name in sorted(projects)
    }
    wanted_shares: list[tuple[View, str, tuple[str, ...]]] = []
    wanted_attachments: list[tuple[View, str, str]] = []
    for view in views.values():
        listed = source.list(view)
        own = [secret for secret in listed if secret.project == view.project]
        values = source.read_values(view, [secret.id for secret in own])
        for secret in own:
            value = values.get(secret.id)
            if value is None:
                report.failed += 1
                report.errors.append(
                    f"Secret {secret.id} of project {view.project} cannot be read: skipped."
                )
                continue
            try:
                if importer.import_secret(
                    view.project, secret, value, _earlier(source, view, secret.id)
                ):
                    report.copied += 1
                else:
                    report.unchanged += 1
            except SecretsError as error:
                report.failed += 1
                report.errors.append(f"Secret {secret.id}: {error.message}")
                continue
            if secret.shared_with:
                wanted_shares.append((view, secret.id, secret.shared_with))
        for secret in listed:
            if secret.project != view.project and secret.attached_as is not None:
                wanted_attachments.append((view, secret.id, secret.attached_as))
    for view, secret_id, shared_with in wanted_shares:
        try:
            stored = target.get(view, secret_id)
            missing = sorted(set(shared_with) - set(stored.shared_with))
            if missing:
                target.set_shares(view, secret_id, add=missing, remove=())
                report.shares += len(missing)
        except SecretsError as error:
            report.failed += 1
            report.errors.append(f"Sharing secret {secret_id}: {error.message}")
    for view, secret_id, name in wanted_attachments:
        try:
            if target.get(view, secret_id).attached_as != name:
                target.set_attachment(view, secret_id, name)
                report.attachments += 1
        except SecretsError as error:
            report.failed += 1
            report.errors.append(f"Adding secret {secret_id} to {view.project}: {error.message}")
    return report


def _earlier(
    source: SecretStore, view: View, secret_id: str
) -> Callable[[], list[tuple[VersionInfo, str]]]:
    """The kept earlier versions of a secret with their values, oldest first, read only when
    asked (a secret already in OpenBao needs none)."""

    def read() -> list[tuple[VersionInfo, str]]:
        return [
            (info, source.read_version(view, secret_id, info.version))
            for info in reversed(source.versions(view, secret_id)[1:])
        ]

    return read


def upgrade_mount(
    client: hvac.Client,
    *,
    mount: str,
    communities: Iterable[str],
    say: Callable[[str], None] = print,
) -> int:
    """Delete the former change marker of each community (``communities/<c>/marker``) with
    all its versions. Servers of this release never read it, and the policies no longer let
    anyone write it. Returns how many were deleted; ``say`` gets one line for each."""
    changed = 0
    for community in sorted(communities):
        path = layout.former_marker(community)
        try:
            client.secrets.kv.v2.read_secret_metadata(path, mount_point=mount)
        except hvac.exceptions.InvalidPath:
            continue
        client.secrets.kv.v2.delete_metadata_and_all_versions(path, mount_point=mount)
        say(
            f"Change marker of community {community}: removed (each project now tells of its "
            f"changes in {mount}/{layout.changes(community)}/)."
        )
        changed += 1
    return changed
