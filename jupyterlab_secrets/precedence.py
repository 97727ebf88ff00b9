"""Which secrets a project's kernels get, and why the others do not: pure rules.

Given the secrets a project sees (its own, and those shared with its communities), `Precedence`
decides who holds each name in the project's environment, which shared secrets are shadowed,
which are kept out and why, and the fields that explain a secret's state in its metadata. It
reads no store and decrypts nothing: the service hands it what the store listed, and whether a
value was found to decrypt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from . import rules
from .stores.base import StoredSecret

__all__ = ["Explanation", "NotInjectedReason", "Precedence"]

NotInjectedReason = Literal[
    "shadowed", "traffic", "shared_name", "renamed", "undecryptable", "not_added", "reserved"
]
"""Why a listed secret is not in this project's environment.

``shadowed``: another secret holds its name (the project's own, or another added shared one);
``traffic``: a shared secret under a name that redirects traffic or trust; ``shared_name``: a
shared secret under a name without a hyphen, which a tool might read; ``renamed``: its
owner renamed it after it was added here; ``undecryptable``: its value cannot be decrypted
with the configured keys; ``not_added``: a shared secret not added to this project;
``reserved``: a name stored before the rules reserved it.
"""


@dataclass(frozen=True)
class Explanation:
    """The fields of a secret's metadata that explain its state in one project."""

    origin: Literal["project", "shared"]
    attached: bool
    """For a shared secret: whether it is added to this project."""
    editable: bool
    shadowed: bool
    """For a shared secret: another secret holds its name in this project's environment (the
    project's own, or another added shared one), so it is not injected, or would not be if
    added."""
    injected: bool
    """Whether this project's kernels get it."""
    not_injected_reason: NotInjectedReason | None
    attached_name: str | None
    """For a shared secret added to this project: the name it had when it was added."""
    hidden_in_outputs: bool
    """Whether its value is redacted from kernel outputs: false when redaction is off, or
    when the value is too short to hide (hiding it would reveal it)."""


@dataclass(frozen=True)
class Precedence:
    """Who holds each name in ``project``'s environment, among the secrets it sees.

    The project's own secret wins a clash of names; among shared secrets added under the name
    they have, the first by (owning project, ID) wins.
    """

    project: str
    own: frozenset[str]
    """The names of the project's own secrets."""
    leaders: Mapping[str, tuple[str, str]]
    """For each name of a shared secret added under it, the (project, ID) of the one that
    wins among them."""

    @classmethod
    def of(cls, project: str, stored: Iterable[StoredSecret]) -> Precedence:
        """The precedence among ``stored`` (all the secrets of one name at least, for a
        secret's own state: the rules compare it with the others of its name)."""
        own: set[str] = set()
        leaders: dict[str, tuple[str, str]] = {}
        for secret in stored:
            if secret.project == project:
                own.add(secret.name)
            elif secret.attached_as == secret.name and not rules.shared_name_refusal(secret.name):
                rank = (secret.project, secret.id)
                leader = leaders.get(secret.name)
                if leader is None or rank < leader:
                    leaders[secret.name] = rank
        return cls(project, frozenset(own), leaders)

    def shadowed(self, secret: StoredSecret) -> bool:
        """Whether another secret holds this shared secret's name, so it is not injected (or
        would not be if added)."""
        if secret.project == self.project:
            return False
        if secret.name in self.own:
            return True
        leader = self.leaders.get(secret.name)
        return leader is not None and leader < (secret.project, secret.id)

    def blocked(self, secret: StoredSecret) -> NotInjectedReason | None:
        """Why the metadata alone keeps ``secret`` out of the project's environment; None
        when it goes in, if its value decrypts."""
        if rules.name_error(secret.name) is not None:
            return "reserved"
        if secret.project == self.project:
            return None
        refusal = rules.shared_name_refusal(secret.name)
        if refusal is not None:
            return refusal
        if secret.attached_as is None:
            return "not_added"
        if secret.attached_as != secret.name:
            return "renamed"
        if self.shadowed(secret):
            return "shadowed"
        return None

    def injectable(self, stored: Iterable[StoredSecret]) -> list[StoredSecret]:
        """The secrets of ``stored`` that go into the environment if their values decrypt,
        the project's own first, then by name: one per name."""
        return sorted(
            (secret for secret in stored if self.blocked(secret) is None),
            key=lambda secret: (secret.project != self.project, secret.name),
        )

    def explain(
        self,
        secret: StoredSecret,
        *,
        decryptable: bool,
        redact_outputs: bool,
        redact_min_length: int,
    ) -> Explanation:
        """The explanation fields of ``secret``'s metadata. ``decryptable``: whether its
        value was found to decrypt (True when not known yet)."""
        own = secret.project == self.project
        reason = self.blocked(secret)
        if reason is None and not decryptable:
            reason = "undecryptable"
        return Explanation(
            origin="project" if own else "shared",
            attached=not own and secret.attached_as is not None,
            editable=own,
            shadowed=self.shadowed(secret),
            injected=reason is None,
            not_injected_reason=reason,
            attached_name=None if own else secret.attached_as,
            hidden_in_outputs=redact_outputs and secret.value_length >= redact_min_length,
        )
