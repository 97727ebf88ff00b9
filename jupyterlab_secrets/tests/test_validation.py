"""Every refusal: its status, its message, and that nothing was written."""

from __future__ import annotations

import json
import random
import re
import string
from typing import Any

import pytest

from jupyterlab_secrets.rules import NAME_PATTERN, RESERVED_NAMES, RESERVED_PREFIXES, name_error

from .conftest import Api, snapshot

LENGTH = "Name must be 3 to 63 characters long."
START = "Name must start with a Latin letter."
END = "Name must end with a Latin letter or a digit."
CHARS = "Name may contain only Latin letters, digits, hyphens and underscores."
EMPTY = "Content must not be empty."
NUL = "Content must not contain a NUL character."
SURROGATE = "Content must be valid Unicode text (it holds a lone surrogate)."
TOO_LARGE = "Content must be at most 65,536 bytes."
NOT_UTF8 = "The request body is not valid UTF-8."
NOT_JSON = "The request body is not valid JSON."
NOT_OBJECT = "The request body must be a JSON object."
STALE = "This secret was changed by someone else. Reload it and try again."
TAKEN = "A secret with this name already exists in this project."


def reserved(name: str) -> str:
    return (
        f"Name {name} is reserved: setting it would change what programs in the kernel run or "
        "trust."
    )


def reserved_prefix(prefix: str) -> str:
    return (
        f"Names starting with {prefix} are reserved: setting them would change what programs "
        "in the kernel run or trust."
    )


BAD_NAMES = [
    ("", LENGTH),
    ("ab", LENGTH),
    ("a" * 64, LENGTH),
    ("A" + "b" * 70, LENGTH),
    ("1abc", START),
    ("-abc", START),
    ("_abc", START),
    ("аbc", START),  # a Cyrillic "a"
    ("abc-", END),
    ("abc_", END),
    ("abc\n", END),
    ("ab c", CHARS),
    ("ab.c", CHARS),
    ("ab/c", CHARS),
    ("ab$c", CHARS),
    ("abéc", CHARS),
    ("ab\nc", CHARS),
    ("ab=c", CHARS),
    *[(name, reserved(name)) for name in ("PATH", "HOME", "SHELL", "USER", "PWD")],
    *[(name, reserved_prefix("PYTHON")) for name in ("PYTHONPATH", "PYTHONHOME", "pythonpath")],
    ("PYTHONSTARTUP", reserved_prefix("PYTHON")),
    ("LD_PRELOAD", reserved_prefix("LD_")),
    ("LD_LIBRARY_PATH", reserved_prefix("LD_")),
    ("JPY_PARENT_PID", reserved_prefix("JPY_")),
    ("JPY_SESSION_NAME", reserved_prefix("JPY_")),
    ("JUPYTER_TOKEN", reserved_prefix("JUPYTER")),
    ("JUPYTERHUB", reserved_prefix("JUPYTER")),
    ("JUPYTER", reserved_prefix("JUPYTER")),
    # The whole list, in any case.
    *[
        (name, reserved(name))
        for name in (
            "path",
            "Path",
            "home",
            "BASH_ENV",
            "PROMPT_COMMAND",
            "NODE_OPTIONS",
            "PERL5OPT",
            "bash_env",
        )
    ],
    ("PYTHONWARNINGS", reserved_prefix("PYTHON")),
    ("DYLD_INSERT_LIBRARIES", reserved_prefix("DYLD_")),
    ("ld_preload", reserved_prefix("LD_")),
    ("Ld_x", reserved_prefix("LD_")),
    ("jpy_session", reserved_prefix("JPY_")),
    ("jupyter_token", reserved_prefix("JUPYTER")),
    ("Jupyter", reserved_prefix("JUPYTER")),
]

GOOD_NAMES = [
    "abc",
    "a" * 63,
    "A" + "-_9" * 20 + "Z",
    "my-api-key",
    "my_api_key2",
    "x-1",
    "HTTPS_PROXY",
    "pip_index_url",
    "PATH2",
    "MY_PATH",
    "XLD_PRELOAD",
    "LD-PRELOAD",
]


async def store_existing(api: Api) -> dict[str, Any]:
    """Store one secret, which every refusal must leave alone."""
    reply = await api("POST", "secrets", body={"name": "existing", "value": "kept\nvalue"})
    assert reply.status == 201
    return reply.body


async def assert_refused(api: Api, status: int, message: str, field: str | None, call: Any) -> None:
    """Make a request that must be refused; check the answer and that nothing changed."""
    before = await snapshot(api)
    reply = await call()
    assert reply.status == status, reply.body
    expected = {"message": message}
    if field is not None:
        expected["field"] = field
    assert reply.body == expected
    assert await snapshot(api) == before


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
async def test_create_refuses_a_bad_name(api: Api, name: str, message: str) -> None:
    await store_existing(api)
    # Given a stored secret
    # When a secret with a bad name is created
    # Then it is 400 with the reason, and nothing is written
    await assert_refused(
        api,
        400,
        message,
        "name",
        lambda: api("POST", "secrets", body={"name": name, "value": "x"}),
    )


@pytest.mark.parametrize("name", GOOD_NAMES)
async def test_create_accepts_a_good_name(api: Api, name: str) -> None:
    # Given an empty project
    # When a secret with a valid name is created
    reply = await api("POST", "secrets", body={"name": name, "value": "x"})
    # Then it is created under exactly that name
    assert reply.status == 201, reply.body
    assert reply.body["name"] == name
    assert (await api("GET", "environment")).body == {"environment": {name: "x"}}


async def test_create_refuses_a_taken_name(api: Api) -> None:
    await store_existing(api)
    # Given a secret named "existing"
    # When another one is created with that name
    # Then it is 409, and the first one keeps its value
    await assert_refused(
        api,
        409,
        TAKEN,
        "name",
        lambda: api("POST", "secrets", body={"name": "existing", "value": "other"}),
    )


async def test_names_are_case_sensitive(api: Api) -> None:
    await store_existing(api)
    # Given a secret named "existing"
    # When "Existing" is created
    reply = await api("POST", "secrets", body={"name": "Existing", "value": "other"})
    # Then it is a different secret
    assert reply.status == 201


BAD_VALUES = [
    ("", 400, EMPTY),
    ("a\0b", 400, NUL),
    ("\0", 400, NUL),
    ("a" * 65_537, 413, TOO_LARGE),
    ("é" * 32_768 + "a", 413, TOO_LARGE),
    ("🙂" * 16_385, 413, TOO_LARGE),
]


@pytest.mark.parametrize(("value", "status", "message"), BAD_VALUES, ids=range(len(BAD_VALUES)))
async def test_create_refuses_a_bad_value(api: Api, value: str, status: int, message: str) -> None:
    await store_existing(api)
    # Given a stored secret
    # When a secret with a bad value is created
    # Then it is refused with the reason, and nothing is written
    await assert_refused(
        api,
        status,
        message,
        "value",
        lambda: api("POST", "secrets", body={"name": "new-one", "value": value}),
    )


@pytest.mark.parametrize("value", ["a" * 65_536, "é" * 32_768, "🙂" * 16_384, "x"])
async def test_create_accepts_values_up_to_65536_bytes(api: Api, value: str) -> None:
    # Given an empty project
    # When a value of at most 65,536 UTF-8 bytes is stored
    reply = await api("POST", "secrets", body={"name": "big", "value": value})
    # Then it is kept byte for byte
    assert reply.status == 201
    assert (await api("POST", "secrets", reply.body["id"], "reveal")).body == {"value": value}


async def test_create_refuses_a_lone_surrogate(api: Api) -> None:
    await store_existing(api)
    # Given a stored secret
    # When the JSON body holds a lone surrogate escape
    body = b'{"name": "new-one", "value": "ab\\ud800cd"}'
    # Then it is 400: the value cannot be UTF-8
    await assert_refused(api, 400, SURROGATE, "value", lambda: api("POST", "secrets", raw=body))


BAD_BODIES = [
    (b"\xff\xfe{}", NOT_UTF8, None),
    (b'{"name": "new-one", "value": "caf\xe9"}', NOT_UTF8, None),
    (b"", NOT_JSON, None),
    (b"not json", NOT_JSON, None),
    (b'{"name": "new-one", "value": "x"', NOT_JSON, None),
    (b"{'name': 'new-one', 'value': 'x'}", NOT_JSON, None),
    (b"[]", NOT_OBJECT, None),
    (b'["new-one", "x"]', NOT_OBJECT, None),
    (b'"new-one"', NOT_OBJECT, None),
    (b"null", NOT_OBJECT, None),
    (b"1", NOT_OBJECT, None),
    (b'{"value": "x"}', "Field 'name' is required.", "name"),
    (b'{"name": "new-one"}', "Field 'value' is required.", "value"),
    (b"{}", "Field 'name' is required.", "name"),
    (b'{"name": "new-one", "value": "x", "extra": 1}', 'Unknown field "extra".', "extra"),
    (b'{"name": "new-one", "value": "x", "id": "abc"}', 'Unknown field "id".', "id"),
    (b'{"name": 1, "value": "x"}', "Field 'name' must be a string.", "name"),
    (b'{"name": true, "value": "x"}', "Field 'name' must be a string.", "name"),
    (b'{"name": "new-one", "value": 12}', "Field 'value' must be a string.", "value"),
    (b'{"name": "new-one", "value": null}', "Field 'value' must be a string.", "value"),
    (b'{"name": "new-one", "value": ["x"]}', "Field 'value' must be a string.", "value"),
    (b'{"name": "new-one", "value": {"a": "b"}}', "Field 'value' must be a string.", "value"),
]


@pytest.mark.parametrize(("raw", "message", "field"), BAD_BODIES)
async def test_create_refuses_a_bad_body(
    api: Api, raw: bytes, message: str, field: str | None
) -> None:
    await store_existing(api)
    # Given a stored secret
    # When the body is not a valid create request
    # Then it is 400 with the reason, and nothing is written
    await assert_refused(api, 400, message, field, lambda: api("POST", "secrets", raw=raw))


BAD_PATCHES = [
    ({"name": "other"}, 400, "Field 'version' is required.", "version"),
    ({"version": "1", "name": "other"}, 400, "Field 'version' must be an integer.", "version"),
    ({"version": True, "name": "other"}, 400, "Field 'version' must be an integer.", "version"),
    ({"version": 1.0, "name": "other"}, 400, "Field 'version' must be an integer.", "version"),
    ({"version": None, "name": "other"}, 400, "Field 'version' must be an integer.", "version"),
    ({"version": 1}, 400, "Give a new name, a new value, or both.", None),
    ({"version": 1, "name": "other", "id": "x"}, 400, 'Unknown field "id".', "id"),
    ({"version": 1, "project": "x"}, 400, 'Unknown field "project".', "project"),
    ({"version": 1, "name": "ab"}, 400, LENGTH, "name"),
    ({"version": 1, "name": "PATH"}, 400, reserved("PATH"), "name"),
    ({"version": 1, "name": "JUPYTER_X"}, 400, reserved_prefix("JUPYTER"), "name"),
    ({"version": 1, "name": 5}, 400, "Field 'name' must be a string.", "name"),
    ({"version": 1, "value": ""}, 400, EMPTY, "value"),
    ({"version": 1, "value": "a\0"}, 400, NUL, "value"),
    ({"version": 1, "value": "a" * 65_537}, 413, TOO_LARGE, "value"),
    ({"version": 1, "value": False}, 400, "Field 'value' must be a string.", "value"),
    ({"version": 0, "value": "new"}, 409, STALE, "version"),
    ({"version": 2, "value": "new"}, 409, STALE, "version"),
    ({"version": -1, "name": "renamed"}, 409, STALE, "version"),
    ({"version": 2**31, "name": "renamed"}, 409, STALE, "version"),
    ({"version": 10**30, "name": "renamed"}, 409, STALE, "version"),
    ({"version": 1, "name": "taken"}, 409, TAKEN, "name"),
]


@pytest.mark.parametrize(
    ("body", "status", "message", "field"), BAD_PATCHES, ids=range(len(BAD_PATCHES))
)
async def test_patch_refuses(
    api: Api, body: Any, status: int, message: str, field: str | None
) -> None:
    existing = await store_existing(api)
    # Given a stored secret at version 1, and another named "taken"
    assert (await api("POST", "secrets", body={"name": "taken", "value": "t"})).status == 201
    # When it is patched with a bad body, a stale version or a taken name
    # Then it is refused with the reason, and nothing is written
    await assert_refused(
        api, status, message, field, lambda: api("PATCH", "secrets", existing["id"], body=body)
    )


async def test_patch_with_a_stale_version_after_a_real_change(api: Api) -> None:
    existing = await store_existing(api)
    # Given a secret that someone else changed (version 1 -> 2)
    first = await api("PATCH", "secrets", existing["id"], body={"version": 1, "value": "theirs"})
    assert first.body["version"] == 2
    # When an edit based on version 1 is saved
    # Then it is 409 and their value stays
    await assert_refused(
        api,
        409,
        STALE,
        "version",
        lambda: api(
            "PATCH", "secrets", existing["id"], body={"version": 1, "name": "mine", "value": "me"}
        ),
    )
    assert (await api("POST", "secrets", existing["id"], "reveal")).body == {"value": "theirs"}


async def test_patch_refuses_lone_surrogates_and_non_utf8(api: Api) -> None:
    existing = await store_existing(api)
    # Given a stored secret
    path = ("secrets", existing["id"])
    # When its value is patched with a lone surrogate, or the body is not UTF-8
    # Then both are 400, and nothing is written
    surrogate = b'{"version": 1, "value": "\\udfff"}'
    await assert_refused(api, 400, SURROGATE, "value", lambda: api("PATCH", *path, raw=surrogate))
    not_utf8 = b'{"version": 1, "value": "\xc3"}'
    await assert_refused(api, 400, NOT_UTF8, None, lambda: api("PATCH", *path, raw=not_utf8))
    await assert_refused(api, 400, NOT_JSON, None, lambda: api("PATCH", *path, raw=b"{version: 1}"))


BAD_COPIES = [
    ({}, 400, "Field 'name' is required.", "name"),
    ({"name": "existing"}, 409, TAKEN, "name"),
    ({"name": "existing", "value": "new"}, 409, TAKEN, "name"),
    ({"name": "9lives"}, 400, START, "name"),
    ({"name": "HOME"}, 400, reserved("HOME"), "name"),
    ({"name": "copy-1", "value": ""}, 400, EMPTY, "value"),
    ({"name": "copy-1", "value": "\0"}, 400, NUL, "value"),
    ({"name": "copy-1", "value": "b" * 65_537}, 413, TOO_LARGE, "value"),
    ({"name": "copy-1", "version": 1}, 400, 'Unknown field "version".', "version"),
    ({"name": ["copy-1"]}, 400, "Field 'name' must be a string.", "name"),
]


@pytest.mark.parametrize(
    ("body", "status", "message", "field"), BAD_COPIES, ids=range(len(BAD_COPIES))
)
async def test_copy_refuses(
    api: Api, body: Any, status: int, message: str, field: str | None
) -> None:
    existing = await store_existing(api)
    # Given a stored secret
    # When it is copied with a bad body or a taken name
    # Then it is refused with the reason, and nothing is written
    await assert_refused(
        api,
        status,
        message,
        field,
        lambda: api("POST", "secrets", existing["id"], "copy", body=body),
    )


BAD_ACCESS = [
    ({}, "Field 'communities' is required.", "communities"),
    ({"communities": "ml-team"}, "Field 'communities' must be a list of strings.", "communities"),
    ({"communities": [1]}, "Field 'communities' must be a list of strings.", "communities"),
    ({"communities": None}, "Field 'communities' must be a list of strings.", "communities"),
    ({"communities": [], "x": 1}, 'Unknown field "x".', "x"),
    ({"communities": ["nope"]}, "There is no community 'nope'.", "communities"),
]


@pytest.mark.parametrize(("body", "message", "field"), BAD_ACCESS, ids=range(len(BAD_ACCESS)))
async def test_access_refuses_a_bad_body(api: Api, body: Any, message: str, field: str) -> None:
    existing = await store_existing(api)
    # Given a stored secret
    # When its access is set with a bad body
    # Then it is 400 with the reason, and nothing is written
    await assert_refused(
        api, 400, message, field, lambda: api("PUT", "secrets", existing["id"], "access", body=body)
    )


async def test_create_refuses_an_oversized_body(api: Api) -> None:
    # Given a stored secret
    await store_existing(api)
    # When a body larger than 1 MiB is sent
    raw = json.dumps({"name": "huge", "value": "x", "pad": " " * (1 << 20)}).encode()
    # Then it is 413 before it is parsed, and nothing is written
    await assert_refused(
        api,
        413,
        "The request body must be at most 1,048,576 bytes.",
        None,
        lambda: api("POST", "secrets", raw=raw),
    )


def test_the_name_checks_agree_with_the_documented_pattern() -> None:
    # Given many random candidate names, from an alphabet rich in edge characters
    rng = random.Random(20240601)
    alphabet = string.ascii_letters + string.digits + "-_ .$é\n\0"
    candidates = [
        "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 2, 3, 4, 62, 63, 64, 65])))
        for _ in range(5000)
    ]
    # Then a name is accepted exactly when it matches the pattern and is not reserved
    for name in candidates + [name for name, _ in BAD_NAMES] + GOOD_NAMES:
        upper = name.upper()
        is_reserved = upper in RESERVED_NAMES or upper.startswith(RESERVED_PREFIXES)
        expected = bool(re.fullmatch(NAME_PATTERN, name)) and not is_reserved
        assert (name_error(name) is None) == expected, name


async def test_error_bodies_are_json_without_traceback(api: Api) -> None:
    # Given a request that fails
    reply = await api("POST", "secrets", raw=b"{")
    # Then the body is only {"message"}, as JSON
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.body == {"message": NOT_JSON}
    assert "traceback" not in json.dumps(reply.body).lower()


async def test_unknown_field_names_are_shortened_in_messages(api: Api) -> None:
    await store_existing(api)
    # Given a body with a very long unknown field
    field = "f" * 500
    raw = json.dumps({"name": "abc", "value": "x", field: 1}).encode()
    # When it is sent
    # Then the message names a shortened field, and nothing is written
    await assert_refused(
        api, 400, f'Unknown field "{"f" * 40}…".', "f" * 64, lambda: api("POST", "secrets", raw=raw)
    )
