"""Change detection by entity tags: what other servers' kernels and panels poll.

``GET environment`` and ``GET secrets`` send an ETag computed from metadata only, and answer
304 with no body to a matching ``If-None-Match``. proj-a is the test server; proj-b and proj-c
run servers of their own on the same store (a SQLite file, or PostgreSQL).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update

from jupyterlab_secrets.app import SecretsExtension
from jupyterlab_secrets.crypto import DecryptionError, Keyring
from jupyterlab_secrets.stores.sql import SqlSecretStore
from jupyterlab_secrets.stores.sql_schema import SecretRow

from .conftest import COMMUNITIES, Api, Reply, Server


@pytest.fixture
def secrets_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    """The test server works in proj-a, with communities, on each backend."""
    return {**backend_config, "project": "proj-a", "communities": COMMUNITIES}


class Poller:
    """Polls one route of one server as the frontend does: ``If-None-Match`` the last tag."""

    def __init__(self, call: Any, route: str) -> None:
        self.call = call
        self.route = route
        self.tag: str | None = None
        self.body: Any = None

    async def poll(self) -> Reply:
        headers = {"If-None-Match": self.tag} if self.tag else {}
        reply = await self.call("GET", self.route, headers=headers)
        assert reply.status in (200, 304), reply.body
        if reply.status == 200:
            assert reply.headers["ETag"] != self.tag
            self.tag, self.body = reply.headers["ETag"], reply.body
        else:
            assert reply.headers["ETag"] == self.tag
            assert reply.body is None
        return reply

    async def unchanged(self) -> bool:
        """Poll; True if the server said 304."""
        return (await self.poll()).status == 304

    async def changed(self) -> Any:
        """Poll, expecting a new body; return it (and check that it is stable again)."""
        reply = await self.poll()
        assert reply.status == 200
        assert await self.unchanged()
        return reply.body


async def _create(server: Server, name: str, value: str) -> dict[str, Any]:
    reply = await server.api("POST", "secrets", body={"name": name, "value": value})
    assert reply.status == 201, reply.body
    return reply.body


async def _share(server: Server, secret_id: str, communities: list[str]) -> None:
    reply = await server.api(
        "PUT", "secrets", secret_id, "access", body={"communities": communities}, user="alice"
    )
    assert reply.status == 200, reply.body


async def test_a_matching_tag_gets_304_with_no_body(api: Api) -> None:
    # Given a secret, and the environment and listing as first fetched
    await api("POST", "secrets", body={"name": "token", "value": "v"})
    for route, sensitive in (("environment", True), ("secrets", False)):
        first = await api("GET", route)
        tag = first.headers["ETag"]
        assert first.status == 200
        assert tag.startswith('"') and tag.endswith('"') and len(tag) == 34
        # When it is fetched again with that tag, weak or strong, alone or in a list, or *
        for header in (tag, f"W/{tag}", f'"stale", {tag}', "*"):
            again = await api("GET", route, headers={"If-None-Match": header})
            # Then the answer is 304, with the same tag and no body
            assert (again.status, again.body, again.headers["ETag"]) == (304, None, tag), header
            if sensitive:
                assert again.headers["Cache-Control"] == "no-store"
        # And a stale tag gets the whole body again
        stale = await api("GET", route, headers={"If-None-Match": '"stale"'})
        assert (stale.status, stale.body, stale.headers["ETag"]) == (200, first.body, tag)


async def test_the_environment_tag_follows_what_other_servers_change(
    api: Api, start_server: Callable[[str], Server]
) -> None:
    # Given proj-b's two secrets shared with ml-team and added to proj-a, and a third shared
    # but not added; proj-a polls its environment
    proj_b, proj_c = start_server("proj-b"), start_server("proj-c")
    edited = await _create(proj_b, "edited-token", "v1")
    deleted = await _create(proj_b, "deleted-token", "d")
    listed = await _create(proj_b, "listed-only", "l")
    for secret in (edited, deleted, listed):
        await _share(proj_b, secret["id"], ["ml-team"])
    for secret in (edited, deleted):
        assert (await api("PUT", "secrets", secret["id"], "attachment")).status == 200
    environment = Poller(api, "environment")
    assert (await environment.changed())["environment"] == {
        "deleted-token": "d",
        "edited-token": "v1",
    }
    # When nothing proj-a sees changes: proj-b's private secrets, or proj-c's
    await _create(proj_b, "private", "p")
    await _create(proj_c, "elsewhere", "e")
    # Then the poll is 304
    assert await environment.unchanged()
    # When proj-b edits the one proj-a lists but has not added
    patch = {"version": 1, "value": "l2"}
    assert (await proj_b.api("PATCH", "secrets", listed["id"], body=patch)).status == 200
    # Then the environment is the same (its tag follows all that proj-a sees, at O(1) cost)
    await environment.poll()
    assert environment.body["environment"] == {"deleted-token": "d", "edited-token": "v1"}
    assert await environment.unchanged()
    # When proj-b edits the value of an added secret on its server
    patch = {"version": 1, "value": "v2"}
    assert (await proj_b.api("PATCH", "secrets", edited["id"], body=patch)).status == 200
    # Then the next poll brings the new value
    assert (await environment.changed())["environment"] == {
        "deleted-token": "d",
        "edited-token": "v2",
    }
    # When it is renamed, it is no longer injected (it was added under its old name)
    patch = {"version": 2, "name": "renamed-token"}
    assert (await proj_b.api("PATCH", "secrets", edited["id"], body=patch)).status == 200
    assert (await environment.changed())["environment"] == {"deleted-token": "d"}
    # When proj-a adds it again, under its new name
    assert (await api("PUT", "secrets", edited["id"], "attachment")).status == 200
    assert (await environment.changed())["environment"] == {
        "deleted-token": "d",
        "renamed-token": "v2",
    }
    # When it is unshared
    await _share(proj_b, edited["id"], [])
    assert (await environment.changed())["environment"] == {"deleted-token": "d"}
    # When the other is deleted
    assert (await proj_b.api("DELETE", "secrets", deleted["id"])).status == 204
    assert (await environment.changed())["environment"] == {}
    # When proj-a adds the one it only listed
    assert (await api("PUT", "secrets", listed["id"], "attachment")).status == 200
    assert (await environment.changed())["environment"] == {"listed-only": "l2"}


async def test_the_listing_tag_follows_what_other_servers_change(
    api: Api, start_server: Callable[[str], Server]
) -> None:
    # Given proj-a polls its listing, and proj-b shares one secret with ml-team
    proj_b, proj_c = start_server("proj-b"), start_server("proj-c")
    listing = Poller(api, "secrets")
    assert (await listing.changed())["secrets"] == []
    shared = await _create(proj_b, "shared", "s")
    # When proj-b and proj-c change only what proj-a cannot see
    private = await _create(proj_b, "private", "p")
    await _create(proj_c, "elsewhere", "e")
    assert (await proj_b.api("DELETE", "secrets", private["id"])).status == 204
    # Then the listing is unchanged
    assert await listing.unchanged()
    # When proj-b shares its secret, edits it, and unshares it; and when it is deleted
    steps: list[tuple[str, Any]] = [
        ("share", lambda: _share(proj_b, shared["id"], ["ml-team"])),
        (
            "edit",
            lambda: proj_b.api("PATCH", "secrets", shared["id"], body={"version": 1, "value": "t"}),
        ),
        ("add", lambda: api("PUT", "secrets", shared["id"], "attachment")),
        ("share more", lambda: _share(proj_b, shared["id"], ["ml-team"])),
        ("unshare", lambda: _share(proj_b, shared["id"], [])),
    ]
    seen = []
    for label, step in steps:
        await step()
        if label == "share more":
            # (sharing with the same community again changes nothing)
            assert await listing.unchanged()
            continue
        # Then every change reaches proj-a's next poll
        body = await listing.changed()
        seen.append((label, [(m["name"], m["version"], m["attached"]) for m in body["secrets"]]))
    assert seen == [
        ("share", [("shared", 1, False)]),
        ("edit", [("shared", 2, False)]),
        ("add", [("shared", 2, True)]),
        ("unshare", []),
    ]
    await _share(proj_b, shared["id"], ["ml-team"])
    assert len((await listing.changed())["secrets"]) == 1
    assert (await proj_b.api("DELETE", "secrets", shared["id"])).status == 204
    assert (await listing.changed())["secrets"] == []


async def test_no_tag_is_computed_from_a_value(api: Api, extension: SecretsExtension) -> None:
    # Given two secrets, and the tags of the environment and the listing
    first = (await api("POST", "secrets", body={"name": "first", "value": "one"})).body
    await api("POST", "secrets", body={"name": "second", "value": "two"})
    environment = await api("GET", "environment")
    listing = await api("GET", "secrets")
    # When only a value differs, with every ID, name and version the same (its ciphertext is
    # replaced in the database without a new version)
    store = extension.store
    assert isinstance(store, SqlSecretStore)
    sealed = store.keyring.encrypt(b"changed behind", project="proj-a", secret_id=first["id"])
    with store.engine.begin() as connection:
        connection.execute(
            update(SecretRow)
            .where(SecretRow.id == first["id"])
            .values(ciphertext=sealed.ciphertext, nonce=sealed.nonce, key_id=sealed.key_id)
        )
    after = await api("GET", "environment")
    # Then the values differ, and the tags are the same: no value went into them
    assert after.body == {"environment": {"first": "changed behind", "second": "two"}}
    assert after.body != environment.body
    assert after.headers["ETag"] == environment.headers["ETag"]
    assert (await api("GET", "secrets")).headers["ETag"] == listing.headers["ETag"]
    # And no other route sends a tag at all (tornado's default hashes the body)
    assert "ETag" not in (await api("GET", "secrets", first["id"])).headers
    assert "ETag" not in (await api("POST", "secrets", first["id"], "reveal")).headers
    assert "ETag" not in (await api("GET", "communities")).headers
    body_hash = hashlib.sha1(b'{"environment": {"first": "one", "second": "two"}}').hexdigest()
    assert environment.headers["ETag"] != f'"{body_hash}"'


async def test_a_poll_that_matches_decrypts_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a secret and the environment's tag
    await api("POST", "secrets", body={"name": "token", "value": "v"})
    tag = (await api("GET", "environment")).headers["ETag"]

    # When decryption would fail, and the environment is polled with that tag
    def refuse(*args: Any, **kwargs: Any) -> bytes:
        raise DecryptionError("decryption was attempted")

    monkeypatch.setattr(Keyring, "decrypt", refuse)
    polled = await api("GET", "environment", headers={"If-None-Match": tag})
    # Then it is 304 all the same: nothing was decrypted
    assert polled.status == 304
    # (whereas a full answer needs to decrypt: it leaves out what it cannot)
    full = await api("GET", "environment")
    assert (full.status, full.body) == (200, {"environment": {}})
