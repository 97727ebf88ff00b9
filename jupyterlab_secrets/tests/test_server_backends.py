"""The whole API on each database backend, through a real server."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api


@pytest.fixture
def secrets_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    """The test server on each backend."""
    return backend_config


async def test_a_secrets_life_on_each_backend(api: Api) -> None:
    # Given an empty project
    value = "línea 1\nline 2 🙂"
    # When a secret is created, read, renamed, copied, revealed and deleted
    created = await api("POST", "secrets", body={"name": "life", "value": value})
    assert created.status == 201
    secret_id = created.body["id"]
    assert (await api("GET", "secrets", secret_id)).body == created.body
    renamed = await api("PATCH", "secrets", secret_id, body={"version": 1, "name": "life-2"})
    assert (renamed.status, renamed.body["version"]) == (200, 2)
    stale = await api("PATCH", "secrets", secret_id, body={"version": 1, "value": "lost"})
    assert stale.status == 409
    taken = await api("POST", "secrets", body={"name": "life-2", "value": "x"})
    assert taken.status == 409
    copied = await api("POST", "secrets", secret_id, "copy", body={"name": "life-copy"})
    assert copied.status == 201
    # Then values come back byte for byte, and deletion removes only the one secret
    assert (await api("POST", "secrets", secret_id, "reveal")).body == {"value": value}
    assert (await api("GET", "environment")).body == {
        "environment": {"life-2": value, "life-copy": value}
    }
    assert (await api("DELETE", "secrets", secret_id)).status == 204
    listing = await api("GET", "secrets")
    assert [m["name"] for m in listing.body["secrets"]] == ["life-copy"]
