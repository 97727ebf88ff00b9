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

Every project and community name becomes a path segment (and part of a policy name), so it
is checked here before it is used; so is every project name read back from a listing, and
every secret ID, which only the store makes. The policies (``policies.py``) grant rights on
the prefixes built here, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ...errors import InvalidInputError, NotFoundError

SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a project or community name may be here: it is a path segment and a policy name."""

ANY = "+"
"""A policy's wildcard for one path segment (never part of a path the store uses)."""

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


def shared_index(community: str, project: str) -> str:
    """The index of project ``project``'s secrets shared with ``community``."""
    return f"{owners(community)}/{check_segment('project', project)}/index"


def shared_value(community: str, project: str, secret_id: str) -> str:
    """The copy of a project's secret shared with ``community``."""
    return f"{owners(community)}/{check_segment('project', project)}/secrets/{secret_id}"


def marker(community: str) -> str:
    """The community's change marker."""
    return f"{community_tree(community)}/marker"


# -- wildcards, for policies -----------------------------------------------------------------


def copies_of(project: str) -> str:
    """Every community's folder of ``project``'s shared secrets (with the wildcard `ANY`)."""
    return f"communities/{ANY}/projects/{check_segment('project', project)}"


def every_marker() -> str:
    """Every community's change marker (with the wildcard `ANY`)."""
    return f"communities/{ANY}/marker"
