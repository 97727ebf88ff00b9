"""``jupyter secrets import FILE``: create or update secrets from a ``.env`` file.

Each line goes through the same rules as the REST API. The report names each secret created,
updated or left unchanged, and each line refused with its number and the reason; it never
shows a value. The file is read whole before anything is written, so a file that cannot be
read imports nothing; ``--dry-run`` reports without writing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from dotenv.parser import parse_stream
from traitlets import Bool

from .. import rules
from ..config import Opened
from ..errors import InvalidInputError, NotFoundError, SecretsError
from ..service import SecretsService
from . import SecretsCommand
from .manage import current_user, find_by_name


@dataclass(frozen=True)
class Entry:
    """One ``NAME=value`` line of the file."""

    line: int
    name: str
    value: str


@dataclass(frozen=True)
class Refusal:
    """A line that is not imported, and why (never its value)."""

    line: int
    reason: str


def parse_env_file(text: str) -> tuple[list[Entry], list[Refusal]]:
    """The entries of a ``.env`` text that pass the rules, and the lines refused.

    A name given twice takes its last line, as shells and python-dotenv do; the earlier line
    is reported.
    """
    entries: dict[str, Entry] = {}
    refused: list[Refusal] = []
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error:
            refused.append(Refusal(line, "not a NAME=value line"))
            continue
        if binding.key is None:
            continue  # a blank line or a comment
        name = binding.key
        if binding.value is None:
            refused.append(Refusal(line, f"{name}: no value (write {name}=value)"))
            continue
        message = rules.name_error(name)
        if message is not None:
            refused.append(Refusal(line, f"{name}: {message}"))
            continue
        try:
            rules.check_value(binding.value)
        except InvalidInputError as error:
            refused.append(Refusal(line, f"{name}: {error.message}"))
            continue
        earlier = entries.pop(name, None)
        if earlier is not None:
            refused.append(Refusal(earlier.line, f"{name}: given again on line {line}"))
        entries[name] = Entry(line, name, binding.value)
    return sorted(entries.values(), key=lambda e: e.line), sorted(refused, key=lambda r: r.line)


class ImportApp(SecretsCommand):
    """Create or update the project's secrets from a ``.env`` file."""

    name = "jupyter-secrets-import"
    description = (
        "Create or update secrets from a .env file (NAME=value lines). Prints what was "
        "created, updated and refused, never a value. Exits 1 when a line was refused."
    )
    create_key = True
    dry_run = Bool(False, config=True, help="Report what would change, and change nothing.")
    flags = {
        **SecretsCommand.flags,
        "dry-run": ({"ImportApp": {"dry_run": True}}, "Report, and change nothing."),
    }

    def run(self, opened: Opened) -> None:
        """Read the file whole, then apply each entry, then report."""
        if len(self.extra_args) != 1:
            self.log.error("Give one file: jupyter secrets import FILE [--dry-run]")
            self.exit(2)
        path = Path(self.extra_args[0])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
            message = f"Cannot read {path}: {reason}. Nothing was imported."
            raise InvalidInputError(message) from None
        entries, refused = parse_env_file(text)
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        user, service = current_user(), opened.service
        for entry in entries:
            try:
                outcome = self._apply(service, user, entry)
            except SecretsError as error:
                refused.append(Refusal(entry.line, f"{entry.name}: {error.message}"))
                continue
            counts[outcome] += 1
            print(f"{outcome}: {entry.name} (line {entry.line})")
        for refusal in sorted(refused, key=lambda r: r.line):
            print(f"refused: line {refusal.line}: {refusal.reason}")
        service.record(
            user,
            "import",
            detail={
                "file": path.name,
                **counts,
                "refused": len(refused),
                "dry_run": bool(self.dry_run),
            },
            strict=False,
        )
        summary = ", ".join(f"{count} {what}" for what, count in counts.items())
        suffix = " (dry run: nothing was changed)" if self.dry_run else ""
        print(f"{summary}, {len(refused)} refused{suffix}.")
        if refused:
            self.exit(1)

    def _apply(self, service: SecretsService, user: str, entry: Entry) -> str:
        """Create or update one secret (or only say which, in a dry run)."""
        try:
            current = find_by_name(service, user, entry.name)
        except NotFoundError:
            current = None
        if current is None or not current.explanation.editable:
            if not self.dry_run:
                service.create(user, entry.name, entry.value)
            return "created"
        if service.reveal(user, current.id) == entry.value:
            return "unchanged"
        if not self.dry_run:
            service.patch(user, current.id, current.version, value=entry.value)
        return "updated"
