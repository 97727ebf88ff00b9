"""The OpenAPI description the package ships: every served route, every answer the server
really sends, every enum value it can produce, and in the wheel.

The description is the one REST contract: the frontend's types (``src/rest.ts``) are generated
from it, so a field or a value the server sends but the description lacks is one the frontend
does not know. `test_every_route_answers_as_described` drives every operation through a real
server, for its answers and its errors, and validates each answer (status, body and headers)
against the description; every object the description sends is closed
(``additionalProperties: false``), so an undeclared field fails it, as an undeclared enum
value does.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import typing
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
import yaml
from tornado.httputil import HTTPHeaders

import jupyterlab_secrets
from jupyterlab_secrets import audit, service
from jupyterlab_secrets.app import SecretsExtension
from jupyterlab_secrets.crypto import Keyring, generate_key
from jupyterlab_secrets.kernels import injector
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import API, COMMUNITIES, _request

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path(jupyterlab_secrets.__file__).parent / "openapi.yaml"

SECRETS_ROUTES = {
    ("get", "/secrets"),
    ("post", "/secrets"),
    ("get", "/secrets/{id}"),
    ("patch", "/secrets/{id}"),
    ("delete", "/secrets/{id}"),
    ("post", "/secrets/{id}/reveal"),
    ("post", "/secrets/{id}/copy"),
    ("put", "/secrets/{id}/access"),
    ("put", "/secrets/{id}/attachment"),
    ("delete", "/secrets/{id}/attachment"),
    ("get", "/communities"),
    ("get", "/environment"),
    ("get", "/audit"),
    ("get", "/secrets/{id}/versions"),
    ("post", "/secrets/{id}/versions/{version}/restore"),
}
"""The secrets, sharing, history and audit routes, one by one."""

KERNEL_ROUTES = {
    ("get", "/kernels/{kernel_id}"),
    ("post", "/kernels/{kernel_id}/reload"),
}
"""The kernel status routes, as the README's "How kernels get their secrets" gives them."""

METHODS = ("get", "post", "put", "patch", "delete")

GENERIC_STATUSES = {401, 403, 413, 503}
"""The answers any route may give, under ``default``: not authenticated, not allowed (the
Authorizer, or a missing XSRF token), a body too large to read, and a server that cannot
serve. Any other status must be listed for its operation."""


def _spec() -> dict:
    return yaml.safe_load(SPEC.read_text())


@cache
def _schema() -> Any:
    return schemathesis.openapi.from_path(SPEC)


def _deref(spec: dict, node: Any) -> Any:
    """``node``, or what its local ``$ref`` (``#/components/...``) points to."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


# -- validating answers ----------------------------------------------------------------------


def assert_described(
    method: str, template: str, status: int, headers: HTTPHeaders, content: bytes
) -> str:
    """Validate one answer of the operation ``method template`` against the description: its
    status is listed (or is one of `GENERIC_STATUSES`, under ``default``), its body fits the
    schema of that status, and every header it declares as required is there with a value
    its schema allows. Answers the key of the documented response (``"200"``, ``"default"``).
    """
    spec = _spec()
    operation = spec["paths"][template][method.lower()]
    responses = operation["responses"]
    key = str(status) if str(status) in responses else "default"
    assert key != "default" or status in GENERIC_STATUSES, (
        f"{method} {template} answered {status}, which its description does not list"
    )
    definition = _deref(spec, responses[key])
    # The body: schemathesis resolves the references and OpenAPI 3.0's `nullable`.
    answer = schemathesis.Response(
        status_code=status,
        headers={name.lower(): headers.get_list(name) for name in headers},
        content=content,
        request=requests.Request(method, "http://127.0.0.1/").prepare(),
        elapsed=0.0,
        verify=True,
    )
    _schema()[template][method.upper()].validate_response(answer)
    if "content" not in definition:
        assert content == b"", f"{method} {template} {status} has a body it does not describe"
    else:
        assert headers.get("Content-Type", "").startswith("application/json")
    for name, header in definition.get("headers", {}).items():
        header = _deref(spec, header)
        if header.get("required"):
            value = headers.get(name)
            assert value is not None, f"{method} {template} {status} lacks the header {name}"
            jsonschema.validate(value, header["schema"])
    return key


@dataclass
class Answer:
    """One answer of the API: its status, its decoded body and its headers."""

    status: int
    body: Any
    headers: HTTPHeaders


Fetch = Callable[..., Awaitable[Any]]


@dataclass
class Contract:
    """Calls the API, validates every answer against the description, and notes which
    documented answer of which operation each one was."""

    fetch: Fetch
    seen: set[tuple[str, str]] = field(default_factory=set)

    async def call(
        self,
        method: str,
        template: str,
        *,
        params: dict[str, str] | None = None,
        **options: Any,
    ) -> Answer:
        """``method`` on ``template`` with its placeholders filled from ``options`` (``id``,
        ``version``, ``kernel_id``); other options as conftest's ``api`` takes them."""
        fill = {key: options.pop(key) for key in ("id", "version", "kernel_id") if key in options}
        path = template.format(**fill).strip("/").split("/")
        response = await self.fetch(*API, *path, params=params, **_request(method, **options))
        key = assert_described(method, template, response.code, response.headers, response.body)
        operation_id = _spec()["paths"][template][method.lower()]["operationId"]
        self.seen.add((operation_id, key))
        body = json.loads(response.body) if response.body else None
        return Answer(response.code, body, response.headers)


def documented_answers() -> set[tuple[str, str]]:
    """Every (operation, status) the description lists, but ``default``."""
    return {
        (operation["operationId"], status)
        for item in _spec()["paths"].values()
        for method, operation in item.items()
        if method in METHODS
        for status in operation["responses"]
        if status != "default"
    }


# -- the description itself -------------------------------------------------------------------


def test_the_description_is_valid_openapi_3() -> None:
    # Given the shipped description
    spec = _spec()
    # Then it is OpenAPI 3, and schemathesis can generate requests for every operation
    assert spec["openapi"].startswith("3.")
    operations = [
        result.ok() for result in schemathesis.openapi.from_path(SPEC).get_all_operations()
    ]
    assert len(operations) == len(SECRETS_ROUTES | KERNEL_ROUTES)


def test_it_describes_exactly_the_rest_table() -> None:
    # Given the shipped description
    spec = _spec()
    # Then its operations are the secrets routes and the kernel routes, each with an answer
    # and an error
    described = {
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }
    assert described == SECRETS_ROUTES | KERNEL_ROUTES
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                responses = item[method]["responses"]
                assert any(code.startswith("2") or code == "304" for code in responses), path
                assert "default" in responses, (method, path)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["message"]
    assert set(error["properties"]) == {"message", "field"}


def _objects(spec: dict, node: Any, where: str) -> Iterator[tuple[str, dict]]:
    """Every object schema under ``node`` (references not followed), with where it is."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield where, node
        for key, child in node.items():
            yield from _objects(spec, child, f"{where}/{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _objects(spec, child, f"{where}/{index}")


def test_every_object_says_whether_it_takes_other_fields() -> None:
    # Given every object schema of the description
    spec = _spec()
    objects = list(_objects(spec, spec, "#"))
    assert len(objects) >= 15
    # Then each says whether it takes fields it does not list: only a map (the environment)
    # and an event's free-form detail do; every other object is closed, so an answer with
    # a field the description lacks fails validation
    open_ones = set()
    for where, schema in objects:
        assert "additionalProperties" in schema, f"{where} does not say"
        if schema["additionalProperties"] is not False:
            open_ones.add(where)
    assert open_ones == {
        "#/components/schemas/Environment/properties/environment",
        "#/components/schemas/Event/properties/detail",
    }


def _enum(name: str) -> set[str]:
    return set(_spec()["components"]["schemas"][name]["enum"])


def test_its_enums_are_the_servers() -> None:
    # Then every value the server can send is described, and nothing more
    assert _enum("NotInjectedReason") == set(typing.get_args(service.NotInjectedReason))
    assert _enum("AuditAction") == set(audit.ACTIONS)
    assert _enum("KernelState") == set(typing.get_args(injector.State))
    origin = typing.get_type_hints(service.Explanation)["origin"]
    assert _enum("Origin") == set(typing.get_args(origin))


def test_meta_lists_every_field_the_server_sends() -> None:
    # Given the fields of the service's metadata that the REST layer encodes
    from jupyterlab_secrets.rest import meta_json

    moment = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    sample = service.SecretMeta(
        id="0" * 32,
        name="abc",
        project="p",
        created_by="u",
        created_at=moment,
        updated_at=moment,
        updated_by="u",
        version=1,
        shared_with=(),
        explanation=service.Explanation(
            origin="project",
            attached=False,
            editable=True,
            shadowed=False,
            injected=True,
            not_injected_reason=None,
            attached_name=None,
            hidden_in_outputs=True,
        ),
    )
    meta = _spec()["components"]["schemas"]["Meta"]
    # Then the description requires exactly those
    assert set(meta["required"]) == set(meta["properties"]) == set(meta_json(sample))


def _routes(router: Any) -> Iterator[tuple[str, Any]]:
    """Every (path pattern, handler class) of a tornado router, nested routers included."""
    for rule in getattr(router, "rules", []):
        if hasattr(rule.target, "rules"):
            yield from _routes(rule.target)
        elif isinstance(rule.target, type):
            yield rule.matcher.regex.pattern, rule.target


async def test_every_served_route_is_described(jp_serverapp: Any) -> None:
    # Given the secrets routes of a running server, and the described paths with a sample id
    spec = _spec()
    samples = {
        path: path.replace("{id}", "0" * 32).replace("{version}", "1").replace("{kernel_id}", "k")
        for path in spec["paths"]
    }
    served = [
        (pattern.split("jupyterlab-secrets/api", 1)[1], handler)
        for pattern, handler in _routes(jp_serverapp.web_app.default_router)
        if "jupyterlab-secrets/api" in pattern
    ]
    assert len(served) >= 8
    for pattern, handler in served:
        route = re.compile(pattern)
        # Then each matches a described path, with every method the handler serves
        matching = [path for path, sample in samples.items() if route.match(sample)]
        assert matching, pattern
        for method in (method for method in METHODS if method in vars(handler)):
            assert any(method in spec["paths"][path] for path in matching), (method, pattern)


# -- the server's real answers -----------------------------------------------------------------

SHORT = "abc"
"""A value too short to hide in outputs (``hidden_in_outputs`` is false)."""
LONG = "a-long-value-0123456789"
TOO_LARGE = "x" * 65537
NO_SECRET = "f" * 32
NO_KERNEL = "no-such-kernel"


@pytest.fixture
def secrets_config(secrets_config: dict[str, Any]) -> dict[str, Any]:
    """This module's server works in proj-a, which is in ml-team (admin alice) and data-team."""
    return {**secrets_config, "project": "proj-a", "communities": COMMUNITIES}


@pytest.fixture
def contract(jp_fetch: Any) -> Contract:
    """The test server's API, each answer validated against the description."""
    return Contract(jp_fetch)


def _spoil(extension: SecretsExtension, secret_id: str) -> None:
    """Rewrite a secret's value under a key this server lacks, as a server with another key
    would: it becomes undecryptable here."""
    store = extension.store
    assert isinstance(store, SqlSecretStore)
    other = SqlSecretStore(db_url=store.db_url, keyring=Keyring([generate_key()]))
    try:
        other.update(View("proj-a"), secret_id, expected_version=1, user="x", value="lost")
    finally:
        other.close()


async def test_every_route_answers_as_described(
    contract: Contract, project_service: Any, extension: SecretsExtension, jp_fetch: Any
) -> None:
    call = contract.call

    async def expect(status: int, method: str, template: str, **options: Any) -> Answer:
        answer = await call(method, template, **options)
        assert answer.status == status, (method, template, answer.body)
        return answer

    # Given proj-a with no secret, and proj-b sharing secrets with ml-team
    proj_b = project_service("proj-b")
    theirs = proj_b.create("alice", "b-shared", LONG)
    proj_b.set_access("alice", theirs.id, ["ml-team"])

    # When every route is called, for an answer and for each error it lists
    listed = await expect(200, "GET", "/secrets")
    await expect(304, "GET", "/secrets", headers={"If-None-Match": listed.headers["ETag"]})

    own = (await expect(201, "POST", "/secrets", body={"name": "api-key", "value": LONG})).body
    await expect(201, "POST", "/secrets", body={"name": "short-one", "value": SHORT})
    await expect(409, "POST", "/secrets", body={"name": "api-key", "value": LONG})
    await expect(400, "POST", "/secrets", body={"name": "PATH", "value": LONG})
    await expect(413, "POST", "/secrets", body={"name": "too-large", "value": TOO_LARGE})

    await expect(200, "GET", "/secrets/{id}", id=own["id"])
    await expect(404, "GET", "/secrets/{id}", id=NO_SECRET)

    edit = "/secrets/{id}"
    await expect(200, "PATCH", edit, id=own["id"], body={"version": 1, "value": LONG + "2"})
    await expect(409, "PATCH", edit, id=own["id"], body={"version": 1, "value": LONG})
    await expect(400, "PATCH", edit, id=own["id"], body={"version": 2, "colour": "red"})
    await expect(413, "PATCH", edit, id=own["id"], body={"version": 2, "value": TOO_LARGE})
    await expect(404, "PATCH", edit, id=NO_SECRET, body={"version": 1, "value": LONG})
    await expect(403, "PATCH", edit, id=theirs.id, body={"version": 1, "value": LONG})

    await expect(200, "POST", "/secrets/{id}/reveal", id=own["id"])
    await expect(404, "POST", "/secrets/{id}/reveal", id=NO_SECRET)

    copy = "/secrets/{id}/copy"
    copied = (await expect(201, "POST", copy, id=theirs.id, body={"name": "b-copy"})).body
    await expect(409, "POST", copy, id=theirs.id, body={"name": "api-key"})
    await expect(400, "POST", copy, id=theirs.id, body={"name": "x"})
    await expect(404, "POST", copy, id=NO_SECRET, body={"name": "c-copy"})
    await expect(413, "POST", copy, id=theirs.id, body={"name": "c-copy", "value": TOO_LARGE})

    access = "/secrets/{id}/access"
    await expect(200, "PUT", access, id=own["id"], body={"communities": ["ml-team"]})
    await expect(200, "PUT", access, id=own["id"], body={"communities": []})
    await expect(400, "PUT", access, id=own["id"], body={"communities": ["other-team"]})
    await expect(403, "PUT", access, id=own["id"], body={"communities": ["ml-team"]}, user="bob")
    await expect(403, "PUT", access, id=theirs.id, body={"communities": []})
    await expect(404, "PUT", access, id=NO_SECRET, body={"communities": []})

    attachment = "/secrets/{id}/attachment"
    await expect(200, "PUT", attachment, id=theirs.id)
    await expect(400, "PUT", attachment, id=own["id"])
    await expect(404, "PUT", attachment, id=NO_SECRET)
    await expect(200, "DELETE", attachment, id=theirs.id)
    await expect(400, "DELETE", attachment, id=own["id"])
    await expect(404, "DELETE", attachment, id=NO_SECRET)

    await expect(200, "GET", "/secrets/{id}/versions", id=own["id"])
    await expect(404, "GET", "/secrets/{id}/versions", id=NO_SECRET)

    restore = "/secrets/{id}/versions/{version}/restore"
    await expect(200, "POST", restore, id=own["id"], version=1, body={"version": 2})
    await expect(409, "POST", restore, id=own["id"], version=1, body={"version": 2})
    await expect(404, "POST", restore, id=own["id"], version=99, body={"version": 3})
    await expect(400, "POST", restore, id=own["id"], version=1, body={})
    await expect(403, "POST", restore, id=theirs.id, version=1, body={"version": 1})

    await expect(200, "GET", "/communities")

    environment = await expect(200, "GET", "/environment")
    assert environment.body["environment"] == {"api-key": LONG, "short-one": SHORT, "b-copy": LONG}
    await expect(304, "GET", "/environment", headers={"If-None-Match": environment.headers["ETag"]})

    await expect(403, "DELETE", "/secrets/{id}", id=theirs.id)
    await expect(404, "DELETE", "/secrets/{id}", id=NO_SECRET)
    await expect(204, "DELETE", "/secrets/{id}", id=copied["id"])

    await expect(400, "GET", "/audit", params={"limit": "0"})
    await expect(400, "GET", "/audit", params={"before": NO_SECRET})
    await expect(200, "GET", "/audit", params={"secret_id": own["id"]})
    events = (await expect(200, "GET", "/audit", params={"limit": "1000"})).body["events"]
    # A store that keeps no audit log of its own (no built-in one: both keep a log)
    assert extension.service is not None
    kept, extension.service.audit = extension.service.audit, None
    try:
        await expect(501, "GET", "/audit")
    finally:
        extension.service.audit = kept

    await expect(404, "GET", "/kernels/{kernel_id}", kernel_id=NO_KERNEL)
    await expect(404, "POST", "/kernels/{kernel_id}/reload", kernel_id=NO_KERNEL)
    started = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(started.body)["id"]
    try:
        await expect(200, "POST", "/kernels/{kernel_id}/reload", kernel_id=kernel_id)
        status = await expect(200, "GET", "/kernels/{kernel_id}", kernel_id=kernel_id)
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")

    # And the listing holds a secret for every reason a secret is not injected
    proj_b.set_access("alice", proj_b.create("alice", "HTTPS_PROXY", LONG).id, ["ml-team"])
    proj_b.set_access("alice", proj_b.create("alice", "KUBECONFIG", LONG).id, ["ml-team"])
    clash = proj_b.create("alice", "api-key", LONG)
    proj_b.set_access("alice", clash.id, ["ml-team"])
    await expect(200, "PUT", attachment, id=clash.id)
    renamed = proj_b.create("alice", "to-rename", LONG)
    proj_b.set_access("alice", renamed.id, ["ml-team"])
    await expect(200, "PUT", attachment, id=renamed.id)
    proj_b.patch("alice", renamed.id, 1, name="renamed-by-b")
    store = extension.store
    assert store is not None
    store.create(View("proj-a"), name="PATH", value=LONG, user="alice")
    spoiled = (await expect(201, "POST", "/secrets", body={"name": "spoiled", "value": LONG})).body
    _spoil(extension, spoiled["id"])
    listing = (await expect(200, "GET", "/secrets")).body["secrets"]
    await expect(503, "POST", "/secrets/{id}/reveal", id=spoiled["id"])
    await expect(403, "GET", "/secrets", auth=False)

    # Then every answer fitted the description, and every answer it lists was given
    assert contract.seen >= documented_answers(), sorted(documented_answers() - contract.seen)
    # And they held every value of the description's enums that a server of this kind can send
    reasons = {meta["not_injected_reason"] for meta in listing}
    assert reasons == _enum("NotInjectedReason") | {None}
    assert {meta["hidden_in_outputs"] for meta in listing} == {True, False}
    assert {meta["origin"] for meta in listing} == _enum("Origin")
    assert {event["action"] for event in events} == {
        "create",
        "update",
        "delete",
        "copy",
        "reveal",
        "environment",
        "share",
        "unshare",
        "attach",
        "detach",
        "restore",
    }
    assert status.body["state"] in _enum("KernelState")


def test_the_wheel_ships_it() -> None:
    # Given hatchling, the build backend, choosing the wheel's files as a build does
    from hatchling.builders.wheel import WheelBuilder

    files = {entry.distribution_path for entry in WheelBuilder(str(ROOT)).recurse_included_files()}
    # Then the description is in the package, next to the code
    assert "jupyterlab_secrets/openapi.yaml" in files
    assert "jupyterlab_secrets/app.py" in files
