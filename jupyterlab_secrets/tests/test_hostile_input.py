"""Hostile input gets a 4xx, never a 500, on each backend, and changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import Api, snapshot
from .test_api import assert_no_such_secret, create_secret


@pytest.fixture
def secrets_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    """The test server on each backend."""
    return backend_config


ODD_IDS = ["%00abc", "%00", "abc%00def", "x" * 300, "0" * 31, "A" * 32, "%C3%A9" * 16, "..%2F.."]


@pytest.mark.parametrize("secret_id", ODD_IDS)
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", (), None),
        ("PATCH", (), {"version": 1, "value": "x"}),
        ("POST", ("reveal",), None),
        ("GET", ("versions",), None),
        ("POST", ("versions", "1", "restore"), {"version": 1}),
    ],
)
async def test_an_id_not_of_the_id_format_is_404(
    api: Api, method: str, suffix: tuple[str, ...], body: Any, secret_id: str
) -> None:
    # When a route is called with an ID of another format (a NUL, too long, upper case...)
    # Then it is 404 as for an unknown secret, and nothing changed
    await assert_no_such_secret(api, method, ("secrets", secret_id, *suffix), body)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 200_000,
        b"{" * 200_000,
        b'{"a":' * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["arrays", "objects", "keys", "closed"],
)
async def test_deeply_nested_json_is_400(api: Api, raw: bytes) -> None:
    # Given a stored secret
    created = await create_secret(api, "existing")
    before = await snapshot(api)
    # When a body nests JSON deeply, on every route that reads a body
    for path in (
        ("secrets",),
        ("secrets", created["id"]),
        ("secrets", created["id"], "copy"),
        ("secrets", created["id"], "access"),
    ):
        method = {1: "POST", 2: "PATCH"}.get(len(path), "POST" if "copy" in path else "PUT")
        reply = await api(method, *path, raw=raw)
        # Then it is 400, not valid JSON
        assert reply.status == 400, (path, reply.status)
        assert reply.body == {"message": "The request body is not valid JSON."}
    assert await snapshot(api) == before


async def test_an_oversized_body_is_refused_from_its_length_before_it_is_read(
    api: Api, jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> None:
    # Given a stored secret
    await create_secret(api, "existing")
    before = await snapshot(api)
    # When a request announces a 100 MB body, and sends none of it
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    head = (
        f"POST {jp_base_url}jupyterlab-secrets/api/secrets HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{jp_http_port}\r\n"
        f"Authorization: {jp_auth_header['Authorization']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    try:
        # Then the answer comes at once (no body was awaited): 413, saying the limit
        answer = await asyncio.wait_for(reader.read(4096), timeout=20)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413", answer
    assert b"The request body must be at most 1,048,576 bytes." in rest
    # And nothing changed
    assert await snapshot(api) == before
