"""A store on OpenBao (or HashiCorp Vault) KV v2, where OpenBao's policies decide.

Each server holds an OpenBao token minted with its user's policies; what the token may not
read or write, the server cannot either, whatever its own configuration says. OpenBao
encrypts the values, keeps their versions (KV v2) and records every read in its audit device.
The server keeps no value, key or token on disk.

Layout of the mount (every path below is ``<mount>/data/…`` for values and
``<mount>/metadata/…`` for versions and deletion):

``projects/<p>/index``
    The project's own secrets' metadata (name, versions, shares, times; never a value) and
    the shared secrets it added ("attachments"). One document, written with check-and-set,
    so a listing is one read, names stay unique, and its KV version is the project's change
    marker.
``projects/<p>/secrets/<id>``
    A secret's value; its KV versions are the value's versions.
``communities/<c>/projects/<p>/secrets/<id>``
    The copy of project ``p``'s secret shared with community ``c``: what the members of
    ``c`` read. Only an admin of ``c`` creates or deletes it (sharing and unsharing); the
    owning project may only *update* it (a value change reaches the copy) or delete it
    together with the secret.
``communities/<c>/projects/<p>/index``
    The metadata of project ``p``'s secrets shared with ``c``, kept alike.
``communities/<c>/marker``
    Rewritten with every change under ``communities/<c>/``: its KV version is the
    community's change marker. A poll reads one project marker and one per community.

The three policy kinds of DESIGN.md are path rules over this layout; see `project_policy`,
`member_policy` and `admin_policy`.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests
from traitlets import Int, Unicode

from ..errors import (
    ForbiddenError,
    InvalidInputError,
    NameTakenError,
    NotFoundError,
    StaleVersionError,
    UnavailableError,
)
from .base import Recorder, SecretStore, StoredSecret, VersionInfo, View

UTC = dt.timezone.utc
T = TypeVar("T")

POLICY_PREFIX = "jupyterlab-secrets"
SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a project or community name may be here: it is a path segment and a policy name."""

_ALL = '["create", "read", "update", "patch", "delete", "list"]'
INDEX_FORMAT = "zlib+json/1"
_CAS_ATTEMPTS = 20


def check_segment(kind: str, name: str) -> str:
    """Return ``name`` if it can be a path segment and part of a policy name; else raise."""
    if SEGMENT.fullmatch(name) is None:
        raise InvalidInputError(
            f"The {kind} name {name!r} cannot be used with OpenBao: use Latin letters, digits, "
            "'.', '_' and '-' (at most 128), starting with a letter or a digit."
        )
    return name


_ID = re.compile(r"[0-9a-f]{32}")


def check_id(secret_id: str) -> str:
    """Return ``secret_id`` if it can be one of ours (it becomes part of a path); else
    raise `NotFoundError`, as for any unknown secret."""
    if not isinstance(secret_id, str) or _ID.fullmatch(secret_id) is None:
        raise NotFoundError("No such secret.")
    return secret_id


def project_policy_name(project: str) -> str:
    """The policy that grants everything on a project's own secrets."""
    return f"{POLICY_PREFIX}-project-{project}"


def member_policy_name(community: str) -> str:
    """The policy that grants reading the secrets shared with a community."""
    return f"{POLICY_PREFIX}-member-{community}"


def admin_policy_name(community: str) -> str:
    """The policy that grants sharing and unsharing with a community."""
    return f"{POLICY_PREFIX}-admin-{community}"


def project_policy(mount: str, project: str) -> str:
    """HCL of `project_policy_name`: all on ``projects/<p>/``; on its shared copies only
    ``update`` (a value change follows into them, but only an admin creates one) and
    ``delete`` (deleting the secret deletes its copies); ``update`` of community markers."""
    check_segment("project", project)
    return f"""# Everything on the own secrets of project {project}.
path "{mount}/data/projects/{project}/*" {{
  capabilities = {_ALL}
}}
path "{mount}/metadata/projects/{project}/*" {{
  capabilities = {_ALL}
}}
# Its secrets' copies in communities: a changed value or name follows into them, but only a
# community admin can create one (share) or delete one while the secret lives (unshare).
path "{mount}/data/communities/+/projects/{project}/*" {{
  capabilities = ["update"]
}}
path "{mount}/metadata/communities/+/projects/{project}/secrets/*" {{
  capabilities = ["delete"]
}}
# Tell the members of a community that something they read changed.
path "{mount}/data/communities/+/marker" {{
  capabilities = ["update"]
}}
"""


def member_policy(mount: str, community: str) -> str:
    """HCL of `member_policy_name`: read everything shared with the community."""
    check_segment("community", community)
    return f"""# Read the secrets shared with community {community}.
path "{mount}/data/communities/{community}/*" {{
  capabilities = ["read"]
}}
path "{mount}/metadata/communities/{community}/*" {{
  capabilities = ["read", "list"]
}}
"""


def admin_policy(mount: str, community: str) -> str:
    """HCL of `admin_policy_name`: create and delete shared copies in the community."""
    check_segment("community", community)
    return f"""# Share secrets with community {community}, and stop sharing them.
path "{mount}/data/communities/{community}/*" {{
  capabilities = ["create", "read", "update", "patch", "delete"]
}}
path "{mount}/metadata/communities/{community}/*" {{
  capabilities = {_ALL}
}}
"""


def _now() -> str:
    return dt.datetime.now(UTC).isoformat(timespec="microseconds")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def pack_index(document: Mapping[str, Any]) -> dict[str, str]:
    """An index as OpenBao stores it: one zlib-compressed JSON string. OpenBao refuses a
    request body with more than about a thousand JSON strings, and an index of 1,000
    secrets has tens of thousands; it holds metadata only, never a value."""
    text = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    return {"format": INDEX_FORMAT, "index": base64.b64encode(zlib.compress(text, 6)).decode()}


def unpack_index(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The index `pack_index` stored; an empty one for none."""
    if not stored:
        return {}
    if stored.get("format") != INDEX_FORMAT:
        raise UnavailableError(
            f"An index in OpenBao has the format {stored.get('format')!r}, which this release "
            "does not read. Upgrade jupyterlab-secrets."
        )
    return json.loads(zlib.decompress(base64.b64decode(stored["index"])))


class _Cas(Exception):
    """A check-and-set write lost to another writer."""


def _reason(error: hvac.exceptions.VaultError) -> str:
    """OpenBao's own words for a refusal, on one line (never a value: it sends none back)."""
    errors = error.errors or [str(error.args[0] if error.args else "")]
    text = "; ".join(" ".join(str(e).replace("*", " ").split()) for e in errors)
    text = re.sub(r"^1 error occurred:\s*", "", text)
    return text or type(error).__name__


class OpenBaoSecretStore(SecretStore):
    """Secrets on an OpenBao (or Vault) KV v2 mount, read and written with ``hvac``.

    See the module's docstring for the layout. A 403 of OpenBao becomes `ForbiddenError`
    carrying OpenBao's reason; an unreachable OpenBao, `UnavailableError`.
    """

    url = Unicode(help="The OpenBao address.").tag(config=False)
    mount = Unicode("jupyterlab-secrets", help="The KV v2 mount.").tag(config=False)
    keep_versions = Int(10, help="How many earlier versions of a value are kept.").tag(config=False)
    read_concurrency = Int(
        16,
        min=1,
        help="How many documents (values, indexes, markers) are read at once, each by its own "
        "client; 1 reads them one after another in the calling thread.",
    ).tag(config=False)

    def __init__(self, *, url: str, token: str, **kwargs: Any) -> None:
        super().__init__(url=url, **kwargs)
        # The token lives in memory only, in each thread's client.
        self._token = token
        self._local = threading.local()
        self._clients: list[hvac.Client] = []
        self._lock = threading.Lock()
        # Every read stays one KV request, audited by OpenBao; only their waits overlap.
        self._pool = (
            ThreadPoolExecutor(max_workers=self.read_concurrency, thread_name_prefix="openbao")
            if self.read_concurrency > 1
            else None
        )

    # -- plumbing ------------------------------------------------------------------------

    @property
    def client(self) -> hvac.Client:
        """This thread's client: hvac's client wraps one `requests.Session`, which is not
        documented as safe to share between threads, so each thread has its own."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = hvac.Client(url=self.url, token=self._token, timeout=30)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        """Release the connections."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        with self._lock:
            for client in self._clients:
                client.adapter.close()
            self._clients.clear()

    def _map(self, call: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
        """``call`` on each item, ``read_concurrency`` at a time, results in order. One item,
        or a concurrency of 1, runs in the calling thread. On the first error the calls not
        yet started are dropped (an OpenBao that hangs costs one timeout, not one per item)
        and an error is raised."""
        items = list(items)
        if self._pool is None or len(items) <= 1:
            return [call(item) for item in items]
        futures = [self._pool.submit(call, item) for item in items]
        _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn OpenBao's refusals and outages into domain errors."""
        try:
            yield
        except hvac.exceptions.Forbidden as error:
            raise ForbiddenError(
                f"OpenBao refused this: {_reason(error)} (on {error.method} {self._shown(error)})."
            ) from None
        except hvac.exceptions.Unauthorized as error:
            raise UnavailableError(
                f"OpenBao at {self.url} rejects this server's token: {_reason(error)}. Give "
                "the server a valid token, then restart it."
            ) from None
        except (hvac.exceptions.VaultDown, hvac.exceptions.InternalServerError) as error:
            raise UnavailableError(
                f"OpenBao at {self.url} cannot serve: {_reason(error)}."
            ) from None
        except requests.RequestException as error:
            raise UnavailableError(
                f"OpenBao at {self.url} cannot be reached ({type(error).__name__}). Check "
                "SecretsExtension.openbao_url and that OpenBao runs."
            ) from None

    def check(self) -> list[str]:
        """Check that OpenBao answers and accepts the token; return the token's policies
        (names only). Raises `UnavailableError` with what to fix."""
        try:
            with self._errors():
                answer = self.client.auth.token.lookup_self()
        except ForbiddenError as error:
            raise UnavailableError(
                f"OpenBao at {self.url} does not accept this server's token ({error.message}) "
                "Give the server a valid token (SecretsExtension.openbao_token_file or "
                "BAO_TOKEN), then restart it."
            ) from None
        return sorted(answer["data"].get("policies") or [])

    def _shown(self, error: hvac.exceptions.VaultError) -> str:
        """The API path of a failed request, without the address."""
        url = error.url or ""
        return url.split("/v1/", 1)[-1] if "/v1/" in url else url

    def _kv(self) -> Any:
        return self.client.secrets.kv.v2

    def _read(self, path: str, version: int | None = None) -> tuple[dict[str, Any] | None, int]:
        """A document and its KV version; (None, 0) when there is none."""
        with self._errors():
            try:
                answer = self._kv().read_secret_version(
                    path,
                    version=version,
                    mount_point=self.mount,
                    raise_on_deleted_version=True,
                )
            except hvac.exceptions.InvalidPath:
                return None, 0
        data = answer["data"]
        return data["data"], int(data["metadata"]["version"])

    def _write(self, path: str, document: Mapping[str, Any], cas: int | None) -> int:
        """Write a document; with ``cas``, only over that KV version (0: only a new one).
        Raises `_Cas` when another writer came first. Returns the new KV version."""
        with self._errors():
            try:
                answer = self._kv().create_or_update_secret(
                    path, dict(document), cas=cas, mount_point=self.mount
                )
            except hvac.exceptions.InvalidRequest as error:
                if "check-and-set" in str(error):
                    raise _Cas() from None
                raise
        return int(answer["data"]["version"])

    def _version_of(self, path: str) -> int:
        """The current KV version of a document (its metadata only); 0 when there is none."""
        with self._errors():
            try:
                answer = self._kv().read_secret_metadata(path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath:
                return 0
        return int(answer["data"]["current_version"])

    def _destroy(self, path: str) -> None:
        """Delete a document with every version it kept."""
        with self._errors():
            try:
                self._kv().delete_metadata_and_all_versions(path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath:
                pass

    def _list(self, path: str) -> list[str]:
        with self._errors():
            try:
                answer = self._kv().list_secrets(path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath:
                return []
        return list(answer["data"]["keys"])

    def _modify(self, path: str, change: Callable[[dict[str, Any]], T]) -> T:
        """Read-change-write an index with check-and-set, again while others write first.
        ``change`` edits the document in place (and may raise to write nothing)."""
        for _ in range(_CAS_ATTEMPTS):
            stored, version = self._read(path)
            document = unpack_index(stored)
            result = change(document)
            try:
                self._write(path, pack_index(document), cas=version)
            except _Cas:
                continue
            return result
        raise UnavailableError("OpenBao is too busy with changes of the same project; try again.")

    def capabilities(self, paths: Iterable[str]) -> dict[str, list[str]]:
        """This token's capabilities on mount-relative paths (``sys/capabilities-self``)."""
        full = {f"{self.mount}/{path}": path for path in paths}
        with self._errors():
            answer = self.client.adapter.post(
                "/v1/sys/capabilities-self", json={"paths": list(full)}
            )
        body = answer.json() if hasattr(answer, "json") else answer
        data = body.get("data", body)
        return {full[key]: list(data.get(key, [])) for key in full}

    # -- paths ---------------------------------------------------------------------------

    @staticmethod
    def _project_index(project: str) -> str:
        return f"projects/{check_segment('project', project)}/index"

    @staticmethod
    def _own_value(project: str, secret_id: str) -> str:
        return f"projects/{check_segment('project', project)}/secrets/{secret_id}"

    @staticmethod
    def _shared_index(community: str, project: str) -> str:
        return f"communities/{check_segment('community', community)}/projects/{project}/index"

    @staticmethod
    def _shared_value(community: str, project: str, secret_id: str) -> str:
        check_segment("community", community)
        return f"communities/{community}/projects/{project}/secrets/{secret_id}"

    @staticmethod
    def _marker(community: str) -> str:
        return f"communities/{check_segment('community', community)}/marker"

    # -- documents -----------------------------------------------------------------------

    def _own(self, project: str) -> dict[str, Any]:
        """The project's index: ``{"secrets": {id: entry}, "attached": {id: attachment}}``."""
        return self._read_index(self._project_index(project))[0]

    def _shared(self, view: View) -> dict[str, tuple[str, dict[str, Any]]]:
        """The entries shared with the view's communities by other projects, by ID, with the
        first community (by name) the view sees each through. A community this token may not
        read is skipped: the configured list is only a hint."""
        communities = sorted(view.communities)
        # Two rounds whatever the number of communities: every listing at once, then every
        # owner's index at once.
        listings = self._map(self._owners_or_none, communities)
        sources = [
            (community, self._shared_index(community, owner))
            for community, owners in zip(communities, listings, strict=True)
            if owners is not None
            for owner in owners
            if owner != view.project and SEGMENT.fullmatch(owner)
        ]
        documents = self._map(self._read_index_or_empty, [path for _, path in sources])
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for (community, _), (document, _) in zip(sources, documents, strict=True):
            for secret_id, entry in (document.get("secrets") or {}).items():
                found.setdefault(secret_id, (community, entry))
        return found

    def _owners_or_none(self, community: str) -> list[str] | None:
        """The projects that shared something with ``community``; None when this token may
        not read it."""
        try:
            return [key.rstrip("/") for key in self._list(f"communities/{community}/projects")]
        except ForbiddenError:
            self.log.debug("This token cannot read community %s", community)
            return None

    def _read_index(self, path: str) -> tuple[dict[str, Any], int]:
        """An index and its KV version; an empty one for none."""
        stored, version = self._read(path)
        return unpack_index(stored), version

    def _read_index_or_empty(self, path: str) -> tuple[dict[str, Any], int]:
        try:
            return self._read_index(path)
        except ForbiddenError:
            return {}, 0

    def _read_or_none(self, path: str) -> tuple[dict[str, Any] | None, int]:
        try:
            return self._read(path)
        except ForbiddenError:
            return None, 0

    @staticmethod
    def _attached_as(
        attachment: Mapping[str, Any] | None, entry: Mapping[str, Any], project: str
    ) -> str | None:
        """The name under which ``project`` added the secret, while that still holds: the
        share it was added through was not withdrawn from ``project`` since."""
        if not attachment:
            return None
        share = entry.get("share") or {}
        if attachment.get("epoch") != share.get("epoch"):
            return None
        revoked = (share.get("revoked") or {}).get(project)
        if revoked is not None and attachment.get("generation", 0) <= revoked:
            return None
        return attachment.get("name")

    @staticmethod
    def _stored(secret_id: str, entry: Mapping[str, Any], attached_as: str | None) -> StoredSecret:
        return StoredSecret(
            id=secret_id,
            project=entry["project"],
            name=entry["name"],
            version=int(entry["version"]),
            created_by=entry["created_by"],
            created_at=_time(entry["created_at"]),
            updated_at=_time(entry["updated_at"]),
            updated_by=entry["updated_by"],
            value_length=int(entry["value_length"]),
            shared_with=tuple(sorted(entry.get("shared_with") or ())),
            attached_as=attached_as,
        )

    def _locate(self, view: View, secret_id: str) -> tuple[str | None, dict[str, Any], dict]:
        """Where the view sees a secret: (None, entry, index) for its own, (community,
        entry, index) for a shared one; `NotFoundError` otherwise."""
        check_id(secret_id)
        own = self._own(view.project)
        entry = (own.get("secrets") or {}).get(secret_id)
        if entry is not None:
            return None, entry, own
        shared = self._shared(view).get(secret_id)
        if shared is None:
            raise NotFoundError("No such secret.")
        return shared[0], shared[1], own

    def _own_entry(self, view: View, secret_id: str) -> dict[str, Any]:
        check_id(secret_id)
        own = self._own(view.project)
        entry = (own.get("secrets") or {}).get(secret_id)
        if entry is None:
            raise NotFoundError("No such secret.")
        return entry

    def _bump(self, community: str, project: str) -> None:
        """Tell the members of ``community`` that something changed."""
        self._write(self._marker(community), {"changed_at": _now(), "by": project}, cas=None)

    def _history(self, entry: dict[str, Any], user: str, now: str, new_value: bool) -> None:
        """Record the entry's new version: a new value is a new kept version; a rename alone
        takes the place of the current one (it holds the same value). Versions KV no longer
        keeps are forgotten. Each item is ``[version, KV version, updated_at, updated_by]``."""
        head = [entry["version"], entry["kv_version"], now, user]
        history = list(entry.get("history") or [])
        history = [head, *history] if new_value or not history else [head, *history[1:]]
        oldest_kept = entry["kv_version"] - self.keep_versions
        entry["history"] = [h for h in history if h[1] >= oldest_kept][: self.keep_versions + 1]

    # -- reads ---------------------------------------------------------------------------

    def list(self, view: View) -> list[StoredSecret]:
        """The view's own secrets (one read) and those shared with its communities (one list
        and one read per owning project and community)."""
        own = self._own(view.project)
        attached = own.get("attached") or {}
        result = [
            self._stored(secret_id, entry, None)
            for secret_id, entry in (own.get("secrets") or {}).items()
        ]
        for secret_id, (_, entry) in self._shared(view).items():
            attachment = attached.get(secret_id)
            result.append(
                self._stored(secret_id, entry, self._attached_as(attachment, entry, view.project))
            )
        return result

    def get(self, view: View, secret_id: str) -> StoredSecret:
        """One secret the view can see."""
        community, entry, own = self._locate(view, secret_id)
        if community is None:
            return self._stored(secret_id, entry, None)
        attachment = (own.get("attached") or {}).get(secret_id)
        return self._stored(secret_id, entry, self._attached_as(attachment, entry, view.project))

    def read_values(self, view: View, secret_ids: Iterable[str]) -> Mapping[str, str | None]:
        """The current values, read in parallel: own ones from the project, shared ones from
        their community copy. IDs the view cannot see are left out."""
        wanted = [i for i in dict.fromkeys(secret_ids) if isinstance(i, str) and _ID.fullmatch(i)]
        if not wanted:
            return {}
        own = (self._own(view.project).get("secrets") or {}).keys()
        paths: dict[str, str] = {}
        missing = [secret_id for secret_id in wanted if secret_id not in own]
        shared = self._shared(view) if missing else {}
        for secret_id in wanted:
            if secret_id in own:
                paths[secret_id] = self._own_value(view.project, secret_id)
            elif secret_id in shared:
                community, entry = shared[secret_id]
                paths[secret_id] = self._shared_value(community, entry["project"], secret_id)
        values: dict[str, str | None] = {}
        # One audited KV read per value, ``read_concurrency`` at a time.
        documents = self._map(self._read_or_none, paths.values())
        for secret_id, (document, _) in zip(paths, documents, strict=True):
            if document is not None and isinstance(document.get("value"), str):
                values[secret_id] = document["value"]
        return values

    def change_marker(self, view: View) -> str:
        """The KV versions of the project's index and of each community's marker: one
        metadata read each, whatever the number of secrets."""
        communities = sorted(view.communities)
        # The project's own refusal is raised; a community's only shows as "-".
        paths = [(self._project_index(view.project), False)]
        paths += [(self._marker(community), True) for community in communities]
        versions = self._map(self._version_or_none, paths)
        parts = [str(versions[0])]
        for community, version in zip(communities, versions[1:], strict=True):
            parts.append(f"{community}={'-' if version is None else version}")
        return ";".join(parts)

    def _version_or_none(self, item: tuple[str, bool]) -> int | None:
        """`_version_of` the path; None when refused and ``item[1]`` tolerates that."""
        path, tolerate = item
        try:
            return self._version_of(path)
        except ForbiddenError:
            if tolerate:
                return None
            raise

    # -- writes --------------------------------------------------------------------------
    # (``record`` is ignored: this store keeps no audit log of its own, OpenBao's audit
    # device records every request.)

    def create(
        self, view: View, *, name: str, value: str, user: str, record: Recorder | None = None
    ) -> StoredSecret:
        """Write the value (a new ID, so it clashes with nothing), then claim the name in the
        project's index; on a clash the value is deleted again."""
        secret_id = uuid.uuid4().hex
        return self._put(view.project, secret_id, name=name, value=value, user=user)

    def _put(
        self,
        project: str,
        secret_id: str,
        *,
        name: str,
        value: str,
        user: str,
        created_at: str | None = None,
        updated_at: str | None = None,
        updated_by: str | None = None,
        version: int = 1,
    ) -> StoredSecret:
        path = self._own_value(project, secret_id)
        try:
            kv_version = self._write(path, {"value": value}, cas=0)
        except _Cas:
            raise NameTakenError("A secret with this ID exists already.") from None
        with self._errors():
            self._kv().update_metadata(
                path, max_versions=self.keep_versions + 1, mount_point=self.mount
            )
        now = _now()
        entry = {
            "project": project,
            "name": name,
            "version": version,
            "kv_version": kv_version,
            "created_by": user,
            "created_at": created_at or now,
            "updated_at": updated_at or now,
            "updated_by": updated_by or user,
            "value_length": len(value),
            "shared_with": [],
            "share": None,
        }
        self._history(entry, entry["updated_by"], entry["updated_at"], True)

        def claim(document: dict[str, Any]) -> None:
            secrets = document.setdefault("secrets", {})
            if any(other["name"] == name for other in secrets.values()):
                raise NameTakenError(
                    "A secret with this name already exists in this project.", "name"
                )
            secrets[secret_id] = entry

        try:
            self._modify(self._project_index(project), claim)
        except BaseException:
            self._destroy(path)
            raise
        return self._stored(secret_id, entry, None)

    def update(
        self,
        view: View,
        secret_id: str,
        *,
        expected_version: int,
        user: str,
        name: str | None = None,
        value: str | None = None,
        record: Recorder | None = None,
    ) -> StoredSecret:
        """Claim the new version in the project's index (check-and-set: the index decides
        the race), then write the value over its KV version (check-and-set again), then let
        the change follow into the shared copies."""
        check_id(secret_id)
        now = _now()
        before: dict[str, Any] = {}

        def claim(document: dict[str, Any]) -> dict[str, Any]:
            secrets = document.get("secrets") or {}
            entry = secrets.get(secret_id)
            if entry is None:
                raise NotFoundError("No such secret.")
            if entry["version"] != expected_version:
                raise StaleVersionError(
                    "This secret was changed by someone else. Reload it and try again.",
                    "version",
                )
            if name is not None and any(
                other["name"] == name for key, other in secrets.items() if key != secret_id
            ):
                raise NameTakenError(
                    "A secret with this name already exists in this project.", "name"
                )
            before.clear()
            before.update(entry)
            changed = dict(entry)
            changed["version"] = entry["version"] + 1
            changed["updated_at"] = now
            changed["updated_by"] = user
            if name is not None:
                changed["name"] = name
            if value is not None:
                changed["kv_version"] = entry["kv_version"] + 1
                changed["value_length"] = len(value)
            self._history(changed, user, now, value is not None)
            secrets[secret_id] = changed
            return changed

        entry = self._modify(self._project_index(view.project), claim)
        if value is not None:
            try:
                self._write(
                    self._own_value(view.project, secret_id),
                    {"value": value},
                    cas=before["kv_version"],
                )
            except _Cas:
                self._restore_entry(view.project, secret_id, entry, before)
                raise StaleVersionError(
                    "This secret was changed by someone else. Reload it and try again.",
                    "version",
                ) from None
            except BaseException:
                self._restore_entry(view.project, secret_id, entry, before)
                raise
        self._follow(view.project, secret_id, entry, value)
        return self._stored(secret_id, entry, None)

    def _restore_entry(
        self, project: str, secret_id: str, claimed: dict[str, Any], before: dict[str, Any]
    ) -> None:
        """Undo a claimed version whose value could not be written."""

        def undo(document: dict[str, Any]) -> None:
            secrets = document.get("secrets") or {}
            if secrets.get(secret_id) == claimed:
                secrets[secret_id] = before

        try:
            self._modify(self._project_index(project), undo)
        except Exception:
            self.log.warning("Could not undo a failed change of secret %s", secret_id)

    def _follow(
        self, project: str, secret_id: str, entry: dict[str, Any], value: str | None
    ) -> None:
        """Bring the shared copies up to date with the owner's change (``update`` only: the
        project policy cannot create a copy)."""
        for community in entry.get("shared_with") or ():
            try:
                copy_kv = None
                if value is not None:
                    copy_kv = self._write(
                        self._shared_value(community, project, secret_id), {"value": value}, None
                    )
                self._set_shared_entry(
                    community,
                    project,
                    secret_id,
                    entry,
                    copy_kv=copy_kv,
                    advance="value" if value is not None else "rename",
                )
                self._bump(community, project)
            except ForbiddenError as error:
                self.log.warning(
                    "The copy of secret %s in community %s could not follow: %s",
                    secret_id,
                    community,
                    error.message,
                )

    def _set_shared_entry(
        self,
        community: str,
        project: str,
        secret_id: str,
        entry: dict[str, Any] | None,
        *,
        copy_kv: int | None = None,
        history: list[list[Any]] | None = None,
        advance: str | None = None,
    ) -> None:
        """Write the owner's entry into a community's index (None removes it). Its history
        counts the copy's own KV versions: a new copy brings its whole ``history``; a change
        ``advance``s it by a new ``"value"`` (at ``copy_kv``) or a ``"rename"``; otherwise
        (shares) it stays."""

        def change(document: dict[str, Any]) -> None:
            secrets = document.setdefault("secrets", {})
            if entry is None:
                secrets.pop(secret_id, None)
                return
            old = secrets.get(secret_id) or {}
            shared = dict(entry)
            if history is not None:
                shared["kv_version"], shared["history"] = copy_kv, history
            else:
                shared["kv_version"] = copy_kv if copy_kv is not None else old.get("kv_version")
                shared["history"] = list(old.get("history") or [])
                if advance is not None and shared["kv_version"] is not None:
                    self._history(
                        shared, entry["updated_by"], entry["updated_at"], advance == "value"
                    )
            secrets[secret_id] = shared

        self._modify(self._shared_index(community, project), change)

    def _make_copy(
        self, community: str, project: str, secret_id: str, entry: Mapping[str, Any]
    ) -> tuple[list[list[Any]], int | None]:
        """Create a community's copy of a secret with every kept value, oldest first, so its
        members see the same versions; return the copy's history and current KV version."""
        history = entry.get("history") or []
        source = self._own_value(project, secret_id)
        target = self._shared_value(community, project, secret_id)
        with self._errors():
            self._kv().update_metadata(
                target, max_versions=self.keep_versions + 1, mount_point=self.mount
            )
        copied: dict[int, int] = {}
        for kv_version in sorted({item[1] for item in history} | {entry["kv_version"]}):
            document, _ = self._read(source, version=kv_version)
            if document is not None:
                copied[kv_version] = self._write(target, {"value": document["value"]}, None)
        copy_history = [
            [version, copied[kv], at, by] for version, kv, at, by in history if kv in copied
        ]
        return copy_history, copied.get(entry["kv_version"])

    def delete(self, view: View, secret_id: str, record: Recorder | None = None) -> None:
        """Remove it from the index, then its value and versions, then its shared copies."""
        check_id(secret_id)

        def remove(document: dict[str, Any]) -> dict[str, Any]:
            entry = (document.get("secrets") or {}).pop(secret_id, None)
            if entry is None:
                raise NotFoundError("No such secret.")
            return entry

        entry = self._modify(self._project_index(view.project), remove)
        self._destroy(self._own_value(view.project, secret_id))
        for community in entry.get("shared_with") or ():
            try:
                self._destroy(self._shared_value(community, view.project, secret_id))
                self._set_shared_entry(community, view.project, secret_id, None)
                self._bump(community, view.project)
            except ForbiddenError as error:
                self.log.warning(
                    "The copy of deleted secret %s in community %s remains: %s",
                    secret_id,
                    community,
                    error.message,
                )

    def community_admin(self, view: View, community: str) -> bool:
        """Whether this server's token may share the view's secrets with ``community``."""
        path = f"data/{self._shared_value(community, view.project, 'any')}"
        capabilities = self.capabilities([path])[path]
        return "root" in capabilities or "create" in capabilities

    def set_shares(
        self,
        view: View,
        secret_id: str,
        *,
        add: Iterable[str],
        remove: Iterable[str],
        detach: Iterable[str] = (),
        record: Recorder | None = None,
    ) -> StoredSecret:
        """Create the copies of ``add`` and delete those of ``remove`` (the admin policies of
        those communities allow it, or nothing is written), then record the shares.

        Who added the secret is kept in each project's own index, which only that project
        writes; so ``detach`` is recorded in the secret's share state instead: each share
        has an epoch (new whenever the secret becomes shared at all) and a generation, and a
        project detached at generation ``g`` holds only additions made after it."""
        project = view.project
        check_id(secret_id)
        entry = self._own_entry(view, secret_id)
        current = set(entry.get("shared_with") or ())
        added = sorted(set(add) - set(remove) - current)
        removed = sorted(set(remove) & current)
        detached = sorted(set(detach))
        if not added and not removed and not detached:
            return self._stored(secret_id, entry, None)
        self._check_admin(project, secret_id, added, removed)
        # The admin's writes first: a refusal there leaves everything as it was.
        copies = {c: self._make_copy(c, project, secret_id, entry) for c in added}
        for community in removed:
            self._destroy(self._shared_value(community, project, secret_id))
            self._set_shared_entry(community, project, secret_id, None)
            self._bump(community, project)

        def record(document: dict[str, Any]) -> dict[str, Any]:
            secrets = document.get("secrets") or {}
            fresh = secrets.get(secret_id)
            if fresh is None:
                raise NotFoundError("No such secret.")
            fresh = dict(fresh)
            before = set(fresh.get("shared_with") or ())
            after = (before | set(added)) - set(removed)
            share = dict(fresh.get("share") or {}) if before and after else {}
            if after and not share:
                share = {"epoch": uuid.uuid4().hex, "generation": 0, "revoked": {}}
            if share and detached:
                revoked = dict(share.get("revoked") or {})
                for other in detached:
                    revoked[other] = share["generation"]
                share = {**share, "generation": share["generation"] + 1, "revoked": revoked}
            fresh["shared_with"] = sorted(after)
            fresh["share"] = share or None
            secrets[secret_id] = fresh
            return fresh

        entry = self._modify(self._project_index(project), record)
        for community in entry["shared_with"]:
            if community in copies:
                history, copy_kv = copies[community]
                self._set_shared_entry(
                    community, project, secret_id, entry, copy_kv=copy_kv, history=history
                )
            else:
                self._set_shared_entry(community, project, secret_id, entry)
            self._bump(community, project)
        return self._stored(secret_id, entry, None)

    def _check_admin(
        self, project: str, secret_id: str, added: list[str], removed: list[str]
    ) -> None:
        """Refuse before writing anything unless the token may create the copies of
        ``added`` and delete those of ``removed``."""
        wanted = {f"data/{self._shared_value(c, project, secret_id)}": ("create", c) for c in added}
        wanted.update(
            {
                f"metadata/{self._shared_value(c, project, secret_id)}": ("delete", c)
                for c in removed
            }
        )
        if not wanted:
            return
        granted = self.capabilities(wanted)
        for path, (capability, community) in wanted.items():
            if "root" in granted[path] or capability in granted[path]:
                continue
            raise ForbiddenError(
                f"OpenBao refused this: permission denied ({capability} on {self.mount}/{path}; "
                f"this server's token lacks the policy {admin_policy_name(community)})."
            )

    def set_attachment(
        self, view: View, secret_id: str, name: str | None, record: Recorder | None = None
    ) -> StoredSecret:
        """Record in the project's index that it added the shared secret (with the share it
        came through), or remove that record."""
        check_id(secret_id)
        shared = self._shared(view).get(secret_id)
        if shared is None:
            raise NotFoundError("No such secret.")
        _, entry = shared
        share = entry.get("share") or {}
        attachment = {
            "name": name,
            "project": entry["project"],
            "epoch": share.get("epoch"),
            "generation": share.get("generation", 0),
        }

        def change(document: dict[str, Any]) -> None:
            attached = document.setdefault("attached", {})
            if name is None:
                attached.pop(secret_id, None)
            else:
                attached[secret_id] = attachment

        self._modify(self._project_index(view.project), change)
        shown = self._attached_as(attachment, entry, view.project) if name else None
        return self._stored(secret_id, entry, shown)

    def import_secret(
        self,
        project: str,
        secret: StoredSecret,
        value: str,
        earlier: Callable[[], Sequence[tuple[VersionInfo, str]]] | None = None,
    ) -> bool:
        """Copy a secret from another store with its ID, name, version, times and the
        kept versions ``earlier()`` gives (oldest first; asked only when the secret is
        new to OpenBao), for the migration. False when OpenBao
        holds that version already; an older one there is brought up to date. Its shares
        and the projects that added it are set afterwards, as usual."""
        check_id(secret.id)
        existing = (self._own(project).get("secrets") or {}).get(secret.id)
        if existing is not None and (existing["version"], existing["name"]) == (
            secret.version,
            secret.name,
        ):
            return False
        path = self._own_value(project, secret.id)
        with self._errors():
            self._kv().update_metadata(
                path, max_versions=self.keep_versions + 1, mount_point=self.mount
            )
        history: list[list[Any]] = []
        if existing is None and earlier is not None and self.keep_versions:
            for info, old_value in earlier()[-self.keep_versions :]:
                kv = self._write(path, {"value": old_value}, cas=None)
                at = info.updated_at.astimezone(UTC).isoformat()
                history.insert(0, [info.version, kv, at, info.updated_by])
        kv_version = self._write(path, {"value": value}, cas=None)

        def put(document: dict[str, Any]) -> dict[str, Any]:
            secrets = document.setdefault("secrets", {})
            if any(
                other["name"] == secret.name for key, other in secrets.items() if key != secret.id
            ):
                raise NameTakenError(
                    "A secret with this name already exists in this project.", "name"
                )
            before = secrets.get(secret.id) or {}
            entry = {
                "project": project,
                "name": secret.name,
                "version": secret.version,
                "kv_version": kv_version,
                "created_by": secret.created_by,
                "created_at": secret.created_at.astimezone(UTC).isoformat(),
                "updated_at": secret.updated_at.astimezone(UTC).isoformat(),
                "updated_by": secret.updated_by,
                "value_length": len(value),
                "shared_with": before.get("shared_with") or [],
                "share": before.get("share"),
                "history": before.get("history") or history,
            }
            self._history(entry, secret.updated_by, entry["updated_at"], True)
            secrets[secret.id] = entry
            return entry

        entry = self._modify(self._project_index(project), put)
        self._follow(project, secret.id, entry, value)
        return True

    # -- versions ------------------------------------------------------------------------

    def versions(self, view: View, secret_id: str) -> list[VersionInfo]:
        """From the index's history (a shared copy has its own): no value is read."""
        _, entry, _ = self._locate(view, secret_id)
        history = entry.get("history") or [
            [entry["version"], entry.get("kv_version"), entry["updated_at"], entry["updated_by"]]
        ]
        return [
            VersionInfo(
                version=int(version),
                updated_at=_time(at),
                updated_by=by,
                current=index == 0,
            )
            for index, (version, _, at, by) in enumerate(history)
        ]

    def read_version(self, view: View, secret_id: str, version: int) -> str:
        """The value of a kept version, at its KV version (of the copy, for a shared one)."""
        community, entry, _ = self._locate(view, secret_id)
        gone = NotFoundError(f"Version {version} of this secret is no longer kept.")
        kv_versions = [item[1] for item in entry.get("history") or () if item[0] == version]
        if not kv_versions or kv_versions[0] is None:
            raise gone
        if community is None:
            path = self._own_value(view.project, secret_id)
        else:
            path = self._shared_value(community, entry["project"], secret_id)
        document, _ = self._read(path, version=int(kv_versions[0]))
        if document is None or not isinstance(document.get("value"), str):
            raise gone
        return document["value"]
