"""The OpenBao policies that decide what each server may do, and their names.

Three kinds, each a set of path rules over the layout (``layout.py``): a *project* policy
(everything on the project's own secrets, and keeping its shared copies up to date), a
*member* policy (reading what is shared with a community) and an *admin* policy (sharing
with a community and unsharing). A server's token holds its user's policies; ``openbao-setup``
writes them, and a hub mints tokens that hold them. They live apart from the store because
the operator's tools write them, and the store only names them in its refusals.
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
