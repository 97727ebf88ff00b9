"""The OpenBao policies that decide what each server may do, and their names.

Three kinds, each a set of path rules over the layout (``layout.py``) that say the sharing
rules exactly:

- a *project* policy: everything on the project's own secrets; on its copies in each of its
  communities only ``update`` (a changed value or name follows into them) and reading their
  index; and its own change markers there. It neither creates nor deletes a copy. In its
  audit folder it creates events, reads and lists them, and nothing else: no server changes
  or deletes an event it or another recorded.
- a *member* policy: reading what is shared with a community.
- an *admin* policy per community and project: an admin of community ``c`` who works in
  project ``p`` creates and deletes the copies of ``p``'s secrets in ``c`` (sharing and
  unsharing), and nothing of another project's copies.

A server's token holds its user's policies for its project (`server_policies`);
``openbao-setup`` writes them, and a hub mints tokens that hold them through the token role
`TOKEN_ROLE`, with a token of its own holding `HUB_POLICY_NAME`. They live apart from the
store because the operator's tools write them, and the store only names them in its refusals.

OpenBao applies, for a request, only the rules of the most specific pattern that matches its
path (rules of one pattern in several policies add up). A member policy's
``communities/<c>/*`` would hide a less specific rule of the project policy on the project's
copies, so every rule here names its community and project in full: the project's and the
admin's rules on a copy share one pattern, more specific than the member's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...errors import InvalidInputError
from . import layout
from .layout import check_segment

POLICY_PREFIX = "jupyterlab-secrets"

PAIR = "@"
"""Between the community and the project in an admin policy's name: in neither name."""

_ALL = '["create", "read", "update", "patch", "delete", "list"]'


def project_policy_name(project: str) -> str:
    """The policy that grants everything on a project's own secrets."""
    return f"{POLICY_PREFIX}-project-{project}"


def member_policy_name(community: str) -> str:
    """The policy that grants reading the secrets shared with a community."""
    return f"{POLICY_PREFIX}-member-{community}"


def admin_policy_name(community: str, project: str) -> str:
    """The policy that grants sharing project ``project``'s secrets with ``community`` and
    unsharing them: ``jupyterlab-secrets-admin-<community>@<project>`` (``@`` is in no
    community or project name, so the pair reads back unambiguously)."""
    return f"{POLICY_PREFIX}-admin-{community}{PAIR}{project}"


def former_admin_policy_name(community: str) -> str:
    """The admin policy of earlier releases, one per community, which let its holders
    create and delete the copies of every project in the community. ``openbao-setup``
    deletes it."""
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
    policy of each community that lists the project, and, for each of those where ``user``
    is an admin, the admin policy of that community and ``project`` (never of another
    project). The one place a minted token's policies come from."""
    check_segment("project", project)
    mine = sorted(
        check_segment("community", name)
        for name, spec in communities.items()
        if project in spec.get("projects", ())
    )
    result = [project_policy_name(project)]
    result += [member_policy_name(name) for name in mine]
    result += [
        admin_policy_name(name, project)
        for name in mine
        if user in communities[name].get("admins", ())
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


def project_policy(mount: str, project: str, communities: Iterable[str] = ()) -> str:
    """HCL of `project_policy_name`, for a project in ``communities``."""
    own = layout.project_tree(project)
    audit = layout.audit_tree(project)
    rules = [
        f"""# Everything on the own secrets of project {project}.
path "{mount}/{layout.data(own)}/*" {{
  capabilities = {_ALL}
}}
path "{mount}/{layout.metadata(own)}/*" {{
  capabilities = {_ALL}
}}
# Its values snapshot keeps no earlier version: each one replaced is destroyed.
path "{mount}/{layout.destroy(layout.project_snapshot(project))}" {{
  capabilities = ["update"]
}}
# Its audit events: "create" writes a new one only (writing over one, with or without
# check-and-set, is an "update"); read and list them. No update, patch or delete, and no
# metadata but listing, so no server changes, deletes or destroys an event.
path "{mount}/{layout.data(audit)}/*" {{
  capabilities = ["create", "read"]
}}
path "{mount}/{layout.metadata(audit)}/*" {{
  capabilities = ["list"]
}}
"""
    ]
    for community in sorted(communities):
        index = layout.shared_index(community, project)
        rules.append(
            f"""# Its copies in community {community}: a changed value or name follows into them,
# but only an admin of {community} working in {project} creates or deletes one.
path "{mount}/{layout.data(index)}" {{
  capabilities = ["read", "update"]
}}
path "{mount}/{layout.data(layout.shared_values(community, project))}/*" {{
  capabilities = ["update"]
}}
# Its own change markers in {community}, and no other project's.
path "{mount}/{layout.data(layout.changes_of(community, project))}" {{
  capabilities = ["create"]
}}
path "{mount}/{layout.metadata(layout.changes_of(community, project))}" {{
  capabilities = ["delete"]
}}
"""
        )
    return "".join(rules)


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


def admin_policy(mount: str, community: str, project: str) -> str:
    """HCL of `admin_policy_name`: create and delete the copies of ``project``'s secrets in
    ``community``, and their index there (on the project policy's patterns, so the two add
    up)."""
    index = layout.shared_index(community, project)
    values = layout.shared_values(community, project)
    return f"""# Share secrets of project {project} with community {community}, and unshare them.
path "{mount}/{layout.data(index)}" {{
  capabilities = ["create", "read", "update"]
}}
path "{mount}/{layout.data(values)}/*" {{
  capabilities = ["create", "read", "update"]
}}
path "{mount}/{layout.metadata(values)}/*" {{
  capabilities = ["create", "read", "list", "update", "delete"]
}}
"""


def community_projects(
    communities: Mapping[str, Mapping[str, Iterable[str]]],
) -> dict[str, list[str]]:
    """The projects of each community, by community, checked as path segments."""
    return {
        check_segment("community", name): sorted(
            check_segment("project", project) for project in spec.get("projects", ())
        )
        for name, spec in communities.items()
    }


def configured_policies(
    mount: str, project: str, communities: Mapping[str, Mapping[str, Iterable[str]]]
) -> dict[str, str]:
    """Every policy the configuration names, by policy name: one per project (``project``
    and those of every community), a member policy per community, and an admin policy per
    community and project in it. Raises `InvalidInputError` for names that OpenBao would
    take for one (it ignores the case of policy names)."""
    members = community_projects(communities)
    projects = {check_segment("project", project)}
    for names in members.values():
        projects.update(names)
    _check_distinct("project", projects)
    _check_distinct("community", members)
    result: dict[str, str] = {}
    for name in sorted(projects):
        mine = [community for community, names in members.items() if name in names]
        result[project_policy_name(name)] = project_policy(mount, name, mine)
    for community in sorted(members):
        result[member_policy_name(community)] = member_policy(mount, community)
        for name in members[community]:
            result[admin_policy_name(community, name)] = admin_policy(mount, community, name)
    return result


def _check_distinct(kind: str, names: Iterable[str]) -> None:
    """Refuse two names that differ only in case: their policies would be one in OpenBao."""
    seen: dict[str, str] = {}
    for name in sorted(names):
        other = seen.setdefault(name.lower(), name)
        if other != name:
            raise InvalidInputError(
                f"The {kind} names {other!r} and {name!r} differ only in case, and OpenBao's "
                "policy names ignore case: rename one of them."
            )
