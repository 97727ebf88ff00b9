"""``jupyter secrets audit [--json] [--limit N] | --verify | --anchor | --prune DAYS``.

Printing and ``--verify`` need nothing but the store. ``--anchor`` and ``--prune`` are the
operator's: they sign with the audit key (``SecretsExtension.audit_key_file`` or
``JUPYTERLAB_SECRETS_AUDIT_KEY``), which no server holds, and keep the newest signed event in
the anchor file (``SecretsExtension.audit_anchor_file``), out of the database's reach. A log
that its store keeps append-only (OpenBao's policies) is neither anchored nor pruned here: the
command says so, and how old events are removed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

from traitlets import Bool, Int

from ..audit import Anchor, AuditLog, LogDoesNotVerify, Verification
from ..audit_keys import AuditKeyError, AuditSigner, PublicKeys, load_private_key, load_public_key
from ..config import Opened, SecretsSettings
from ..credentials import AUDIT_KEY_ENV
from ..crypto import KeyUnavailableError, read_key_file
from ..errors import AuditElsewhereError, InvalidInputError, UnavailableError
from ..rest import events_json
from . import SecretsCommand
from .manage import current_user

NO_KEY = (
    "--anchor and --prune sign with the operator's audit key, and none was given: set "
    "SecretsExtension.audit_key_file to an Ed25519 private key (ssh-keygen -t ed25519 -N '' "
    f"-f FILE), or put the key in {AUDIT_KEY_ENV}. Nothing was changed."
)


def read_signer(settings: SecretsSettings) -> AuditSigner:
    """The operator's audit key, from `AUDIT_KEY_ENV` (taken from the environment at start)
    or from ``audit_key_file``, which must be private to whoever runs the command."""
    try:
        if settings.credentials.audit_key is not None:
            return load_private_key(settings.credentials.audit_key, AUDIT_KEY_ENV)
        if not settings.audit_key_file:
            raise UnavailableError(NO_KEY)
        path = Path(settings.audit_key_file).expanduser()
        text = read_key_file(
            path,
            setting="SecretsExtension.audit_key_file",
            variable=AUDIT_KEY_ENV,
            key="audit key",
            then="run the command again",
            runner="this command",
        )
        if text is None:
            raise UnavailableError(
                f"The audit key file {path} (SecretsExtension.audit_key_file) does not exist. "
                "Make it with: ssh-keygen -t ed25519 -N '' -f FILE. Nothing was changed."
            )
        return load_private_key(text, f"the file {path}")
    except (KeyUnavailableError, AuditKeyError) as error:
        raise UnavailableError(f"{error} Nothing was changed.") from None


def public_keys(settings: SecretsSettings, signer: AuditSigner | None) -> PublicKeys | None:
    """The trusted public keys: ``audit_public_keys``, else the audit key's own, else None."""
    try:
        keys = [
            load_public_key(line, f"SecretsExtension.audit_public_keys[{index}]")
            for index, line in enumerate(settings.audit_public_keys)
        ]
    except AuditKeyError as error:
        raise UnavailableError(str(error)) from None
    if not keys and signer is not None:
        keys = [signer.public]
    return PublicKeys(keys) if keys else None


def read_anchor(path: Path) -> Anchor | None:
    """The operator's anchor kept in ``path``; None when there is none yet."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        return Anchor(
            id=str(kept["id"]), seq=int(kept["seq"]), hash=str(kept["hash"]), at=str(kept["at"])
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UnavailableError(
            f"The anchor file {path} (SecretsExtension.audit_anchor_file) cannot be read "
            f"({type(error).__name__}): restore it from a copy, or point the setting at it."
        ) from None


def write_anchor(path: Path, anchor: Anchor) -> None:
    """Replace the anchor file with ``anchor`` at once (a crash leaves the old one or the new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {"id": anchor.id, "seq": anchor.seq, "hash": anchor.hash, "at": anchor.at}, indent=2
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AuditApp(SecretsCommand):
    """Print the audit log of the project's secrets (never a value); verify, anchor or prune
    the whole log."""

    name = "jupyter-secrets-audit"
    description = (
        "Print the audit log of the project's secrets, newest first: who did what, when; never "
        "a value. --verify checks the whole log's chain, the operator's signatures and the "
        "anchor file, and exits 1 naming the first event that was altered, removed, reordered "
        "or forged, or the anchored event that is gone. --anchor (the operator's, with the "
        "audit key) signs the log as it stands; --prune DAYS deletes the events older than "
        "DAYS days, recording it signed. Both check the log first, and refuse to sign one "
        "that does not verify."
    )
    check_keys = False

    as_json = Bool(False, help="Print {'events': [Event]} as JSON.").tag(config=True)
    verify = Bool(False, help="Check the whole log.").tag(config=True)
    anchor = Bool(False, help="Sign the log as it stands, with the audit key.").tag(config=True)
    prune = Int(
        None,
        allow_none=True,
        min=1,
        help="Delete the events older than this many days, recording it signed.",
    ).tag(config=True)
    limit = Int(1000, help="Print at most this many events.").tag(config=True)

    flags = {
        **SecretsCommand.flags,
        "json": ({"AuditApp": {"as_json": True}}, "Print the events as JSON."),
        "verify": ({"AuditApp": {"verify": True}}, "Verify the whole log."),
        "anchor": ({"AuditApp": {"anchor": True}}, "Sign the log as it stands (audit key)."),
    }
    aliases = {
        **SecretsCommand.aliases,
        "limit": "AuditApp.limit",
        "prune": "AuditApp.prune",
        "audit-key-file": "SecretsExtension.audit_key_file",
        "anchor-file": "SecretsExtension.audit_anchor_file",
    }

    def run(self, opened: Opened) -> None:
        """Print, verify, anchor or prune."""
        audit = opened.store.audit_log()
        if audit is None:
            raise AuditElsewhereError(
                "This store keeps no audit log of its own: another system records what is done."
            )
        if self.verify + self.anchor + (self.prune is not None) > 1:
            raise InvalidInputError("Give one of --verify, --anchor and --prune DAYS.")
        if audit.append_only is not None and (self.anchor or self.prune is not None):
            # Before the audit key is asked for: there is nothing to sign.
            raise InvalidInputError(f"{audit.append_only} Nothing was changed.")
        if self.prune is not None:
            self.run_prune(audit, self.prune)
        elif self.anchor:
            self.run_anchor(audit)
        elif self.verify:
            self.run_verify(audit)
        else:
            self.print_events(opened)

    @property
    def anchor_path(self) -> Path:
        """The anchor file."""
        assert self.settings is not None
        return Path(self.settings.audit_anchor_file).expanduser()

    def _signing(self) -> tuple[AuditSigner, PublicKeys]:
        """The audit key, and the public keys, which must include its own."""
        assert self.settings is not None
        signer = read_signer(self.settings)
        check = public_keys(self.settings, signer)
        if check is None or signer.key not in check.keys:
            raise UnavailableError(
                f"The audit key ({signer.key}) is not one of SecretsExtension.audit_public_keys, "
                "so what it signs would not verify: add the line of its .pub file to them. "
                "Nothing was changed."
            )
        return signer, check

    def _refused(self, error: LogDoesNotVerify, what: str) -> None:
        result = error.verification
        print(f"The audit log does not verify at event {result.bad_event}: {result.reason}. {what}")
        self.exit(1)

    def run_verify(self, audit: AuditLog) -> None:
        """Check the whole log; exit 1 naming the first fault."""
        assert self.settings is not None
        signer = None
        if self.settings.credentials.audit_key is not None or self.settings.audit_key_file:
            try:
                signer = read_signer(self.settings)
            except UnavailableError as error:
                self.log.warning("%s", error.message)
        if audit.append_only is not None:
            result = audit.verify()
        else:
            anchor = read_anchor(self.anchor_path)
            result = audit.verify(public_keys(self.settings, signer), anchor)
        if not result.ok:
            print(f"The audit log does not verify at event {result.bad_event}: {result.reason}.")
            self.exit(1)
        if audit.append_only is not None:
            print(
                f"The audit log verifies: {result.checked} events, each as its server recorded "
                "it. No server can change or delete one (OpenBao's policies); an operator's "
                "token can, which only OpenBao's own audit device records."
            )
            return
        for line in describe(result, self.anchor_path):
            print(line)

    def run_anchor(self, audit: AuditLog) -> None:
        """Verify, then sign the log as it stands, and keep the anchor."""
        assert self.settings is not None
        signer, check = self._signing()
        try:
            event = audit.sign(
                signer,
                check,
                read_anchor(self.anchor_path),
                user=current_user(),
                server_project=self.settings.project,
            )
        except LogDoesNotVerify as error:
            self._refused(error, "Nothing was signed.")
            return
        kept = audit.newest_signed(event)
        write_anchor(self.anchor_path, kept)
        print(
            f"Anchored the audit log at event {event.id} ({event.detail['events']} events "
            f"before it), signed with {signer.key}; the anchor is kept in {self.anchor_path}."
        )

    def run_prune(self, audit: AuditLog, days: int) -> None:
        """Verify, then delete the events older than ``days`` days, recording it signed."""
        assert self.settings is not None
        signer, check = self._signing()
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
        try:
            pruned = audit.prune(
                cutoff,
                signer,
                check,
                read_anchor(self.anchor_path),
                user=current_user(),
                server_project=self.settings.project,
            )
        except LogDoesNotVerify as error:
            self._refused(error, "Nothing was pruned.")
            return
        if pruned.event is None:
            print(f"No event is older than {days} days: nothing was pruned.")
            return
        write_anchor(self.anchor_path, audit.newest_signed(pruned.event))
        print(
            f"Pruned {pruned.count} events older than {days} days, recorded as event "
            f"{pruned.event.id}, signed with {signer.key}; the anchor is kept in "
            f"{self.anchor_path}."
        )

    def print_events(self, opened: Opened) -> None:
        """The project's events and the log's own, newest first."""
        events = opened.service.audit_events("", limit=max(1, self.limit))
        if self.as_json:
            print(json.dumps(events_json(events), indent=2))
            return
        for event in events:
            secret = f" {event.secret_name} ({event.secret_id})" if event.secret_id else ""
            detail = dict(event.detail)
            detail.pop("signature", None)
            shown = json.dumps(detail, sort_keys=True) if detail else ""
            print(
                f"{event.at.isoformat(timespec='seconds')} {event.user} {event.action}"
                f"{secret} [{event.project}] {shown}".rstrip()
            )


def describe(result: Verification, anchor_path: Path) -> list[str]:
    """What a log that verifies proves, in words."""
    lines = [f"The audit log verifies: {result.checked} events, chained as recorded."]
    last = result.last_signed
    if last is None:
        lines.append(
            "It is not anchored: anyone with the database could rewrite it unnoticed. Anchor "
            "it with jupyter secrets audit --anchor (with the audit key), and again often."
        )
    else:
        lines.append(
            f"Signed by the operator: {result.signed} events. The newest ({last.action} of "
            f"{last.at.isoformat(timespec='seconds')}, by {last.user}) fixes every event before "
            f"it; the {result.unsigned_tail} recorded since are not anchored yet."
        )
    if result.anchor is not None:
        lines.append(
            f"It agrees with the anchor kept in {anchor_path} (of {result.anchor.at}): no "
            "event up to it was removed, but by a signed prune."
        )
    elif last is not None:
        lines.append(
            f"No anchor file at {anchor_path}: the newest events, signed ones included, could "
            "be removed unnoticed. Verify where jupyter secrets audit --anchor runs."
        )
    if result.legacy:
        checked = result.legacy - result.legacy_unchecked
        lines.append(
            f"{result.legacy} events recorded before the log became a hash chain carry "
            f"master-key MACs: {checked} checked"
            + (
                f", {result.legacy_unchecked} not (their master key was not given)."
                if result.legacy_unchecked
                else "."
            )
        )
    return lines
