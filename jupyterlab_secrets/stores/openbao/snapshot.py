"""The values snapshot: one document per project holding the current values of its own
secrets, so that a server that has read nothing yet gets a kernel's environment in one
request instead of one per value.

``projects/<p>/snapshot`` holds ``{secret_id: [kv_version, value]}``, packed into one
compressed string as an index is (OpenBao refuses a request body of more than about a
thousand JSON strings). It is only a shortcut: a reader takes an entry only when its KV
version is the one the project's index (read with the server's token) names, and reads the
value document otherwise. No earlier version of it is kept: a server that writes it
destroys the versions before (OpenBao keeps as many versions of a document as the mount's
setting at least, whatever a document's own ``max_versions``), so a deleted or replaced
value leaves OpenBao with the snapshot's next write. Values above `MAX_VALUE` bytes stay
out, and the document stays under `MAX_PACKED` bytes; those values are read one by one.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import layout
from .kv import CasConflict, Kv

SNAPSHOT_FORMAT = "zlib+json/1"

MAX_VALUE = 16 * 1024
"""The largest value (in UTF-8 bytes) the snapshot holds."""

MAX_PACKED = 512 * 1024
"""The largest packed snapshot written (OpenBao's Raft storage refuses entries of 1 MiB)."""

_ATTEMPTS = 5
"""How often a snapshot write that lost its check-and-set to another server is tried."""

_DESTROYED = 64
"""How many versions before the one written are destroyed: the mount keeps fewer, and each
write destroys those before it."""

Entries = dict[str, list[Any]]
"""``{secret_id: [kv_version, value]}``."""


def pack(entries: Mapping[str, Any]) -> dict[str, str]:
    text = json.dumps(entries, separators=(",", ":"), sort_keys=True).encode()
    return {
        "format": SNAPSHOT_FORMAT,
        "snapshot": base64.b64encode(zlib.compress(text, 6)).decode(),
    }


def unpack(stored: Mapping[str, Any] | None) -> Entries:
    """The entries `pack` stored; none for no document, or one this release does not read
    (an unknown format, or a malformed document)."""
    if not stored or stored.get("format") != SNAPSHOT_FORMAT:
        return {}
    try:
        entries = json.loads(zlib.decompress(base64.b64decode(stored["snapshot"])))
    except (KeyError, TypeError, ValueError, zlib.error):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {
        key: item
        for key, item in entries.items()
        if layout.is_id(key)
        and isinstance(item, list)
        and len(item) == 2
        and isinstance(item[0], int)
        and isinstance(item[1], str)
    }


def fits(value: str) -> bool:
    """Whether a value is small enough for the snapshot."""
    return len(value.encode()) <= MAX_VALUE


class Snapshots:
    """The projects' snapshots, read and written through one `Kv`."""

    def __init__(self, kv: Kv, log: logging.Logger) -> None:
        self.kv = kv
        self.log = log
        self._later = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openbao-snapshot")
        """Where a change's snapshot update runs, one after another in the order asked, so
        that the change is not held up by it."""

    def update_later(
        self,
        project: str,
        changes: Mapping[str, tuple[int, str] | None],
        current: Callable[[], Mapping[str, Any]],
    ) -> None:
        """`update`, after the updates asked for before it, in this store's snapshot thread:
        a change answers without waiting for it (readers check each entry's KV version, so
        a snapshot behind the index only costs them reads)."""
        try:
            self._later.submit(self.update, project, changes, current)
        except RuntimeError:  # closed: the store is stopping, readers fall back
            pass

    def settle(self) -> None:
        """Wait until the updates asked for so far are done (written, or given up)."""
        with contextlib.suppress(RuntimeError):
            self._later.submit(lambda: None).result()

    def close(self) -> None:
        """Finish the updates asked for, then stop."""
        self._later.shutdown(wait=True)

    def read(self, project: str) -> Entries:
        """The project's snapshot, after this store's own pending updates; none when there
        is none, or it cannot be read."""
        self.settle()
        try:
            stored, _ = self.kv.read(layout.project_snapshot(project))
        except Exception as error:
            self.log.warning(
                "The values snapshot of project %s could not be read (%s); its values are "
                "read one by one",
                project,
                type(error).__name__,
            )
            return {}
        return unpack(stored)

    def update(
        self,
        project: str,
        changes: Mapping[str, tuple[int, str] | None],
        current: Callable[[], Mapping[str, Any]],
    ) -> bool:
        """Set (``(kv_version, value)``) or remove (None) entries of the project's snapshot,
        with check-and-set, again a few times while other servers write first. Entries the
        project's index (``current()``: its secrets, read after the snapshot) no longer
        names at their KV version are dropped on the way, so no deleted or replaced value
        stays; a snapshot that would not change is not written. Never raises: a snapshot not
        written is logged (without any value) and readers fall back."""
        path = layout.project_snapshot(project)
        try:
            for _ in range(_ATTEMPTS):
                stored, version = self.kv.read(path)
                entries = unpack(stored)
                before = dict(entries)
                # Read after the snapshot: a delete that removed a secret from the index
                # before this read is seen here; one after it writes the snapshot after us.
                secrets = current()
                for secret_id, change in changes.items():
                    if change is None:
                        entries.pop(secret_id, None)
                    elif fits(change[1]):
                        entries[secret_id] = [change[0], change[1]]
                    else:
                        entries.pop(secret_id, None)
                entries = {
                    key: item
                    for key, item in entries.items()
                    if (secrets.get(key) or {}).get("kv_version") == item[0]
                }
                if version and entries == before:
                    return True
                document = pack(entries)
                while len(document["snapshot"]) > MAX_PACKED and entries:
                    # Too big: leave out the largest values (they are read one by one).
                    largest = max(entries, key=lambda key: len(entries[key][1]))
                    entries.pop(largest)
                    document = pack(entries)
                if version == 0:
                    # Where the mount keeps fewer versions, KV prunes the earlier one itself.
                    self.kv.keep(path, 1)
                try:
                    written = self.kv.write(path, document, cas=version)
                except CasConflict:
                    continue
                if written > 1:
                    self._destroy_before(project, written)
                return True
            self.log.warning(
                "The values snapshot of project %s was not brought up to date: other servers "
                "kept changing it",
                project,
            )
        except Exception as error:
            self.log.warning(
                "The values snapshot of project %s was not brought up to date (%s); its "
                "values are read one by one until it is",
                project,
                getattr(error, "message", None) or type(error).__name__,
            )
        return False

    def _destroy_before(self, project: str, written: int) -> None:
        """Destroy the versions of the snapshot before ``written``, which may hold values
        since replaced or deleted."""
        path = layout.project_snapshot(project)
        try:
            self.kv.destroy_versions(path, range(max(1, written - _DESTROYED), written))
        except Exception as error:
            self.log.warning(
                "Earlier versions of the values snapshot of project %s could not be destroyed "
                "(%s); run openbao-setup to update the project's policy",
                project,
                getattr(error, "message", None) or type(error).__name__,
            )
