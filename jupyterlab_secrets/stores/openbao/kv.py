"""KV v2 access through ``hvac``: the clients, the nodes of a cluster, reads at once, writes
that are never lost nor applied twice, and OpenBao's errors mapped.

Everything the store asks of OpenBao goes through `Kv`, so that the rest of the store speaks
of documents and domain errors, never of HTTP: a 403 of OpenBao becomes `ForbiddenError`
carrying OpenBao's reason, a rejected token or an OpenBao that cannot serve or be reached
becomes `UnavailableError`, and a lost check-and-set becomes `CasConflict`. The token lives
in memory only, in each thread's client.

**A cluster.** ``openbao_url`` may name every node of one OpenBao cluster, separated by commas
(`Cluster`). Each request goes to the node that answered last; when a node does not answer
(no connection), the next one is tried. Requests that change nothing when repeated (reads,
listings, deletions, capability checks, version limits) are retried on 412, 500, 502 and 503
with a short backoff by urllib3's `Retry`, mounted on the ``requests`` session hvac uses: that
rides out the few seconds a cluster needs to elect a new leader. A write of a document is
never repeated blindly: when its outcome is unknown (the node died after it was sent, or
answered 5xx), `Kv.write` reads the document back, so a write that landed is reported as
done and one that did not is made again; with check-and-set, OpenBao's active node decides,
so it is applied at most once.

**Reading one's own writes.** Nodes that are not active serve reads from their own copy of
the Raft log, which may lag behind a write that just went through the active node. Every
request carries the newest storage index (``X-Vault-Index``) this process has seen with
``X-Vault-Inconsistent: forward-active-node``: a node that has not caught up with it hands the
request to the active node, so the store reads what it wrote.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import hvac
import hvac.adapters
import hvac.exceptions
import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ...errors import ForbiddenError, UnavailableError

T = TypeVar("T")

_log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({412, 500, 502, 503})
"""Answers after which a request that changes nothing when repeated is sent again: 412 (a node
not caught up yet), 500 (a standby that lost its leader), 502 and 503 (a node or proxy that
cannot serve now)."""

REPEATABLE_METHODS = frozenset({"GET", "HEAD", "LIST", "OPTIONS", "DELETE", "PUT"})
"""Methods whose requests change nothing when repeated, here: reads, listings, deletions, and
``PUT`` (which only the operator's setup uses, to write policies)."""

REPEATABLE_POSTS = ("metadata/", "sys/capabilities-self")
"""``POST`` requests that change nothing when repeated: a document's version limit (under the
mount) and a capability check. A ``POST`` of a document (``data/…``) is never repeated
blindly (see `Kv.write`)."""

FAILOVER_SECONDS = 10.0
"""How long a request keeps going round the nodes while none answers."""

CONNECT_TIMEOUT = 3.05
"""Seconds to wait for a node to accept a connection before trying the next one."""

READ_TIMEOUT = 30
"""Seconds to wait for an answer once a request is sent."""

_WRITE_ATTEMPTS = 4
"""How often `Kv.write` sends a document whose earlier sending had no clear outcome."""

_UNSURE = (
    hvac.exceptions.InternalServerError,
    hvac.exceptions.BadGateway,
    hvac.exceptions.VaultDown,
    hvac.exceptions.PreconditionFailed,
    requests.ConnectionError,
    requests.Timeout,
)
"""What a write may end with although OpenBao applied it."""


class CasConflict(Exception):
    """A check-and-set write lost to another writer."""


def reason(error: hvac.exceptions.VaultError) -> str:
    """OpenBao's own words for a refusal, on one line (never a value: it sends none back)."""
    errors = error.errors or [str(error.args[0] if error.args else "")]
    text = "; ".join(" ".join(str(e).replace("*", " ").split()) for e in errors)
    text = re.sub(r"^1 error occurred:\s*", "", text)
    return text or type(error).__name__


def nodes_of(url: str) -> list[str]:
    """The node addresses of ``openbao_url``: one, or several separated by commas (the nodes
    of one cluster), each without a trailing ``/``; the same node once."""
    nodes = []
    for part in url.split(","):
        node = part.strip().rstrip("/")
        if node and node not in nodes:
            nodes.append(node)
    if not nodes or any(not re.fullmatch(r"https?://[^/\s]+(/\S*)?", node) for node in nodes):
        raise UnavailableError(
            f"SecretsExtension.openbao_url {url!r} is not an OpenBao address, nor several "
            "separated by commas (each http:// or https:// and a host)."
        )
    return nodes


def _storage_index(value: str) -> int | None:
    """The position an ``X-Vault-Index`` stands for, when it can be read (OpenBao's Raft
    storage sends base64 JSON holding a number); None otherwise (it is opaque)."""
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
        return int(decoded["value"])
    except (ValueError, TypeError, KeyError):
        return None


def _not_sent(error: requests.RequestException) -> bool:
    """Whether a request failed before it reached a node (no connection was made)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    cause = error.args[0] if error.args else None
    cause = getattr(cause, "reason", cause)
    return isinstance(
        cause, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    )


class Cluster:
    """The nodes of one OpenBao cluster as this process sees them: which answered last, the
    newest storage index seen, and how many requests were sent again (`retried`) or moved to
    another node (`failovers`). Shared by every thread's client."""

    def __init__(self, url: str, log: logging.Logger | None = None) -> None:
        self.nodes = nodes_of(url)
        self.log = log or _log
        self.retried = 0
        self.failovers = 0
        self._current = 0
        self._index: str | None = None
        self._lock = threading.Lock()

    def __str__(self) -> str:
        return ", ".join(self.nodes)

    def order(self) -> list[str]:
        """The nodes in the order to try them: the one that answered last first."""
        with self._lock:
            start = self._current
        return self.nodes[start:] + self.nodes[:start]

    def answered(self, node: str) -> None:
        with self._lock:
            self._current = self.nodes.index(node)

    def unanswered(self, node: str, error: BaseException) -> None:
        with self._lock:
            self.failovers += 1
        self.log.warning(
            "OpenBao node %s gave no answer (%s); trying the next one", node, type(error).__name__
        )

    def headers(self) -> dict[str, str]:
        """What every request carries so that it sees this process's own writes."""
        with self._lock:
            index = self._index
        if index is None:
            return {}
        return {"X-Vault-Index": index, "X-Vault-Inconsistent": "forward-active-node"}

    def saw(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A ``requests`` response hook: keep the newest storage index OpenBao reported."""
        index = response.headers.get("X-Vault-Index")
        if not index:
            return
        position = _storage_index(index)
        with self._lock:
            known = None if self._index is None else _storage_index(self._index)
            if position is None or known is None or position >= known:
                self._index = index

    def retrying(
        self, method: str | None, url: str | None, status: int | None, error: object
    ) -> None:
        """Called by `CountingRetry` before each request sent again."""
        with self._lock:
            self.retried += 1
        cause = f"answer {status}" if status else type(error).__name__
        path = (url or "").split("?", 1)[0]
        self.log.info("OpenBao request %s %s sent again after %s", method, path, cause)


class CountingRetry(Retry):
    """urllib3's `Retry` that tells its `Cluster` of every request it sends again."""

    cluster: Cluster | None = None

    def new(self, **kw: Any) -> CountingRetry:
        retry = super().new(**kw)
        retry.cluster = self.cluster
        return retry

    def increment(
        self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any
    ) -> CountingRetry:
        retry = super().increment(method, url, *args, **kwargs)  # raises when none is left
        if self.cluster is not None:
            response = kwargs.get("response") or (args[0] if args else None)
            error = kwargs.get("error") or (args[1] if len(args) > 1 else None)
            self.cluster.retrying(method, url, getattr(response, "status", None), error)
        return retry


def _retry(cluster: Cluster, methods: Iterable[str]) -> CountingRetry:
    """How one node is asked again: a refused connection once (then the next node is tried),
    a broken answer twice, and a 412/500/502/503 for about ten seconds, backing off from 0.2 s
    to 1 s (long enough for a Raft cluster to elect a new leader)."""
    retry = CountingRetry(
        total=None,
        connect=1,
        read=2,
        status=15,
        other=0,
        redirect=False,
        allowed_methods=frozenset(methods),
        status_forcelist=RETRIED_STATUSES,
        backoff_factor=0.1,
        backoff_max=1.0,
        retry_after_max=2,
        raise_on_status=False,
    )
    retry.cluster = cluster
    return retry


class ClusterAdapter(hvac.adapters.JSONAdapter):
    """hvac's JSON adapter, sending each request to the nodes of a `Cluster` in turn until
    one answers; when none does (the cluster is electing a leader, and the nodes left send
    requests on to the one that died), again after a backoff, for `FAILOVER_SECONDS`. A
    request that may have reached a node is moved to another only when it changes nothing
    when repeated; a write's unclear outcome is left to `Kv.write`."""

    def __init__(
        self, *args: Any, cluster: Cluster, repeatable_posts: Iterable[str] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        self.repeatable_posts = tuple(f"/v1/{prefix}" for prefix in repeatable_posts)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        raise_exception: bool = True,
        **kwargs: Any,
    ) -> Any:
        sent = {**self.cluster.headers(), **(headers or {})}
        verb = method.upper()
        repeatable = verb in REPEATABLE_METHODS or (
            verb == "POST" and url.startswith(self.repeatable_posts)
        )
        deadline = time.monotonic() + FAILOVER_SECONDS
        for attempt in itertools.count():
            for node in self.cluster.order():
                self.base_uri = node
                try:
                    answer = super().request(
                        method, url, headers=dict(sent), raise_exception=raise_exception, **kwargs
                    )
                except requests.RequestException as error:
                    if not (repeatable or _not_sent(error)):
                        raise
                    failure: BaseException = error
                except (hvac.exceptions.VaultDown, hvac.exceptions.BadGateway) as error:
                    # This node cannot serve (sealed, or behind a proxy that lost it).
                    if not repeatable:
                        raise
                    failure = error
                else:
                    self.cluster.answered(node)
                    return answer
                self.cluster.unanswered(node, failure)
            if time.monotonic() >= deadline:
                raise failure
            time.sleep(min(1.0, 0.2 * 2**attempt))
        raise AssertionError("unreachable")


def connect(
    cluster: Cluster, token: str, *, mount: str | None = None, timeout: float = READ_TIMEOUT
) -> hvac.Client:
    """An hvac client of ``cluster``: its own ``requests`` session, with urllib3's retries
    mounted for every node, ``POST``s that change nothing when repeated (`REPEATABLE_POSTS`,
    under ``mount`` for those of the mount) retried as well, and the `ClusterAdapter`."""
    session = requests.Session()
    session.hooks["response"].append(cluster.saw)
    plain = HTTPAdapter(max_retries=_retry(cluster, REPEATABLE_METHODS))
    session.mount("http://", plain)
    session.mount("https://", plain)
    posts = HTTPAdapter(max_retries=_retry(cluster, REPEATABLE_METHODS | {"POST"}))
    prefixes = [p if p.startswith("sys/") else f"{mount}/{p}" for p in REPEATABLE_POSTS]
    prefixes = [p for p in prefixes if mount or p.startswith("sys/")]
    for node in cluster.nodes:
        for prefix in prefixes:
            session.mount(f"{node}/v1/{prefix}", posts)
    return hvac.Client(
        url=cluster.nodes[0],
        token=token,
        timeout=(CONNECT_TIMEOUT, timeout),
        session=session,
        adapter=partial(ClusterAdapter, cluster=cluster, repeatable_posts=prefixes),
    )


def _shown(error: hvac.exceptions.VaultError) -> str:
    """The API path of a failed request, without the address."""
    url = error.url or ""
    return url.split("/v1/", 1)[-1] if "/v1/" in url else url


class Kv:
    """Documents on one KV v2 mount, with one token, on one OpenBao or the nodes of one
    cluster (see the module's description).

    ``read_concurrency`` documents are read at once (`map`), each by its own thread's client;
    1 reads them one after another in the calling thread. Every read stays one KV request,
    audited by OpenBao; only their waits overlap.
    """

    def __init__(
        self,
        *,
        url: str,
        token: str,
        mount: str,
        read_concurrency: int,
        log: logging.Logger | None = None,
    ) -> None:
        self.cluster = Cluster(url, log)
        self.url = str(self.cluster)
        self.mount = mount
        self.read_concurrency = read_concurrency
        self.log = log or _log
        self._token = token
        self._local = threading.local()
        self._clients: list[hvac.Client] = []
        self._lock = threading.Lock()
        self._pool = (
            ThreadPoolExecutor(max_workers=read_concurrency, thread_name_prefix="openbao")
            if read_concurrency > 1
            else None
        )

    @property
    def client(self) -> hvac.Client:
        """This thread's client: hvac's client wraps one `requests.Session`, which is not
        documented as safe to share between threads, so each thread has its own."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = connect(self.cluster, self._token, mount=self.mount)
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

    def map(self, call: Callable[[Any], T], items: Iterable[Any]) -> list[T]:
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
    def errors(self) -> Iterator[None]:
        """Turn OpenBao's refusals and outages into domain errors."""
        try:
            yield
        except hvac.exceptions.Forbidden as error:
            raise ForbiddenError(
                f"OpenBao refused this: {reason(error)} (on {error.method} {_shown(error)})."
            ) from None
        except hvac.exceptions.Unauthorized as error:
            raise UnavailableError(
                f"OpenBao at {self.url} rejects this server's token: {reason(error)}. Give "
                "the server a valid token, then restart it."
            ) from None
        except (
            hvac.exceptions.VaultDown,
            hvac.exceptions.InternalServerError,
            hvac.exceptions.BadGateway,
            hvac.exceptions.PreconditionFailed,
            hvac.exceptions.RateLimitExceeded,
        ) as error:
            raise UnavailableError(
                f"OpenBao at {self.url} cannot serve: {reason(error)}."
            ) from None
        except requests.RequestException as error:
            raise UnavailableError(
                f"OpenBao at {self.url} cannot be reached ({type(error).__name__}). Check "
                "SecretsExtension.openbao_url and that OpenBao runs."
            ) from None

    def _kv(self) -> Any:
        return self.client.secrets.kv.v2

    def read(self, path: str, version: int | None = None) -> tuple[dict[str, Any] | None, int]:
        """A document and its KV version; (None, 0) when there is none."""
        with self.errors():
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

    def write(self, path: str, document: Mapping[str, Any], cas: int | None) -> int:
        """Write a document; with ``cas``, only over that KV version (0: only a new one).
        Raises `CasConflict` when another writer came first. Returns the new KV version.

        When a sending has no clear outcome (no answer, or a 5xx), the document is read back:
        if it landed, its version is returned; if not, it is sent again. With ``cas`` the
        active node decides each sending, so the document is applied at most once; a lost
        check-and-set is checked against the version after ``cas``, which may be this very
        document (sent before without a clear outcome, or handed on twice by a standby).
        """
        document = dict(document)
        with self.errors():
            for attempt in range(_WRITE_ATTEMPTS):
                try:
                    answer = self._kv().create_or_update_secret(
                        path, document, cas=cas, mount_point=self.mount
                    )
                except hvac.exceptions.InvalidRequest as error:
                    if "check-and-set" not in str(error):
                        raise
                    # Ours may be the write that came first: an unclear sending before, or
                    # a standby that handed it to the active node twice.
                    landed = self._landed(path, document, cas)
                    if landed is None:
                        raise CasConflict() from None
                    return landed
                except _UNSURE as error:
                    if attempt == _WRITE_ATTEMPTS - 1:
                        raise
                    self.log.warning(
                        "A write to OpenBao (%s) had no clear outcome (%s); reading it back",
                        path,
                        type(error).__name__,
                    )
                    landed = self._landed(path, document, cas)
                    if landed is not None:
                        return landed
                    continue
                return int(answer["data"]["version"])
        raise AssertionError("unreachable")

    def _landed(self, path: str, document: Mapping[str, Any], cas: int | None) -> int | None:
        """The KV version at which an earlier sending of ``document`` landed; None when it
        did not (with ``cas``: the version after ``cas`` is not this document)."""
        if cas is None:
            current, version = self.read(path)
            return version if current == document else None
        if cas == 0:
            # The document itself, not its metadata: a token that may only create and read
            # (an audit event) checks its own write too.
            written, version = self.read(path, version=1)
            return 1 if version == 1 and written == document else None
        if self.version_of(path) <= cas:
            return None
        written, _ = self.read(path, version=cas + 1)
        return cas + 1 if written == document else None

    def version_of(self, path: str) -> int:
        """The current KV version of a document (its metadata only); 0 when there is none."""
        with self.errors():
            try:
                answer = self._kv().read_secret_metadata(path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath:
                return 0
        return int(answer["data"]["current_version"])

    def keep(self, path: str, versions: int) -> None:
        """Keep at most ``versions`` versions of a document (the oldest are pruned)."""
        with self.errors():
            self._kv().update_metadata(path, max_versions=versions, mount_point=self.mount)

    def destroy_versions(self, path: str, versions: Iterable[int]) -> None:
        """Destroy these versions of a document (their data is deleted; missing ones are
        passed over)."""
        with self.errors():
            self._kv().destroy_secret_versions(path, list(versions), mount_point=self.mount)

    def destroy(self, path: str) -> None:
        """Delete a document with every version it kept."""
        with self.errors():
            try:
                self._kv().delete_metadata_and_all_versions(path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath:
                pass

    def list(self, path: str) -> list[str]:
        """The keys under a folder (sub-folders end with ``/``); none when there is none."""
        with self.errors():
            try:
                answer = self._kv().list_secrets(path, mount_point=self.mount)
            except hvac.exceptions.InvalidPath:
                return []
        return list(answer["data"]["keys"])

    def capabilities(self, paths: Iterable[str]) -> dict[str, list[str]]:
        """This token's capabilities on mount-relative API paths (``sys/capabilities-self``)."""
        full = {f"{self.mount}/{path}": path for path in paths}
        with self.errors():
            answer = self.client.sys.get_capabilities(paths=list(full))
        data = answer.get("data", answer)
        return {full[key]: list(data.get(key, [])) for key in full}

    def policies(self) -> list[str]:
        """The token's policies (names only), from its own lookup."""
        with self.errors():
            answer = self.client.auth.token.lookup_self()
        return sorted(answer["data"].get("policies") or [])


def wait_for_mount(client: hvac.Client, mount: str, timeout: float = 60) -> None:
    """Wait until the KV v2 mount serves on the node ``client`` talks to: right after it is
    created, a node may not know it yet ("no handler for route"), and KV answers that it is
    upgrading to versioned data until it is done. Raises `UnavailableError` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.secrets.kv.v2.read_configuration(mount_point=mount)
            return
        except (
            hvac.exceptions.InvalidPath,
            hvac.exceptions.InvalidRequest,
            hvac.exceptions.PreconditionFailed,
        ) as error:
            if time.monotonic() > deadline:
                raise UnavailableError(
                    f"The mount {mount}/ is not ready after {timeout:g} s: {reason(error)}."
                ) from None
        time.sleep(0.2)
