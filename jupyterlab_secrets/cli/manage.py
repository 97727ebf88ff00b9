"""``jupyter secrets list``, ``get``, ``set`` and ``delete``: one secret at a time, by name.

They go through the same service, and so the same rules, as the REST API. Only ``get``
prints a value; the others print names, versions and dates.
"""

from __future__ import annotations

import getpass
import sys

from ..config import Opened
from ..errors import NotFoundError
from ..service import SecretMeta, SecretsService
from . import SecretsCommand


def current_user() -> str:
    """Who runs the command: the name recorded as creator or editor."""
    return getpass.getuser()


def find_by_name(service: SecretsService, user: str, name: str) -> SecretMeta:
    """The project's own secret called ``name``, else the shared one its kernels get under
    that name; `NotFoundError` when there is none."""
    listing = service.list(user).secrets
    for meta in listing:
        if meta.explanation.editable and meta.name == name:
            return meta
    for meta in listing:
        explained = meta.explanation
        if explained.injected and (explained.attached_name or meta.name) == name:
            return meta
    raise NotFoundError(f"Project {service.project!r} has no secret named {name!r}.", "name")


class NamedSecretCommand(SecretsCommand):
    """A command that takes one secret's name as its argument."""

    def secret_name(self) -> str:
        """The one positional argument, or exit 2 saying what is missing."""
        if len(self.extra_args) != 1:
            self.log.error("Give one secret name: jupyter secrets %s NAME", self.command)
            self.exit(2)
        return self.extra_args[0]

    command = ""


class ListApp(SecretsCommand):
    """Print the project's secrets: names, versions and dates, never values."""

    name = "jupyter-secrets-list"
    description = "List the project's secrets and those shared with it: names, never values."

    def run(self, opened: Opened) -> None:
        """One line per secret: name, version, last change, and where it comes from."""
        listing = opened.service.list(current_user())
        for meta in listing.secrets:
            explained = meta.explanation
            origin = "own" if explained.editable else f"shared by {meta.project}"
            state = (
                "injected"
                if explained.injected
                else f"not injected ({explained.not_injected_reason})"
            )
            updated = meta.updated_at.isoformat(timespec="seconds")
            print(f"{meta.name}\tv{meta.version}\t{updated}\t{origin}\t{state}")


class GetApp(NamedSecretCommand):
    """Print one secret's value."""

    name = "jupyter-secrets-get"
    description = "Print the value of the secret NAME to standard output."
    command = "get"

    def run(self, opened: Opened) -> None:
        """The value exactly, with no newline added."""
        name = self.secret_name()
        user = current_user()
        meta = find_by_name(opened.service, user, name)
        value = opened.service.reveal(user, meta.id)
        sys.stdout.write(value)
        sys.stdout.flush()


class SetApp(NamedSecretCommand):
    """Create or update one secret from standard input."""

    name = "jupyter-secrets-set"
    description = (
        "Create or update the secret NAME with the value read from standard input "
        "(one trailing newline is dropped)."
    )
    command = "set"
    create_key = True
    """Like the server, the first secret of a new store creates its key file."""

    def run(self, opened: Opened) -> None:
        """Read the value, then create or update, printing the name and version only."""
        name = self.secret_name()
        user = current_user()
        value = sys.stdin.read()
        if value.endswith("\n"):
            value = value[:-1]
        service = opened.service
        try:
            current: SecretMeta | None = find_by_name(service, user, name)
        except NotFoundError:
            current = None
        if current is None or not current.explanation.editable:
            meta = service.create(user, name, value)
            print(f"Created {meta.name} (version {meta.version}).")
        else:
            meta = service.patch(user, current.id, current.version, value=value)
            print(f"Updated {meta.name} (version {meta.version}).")


class DeleteApp(NamedSecretCommand):
    """Delete one secret of the project."""

    name = "jupyter-secrets-delete"
    description = "Delete the project's secret NAME, with its versions."
    command = "delete"

    def run(self, opened: Opened) -> None:
        """Delete, and say so."""
        name = self.secret_name()
        user = current_user()
        meta = find_by_name(opened.service, user, name)
        opened.service.delete(user, meta.id)
        print(f'Secret "{name}" has been deleted.')
