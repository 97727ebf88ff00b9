"""What a server keeps in memory of what it read from OpenBao, so that it reads each thing
again only when its KV version moves. Nothing here is ever written to disk.

`Versioned` holds one item per path, at the KV version it was read at: the values of secrets
(`values`), and indexes already unpacked (`Indexes`). An index is read again only when its
metadata, read with the server's token at every use, names another version; a value only
when the index that names it gives it another KV version (see ``store.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import Any, Generic, TypeVar

from ...errors import ForbiddenError
from .index import read_index
from .kv import Kv

T = TypeVar("T")


class Versioned(Generic[T]):
    """Items by path, each at one KV version; safe to share between threads. An item is
    shared, never copied: callers must not change it."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[int, T]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, path: str, version: int) -> T | None:
        """The item of ``path`` if it is kept at ``version``; else None."""
        kept = self._items.get(path)
        return kept[1] if kept is not None and kept[0] == version else None

    def version(self, path: str) -> int | None:
        """The version at which ``path`` is kept, if it is."""
        kept = self._items.get(path)
        return None if kept is None else kept[0]

    def put(self, path: str, version: int, item: T) -> None:
        """Keep ``item`` as ``path`` at ``version``, unless a newer version is kept."""
        with self._lock:
            kept = self._items.get(path)
            if kept is None or kept[0] <= version:
                self._items[path] = (version, item)

    def forget(self, path: str) -> None:
        with self._lock:
            self._items.pop(path, None)

    def forget_under(self, prefix: str) -> None:
        """Forget every path under the folder ``prefix``."""
        folder = prefix.rstrip("/") + "/"
        with self._lock:
            for path in [p for p in self._items if p.startswith(folder)]:
                del self._items[path]

    def retain(self, paths: Collection[str], under: str) -> None:
        """Forget the paths under the folder ``under`` that are not in ``paths``."""
        folder = under.rstrip("/") + "/"
        with self._lock:
            for path in [p for p in self._items if p.startswith(folder) and p not in paths]:
                del self._items[path]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Indexes:
    """Index documents (``index.py``) read through one `Kv`, kept unpacked by KV version.

    Reading an index kept in memory costs one metadata request, made with the server's token
    (so a token that lost its right to the index is refused, whatever is kept); an index not
    kept, or kept at another version, is read and unpacked.
    """

    def __init__(self, kv: Kv) -> None:
        self.kv = kv
        self.kept: Versioned[dict[str, Any]] = Versioned()

    def read(self, path: str) -> tuple[dict[str, Any], int]:
        """The index at ``path`` and its KV version; an empty one (version 0) for none."""
        if self.kept.version(path) is not None:
            version = self.kv.version_of(path)
            if version == 0:
                self.kept.forget(path)
                return {}, 0
            document = self.kept.get(path, version)
            if document is not None:
                return document, version
        document, version = read_index(self.kv, path)
        if version:
            self.kept.put(path, version, document)
        else:
            self.kept.forget(path)
        return document, version

    def read_or_empty(self, path: str) -> tuple[dict[str, Any], int]:
        """`read`, or an empty index when this token may not read it."""
        try:
            return self.read(path)
        except ForbiddenError:
            self.kept.forget(path)
            return {}, 0

    def wrote(self, path: str, version: int, document: dict[str, Any]) -> None:
        """Keep what this server just wrote at ``version`` (a `modify` hook)."""
        self.kept.put(path, version, document)
