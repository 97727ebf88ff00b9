"""Server configuration for the sharing browser tests.

Two servers, each in its own project and with its own user, share one
store and one master key, as two projects of a team do. The Playwright
configuration starts both and sets, per server:

- ``SECRETS_UI_PROJECT``: the project of the server (``proj-a`` or ``proj-b``);
- ``SECRETS_UI_USER``: the one user of the server (``alice`` or ``bob``);
- ``SECRETS_UI_STORE``: the folder holding the shared SQLite store;
- ``JUPYTERLAB_SECRETS_KEY``: the shared master key.
"""

import os
from pathlib import Path
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from jupyterlab.galata import configure_jupyter_server
from traitlets import Unicode

configure_jupyter_server(c)  # noqa: F821


class FixedUserIdentityProvider(IdentityProvider):
    """Every request comes from one named user.

    Without a token, jupyter_server names each browser a random user; the
    sharing rules need to know who is a community admin.
    """

    username = Unicode("", config=True, help="The name of the server's only user.")

    def get_user(self, handler: Any) -> User:
        """The configured user, whoever asks."""
        return User(username=self.username, name=self.username, display_name=self.username)


_store = Path(os.environ["SECRETS_UI_STORE"])

c.ServerApp.identity_provider_class = FixedUserIdentityProvider  # noqa: F821
c.FixedUserIdentityProvider.username = os.environ["SECRETS_UI_USER"]  # noqa: F821

c.SecretsExtension.project = os.environ["SECRETS_UI_PROJECT"]  # noqa: F821
c.SecretsExtension.db_url = f"sqlite:///{_store / 'secrets.db'}"  # noqa: F821
# Unused while JUPYTERLAB_SECRETS_KEY is set; never the user's own key file.
c.SecretsExtension.key_file = str(_store / "key")  # noqa: F821
c.SecretsExtension.communities = {  # noqa: F821
    "ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]},
}
# kernels.sharing.spec.ts reads injected values back from cell outputs; redaction of outputs is
# tested on its own, with real kernels (jupyterlab_secrets/tests/test_redaction.py).
c.SecretsExtension.redact_outputs = False  # noqa: F821

# CI and our machines run as root.
c.ServerApp.allow_root = True  # noqa: F821
