"""The layout of the KV v2 mount: every path the store reads or writes is built here.

Paths are relative to the mount; `data` and `metadata` turn one into the API path of a
document's value or of its versions (``<mount>/data/…``, ``<mount>/metadata/…``).

``projects/<p>/index``
    The project's own secrets' metadata (name, versions, shares, times; never a value) and
    the shared secrets it added ("attachments"). One document, written with check-and-set,
    so a listing is one read, names stay unique, and its KV version is the project's change
    marker.
``projects/<p>/secrets/<id>``
    A secret's value; its KV versions are the value's versions.
``projects/<p>/snapshot``
    The current values of the project's own secrets with the KV version of each
    (``snapshot.py``), so a server's first kernel environment is one read. OpenBao keeps one
    version of it; readers take an entry only at the KV version the index names.
``communities/<c>/projects/<p>/secrets/<id>``
    The copy of project ``p``'s secret shared with community ``c``: what the members of
    ``c`` read. Only an admin of ``c`` working in ``p`` creates or deletes it (sharing and
    unsharing); the owning project may only *update* it (a value change reaches the copy).
``communities/<c>/projects/<p>/index``
    The metadata of project ``p``'s secrets shared with ``c``, kept alike.
``audit/<p>/<day>/<event>``
    One event of the extension's audit log (``audit.py``), recorded by a server of project
    ``p``: written once (check-and-set 0), then never changed, since ``p``'s policy may
    create documents there and read them, not update or delete one. ``<event>`` is the
    event's ID, the UTC time to the microsecond then random digits, so names sort in the
    order events were recorded; ``<day>`` its first 8 digits (``YYYYMMDD``), so that no
    listing grows with the whole log.
``communities/<c>/changes/<p>~<stamp>``
    Project ``p``'s change marker in ``c``: ``p`` writes a new one (and deletes its older
    ones) with every change it makes under ``communities/<c>/``. ``~`` is in no project
    name, so a policy can give each project its own markers, and one listing of
    ``communities/<c>/changes/`` shows every project's. A poll reads the project's index
    version and lists each community's markers.

The owner of a copy is always the project its path names, as a listing of
``communities/<c>/projects/`` gives it, never a field of a document that project wrote.

Every project and community name becomes a path segment (and part of a policy name), so it
is checked here before it is used; so is every project name read back from a listing, and
every secret ID, which only the store makes. The policies (``policies.py``) grant rights on
the prefixes built here, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Iterable

from ...errors import InvalidInputError, NotFoundError

SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a project or community name may be here: it is a path segment and a policy name."""

_ID = re.compile(r"[0-9a-f]{32}")


def check_segment(kind: str, name: str) -> str:
    """Return ``name`` if it can be a path segment and part of a policy name; else raise."""
    if SEGMENT.fullmatch(name) is None:
        raise InvalidInputError(
            f"The {kind} name {name!r} cannot be used with OpenBao: use Latin letters, digits, "
            "'.', '_' and '-' (at most 128), starting with a letter or a digit."
        )
    return name


def is_id(secret_id: object) -> bool:
    """Whether ``secret_id`` can be one of ours (32 lowercase hex digits)."""
    return isinstance(secret_id, str) and _ID.fullmatch(secret_id) is not None


def check_id(secret_id: str) -> str:
    """Return ``secret_id`` if it can be one of ours (it becomes part of a path); else
    raise `NotFoundError`, as for any unknown secret."""
    if not is_id(secret_id):
        raise NotFoundError("No such secret.")
    return secret_id


def data(path: str) -> str:
    """The mount-relative API path of a document's value (what policies and
    ``sys/capabilities-self`` name)."""
    return f"data/{path}"


def metadata(path: str) -> str:
    """The mount-relative API path of a document's versions and deletion."""
    return f"metadata/{path}"


def destroy(path: str) -> str:
    """The mount-relative API path that destroys versions of a document."""
    return f"destroy/{path}"


# -- a project's own secrets ---------------------------------------------------------------


def project_tree(project: str) -> str:
    """Everything of one project's own secrets."""
    return f"projects/{check_segment('project', project)}"


def project_index(project: str) -> str:
    """The project's index."""
    return f"{project_tree(project)}/index"


def own_values(project: str) -> str:
    """The folder of the project's values (listed by tests and tools, never by the store)."""
    return f"{project_tree(project)}/secrets"


def own_value(project: str, secret_id: str) -> str:
    """The value of one of the project's secrets."""
    return f"{own_values(project)}/{secret_id}"


def project_snapshot(project: str) -> str:
    """The snapshot of the project's own values."""
    return f"{project_tree(project)}/snapshot"


# -- communities ---------------------------------------------------------------------------


def community_tree(community: str) -> str:
    """Everything shared with one community."""
    return f"communities/{check_segment('community', community)}"


def owners(community: str) -> str:
    """The folder listing the projects that shared something with ``community``."""
    return f"{community_tree(community)}/projects"


def owners_listed(keys: Iterable[str]) -> list[str]:
    """The project names a listing of `owners` gives, without those that cannot be one of
    ours (a listing is OpenBao's answer, and each name becomes part of a path)."""
    names = (key.rstrip("/") for key in keys)
    return [name for name in names if SEGMENT.fullmatch(name)]


def copies(community: str, project: str) -> str:
    """The folder of project ``project``'s secrets shared with ``community`` (the copies'
    folder ``secrets`` and the index)."""
    return f"{owners(community)}/{check_segment('project', project)}"


def shared_index(community: str, project: str) -> str:
    """The index of project ``project``'s secrets shared with ``community``."""
    return f"{copies(community, project)}/index"


def shared_values(community: str, project: str) -> str:
    """The folder of the copies of project ``project``'s secrets shared with ``community``."""
    return f"{copies(community, project)}/secrets"


def shared_value(community: str, project: str, secret_id: str) -> str:
    """The copy of a project's secret shared with ``community``."""
    return f"{shared_values(community, project)}/{secret_id}"


# -- change markers ------------------------------------------------------------------------

CHANGE = "~"
"""Between the project and the stamp in a change marker's name: in no project name."""

_STAMP = re.compile(r"[0-9]{20}-[0-9a-f]{8}")


def changes(community: str) -> str:
    """The folder of every project's change markers in ``community``."""
    return f"{community_tree(community)}/changes"


def change_stamp() -> str:
    """A new marker's stamp: the time in nanoseconds, then 32 random bits, so a later stamp
    of the same clock sorts after, and two at once differ."""
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


def change(community: str, project: str, stamp: str) -> str:
    """One change marker of ``project`` in ``community``."""
    return f"{changes(community)}/{check_segment('project', project)}{CHANGE}{stamp}"


def changes_listed(keys: Iterable[str]) -> dict[str, list[str]]:
    """The stamps of each project's change markers a listing of `changes` gives, oldest
    first; keys that cannot be one of ours are left out."""
    found: dict[str, list[str]] = {}
    for key in keys:
        project, separator, stamp = key.partition(CHANGE)
        if separator and SEGMENT.fullmatch(project) and _STAMP.fullmatch(stamp):
            found.setdefault(project, []).append(stamp)
    return {project: sorted(stamps) for project, stamps in found.items()}


def former_marker(community: str) -> str:
    """The change marker of a community that every project rewrote, before each project had
    markers of its own (only the migration still names it)."""
    return f"{community_tree(community)}/marker"


# -- the audit log ------------------------------------------------------------------------

AUDIT = "audit"
"""The folder of every project's audit folder."""

_EVENT = re.compile(r"[0-9]{20}[0-9a-f]{12}")
_DAY = re.compile(r"[0-9]{8}")


def audit_tree(project: str) -> str:
    """The audit folder of the servers of ``project``: the events they recorded."""
    return f"{AUDIT}/{check_segment('project', project)}"


def event_id(at: dt.datetime) -> str:
    """A new event's ID: ``at`` in UTC as ``YYYYMMDDHHMMSSffffff``, then 48 random bits in
    hex; 32 letters and digits, like the SQL log's IDs, sorting in time order."""
    utc = at.astimezone(dt.timezone.utc)
    return f"{utc:%Y%m%d%H%M%S%f}{secrets.token_hex(6)}"


def is_event_id(name: object) -> bool:
    """Whether ``name`` can be an event ID of ours."""
    return isinstance(name, str) and _EVENT.fullmatch(name) is not None


def audit_day(project: str, day: str) -> str:
    """The folder of one day's events of ``project`` (``day``: ``YYYYMMDD``)."""
    return f"{audit_tree(project)}/{day}"


def audit_event(project: str, event: str) -> str:
    """One event of ``project``'s servers, in the folder of its day."""
    return f"{audit_day(project, event[:8])}/{event}"


def days_listed(keys: Iterable[str]) -> list[str]:
    """The days a listing of `audit_tree` gives, newest first; other keys are left out."""
    days = (key.rstrip("/") for key in keys if key.endswith("/"))
    return sorted((day for day in days if _DAY.fullmatch(day)), reverse=True)


def events_listed(keys: Iterable[str]) -> list[str]:
    """The event IDs a listing of `audit_day` gives, newest first; other keys are left out."""
    return sorted((key for key in keys if is_event_id(key)), reverse=True)


# -- patterns, for policies ----------------------------------------------------------------


def changes_of(community: str, project: str) -> str:
    """Every change marker of ``project`` in ``community`` (a policy's trailing glob)."""
    return f"{changes(community)}/{check_segment('project', project)}{CHANGE}*"
