"""The listing, its entries, and the change marker its entity tag comes from.

The rules are the same on every backend, so these run on SQLite through the service (and,
for the tag, its REST layer, without HTTP).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from jupyterlab_secrets.rest import SecretsApi, listing_json
from jupyterlab_secrets.service import SecretMeta, SecretsService

Make = Callable[..., SecretsService]


def check(service: SecretsService) -> dict[tuple[str, str], SecretMeta]:
    """The listing, by (project, name); each entry equals the secret's Meta alone."""
    listing = service.list("alice")
    assert listing.project == service.project
    for meta in listing.secrets:
        assert service.get("alice", meta.id) == meta
    return {(m.project, m.name): m for m in listing.secrets}


def test_the_listing_follows_every_kind_of_change(make_service: Make) -> None:
    # Given three projects on one store
    proj_a, proj_b, proj_c = make_service("proj-a"), make_service("proj-b"), make_service("proj-c")
    x = proj_a.create("alice", "x-token", "v").id
    y = proj_a.create("alice", "y-token", "v").id
    assert set(check(proj_a)) == {("proj-a", "x-token"), ("proj-a", "y-token")}
    markers = [proj_a.change_marker()]

    def moved() -> bool:
        markers.append(proj_a.change_marker())
        return markers[-1] != markers[-2]

    # When proj-a shares one of its own (no new version)
    proj_a.set_access("alice", x, ["ml-team"])
    assert check(proj_a)[("proj-a", "x-token")].shared_with == ("ml-team",)
    assert moved()
    # When proj-b shares "clash-key" and proj-a adds it
    from_b = proj_b.create("alice", "clash-key", "v").id
    proj_b.set_access("alice", from_b, ["ml-team"])
    assert check(proj_a)[("proj-b", "clash-key")].shared_with == ("ml-team",)
    assert moved()
    proj_a.set_attached("alice", from_b, True)
    assert check(proj_a)[("proj-b", "clash-key")].explanation.attached is True
    assert moved()
    # When proj-a creates its own "clash-key" (proj-b's row does not change, its standing does)
    own = proj_a.create("alice", "clash-key", "v").id
    assert check(proj_a)[("proj-b", "clash-key")].explanation.shadowed is True
    assert moved()
    # When proj-c shares and proj-a adds another "clash-key", then deletes its own
    from_c = proj_c.create("alice", "clash-key", "v").id
    proj_c.set_access("bob", from_c, ["data-team"])
    proj_a.set_attached("alice", from_c, True)
    listing = check(proj_a)
    assert (
        listing[("proj-b", "clash-key")].explanation.shadowed,
        listing[("proj-c", "clash-key")].explanation.shadowed,
    ) == (
        True,
        True,
    )
    proj_a.delete("alice", own)
    listing = check(proj_a)
    assert (
        listing[("proj-b", "clash-key")].explanation.shadowed,
        listing[("proj-c", "clash-key")].explanation.shadowed,
    ) == (
        False,
        True,
    )
    assert moved()
    # When proj-b renames its secret (proj-a no longer injects it), then unshares it
    proj_b.patch("alice", from_b, 1, name="renamed-key")
    listing = check(proj_a)
    assert listing[("proj-b", "renamed-key")].version == 2
    assert listing[("proj-b", "renamed-key")].explanation.not_injected_reason == "renamed"
    assert listing[("proj-c", "clash-key")].explanation.shadowed is False
    assert moved()
    proj_b.set_access("alice", from_b, [])
    assert ("proj-b", "renamed-key") not in check(proj_a)
    assert moved()
    # When proj-a edits one and deletes the other
    proj_a.patch("alice", x, 1, value="w")
    assert check(proj_a)[("proj-a", "x-token")].version == 2
    proj_a.delete("alice", y)
    assert set(check(proj_a)) == {("proj-a", "x-token"), ("proj-c", "clash-key")}
    assert moved()
    # And proj-c's removed from proj-a is listed, not added
    proj_a.set_attached("alice", from_c, False)
    assert check(proj_a)[("proj-c", "clash-key")].explanation.attached is False
    assert moved()


def test_the_marker_stays_while_nothing_the_project_sees_changes(make_service: Make) -> None:
    # Given proj-a's marker
    proj_a, proj_b, proj_c = make_service("proj-a"), make_service("proj-b"), make_service("proj-c")
    proj_a.create("alice", "mine", "v")
    marker = proj_a.change_marker()
    # When proj-b and proj-c change secrets proj-a cannot see, and a share is set again
    private = proj_b.create("alice", "private", "p").id
    proj_b.patch("alice", private, 1, value="q")
    proj_b.delete("alice", private)
    proj_c.create("alice", "elsewhere", "e")
    # Then its marker is the same
    assert proj_a.change_marker() == marker
    # But another server's configuration of the same project has its own
    assert make_service("proj-a", redact_outputs=False).change_marker() != marker


def test_listings_are_sorted_by_name_own_first(make_service: Make) -> None:
    proj_a = make_service("proj-a")
    for name in ("zeta", "Alpha", "beta"):
        proj_a.create("alice", name, "v")
    proj_b = make_service("proj-b")
    shared = proj_b.create("alice", "beta", "v").id
    proj_b.set_access("alice", shared, ["ml-team"])
    names = [(m.name, m.explanation.origin) for m in proj_a.list("alice").secrets]
    assert names == [
        ("Alpha", "project"),
        ("beta", "project"),
        ("beta", "shared"),
        ("zeta", "project"),
    ]


def holds(*tags: str | None) -> Callable[[str], bool]:
    """A client's ``If-None-Match``, as the handler matches it: whether it holds a tag."""
    return lambda tag: tag in tags


async def test_a_change_while_a_listing_is_read_is_never_served_under_a_newer_tag(
    make_service: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a secret, and the REST layer over its project's service
    service = make_service("proj-a")
    secret_id = service.create("alice", "token", "v").id
    api = SecretsApi(service)
    first = await api.listing("alice", holds())
    listing = service.list

    def shared_meanwhile(user: str) -> Any:
        monkeypatch.setattr(service, "list", listing)
        service.set_access("alice", secret_id, ["ml-team"])
        return listing(user)

    monkeypatch.setattr(service, "list", shared_meanwhile)
    service.patch("alice", secret_id, 1, value="w")
    # When it is shared between the reading of the tag and of the rows
    racing = await api.listing("alice", holds())
    # Then that body is the newer one, under the older tag
    assert racing.body is not None
    assert json.loads(racing.body)["secrets"][0]["shared_with"] == ["ml-team"]
    # And the next poll with that tag gets the current state, under a new tag
    after = await api.listing("alice", holds(racing.tag))
    assert after.status == 200
    assert after.tag not in (first.tag, racing.tag)
    assert after.body is not None
    assert json.loads(after.body) == json.loads(json.dumps(listing_json(service.list("alice"))))
    # And then it is stable
    assert (await api.listing("alice", holds(after.tag))).status == 304
