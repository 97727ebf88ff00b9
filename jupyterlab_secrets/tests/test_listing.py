"""The listing's JSON, built from per-secret pieces kept between requests, is always the listing.

The rules are the same on every backend, so these run on SQLite through the service.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.store import SecretsStore

Make = Callable[[str], SecretsService]


def _body(service: SecretsService, known: tuple[str, ...] = ()) -> Any:
    tagged = service.listing("alice", known)
    assert tagged.body is not None
    return json.loads(tagged.body)


def check(service: SecretsService) -> dict[str, Any]:
    """The JSON listing equals `list`, each entry equals its Meta alone, and the tags agree."""
    body = _body(service)
    assert body == service.list("alice")
    for meta in body["secrets"]:
        assert service.get("alice", meta["id"]) == meta
    tag = service.listing("alice").tag
    assert service.list_tag("alice") == tag
    assert service.listing("alice", (tag,)).body is None
    return {(m["project"], m["name"]): m for m in body["secrets"]}


def _create(service: SecretsService, name: str, value: str = "v") -> str:
    body = json.dumps({"name": name, "value": value}).encode()
    return service.create("alice", body)["id"]


def test_the_listing_follows_every_kind_of_change(make_service: Make) -> None:
    # Given three projects on one store
    proj_a, proj_b, proj_c = make_service("proj-a"), make_service("proj-b"), make_service("proj-c")
    x = _create(proj_a, "x-token")
    y = _create(proj_a, "y-token")
    assert set(check(proj_a)) == {("proj-a", "x-token"), ("proj-a", "y-token")}
    # When proj-a shares one of its own (no new version)
    proj_a.set_access("alice", x, b'{"communities": ["ml-team"]}')
    assert check(proj_a)[("proj-a", "x-token")]["shared_with"] == ["ml-team"]
    # When proj-b shares "clash" (shares change no version) and proj-a adds it
    from_b = _create(proj_b, "clash")
    proj_b.set_access("alice", from_b, b'{"communities": ["ml-team"]}')
    assert check(proj_a)[("proj-b", "clash")]["shared_with"] == ["ml-team"]
    proj_a.set_attached("alice", from_b, True)
    assert check(proj_a)[("proj-b", "clash")]["attached"] is True
    # When proj-a creates its own "clash" (proj-b's row does not change, its standing does)
    own = _create(proj_a, "clash")
    assert check(proj_a)[("proj-b", "clash")]["shadowed"] is True
    # When proj-c shares and proj-a adds another "clash", then deletes its own
    from_c = _create(proj_c, "clash")
    proj_c.set_access("bob", from_c, b'{"communities": ["data-team"]}')
    proj_a.set_attached("alice", from_c, True)
    listing = check(proj_a)
    assert (listing[("proj-b", "clash")]["shadowed"], listing[("proj-c", "clash")]["shadowed"]) == (
        True,
        True,
    )
    proj_a.delete("alice", own)
    listing = check(proj_a)
    assert (listing[("proj-b", "clash")]["shadowed"], listing[("proj-c", "clash")]["shadowed"]) == (
        False,
        True,
    )
    # When proj-b renames its secret, then unshares it
    proj_b.patch("alice", from_b, b'{"version": 1, "name": "renamed"}')
    listing = check(proj_a)
    assert listing[("proj-b", "renamed")]["version"] == 2
    assert listing[("proj-c", "clash")]["shadowed"] is False
    proj_b.set_access("alice", from_b, b'{"communities": []}')
    assert ("proj-b", "renamed") not in check(proj_a)
    # When proj-a edits one and deletes the other
    proj_a.patch("alice", x, b'{"version": 1, "value": "w"}')
    assert check(proj_a)[("proj-a", "x-token")]["version"] == 2
    proj_a.delete("alice", y)
    assert set(check(proj_a)) == {("proj-a", "x-token"), ("proj-c", "clash")}
    # And proj-c removed from proj-a leaves only its own
    proj_a.set_attached("alice", from_c, False)
    assert check(proj_a)[("proj-c", "clash")]["attached"] is False


def test_a_listing_after_one_change_reads_only_that_secret(
    make_service: Make, sqlite_store: SecretsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a project with 300 secrets, listed once
    service = make_service("proj-a")
    ids = [_create(service, f"token-{index:03d}") for index in range(300)]
    first = _body(service)
    reads: list[Any] = []
    metas = SecretsStore.metas

    def counting(self: SecretsStore, *args: Any, **kwargs: Any) -> Any:
        reads.append(kwargs.get("ids"))
        return metas(self, *args, **kwargs)

    monkeypatch.setattr(SecretsStore, "metas", counting)
    # When nothing changes, it is listed again without reading any row's metadata
    assert _body(service) == first
    assert reads == []
    # When one secret is edited
    service.patch("alice", ids[7], b'{"version": 1, "value": "new"}')
    listing = _body(service)
    # Then only that one is read again, and the listing is right
    assert reads == [[ids[7]]]
    assert listing == service.list("alice")
    assert listing["secrets"][7]["version"] == 2


def test_a_change_between_the_two_reads_of_a_listing_is_never_served_stale(
    make_service: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a listed secret that is then edited, so the next listing reads it again
    service = make_service("proj-a")
    secret_id = _create(service, "token")
    _body(service)
    service.patch("alice", secret_id, b'{"version": 1, "value": "new"}')
    metas = SecretsStore.metas

    def shared_meanwhile(self: SecretsStore, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(SecretsStore, "metas", metas)
        service.set_access("alice", secret_id, b'{"communities": ["ml-team"]}')
        return metas(self, *args, **kwargs)

    monkeypatch.setattr(SecretsStore, "metas", shared_meanwhile)
    # When it is shared between the listing's read of tags and its read of rows
    racing = service.listing("alice")
    assert racing.body is not None
    assert json.loads(racing.body)["secrets"][0]["shared_with"] == ["ml-team"]
    # And unshared again, which brings back the state the first read saw (and its tag)
    service.set_access("alice", secret_id, b'{"communities": []}')
    after = service.listing("alice")
    # Then the listing is right, not the body served during the race
    assert after.tag == racing.tag
    assert after.body is not None
    assert json.loads(after.body) == service.list("alice")
    assert json.loads(after.body)["secrets"][0]["shared_with"] == []
