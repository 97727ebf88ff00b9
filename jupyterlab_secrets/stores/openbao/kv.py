"""KV v2 access through ``hvac``: the clients, reads at once, and OpenBao's errors mapped.

Everything the store asks of OpenBao goes through `Kv`, so that the rest of the store speaks
of documents and domain errors, never of HTTP: a 403 of OpenBao becomes `ForbiddenError`
carrying OpenBao's reason, a rejected token or an OpenBao that cannot serve or be reached
becomes `UnavailableError`, and a lost check-and-set becomes `CasConflict`. The token lives
in memory only, in each thread's client.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from ...errors import ForbiddenError, UnavailableError

T = TypeVar("T")


class CasConflict(Exception):
    """A check-and-set write lost to another writer."""


def reason(error: hvac.exceptions.VaultError) -> str:
    """OpenBao's own words for a refusal, on one line (never a value: it sends none back)."""
    errors = error.errors or [str(error.args[0] if error.args else "")]
    text = "; ".join(" ".join(str(e).replace("*", " ").split()) for e in errors)
    text = re.sub(r"^1 error occurred:\s*", "", text)
    return text or type(error).__name__


def _shown(error: hvac.exceptions.VaultError) -> str:
    """The API path of a failed request, without the address."""
    url = error.url or ""
    return url.split("/v1/", 1)[-1] if "/v1/" in url else url


class Kv:
    """Documents on one KV v2 mount, with one token.

    ``read_concurrency`` documents are read at once (`map`), each by its own thread's client;
    1 reads them one after another in the calling thread. Every read stays one KV request,
    audited by OpenBao; only their waits overlap.
    """

    def __init__(self, *, url: str, token: str, mount: str, read_concurrency: int) -> None:
        self.url = url
        self.mount = mount
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
        except (hvac.exceptions.VaultDown, hvac.exceptions.InternalServerError) as error:
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
        Raises `CasConflict` when another writer came first. Returns the new KV version."""
        with self.errors():
            try:
                answer = self._kv().create_or_update_secret(
                    path, dict(document), cas=cas, mount_point=self.mount
                )
            except hvac.exceptions.InvalidRequest as error:
                if "check-and-set" in str(error):
                    raise CasConflict() from None
                raise
        return int(answer["data"]["version"])

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
