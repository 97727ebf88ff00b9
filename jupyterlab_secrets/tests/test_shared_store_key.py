"""A shared store never gets a key file made up by one server: 503 with how to set the team key.

A key created by one server of a team could decrypt nothing the others wrote, and they could
decrypt nothing it wrote. So only a new SQLite file of one's own gets a key file on first start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from jupyterlab_secrets.crypto import Keyring, generate_key
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import Api, stored_rows

SEED_KEY = generate_key()
TEAM_KEY = generate_key()
PRECIOUS = ("precious-1", "precious-2")

CASES = {
    # backend, rows of another project before start, what the message must say
    "empty-postgresql": (
        "postgresql",
        False,
        (
            "the secrets store is shared (postgresql)",
            "'jupyter secrets generate-key'",
            "JUPYTERLAB_SECRETS_KEY",
            "SecretsExtension.key_file",
        ),
    ),
    "postgresql-with-rows": (
        "postgresql",
        True,
        ("the database holds encrypted secrets", "JUPYTERLAB_SECRETS_KEY"),
    ),
    "sqlite-with-rows-of-another-project": (
        "sqlite",
        True,
        ("the database holds encrypted secrets", "JUPYTERLAB_SECRETS_KEY"),
    ),
}


def _has_secrets_table(db_url: str) -> bool:
    engine = create_engine(db_url)
    try:
        return inspect(engine).has_table("secrets")
    finally:
        engine.dispose()


@pytest.fixture
def case(case_name: str) -> tuple[str, bool, tuple[str, ...]]:
    return CASES[case_name]


@pytest.fixture
def secrets_config(
    secrets_config: dict[str, Any], db_url: str, case: tuple[str, bool, tuple[str, ...]]
) -> dict[str, Any]:
    """The case's store, with another project's secrets if the case says so, and no key."""
    if case[1]:
        store = SqlSecretStore(db_url=db_url, keyring=Keyring([SEED_KEY]))
        try:
            service = SecretsService(store, "another-project")
            for number, value in enumerate(PRECIOUS, start=1):
                service.create("bob", f"stored-{number}", value)
        finally:
            store.close()
    return {**secrets_config, "db_url": db_url}


@pytest.mark.parametrize(
    ("db_url", "case_name"),
    [(CASES[name][0], name) for name in sorted(CASES)],
    indirect=["db_url"],
)
async def test_no_key_is_created_for_a_shared_store(
    api: Api, case: tuple[str, bool, tuple[str, ...]], secrets_config: dict[str, Any]
) -> None:
    # Given a server with no key, on a store that is shared or already holds secrets
    key = Path(secrets_config["key_file"])
    rows = stored_rows(secrets_config["db_url"]) if case[1] else None
    # When the API is used
    for method, body in (("GET", None), ("POST", {"name": "new-one", "value": "v"})):
        kwargs = {"body": body} if body is not None else {}
        reply = await api(method, "secrets", **kwargs)
        # Then it is 503, saying how to set the team key
        assert reply.status == 503
        for fragment in case[2]:
            assert fragment in reply.message
        assert not any(value in reply.message for value in PRECIOUS)
    # And no key file was created, and no row was touched
    assert not key.exists()
    if rows is not None:
        assert len(rows) == 2
        assert stored_rows(secrets_config["db_url"]) == rows
    else:
        # (the key is looked for before the schema is made: an empty store stays empty)
        assert not _has_secrets_table(secrets_config["db_url"])
