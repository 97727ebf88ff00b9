"""Operator tasks on OpenBao: the token a process uses, and ``openbao-setup`` (the mount, the
policies of ``stores/openbao/policies.py``, the token role and policy of a JupyterHub, and
what an earlier release wrote that this one replaces: its admin policies and community
markers). The command line
calls these; tests call them too. The migration of a SQL store into OpenBao is in
``stores/openbao/migration.py``.

Nothing here prints or returns a token or a value: only what was done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import hvac
import hvac.exceptions

from .credentials import BAO_TOKEN_ENV, VAULT_TOKEN_ENV, Credentials, take_credentials
from .errors import UnavailableError
from .stores.openbao.kv import wait_for_mount
from .stores.openbao.migration import upgrade_mount
from .stores.openbao.policies import (
    HUB_POLICY_NAME,
    PAIR,
    POLICY_PREFIX,
    TOKEN_ROLE,
    admin_policy_name,
    community_projects,
    configured_policies,
    former_admin_policy_name,
    hub_policy,
)

TOKEN_VARIABLES = (BAO_TOKEN_ENV, VAULT_TOKEN_ENV)

SERVER_TOKEN_PERIOD = 3600
"""Seconds a server token minted through `TOKEN_ROLE` lives unless renewed (a hub renews
the tokens of running servers well within it)."""


def read_token(
    token_file: str = "",
    credentials: Credentials | None = None,
    *,
    remove: bool = False,
    log: logging.Logger | None = None,
) -> str:
    """This process's OpenBao token: from ``token_file`` if set, else ``BAO_TOKEN``, else
    ``VAULT_TOKEN``, as taken from the environment into ``credentials`` (by default, those
    `take_credentials` holds; the variables are no longer in ``os.environ``). Raises
    `UnavailableError` naming where it looked (never the token).

    ``remove``: delete the token file once read (the server does, so that none of its kernels
    finds it); when it cannot, ``log`` gets a warning and the token is used all the same.
    """
    if token_file:
        path = Path(token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            gone = isinstance(error, FileNotFoundError)
            hint = " (a server removes its token file once it has read it)" if gone else ""
            raise UnavailableError(
                f"The OpenBao token file {token_file} (SecretsExtension.openbao_token_file) "
                f"cannot be read: {error.strerror or type(error).__name__}{hint}."
            ) from None
        if not token:
            raise UnavailableError(f"The OpenBao token file {token_file} is empty.")
        if remove:
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                (log or logging.getLogger(__name__)).warning(
                    "jupyterlab_secrets cannot remove the OpenBao token file %s once read "
                    "(%s): the kernels of this server may read it. Put it where the server "
                    "may delete it.",
                    token_file,
                    error.strerror or type(error).__name__,
                )
        return token
    credentials = take_credentials() if credentials is None else credentials
    token = (credentials.openbao_token or "").strip()
    if token:
        return token
    raise UnavailableError(
        "No OpenBao token: set SecretsExtension.openbao_token_file, or BAO_TOKEN (or "
        "VAULT_TOKEN) in the server's environment."
    )


def openbao_setup(
    client: hvac.Client,
    *,
    mount: str,
    project: str,
    communities: Mapping[str, Mapping[str, Iterable[str]]],
    keep_versions: int = 10,
    server_token_period: int = SERVER_TOKEN_PERIOD,
    say: Callable[[str], None] = print,
) -> int:
    """Create the KV v2 mount and write the policies, the hub's policy and the token role
    through which a hub mints server tokens; change nothing that is already so. Then remove
    what an earlier release wrote in their place (`upgrade_mount`, and the former admin
    policies, saying which to attach instead).

    Returns how many things it changed. ``say`` gets one line per policy, done or not, and
    one per thing removed.
    """
    # A configuration OpenBao cannot hold is refused before anything is written.
    policies = configured_policies(mount, project, communities)
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
    wait_for_mount(client, mount)
    wanted_versions = keep_versions + 1
    config = client.secrets.kv.v2.read_configuration(mount_point=mount)["data"]
    if int(config.get("max_versions") or 0) != wanted_versions:
        client.secrets.kv.v2.configure(max_versions=wanted_versions, mount_point=mount)
        say(f"Set {mount}/ to keep {wanted_versions} versions of each value.")
        changed += 1
    for name, rules in {**policies, HUB_POLICY_NAME: hub_policy()}.items():
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
    changed += _token_role(client, sorted(policies), server_token_period, say)
    changed += _remove_former_admin_policies(client, community_projects(communities), say)
    changed += upgrade_mount(client, mount=mount, communities=communities, say=say)
    return changed


def _remove_former_admin_policies(
    client: hvac.Client, members: Mapping[str, list[str]], say: Callable[[str], None]
) -> int:
    """Delete the admin policy of each community that earlier releases wrote, which let an
    admin create and delete every project's copies there, and say which policies its
    holders need instead. Returns how many were deleted."""
    changed = 0
    for community, projects in sorted(members.items()):
        name = former_admin_policy_name(community)
        try:
            client.sys.read_policy(name)
        except hvac.exceptions.InvalidPath:
            continue
        client.sys.delete_policy(name)
        instead = ", ".join(admin_policy_name(community, project) for project in projects)
        say(
            f"Policy {name}: removed (it let an admin of {community} change every project's "
            f"copies). Tokens that held it may no longer share: give each admin of {community} "
            f"the policy of each project they work in instead, out of: {instead or 'none'}."
        )
        changed += 1
    return changed


def _token_role(
    client: hvac.Client, allowed: list[str], period: int, say: Callable[[str], None]
) -> int:
    """Write the token role `TOKEN_ROLE`: orphan tokens (a hub's own token expiring takes
    none of them along; the hub revokes each by accessor), renewable, living ``period``
    seconds unless renewed, with any of exactly the ``allowed`` policies (and ``default``,
    which lets a server look up its own token and its capabilities). A run for other
    projects adds theirs to those allowed before. Returns 1 if written."""
    try:
        current = client.auth.token.read_role(TOKEN_ROLE)["data"]
    except hvac.exceptions.InvalidPath:
        current = None
    # The admin policies of earlier releases (one per community, no project) are deleted
    # by setup: the role stops allowing them too.
    before = {
        name
        for name in (current or {}).get("allowed_policies") or ()
        if name != "default"
        and not (name.startswith(f"{POLICY_PREFIX}-admin-") and PAIR not in name)
    }
    wanted = {
        "allowed_policies": sorted(before | set(allowed)),
        "orphan": True,
        "renewable": True,
        "token_period": period,
    }
    seen = {key: (current or {}).get(key) for key in wanted}
    seen["allowed_policies"] = sorted(seen["allowed_policies"] or ())
    if current is not None and seen == wanted:
        say(f"Token role {TOKEN_ROLE}: unchanged.")
        return 0
    client.auth.token.create_or_update_role(
        TOKEN_ROLE,
        allowed_policies=wanted["allowed_policies"],
        orphan=True,
        renewable=True,
        token_period=period,
    )
    say(f"Token role {TOKEN_ROLE}: {'written' if current is None else 'updated'}.")
    return 1
