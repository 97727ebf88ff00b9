"""``jupyter secrets scan PATH...``: find the project's secret values in files and notebooks.

For a pre-commit hook (``.pre-commit-hooks.yaml``), a CI job, or a check before sharing a
folder. It looks for what redaction hides in kernel outputs (`redaction.Matcher`, the one
source of the forms: each value, HTML-, Python- and JSON-escaped, URL-encoded and in base64)
in every file under the given paths: directories are walked, without ``.git`` and without
binary files (those with a NUL byte in their first 8,000 bytes, as git decides). In a notebook
it also looks inside the base64 data of attachments and outputs (an image, a PDF), decoded.

It prints ``path:line: <name>`` for each hit (the line where the data starts, for decoded
data), never a value, and exits 1 when it found one, 0 when it found none, 2 when a path does
not exist or none is given. Reading the values is recorded in the audit log (``scan``).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path
from typing import Any

from ..config import Opened
from ..redaction import Matcher
from . import SecretsCommand
from .manage import current_user

BINARY_SNIFF = 8000
"""How many bytes of a file are looked at for a NUL byte, which makes it binary (as git does)."""

SKIPPED_DIRECTORIES = frozenset({".git"})

_TEXT_MIMETYPES = ("text/", "application/javascript", "image/svg+xml")


def walk(paths: list[Path]) -> Iterator[Path]:
    """The files under ``paths`` (each file once, in a stable order), without ``.git``
    directories, symbolic links to directories, or anything but regular files."""
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found: list[Path] = []
            for folder, directories, files in os.walk(path):
                directories[:] = sorted(d for d in directories if d not in SKIPPED_DIRECTORIES)
                found.extend(Path(folder) / name for name in sorted(files))
        else:
            found = [path]
        for file in found:
            resolved = file.resolve()
            if resolved not in seen and file.is_file():
                seen.add(resolved)
                yield file


def is_binary(data: bytes) -> bool:
    """Whether a file's content is binary rather than text."""
    return b"\0" in data[:BINARY_SNIFF]


def _line_of(data: bytes, piece: str) -> int:
    """The line of a notebook file where a JSON string holding ``piece`` starts (the first
    line, when no writer's escaping of it is there)."""
    for ascii_only in (False, True):
        position = data.find(json.dumps(piece, ensure_ascii=ascii_only).encode())
        if position >= 0:
            return data.count(b"\n", 0, position) + 1
    return 1


Field = list[str]
"""A notebook's multi-line string, as nbformat stores it: a list of lines (or one string)."""


def _as_field(content: Any) -> Field | None:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list) and all(isinstance(piece, str) for piece in content):
        return content
    return None


def _notebook_fields(notebook: Any) -> Iterator[tuple[Field, bool]]:
    """A notebook's multi-line strings (cell sources, stream text, text outputs), and the
    base64 data of its attachments and binary outputs, the latter marked True."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict):
            continue
        bundles: list[Any] = []
        attachments = cell.get("attachments")
        if isinstance(attachments, dict):
            bundles.extend(attachments.values())
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            if isinstance(output, dict):
                bundles.append(output.get("data"))
                bundles.append({"text/plain": output.get("text")})
        bundles.append({"text/plain": cell.get("source")})
        for bundle in bundles:
            for mimetype, content in bundle.items() if isinstance(bundle, dict) else []:
                field = _as_field(content)
                if field is not None and not mimetype.endswith("json"):
                    yield field, not mimetype.startswith(_TEXT_MIMETYPES)


def _notebook_hits(matcher: Matcher, data: bytes) -> Iterator[tuple[int, str]]:
    """The hits inside a notebook's fields, decoded: a value whose lines nbformat stored as
    separate strings, or that sits in an attachment or an image, which the file's text does
    not show whole."""
    try:
        notebook = json.loads(data)
    except ValueError:
        return
    for field, binary in _notebook_fields(notebook):
        text = "".join(field)
        if binary:
            try:
                decoded = base64.b64decode("".join(text.split()), validate=True)
            except (binascii.Error, ValueError):
                continue
            for _, _, name in matcher.find(decoded):
                yield _line_of(data, field[0]) if field else 1, name
            continue
        ends = list(accumulate(len(piece.encode("utf-8", "surrogatepass")) for piece in field))
        for start, _, name in matcher.find(text.encode("utf-8", "surrogatepass")):
            yield _line_of(data, field[bisect_right(ends, start)]), name


def scan_bytes(matcher: Matcher, data: bytes, notebook: bool = False) -> list[tuple[int, str]]:
    """The hits in a file's content: ``(line, name)``, each once, in order."""
    hits: dict[tuple[int, str], None] = {}
    line, counted = 1, 0
    for start, _, name in matcher.find(data):
        line += data.count(b"\n", counted, start)
        counted = start
        hits[(line, name)] = None
    if notebook:
        hits.update(dict.fromkeys(_notebook_hits(matcher, data)))
    return sorted(hits)


class ScanApp(SecretsCommand):
    """Find the project's secret values, in any of their forms, in files and notebooks."""

    name = "jupyter-secrets-scan"
    description = (
        "Find the values of the project's secrets (as they are, escaped, URL-encoded or in "
        "base64) in the files under PATH... (and in notebooks' attachments and outputs). "
        "Prints path:line: <name> for each hit, never a value. Exits 1 when it found one, "
        "0 when not, 2 when a path is missing."
    )

    hits = 0
    """How many hits the last run printed."""

    def start(self) -> None:
        """Check the paths before the store is opened: a usage error reads no value."""
        if not self.extra_args:
            self.log.error("Give the files or folders to scan: jupyter secrets scan PATH...")
            self.exit(2)
        missing = [path for path in self.extra_args if not Path(path).exists()]
        if missing:
            self.log.error("No such file or folder: %s", ", ".join(missing))
            self.exit(2)
        super().start()
        if self.hits:
            self.exit(1)

    def run(self, opened: Opened) -> None:
        """Read the values (recorded as ``scan``), then look in every file."""
        assert self.settings is not None
        environment = opened.service.environment(current_user(), action="scan")
        matcher = Matcher(environment, self.settings.redact_min_length)
        if not matcher:
            return
        for path in walk([Path(path) for path in self.extra_args]):
            try:
                data = path.read_bytes()
            except OSError as error:
                print(f"{path}: not read: {error.strerror}", file=sys.stderr)
                continue
            if is_binary(data):
                continue
            for line, name in scan_bytes(matcher, data, notebook=path.suffix == ".ipynb"):
                self.hits += 1
                print(f"{path}:{line}: {name}")
        sys.stdout.flush()
