"""Server configuration for the OpenBao browser tests.

Two servers, alice's on project proj-a and bob's on proj-b, use one OpenBao, each with its own
token: OpenBao's policies, not this file, decide who may share with ml-team. ``serve.py``
starts OpenBao and writes its address and the tokens to ``SECRETS_UI_OPENBAO_DIR``. Per
server, the Playwright configuration sets:

- ``SECRETS_UI_PROJECT``: the project of the server (``proj-a`` or ``proj-b``);
- ``SECRETS_UI_USER``: the one user of the server (``alice`` or ``bob``), whose token it uses;
- ``SECRETS_UI_OPENBAO_DIR``: the folder of OpenBao's address and the tokens.
"""

import os
from pathlib import Path
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from jupyterlab.galata import configure_jupyter_server
from traitlets import Unicode

configure_jupyter_server(c)  # noqa: F821


class FixedUserIdentityProvider(IdentityProvider):
    """Every request comes from one named user (as in ``sharing/``)."""

    username = Unicode("", config=True, help="The name of the server's only user.")

    def get_user(self, handler: Any) -> User:
        """The configured user, whoever asks."""
        return User(username=self.username, name=self.username, display_name=self.username)


_openbao = Path(os.environ["SECRETS_UI_OPENBAO_DIR"])
_user = os.environ["SECRETS_UI_USER"]

c.ServerApp.identity_provider_class = FixedUserIdentityProvider  # noqa: F821
c.FixedUserIdentityProvider.username = _user  # noqa: F821

c.SecretsExtension.project = os.environ["SECRETS_UI_PROJECT"]  # noqa: F821
c.SecretsExtension.openbao_url = (_openbao / "url").read_text().strip()  # noqa: F821
c.SecretsExtension.openbao_token_file = str(_openbao / f"{_user}.token")  # noqa: F821
c.SecretsExtension.communities = {  # noqa: F821
    "ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]},
}

# CI and our machines run as root.
c.ServerApp.allow_root = True  # noqa: F821
