"""Communities across servers: several users, and one jupyter_server per project, on one store.

proj-a is the test server; proj-b and proj-c run servers of their own on the same database
(a SQLite file, or PostgreSQL) and keys. Every step goes through the HTTP API of the server of
the project concerned, as a team would use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .conftest import COMMUNITIES, Api, Reply, Server


@pytest.fixture
def secrets_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    """The test server works in proj-a, with communities, on each backend."""
    return {**backend_config, "project": "proj-a", "communities": COMMUNITIES}


@pytest.fixture
def proj_b(start_server: Callable[[str], Server]) -> Server:
    """The server of proj-b: with proj-a in ml-team (admin alice)."""
    return start_server("proj-b")


@pytest.fixture
def proj_c(start_server: Callable[[str], Server]) -> Server:
    """The server of proj-c: with proj-a in data-team (admin bob), alone in other-team."""
    return start_server("proj-c")


async def _create(server: Server, name: str, value: str, user: str = "carol") -> dict[str, Any]:
    reply = await server.api("POST", "secrets", body={"name": name, "value": value}, user=user)
    assert reply.status == 201, reply.body
    return reply.body


async def _share(server: Server, secret_id: str, communities: list[str], user: str) -> Reply:
    return await server.api(
        "PUT", "secrets", secret_id, "access", body={"communities": communities}, user=user
    )


async def _names(call: Any) -> list[tuple[str, str, str]]:
    """(name, project, origin) of every secret a project lists."""
    reply = await call("GET", "secrets")
    assert reply.status == 200
    return [(m["name"], m["project"], m["origin"]) for m in reply.body["secrets"]]


async def _environment(call: Any) -> dict[str, str]:
    reply = await call("GET", "environment")
    assert reply.status == 200
    return reply.body["environment"]


async def test_only_an_admin_shares_and_only_with_a_community_of_the_project(
    api: Api, proj_b: Server, proj_c: Server
) -> None:
    # Given carol's secret in proj-b
    secret = await _create(proj_b, "team-token", "from-b")
    # When carol, who administers nothing, shares it with ml-team
    refused = await _share(proj_b, secret["id"], ["ml-team"], "carol")
    # Then it is 403, and nobody sees it shared
    assert (refused.status, refused.message) == (
        403,
        "Only an admin of community 'ml-team' can change sharing with it.",
    )
    assert (await proj_b.api("GET", "secrets", secret["id"])).body["shared_with"] == []
    assert await _names(api) == []
    # When alice, admin of other-team, shares it with other-team, which lacks proj-b
    outside = await _share(proj_b, secret["id"], ["other-team"], "alice")
    # Then it is refused, and nothing changed
    assert outside.status == 400
    assert outside.message == (
        "Project 'proj-b' is not in community 'other-team', so its secrets cannot be shared "
        "with it."
    )
    assert await _names(api) == []
    # When alice, admin of ml-team, shares it with ml-team
    shared = await _share(proj_b, secret["id"], ["ml-team"], "alice")
    # Then proj-a (in ml-team) lists it as shared, and proj-c (not in ml-team) does not
    assert (shared.status, shared.body["shared_with"]) == (200, ["ml-team"])
    assert await _names(api) == [("team-token", "proj-b", "shared")]
    assert await _names(proj_c.api) == []
    # When carol, or bob (admin of data-team only), tries to unshare it
    for user in ("carol", "bob"):
        unshare = await _share(proj_b, secret["id"], [], user)
        # Then it is 403, and it stays shared
        assert unshare.status == 403
        assert await _names(api) == [("team-token", "proj-b", "shared")]


async def test_a_shared_secret_is_read_only_elsewhere_but_can_be_cloned_added_and_removed(
    api: Api, proj_b: Server
) -> None:
    # Given proj-b's secret shared with ml-team by alice
    secret = await _create(proj_b, "team-token", "from-b")
    assert (await _share(proj_b, secret["id"], ["ml-team"], "alice")).status == 200
    # When proj-a reads it
    meta = (await api("GET", "secrets", secret["id"], user="dave")).body
    # Then it is shared, read-only, and not added
    assert (meta["origin"], meta["editable"], meta["attached"]) == ("shared", False, False)
    # When a proj-a user, even the community admin, edits or deletes it
    for user in ("dave", "alice"):
        edit = await api(
            "PATCH", "secrets", secret["id"], body={"version": 1, "value": "x"}, user=user
        )
        delete = await api("DELETE", "secrets", secret["id"], user=user)
        # Then both are 403
        assert (edit.status, delete.status) == (403, 403)
    assert (await proj_b.api("POST", "secrets", secret["id"], "reveal")).body == {"value": "from-b"}
    # When proj-a clones it
    copy = await api("POST", "secrets", secret["id"], "copy", body={"name": "my-copy"})
    # Then the clone is proj-a's own, and the two are independent both ways
    assert (copy.status, copy.body["project"], copy.body["editable"]) == (201, "proj-a", True)
    edit_copy = {"version": 1, "value": "mine"}
    assert (await api("PATCH", "secrets", copy.body["id"], body=edit_copy)).status == 200
    edit_original = {"version": 1, "value": "new-from-b"}
    assert (await proj_b.api("PATCH", "secrets", secret["id"], body=edit_original)).status == 200
    assert (await api("POST", "secrets", copy.body["id"], "reveal")).body == {"value": "mine"}
    assert (await api("POST", "secrets", secret["id"], "reveal")).body == {"value": "new-from-b"}
    assert await _environment(api) == {"my-copy": "mine"}
    # When proj-a adds the shared secret to the project
    added = await api("PUT", "secrets", secret["id"], "attachment", user="dave")
    # Then it is injected in proj-a, and only there
    assert (added.status, added.body["attached"]) == (200, True)
    assert await _environment(api) == {"my-copy": "mine", "team-token": "new-from-b"}
    assert await _environment(proj_b.api) == {"team-token": "new-from-b"}
    assert (await proj_b.api("GET", "secrets", secret["id"])).body["attached"] is False
    # When it is removed again
    removed = await api("DELETE", "secrets", secret["id"], "attachment", user="dave")
    # Then it is listed still, but no longer injected
    assert (removed.status, removed.body["attached"]) == (200, False)
    assert await _environment(api) == {"my-copy": "mine"}
    assert ("team-token", "proj-b", "shared") in await _names(api)


async def test_the_projects_own_secret_wins_a_name_clash_and_the_listing_says_so(
    api: Api, proj_b: Server, proj_c: Server
) -> None:
    # Given "clash-token" in proj-a, and in proj-b and proj-c, each shared with proj-a and added
    own = (await api("POST", "secrets", body={"name": "clash-token", "value": "ours"})).body
    from_b = await _create(proj_b, "clash-token", "from-b")
    from_c = await _create(proj_c, "clash-token", "from-c")
    assert (await _share(proj_b, from_b["id"], ["ml-team"], "alice")).status == 200
    assert (await _share(proj_c, from_c["id"], ["data-team"], "bob")).status == 200
    for secret in (from_b, from_c):
        assert (await api("PUT", "secrets", secret["id"], "attachment")).status == 200
    # When proj-a builds its environment and its listing
    environment = await _environment(api)
    listing = (await api("GET", "secrets")).body["secrets"]
    # Then its own value wins, and the shared ones say they are shadowed
    assert environment == {"clash-token": "ours"}
    shadowed = {m["project"]: (m["origin"], m["attached"], m["shadowed"]) for m in listing}
    assert shadowed == {
        "proj-a": ("project", False, False),
        "proj-b": ("shared", True, True),
        "proj-c": ("shared", True, True),
    }
    assert (await api("GET", "secrets", from_b["id"])).body["shadowed"] is True
    # When proj-a deletes its own
    assert (await api("DELETE", "secrets", own["id"])).status == 204
    # Then the shared one of the first project by name wins, and only the other is shadowed
    assert await _environment(api) == {"clash-token": "from-b"}
    listing = (await api("GET", "secrets")).body["secrets"]
    assert [(m["project"], m["shadowed"]) for m in listing] == [
        ("proj-b", False),
        ("proj-c", True),
    ]
    assert (await api("GET", "secrets", from_c["id"])).body["shadowed"] is True
    # When proj-b's is removed from proj-a, proj-c's takes over
    assert (await api("DELETE", "secrets", from_b["id"], "attachment")).body["shadowed"] is False
    assert await _environment(api) == {"clash-token": "from-c"}


async def test_unsharing_and_deleting_reach_the_other_project(api: Api, proj_b: Server) -> None:
    # Given two proj-b secrets shared with ml-team and added to proj-a
    first = await _create(proj_b, "first-token", "one")
    second = await _create(proj_b, "second-token", "two")
    for secret in (first, second):
        assert (await _share(proj_b, secret["id"], ["ml-team"], "alice")).status == 200
        assert (await api("PUT", "secrets", secret["id"], "attachment")).status == 200
    assert await _environment(api) == {"first-token": "one", "second-token": "two"}
    # When alice unshares the first on proj-b's server
    assert (await _share(proj_b, first["id"], [], "alice")).status == 200
    # Then proj-a neither lists nor injects it, and cannot reach it by ID
    assert await _names(api) == [("second-token", "proj-b", "shared")]
    assert await _environment(api) == {"second-token": "two"}
    assert (await api("GET", "secrets", first["id"])).status == 404
    assert (await api("POST", "secrets", first["id"], "reveal")).status == 404
    # When proj-b deletes the second
    assert (await proj_b.api("DELETE", "secrets", second["id"])).status == 204
    # Then it is gone everywhere
    assert await _names(api) == []
    assert await _environment(api) == {}
    assert (await api("GET", "secrets", second["id"])).status == 404
    assert (await proj_b.api("GET", "secrets", second["id"])).status == 404
    assert await _names(proj_b.api) == [("first-token", "proj-b", "project")]


async def test_a_project_outside_the_community_gets_404_for_its_secrets(
    api: Api, proj_b: Server, proj_c: Server
) -> None:
    # Given proj-b's secret shared with ml-team, which proj-c is not in
    secret = await _create(proj_b, "team-token", "from-b")
    assert (await _share(proj_b, secret["id"], ["ml-team"], "alice")).status == 200
    # When anyone on proj-c's server, alice (admin of ml-team) included, reaches it by ID
    for user in ("carol", "alice"):
        for method, path, body in [
            ("GET", (), None),
            ("POST", ("reveal",), None),
            ("POST", ("copy",), {"name": "stolen"}),
            ("PATCH", (), {"version": 1, "value": "x"}),
            ("DELETE", (), None),
            ("PUT", ("attachment",), None),
            ("DELETE", ("attachment",), None),
            ("PUT", ("access",), {"communities": []}),
        ]:
            options = {"body": body} if body is not None else {}
            reply = await proj_c.api(method, "secrets", secret["id"], *path, user=user, **options)
            # Then it is 404, as for a secret that does not exist
            assert (reply.status, reply.message) == (404, "No such secret."), (method, path)
    # And nothing changed
    assert await _names(proj_c.api) == []
    assert await _environment(proj_c.api) == {}
    assert await _names(api) == [("team-token", "proj-b", "shared")]
    assert (await proj_b.api("GET", "secrets", secret["id"])).body["version"] == 1
