"""The operator's audit key: Ed25519 signatures (``cryptography``) over the audit log.

The private key signs anchors and prunes (``jupyter secrets audit --anchor``, ``--prune``).
Only the operator holds it, never a server: a server appends events, which anyone with the
database could also do, but cannot sign. The public keys (``SecretsExtension.
audit_public_keys``) check the signatures. Keys are those of ``ssh-keygen -t ed25519``
(OpenSSH) or of ``openssl genpkey -algorithm ed25519`` (PEM), so an operator makes and keeps
them with tools they already trust; a fingerprint is the one ``ssh-keygen -lf`` prints.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "AuditKeyError",
    "AuditSigner",
    "PublicKeys",
    "fingerprint",
    "load_private_key",
    "load_public_key",
    "public_line",
]


class AuditKeyError(ValueError):
    """A key is not an Ed25519 key this module can read; the message says why (never the key)."""


def public_line(public: Ed25519PublicKey) -> str:
    """The key as one OpenSSH line (``ssh-ed25519 AAAA…``), as ``audit_public_keys`` takes it."""
    return public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")


def fingerprint(public: Ed25519PublicKey) -> str:
    """``SHA256:…``, as ``ssh-keygen -lf`` prints it for the same key."""
    blob = base64.b64decode(public_line(public).split()[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


class AuditSigner:
    """The operator's private key, which signs (`jupyterlab_secrets.audit.Signer`)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()

    @property
    def key(self) -> str:
        """The fingerprint of its public key."""
        return fingerprint(self.public)

    def sign(self, message: bytes) -> str:
        """The Ed25519 signature of ``message``, in base64."""
        return base64.b64encode(self._private.sign(message)).decode("ascii")

    def __repr__(self) -> str:
        return f"AuditSigner({self.key})"


class PublicKeys:
    """The public keys whose signatures are trusted (`jupyterlab_secrets.audit.SignatureCheck`)."""

    def __init__(self, keys: Iterable[Ed25519PublicKey]) -> None:
        self.keys = {fingerprint(key): key for key in keys}

    def check(self, key: str, message: bytes, signature: str) -> str | None:
        """None when ``signature`` is the key ``key``'s signature of ``message``."""
        public = self.keys.get(key)
        if public is None:
            return (
                f"it is signed by the key {key}, which is not one of "
                "SecretsExtension.audit_public_keys"
            )
        try:
            public.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError):
            return f"its signature is not the key {key}'s: it was forged or altered"
        return None


def load_private_key(text: str, where: str) -> AuditSigner:
    """The signer of an Ed25519 private key in OpenSSH or PEM (PKCS#8) form, without a
    passphrase (a scheduled job could not type one). ``where`` names its source in messages."""
    data = text.strip().encode("ascii", "replace") + b"\n"
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            private = serialization.load_ssh_private_key(data, password=None)
        else:
            private = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise AuditKeyError(
            f"The audit key in {where} is protected by a passphrase; the command cannot ask "
            "for one. Keep the key without a passphrase, readable by its owner only "
            "(chmod 600), or in JUPYTERLAB_SECRETS_AUDIT_KEY."
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise AuditKeyError(
            f"The audit key in {where} is not an Ed25519 private key in OpenSSH or PEM form. "
            "Make one with: ssh-keygen -t ed25519 -N '' -f FILE."
        ) from None
    if not isinstance(private, Ed25519PrivateKey):
        raise AuditKeyError(
            f"The audit key in {where} is not an Ed25519 key. Make one with: "
            "ssh-keygen -t ed25519 -N '' -f FILE."
        )
    return AuditSigner(private)


def load_public_key(text: str, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key: one OpenSSH line (``ssh-ed25519 AAAA… comment``, as in the
    ``.pub`` file ``ssh-keygen`` writes) or PEM. ``where`` names its source in messages."""
    data = text.strip().encode("ascii", "replace")
    try:
        if data.startswith(b"-----BEGIN"):
            public = serialization.load_pem_public_key(data)
        else:
            public = serialization.load_ssh_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise AuditKeyError(
            f"{where} is not an Ed25519 public key: give the line of the .pub file that "
            "ssh-keygen -t ed25519 wrote (ssh-ed25519 AAAA…)."
        ) from None
    if not isinstance(public, Ed25519PublicKey):
        raise AuditKeyError(f"{where} is not an Ed25519 public key (ssh-ed25519 AAAA…).")
    return public
