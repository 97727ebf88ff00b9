"""``jupyter secrets rotate-key`` and ``generate-key``, run as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jupyterlab_secrets.crypto import (
    KEY_ENV,
    Keyring,
    encode_key,
    generate_key,
    key_id,
    parse_keys,
)
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.sql import SqlSecretStore
from jupyterlab_secrets.stores.sql_schema import SecretRow

from .conftest import Outcome

ROOT = Path(__file__).resolve().parents[2]
VALUES = {"first": "one", "second": "two\nlines", "third": "ünïcödé"}


def run_process(*args: str, env_key: str | None = None) -> Outcome:
    """Run ``python -m jupyterlab_secrets`` from the source tree, in this test's environment."""
    env = dict(os.environ)
    env.pop("JUPYTERLAB_SECRETS_KEY", None)
    if env_key is not None:
        env["JUPYTERLAB_SECRETS_KEY"] = env_key
    result = subprocess.run(
        [sys.executable, "-m", "jupyterlab_secrets", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Outcome(result.returncode, result.stdout, result.stderr)


@pytest.fixture
def seeded(jp_environ: Any, tmp_path: Path) -> tuple[str, bytes, dict[str, str]]:
    """A database holding three secrets under one key; returns (url, key, ids by name)."""
    url = f"sqlite:///{tmp_path / 'cli' / 'secrets.db'}"
    key = generate_key()
    store = SqlSecretStore(db_url=url, keyring=Keyring([key]))
    service = SecretsService(store, "proj-a")
    ids = {name: service.create("alice", name, value).id for name, value in VALUES.items()}
    store.close()
    return url, key, ids


def reveal_all(url: str, keys: list[bytes]) -> dict[str, str | None]:
    """Every value by name, read with only ``keys`` (None: it cannot be decrypted)."""
    store = SqlSecretStore(db_url=url, keyring=Keyring(keys))
    try:
        view = View("proj-a")
        secrets = store.list(view)
        values = store.read_values(view, [secret.id for secret in secrets])
        return {secret.name: values[secret.id] for secret in secrets}
    finally:
        store.close()


def key_ids_in(url: str) -> set[str]:
    store = SqlSecretStore(db_url=url, keyring=Keyring([generate_key()]))
    try:
        with store.engine.connect() as connection:
            return set(connection.execute(select(SecretRow.key_id).distinct()).scalars())
    finally:
        store.close()


def test_rotate_key_re_encrypts_every_row_under_the_first_key(
    seeded: Any, run_cli: Callable[..., Outcome]
) -> None:
    # Given secrets under an old key, and a new key listed first
    url, old, _ = seeded
    new = generate_key()
    keys = f"{encode_key(new)};{encode_key(old)}"
    # When rotate-key runs, as a separate process
    result = run_process("rotate-key", f"--SecretsExtension.db_url={url}", env_key=keys)
    # Then it prints only counts
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Re-encrypted 3 secrets under the first key; 0 already were.\n"
    for value in VALUES.values():
        assert value not in result.stdout + result.stderr
    # And every row is readable with only the new key, and no longer with the old one
    assert key_ids_in(url) == {key_id(new)}
    assert reveal_all(url, [new]) == VALUES
    assert reveal_all(url, [old]) == dict.fromkeys(VALUES)
    # When it runs again
    again = run_cli("rotate-key", f"--SecretsExtension.db_url={url}", env={KEY_ENV: keys})
    # Then nothing is left to rotate
    assert again.returncode == 0, again.stderr
    assert again.stdout == "Re-encrypted 0 secrets under the first key; 3 already were.\n"


def test_rotate_key_without_the_old_key_changes_nothing(
    seeded: Any, run_cli: Callable[..., Outcome]
) -> None:
    # Given secrets under an old key
    url, old, _ = seeded
    new = generate_key()
    # When rotate-key runs with only the new key
    result = run_cli(
        "rotate-key", f"--SecretsExtension.db_url={url}", env={KEY_ENV: encode_key(new)}
    )
    # Then it fails, says why, and every row is as before
    assert result.returncode == 1
    assert "cannot be decrypted with any of the given keys" in result.stderr
    assert "Nothing was changed." in result.stderr
    assert key_ids_in(url) == {key_id(old)}
    assert reveal_all(url, [old]) == VALUES


def test_rotate_key_reads_the_server_config_and_the_key_file(
    seeded: Any, jp_config_dir: Path, tmp_path: Path, run_cli: Callable[..., Outcome]
) -> None:
    # Given the database and key file set in jupyter_server_config.json, as for the server
    url, old, _ = seeded
    new = generate_key()
    key_file = tmp_path / "key"
    key_file.write_text(f"{encode_key(new)};{encode_key(old)}\n")
    key_file.chmod(0o600)
    config = {"SecretsExtension": {"db_url": url, "key_file": str(key_file)}}
    (jp_config_dir / "jupyter_server_config.json").write_text(json.dumps(config))
    # When rotate-key runs with no option and no environment variable
    result = run_cli("rotate-key")
    # Then it rotates that database with the key file's first key
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Re-encrypted 3 secrets under the first key; 0 already were.\n"
    assert reveal_all(url, [new]) == VALUES


def test_rotate_key_never_creates_a_key(
    seeded: Any, tmp_path: Path, run_cli: Callable[..., Outcome]
) -> None:
    # Given no key file and no environment variable
    url, _, _ = seeded
    key_file = tmp_path / "missing" / "key"
    # When rotate-key runs
    result = run_cli(
        "rotate-key", f"--SecretsExtension.db_url={url}", f"--SecretsExtension.key_file={key_file}"
    )
    # Then it fails and creates nothing
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert not key_file.exists()


def test_generate_key_prints_a_fresh_key(jp_environ: Any, run_cli: Callable[..., Outcome]) -> None:
    # Given nothing
    # When generate-key runs twice
    first, second = run_cli("generate-key"), run_cli("generate-key")
    # Then each prints one different valid 32-byte key
    assert first.returncode == 0
    keys = parse_keys(first.stdout) + parse_keys(second.stdout)
    assert len(keys) == 2 and keys[0] != keys[1]
    assert first.stdout.count("\n") == 1


def test_no_subcommand_explains_the_subcommands(
    jp_environ: Any, run_cli: Callable[..., Outcome]
) -> None:
    # Given nothing
    # When the command runs without a subcommand
    result = run_cli()
    # Then it fails and names them
    assert result.returncode == 2
    assert "rotate-key" in result.stdout + result.stderr
    assert "generate-key" in result.stdout + result.stderr


def test_commands_take_short_options_and_explain_them(
    seeded: Any, run_cli: Callable[..., Outcome]
) -> None:
    # Given secrets under a key
    url, old, _ = seeded
    # When rotate-key is given the database with its short option
    result = run_cli("rotate-key", f"--db-url={url}", env={KEY_ENV: encode_key(old)})
    # Then it works on that database
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Re-encrypted 0 secrets under the first key; 3 already were.\n"
    # And its help names the server's settings
    shown = run_cli("rotate-key", "--help")
    assert shown.returncode == 0
    assert "--SecretsExtension.db_url" in shown.stdout
    assert "Failed collecting help" not in shown.stdout + shown.stderr
