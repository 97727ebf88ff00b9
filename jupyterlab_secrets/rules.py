"""The rules of names and values: the one place they are written.

The frontend checks names as the user types with the same rules: ``src/rules.json`` is
generated from `rules_document` (``python -m jupyterlab_secrets.rules > src/rules.json``),
and a test fails when the two differ.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Literal

from .errors import InvalidInputError, ValueTooLargeError

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9_-]{1,61}[A-Za-z0-9]"
"""A valid name, matched whole (``fullmatch``; ``$`` would accept a trailing newline)."""
NAME_MIN_LENGTH = 3
NAME_MAX_LENGTH = 63
MAX_VALUE_BYTES = 65_536

RESERVED_NAMES = (
    # Shells: what they run, load, trust, or where they look for programs.
    "PATH", "HOME", "SHELL", "USER", "PWD", "IFS", "ENV", "BASH_ENV", "PROMPT_COMMAND",
    "PS0", "PS1", "PS2", "PS3", "PS4", "SHELLOPTS", "BASHOPTS", "CDPATH", "GLOBIGNORE",
    "TMPDIR", "LOGNAME", "MAIL", "TERM", "HISTFILE", "INPUTRC", "ZDOTDIR", "FPATH",
    # Interpreters' start-up options and module paths.
    "NODE_OPTIONS", "NODE_PATH", "PERL5OPT", "PERL5LIB", "PERLLIB", "PERL5DB", "RUBYOPT",
    "RUBYLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
    "GCONV_PATH", "R_PROFILE", "R_PROFILE_USER", "R_ENVIRON", "R_ENVIRON_USER", "R_LIBS",
    "R_LIBS_USER", "R_LIBS_SITE", "R_HOME", "MPLCONFIGDIR",
    # Programs that tools start on the user's behalf.
    "EDITOR", "VISUAL", "PAGER", "BROWSER", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS",
    "GIT_EXEC_PATH", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "SSH_ASKPASS", "LESSOPEN",
    "LESSCLOSE", "MANPAGER", "GIT_PAGER",
)  # fmt: skip
"""Names whose value changes what a shell, an interpreter or a common tool runs, loads or
trusts. Matched without regard to case."""

RESERVED_PREFIXES = (
    "LD_", "DYLD_", "JPY_", "JUPYTER", "PYTHON", "IPYTHON", "JULIA_", "BASH_FUNC_",
    "GIT_CONFIG_",
)  # fmt: skip
"""Names starting with these are reserved too, without regard to case."""

TRAFFIC_NAMES = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY", "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
)  # fmt: skip
"""Names that redirect network traffic or what it trusts: allowed for a project's own
secrets, never injected from a secret shared by another project. Matched without regard
to case."""

TRAFFIC_PREFIXES = ("PIP_", "UV_", "CONDA_")

SHARED_NAME_MARK = "-"
"""A secret shared by another project is injected only under a name holding this character.

Every name a shell, an interpreter or a common tool reads is a C identifier (letters, digits and
``_``): no POSIX shell can even set a variable with a hyphen, so a program reads one only when
someone wrote that name into it, as notebook code reads ``os.environ['my-api-key']``. A list of
dangerous names never ends (``GIT_EXTERNAL_DIFF``, ``TAR_OPTIONS``, ``KUBECONFIG``, ...); this
rule lets a project's kernels take from another project only names no tool knows."""

SETTING_PREFIXES = ("NPM_CONFIG_", "PNPM_CONFIG_", "YARN_", "BUNDLE_")
"""Prefixes under which a tool reads every variable as one of its settings, hyphens included
(npm, pnpm, Yarn, Bundler; pip, uv and conda are `TRAFFIC_PREFIXES`): a shared secret is never
injected under them, hyphen or not. Matched without regard to case."""

SharedNameRefusal = Literal["traffic", "shared_name"]
"""Why a name keeps a secret shared by another project out of a project's environment."""

_NAME = re.compile(NAME_PATTERN)
_RESERVED = frozenset(RESERVED_NAMES)


def name_error(name: str) -> str | None:
    """Why ``name`` cannot name a secret, or None when it can."""
    if not NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH:
        return f"Name must be {NAME_MIN_LENGTH} to {NAME_MAX_LENGTH} characters long."
    if not ("A" <= name[0] <= "Z" or "a" <= name[0] <= "z"):
        return "Name must start with a Latin letter."
    if not name[-1].isascii() or not name[-1].isalnum():
        return "Name must end with a Latin letter or a digit."
    if _NAME.fullmatch(name) is None:
        return "Name may contain only Latin letters, digits, hyphens and underscores."
    upper = name.upper()
    if upper in _RESERVED:
        return (
            f"Name {name} is reserved: setting it would change what programs in the kernel "
            "run or trust."
        )
    for prefix in RESERVED_PREFIXES:
        if upper.startswith(prefix):
            return (
                f"Names starting with {prefix} are reserved: setting them would change what "
                "programs in the kernel run or trust."
            )
    return None


def is_traffic_name(name: str) -> bool:
    """Whether ``name`` redirects network traffic or trust (never injected when shared)."""
    upper = name.upper()
    return upper in TRAFFIC_NAMES or upper.startswith(TRAFFIC_PREFIXES)


def shared_name_refusal(name: str) -> SharedNameRefusal | None:
    """Why a secret shared by another project is never injected under ``name``, or None when
    it may be. (A project's own secrets are injected under any valid name.)

    ``traffic``: the name redirects network traffic or trust (`is_traffic_name`);
    ``shared_name``: it holds no `SHARED_NAME_MARK`, or starts with one of `SETTING_PREFIXES`.
    """
    if is_traffic_name(name):
        return "traffic"
    if SHARED_NAME_MARK not in name or name.upper().startswith(SETTING_PREFIXES):
        return "shared_name"
    return None


def check_name(name: str) -> None:
    """Raise `InvalidInputError` (field ``name``) unless ``name`` can name a secret."""
    message = name_error(name)
    if message is not None:
        raise InvalidInputError(message, "name")


def check_value(value: str) -> bytes:
    """Check a secret value and return its UTF-8 bytes; raise a domain error if refused."""
    if value == "":
        raise InvalidInputError("Content must not be empty.", "value")
    if "\0" in value:
        raise InvalidInputError("Content must not contain a NUL character.", "value")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            "Content must be valid Unicode text (it holds a lone surrogate).", "value"
        ) from None
    if len(data) > MAX_VALUE_BYTES:
        raise ValueTooLargeError(f"Content must be at most {MAX_VALUE_BYTES:,} bytes.", "value")
    return data


def rules_document() -> dict[str, Any]:
    """The rules as data, for the frontend's copy (``src/rules.json``)."""
    return {
        "name": {
            "pattern": NAME_PATTERN,
            "minLength": NAME_MIN_LENGTH,
            "maxLength": NAME_MAX_LENGTH,
            "reserved": list(RESERVED_NAMES),
            "reservedPrefixes": list(RESERVED_PREFIXES),
            "traffic": list(TRAFFIC_NAMES),
            "trafficPrefixes": list(TRAFFIC_PREFIXES),
            "sharedNameMark": SHARED_NAME_MARK,
            "settingPrefixes": list(SETTING_PREFIXES),
        },
        "value": {"maxBytes": MAX_VALUE_BYTES},
    }


def main() -> None:
    """Print `rules_document` as the JSON of ``src/rules.json``."""
    sys.stdout.write(json.dumps(rules_document(), indent=2) + "\n")


if __name__ == "__main__":
    main()
