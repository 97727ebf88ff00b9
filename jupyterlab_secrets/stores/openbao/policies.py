"""The OpenBao policies that decide what each server may do, and their names.

Three kinds, each a set of path rules over the layout (``layout.py``): a *project* policy
(everything on the project's own secrets, and keeping its shared copies up to date), a
*member* policy (reading what is shared with a community) and an *admin* policy (sharing
with a community and unsharing). A server's token holds its user's policies
(`server_policies`); ``openbao-setup`` writes them, and a hub mints tokens that hold them
through the token role `TOKEN_ROLE`, with a token of its own holding `HUB_POLICY_NAME`.
They live apart from the store because the operator's tools write them, and the store only
names them in its refusals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from . import layout
from .layout import check_segment

POLICY_PREFIX = "jupyterlab-secrets"

_ALL = '["create", "read", "update", "patch", "delete", "list"]'


def project_policy_name(project: str) -> str:
    """The policy that grants everything on a project's own secrets."""
    return f"{POLICY_PREFIX}-project-{project}"


def member_policy_name(community: str) -> str:
    """The policy that grants reading the secrets shared with a community."""
    return f"{POLICY_PREFIX}-member-{community}"


def admin_policy_name(community: str) -> str:
    """The policy that grants sharing and unsharing with a community."""
    return f"{POLICY_PREFIX}-admin-{community}"


TOKEN_ROLE = POLICY_PREFIX
"""The token role through which a hub mints its servers' tokens (``auth/token/roles/…``)."""

HUB_POLICY_NAME = f"{POLICY_PREFIX}-hub"
"""The policy of a hub's own token: mint server tokens through `TOKEN_ROLE`, look them up,
renew and revoke them by accessor; nothing else (no secret)."""


def server_policies(
    user: str, project: str, communities: Mapping[str, Mapping[str, Iterable[str]]]
) -> list[str]:
    """The policies of ``user``'s server working in ``project``: the project's, the member
    policy of each community that lists the project, and the admin policy of each of those
    where ``user`` is an admin. The one place a minted token's policies come from."""
    check_segment("project", project)
    mine = sorted(
        check_segment("community", name)
        for name, spec in communities.items()
        if project in spec.get("projects", ())
    )
    result = [project_policy_name(project)]
    result += [member_policy_name(name) for name in mine]
    result += [
        admin_policy_name(name) for name in mine if user in communities[name].get("admins", ())
    ]
    return result


def hub_policy() -> str:
    """HCL of `HUB_POLICY_NAME`."""
    return f"""# Mint server tokens through the role {TOKEN_ROLE}, whose allowed policies are the
# project, member and admin policies; and look them up, renew and revoke them by accessor.
path "auth/token/create/{TOKEN_ROLE}" {{
  capabilities = ["update"]
}}
path "auth/token/lookup-accessor" {{
  capabilities = ["update"]
}}
path "auth/token/renew-accessor" {{
  capabilities = ["update"]
}}
path "auth/token/revoke-accessor" {{
  capabilities = ["update"]
}}
"""


def project_policy(mount: str, project: str) -> str:
    """HCL of `project_policy_name`: all on ``projects/<p>/``; on its shared copies only
    ``update`` (a value change follows into them, but only an admin creates one) and
    ``delete`` (deleting the secret deletes its copies); ``update`` of community markers."""
    own = layout.project_tree(project)
    copies = layout.copies_of(project)
    return f"""# Everything on the own secrets of project {project}.
path "{mount}/{layout.data(own)}/*" {{
  capabilities = {_ALL}
}}
path "{mount}/{layout.metadata(own)}/*" {{
  capabilities = {_ALL}
}}
# Its secrets' copies in communities: a changed value or name follows into them, but only a
# community admin can create one (share) or delete one while the secret lives (unshare).
path "{mount}/{layout.data(copies)}/*" {{
  capabilities = ["update"]
}}
path "{mount}/{layout.metadata(copies)}/secrets/*" {{
  capabilities = ["delete"]
}}
# Tell the members of a community that something they read changed.
path "{mount}/{layout.data(layout.every_marker())}" {{
  capabilities = ["update"]
}}
"""


def member_policy(mount: str, community: str) -> str:
    """HCL of `member_policy_name`: read everything shared with the community."""
    tree = layout.community_tree(community)
    return f"""# Read the secrets shared with community {community}.
path "{mount}/{layout.data(tree)}/*" {{
  capabilities = ["read"]
}}
path "{mount}/{layout.metadata(tree)}/*" {{
  capabilities = ["read", "list"]
}}
"""


def admin_policy(mount: str, community: str) -> str:
    """HCL of `admin_policy_name`: create and delete shared copies in the community."""
    tree = layout.community_tree(community)
    return f"""# Share secrets with community {community}, and stop sharing them.
path "{mount}/{layout.data(tree)}/*" {{
  capabilities = ["create", "read", "update", "patch", "delete"]
}}
path "{mount}/{layout.metadata(tree)}/*" {{
  capabilities = {_ALL}
}}
"""


def configured_policies(
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
