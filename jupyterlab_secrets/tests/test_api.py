"""The REST contract, route by route, through a real jupyter_server."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from jupyterlab_secrets.app import SecretsExtension
from jupyterlab_secrets.crypto import Keyring, generate_key
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import Api, snapshot

META_KEYS = {
    "id",
    "name",
    "project",
    "created_by",
    "created_at",
    "updated_at",
    "version",
    "shared_with",
    "origin",
    "attached",
    "editable",
    "shadowed",
    "injected",
    "not_injected_reason",
    "attached_name",
    "hidden_in_outputs",
}
"""The Meta fields of the contract, plus those that explain a state (see `SecretMeta`)."""


def _utc(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.utcoffset() == dt.timedelta(0)
    return moment


async def create_secret(api: Api, name: str, value: str = "v@lue") -> dict[str, Any]:
    reply = await api("POST", "secrets", body={"name": name, "value": value})
    assert reply.status == 201, reply.body
    return reply.body


async def test_create_answers_the_meta_and_never_the_value(api: Api) -> None:
    # Given an empty project
    # When a secret is created
    reply = await api("POST", "secrets", body={"name": "my-api-key", "value": "s3cr3t\nline2"})
    # Then the answer is 201 with exactly the Meta fields
    assert reply.status == 201
    meta = reply.body
    assert set(meta) == META_KEYS
    assert meta["name"] == "my-api-key"
    assert meta["project"] == "default"
    assert meta["created_by"] == "alice"
    assert meta["version"] == 1
    assert meta["shared_with"] == []
    assert meta["origin"] == "project"
    assert meta["attached"] is False
    assert meta["editable"] is True
    assert len(meta["id"]) == 32 and int(meta["id"], 16) >= 0
    assert _utc(meta["created_at"]) == _utc(meta["updated_at"])
    assert abs(_utc(meta["created_at"]) - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(
        minutes=1
    )
    assert "s3cr3t" not in str(meta)


async def test_list_shows_the_project_and_its_secrets_sorted_by_name(api: Api) -> None:
    # Given secrets created out of order
    for name in ("zeta", "Alpha", "beta"):
        await create_secret(api, name)
    # When the project's secrets are listed
    reply = await api("GET", "secrets")
    # Then they come sorted by name, without values
    assert reply.status == 200
    assert reply.body["project"] == "default"
    assert [m["name"] for m in reply.body["secrets"]] == ["Alpha", "beta", "zeta"]
    assert all(set(m) == META_KEYS for m in reply.body["secrets"])
    assert "v@lue" not in str(reply.body)


async def test_get_answers_one_meta(api: Api) -> None:
    # Given a secret
    created = await create_secret(api, "token")
    # When it is fetched by ID
    reply = await api("GET", "secrets", created["id"])
    # Then the Meta is the same as at creation
    assert reply.status == 200
    assert reply.body == created


async def test_reveal_answers_the_value_byte_for_byte_and_is_not_cached(api: Api) -> None:
    # Given a secret with newlines and non-ASCII text
    value = "пароль\r\n\ttab 🙂 \u2028 end "
    created = await create_secret(api, "unicode-value", value)
    # When it is revealed
    reply = await api("POST", "secrets", created["id"], "reveal")
    # Then the value is returned exactly, with no-store
    assert reply.status == 200
    assert reply.body == {"value": value}
    assert "no-store" in reply.headers["Cache-Control"]


async def test_patch_renames_changes_the_value_and_bumps_the_version(api: Api) -> None:
    # Given a secret at version 1
    created = await create_secret(api, "old-name", "old")
    # When its name is changed
    renamed = await api("PATCH", "secrets", created["id"], body={"version": 1, "name": "new-name"})
    # Then the name and version change, the value stays
    assert renamed.status == 200
    assert renamed.body["name"] == "new-name"
    assert renamed.body["version"] == 2
    assert _utc(renamed.body["updated_at"]) >= _utc(created["updated_at"])
    assert renamed.body["created_at"] == created["created_at"]
    assert (await api("POST", "secrets", created["id"], "reveal")).body == {"value": "old"}
    # When its value is changed
    changed = await api("PATCH", "secrets", created["id"], body={"version": 2, "value": "new"})
    # Then the value changes and the version is 3
    assert changed.status == 200
    assert changed.body["version"] == 3
    assert (await api("POST", "secrets", created["id"], "reveal")).body == {"value": "new"}
    # When both change at once
    both = await api(
        "PATCH", "secrets", created["id"], body={"version": 3, "name": "both", "value": "b"}
    )
    assert both.status == 200
    assert (both.body["name"], both.body["version"]) == ("both", 4)
    assert (await api("POST", "secrets", created["id"], "reveal")).body == {"value": "b"}


async def test_patch_may_keep_the_same_name(api: Api) -> None:
    # Given a secret
    created = await create_secret(api, "same-name", "one")
    # When it is saved with its own name and a new value
    reply = await api(
        "PATCH", "secrets", created["id"], body={"version": 1, "name": "same-name", "value": "two"}
    )
    # Then it is not a name clash with itself
    assert reply.status == 200
    assert reply.body["version"] == 2


async def test_delete_removes_the_secret(api: Api) -> None:
    # Given two secrets
    doomed = await create_secret(api, "doomed")
    kept = await create_secret(api, "kept")
    # When one is deleted
    reply = await api("DELETE", "secrets", doomed["id"])
    # Then the answer is 204, it is gone, the other one stays
    assert reply.status == 204
    assert reply.body is None
    assert (await api("GET", "secrets", doomed["id"])).status == 404
    listing = await api("GET", "secrets")
    assert [m["id"] for m in listing.body["secrets"]] == [kept["id"]]
    # And its name can be used again
    await create_secret(api, "doomed")


async def test_copy_makes_an_independent_secret(api: Api) -> None:
    # Given a secret
    source = await create_secret(api, "original", "shared-value")
    # When it is copied without a value
    copy = await api("POST", "secrets", source["id"], "copy", body={"name": "clone"})
    # Then a new secret with the same value exists in this project
    assert copy.status == 201
    assert copy.body["id"] != source["id"]
    assert (copy.body["name"], copy.body["version"], copy.body["origin"]) == ("clone", 1, "project")
    assert (await api("POST", "secrets", copy.body["id"], "reveal")).body == {
        "value": "shared-value"
    }
    # When the original is edited and then deleted
    await api("PATCH", "secrets", source["id"], body={"version": 1, "value": "changed"})
    await api("DELETE", "secrets", source["id"])
    # Then the copy is untouched
    assert (await api("GET", "secrets", copy.body["id"])).body["version"] == 1
    assert (await api("POST", "secrets", copy.body["id"], "reveal")).body == {
        "value": "shared-value"
    }


async def test_copy_with_a_new_value(api: Api) -> None:
    # Given a secret
    source = await create_secret(api, "original", "first")
    # When it is copied with new content
    copy = await api(
        "POST", "secrets", source["id"], "copy", body={"name": "other", "value": "2nd"}
    )
    # Then the copy has the new content and the source keeps its own
    assert copy.status == 201
    assert (await api("POST", "secrets", copy.body["id"], "reveal")).body == {"value": "2nd"}
    assert (await api("POST", "secrets", source["id"], "reveal")).body == {"value": "first"}


async def test_environment_holds_every_own_secret_and_is_not_cached(api: Api) -> None:
    # Given two secrets
    await create_secret(api, "first", "1")
    await create_secret(api, "second", "two\nlines")
    # When the environment is asked for
    reply = await api("GET", "environment")
    # Then it maps names to values, with no-store
    assert reply.status == 200
    assert reply.body == {"environment": {"first": "1", "second": "two\nlines"}}
    assert "no-store" in reply.headers["Cache-Control"]


async def test_no_other_response_holds_a_value(api: Api) -> None:
    # Given a secret with a recognisable value
    marker = "VALUE-MARKER-7f3a"
    created = await create_secret(api, "marked", marker)
    # When every non-value route is called
    replies = [
        await api("GET", "secrets"),
        await api("GET", "secrets", created["id"]),
        await api("PATCH", "secrets", created["id"], body={"version": 1, "name": "marked2"}),
        await api("POST", "secrets", created["id"], "copy", body={"name": "marked3"}),
        await api("GET", "communities"),
    ]
    # Then none holds the value
    for reply in replies:
        assert reply.status in (200, 201)
        assert marker not in str(reply.body)


async def test_communities_of_a_project_without_any(api: Api) -> None:
    # Given no communities are configured
    # When they are listed
    reply = await api("GET", "communities")
    # Then the list is empty
    assert reply.status == 200
    assert reply.body == {"communities": []}


async def test_routes_accept_a_trailing_slash(api: Api) -> None:
    # Given a secret
    created = await create_secret(api, "slashed")
    # When routes are called with a trailing slash
    # Then they answer as without one
    assert (await api("GET", "secrets/")).status == 200
    assert (await api("GET", "secrets", created["id"] + "/")).status == 200


UNKNOWN_ID_CALLS = [
    ("GET", (), None),
    ("PATCH", (), {"version": 1, "name": "abc"}),
    ("DELETE", (), None),
    ("POST", ("reveal",), None),
    ("POST", ("copy",), {"name": "abc"}),
    ("PUT", ("access",), {"communities": []}),
    ("PUT", ("attachment",), None),
    ("DELETE", ("attachment",), None),
    ("GET", ("versions",), None),
    ("POST", ("versions", "1", "restore"), {"version": 1}),
]


@pytest.mark.parametrize("secret_id", ["0" * 32, "not-an-id", "%00", "x" * 300])
@pytest.mark.parametrize(("method", "suffix", "body"), UNKNOWN_ID_CALLS)
async def test_unknown_ids_are_404(
    api: Api, method: str, suffix: tuple[str, ...], body: Any, secret_id: str
) -> None:
    await assert_no_such_secret(api, method, ("secrets", secret_id, *suffix), body)


async def assert_no_such_secret(api: Api, method: str, path: tuple[str, ...], body: Any) -> None:
    """Given a project with one secret, a call of ``path`` is 404 and changes nothing."""
    await create_secret(api, "existing")
    before = await snapshot(api)
    kwargs = {"body": body} if body is not None else {}
    reply = await api(method, *path, **kwargs)
    assert reply.status == 404
    assert reply.body == {"message": "No such secret."}
    assert await snapshot(api) == before


ALL_ROUTES = [
    ("GET", ("secrets",), None),
    ("POST", ("secrets",), {"name": "abc", "value": "x"}),
    ("GET", ("secrets", "{id}"), None),
    ("PATCH", ("secrets", "{id}"), {"version": 1, "value": "changed"}),
    ("DELETE", ("secrets", "{id}"), None),
    ("POST", ("secrets", "{id}", "reveal"), None),
    ("POST", ("secrets", "{id}", "copy"), {"name": "copied"}),
    ("PUT", ("secrets", "{id}", "access"), {"communities": []}),
    ("PUT", ("secrets", "{id}", "attachment"), None),
    ("DELETE", ("secrets", "{id}", "attachment"), None),
    ("GET", ("communities",), None),
    ("GET", ("environment",), None),
    ("GET", ("audit",), None),
    ("GET", ("secrets", "{id}", "versions"), None),
    ("POST", ("secrets", "{id}", "versions", "1", "restore"), {"version": 1}),
    ("GET", ("kernels", "{id}"), None),
    ("POST", ("kernels", "{id}", "reload"), None),
]


@pytest.mark.parametrize(("method", "path", "body"), ALL_ROUTES)
async def test_unauthenticated_requests_are_refused(
    api: Api, method: str, path: tuple[str, ...], body: Any
) -> None:
    # Given a secret
    created = await create_secret(api, "guarded", "guarded-value")
    before = await snapshot(api)
    # When a route is called without a token
    parts = [part.replace("{id}", created["id"]) for part in path]
    kwargs = {"body": body} if body is not None else {}
    reply = await api(method, *parts, auth=False, **kwargs)
    # Then it is refused, shows no value, and changes nothing
    assert reply.status in (401, 403)
    assert "guarded-value" not in str(reply.body)
    assert await snapshot(api) == before


async def test_versions_list_each_kept_version_without_values(api: Api) -> None:
    # Given a secret created by alice and changed by bob
    created = await create_secret(api, "versioned", "first-value")
    await api(
        "PATCH", "secrets", created["id"], body={"version": 1, "value": "second-value"}, user="bob"
    )
    # When its versions are listed
    reply = await api("GET", "secrets", created["id"], "versions")
    # Then they come newest first, the first current, with who and when, and no value
    assert reply.status == 200
    versions = reply.body["versions"]
    assert [(v["version"], v["updated_by"], v["current"]) for v in versions] == [
        (2, "bob", True),
        (1, "alice", False),
    ]
    assert all(set(v) == {"version", "updated_at", "updated_by", "current"} for v in versions)
    assert _utc(versions[1]["updated_at"]) <= _utc(versions[0]["updated_at"])
    assert "value" not in str(reply.body)


async def test_restore_makes_a_new_version_with_the_old_value(api: Api) -> None:
    # Given a secret at version 2
    created = await create_secret(api, "restorable", "old-value")
    await api("PATCH", "secrets", created["id"], body={"version": 1, "value": "new-value"})
    path = ("secrets", created["id"], "versions", "1", "restore")
    before = await snapshot(api)
    # When version 1 is restored with a stale current version
    stale = await api("POST", *path, body={"version": 1})
    # Then it is 409, and nothing changed
    assert (stale.status, stale.body.get("field")) == (409, "version")
    assert await snapshot(api) == before
    # When a version no longer kept is restored
    gone = await api(
        "POST", "secrets", created["id"], "versions", "7", "restore", body={"version": 2}
    )
    assert gone.status == 404
    assert gone.message == "That version of the secret is no longer kept."
    assert await snapshot(api) == before
    # When it is restored with the current version
    restored = await api("POST", *path, body={"version": 2})
    # Then a new version 3 holds the old value
    assert restored.status == 200
    assert set(restored.body) == META_KEYS
    assert restored.body["version"] == 3
    assert (await api("POST", "secrets", created["id"], "reveal")).body == {"value": "old-value"}
    assert "old-value" not in str(restored.body)
    versions = (await api("GET", "secrets", created["id"], "versions")).body["versions"]
    assert [v["version"] for v in versions] == [3, 2, 1]


async def test_one_undecryptable_value_keeps_the_others_served(
    api: Api, extension: SecretsExtension
) -> None:
    # Given two secrets, one of which is then written by a server with another key
    good = await create_secret(api, "good-one", "good-value")
    bad = await create_secret(api, "bad-one", "bad-value")
    store = extension.store
    assert isinstance(store, SqlSecretStore)
    other = SqlSecretStore(db_url=store.db_url, keyring=Keyring([generate_key()]))
    try:
        other.update(View("default"), bad["id"], expected_version=1, user="x", value="lost")
    finally:
        other.close()
    # When the environment is asked for
    environment = await api("GET", "environment")
    # Then it serves every other secret
    assert (environment.status, environment.body) == (
        200,
        {"environment": {"good-one": "good-value"}},
    )
    # And the listing marks the bad one
    listing = {m["name"]: m for m in (await api("GET", "secrets")).body["secrets"]}
    assert (listing["bad-one"]["injected"], listing["bad-one"]["not_injected_reason"]) == (
        False,
        "undecryptable",
    )
    assert listing["good-one"]["injected"] is True
    # And revealing it is a clear error of the server's keys (503), not a 500
    revealed = await api("POST", "secrets", bad["id"], "reveal")
    assert revealed.status == 503
    assert "cannot be decrypted with the configured key" in revealed.message
    assert (await api("POST", "secrets", good["id"], "reveal")).body == {"value": "good-value"}
