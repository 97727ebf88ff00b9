"""The built-in store backends, each opened from the settings.

``pyproject.toml`` registers them in the entry point group ``jupyterlab_secrets.stores``, as
another package registers its own: ``sqlite`` and ``postgresql`` name `open_sql_store`, and
``openbao`` names `open_openbao_store`. Each is a `StoreOpener`: it takes the settings and
returns an open store, or raises `UnavailableError` with what to fix, having changed nothing.
"""

from __future__ import annotations

from pathlib import Path

from .config import SecretsSettings
from .crypto import KeyUnavailableError, load_keyring
from .errors import UnavailableError
from .migrations import SchemaError
from .stores.base import SecretStore
from .stores.sql import count_stored_secrets
from .stores.sql_engine import redact_url

__all__ = ["open_openbao_store", "open_sql_store"]


def open_sql_store(settings: SecretsSettings, *, create_key: bool = True) -> SecretStore:
    """Open the SQL store of ``db_url`` (of the class ``store_class``) with the master keys
    (from the credentials taken from the environment, or the key file, which is created only
    for a SQLite database of one's own that holds no secret)."""
    where = f"The secrets database {redact_url(settings.db_url)} (SecretsExtension.db_url)"

    def cannot_open(error: Exception) -> UnavailableError:
        settings.log.debug("Opening the secrets database failed", exc_info=True)
        if isinstance(error, UnavailableError):
            return error
        return UnavailableError(
            f"{where} cannot be opened: {type(error).__name__}. Check that it is reachable "
            "and writable, then restart the server."
        )

    try:
        has_secrets = count_stored_secrets(settings.db_url) > 0
    except Exception as error:
        raise cannot_open(error) from None
    try:
        keyring, source = load_keyring(
            env_value=settings.credentials.key,
            key_file=Path(settings.key_file).expanduser(),
            has_encrypted_rows=lambda: has_secrets,
            create=create_key,
            shared_store=settings.shared_store_kind(),
        )
    except KeyUnavailableError as error:
        raise UnavailableError(str(error)) from None
    settings.log.debug("jupyterlab_secrets keys come from %s", source)
    try:
        return settings.store_class(  # type: ignore[no-any-return]
            db_url=settings.db_url,
            keyring=keyring,
            keep_versions=settings.keep_versions,
            parent=settings,
        )
    except SchemaError as error:
        raise UnavailableError(f"{where} cannot be used: {error} Nothing was changed.") from None
    except Exception as error:
        raise cannot_open(error) from None


def open_openbao_store(settings: SecretsSettings, *, create_key: bool = True) -> SecretStore:
    """Open the OpenBao store of ``openbao_url`` with this server's token (from
    ``openbao_token_file``, or ``BAO_TOKEN``/``VAULT_TOKEN``), checking that OpenBao answers
    and accepts it. No key, value or token is written anywhere (OpenBao keeps its own keys:
    ``create_key`` changes nothing)."""
    try:
        from .openbao_admin import read_token
        from .stores.openbao import OpenBaoSecretStore
    except ImportError as error:
        raise UnavailableError(
            f"SecretsExtension.openbao_url is set, but {error.name} is not installed: "
            "pip install 'jupyterlab_secrets[openbao]'."
        ) from None
    store = OpenBaoSecretStore(
        url=settings.openbao_url,
        token=read_token(
            settings.openbao_token_file,
            settings.credentials,
            remove=settings.removes_token_file,
            log=settings.log,
        ),
        mount=settings.openbao_mount,
        keep_versions=settings.keep_versions,
        parent=settings,
    )
    try:
        policies = store.check()
    except BaseException:
        store.close()
        raise
    settings.log.info("jupyterlab_secrets' OpenBao token holds the policies %s", policies)
    return store
