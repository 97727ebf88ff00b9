"""Envelope encryption of secret values: AES-256-GCM from ``cryptography``, and the master keys."""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import secrets as _secrets
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .credentials import KEY_ENV as KEY_ENV  # re-exported: its users import it from here

KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_PREFIX = b"jupyterlab-secrets:v1:"
_KEY_ID_PREFIX = b"jupyterlab-secrets:key-id:"


class DecryptionError(Exception):
    """A ciphertext could not be decrypted: wrong key, tampered data, or data moved between rows."""


class KeyFormatError(ValueError):
    """Key material is not base64 of exactly 32 bytes."""


class KeyUnavailableError(Exception):
    """No usable master key; the message tells the operator what to fix."""


class Sealed(NamedTuple):
    """A ciphertext with what is needed to open it again (the nonce, and which key)."""

    ciphertext: bytes
    nonce: bytes
    key_id: str


def key_id(key: bytes) -> str:
    """A short public identifier of a key, stored next to each ciphertext."""
    return hashlib.sha256(_KEY_ID_PREFIX + key).hexdigest()[:16]


def associated_data(project: str, secret_id: str, version: int | None = None) -> bytes:
    """Bind a ciphertext to one secret of one project, and for a kept earlier value to its
    version number too (so kept versions cannot be swapped with each other or the current one).
    """
    data = _AAD_PREFIX + project.encode("utf-8") + b"\0" + secret_id.encode("utf-8")
    if version is not None:
        data += b"\0version:" + str(version).encode("ascii")
    return data


def generate_key() -> bytes:
    """A fresh random 256-bit key."""
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """The base64 text form of a key, as in the key file and ``JUPYTERLAB_SECRETS_KEY``."""
    return base64.b64encode(key).decode("ascii")


def parse_keys(text: str) -> list[bytes]:
    """Parse ``;``-separated base64 keys; raise `KeyFormatError` (never echoing key text)."""
    parts = [part.strip() for part in text.split(";")]
    parts = [part for part in parts if part]
    if not parts:
        raise KeyFormatError("no key is given")
    keys = []
    for position, part in enumerate(parts, start=1):
        try:
            key = base64.b64decode(part, validate=True)
        except (binascii.Error, ValueError):
            raise KeyFormatError(f"key {position} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise KeyFormatError(f"key {position} is {len(key)} bytes long, not {KEY_BYTES}")
        keys.append(key)
    return keys


class Keyring:
    """The master keys: the first encrypts, every one can decrypt (so keys can be rotated)."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise KeyFormatError("no key is given")
        self._ciphers: dict[str, AESGCM] = {}
        self._keys: dict[str, bytes] = {}
        for key in keys:
            if len(key) != KEY_BYTES:
                raise KeyFormatError(f"a key must be {KEY_BYTES} bytes long")
            self._ciphers.setdefault(key_id(key), AESGCM(key))
            self._keys.setdefault(key_id(key), key)
        self._primary = key_id(keys[0])

    @property
    def primary_key_id(self) -> str:
        """The id of the key that encrypts new values."""
        return self._primary

    @property
    def key_ids(self) -> list[str]:
        """The ids of every key that can decrypt."""
        return list(self._ciphers)

    def derive(self, purpose: bytes, key: str | None = None) -> bytes:
        """A 32-byte key for ``purpose`` derived (HKDF-SHA256) from the master key of id ``key``
        (default: the primary); `KeyError` if no configured key has that id.

        A derived key is never the master key itself, and keys of different purposes are
        independent of each other.
        """
        master = self._keys[key if key is not None else self._primary]
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)

    def encrypt(
        self, plaintext: bytes, *, project: str, secret_id: str, version: int | None = None
    ) -> Sealed:
        """Encrypt under the primary key with a fresh random nonce (``version``: see
        `associated_data`)."""
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._ciphers[self._primary]
        aad = associated_data(project, secret_id, version)
        ciphertext = cipher.encrypt(nonce, plaintext, aad)
        return Sealed(ciphertext=ciphertext, nonce=nonce, key_id=self._primary)

    def decrypt(
        self, sealed: Sealed, *, project: str, secret_id: str, version: int | None = None
    ) -> bytes:
        """Decrypt with the key that encrypted it; raise `DecryptionError` on any failure."""
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise DecryptionError(f"no configured key has id {sealed.key_id}")
        try:
            return cipher.decrypt(
                sealed.nonce, sealed.ciphertext, associated_data(project, secret_id, version)
            )
        except (InvalidTag, ValueError):
            raise DecryptionError("the ciphertext does not authenticate") from None


_TOO_OPEN_FILE = 0o077
"""A key file must be for its owner alone, as ssh requires of a private key."""

_TOO_OPEN_DIRECTORY = 0o066
"""Its directory too: others who can list or change it can swap or find the key."""


def _owner_name(uid: int) -> str:
    try:
        import pwd  # POSIX only, as are the checks that need it

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError, OSError):
        return f"uid {uid}"


def check_private(
    path: Path,
    st: os.stat_result,
    *,
    what: str,
    setting: str = "SecretsExtension.key_file",
    key: str = "master key",
    then: str = "restart the server",
    runner: str = "the server",
) -> None:
    """Refuse a key file or key directory that another user owns, or that others may use.

    ``what`` is "file" or "directory". The message says how to fix it, as ssh's does, naming
    the ``setting`` that points to it, the ``key`` it holds, what to do once fixed (``then``)
    and who reads it (``runner``).
    """
    if not hasattr(os, "geteuid"):
        return  # Windows: access is decided by ACLs, which modes and uids do not describe
    directory = what == "directory"
    label = f"The key {what} {path}" + ("" if directory else f" ({setting})")
    me = os.geteuid()
    if st.st_uid != me:
        raise KeyUnavailableError(
            f"{label} is owned by {_owner_name(st.st_uid)}, not by {_owner_name(me)}, who runs "
            f"{runner}: another user could read or replace the {key}. Run "
            f"'chown {_owner_name(me)} {path}', then {then}."
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & (_TOO_OPEN_DIRECTORY if directory else _TOO_OPEN_FILE):
        wanted = "700" if directory else "600"
        raise KeyUnavailableError(
            f"{label} can be read or written by other users (permissions {mode:04o} are too "
            f"open). Run 'chmod {wanted} {path}', then {then}."
        )


def _check_directory(directory: Path, **labels: str) -> None:
    """Check the key's directory, if it exists (a missing one is created 0700)."""
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        return
    check_private(directory, st, what="directory", **labels)


def create_key_file(path: Path) -> bool:
    """Create a key file holding a fresh key, mode 0600, atomically; never overwrite one.

    Returns False when the file already exists (perhaps created by a concurrent server).
    Raises `KeyUnavailableError` when an existing directory is not private to this user.
    """
    parent = path.parent
    if not parent.exists():
        parent.mkdir(parents=True, exist_ok=True)
        os.chmod(parent, 0o700)
    _check_directory(parent)
    tmp = parent / f".{path.name}.{_secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):  # the umask may have narrowed it; make it exactly 0600
                os.fchmod(fd, 0o600)
            os.write(fd, (encode_key(generate_key()) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if the name exists, unlike rename(): an existing key is never replaced.
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(parent)
    return True


def _fsync_directory(path: Path) -> None:
    """Make a new directory entry durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        dir_fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def read_key_file(
    key_file: Path,
    *,
    setting: str = "SecretsExtension.key_file",
    variable: str = KEY_ENV,
    key: str = "master key",
    then: str = "restart the server",
    runner: str = "the server",
) -> str | None:
    """The text of a private key file, or None when it does not exist.

    It is opened without following a symbolic link, and refused (`KeyUnavailableError`) when
    it, or its directory, is not private to the user running the server. ``setting``,
    ``variable``, ``key``, ``then`` and ``runner`` name, in its messages, the setting that
    points to it, the environment variable that may replace it, what it holds, what to do once
    fixed, and who reads it.
    """
    labels = {"setting": setting, "key": key, "then": then, "runner": runner}
    _check_directory(key_file.parent, **labels)
    label = f"The key file {key_file} ({setting})"
    try:
        fd = os.open(key_file, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise KeyUnavailableError(
                f"{label} is a symbolic link, which is not followed: whoever can change the "
                f"link could choose the key. Point {setting} at the file itself, then {then}."
            ) from None
        raise KeyUnavailableError(
            f"{label} cannot be read: {error.strerror}. Fix the file, or set the environment "
            f"variable {variable}."
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise KeyUnavailableError(
                f"{label} is not a regular file. Point {setting} at the key file, then {then}."
            )
        check_private(key_file, st, what="file", **labels)
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(64 * 1024)
    finally:
        os.close(fd)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise KeyUnavailableError(
            f"{label} cannot be read: it is not ASCII text. Fix the file, or set the "
            f"environment variable {variable}."
        ) from None


def load_keyring(
    *,
    env_value: str | None,
    key_file: Path,
    has_encrypted_rows: Callable[[], bool],
    create: bool = True,
    shared_store: str | None = None,
) -> tuple[Keyring, str]:
    """Find the master keys; with ``create``, make a key file, but only for a new private store.

    ``shared_store`` names a store that other servers use too (such as "PostgreSQL"): no key
    file is ever created for it, since every server must use the same team key. Returns the
    keyring and a description of where its keys came from. Raises `KeyUnavailableError` with a
    message for the operator when there is no usable key.
    """
    if env_value is not None:
        try:
            return Keyring(parse_keys(env_value)), f"the environment variable {KEY_ENV}"
        except KeyFormatError as error:
            raise KeyUnavailableError(
                f"The environment variable {KEY_ENV} is malformed: {error}. It must hold "
                f"base64-encoded {KEY_BYTES}-byte keys separated by ';' "
                "(generate one with 'jupyter secrets generate-key'), or be unset to use "
                "SecretsExtension.key_file."
            ) from None
    text = read_key_file(key_file)
    if text is None:
        if not create:
            raise KeyUnavailableError(
                f"The key file {key_file} (SecretsExtension.key_file) does not exist, and the "
                f"environment variable {KEY_ENV} is not set."
            )
        if has_encrypted_rows():
            raise KeyUnavailableError(
                f"The key file {key_file} (SecretsExtension.key_file) is missing, but the "
                "database holds encrypted secrets. Restore the key file, or set the "
                f"environment variable {KEY_ENV} to the key that encrypted them. A new key "
                "is not created because it could not decrypt the stored secrets."
            )
        if shared_store is not None:
            raise KeyUnavailableError(
                f"No master key is set, and the secrets store is shared ({shared_store}): every "
                "server of the team must use the same key, so none is created here. Create "
                "the team key once with 'jupyter secrets generate-key', then give it to every "
                f"server in the environment variable {KEY_ENV}, or in the key file {key_file} "
                "(SecretsExtension.key_file, mode 0600)."
            )
        try:
            create_key_file(key_file)
        except OSError as error:
            raise KeyUnavailableError(
                f"The key file {key_file} (SecretsExtension.key_file) could not be "
                f"created: {error.strerror}. Make its directory writable, point "
                f"SecretsExtension.key_file elsewhere, or set {KEY_ENV}."
            ) from None
        text = read_key_file(key_file)
        if text is None:
            raise KeyUnavailableError(
                f"The key file {key_file} (SecretsExtension.key_file) disappeared as it was "
                "created. Restart the server."
            )
    try:
        return Keyring(parse_keys(text)), f"the key file {key_file}"
    except KeyFormatError as error:
        raise KeyUnavailableError(
            f"The key file {key_file} (SecretsExtension.key_file) is malformed: {error}. It "
            f"must hold base64-encoded {KEY_BYTES}-byte keys separated by ';'. Restore the "
            f"right key file, or set the environment variable {KEY_ENV}."
        ) from None
