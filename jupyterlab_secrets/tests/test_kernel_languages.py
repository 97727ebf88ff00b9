"""The code sent to each kind of kernel: decoded here, and compared byte for byte."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest

from jupyterlab_secrets.kernels.languages import (
    BASH,
    JULIA,
    NAMES_VARIABLE,
    PYTHON,
    STATUS_VARIABLE,
    Injection,
    Language,
    R,
    bash_injection,
    julia_injection,
    language_for,
    python_injection,
    python_startup_line,
    r_injection,
)

from .kernels_helpers import tricky_values

TOKEN = "tok3n42"
VALUES = {**tricky_values("/tmp/x"), "my-api-key": 'hyphenated "name"'}


def _split_nul(data: bytes) -> list[bytes]:
    assert data == b"" or data.endswith(b"\0")
    return data.split(b"\0")[:-1]


def _decode_python(code: str) -> dict[str, bytes]:
    found = re.search(r"'SECRETS': '([A-Za-z0-9+/=]*)'", code)
    assert found is not None
    fields = _split_nul(base64.b64decode(found.group(1)))
    return {fields[i].decode("ascii"): fields[i + 1] for i in range(0, len(fields), 2)}


def _collect(code: str, pattern: str) -> dict[str, bytes]:
    return {m[1]: base64.b64decode(m[2]) for m in re.finditer(pattern, code, re.M)}


def _decode_bash(code: str) -> dict[str, bytes]:
    blob = re.search(r"done < <\(printf '%s' '([A-Za-z0-9+/=]*)' \| base64 -d\)", code)
    listed = re.search(r"__jls_list='([A-Za-z0-9_,]*)'", code)
    assert blob is not None and listed is not None
    data = _split_nul(base64.b64decode(blob.group(1)))
    names = listed.group(1).split(",") if listed.group(1) else []
    assert len(names) == len(data)
    return dict(zip(names, data, strict=True))


DECODERS: dict[str, Callable[[str], dict[str, bytes]]] = {
    "python": _decode_python,
    "R": lambda code: _collect(code, r"^ {6}`([^`]+)` = decode\('([A-Za-z0-9+/=]*)'\),?$"),
    "julia": lambda code: _collect(code, r'^ {12}"([^"]+)" => decode\("([A-Za-z0-9+/=]*)"\),$'),
    "bash": _decode_bash,
}


def readable(language: str, code: str) -> str:
    """The code as the kernel runs it: for Python, the wrapped script too."""
    if language != "python":
        return code
    outer = re.search(r"b64decode\('([A-Za-z0-9+/=]+)'\)", code)
    assert outer is not None
    return code + base64.b64decode(outer.group(1)).decode("ascii")


def fragments(value: str) -> list[str]:
    """A value, and each of its longer lines: none may appear in code."""
    return [value, *(line for line in re.split(r"\r?\n", value) if len(line) >= 12)]


LANGUAGES = [PYTHON, R, JULIA, BASH]


@pytest.fixture(params=LANGUAGES, ids=lambda language: language.name)
def language(request: pytest.FixtureRequest) -> Language:
    return request.param


def settable(language: Language) -> list[str]:
    return sorted(n for n in VALUES if language is not BASH or "-" not in n)


def test_every_value_it_sets_travels_byte_for_byte(language: Language) -> None:
    injection = language.generate(VALUES, TOKEN)

    decoded = DECODERS[language.name](injection.code)

    assert sorted(decoded) == settable(language)
    for name in settable(language):
        assert decoded[name] == VALUES[name].encode("utf-8")
    assert injection.names == settable(language)
    assert len(decoded["TRICKY_BIG"]) == 65536


def test_no_raw_value_appears_even_once_unwrapped(language: Language) -> None:
    code = readable(language.name, language.generate(VALUES, TOKEN).code)
    for value in VALUES.values():
        for fragment in fragments(value):
            assert fragment not in code


def test_it_records_the_names_and_the_outcome(language: Language) -> None:
    injection = language.generate(VALUES, TOKEN)
    code = readable(language.name, injection.code)
    assert NAMES_VARIABLE in code and STATUS_VARIABLE in code and TOKEN in code
    for expression in injection.user_expressions.values():
        assert STATUS_VARIABLE in expression


def test_it_skips_what_the_language_cannot_hold_and_says_why(language: Language) -> None:
    odd = language.generate({"has space": "v", "GOOD_NAME": "v", "NUL_VALUE": "a\0b"}, TOKEN)

    assert odd.names == ["GOOD_NAME"]
    assert sorted(s.name for s in odd.skipped) == ["NUL_VALUE", "has space"]
    assert all(s.reason for s in odd.skipped)
    assert "has space" not in odd.code


def test_with_no_secrets_it_sets_none_and_still_removes_old_ones(language: Language) -> None:
    empty = language.generate({}, TOKEN)
    assert empty.names == []
    assert DECODERS[language.name](empty.code) == {}
    assert NAMES_VARIABLE in readable(language.name, empty.code)


def test_the_same_input_gives_the_same_code(language: Language) -> None:
    assert language.generate(VALUES, TOKEN).code == language.generate(VALUES, TOKEN).code


def test_a_token_that_could_break_out_of_a_literal_is_refused(language: Language) -> None:
    with pytest.raises(ValueError):
        language.generate({}, "x'; rm -rf /")


def test_python_is_one_try_statement_without_an_as_clause() -> None:
    lines = python_injection({"SOME_KEY": "value"}, TOKEN).code.rstrip("\n").split("\n")
    assert lines[0] == "try:"
    assert lines[2] == "except BaseException:"
    assert len(lines) == 4
    # `except ... as name` would delete a user variable of that name.
    assert not re.search(r"except [^:]* as ", "\n".join(lines))


def test_the_python_startup_line_holds_no_secret_and_survives_traitlets() -> None:
    line = python_startup_line()
    assert "'SECRETS': None" in line
    assert "\n" not in line
    # traitlets strips a value that starts and ends with the same quote.
    assert line[0] not in "'\"" and line[-1] not in "'\""
    script = readable("python", line)
    assert "input_transformers_cleanup" in script
    assert "return ['%%bash' + rest] + lines[1:]" in script


def test_bash_is_two_lines_and_the_first_holds_no_value() -> None:
    injection = bash_injection({"SOME_KEY": "value", "my-key": "v"}, TOKEN)
    lines = injection.code.split("\n")
    assert len(lines) == 3 and lines[2] == ""
    assert lines[0] == (
        "[[ -o history ]] && __jupyterlab_secrets_history=on || "
        "__jupyterlab_secrets_history=off; set +o history"
    )
    # bash's history expansion and completion would act on these.
    assert "!" not in injection.code and "\t" not in injection.code
    assert injection.names == ["SOME_KEY"]
    assert [s.name for s in injection.skipped] == ["my-key"]
    assert "hyphen" in injection.skipped[0].reason


def test_julia_never_interpolates() -> None:
    assert "$" not in julia_injection(VALUES, TOKEN).code


def test_r_runs_in_local() -> None:
    code = r_injection(VALUES, TOKEN).code
    assert code.startswith("invisible(local({")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("python", PYTHON), ("Python", PYTHON), ("python3", PYTHON), ("R", R), ("r", R)]
    + [("julia", JULIA), ("bash", BASH), ("scala", None), ("", None), (None, None)],
)
def test_language_for(name: str | None, expected: Language | None) -> None:
    assert language_for(name) is expected


def test_injection_is_a_plain_record() -> None:
    injection = python_injection({}, TOKEN)
    assert isinstance(injection, Injection)
