"""The REST layer: from HTTP requests to `SecretsService` calls, and back to JSON.

It parses request bodies (a JSON object, its fields' presence and types, no unknown field),
runs the service off the event loop, maps the domain errors to status codes, encodes the
service's dataclasses as the JSON of the API (``openapi.yaml``), and tags the listing and the
environment with entity tags. The handlers (`jupyterlab_secrets.handlers`) only pass a
request's parts here and send back the `Reply`. The kernel routes have their own, built on
this one (``kernels/rest.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from tornado import web

from .audit import AuditEvent
from .errors import (
    AuditElsewhereError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    SecretsError,
    UnavailableError,
    UndecryptableError,
    ValueTooLargeError,
)
from .service import CommunityInfo, Listing, SecretMeta, SecretsService, VersionInfo

MAX_BODY_BYTES = 1 << 20
"""Room for the largest value even if every byte of it is sent as a ``\\uXXXX`` escape; a
longer body is refused from its ``Content-Length``, before it is read."""

_T = TypeVar("_T")


class ApiError(web.HTTPError):
    """A refused request: its status and its JSON body ``{"message", "field"?}``.

    It has no log message, so tornado logs nothing but the access line.
    """

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(status)
        self.body: dict[str, str] = {"message": message}
        if field is not None:
            self.body["field"] = field


def status_of(error: SecretsError) -> int:
    """The HTTP status of a domain error.

    `UndecryptableError` is 503: the request is sound, and the fault is the server's
    configuration (it lacks the key that encrypted that value), as with a missing or wrong
    key for the whole store. It is never 500: the server did not fail, it explains what an
    operator must fix, and every other secret is still served.
    """
    if isinstance(error, ValueTooLargeError):
        return 413
    if isinstance(error, AuditElsewhereError):
        return 501
    if isinstance(error, InvalidInputError):
        return 400
    if isinstance(error, ForbiddenError):
        return 403
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, (UndecryptableError, UnavailableError)):
        return 503
    return 400


def api_error(error: SecretsError) -> ApiError:
    """The `ApiError` that answers a domain error."""
    return ApiError(status_of(error), error.message, error.field)


# -- request bodies ------------------------------------------------------------------------

_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list of strings"}


def parse_body(raw: bytes, required: Mapping[str, type], optional: Mapping[str, type]) -> dict:
    """Decode a JSON object body, checking its fields' presence and types."""
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"The request body must be at most {MAX_BODY_BYTES:,} bytes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "The request body is not valid UTF-8.") from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays ("[[[[..."), which no valid body has.
        raise ApiError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    for field in body:
        if field not in required and field not in optional:
            shown = json.dumps(field if len(field) <= 40 else field[:40] + "…", ensure_ascii=False)
            raise ApiError(400, f"Unknown field {shown}.", field[:64])
    for field in required:
        if field not in body:
            raise ApiError(400, f"Field {field!r} is required.", field)
    for field, kind in {**required, **optional}.items():
        if field not in body:
            continue
        value = body[field]
        # bool is a subclass of int, but true is not a version number.
        valid = isinstance(value, kind) and not isinstance(value, bool)
        if valid and kind is list:
            valid = all(isinstance(item, str) for item in value)
        if not valid:
            raise ApiError(400, f"Field {field!r} must be {_TYPE_NAMES[kind]}.", field)
    return body


# -- JSON ----------------------------------------------------------------------------------


def iso_millis(moment: dt.datetime) -> str:
    """ISO 8601 in UTC to the millisecond, as JavaScript's ``toISOString`` writes it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    moment = moment.astimezone(dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds")[:23] + "Z"


def meta_json(meta: SecretMeta) -> dict[str, Any]:
    """The API's Meta, with the fields that explain a state (``shadowed``, ``injected``,
    ``not_injected_reason``, ``attached_name``, ``hidden_in_outputs``)."""
    return {
        "id": meta.id,
        "name": meta.name,
        "project": meta.project,
        "created_by": meta.created_by,
        "created_at": iso_millis(meta.created_at),
        "updated_at": iso_millis(meta.updated_at),
        "version": meta.version,
        "shared_with": list(meta.shared_with),
        # Each field of the explanation, in its order: a new one is sent without a change here.
        **asdict(meta.explanation),
    }


def listing_json(listing: Listing) -> dict[str, Any]:
    """``{"project", "secrets": [Meta]}``."""
    return {"project": listing.project, "secrets": [meta_json(m) for m in listing.secrets]}


def communities_json(communities: list[CommunityInfo]) -> dict[str, Any]:
    """``{"communities": [{"name", "is_admin", "projects"}]}``."""
    return {
        "communities": [
            {"name": c.name, "is_admin": c.is_admin, "projects": list(c.projects)}
            for c in communities
        ]
    }


def versions_json(versions: list[VersionInfo]) -> dict[str, Any]:
    """``{"versions": [{"version", "updated_at", "updated_by", "current"}]}``: no value."""
    return {
        "versions": [
            {
                "version": v.version,
                "updated_at": iso_millis(v.updated_at),
                "updated_by": v.updated_by,
                "current": v.current,
            }
            for v in versions
        ]
    }


def events_json(events: list[AuditEvent]) -> dict[str, Any]:
    """``{"events": [Event]}``: the API's Event, with ``server_project``; never a value."""
    return {
        "events": [
            {
                "id": e.id,
                "at": iso_millis(e.at),
                "user": e.user,
                "project": e.project,
                "server_project": e.server_project,
                "action": e.action,
                "secret_id": e.secret_id,
                "secret_name": e.secret_name,
                "detail": e.detail,
            }
            for e in events
        ]
    }


def encode_json(document: Any) -> bytes:
    """A reply's body: the document as JSON, UTF-8."""
    return json.dumps(document).encode()


# -- entity tags ---------------------------------------------------------------------------

_TAG_FORMAT = 2


NotModified = Callable[[str], bool]
"""Whether the client already holds the entity tag given (its ``If-None-Match`` names it):
the handler answers with tornado's matching."""


def entity_tag(kind: str, marker: str) -> str:
    """An entity tag from the service's change marker: never from a value, so a tag reveals
    nothing of what a secret holds, and it costs no read of the secrets."""
    return hashlib.sha256(f"{_TAG_FORMAT}\0{kind}\0{marker}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Reply:
    """An answer to send: a status, a JSON body (None: no body), maybe an entity tag, and
    whether the body holds values (then it must never be cached)."""

    status: int
    body: bytes | None
    tag: str | None = None
    sensitive: bool = False


# -- the API -------------------------------------------------------------------------------


class SecretsApi:
    """The REST API over one `SecretsService`, or the reason there is none (503)."""

    def __init__(self, service: SecretsService | None, unavailable: str | None = None) -> None:
        self.service = service
        self.unavailable = unavailable
        self._last_listing: tuple[str, bytes] | None = None
        """The last listing sent, by its tag: while the tag holds, it is sent again (it
        holds no value, so keeping it is harmless)."""

    async def _run(self, call: Callable[[SecretsService], _T]) -> _T:
        """Run a service call off the event loop; answer a domain error with its status."""
        if self.service is None:
            raise ApiError(503, self.unavailable or "Secrets are unavailable.")
        try:
            return await asyncio.to_thread(call, self.service)
        except SecretsError as error:
            raise api_error(error) from None

    # -- the collection and its listing

    async def listing(self, user: str, not_modified: NotModified) -> Reply:
        """``GET secrets``, 304 when the client holds the current tag."""
        marker = await self._run(lambda s: s.change_marker())
        tag = entity_tag("secrets", marker)
        if not_modified(tag):
            return Reply(304, None, tag)
        last = self._last_listing
        if last is not None and last[0] == tag:
            return Reply(200, last[1], tag)
        # The marker is read before the rows: a change in between gives a body newer than
        # its tag, which the next poll replaces, never an older one kept under a new tag.
        listing = await self._run(lambda s: s.list(user))
        body = encode_json(listing_json(listing))
        self._last_listing = (tag, body)
        return Reply(200, body, tag)

    async def create(self, user: str, raw: bytes) -> Reply:
        """``POST secrets``."""
        body = parse_body(raw, {"name": str, "value": str}, {})
        meta = await self._run(lambda s: s.create(user, body["name"], body["value"]))
        return Reply(201, encode_json(meta_json(meta)))

    # -- one secret

    async def get(self, user: str, secret_id: str) -> Reply:
        """``GET secrets/{id}``."""
        meta = await self._run(lambda s: s.get(user, secret_id))
        return Reply(200, encode_json(meta_json(meta)))

    async def patch(self, user: str, secret_id: str, raw: bytes) -> Reply:
        """``PATCH secrets/{id}``."""
        body = parse_body(raw, {"version": int}, {"name": str, "value": str})
        meta = await self._run(
            lambda s: s.patch(
                user,
                secret_id,
                body["version"],
                name=body.get("name"),
                value=body.get("value"),
            )
        )
        return Reply(200, encode_json(meta_json(meta)))

    async def delete(self, user: str, secret_id: str) -> Reply:
        """``DELETE secrets/{id}``."""
        await self._run(lambda s: s.delete(user, secret_id))
        return Reply(204, None)

    async def reveal(self, user: str, secret_id: str) -> Reply:
        """``POST secrets/{id}/reveal``: the value, never cached."""
        value = await self._run(lambda s: s.reveal(user, secret_id))
        return Reply(200, encode_json({"value": value}), sensitive=True)

    async def copy(self, user: str, secret_id: str, raw: bytes) -> Reply:
        """``POST secrets/{id}/copy``."""
        body = parse_body(raw, {"name": str}, {"value": str})
        meta = await self._run(lambda s: s.copy(user, secret_id, body["name"], body.get("value")))
        return Reply(201, encode_json(meta_json(meta)))

    async def set_access(self, user: str, secret_id: str, raw: bytes) -> Reply:
        """``PUT secrets/{id}/access``."""
        body = parse_body(raw, {"communities": list}, {})
        meta = await self._run(lambda s: s.set_access(user, secret_id, body["communities"]))
        return Reply(200, encode_json(meta_json(meta)))

    async def set_attached(self, user: str, secret_id: str, attached: bool) -> Reply:
        """``PUT`` / ``DELETE secrets/{id}/attachment``."""
        meta = await self._run(lambda s: s.set_attached(user, secret_id, attached))
        return Reply(200, encode_json(meta_json(meta)))

    async def versions(self, user: str, secret_id: str) -> Reply:
        """``GET secrets/{id}/versions``."""
        versions = await self._run(lambda s: s.versions(user, secret_id))
        return Reply(200, encode_json(versions_json(versions)))

    async def restore(self, user: str, secret_id: str, version: str, raw: bytes) -> Reply:
        """``POST secrets/{id}/versions/{version}/restore`` with ``{"version": current}``."""
        body = parse_body(raw, {"version": int}, {})
        meta = await self._run(
            lambda s: s.restore(user, secret_id, int(version), current_version=body["version"])
        )
        return Reply(200, encode_json(meta_json(meta)))

    # -- the project

    async def communities(self, user: str) -> Reply:
        """``GET communities``."""
        communities = await self._run(lambda s: s.communities(user))
        return Reply(200, encode_json(communities_json(communities)))

    async def environment(self, user: str, not_modified: NotModified) -> Reply:
        """``GET environment``: the values, never cached; 304 (decrypting nothing) when the
        client holds the current tag."""
        marker = await self._run(lambda s: s.change_marker())
        tag = entity_tag("environment", marker)
        if not_modified(tag):
            return Reply(304, None, tag, sensitive=True)
        environment = await self._run(lambda s: s.environment(user))
        return Reply(200, encode_json({"environment": environment}), tag, sensitive=True)

    async def audit(self, user: str, arguments: Mapping[str, list[str]]) -> Reply:
        """``GET audit?secret_id=&limit=&before=``: newest first; 400 for a bad parameter."""
        # Other parameters are left alone: the server's own (``token``) may come along.
        secret_id = _single(arguments, "secret_id")
        before = _single(arguments, "before")
        raw_limit = _single(arguments, "limit")
        limit = AUDIT_LIMIT
        if raw_limit is not None:
            if not raw_limit.isascii() or not raw_limit.isdigit() or len(raw_limit) > 6:
                raise ApiError(400, "limit must be a whole number.", "limit")
            limit = int(raw_limit)
            if not 1 <= limit <= AUDIT_MAX_LIMIT:
                raise ApiError(400, f"limit must be from 1 to {AUDIT_MAX_LIMIT}.", "limit")
        if before is not None and (len(before) != 32 or not before.isalnum()):
            raise ApiError(400, "before must be the ID of an audit event.", "before")
        events = await self._run(lambda s: s.audit_events(user, secret_id, limit, before))
        return Reply(200, encode_json(events_json(events)))


AUDIT_LIMIT = 100
"""Events answered when ``limit`` is not given."""
AUDIT_MAX_LIMIT = 1000


def _single(arguments: Mapping[str, list[str]], name: str) -> str | None:
    values = arguments.get(name, [])
    if len(values) > 1:
        raise ApiError(400, f"Give {name!r} at most once.", name)
    return values[0] if values else None
