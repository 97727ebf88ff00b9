"""The server's own credentials: read from the environment once, then held in memory only.

jupyter_client starts every kernel with a copy of the server's environment, and terminals and
other subprocesses inherit it too. So the master key and the OpenBao token must not stay in
``os.environ``: whoever can run a cell could read them, and decrypt every project's secrets.
`take_credentials` moves them from the environment into this module. The extension calls it as
soon as jupyter_server discovers it, before any kernel manager exists, and again at its start.
"""

from __future__ import annotations

import os
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, field

KEY_ENV = "JUPYTERLAB_SECRETS_KEY"
"""The master keys: base64 keys separated by ``;``; overrides ``SecretsExtension.key_file``."""

BAO_TOKEN_ENV = "BAO_TOKEN"
"""The OpenBao token of this server."""

VAULT_TOKEN_ENV = "VAULT_TOKEN"
"""The HashiCorp Vault name of the same token; `BAO_TOKEN` wins when both are set."""

CREDENTIAL_ENVS = (KEY_ENV, BAO_TOKEN_ENV, VAULT_TOKEN_ENV)
"""Every variable `take_credentials` removes from the environment."""

_held: dict[str, str] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Credentials:
    """What the server read from its environment; ask it, never ``os.environ``."""

    _values: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def key(self) -> str | None:
        """The text of `KEY_ENV`, or None when it was not set."""
        return self._values.get(KEY_ENV)

    @property
    def openbao_token(self) -> str | None:
        """The OpenBao token: `BAO_TOKEN`, else `VAULT_TOKEN`, else None (empty ones skipped)."""
        # An empty variable is as good as unset, so an empty BAO_TOKEN falls back to VAULT_TOKEN.
        return self._values.get(BAO_TOKEN_ENV) or self._values.get(VAULT_TOKEN_ENV) or None

    def __repr__(self) -> str:
        # Never print a credential, only which ones are held.
        return f"Credentials(held={sorted(self._values)})"


def take_credentials(environ: MutableMapping[str, str] | None = None) -> Credentials:
    """Move the credential variables from the environment into memory; return all held.

    Removing them from ``os.environ`` also unsets them in the process (``unsetenv``), so
    kernels, terminals and subprocesses started afterwards do not inherit them. A variable set
    again later (a test, or an embedding application) is taken again and replaces the held one.
    """
    source = os.environ if environ is None else environ
    with _lock:
        for name in CREDENTIAL_ENVS:
            value = source.pop(name, None)
            if value is not None:
                _held[name] = value
        return Credentials(dict(_held))


def forget_credentials() -> None:
    """Drop every held credential (for tests, which start many servers in one process)."""
    with _lock:
        _held.clear()
