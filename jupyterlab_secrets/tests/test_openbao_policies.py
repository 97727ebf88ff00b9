"""The policies `openbao-setup` writes say exactly the sharing rules: checked against a real
OpenBao with ``sys/capabilities`` for a token per role, by requests each token makes behind
the store's back, and after an upgrade from the policies and markers of an earlier release.

The roles, as `COMMUNITIES` configures them and `server_policies` lists their policies: alice
is an admin of ml-team working in proj-a; erin works in proj-a, a member of ml-team and
data-team and an admin of neither; carol works in proj-b, a member of ml-team; dave is an
admin of ml-team working in proj-b (alice on a server of proj-b).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hvac
import pytest

from jupyterlab_secrets.errors import ForbiddenError, InvalidInputError
from jupyterlab_secrets.openbao_admin import openbao_setup
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    admin_policy_name,
    configured_policies,
    layout,
    member_policy_name,
    project_policy_name,
    server_policies,
)
from jupyterlab_secrets.stores.openbao.index import modify

from .conftest import COMMUNITIES
from .openbao_server import OpenBao

A = View("proj-a", ("data-team", "ml-team"))
B = View("proj-b", ("ml-team",))

ROLES = {
    "alice": server_policies("alice", "proj-a", COMMUNITIES),
    "erin": server_policies("erin", "proj-a", COMMUNITIES),
    "carol": server_policies("carol", "proj-b", COMMUNITIES),
    "dave": server_policies("alice", "proj-b", COMMUNITIES),
}
"""A token's policies per role, as a hub mints them."""


def test_a_servers_policies_are_its_users_in_its_project_only() -> None:
    assert ROLES["alice"] == [
        project_policy_name("proj-a"),
        member_policy_name("data-team"),
        member_policy_name("ml-team"),
        admin_policy_name("ml-team", "proj-a"),
    ]
    assert ROLES["erin"] == [
        project_policy_name("proj-a"),
        member_policy_name("data-team"),
        member_policy_name("ml-team"),
    ]
    assert ROLES["dave"] == [
        project_policy_name("proj-b"),
        member_policy_name("ml-team"),
        admin_policy_name("ml-team", "proj-b"),
    ]
    # bob, the config's admin of data-team, is one in proj-a, not in proj-d (in no community)
    assert server_policies("bob", "proj-a", COMMUNITIES)[-1] == admin_policy_name(
        "data-team", "proj-a"
    )
    assert server_policies("bob", "proj-d", COMMUNITIES) == [project_policy_name("proj-d")]
    # And every policy it names is one openbao-setup writes
    written = configured_policies("m", "proj-d", COMMUNITIES)
    assert {name for names in ROLES.values() for name in names} <= set(written)


ID = "0123456789abcdef0123456789abcdef"
STAMP = "00001765000000000000-0a1b2c3d"
EVENT = "20250101120000000000a1b2c3d4e5f6"

READ, LIST, CREATE, UPDATE, DELETE = "read", "list", "create", "update", "delete"
ALL = {"create", "read", "update", "patch", "delete", "list"}
DENY = {"deny"}

# (path under the mount, {role: capabilities})
EXPECTED: list[tuple[str, dict[str, set[str]]]] = [
    # A project's own secrets: its members only, every one of them
    (f"data/projects/proj-a/secrets/{ID}",
     {"alice": ALL, "erin": ALL, "carol": DENY, "dave": DENY}),
    (f"metadata/projects/proj-a/secrets/{ID}",
     {"alice": ALL, "erin": ALL, "carol": DENY, "dave": DENY}),
    ("data/projects/proj-a/index", {"alice": ALL, "erin": ALL, "carol": DENY, "dave": DENY}),
    # Its values snapshot: its members only (members and admins of its communities read
    # shared copies, never the snapshot); they destroy its earlier versions, and nothing
    # else's
    ("data/projects/proj-a/snapshot", {"alice": ALL, "erin": ALL, "carol": DENY, "dave": DENY}),
    ("metadata/projects/proj-a/snapshot",
     {"alice": ALL, "erin": ALL, "carol": DENY, "dave": DENY}),
    ("destroy/projects/proj-a/snapshot",
     {"alice": {UPDATE}, "erin": {UPDATE}, "carol": DENY, "dave": DENY}),
    ("destroy/projects/proj-b/snapshot",
     {"alice": DENY, "erin": DENY, "carol": {UPDATE}, "dave": {UPDATE}}),
    (f"destroy/projects/proj-a/secrets/{ID}",
     {"alice": DENY, "erin": DENY, "carol": DENY, "dave": DENY}),
    (f"data/projects/proj-b/secrets/{ID}",
     {"alice": DENY, "erin": DENY, "carol": ALL, "dave": ALL}),
    # proj-a's copies in ml-team: the admin working in proj-a creates them; a member who is not
    # admin only updates them (a change follows); other projects, their admin too, only read
    (f"data/communities/ml-team/projects/proj-a/secrets/{ID}",
     {"alice": {CREATE, READ, UPDATE}, "erin": {UPDATE}, "carol": {READ}, "dave": {READ}}),
    (f"metadata/communities/ml-team/projects/proj-a/secrets/{ID}",
     {"alice": {CREATE, READ, LIST, UPDATE, DELETE}, "erin": {READ, LIST}, "carol": {READ, LIST},
      "dave": {READ, LIST}}),
    ("data/communities/ml-team/projects/proj-a/index",
     {"alice": {CREATE, READ, UPDATE}, "erin": {READ, UPDATE}, "carol": {READ}, "dave": {READ}}),
    # proj-b's copies in ml-team: the other way round
    (f"data/communities/ml-team/projects/proj-b/secrets/{ID}",
     {"alice": {READ}, "erin": {READ}, "carol": {UPDATE}, "dave": {CREATE, READ, UPDATE}}),
    (f"metadata/communities/ml-team/projects/proj-b/secrets/{ID}",
     {"alice": {READ, LIST}, "erin": {READ, LIST}, "carol": {READ, LIST},
      "dave": {CREATE, READ, LIST, UPDATE, DELETE}}),
    # proj-a's copies in data-team, where alice is a member but not an admin
    (f"data/communities/data-team/projects/proj-a/secrets/{ID}",
     {"alice": {UPDATE}, "erin": {UPDATE}, "carol": DENY, "dave": DENY}),
    (f"metadata/communities/data-team/projects/proj-a/secrets/{ID}",
     {"alice": {READ, LIST}, "erin": {READ, LIST}, "carol": DENY, "dave": DENY}),
    # A community none of them is in
    (f"data/communities/other-team/projects/proj-c/secrets/{ID}",
     {"alice": DENY, "erin": DENY, "carol": DENY, "dave": DENY}),
    # Change markers: each project writes and deletes its own, and only reads the others'
    (f"data/communities/ml-team/changes/proj-a~{STAMP}",
     {"alice": {CREATE}, "erin": {CREATE}, "carol": {READ}, "dave": {READ}}),
    (f"metadata/communities/ml-team/changes/proj-a~{STAMP}",
     {"alice": {DELETE}, "erin": {DELETE}, "carol": {READ, LIST}, "dave": {READ, LIST}}),
    (f"data/communities/ml-team/changes/proj-b~{STAMP}",
     {"alice": {READ}, "erin": {READ}, "carol": {CREATE}, "dave": {CREATE}}),
    # A project whose name starts like another's gets nothing of its markers
    (f"data/communities/ml-team/changes/proj-a.x~{STAMP}",
     {"alice": {READ}, "erin": {READ}, "carol": {READ}, "dave": {READ}}),
    ("metadata/communities/ml-team/changes/",
     {"alice": {READ, LIST}, "erin": {READ, LIST}, "carol": {READ, LIST}, "dave": {READ, LIST}}),
    # The former community marker, which every project could move: nobody now
    ("data/communities/ml-team/marker",
     {"alice": {READ}, "erin": {READ}, "carol": {READ}, "dave": {READ}}),
    # Audit events: a project's servers create new ones in its own folder, read and list
    # them; none updates, patches or deletes one, nor touches another project's folder
    (f"data/audit/proj-a/20250101/{EVENT}",
     {"alice": {CREATE, READ}, "erin": {CREATE, READ}, "carol": DENY, "dave": DENY}),
    (f"data/audit/proj-b/20250101/{EVENT}",
     {"alice": DENY, "erin": DENY, "carol": {CREATE, READ}, "dave": {CREATE, READ}}),
    ("metadata/audit/proj-a/",
     {"alice": {LIST}, "erin": {LIST}, "carol": DENY, "dave": DENY}),
    ("metadata/audit/proj-a/20250101/",
     {"alice": {LIST}, "erin": {LIST}, "carol": DENY, "dave": DENY}),
    (f"metadata/audit/proj-a/20250101/{EVENT}",
     {"alice": {LIST}, "erin": {LIST}, "carol": DENY, "dave": DENY}),
    *[(f"{kind}/audit/proj-a/20250101/{EVENT}",
       {"alice": DENY, "erin": DENY, "carol": DENY, "dave": DENY})
      for kind in ("delete", "undelete", "destroy")],
    ("metadata/audit/", {"alice": DENY, "erin": DENY, "carol": DENY, "dave": DENY}),
    (f"data/audit/proj-a.x/20250101/{EVENT}",
     {"alice": DENY, "erin": DENY, "carol": DENY, "dave": DENY}),
]  # fmt: skip


@pytest.fixture
def tokens(openbao: OpenBao) -> dict[str, str]:
    """A token per role, minted with exactly its policies."""
    return {role: openbao.mint(*policies) for role, policies in ROLES.items()}


def test_each_role_has_exactly_the_capabilities_of_the_sharing_rules(
    openbao: OpenBao, tokens: dict[str, str]
) -> None:
    # When OpenBao is asked, for each role's token, what it may do on each path
    paths = [f"{openbao.mount}/{path}" for path, _ in EXPECTED]
    granted = {}
    for role, token in tokens.items():
        answer = openbao.server.client(token).sys.get_capabilities(paths=paths)
        granted[role] = {path: set(answer["data"][path]) for path in paths}
    # Then it grants exactly what the rules say, role by role and path by path
    for path, expected in EXPECTED:
        seen = {role: granted[role][f"{openbao.mount}/{path}"] for role in expected}
        assert seen == expected, path


def test_no_token_writes_what_the_rules_keep_from_it(
    openbao: OpenBao, tokens: dict[str, str], open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a secret of proj-a shared with ml-team by alice, and one of proj-b by dave
    alice, erin = open_store(tokens["alice"]), open_store(tokens["erin"])
    carol, dave = open_store(tokens["carol"]), open_store(tokens["dave"])
    of_a = alice.create(A, name="of-a", value="value-of-a-3f1c", user="alice")
    alice.set_shares(A, of_a.id, add=["ml-team"], remove=[])
    of_b = dave.create(B, name="of-b", value="value-of-b-9e0d", user="dave")
    dave.set_shares(B, of_b.id, add=["ml-team"], remove=[])
    copy_of_a = layout.shared_value("ml-team", "proj-a", of_a.id)
    before = (alice.list(A), carol.list(B), carol.read_values(B, [of_a.id]))
    markers = alice.kv.list(layout.changes("ml-team"))
    assert sorted(key.split("~")[0] for key in markers) == ["proj-a", "proj-b"]
    # When dave, admin of ml-team in proj-b, forges a copy of proj-a's, or deletes one
    # When erin, a member of ml-team who is not its admin, shares or unshares directly
    # When carol or dave moves or deletes proj-a's change marker
    attempts: list[Callable[[], Any]] = [
        lambda: dave.kv.write(layout.shared_value("ml-team", "proj-a", "f" * 32), {}, 0),
        lambda: dave.kv.write(copy_of_a, {"value": "forged"}, None),
        lambda: dave.kv.destroy(copy_of_a),
        lambda: erin.kv.write(layout.shared_value("ml-team", "proj-a", "e" * 32), {}, 0),
        lambda: erin.kv.destroy(copy_of_a),
        lambda: carol.kv.write(layout.change("ml-team", "proj-a", STAMP), {}, None),
        *[lambda key=key: dave.kv.destroy(f"{layout.changes('ml-team')}/{key}") for key in markers
          if key.startswith("proj-a~")],
        lambda: carol.kv.write(layout.former_marker("ml-team"), {}, None),
        lambda: carol.kv.read(layout.own_value("proj-a", of_a.id)),
    ]  # fmt: skip
    # Then OpenBao refuses each, and nothing changed
    for attempt in attempts:
        with pytest.raises(ForbiddenError, match="permission denied"):
            attempt()
    assert (alice.list(A), carol.list(B), carol.read_values(B, [of_a.id])) == before
    assert alice.kv.list(layout.changes("ml-team")) == markers
    # And the store refuses erin's sharing, unsharing and deleting a shared secret, naming
    # the admin policy she lacks
    second = erin.create(A, name="second", value="v", user="erin")
    for refused in (
        lambda: erin.set_shares(A, second.id, add=["ml-team"], remove=[]),
        lambda: erin.set_shares(A, of_a.id, add=[], remove=["ml-team"]),
        lambda: erin.delete(A, of_a.id),
    ):
        with pytest.raises(ForbiddenError) as error:
            refused()
        assert admin_policy_name("ml-team", "proj-a") in error.value.message
    assert erin.get(A, of_a.id).shared_with == ("ml-team",)
    assert carol.read_values(B, [of_a.id]) == {of_a.id: "value-of-a-3f1c"}
    assert not erin.community_admin(A, "ml-team")
    assert alice.community_admin(A, "ml-team")
    assert not dave.community_admin(A, "ml-team")


def test_a_shared_entry_belongs_to_the_project_its_path_names(
    openbao: OpenBao, tokens: dict[str, str], open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given dave, admin of ml-team in proj-b, who shares a secret of proj-b
    dave, alice = open_store(tokens["dave"]), open_store(tokens["alice"])
    of_b = dave.create(B, name="of-b", value="value-of-b-51aa", user="dave")
    dave.set_shares(B, of_b.id, add=["ml-team"], remove=[])

    # When he rewrites proj-b's index in ml-team so its entry claims to be proj-a's
    def claim_proj_a(document: dict[str, Any]) -> None:
        document["secrets"][of_b.id]["project"] = "proj-a"

    modify(dave.kv, layout.shared_index("ml-team", "proj-b"), claim_proj_a)
    # Then alice, in proj-a, sees it as proj-b's, and reads it from proj-b's copy
    seen = alice.get(A, of_b.id)
    assert (seen.project, seen.name) == ("proj-b", "of-b")
    assert [s.project for s in alice.list(A) if s.id == of_b.id] == ["proj-b"]
    assert alice.read_values(A, [of_b.id]) == {of_b.id: "value-of-b-51aa"}
    assert alice.read_version(A, of_b.id, 1) == "value-of-b-51aa"


def test_openbao_setup_refuses_names_that_openbao_would_take_for_one(openbao: OpenBao) -> None:
    # Given a configuration whose two projects differ only in case
    communities = {"ml-team": {"admins": ["alice"], "projects": ["Proj-A", "proj-a"]}}
    # Then no policy is made of it, and openbao-setup writes nothing: not even the mount
    with pytest.raises(InvalidInputError, match="differ only in case"):
        configured_policies("m", "proj-d", communities)
    mount = f"{openbao.mount}-case"
    with pytest.raises(InvalidInputError, match="'Proj-A' and 'proj-a'"):
        openbao_setup(
            openbao.server.client(),
            mount=mount,
            project="proj-d",
            communities=communities,
            say=lambda line: None,
        )
    mounts = openbao.server.client().sys.list_mounted_secrets_engines()
    assert f"{mount}/" not in mounts.get("data", mounts)


def former_admin_policy(mount: str, community: str) -> str:
    """The admin policy an earlier release wrote: every project's copies in the community."""
    return f"""path "{mount}/data/communities/{community}/*" {{
  capabilities = ["create", "read", "update", "patch", "delete"]
}}
path "{mount}/metadata/communities/{community}/*" {{
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}}
"""


def test_openbao_setup_again_upgrades_a_deployment_of_an_earlier_release(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a mount as an earlier release left it: a secret of proj-a shared with ml-team,
    # the community's single change marker, and the admin policy of ml-team, held by a token
    root = openbao.server.client()
    operator = open_store(openbao.everything())
    secret = operator.create(A, name="db-pass", value="before-upgrade-77c0", user="alice")
    operator.set_shares(A, secret.id, add=["ml-team"], remove=[])
    root.secrets.kv.v2.create_or_update_secret(
        "communities/ml-team/marker", {"by": "openbao-setup"}, mount_point=openbao.mount
    )
    former = "jupyterlab-secrets-admin-ml-team"
    root.sys.create_or_update_policy(former, former_admin_policy(openbao.mount, "ml-team"))
    old_admin = open_store(
        openbao.mint(project_policy_name("proj-b"), member_policy_name("ml-team"), former)
    )
    assert old_admin.capabilities(["data/communities/ml-team/projects/proj-a/secrets/x"]) == {
        "data/communities/ml-team/projects/proj-a/secrets/x": [
            "create", "delete", "patch", "read", "update"
        ]
    }  # fmt: skip
    # When the operator runs openbao-setup again
    lines: list[str] = []
    changed = openbao_setup(
        root, mount=openbao.mount, project="proj-d", communities=COMMUNITIES, say=lines.append
    )
    # Then the former admin policy is gone, and it says which policies to attach instead
    assert changed == 2, lines
    removed = [line for line in lines if line.startswith(f"Policy {former}: removed")]
    assert len(removed) == 1, lines
    assert (
        "jupyterlab-secrets-admin-ml-team@proj-a, jupyterlab-secrets-admin-ml-team@proj-b"
        in removed[0]
    )
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.sys.read_policy(former)
    assert not old_admin.community_admin(B, "ml-team")
    with pytest.raises(ForbiddenError):
        old_admin.kv.destroy(layout.shared_value("ml-team", "proj-a", secret.id))
    # And the former marker is gone, so nobody moves it any more
    assert any(line.startswith("Change marker of community ml-team: removed") for line in lines)
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.secrets.kv.v2.read_secret_metadata(
            "communities/ml-team/marker", mount_point=openbao.mount
        )
    # And what was shared before keeps working with the new policies: erin (proj-a, not an
    # admin) changes it, carol (proj-b) reads the change and her poll sees it
    erin = open_store(openbao.mint(*ROLES["erin"]))
    carol = open_store(openbao.mint(*ROLES["carol"]))
    assert carol.read_values(B, [secret.id]) == {secret.id: "before-upgrade-77c0"}
    marker = carol.change_marker(B)
    erin.update(A, secret.id, expected_version=1, user="erin", value="after-upgrade-1b9e")
    assert carol.read_values(B, [secret.id]) == {secret.id: "after-upgrade-1b9e"}
    assert carol.change_marker(B) != marker
    # And an admin with the new policy unshares it
    alice = open_store(openbao.mint(*ROLES["alice"]))
    alice.set_shares(A, secret.id, add=[], remove=["ml-team"], detach=["proj-b"])
    assert carol.list(B) == []
    # And running it once more changes nothing
    lines.clear()
    again = openbao_setup(
        root, mount=openbao.mount, project="proj-d", communities=COMMUNITIES, say=lines.append
    )
    assert again == 0, lines
