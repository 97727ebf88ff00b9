"""``jupyter secrets rotate-key``."""

from __future__ import annotations

from ..config import Opened
from ..crypto import KEY_ENV
from ..errors import UnavailableError, UndecryptableError
from ..stores.base import KeyRotation
from . import SecretsCommand
from .manage import current_user


class RotateKeyApp(SecretsCommand):
    """Re-encrypt every secret under the first master key."""

    name = "jupyter-secrets-rotate-key"
    description = (
        f"Re-encrypt every stored secret under the first key of {KEY_ENV} (or of the key file). "
        "List the new key first and the old ones after it, separated by ';'. Reads the "
        "server's configuration (SecretsExtension.db_url, .key_file)."
    )
    check_keys = False

    def run(self, opened: Opened) -> None:
        """Rotate, printing only counts."""
        rotating = opened.store.ability(KeyRotation)
        if rotating is None:
            raise UnavailableError(
                "rotate-key re-encrypts the SQL store; this store encrypts values itself."
            )
        try:
            rotation = rotating.rotate()
        except UndecryptableError:
            raise UnavailableError(
                "A stored secret cannot be decrypted with any of the given keys. Add the key "
                f"that encrypted it to {KEY_ENV} (after the new key). Nothing was changed."
            ) from None
        opened.service.record(
            current_user(),
            "rotate-key",
            detail={
                "key_id": rotating.primary_key_id,
                "re_encrypted": rotation.changed,
                "already": rotation.kept,
            },
            strict=False,
        )
        print(
            f"Re-encrypted {rotation.changed} secrets under the first key; "
            f"{rotation.kept} already were."
        )
