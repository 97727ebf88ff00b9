"""``jupyter secrets migrate --to-openbao``: copy a SQLite or PostgreSQL store into OpenBao."""

from __future__ import annotations

from traitlets import Bool

from ..config import SecretsSettings, open_store
from ..errors import UnavailableError
from ..openbao_admin import read_token
from ..stores.openbao import OpenBaoSecretStore
from ..stores.openbao.migration import migrate_to_openbao
from . import SecretsCommand


class MigrateApp(SecretsCommand):
    """Copy every secret of the configured projects from the SQL store into OpenBao."""

    name = "jupyter-secrets-migrate"
    description = (
        "With --to-openbao: copy every secret of the projects of the configuration (project, "
        "and those of communities) from the SQL store (SecretsExtension.db_url, with its master "
        "key) into OpenBao (SecretsExtension.openbao_url and .openbao_mount), with IDs, "
        "versions, shares and additions, using an operator token in BAO_TOKEN (or VAULT_TOKEN) "
        "that holds every project, member and admin policy. Values are decrypted in memory "
        "only. Prints counts; running it again copies only what is missing."
    )
    to_openbao = Bool(False, config=True, help="Copy into OpenBao (the only target).")
    flags = {
        **SecretsCommand.flags,
        "to-openbao": ({"MigrateApp": {"to_openbao": True}}, "Copy into OpenBao."),
    }
    aliases = {
        **SecretsCommand.aliases,
        "openbao-url": "SecretsExtension.openbao_url",
        "openbao-mount": "SecretsExtension.openbao_mount",
    }

    def start(self) -> None:
        """Migrate, printing counts; end with status 1 when something was not copied."""
        if not self.to_openbao:
            self.log.error("Say where to: jupyter secrets migrate --to-openbao")
            self.exit(2)
        settings = SecretsSettings(parent=self)
        source = target = None
        try:
            if not settings.openbao_url:
                raise UnavailableError(
                    "Set SecretsExtension.openbao_url (or --openbao-url) to the OpenBao address."
                )
            source = open_store(settings, backend=settings.db_backend(), create_key=False)
            target = OpenBaoSecretStore(
                url=settings.openbao_url,
                token=read_token(),
                mount=settings.openbao_mount,
                keep_versions=settings.keep_versions,
            )
            target.check()
            report = migrate_to_openbao(
                source, target, project=settings.project, communities=settings.communities
            )
        except UnavailableError as error:
            self.log.error("%s", error.message)
            self.exit(1)
        finally:
            for store in (source, target):
                if store is not None:
                    store.close()
        for line in report.lines():
            print(line)
        if report.failed:
            self.exit(1)
