"""The rules of secrets: names, values, projects, communities, and who may do what.

`SecretsService` is a plain object over a store and a keyring, so the rules are tested without
HTTP. Every refusal is a `SecretsError`; its message never holds a secret value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .crypto import DecryptionError, Keyring
from .store import (
    UTC,
    MetaRow,
    NameTakenError,
    NotFoundError,
    SealedRow,
    SecretRecord,
    SecretsStore,
    StaleVersionError,
    Stamp,
    iso_millis,
)

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{1,61}[A-Za-z0-9]")
"""A valid name, matched with ``fullmatch`` (``$`` would accept a trailing newline)."""

RESERVED_NAMES = frozenset(
    {"PATH", "HOME", "SHELL", "USER", "PWD", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
)
RESERVED_PREFIXES = ("LD_", "JPY_", "JUPYTER")
MAX_VALUE_BYTES = 65_536
MAX_BODY_BYTES = 1 << 20
"""Room for the largest value even if every byte of it is sent as a ``\\uXXXX`` escape."""
MAX_VERSION = 2**31 - 1

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_LETTERS_DIGITS = _LETTERS | frozenset("0123456789")
_NAME_CHARS = _LETTERS_DIGITS | frozenset("-_")


class SecretsError(Exception):
    """A refused request: an HTTP status, a message for the user, and maybe the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, str]:
        """The error body of the REST API."""
        body = {"message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class _Precedence(NamedTuple):
    """Who holds each name in a project's environment (see `SecretsService._precedence`)."""

    own: set[str]
    """The names of the project's own secrets."""
    leaders: dict[str, tuple[str, str]]
    """For each name of an added shared secret, the (project, ID) of the one that wins."""

    def shadows(self, name: str, project: str, secret_id: str) -> bool:
        """Whether a shared secret is kept out of the environment by another one, or would be
        if it were added."""
        if name in self.own:
            return True
        leader = self.leaders.get(name)
        return leader is not None and leader < (project, secret_id)


class _Fragment(NamedTuple):
    """One secret's Meta as JSON, with what it was built from, to be reused while that holds."""

    version: int
    shared_with: tuple[str, ...]
    attached: bool
    shadowed: bool
    json: str


@dataclass(frozen=True)
class Community:
    """A named group of projects with named admins."""

    name: str
    admins: frozenset[str]
    projects: tuple[str, ...]


def name_error(name: str) -> str | None:
    """Why ``name`` is not a valid secret name, or None when it is."""
    if not 3 <= len(name) <= 63:
        return "Name must be 3 to 63 characters long."
    if name[0] not in _LETTERS:
        return "Name must start with a Latin letter."
    if name[-1] not in _LETTERS_DIGITS:
        return "Name must end with a Latin letter or a digit."
    if not all(char in _NAME_CHARS for char in name):
        return "Name may contain only Latin letters, digits, hyphens and underscores."
    if name in RESERVED_NAMES:
        return f"Name {name} is reserved: it would break the kernel's environment."
    for prefix in RESERVED_PREFIXES:
        if name.startswith(prefix):
            return (
                f"Names starting with {prefix} are reserved: they would break the kernel's "
                "environment."
            )
    return None


def value_bytes(value: str) -> bytes:
    """Check a secret value and return its UTF-8 bytes; raise `SecretsError` if it is refused."""
    if value == "":
        raise SecretsError(400, "Content must not be empty.", "value")
    if "\0" in value:
        raise SecretsError(400, "Content must not contain a NUL character.", "value")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise SecretsError(
            400, "Content must be valid Unicode text (it holds a lone surrogate).", "value"
        ) from None
    if len(data) > MAX_VALUE_BYTES:
        raise SecretsError(413, f"Content must be at most {MAX_VALUE_BYTES:,} bytes.", "value")
    return data


_TYPE_NAMES = {str: "a string", int: "an integer", list: "a list of strings"}


def parse_body(raw: bytes, required: Mapping[str, type], optional: Mapping[str, type]) -> dict:
    """Decode a JSON object body, checking its fields' presence and types."""
    if len(raw) > MAX_BODY_BYTES:
        raise SecretsError(413, f"The request body must be at most {MAX_BODY_BYTES:,} bytes.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsError(400, "The request body is not valid UTF-8.") from None
    try:
        body = json.loads(text)
    except ValueError:
        raise SecretsError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise SecretsError(400, "The request body must be a JSON object.")
    for field in body:
        if field not in required and field not in optional:
            shown = json.dumps(field if len(field) <= 40 else field[:40] + "…", ensure_ascii=False)
            raise SecretsError(400, f"Unknown field {shown}.", field[:64])
    for field in required:
        if field not in body:
            raise SecretsError(400, f"Field {field!r} is required.", field)
    for field, kind in {**required, **optional}.items():
        if field not in body:
            continue
        value = body[field]
        # bool is a subclass of int, but true is not a version number.
        valid = isinstance(value, kind) and not isinstance(value, bool)
        if valid and kind is list:
            valid = all(isinstance(item, str) for item in value)
        if not valid:
            raise SecretsError(400, f"Field {field!r} must be {_TYPE_NAMES[kind]}.", field)
    return body


def isoformat(moment: dt.datetime) -> str:
    """ISO 8601 in UTC, as JavaScript's ``toISOString`` writes it."""
    return iso_millis(moment)


class Tagged(NamedTuple):
    """A JSON body and its entity tag; no body when the caller holds that tag already."""

    tag: str
    body: bytes | None


_TAG_FORMAT = 1


def entity_tag(kind: str, project: str, columns: Sequence[Sequence[Any]]) -> str:
    """An entity tag computed from metadata only, never from a value: a tag reveals nothing
    about what a secret holds.

    ``columns`` hold, for rows in a fixed order, their IDs, projects, names, versions, and for
    a listing, shares and whether the secret is added (by column: far cheaper to encode than
    by row). A value never changes without its secret's version, so the tag changes with
    every value.
    """
    payload = json.dumps([_TAG_FORMAT, kind, project, columns], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


_FEW = 200
"""Up to this many changed secrets, a listing reads them by ID rather than all at once."""


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


class SecretsService:
    """The secrets API of one project, on top of a store and a keyring."""

    def __init__(
        self,
        store: SecretsStore,
        keyring: Keyring,
        project: str,
        communities: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.project = project
        self.communities = {
            name: Community(
                name=name,
                admins=frozenset(spec.get("admins", ())),
                projects=tuple(spec.get("projects", ())),
            )
            for name, spec in (communities or {}).items()
        }
        self.project_communities = sorted(
            (c for c in self.communities.values() if project in c.projects),
            key=lambda c: c.name,
        )
        """The communities this project belongs to, by name."""
        self._community_names = [c.name for c in self.project_communities]
        self._last_listing: Tagged | None = None
        self._fragments: dict[str, _Fragment] = {}

    # -- helpers ---------------------------------------------------------------------------

    def _visible(self, record: SecretRecord) -> bool:
        if record.project == self.project:
            return True
        return not set(self._community_names).isdisjoint(record.shared_with)

    def _find(self, secret_id: str) -> SecretRecord:
        """The secret, if this project may see it; 404 otherwise (unknown or not visible)."""
        record = self.store.get(secret_id)
        if record is None or not self._visible(record):
            raise SecretsError(404, "No such secret.")
        return record

    def _find_own(self, secret_id: str, action: str) -> SecretRecord:
        record = self._find(secret_id)
        if record.project != self.project:
            raise SecretsError(
                403,
                f"This secret belongs to project {record.project!r}: you cannot {action} it "
                "here, but you can copy it.",
            )
        return record

    def _check_name(self, name: str) -> None:
        message = name_error(name)
        if message is not None:
            raise SecretsError(400, message, "name")

    def _name_taken(self) -> SecretsError:
        return SecretsError(409, "A secret with this name already exists in this project.", "name")

    def _stale(self) -> SecretsError:
        return SecretsError(
            409, "This secret was changed by someone else. Reload it and try again.", "version"
        )

    def _decrypt(self, record: SecretRecord | SealedRow) -> str:
        try:
            data = self.keyring.decrypt(record.sealed, project=record.project, secret_id=record.id)
        except DecryptionError:
            raise SecretsError(
                500, "This secret cannot be decrypted with the configured key."
            ) from None
        return data.decode("utf-8")

    def _precedence(
        self,
        ids: Iterable[str],
        projects: Iterable[str],
        names: Iterable[str],
        attached: Iterable[bool],
    ) -> _Precedence:
        """Who holds each name in this project's environment, among the given secrets.

        The project's own secret wins a name clash. Among shared secrets added to the project,
        the one of the first project by name (then by ID) wins.
        """
        own: set[str] = set()
        leaders: dict[str, tuple[str, str]] = {}
        for secret_id, project, name, added in zip(ids, projects, names, attached, strict=True):
            if project == self.project:
                own.add(name)
            elif added:
                rank = (project, secret_id)
                leader = leaders.get(name)
                if leader is None or rank < leader:
                    leaders[name] = rank
        return _Precedence(own, leaders)

    def _list_key(self, name: str, project: str, secret_id: str) -> str:
        """The listing's order (by name, the project's own first, then by project and ID) as
        one string: sorting by it allocates no tuples."""
        own = "0" if project == self.project else "1"
        return f"{name}\0{own}{project}\0{secret_id}"

    def _meta(self, row: MetaRow, precedence: _Precedence) -> dict[str, Any]:
        return self._meta_of(row, self._shadowed(row, precedence))

    def _shadowed(self, row: Stamp | MetaRow, precedence: _Precedence) -> bool:
        return row.project != self.project and precedence.shadows(row.name, row.project, row.id)

    def _meta_of(self, row: MetaRow, shadowed: bool) -> dict[str, Any]:
        own = row.project == self.project
        return {
            "id": row.id,
            "name": row.name,
            "project": row.project,
            "created_by": row.created_by,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "version": row.version,
            "shared_with": list(row.shared_with),
            "origin": "project" if own else "shared",
            "attached": row.attached and not own,
            "editable": own,
            "shadowed": shadowed,
        }

    def meta(self, record: SecretRecord) -> dict[str, Any]:
        """The public metadata of a secret, as seen from this project. Never the value.

        Besides the documented fields, ``shadowed`` says that a shared secret's name is taken
        in this project's environment by another secret (the project's own, or another added
        shared one), so it is not injected, or would not be if added.
        """
        row = MetaRow(
            record.id,
            record.project,
            record.name,
            record.version,
            record.shared_with,
            self.project in record.attached_to,
            record.created_by,
            isoformat(record.created_at),
            isoformat(record.updated_at),
        )
        precedence = _Precedence(set(), {})
        if record.project != self.project:
            rivals = self.store.stamps(self.project, self._community_names, name=record.name)
            precedence = self._precedence(
                [r.id for r in rivals],
                [r.project for r in rivals],
                [r.name for r in rivals],
                [r.attached for r in rivals],
            )
        return self._meta(row, precedence)

    def _new_secret(self, user: str, name: str, plaintext: bytes) -> dict[str, Any]:
        secret_id = uuid.uuid4().hex
        now = _now()
        record = SecretRecord(
            id=secret_id,
            project=self.project,
            name=name,
            sealed=self.keyring.encrypt(plaintext, project=self.project, secret_id=secret_id),
            created_by=user,
            created_at=now,
            updated_at=now,
            version=1,
        )
        try:
            return self.meta(self.store.insert(record))
        except NameTakenError:
            raise self._name_taken() from None

    # -- operations ------------------------------------------------------------------------

    def check_keys(self) -> None:
        """Decrypt one stored secret per key id in use; raise `DecryptionError` if one fails."""
        for record in self.store.key_samples():
            self.keyring.decrypt(record.sealed, project=record.project, secret_id=record.id)

    def list(self, user: str) -> dict[str, Any]:
        """The project's own secrets and those shared with it, sorted by name."""
        rows = self.store.metas(self.project, self._community_names)
        precedence = self._precedence(
            [r.id for r in rows],
            [r.project for r in rows],
            [r.name for r in rows],
            [r.attached for r in rows],
        )
        rows.sort(key=lambda r: self._list_key(r.name, r.project, r.id))
        return {"project": self.project, "secrets": [self._meta(r, precedence) for r in rows]}

    def list_tag(self, user: str) -> str:
        """The entity tag of `list`, read without the listing's times or any value."""
        columns = self.store.stamp_columns(self.project, self._community_names)
        return entity_tag("secrets", self.project, columns)

    def listing(self, user: str, known: Collection[str] = ()) -> Tagged:
        """`list` as JSON with its entity tag; no body if the tag is one of ``known``.

        The JSON is built once per state of the listing: while the tag stays the same, the
        last body is sent again. Each secret's Meta is built once per state of that secret,
        so a listing after one change reads and encodes one row. (Neither holds a value, so
        keeping them is harmless.)
        """
        columns = self.store.stamp_columns(self.project, self._community_names)
        tag = entity_tag("secrets", self.project, columns)
        if tag in known or "*" in known:
            return Tagged(tag, None)
        last = self._last_listing
        if last is not None and last.tag == tag:
            return last
        text, consistent = self._listing_json(columns)
        tagged = Tagged(tag, text.encode())
        # Kept only if the rows read second were those the tag was computed from.
        self._last_listing = tagged if consistent else None
        return tagged

    def _listing_json(self, columns: Sequence[Sequence[Any]]) -> tuple[str, bool]:
        """The listing's JSON, from its stamps by column, reusing every `_Fragment` that holds;
        and whether the rows read for the others still matched their stamps."""
        ids, projects, names, versions, shares, attached = columns or ((),) * 6
        precedence = self._precedence(ids, projects, names, attached)
        previous, fragments = self._fragments, {}
        missing: dict[str, int] = {}
        for index, secret_id in enumerate(ids):
            project = projects[index]
            shadowed = project != self.project and precedence.shadows(
                names[index], project, secret_id
            )
            fragment = previous.get(secret_id)
            if (
                fragment is not None
                and fragment.version == versions[index]
                and fragment.shared_with == shares[index]
                and fragment.attached == attached[index]
                and fragment.shadowed == shadowed
            ):
                fragments[secret_id] = fragment
            else:
                missing[secret_id] = index
        consistent = True
        if missing:
            # A few rows by ID; many (the first listing) by reading them all.
            few = list(missing) if len(missing) <= _FEW else None
            for row in self.store.metas(self.project, self._community_names, ids=few):
                index = missing.pop(row.id, None)
                if index is None:
                    continue
                shadowed = row.project != self.project and precedence.shadows(
                    row.name, row.project, row.id
                )
                meta = json.dumps(self._meta_of(row, shadowed))
                fragments[row.id] = _Fragment(
                    row.version, row.shared_with, row.attached, shadowed, meta
                )
                consistent = consistent and (row.version, row.shared_with, row.attached) == (
                    versions[index],
                    shares[index],
                    attached[index],
                )
            # Gone between the two reads: not listed; the next tag will differ.
            consistent = consistent and not missing
        self._fragments = fragments
        order = sorted(
            (index for index, secret_id in enumerate(ids) if secret_id in fragments),
            key=lambda index: self._list_key(names[index], projects[index], ids[index]),
        )
        secrets = ", ".join([fragments[ids[index]].json for index in order])
        return f'{{"project": {json.dumps(self.project)}, "secrets": [{secrets}]}}', consistent

    def create(self, user: str, raw_body: bytes) -> dict[str, Any]:
        """Create a secret in this project from ``{"name", "value"}``."""
        body = parse_body(raw_body, {"name": str, "value": str}, {})
        self._check_name(body["name"])
        plaintext = value_bytes(body["value"])
        return self._new_secret(user, body["name"], plaintext)

    def get(self, user: str, secret_id: str) -> dict[str, Any]:
        """The metadata of one visible secret."""
        return self.meta(self._find(secret_id))

    def patch(self, user: str, secret_id: str, raw_body: bytes) -> dict[str, Any]:
        """Rename and/or change the value of this project's secret, if ``version`` is current."""
        body = parse_body(raw_body, {"version": int}, {"name": str, "value": str})
        if "name" not in body and "value" not in body:
            raise SecretsError(400, "Give a new name, a new value, or both.")
        name: str | None = body.get("name")
        if name is not None:
            self._check_name(name)
        plaintext = value_bytes(body["value"]) if "value" in body else None
        record = self._find_own(secret_id, "edit")
        if not 1 <= body["version"] <= MAX_VERSION:
            raise self._stale()
        sealed = None
        if plaintext is not None:
            sealed = self.keyring.encrypt(plaintext, project=record.project, secret_id=record.id)
        try:
            updated = self.store.update(
                record.id, body["version"], updated_at=_now(), name=name, sealed=sealed
            )
        except StaleVersionError:
            raise self._stale() from None
        except NameTakenError:
            raise self._name_taken() from None
        except NotFoundError:
            raise SecretsError(404, "No such secret.") from None
        return self.meta(updated)

    def delete(self, user: str, secret_id: str) -> None:
        """Delete this project's secret."""
        record = self._find_own(secret_id, "delete")
        if not self.store.delete(record.id):
            raise SecretsError(404, "No such secret.")

    def reveal(self, user: str, secret_id: str) -> dict[str, str]:
        """The value of a visible secret."""
        return {"value": self._decrypt(self._find(secret_id))}

    def copy(self, user: str, secret_id: str, raw_body: bytes) -> dict[str, Any]:
        """A new, independent secret in this project, with the source's value or a new one."""
        body = parse_body(raw_body, {"name": str}, {"value": str})
        self._check_name(body["name"])
        plaintext = value_bytes(body["value"]) if "value" in body else None
        source = self._find(secret_id)
        if plaintext is None:
            plaintext = self._decrypt(source).encode("utf-8")
        return self._new_secret(user, body["name"], plaintext)

    def set_access(self, user: str, secret_id: str, raw_body: bytes) -> dict[str, Any]:
        """Share the secret with exactly the listed communities (among the configured ones)."""
        body = parse_body(raw_body, {"communities": list}, {})
        wanted = set(body["communities"])
        for name in sorted(wanted):
            if name not in self.communities:
                raise SecretsError(400, f"There is no community {name!r}.", "communities")
        record = self._find(secret_id)
        for name in sorted(wanted):
            if record.project not in self.communities[name].projects:
                raise SecretsError(
                    400,
                    f"Project {record.project!r} is not in community {name!r}, so its "
                    "secrets cannot be shared with it.",
                    "communities",
                )
        # Shares with communities no longer configured are left alone: they grant nothing.
        current = {c for c in record.shared_with if c in self.communities}
        added, removed = wanted - current, current - wanted
        for name in sorted(added | removed):
            if user not in self.communities[name].admins:
                raise SecretsError(
                    403, f"Only an admin of community {name!r} can change sharing with it."
                )
        if not added and not removed:
            return self.meta(record)
        try:
            return self.meta(self.store.change_shares(record.id, add=added, remove=removed))
        except NotFoundError:
            raise SecretsError(404, "No such secret.") from None

    def set_attached(self, user: str, secret_id: str, attached: bool) -> dict[str, Any]:
        """Add a secret shared with this project to its environment, or remove it."""
        record = self._find(secret_id)
        if record.project == self.project:
            raise SecretsError(
                400, "This secret belongs to this project; only shared secrets are added."
            )
        try:
            return self.meta(self.store.set_attached(record.id, self.project, attached))
        except NotFoundError:
            raise SecretsError(404, "No such secret.") from None

    def list_communities(self, user: str) -> dict[str, Any]:
        """The communities of this project, and whether ``user`` administers each."""
        return {
            "communities": [
                {"name": c.name, "is_admin": user in c.admins, "projects": sorted(c.projects)}
                for c in self.project_communities
            ]
        }

    def _environment_document(self) -> tuple[str, dict[str, str]]:
        """The environment and its tag, from one read."""
        columns: list[list[Any]] = [[], [], [], []]
        ids, projects, names, versions = columns
        environment: dict[str, str] = {}
        leaders: dict[str, tuple[tuple[str, str], SealedRow]] = {}
        for row in self.store.injected(self.project, self._community_names):
            ids.append(row.id)
            projects.append(row.project)
            names.append(row.name)
            versions.append(row.version)
            if row.project == self.project:
                environment[row.name] = self._decrypt(row)
            else:
                rank = (row.project, row.id)
                leader = leaders.get(row.name)
                if leader is None or rank < leader[0]:
                    leaders[row.name] = (rank, row)
        # The same precedence as `_precedence`: own secrets first, then added ones by rank.
        for name, (_, row) in leaders.items():
            if name not in environment:
                environment[name] = self._decrypt(row)
        return entity_tag("environment", self.project, columns), environment

    def environment(self, user: str) -> dict[str, dict[str, str]]:
        """What is injected into this project's kernels: own secrets, then added shared ones.

        A project's own secret wins a name clash.
        """
        return {"environment": self._environment_document()[1]}

    def environment_tag(self, user: str) -> str:
        """The entity tag of `environment`, read without any ciphertext or decryption."""
        columns = self.store.injected_columns(self.project, self._community_names)
        return entity_tag("environment", self.project, columns)

    def environment_tagged(self, user: str, known: Collection[str] = ()) -> Tagged:
        """`environment` as JSON with its entity tag; no body if the tag is one of ``known``."""
        if known:
            tag = self.environment_tag(user)
            if tag in known or "*" in known:
                return Tagged(tag, None)
        tag, environment = self._environment_document()
        return Tagged(tag, json.dumps({"environment": environment}).encode())
