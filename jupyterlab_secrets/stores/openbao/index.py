"""Index documents: how a project's (or a community's) metadata is packed into one KV
document, changed with check-and-set, and read back as `StoredSecret`.

An index is ``{"secrets": {id: entry}, "attached": {id: attachment}}``. An entry holds a
secret's metadata (never its value): project, name, version, the KV version of its value,
who made and changed it and when, its value's length, its shares (``shared_with``, and the
share state in ``share``, see ``shares.py``) and ``history``, its kept versions, newest first,
each ``[version, KV version, updated_at, updated_by]``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import zlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ...errors import UnavailableError
from ..base import StoredSecret
from .kv import CasConflict, Kv

UTC = dt.timezone.utc
T = TypeVar("T")

INDEX_FORMAT = "zlib+json/1"
_CAS_ATTEMPTS = 20


def format_time(moment: dt.datetime) -> str:
    """A time as an index stores it: ISO 8601 in UTC, to the microsecond."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> dt.datetime:
    """A time an index stored, in UTC."""
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


def read_index(kv: Kv, path: str) -> tuple[dict[str, Any], int]:
    """An index and its KV version; an empty one for none."""
    stored, version = kv.read(path)
    return unpack_index(stored), version


def modify(
    kv: Kv,
    path: str,
    change: Callable[[dict[str, Any]], T],
    written: Callable[[str, int, dict[str, Any]], None] | None = None,
) -> T:
    """Read-change-write an index with check-and-set, again while others write first.
    ``change`` edits the document in place (and may raise to write nothing); its result is
    returned. ``written`` is told of the document written and its KV version."""
    for _ in range(_CAS_ATTEMPTS):
        stored, version = kv.read(path)
        document = unpack_index(stored)
        result = change(document)
        try:
            new_version = kv.write(path, pack_index(document), cas=version)
        except CasConflict:
            continue
        if written is not None:
            written(path, new_version, document)
        return result
    raise UnavailableError("OpenBao is too busy with changes of the same project; try again.")


def record_version(
    entry: dict[str, Any], user: str, at: str, new_value: bool, keep_versions: int
) -> None:
    """Record the entry's new version in its history: a new value is a new kept version; a
    rename alone takes the place of the current one (it holds the same value). Versions KV
    no longer keeps (beyond ``keep_versions`` earlier ones) are forgotten."""
    head = [entry["version"], entry["kv_version"], at, user]
    history = list(entry.get("history") or [])
    entry["history"] = [head, *history] if new_value or not history else [head, *history[1:]]
    drop_unkept(entry, keep_versions)


def drop_unkept(entry: dict[str, Any], keep_versions: int) -> None:
    """Forget the versions in the entry's history that KV no longer keeps: those more than
    ``keep_versions`` KV versions before its current one."""
    oldest_kept = entry["kv_version"] - keep_versions
    history = entry.get("history") or []
    entry["history"] = [h for h in history if h[1] >= oldest_kept][: keep_versions + 1]


def stored(secret_id: str, entry: Mapping[str, Any], attached_as: str | None) -> StoredSecret:
    """An entry as the store interface shows it."""
    return StoredSecret(
        id=secret_id,
        project=entry["project"],
        name=entry["name"],
        version=int(entry["version"]),
        created_by=entry["created_by"],
        created_at=parse_time(entry["created_at"]),
        updated_at=parse_time(entry["updated_at"]),
        updated_by=entry["updated_by"],
        value_length=int(entry["value_length"]),
        shared_with=tuple(sorted(entry.get("shared_with") or ())),
        attached_as=attached_as,
    )
