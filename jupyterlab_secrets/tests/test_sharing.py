"""Projects and communities: sharing, adding shared secrets, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest

from jupyterlab_secrets.service import SecretMeta

from .conftest import COMMUNITIES, Api, snapshot
from .test_api import create_secret as _create


def shared_by_b(project_service: Any, name: str, value: str) -> tuple[Any, SecretMeta]:
    """proj-b's service, and a new secret of proj-b shared with ml-team (proj-a is in it)."""
    proj_b = project_service("proj-b")
    theirs = proj_b.create("alice", name, value)
    proj_b.set_access("alice", theirs.id, ["ml-team"])
    return proj_b, theirs


@pytest.fixture
def secrets_config(secrets_config: dict[str, Any]) -> dict[str, Any]:
    """This module's server works in proj-a, which is in two communities."""
    return {**secrets_config, "project": "proj-a", "communities": COMMUNITIES}


async def test_communities_lists_this_projects_communities(api: Api) -> None:
    # Given proj-a is in ml-team (admin alice) and data-team (admin bob)
    # When alice lists the communities
    reply = await api("GET", "communities", user="alice")
    # Then she sees both, sorted, with her admin rights
    assert reply.status == 200
    assert reply.body == {
        "communities": [
            {"name": "data-team", "is_admin": False, "projects": ["proj-a", "proj-c"]},
            {"name": "ml-team", "is_admin": True, "projects": ["proj-a", "proj-b"]},
        ]
    }


async def test_access_shares_and_unshares_with_a_community(api: Api) -> None:
    # Given a secret of proj-a
    created = await _create(api, "to-share")
    # When alice, admin of ml-team, shares it with ml-team
    shared = await api(
        "PUT", "secrets", created["id"], "access", body={"communities": ["ml-team"]}, user="alice"
    )
    # Then the Meta says so
    assert shared.status == 200
    assert shared.body["shared_with"] == ["ml-team"]
    assert (await api("GET", "secrets", created["id"])).body["shared_with"] == ["ml-team"]
    # When she unshares it
    unshared = await api(
        "PUT", "secrets", created["id"], "access", body={"communities": []}, user="alice"
    )
    # Then it is shared with nobody
    assert unshared.status == 200
    assert unshared.body["shared_with"] == []


async def test_access_needs_admin_of_every_community_changed(api: Api) -> None:
    # Given a secret of proj-a shared with data-team by bob
    created = await _create(api, "guarded")
    reply = await api(
        "PUT", "secrets", created["id"], "access", body={"communities": ["data-team"]}, user="bob"
    )
    assert reply.status == 200
    before = await snapshot(api)
    # When alice (not a data-team admin) replaces data-team by ml-team
    refused = await api(
        "PUT", "secrets", created["id"], "access", body={"communities": ["ml-team"]}, user="alice"
    )
    # Then it is 403 naming data-team, and nothing changed
    assert refused.status == 403
    assert refused.message == "Only an admin of community 'data-team' can change sharing with it."
    assert await snapshot(api) == before
    # When she keeps data-team and adds ml-team (only ml-team changes)
    added = await api(
        "PUT",
        "secrets",
        created["id"],
        "access",
        body={"communities": ["data-team", "ml-team"]},
        user="alice",
    )
    # Then it is allowed
    assert added.status == 200
    assert added.body["shared_with"] == ["data-team", "ml-team"]


async def test_access_refuses_a_community_without_the_secrets_project(api: Api) -> None:
    # Given a secret of proj-a; alice is admin of other-team, which lacks proj-a
    created = await _create(api, "local-only")
    before = await snapshot(api)
    # When alice shares it with other-team, or with an unknown community
    outside = await api(
        "PUT", "secrets", created["id"], "access", body={"communities": ["other-team"]}
    )
    unknown = await api("PUT", "secrets", created["id"], "access", body={"communities": ["nope"]})
    # Then both are refused with the reason, and nothing changed
    assert outside.status == 400
    assert outside.body == {
        "message": "Project 'proj-a' is not in community 'other-team', so its secrets cannot "
        "be shared with it.",
        "field": "communities",
    }
    assert unknown.status == 400
    assert unknown.body == {"message": "There is no community 'nope'.", "field": "communities"}
    assert await snapshot(api) == before


async def test_a_shared_secret_reaches_kernels_only_under_a_hyphenated_name(
    api: Api, project_service: Any
) -> None:
    # Given proj-b shares a secret under a name git runs (GIT_EXTERNAL_DIFF), one under a name
    # npm reads as a setting, and one under a hyphenated name; proj-a adds all three
    proj_b, tool = shared_by_b(project_service, "GIT_EXTERNAL_DIFF", "/tmp/evil.sh")
    _, setting = shared_by_b(project_service, "npm_config_script-shell", "/tmp/evil.sh")
    _, plain = shared_by_b(project_service, "team-api-key", "from-b")
    for secret in (tool, setting, plain):
        assert (await api("PUT", "secrets", secret.id, "attachment")).status == 200
    # When proj-a's kernels read their environment
    environment = (await api("GET", "environment")).body
    # Then only the hyphenated one is there
    assert environment == {"environment": {"team-api-key": "from-b"}}
    # And the listing says why the others are not, and stored nothing else
    listing = {m["name"]: m for m in (await api("GET", "secrets")).body["secrets"]}
    assert {
        name: (m["attached"], m["injected"], m["not_injected_reason"])
        for name, m in listing.items()
    } == {
        "GIT_EXTERNAL_DIFF": (True, False, "shared_name"),
        "npm_config_script-shell": (True, False, "shared_name"),
        "team-api-key": (True, True, None),
    }
    assert proj_b.reveal("alice", tool.id) == "/tmp/evil.sh"
    assert proj_b.environment("alice")["GIT_EXTERNAL_DIFF"] == "/tmp/evil.sh"


async def test_shared_secret_is_listed_read_only_and_can_be_added(
    api: Api, project_service: Any
) -> None:
    # Given proj-b has a secret shared with ml-team (proj-a is in ml-team)
    proj_b, theirs = shared_by_b(project_service, "team-token", "from-b")
    # And proj-a has its own secret
    await _create(api, "own-token", "from-a")
    # When proj-a lists its secrets
    listing = await api("GET", "secrets")
    # Then the shared one is there, read-only, not yet added
    shared = next(m for m in listing.body["secrets"] if m["id"] == theirs.id)
    assert (shared["origin"], shared["editable"], shared["attached"]) == ("shared", False, False)
    assert shared["project"] == "proj-b"
    assert (await api("GET", "environment")).body == {"environment": {"own-token": "from-a"}}
    # When it is added to proj-a
    added = await api("PUT", "secrets", theirs.id, "attachment")
    # Then it is attached and injected
    assert added.status == 200
    assert added.body["attached"] is True
    assert (await api("GET", "environment")).body == {
        "environment": {"own-token": "from-a", "team-token": "from-b"}
    }
    # When it is removed again
    removed = await api("DELETE", "secrets", theirs.id, "attachment")
    # Then it is no longer injected
    assert removed.status == 200
    assert removed.body["attached"] is False
    assert (await api("GET", "environment")).body == {"environment": {"own-token": "from-a"}}


async def test_own_secret_wins_a_name_clash_in_the_environment(
    api: Api, project_service: Any
) -> None:
    # Given proj-b shares "clash" and proj-a has its own "clash", and adds the shared one
    proj_b, theirs = shared_by_b(project_service, "clash", "theirs")
    await _create(api, "clash", "ours")
    assert (await api("PUT", "secrets", theirs.id, "attachment")).status == 200
    # When the environment is built
    reply = await api("GET", "environment")
    # Then proj-a's own value wins
    assert reply.body == {"environment": {"clash": "ours"}}


async def test_another_projects_secret_cannot_be_edited_or_deleted_but_copied(
    api: Api, project_service: Any
) -> None:
    # Given proj-b shares a secret with ml-team
    proj_b, theirs = shared_by_b(project_service, "readonly", "keep-me")
    before = await snapshot(api)
    # When proj-a tries to edit or delete it
    edit = await api("PATCH", "secrets", theirs.id, body={"version": 1, "value": "hijack"})
    delete = await api("DELETE", "secrets", theirs.id)
    # Then both are 403, and nothing changed
    message_for = (
        "This secret belongs to project 'proj-b': you cannot {} it here, but you can copy it."
    )
    assert (edit.status, edit.message) == (403, message_for.format("edit"))
    assert (delete.status, delete.message) == (403, message_for.format("delete"))
    assert await snapshot(api) == before
    # When proj-a copies it
    copy = await api("POST", "secrets", theirs.id, "copy", body={"name": "my-copy"})
    # Then the copy is proj-a's own and editable, with the same value
    assert copy.status == 201
    assert (copy.body["project"], copy.body["editable"]) == ("proj-a", True)
    assert (await api("POST", "secrets", copy.body["id"], "reveal")).body == {"value": "keep-me"}
    edited = await api("PATCH", "secrets", copy.body["id"], body={"version": 1, "value": "mine"})
    assert edited.status == 200
    assert proj_b.reveal("alice", theirs.id) == "keep-me"


async def test_a_secret_not_shared_with_this_project_is_invisible(
    api: Api, project_service: Any
) -> None:
    # Given proj-b has a secret that is not shared, and proj-c one shared only with other-team
    hidden_b = project_service("proj-b").create("alice", "hidden", "x")
    proj_c = project_service("proj-c")
    hidden_c = proj_c.create("alice", "hidden-c", "y")
    proj_c.set_access("alice", hidden_c.id, ["other-team"])
    # When proj-a lists them, or calls them by ID
    listing = await api("GET", "secrets")
    # Then they are not listed, and every route answers 404
    assert listing.body["secrets"] == []
    for secret_id in (hidden_b.id, hidden_c.id):
        assert (await api("GET", "secrets", secret_id)).status == 404
        assert (await api("POST", "secrets", secret_id, "reveal")).status == 404
        assert (
            await api("PATCH", "secrets", secret_id, body={"version": 1, "value": "z"})
        ).status == 404
        assert (await api("DELETE", "secrets", secret_id)).status == 404
        assert (await api("PUT", "secrets", secret_id, "attachment")).status == 404
        copied = await api("POST", "secrets", secret_id, "copy", body={"name": "stolen"})
        assert copied.status == 404


async def test_own_secret_cannot_be_attached(api: Api) -> None:
    # Given an own secret
    created = await _create(api, "own")
    before = await snapshot(api)
    # When it is "added to the project"
    reply = await api("PUT", "secrets", created["id"], "attachment")
    # Then it is refused: it is already injected
    assert reply.status == 400
    assert reply.message == "This secret belongs to this project; only shared secrets are added."
    assert await snapshot(api) == before


async def test_only_the_owning_project_changes_sharing(api: Api, project_service: Any) -> None:
    # Given proj-b's secret shared with ml-team, added to proj-a; alice is ml-team's admin
    proj_b, theirs = shared_by_b(project_service, "b-owned", "b-value")
    assert (await api("PUT", "secrets", theirs.id, "attachment")).status == 200
    before = await snapshot(api)
    owner_before = proj_b.list("alice")
    # When alice, working in proj-a, unshares it, or shares it with more
    for communities in ([], ["ml-team", "data-team"]):
        reply = await api(
            "PUT", "secrets", theirs.id, "access", body={"communities": communities}, user="alice"
        )
        # Then it is 403, and nothing changed for proj-a or proj-b
        assert reply.status == 403
        assert reply.message == (
            "This secret belongs to project 'proj-b': only that project can change its sharing."
        )
    assert await snapshot(api) == before
    assert proj_b.list("alice") == owner_before


async def test_a_rename_by_the_owner_stops_injection_until_added_again(
    api: Api, project_service: Any
) -> None:
    # Given proj-b's shared "api-token", added to proj-a
    proj_b, theirs = shared_by_b(project_service, "api-token", "t0k3n")
    await api("PUT", "secrets", theirs.id, "attachment")
    # When proj-b renames it
    proj_b.patch("alice", theirs.id, 1, name="api-token-2")
    # Then proj-a lists it as renamed, and no longer injects it
    meta = (await api("GET", "secrets", theirs.id)).body
    assert (meta["attached"], meta["injected"], meta["not_injected_reason"]) == (
        True,
        False,
        "renamed",
    )
    assert (meta["name"], meta["attached_name"]) == ("api-token-2", "api-token")
    assert (await api("GET", "environment")).body == {"environment": {}}
    # When proj-a adds it again, it is injected under the new name
    again = await api("PUT", "secrets", theirs.id, "attachment")
    assert (again.body["attached_name"], again.body["injected"]) == ("api-token-2", True)
    assert (await api("GET", "environment")).body == {"environment": {"api-token-2": "t0k3n"}}
