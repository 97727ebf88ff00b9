"""Scrubbing the values of secrets from the notebooks and files a run writes.

The matcher is the one that redacts kernel outputs (`redaction.Matcher`), so a written file
loses the same forms of a value as a browser's output does. A notebook is scrubbed whole:
outputs, sources (a parameters cell), metadata (papermill's parameters, widget state) and
attachments, keys included. Another file is scrubbed as text.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from ..redaction import Matcher


def scrub_notebook(notebook: Any, matcher: Matcher) -> Any:
    """``notebook`` (a `NotebookNode`) with every value replaced; the same object when it
    held none."""
    scrubbed = matcher.redact_tree(notebook)
    if scrubbed is notebook:
        return notebook
    return nbformat.from_dict(scrubbed)


def scrub_file(path: str | os.PathLike[str], matcher: Matcher) -> bool:
    """Replace every value in the file at ``path``; True when it held one.

    A notebook is read with nbformat (which joins the lines that a notebook file stores as
    lists, so a value of several lines is found whole) and written back as nbformat writes
    it; any other file is scrubbed as UTF-8 text. The new content replaces the file at once
    (a rename), with the file's mode, so a reader never sees half of it. `OSError` when the
    file cannot be read or replaced.
    """
    target = Path(os.path.realpath(path))
    data = target.read_bytes()
    scrubbed = _scrub_bytes(data, matcher)
    if scrubbed is data:
        return False
    mode = stat.S_IMODE(target.stat().st_mode)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(scrubbed)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True


def _scrub_bytes(data: bytes, matcher: Matcher) -> bytes:
    """The scrubbed content of a file; ``data`` itself when it held no value."""
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=nbformat.NO_CONVERT)
    except Exception:
        # Not a notebook (or not one nbformat reads): its bytes, as they are.
        return matcher.redact_bytes(data)
    scrubbed = scrub_notebook(notebook, matcher)
    if scrubbed is notebook:
        # A value nbformat's reading hides (an escape) is still found in the bytes.
        return matcher.redact_bytes(data)
    text = nbformat.writes(scrubbed, version=nbformat.NO_CONVERT)
    # As `nbformat.write` ends a file.
    return (text if text.endswith("\n") else text + "\n").encode("utf-8")
