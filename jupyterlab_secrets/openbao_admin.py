"""Operator tasks on OpenBao: the token a process uses, and ``openbao-setup`` (the mount,
the policies of ``stores/openbao/policies.py``, the token role and policy of a JupyterHub,
and the community markers). The command line
calls these; tests call them too. The migration of a SQL store into OpenBao is in
``stores/openbao/migration.py``.

Nothing here prints or returns a token or a value: only what was done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import hvac
import hvac.exceptions

from .credentials import BAO_TOKEN_ENV, VAULT_TOKEN_ENV, Credentials, take_credentials
from .errors import UnavailableError
from .stores.openbao import layout
from .stores.openbao.policies import (
    HUB_POLICY_NAME,
    TOKEN_ROLE,
    configured_policies,
    hub_policy,
)

TOKEN_VARIABLES = (BAO_TOKEN_ENV, VAULT_TOKEN_ENV)

SERVER_TOKEN_PERIOD = 3600
"""Seconds a server token minted through `TOKEN_ROLE` lives unless renewed (a hub renews
the tokens of running servers well within it)."""


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
    through which a hub mints server tokens; change nothing that is already so.

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
    written = configured_policies(mount, project, communities)
    for name, rules in {**written, HUB_POLICY_NAME: hub_policy()}.items():
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
    changed += _token_role(client, sorted(written), server_token_period, say)
    for community in sorted(communities):
        # A project's policy may only update a community's marker: create it here.
        path = layout.marker(community)
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
    before = set((current or {}).get("allowed_policies") or ()) - {"default"}
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
