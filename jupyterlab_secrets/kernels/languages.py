"""Per-language code that sets a project's secrets in a running kernel's environment.

Every generator is a pure function. The code it returns carries each value base64-encoded,
so a raw value never appears in it. When run, the code catches its own errors, prints
nothing, leaves no names in the user's namespace, can run any number of times, and removes
the variables that an earlier run (or the kernel's launch) set and that are no longer
secrets. It records the names it manages in ``JUPYTERLAB_SECRETS_NAMES`` (names only) and
its outcome in ``JUPYTERLAB_SECRETS_STATUS``; names starting with ``JUPYTER`` are never
secret names, so neither can clash with a secret.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

NAMES_VARIABLE = "JUPYTERLAB_SECRETS_NAMES"
"""The variable listing the names the injector manages, separated by commas."""

STATUS_VARIABLE = "JUPYTERLAB_SECRETS_STATUS"
"""Where the code records its outcome: ``<token>:ok`` or ``<token>:error:<kind>``."""

STATUS_EXPRESSION = "jupyterlab_secrets"
"""The key of the user expression that reads the outcome back."""

BASH_CELL_MARKER = "#!:bash"
"""The first line of a Python cell that runs the rest of the cell in bash."""

PORTABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
"""Names every supported language can hold and that are safe inside a quoted literal.
Every valid secret name matches."""

SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""Names a POSIX shell can export."""

_TOKEN = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Skipped:
    """A secret a kernel does not get, and why (never its value)."""

    name: str
    reason: str


@dataclass(frozen=True)
class Injection:
    """Code that sets a set of secrets in one kind of kernel."""

    code: str
    """The code to send in a silent execute request."""
    user_expressions: dict[str, str]
    """Expressions that read the outcome back (never a value); empty where unsupported."""
    names: list[str]
    """The names the code sets, sorted."""
    skipped: list[Skipped] = field(default_factory=list)
    """The names this kind of kernel cannot hold, left out."""


Generator = Callable[[Mapping[str, str], str], Injection]


@dataclass(frozen=True)
class Language:
    """What the injector knows of one kernel language."""

    name: str
    generate: Generator
    name_pattern: re.Pattern[str]
    name_reason: str

    def partition(self, environment: Mapping[str, str]) -> tuple[list[str], list[Skipped]]:
        """The names this language can hold, and the others with the reason, sorted."""
        names: list[str] = []
        skipped: list[Skipped] = []
        for name in sorted(environment):
            if self.name_pattern.fullmatch(name) is None:
                skipped.append(Skipped(name, self.name_reason))
            elif "\0" in environment[name]:
                skipped.append(Skipped(name, "The value holds a NUL character."))
            else:
                names.append(name)
        return names, skipped

    def launch_environment(self, environment: Mapping[str, str]) -> dict[str, str]:
        """The variables to give a kernel of this language when its process starts."""
        names, _ = self.partition(environment)
        return {name: environment[name] for name in names}


def b64(data: str | bytes) -> str:
    """UTF-8 (for text), then base64."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def _check_token(token: str) -> None:
    if _TOKEN.fullmatch(token) is None:
        raise ValueError("An injection token holds only letters and digits.")


def _nul_separated(environment: Mapping[str, str], names: list[str], with_names: bool) -> str:
    """The values (and the names before them, when asked), each followed by a NUL."""
    parts: list[str] = []
    for name in names:
        if with_names:
            parts.append(name)
        parts.append(environment[name])
    return b64("".join(part + "\0" for part in parts))


PYTHON_SCRIPT = f"""import base64
import os

# TOKEN and SECRETS come with the namespace this script runs in. SECRETS is None at
# kernel start-up, when only the #!:bash transformer is registered.
NAMES = '{NAMES_VARIABLE}'
STATUS = '{STATUS_VARIABLE}'
MARKER = '{BASH_CELL_MARKER}'


# Runs a cell whose first line is '#!:bash [args]' as '%%bash [args]'.
def bash_cell(lines):
    if lines and lines[0].startswith(MARKER):
        rest = lines[0][len(MARKER):]
        if not rest or rest[0].isspace():
            return ['%%bash' + rest] + lines[1:]
    return lines


bash_cell.jupyterlab_secrets = True


def register_bash_cell():
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    transforms = shell.input_transformers_cleanup
    transforms[:] = [t for t in transforms if not getattr(t, 'jupyterlab_secrets', False)]
    transforms.insert(0, bash_cell)
    if SECRETS is None:
        # At start-up this runs as an exec_lines line, whose result IPython keeps in
        # last_execution_result: clear it once the line is done, as a plain kernel has None.
        def forget(result=None):
            shell.last_execution_result = None
            shell.events.unregister('post_run_cell', forget)

        shell.events.register('post_run_cell', forget)


try:
    if SECRETS is not None:
        fields = base64.b64decode(SECRETS).split(b'\\0')[:-1]
        values = {{
            fields[i].decode('ascii'): fields[i + 1].decode('utf-8')
            for i in range(0, len(fields), 2)
        }}
        for name in os.environ.get(NAMES, '').split(','):
            if name and name not in values:
                os.environ.pop(name, None)
        os.environ.update(values)
        os.environ[NAMES] = ','.join(values)
    register_bash_cell()
    if TOKEN:
        os.environ[STATUS] = TOKEN + ':ok'
except BaseException as error:
    if TOKEN:
        os.environ[STATUS] = TOKEN + ':error:' + type(error).__name__
finally:
    # The transformer keeps this namespace alive: keep no value in it.
    for name in ('SECRETS', 'fields', 'values'):
        globals().pop(name, None)
"""

_PYTHON_SCRIPT_B64 = b64(PYTHON_SCRIPT)


def python_startup_line() -> str:
    """One line for ipykernel's ``exec_lines``: registers the ``#!:bash`` transformer before
    the kernel answers its first request. It holds no secret (they come in the process's
    environment), and it neither starts nor ends with a quote, which traitlets would strip."""
    return (
        f"exec(__import__('base64').b64decode('{_PYTHON_SCRIPT_B64}').decode('ascii'), "
        "{'__name__': 'jupyterlab_secrets', 'TOKEN': '', 'SECRETS': None})"
    )


def python_injection(environment: Mapping[str, str], token: str) -> Injection:
    """Set the secrets in an IPython kernel (``os.environ``) and register the ``#!:bash``
    transformer.

    The script travels base64-encoded inside a one-statement wrapper that runs it in a
    throwaway namespace, so nothing lands in ``In``, ``Out`` or the user's globals. The
    secrets travel beside it as one base64 literal of ``name NUL value NUL ...``.
    """
    _check_token(token)
    names, skipped = PYTHON.partition(environment)
    secrets = _nul_separated(environment, names, True)
    code = "\n".join(
        [
            "try:",
            f"    exec(__import__('base64').b64decode('{_PYTHON_SCRIPT_B64}').decode('ascii'), "
            f"{{'__name__': 'jupyterlab_secrets', 'TOKEN': '{token}', 'SECRETS': '{secrets}'}})",
            "except BaseException:",
            f"    __import__('os').environ['{STATUS_VARIABLE}'] = '{token}:error:wrapper'",
            "",
        ]
    )
    return Injection(
        code,
        {STATUS_EXPRESSION: f"__import__('os').environ.get('{STATUS_VARIABLE}', '')"},
        names,
        skipped,
    )


def r_injection(environment: Mapping[str, str], token: str) -> Injection:
    """Set the secrets in an IRkernel kernel (``Sys.setenv`` / ``Sys.unsetenv``).

    IRkernel always ships ``jsonlite``, whose ``base64_dec`` decodes the values; everything
    runs inside ``local()``, so no name lands in the global environment.
    """
    _check_token(token)
    names, skipped = R.partition(environment)
    entries = ",\n".join(f"      `{name}` = decode('{b64(environment[name])}')" for name in names)
    code = "\n".join(
        [
            "invisible(local({",
            f"  token <- '{token}'",
            "  tryCatch(suppressWarnings({",
            "    decode <- function(data) {",
            "      value <- rawToChar(jsonlite::base64_dec(data))",
            "      Encoding(value) <- 'UTF-8'",
            "      value",
            "    }",
            "    secrets <- list(",
            *([entries] if entries else []),
            "    )",
            f"    old <- strsplit(Sys.getenv('{NAMES_VARIABLE}'), ',', fixed = TRUE)[[1]]",
            "    gone <- setdiff(old[nzchar(old)], names(secrets))",
            "    if (length(gone) > 0) Sys.unsetenv(gone)",
            "    if (length(secrets) > 0) do.call(Sys.setenv, secrets)",
            f"    Sys.setenv({NAMES_VARIABLE} = paste(names(secrets), collapse = ','))",
            f"    Sys.setenv({STATUS_VARIABLE} = paste0(token, ':ok'))",
            "  }), error = function(e) {",
            f"    Sys.setenv({STATUS_VARIABLE} = paste0(token, ':error:', class(e)[1]))",
            "  })",
            "}))",
            "",
        ]
    )
    return Injection(code, {STATUS_EXPRESSION: f"Sys.getenv('{STATUS_VARIABLE}')"}, names, skipped)


_BASE64_PKG = 'Base.PkgId(Base.UUID("2a0f44e3-6c83-55bd-87e4-b1978d98bd5f"), "Base64")'


def julia_injection(environment: Mapping[str, str], token: str) -> Injection:
    """Set the secrets in an IJulia kernel (``ENV``).

    ``Base64`` is loaded without binding a name in ``Main``, and everything runs inside
    ``let``, so no name lands in the user's module. No string interpolates (no ``$``).
    """
    _check_token(token)
    names, skipped = JULIA.partition(environment)
    entries = "".join(
        f'            "{name}" => decode("{b64(environment[name])}"),\n' for name in names
    )
    code = "\n".join(
        [
            f'let token = "{token}"',
            "    try",
            f"        base64 = Base.require({_BASE64_PKG})",
            "        decode(data) = String(Base.invokelatest(base64.base64decode, data))",
            "        secrets = Pair{String,String}[",
            entries + "        ]",
            "        wanted = Set{String}(first(p) for p in secrets)",
            f'        for name in split(get(ENV, "{NAMES_VARIABLE}", ""), \',\', keepempty=false)',
            "            String(name) in wanted || delete!(ENV, String(name))",
            "        end",
            "        for (name, value) in secrets",
            "            ENV[name] = value",
            "        end",
            f"        ENV[\"{NAMES_VARIABLE}\"] = join((first(p) for p in secrets), ',')",
            f'        ENV["{STATUS_VARIABLE}"] = token * ":ok"',
            "    catch err",
            f'        ENV["{STATUS_VARIABLE}"] = token * ":error:" * string(nameof(typeof(err)))',
            "    end",
            "    nothing",
            "end",
            "",
        ]
    )
    return Injection(
        code, {STATUS_EXPRESSION: f'get(ENV, "{STATUS_VARIABLE}", "")'}, names, skipped
    )


BASH_FIRST_LINE_TAIL = "__jupyterlab_secrets_history=off; set +o history"
"""The end of bash's first line: what is recognised when removing it from history."""

BASH_FIRST_LINE = f"[[ -o history ]] && __jupyterlab_secrets_history=on || {BASH_FIRST_LINE_TAIL}"
"""The first bash line: remember whether history is on, then turn it off."""


def bash_injection(environment: Mapping[str, str], token: str) -> Injection:
    """Set the secrets in a bash_kernel kernel (``export``).

    bash cannot export a name with a hyphen, so those are skipped. bash_kernel types the
    code into an interactive bash line by line, so the code is two lines: the first turns
    history off (and holds no value), the second does the work, removes the first from
    history, and turns history back on. The code ends with a non-zero status when a value
    could not be set, so the execute reply reports the failure. It holds no ``!`` and no
    tab, which an interactive bash would act on.
    """
    _check_token(token)
    names, skipped = BASH.partition(environment)
    # One decoder process for all values, each followed by a NUL, which no value holds,
    # and read back whole, trailing newlines included.
    listed = ",".join(names)
    blob = _nul_separated(environment, names, False)
    second = "".join(
        [
            "__jupyterlab_secrets_apply() { ",
            r"local IFS=$' \t\n' __jls_entry __jls_name __jls_value __jls_i ",
            f"__jls_list='{listed}'; ",
            "local -a __jls_values __jls_names; ",
            "if [[ $__jupyterlab_secrets_history == on ]]; then ",
            "__jls_entry=$(HISTTIMEFORMAT= history 1); ",
            f"if [[ $__jls_entry == *'{BASH_FIRST_LINE_TAIL}' ]]; then ",
            '__jls_entry=${__jls_entry#"${__jls_entry%%[0-9]*}"}; ',
            'history -d "${__jls_entry%%[^0-9]*}"; ',
            "fi; fi; ",
            "while IFS= read -r -d '' __jls_value; do ",
            "__jls_values[${#__jls_values[@]}]=$__jls_value; ",
            f"done < <(printf '%s' '{blob}' | base64 -d); ",
            "__jls_names=(${__jls_list//,/ }); ",
            "[[ ${#__jls_values[@]} == ${#__jls_names[@]} ]] || return 1; ",
            f'[[ ${NAMES_VARIABLE} == "$__jls_list" ]] || ',
            f"for __jls_name in ${{{NAMES_VARIABLE}//,/ }}; do ",
            'case ",$__jls_list," in *",$__jls_name,"*) ;; ',
            '*) [[ $__jls_name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && unset -v "$__jls_name";; ',
            "esac; done; ",
            "for ((__jls_i = 0; __jls_i < ${#__jls_names[@]}; __jls_i++)); do ",
            'export "${__jls_names[__jls_i]}=${__jls_values[__jls_i]}"; done; ',
            f'export {NAMES_VARIABLE}="$__jls_list"; ',
            "}; ",
            "__jupyterlab_secrets_apply >/dev/null 2>&1; ",
            "__jupyterlab_secrets_status=$?; ",
            "unset -f __jupyterlab_secrets_apply; ",
            f"[[ $__jupyterlab_secrets_status == 0 ]] && export {STATUS_VARIABLE}='{token}:ok' "
            f"|| export {STATUS_VARIABLE}='{token}:error:bash'; ",
            "[[ $__jupyterlab_secrets_history == on ]] && set -o history; ",
            'eval "unset -v __jupyterlab_secrets_history __jupyterlab_secrets_status; '
            '[[ $__jupyterlab_secrets_status == 0 ]]"',
        ]
    )
    return Injection(f"{BASH_FIRST_LINE}\n{second}\n", {}, names, skipped)


_NAME_REASON = "This kernel's language cannot hold this name as an environment variable."

PYTHON = Language("python", python_injection, PORTABLE_NAME, _NAME_REASON)
R = Language("R", r_injection, PORTABLE_NAME, _NAME_REASON)
JULIA = Language("julia", julia_injection, PORTABLE_NAME, _NAME_REASON)
BASH = Language(
    "bash",
    bash_injection,
    SHELL_NAME,
    "bash cannot export a name holding a hyphen: rename the secret with underscores to use "
    "it in bash.",
)

_LANGUAGES = {"python": PYTHON, "python3": PYTHON, "r": R, "julia": JULIA, "bash": BASH}


def language_for(name: str | None) -> Language | None:
    """The language of a kernelspec's ``language`` (any case), or None when secrets cannot
    be set in it."""
    return _LANGUAGES.get((name or "").strip().lower())
