"""The envelope encryption and the master key file."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update

from jupyterlab_secrets.crypto import (
    DecryptionError,
    Keyring,
    KeyUnavailableError,
    Sealed,
    create_key_file,
    encode_key,
    generate_key,
    key_id,
    load_keyring,
    parse_keys,
)
from jupyterlab_secrets.errors import UndecryptableError
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.sql import SqlSecretStore
from jupyterlab_secrets.stores.sql_schema import SecretRow


def test_every_encryption_uses_a_fresh_nonce(keyring: Keyring) -> None:
    # Given one plaintext for one secret
    # When it is encrypted many times
    sealed = [keyring.encrypt(b"same", project="p", secret_id="id") for _ in range(200)]
    # Then every nonce is 96 bits and different, and so is every ciphertext
    assert all(len(s.nonce) == 12 for s in sealed)
    assert len({s.nonce for s in sealed}) == 200
    assert len({s.ciphertext for s in sealed}) == 200
    assert all(b"same" not in s.ciphertext for s in sealed)
    assert all(keyring.decrypt(s, project="p", secret_id="id") == b"same" for s in sealed)


@pytest.mark.parametrize(("project", "secret_id"), [("p", "other-id"), ("q", "id"), ("", "")])
def test_a_ciphertext_is_bound_to_its_secret_and_project(
    keyring: Keyring, project: str, secret_id: str
) -> None:
    # Given a value encrypted for secret "id" of project "p"
    sealed = keyring.encrypt(b"value", project="p", secret_id="id")
    # When it is decrypted as another secret or in another project
    # Then it fails
    with pytest.raises(DecryptionError):
        keyring.decrypt(sealed, project=project, secret_id=secret_id)


def test_a_tampered_ciphertext_or_nonce_fails(keyring: Keyring) -> None:
    # Given a sealed value
    sealed = keyring.encrypt(b"value", project="p", secret_id="id")
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    # When a bit of it changes
    # Then it does not decrypt
    with pytest.raises(DecryptionError):
        keyring.decrypt(Sealed(flipped, sealed.nonce, sealed.key_id), project="p", secret_id="id")
    with pytest.raises(DecryptionError):
        keyring.decrypt(
            Sealed(sealed.ciphertext, b"\0" * 12, sealed.key_id), project="p", secret_id="id"
        )


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    # Given data sealed under an old key
    old, new = generate_key(), generate_key()
    sealed_old = Keyring([old]).encrypt(b"old data", project="p", secret_id="id")
    # When the keyring lists the new key first and the old one after it
    keyring = Keyring([new, old])
    # Then new data uses the new key and old data still opens
    assert keyring.primary_key_id == key_id(new)
    assert keyring.encrypt(b"x", project="p", secret_id="id").key_id == key_id(new)
    assert keyring.decrypt(sealed_old, project="p", secret_id="id") == b"old data"
    # And a keyring without the old key cannot open it
    with pytest.raises(DecryptionError):
        Keyring([new]).decrypt(sealed_old, project="p", secret_id="id")


def test_a_ciphertext_moved_to_another_row_fails_to_decrypt(sqlite_store: SqlSecretStore) -> None:
    # Given two secrets in the database
    service = SecretsService(sqlite_store, "proj-a")
    first = service.create("alice", "first", "first value")
    second = service.create("alice", "second", "second value")
    # When the first row's ciphertext is copied into the second row
    with sqlite_store.engine.begin() as connection:
        ciphertext, nonce, key = connection.execute(
            select(SecretRow.ciphertext, SecretRow.nonce, SecretRow.key_id).where(
                SecretRow.id == first.id
            )
        ).one()
        connection.execute(
            update(SecretRow)
            .where(SecretRow.id == second.id)
            .values(ciphertext=ciphertext, nonce=nonce, key_id=key)
        )
    # Then the second secret cannot be revealed, nor injected, and the first one still can
    with pytest.raises(UndecryptableError) as refused:
        service.reveal("alice", second.id)
    assert "cannot be decrypted with the configured key" in refused.value.message
    assert service.environment("alice") == {"first": "first value"}
    assert service.reveal("alice", first.id) == "first value"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key is given"),
        (" ; ;", "no key is given"),
        ("not base64!", "key 1 is not valid base64"),
        (encode_key(generate_key()) + ";@@@@", "key 2 is not valid base64"),
        (base64.b64encode(b"x" * 16).decode(), "key 1 is 16 bytes long, not 32"),
        (base64.b64encode(b"x" * 33).decode(), "key 1 is 33 bytes long, not 32"),
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(text: str, message: str) -> None:
    # Given malformed key text
    # When it is parsed
    with pytest.raises(ValueError) as refused:
        parse_keys(text)
    # Then the reason is given, and the key text is not repeated
    assert str(refused.value) == message
    if text.strip(" ;"):
        assert text.split(";")[-1] not in str(refused.value)


def test_keys_parse_with_spaces_and_newlines() -> None:
    # Given two keys separated by ";" with whitespace, as in a key file
    first, second = generate_key(), generate_key()
    # When they are parsed
    # Then both are read in order
    assert parse_keys(f" {encode_key(first)} ;\n{encode_key(second)}\n") == [first, second]


def test_key_file_is_created_0600_in_a_0700_directory_and_never_overwritten(
    tmp_path: Path,
) -> None:
    # Given no key file
    path = tmp_path / "new-dir" / "key"
    # When it is created
    assert create_key_file(path) is True
    # Then it holds one 32-byte key, mode 0600, in a 0700 directory, with no temp file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(parse_keys(path.read_text())) == 1
    assert os.listdir(path.parent) == ["key"]
    content = path.read_bytes()
    # When creation is tried again
    # Then it reports the file exists and does not change it
    assert create_key_file(path) is False
    assert path.read_bytes() == content
    assert os.listdir(path.parent) == ["key"]


def test_an_existing_key_file_is_read_not_replaced(tmp_path: Path) -> None:
    # Given a key file with a known key
    key = generate_key()
    path = tmp_path / "key"
    path.write_text(encode_key(key) + "\n")
    path.chmod(0o600)
    # When the keys are loaded
    keyring, source = load_keyring(env_value=None, key_file=path, has_encrypted_rows=lambda: True)
    # Then that key is used and the file is unchanged
    assert keyring.primary_key_id == key_id(key)
    assert source == f"the key file {path}"
    assert path.read_text() == encode_key(key) + "\n"


def test_the_environment_variable_wins_and_no_key_file_is_created(tmp_path: Path) -> None:
    # Given no key file, and keys in the environment variable
    path = tmp_path / "key"
    new, old = generate_key(), generate_key()
    # When the keys are loaded
    keyring, source = load_keyring(
        env_value=f"{encode_key(new)};{encode_key(old)}",
        key_file=path,
        has_encrypted_rows=lambda: False,
    )
    # Then they come from the variable, and no key file appears
    assert keyring.key_ids == [key_id(new), key_id(old)]
    assert source == "the environment variable JUPYTERLAB_SECRETS_KEY"
    assert not path.exists()


def test_a_missing_key_file_is_created_only_for_an_empty_store(tmp_path: Path) -> None:
    # Given no key file, and a store that holds encrypted rows
    path = tmp_path / "key"
    # When the keys are loaded
    with pytest.raises(KeyUnavailableError) as refused:
        load_keyring(env_value=None, key_file=path, has_encrypted_rows=lambda: True)
    # Then it refuses, says what to do, and creates nothing
    assert "is missing, but the database holds encrypted secrets" in str(refused.value)
    assert "JUPYTERLAB_SECRETS_KEY" in str(refused.value)
    assert not path.exists()
    # When the store is empty
    keyring, _ = load_keyring(env_value=None, key_file=path, has_encrypted_rows=lambda: False)
    # Then the key file is created and used
    assert keyring.key_ids == [key_id(parse_keys(path.read_text())[0])]
