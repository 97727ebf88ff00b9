"""Who may do what: jupyter_server's `Authorizer` decides each action on resource ``secrets``.

Listing, metadata, versions and the audit log need ``read``; create, edit, delete, share and
add need ``write``; whatever answers or uses a value (reveal, environment, copy, restore) needs
``execute``. The user ``limited`` is granted only the actions of the module's authorizer;
everyone else is granted everything.
"""

from __future__ import annotations

from typing import Any

import pytest
from jupyter_server.auth.authorizer import Authorizer
from traitlets.config import Config

from .conftest import Api, snapshot
from .test_api import create_secret

ROUTES = [
    ("GET", ("secrets",), None, "read"),
    ("GET", ("secrets", "{id}"), None, "read"),
    ("GET", ("secrets", "{id}", "versions"), None, "read"),
    ("GET", ("communities",), None, "read"),
    ("GET", ("audit",), None, "read"),
    ("POST", ("secrets",), {"name": "created", "value": "x"}, "write"),
    ("PATCH", ("secrets", "{id}"), {"version": 1, "value": "changed"}, "write"),
    ("DELETE", ("secrets", "{id}"), None, "write"),
    ("PUT", ("secrets", "{id}", "access"), {"communities": []}, "write"),
    ("PUT", ("secrets", "{id}", "attachment"), None, "write"),
    ("DELETE", ("secrets", "{id}", "attachment"), None, "write"),
    ("POST", ("secrets", "{id}", "reveal"), None, "execute"),
    ("GET", ("environment",), None, "execute"),
    ("POST", ("secrets", "{id}", "copy"), {"name": "copied"}, "execute"),
    ("POST", ("secrets", "{id}", "versions", "1", "restore"), {"version": 1}, "execute"),
]


class LimitedAuthorizer(Authorizer):
    """Grants the user ``limited`` only the actions in ``allowed``; others, everything."""

    allowed: frozenset[str] = frozenset()

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if user.username != "limited":
            return True
        return resource == "secrets" and action in self.allowed


class ReadOnly(LimitedAuthorizer):
    allowed = frozenset({"read"})


class ReadWrite(LimitedAuthorizer):
    allowed = frozenset({"read", "write"})


@pytest.fixture(params=[ReadOnly, ReadWrite], ids=["read", "read+write"])
def authorizer(request: pytest.FixtureRequest) -> type[LimitedAuthorizer]:
    return request.param


@pytest.fixture
def jp_server_config(jp_server_config: Config, authorizer: type[LimitedAuthorizer]) -> Config:
    jp_server_config.ServerApp.authorizer_class = authorizer
    return jp_server_config


@pytest.mark.parametrize(("method", "path", "body", "action"), ROUTES)
async def test_each_route_needs_its_action(
    api: Api,
    authorizer: type[LimitedAuthorizer],
    method: str,
    path: tuple[str, ...],
    body: Any,
    action: str,
) -> None:
    # Given a secret with a recognisable value
    created = await create_secret(api, "guarded", "guarded-value-8e1")
    before = await snapshot(api)
    # When a user allowed only some actions calls a route
    parts = [part.replace("{id}", created["id"]) for part in path]
    kwargs = {"body": body} if body is not None else {}
    reply = await api(method, *parts, user="limited", **kwargs)
    # Then it is refused unless the route's action is allowed, and no value is shown
    assert "guarded-value-8e1" not in str(reply.body)
    if action in authorizer.allowed:
        # (adding one's own secret is a 400 of its own: the action was allowed)
        assert reply.status < 400 or "attachment" in path, reply.body
        assert reply.status != 403, reply.body
    else:
        assert reply.status == 403, reply.body
        # And a refused request changed nothing
        assert await snapshot(api) == before
