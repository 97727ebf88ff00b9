"""``jupyter secrets audit [--json] [--verify] [--limit N]``."""

from __future__ import annotations

import json

from traitlets import Bool, Int

from ..config import Opened
from ..errors import AuditElsewhereError
from ..rest import events_json
from . import SecretsCommand


class AuditApp(SecretsCommand):
    """Print the audit log of the project's secrets (never a value), or verify its chain."""

    name = "jupyter-secrets-audit"
    description = (
        "Print the audit log of the project's secrets, newest first: who did what, when; never "
        "a value. --verify checks the whole log's HMAC chain and exits 1 naming the first "
        "event that was altered, removed or reordered."
    )
    check_keys = False

    as_json = Bool(False, help="Print {'events': [Event]} as JSON.").tag(config=True)
    verify = Bool(False, help="Check the chain of the whole log.").tag(config=True)
    limit = Int(1000, help="Print at most this many events.").tag(config=True)

    flags = {
        **SecretsCommand.flags,
        "json": ({"AuditApp": {"as_json": True}}, "Print the events as JSON."),
        "verify": ({"AuditApp": {"verify": True}}, "Verify the chain of the whole log."),
    }
    aliases = {**SecretsCommand.aliases, "limit": "AuditApp.limit"}

    def run(self, opened: Opened) -> None:
        """Print or verify."""
        audit = opened.store.audit_log()
        if audit is None:
            raise AuditElsewhereError(
                "This store keeps no audit log of its own: OpenBao's audit device is the record."
            )
        if self.verify:
            result = audit.verify()
            if not result.ok:
                print(
                    f"The audit log does not verify at event {result.bad_event}: {result.reason}."
                )
                self.exit(1)
            print(f"The audit log verifies: {result.checked} events, chained as recorded.")
            return
        events = opened.service.audit_events("", limit=max(1, self.limit))
        if self.as_json:
            print(json.dumps(events_json(events), indent=2))
            return
        for event in events:
            secret = f" {event.secret_name} ({event.secret_id})" if event.secret_id else ""
            detail = json.dumps(event.detail, sort_keys=True) if event.detail else ""
            print(
                f"{event.at.isoformat(timespec='seconds')} {event.user} {event.action}"
                f"{secret} [{event.project}] {detail}".rstrip()
            )
