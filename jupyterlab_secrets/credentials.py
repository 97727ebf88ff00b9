"""The server's own credentials: read from the environment once, then held in memory only.

jupyter_client starts every kernel with a copy of the server's environment, and terminals and
other subprocesses inherit it too. So the master key and the OpenBao token must not stay in
``os.environ``: whoever can run a cell could read them, and decrypt every project's secrets
(or, with the operator's audit key, sign a rewritten audit log).
`take_credentials` moves them from the environment into this module. The extension calls it as
soon as jupyter_server discovers it, before any kernel manager exists, and again at its start.

Removing a variable from ``os.environ`` does not remove it from ``/proc/<pid>/environ``: that
file shows the block of memory the process was started with, which any process of the same user
(a kernel, a terminal) may read. So the first take also erases the values of these variables in
that block (`erase_from_startup_environment`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, field

KEY_ENV = "JUPYTERLAB_SECRETS_KEY"
"""The master keys: base64 keys separated by ``;``; overrides ``SecretsExtension.key_file``."""

BAO_TOKEN_ENV = "BAO_TOKEN"
"""The OpenBao token of this server."""

VAULT_TOKEN_ENV = "VAULT_TOKEN"
"""The HashiCorp Vault name of the same token; `BAO_TOKEN` wins when both are set."""

AUDIT_KEY_ENV = "JUPYTERLAB_SECRETS_AUDIT_KEY"
"""The operator's audit key (an Ed25519 private key, OpenSSH or PEM text), which signs the
audit log's anchors and prunes; overrides ``SecretsExtension.audit_key_file``. No server needs
it: a server that finds it in its environment takes it away from its kernels all the same."""

CREDENTIAL_ENVS = (KEY_ENV, BAO_TOKEN_ENV, VAULT_TOKEN_ENV, AUDIT_KEY_ENV)
"""Every variable `take_credentials` removes from the environment."""

_held: dict[str, str] = {}
_lock = threading.Lock()
_erased = False
"""Whether the start-up environment was already erased: it never changes afterwards, and a
variable set later lives elsewhere in memory (and leaves with ``os.environ``)."""

log = logging.getLogger(__name__)


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

    @property
    def audit_key(self) -> str | None:
        """The text of `AUDIT_KEY_ENV`, or None when it was not set (or empty)."""
        return self._values.get(AUDIT_KEY_ENV) or None

    def __repr__(self) -> str:
        # Never print a credential, only which ones are held.
        return f"Credentials(held={sorted(self._values)})"


def take_credentials(environ: MutableMapping[str, str] | None = None) -> Credentials:
    """Move the credential variables from the environment into memory; return all held.

    Removing them from ``os.environ`` also unsets them in the process (``unsetenv``), so
    kernels, terminals and subprocesses started afterwards do not inherit them. A variable set
    again later (a test, or an embedding application) is taken again and replaces the held one.
    """
    global _erased
    source = os.environ if environ is None else environ
    with _lock:
        for name in CREDENTIAL_ENVS:
            value = source.pop(name, None)
            if value is not None:
                _held[name] = value
        if environ is None and not _erased:
            _erased = True
            erase_from_startup_environment(CREDENTIAL_ENVS)
        return Credentials(dict(_held))


def erase_from_startup_environment(names: tuple[str, ...]) -> int:
    """Overwrite with NUL bytes the values of ``names`` in the environment this process was
    started with, so that ``/proc/<pid>/environ`` shows them empty. Answer how many were erased.

    Unset them first (``os.environ.pop``): the C library's ``environ`` may point into that
    block. Nothing else moves, so the other variables stay where the C library finds them.
    Where this cannot work (not Linux, or ``/proc`` refuses), it logs a warning and changes
    nothing.
    """
    # Why overwrite in place rather than exec the server again with a clean environment:
    # an exec would start the whole server twice, and would have to hand the credentials to
    # the new image by yet another channel. The block lies in this process's own writable
    # memory, whose bounds the kernel publishes (env_start and env_end of /proc/self/stat),
    # and /proc/self/mem writes there without privileges, failing with an error (never a
    # crash) should the bounds be wrong.
    held = sorted(set(names) & set(_held))
    if not sys.platform.startswith("linux"):
        if held:
            log.warning(
                "jupyterlab_secrets cannot erase %s from this process's start-up environment "
                "on %s: processes of the same user may read them there",
                ", ".join(held),
                sys.platform,
            )
        return 0
    prefixes = tuple(f"{name}=".encode() for name in names)
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        # The fields after the command's name start at the third (state): env_start and
        # env_end are the 50th and 51st.
        start, end = int(fields[47]), int(fields[48])
        if not 0 < start < end:
            raise OSError("env_start and env_end are not shown")
        with open("/proc/self/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            block = memory.read(end - start)
            erased = 0
            offset = 0
            for entry in block.split(b"\0"):
                if entry.startswith(prefixes):
                    value_at = offset + entry.index(b"=") + 1
                    memory.seek(start + value_at)
                    memory.write(b"\0" * (len(entry) - entry.index(b"=") - 1))
                    erased += 1
                offset += len(entry) + 1
    except (OSError, IndexError, ValueError) as error:
        if held:
            log.warning(
                "jupyterlab_secrets cannot erase %s from this process's start-up environment "
                "(%s): processes of the same user may read them in /proc/%d/environ",
                ", ".join(held),
                getattr(error, "strerror", None) or str(error),
                os.getpid(),
            )
        return 0
    return erased


def forget_credentials() -> None:
    """Drop every held credential (for tests, which start many servers in one process)."""
    with _lock:
        _held.clear()
