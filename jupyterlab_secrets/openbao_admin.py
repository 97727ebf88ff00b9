"""Operator tasks on OpenBao: ``openbao-setup`` (the mount and the policies) and the
migration of a SQL store into OpenBao. The command line calls these; tests call them too.

Neither prints or returns a token or a value: only what was done, and counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import hvac
import hvac.exceptions

from .credentials import BAO_TOKEN_ENV, VAULT_TOKEN_ENV, Credentials, take_credentials
from .errors import SecretsError, UnavailableError
from .stores.base import SecretStore, VersionInfo, View
from .stores.openbao import (
    OpenBaoSecretStore,
    admin_policy,
    admin_policy_name,
    check_segment,
    member_policy,
    member_policy_name,
    project_policy,
    project_policy_name,
)

TOKEN_VARIABLES = (BAO_TOKEN_ENV, VAULT_TOKEN_ENV)


def read_token(token_file: str = "", credentials: Credentials | None = None) -> str:
    """This process's OpenBao token: from ``token_file`` if set, else ``BAO_TOKEN``, else
    ``VAULT_TOKEN``, as taken from the environment into ``credentials`` (by default, those
    `take_credentials` holds; the variables are no longer in ``os.environ``). Raises
    `UnavailableError` naming where it looked (never the token)."""
    if token_file:
        try:
            token = Path(token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as error:
            raise UnavailableError(
                f"The OpenBao token file {token_file} (SecretsExtension.openbao_token_file) "
                f"cannot be read: {error.strerror or type(error).__name__}."
            ) from None
        if not token:
            raise UnavailableError(f"The OpenBao token file {token_file} is empty.")
        return token
    credentials = take_credentials() if credentials is None else credentials
    token = (credentials.openbao_token or "").strip()
    if token:
        return token
    raise UnavailableError(
        "No OpenBao token: set SecretsExtension.openbao_token_file, or BAO_TOKEN (or "
        "VAULT_TOKEN) in the server's environment."
    )


def policies(
    mount: str, project: str, communities: Mapping[str, Mapping[str, Iterable[str]]]
) -> dict[str, str]:
    """Every policy the configuration names, by policy name: one per project (``project``
    and those of every community), and a member and an admin policy per community."""
    projects = {project}
    for spec in communities.values():
        projects.update(spec.get("projects", ()))
    result: dict[str, str] = {}
    for name in sorted(projects):
        result[project_policy_name(check_segment("project", name))] = project_policy(mount, name)
    for name in sorted(communities):
        check_segment("community", name)
        result[member_policy_name(name)] = member_policy(mount, name)
        result[admin_policy_name(name)] = admin_policy(mount, name)
    return result


def openbao_setup(
    client: hvac.Client,
    *,
    mount: str,
    project: str,
    communities: Mapping[str, Mapping[str, Iterable[str]]],
    keep_versions: int = 10,
    say: Callable[[str], None] = print,
) -> int:
    """Create the KV v2 mount and write the policies; change nothing that is already so.

    Returns how many things it changed. ``say`` gets one line per thing, done or not.
    """
    changed = 0
    mounts = client.sys.list_mounted_secrets_engines()
    mounts = mounts.get("data", mounts)
    existing = mounts.get(f"{mount}/")
    if existing is None:
        client.sys.enable_secrets_engine(
            "kv",
            path=mount,
            description="jupyterlab-secrets",
            options={"version": "2"},
        )
        say(f"Created the KV v2 mount {mount}/.")
        changed += 1
    elif existing.get("type") != "kv" or (existing.get("options") or {}).get("version") != "2":
        raise UnavailableError(
            f"The mount {mount}/ exists but is not KV version 2 (type {existing.get('type')}, "
            f"options {existing.get('options')}). Choose another SecretsExtension.openbao_mount."
        )
    else:
        say(f"The KV v2 mount {mount}/ exists: unchanged.")
    wanted_versions = keep_versions + 1
    config = client.secrets.kv.v2.read_configuration(mount_point=mount)["data"]
    if int(config.get("max_versions") or 0) != wanted_versions:
        client.secrets.kv.v2.configure(max_versions=wanted_versions, mount_point=mount)
        say(f"Set {mount}/ to keep {wanted_versions} versions of each value.")
        changed += 1
    for name, rules in policies(mount, project, communities).items():
        try:
            current = client.sys.read_policy(name)
            current = current.get("data", current).get("rules")
        except hvac.exceptions.InvalidPath:
            current = None
        if current == rules:
            say(f"Policy {name}: unchanged.")
            continue
        client.sys.create_or_update_policy(name, rules)
        say(f"Policy {name}: {'written' if current is None else 'updated'}.")
        changed += 1
    for community in sorted(communities):
        # A project's policy may only update a community's marker: create it here.
        path = f"communities/{community}/marker"
        try:
            client.secrets.kv.v2.read_secret_metadata(path, mount_point=mount)
            say(f"Change marker of community {community}: exists.")
        except hvac.exceptions.InvalidPath:
            client.secrets.kv.v2.create_or_update_secret(
                path, {"by": "openbao-setup"}, cas=0, mount_point=mount
            )
            say(f"Change marker of community {community}: created.")
            changed += 1
    return changed


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
    target: OpenBaoSecretStore,
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
                if target.import_secret(
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
