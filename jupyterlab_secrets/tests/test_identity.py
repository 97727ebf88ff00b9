"""Who an action is recorded under: on a server with token login, jupyter_server makes every
client an anonymous user with a random name, a new one per client; a secret's History and the
audit log name the account that runs the server instead, the same for every client. A provider
that names its users keeps their names, whatever they look like. Through a real server."""

from __future__ import annotations

import getpass
import json
from typing import Any

import pytest
from jupyter_server.auth.identity import PasswordIdentityProvider, User
from traitlets.config import Config

from .conftest import Api

ACCOUNT = getpass.getuser()
"""The account that runs the test server (and the tests)."""


class HeaderOrAnonymous(PasswordIdentityProvider):
    """An operator's own provider: a user named by the ``X-Test-User`` header, or, without it,
    jupyter_server's anonymous user (from the base class)."""

    async def get_user(self, handler: Any) -> User | None:
        user = await super().get_user(handler)
        name = handler.request.headers.get("X-Test-User")
        if user is None or not name:
            return user
        return User(username=name)


@pytest.fixture
def provider(request: pytest.FixtureRequest) -> type:
    """The identity provider of the test server (jupyter_server's default unless a test
    asks for another)."""
    return getattr(request, "param", PasswordIdentityProvider)


@pytest.fixture
def jp_server_config(jp_server_config: Config, provider: type) -> Config:
    """The test server with the identity provider of the test."""
    jp_server_config.ServerApp.identity_provider_class = provider
    return jp_server_config


async def me(jp_fetch: Any) -> str:
    """The user jupyter_server sees for a client of its own (a request with no cookie)."""
    reply = await jp_fetch("api", "me", method="GET")
    return str(json.loads(reply.body)["identity"]["username"])


async def test_anonymous_clients_are_recorded_as_the_servers_account(
    api: Api, jp_fetch: Any
) -> None:
    # Given a server with jupyter_server's own token login, which names each client anew
    first_client, second_client = await me(jp_fetch), await me(jp_fetch)
    assert first_client != second_client and ACCOUNT not in (first_client, second_client)
    # When one client creates a secret and another edits it (no header names them)
    created = await api("POST", "secrets", body={"name": "shared-key", "value": "value-1"}, user="")
    assert created.status == 201
    edited = await api(
        "PATCH",
        "secrets",
        created.body["id"],
        body={"version": 1, "value": "value-2"},
        user="",
    )
    assert edited.status == 200
    # Then the secret's History names one and the same person: the server's account
    versions = await api("GET", "secrets", created.body["id"], "versions", user="")
    assert [v["updated_by"] for v in versions.body["versions"]] == [ACCOUNT, ACCOUNT]
    assert edited.body["created_by"] == ACCOUNT
    # And so does the audit log
    events = await api("GET", "audit", user="")
    assert {(e["action"], e["user"]) for e in events.body["events"]} == {
        ("create", ACCOUNT),
        ("update", ACCOUNT),
    }


@pytest.mark.parametrize("provider", [HeaderOrAnonymous], indirect=True)
async def test_a_provider_that_names_its_users_keeps_their_names(api: Api) -> None:
    # Given a provider that names users, and falls back to jupyter_server's anonymous user
    hex_name = "0123456789abcdef0123456789abcdef"
    # When a named user, a user whose name looks like a random one, and an anonymous client
    # each create a secret
    for name, user in (("by-carol", "carol"), ("by-hex", hex_name), ("by-nobody", "")):
        created = await api("POST", "secrets", body={"name": name, "value": "v"}, user=user)
        assert created.status == 201
    # Then the named ones keep their names, and only the anonymous one is the account
    events = await api("GET", "audit", user="carol")
    assert {(e["secret_name"], e["user"]) for e in events.body["events"]} == {
        ("by-carol", "carol"),
        ("by-hex", hex_name),
        ("by-nobody", ACCOUNT),
    }
