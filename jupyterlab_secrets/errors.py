"""Domain errors of jupyterlab-secrets.

They know nothing of HTTP: the REST layer maps each kind to a status code, the command line
to an exit status. A message is written for the user and never holds a secret value.
"""

from __future__ import annotations


class SecretsError(Exception):
    """A refused operation: a message for the user, and maybe the input field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInputError(SecretsError):
    """The input breaks a rule (a bad name, an empty value, an unknown community)."""


class ValueTooLargeError(InvalidInputError):
    """A value, or a whole request, is larger than allowed."""


class ForbiddenError(SecretsError):
    """The caller may not do this (another project's secret, not a community admin, or the
    store's own policy says no)."""


class NotFoundError(SecretsError):
    """No such secret, or one the caller may not see."""


class ConflictError(SecretsError):
    """The operation clashes with the stored state."""


class NameTakenError(ConflictError):
    """The project already has a secret of that name."""


class StaleVersionError(ConflictError):
    """The secret changed since the version the caller read; nothing was written."""


class UndecryptableError(SecretsError):
    """A stored value cannot be decrypted with the configured keys."""


class UnavailableError(SecretsError):
    """The store cannot serve at all (missing key, unreachable database); the message tells
    the operator what to fix."""


class AuditElsewhereError(SecretsError):
    """The store keeps no audit log of its own: another system records what is done. The REST
    API answers 501: the request is sound, this server does not serve that record. (Both
    built-in stores keep one.)"""
