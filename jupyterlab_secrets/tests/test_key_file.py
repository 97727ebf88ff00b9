"""The key file is checked like an ssh private key, and never made up for a shared store.

Each refusal is a 503 on the API whose message says how to fix it; the key file is not
created or changed, and no stored row is touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jupyterlab_secrets.crypto import (
    Keyring,
    KeyUnavailableError,
    encode_key,
    generate_key,
    load_keyring,
)
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import Api, stored_rows

SEED_KEY = generate_key()
OTHER_UID = 65534  # nobody
PRECIOUS = ("precious-1", "precious-2")


def _seed(db_url: str, project: str) -> None:
    store = SqlSecretStore(db_url=db_url, keyring=Keyring([SEED_KEY]))
    try:
        service = SecretsService(store, project)
        for number, value in enumerate(PRECIOUS, start=1):
            service.create("alice", f"stored-{number}", value)
    finally:
        store.close()


def _write_key(path: Path, mode: int) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(encode_key(SEED_KEY) + "\n")
    path.chmod(mode)


@dataclass
class Case:
    """A key file or directory in a state that must be refused, and what the message says."""

    prepare: Callable[[Path], None]
    expected: Callable[[Path], tuple[str, ...]]
    owner_only: bool = field(default=False)


def _readable(key: Path) -> None:
    _write_key(key, 0o644)


def _group_writable(key: Path) -> None:
    _write_key(key, 0o620)


def _open_directory(key: Path) -> None:
    _write_key(key, 0o600)
    key.parent.chmod(0o755)


def _world_writable_directory(key: Path) -> None:
    _write_key(key, 0o600)
    key.parent.chmod(0o777)


def _foreign_file(key: Path) -> None:
    _write_key(key, 0o600)
    os.chown(key, OTHER_UID, -1)


def _foreign_directory(key: Path) -> None:
    _write_key(key, 0o600)
    os.chown(key.parent, OTHER_UID, -1)


def _symlink(key: Path) -> None:
    real = key.parent / "real-key"
    _write_key(real, 0o600)
    key.symlink_to(real)


CASES = {
    "file-readable-by-others": Case(
        _readable,
        lambda key: ("can be read or written by other users", f"Run 'chmod 600 {key}'"),
    ),
    "file-writable-by-group": Case(
        _group_writable,
        lambda key: ("permissions 0620 are too open", f"Run 'chmod 600 {key}'"),
    ),
    "directory-readable-by-others": Case(
        _open_directory,
        lambda key: (f"The key directory {key.parent}", f"Run 'chmod 700 {key.parent}'"),
    ),
    "directory-writable-by-others": Case(
        _world_writable_directory,
        lambda key: ("permissions 0777 are too open", f"Run 'chmod 700 {key.parent}'"),
    ),
    "file-of-another-user": Case(
        _foreign_file,
        lambda key: ("is owned by nobody", f"'chown {_me()} {key}'"),
        owner_only=True,
    ),
    "directory-of-another-user": Case(
        _foreign_directory,
        lambda key: (f"The key directory {key.parent} is owned by nobody", "chown"),
        owner_only=True,
    ),
    "symbolic-link": Case(
        _symlink,
        lambda key: ("is a symbolic link, which is not followed",),
    ),
}


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    chosen = CASES[request.param]
    if chosen.owner_only and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    return chosen


@pytest.fixture
def secrets_config(secrets_config: dict[str, Any], case: Case) -> dict[str, Any]:
    """A store holding two secrets, and a key file in the state of the case."""
    _seed(secrets_config["db_url"], "default")
    case.prepare(Path(secrets_config["key_file"]))
    return secrets_config


def _state(key: Path, db_url: str) -> tuple[Any, ...]:
    """The key directory's entries and modes, the key's bytes, and every stored row."""
    entries = sorted(
        (entry.name, entry.lstat().st_mode, entry.lstat().st_uid) for entry in key.parent.iterdir()
    )
    directory = key.parent.stat()
    return (entries, directory.st_mode, directory.st_uid, key.read_bytes(), stored_rows(db_url))


async def test_a_key_file_open_to_others_is_refused_with_how_to_fix_it(
    api: Api, case: Case, secrets_config: dict[str, Any]
) -> None:
    # Given a server whose key file (or its directory) is not private to its user
    key = Path(secrets_config["key_file"])
    before = _state(key, secrets_config["db_url"])
    assert len(before[-1]) == 2
    # When the API is used
    for method, body in (("GET", None), ("POST", {"name": "new-one", "value": "v"})):
        kwargs = {"body": body} if body is not None else {}
        reply = await api(method, "secrets", **kwargs)
        # Then it is 503, with a message saying what is wrong and how to fix it
        assert reply.status == 503
        for fragment in case.expected(key):
            assert fragment in reply.message
        assert not any(value in reply.message for value in PRECIOUS)
        assert encode_key(SEED_KEY) not in reply.message
    # And nothing was created, changed or chmod-ed: not the key, not its directory, no row
    assert _state(key, secrets_config["db_url"]) == before


def test_a_fixed_key_file_is_accepted(tmp_path: Path) -> None:
    # Given a key file readable by others
    key = tmp_path / "keys" / "key"
    _write_key(key, 0o644)
    with pytest.raises(KeyUnavailableError):
        load_keyring(env_value=None, key_file=key, has_encrypted_rows=lambda: True)
    # When its owner does what the message says
    key.chmod(0o600)
    # Then it is used
    keyring, source = load_keyring(env_value=None, key_file=key, has_encrypted_rows=lambda: True)
    assert keyring.primary_key_id == Keyring([SEED_KEY]).primary_key_id
    assert source == f"the key file {key}"
