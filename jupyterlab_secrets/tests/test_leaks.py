"""Values never reach the database files, the key directory, the logs or error messages."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import Api

LOGGERS = (
    "",
    "ServerApp",
    "SecretsExtension",
    "tornado.access",
    "tornado.application",
    "tornado.general",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
)


def make_markers(count: int) -> list[str]:
    """Random values no one could find by chance."""
    return [f"MARKER{index}-{secrets.token_hex(12)}" for index in range(count)]


async def exercise(api: Api, markers: list[str]) -> list[Any]:
    """Use every route with the markers as values, including refused requests.

    Returns every error body.
    """
    m = markers
    errors = []
    created = await api("POST", "secrets", body={"name": "leak-one", "value": m[0]})
    assert created.status == 201
    secret_id = created.body["id"]
    patched = await api("PATCH", "secrets", secret_id, body={"version": 1, "value": m[1]})
    assert patched.status == 200
    copied = await api("POST", "secrets", secret_id, "copy", body={"name": "leak-two"})
    assert copied.status == 201
    copied_new = await api(
        "POST", "secrets", secret_id, "copy", body={"name": "leak-three", "value": m[2]}
    )
    assert copied_new.status == 201
    assert (await api("POST", "secrets", secret_id, "reveal")).body == {"value": m[1]}
    environment = await api("GET", "environment")
    assert environment.body["environment"]["leak-one"] == m[1]
    refused = [
        await api("POST", "secrets", body={"name": "leak-one", "value": m[3]}),
        await api("POST", "secrets", body={"name": "9bad", "value": m[3]}),
        await api("POST", "secrets", body={"name": "PATH", "value": m[3]}),
        await api("POST", "secrets", body={"name": "leak-four", "value": m[3] + "\0"}),
        await api("POST", "secrets", body={"name": "leak-four", "value": m[3] * 3000}),
        await api("POST", "secrets", body={"name": "leak-four", "value": m[3], "x": 1}),
        await api("POST", "secrets", body={"value": m[3]}),
        await api("POST", "secrets", raw=f'{{"name": "leak-four", "value": "{m[3]}'.encode()),
        await api(
            "POST", "secrets", raw=f'{{"name": "x", "value": "{m[3]}\xff"}}'.encode("latin1")
        ),
        await api(
            "POST", "secrets", raw=f'{{"name": "leak-four", "value": "{m[3]}\\ud800"}}'.encode()
        ),
        await api("PATCH", "secrets", secret_id, body={"version": 1, "value": m[3]}),
        await api("PATCH", "secrets", secret_id, body={"version": 2, "name": "leak-two"}),
        await api("PATCH", "secrets", secret_id, body={"version": "2", "value": m[3]}),
        await api("POST", "secrets", secret_id, "copy", body={"name": "leak-two", "value": m[3]}),
        await api("POST", "secrets", "0" * 32, "copy", body={"name": "leak-five", "value": m[3]}),
        await api("POST", "secrets", body={"name": "leak-six", "value": m[3]}, auth=False),
    ]
    for reply in refused:
        assert reply.status >= 400
        errors.append(reply.body)
    return errors


def test_markers_are_really_searched_for() -> None:
    # Given markers
    markers = make_markers(2)
    # Then they differ, and a search finds them where they are
    assert markers[0] != markers[1]
    assert markers[0].encode() in b"prefix " + markers[0].encode() + b" suffix"


async def test_no_value_in_the_database_files_or_the_key_directory(
    api: Api, secrets_dir: Path
) -> None:
    # Given values stored, changed, copied, revealed and refused through the API
    markers = make_markers(4)
    errors = await exercise(api, markers)
    # When every file of the database (with its WAL) and the key directory is read
    files = sorted(path for path in secrets_dir.rglob("*") if path.is_file())
    names = {path.name for path in files}
    assert {"secrets.db", "secrets.db-wal", "secrets.db-shm", "key"} <= names
    assert (secrets_dir / "secrets.db-wal").stat().st_size > 0
    # Then no value is in any of them, in any error, in any common encoding
    for path in files:
        content = path.read_bytes()
        for marker in markers:
            for encoded in (
                marker.encode(),
                marker.encode("utf-16-le"),
                base64.b64encode(marker.encode()),
            ):
                assert encoded not in content, f"a value is in {path.name}"
    for marker in markers:
        assert marker not in str(errors)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join(formatter.format(record) + repr(record.args) for record in self.records)


@pytest.fixture
def collected_logs() -> Iterator[_Collect]:
    """Every log record at DEBUG, from before the server starts until the test ends."""
    handler = _Collect()
    saved = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


async def test_no_value_in_the_logs_even_at_debug(
    collected_logs: _Collect,
    api: Api,
    extension: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given every logger at DEBUG (the server's, tornado's access log, SQLAlchemy's)
    markers = make_markers(5)
    # When values go through every route, and are refused in every way
    errors = await exercise(api, markers)
    # And a request fails unexpectedly while holding a value

    def broken_create(self: SqlSecretStore, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(SqlSecretStore, "create", broken_create)
    crashed = await api("POST", "secrets", body={"name": "leak-crash", "value": markers[4]})
    assert crashed.status == 500
    assert crashed.body == {"message": "Internal Server Error"}
    errors.append(crashed.body)
    # Then the logs saw the requests, but no value
    logged = collected_logs.text()
    assert "POST /a%40b/jupyterlab-secrets/api/secrets" in logged
    assert "the database went away" in logged
    for marker in markers:
        assert marker not in logged
        assert marker not in str(errors)
