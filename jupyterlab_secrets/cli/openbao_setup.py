"""``jupyter secrets openbao-setup``: the KV v2 mount and the policies, once per OpenBao."""

from __future__ import annotations

import hvac.exceptions
import requests

from ..config import SecretsSettings
from ..errors import SecretsError, UnavailableError
from ..openbao_admin import openbao_setup, read_token
from ..stores.openbao.kv import Cluster, connect
from . import SecretsCommand


class OpenBaoSetupApp(SecretsCommand):
    """Create the KV v2 mount and write the policies of every configured project and
    community; running it again changes nothing."""

    name = "jupyter-secrets-openbao-setup"
    description = (
        "Create the KV v2 mount SecretsExtension.openbao_mount on SecretsExtension.openbao_url "
        "and write the policies jupyterlab-secrets-project-<p>, -member-<c> and -admin-<c>@<p> "
        "of every project and community of the configuration, and for a JupyterHub the token "
        "role jupyterlab-secrets (allowed exactly those policies) and the policy "
        "jupyterlab-secrets-hub, with an operator token allowed to manage mounts, policies and "
        "token roles in BAO_TOKEN (or VAULT_TOKEN). Removes the admin policies "
        "-admin-<c> of earlier releases and says which to attach instead. Prints what it did, "
        "never a token. Running it again changes nothing."
    )
    aliases = {
        **SecretsCommand.aliases,
        "openbao-url": "SecretsExtension.openbao_url",
        "openbao-mount": "SecretsExtension.openbao_mount",
    }

    def start(self) -> None:
        """Set up OpenBao, or end with status 1 and the reason."""
        settings = SecretsSettings(parent=self)
        try:
            if not settings.openbao_url:
                raise UnavailableError(
                    "Set SecretsExtension.openbao_url (or --openbao-url) to the OpenBao address."
                )
            client = connect(Cluster(settings.openbao_url), read_token())
            changed = openbao_setup(
                client,
                mount=settings.openbao_mount,
                project=settings.project,
                communities=settings.communities,
                keep_versions=settings.keep_versions,
            )
        except SecretsError as error:
            self.log.error("%s", error.message)
            self.exit(1)
        except hvac.exceptions.VaultError as error:
            self.log.error("OpenBao refused the setup: %s", error)
            self.exit(1)
        except requests.RequestException as error:
            self.log.error(
                "OpenBao at %s cannot be reached (%s).", settings.openbao_url, type(error).__name__
            )
            self.exit(1)
        print(f"Done: {changed} change{'s' if changed != 1 else ''}.")
