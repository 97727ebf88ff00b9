"""A JupyterHub whose servers keep their secrets in OpenBao: copy it and adapt it.

``scripts/hub-demo.sh`` runs it as it is: three users on one machine, alice and bob in project
proj-a, carol in proj-b, and the community ml-team of both projects, administered by alice.
The tests run it too (``jupyterlab_secrets/tests/test_hub.py``).

What the hub does for secrets (see ``jupyterlab_secrets/hub.py`` and the README):

- a project is a hub group, and a named server is one project: ``/user/alice/proj-a/``;
  only the group's members may start it, and the default server gets the user's only project;
- the hub mints each server's OpenBao token, with exactly its user's policies for its project,
  writes it to a file only that user can read, renews it while the server runs and revokes it
  when it stops. The hub's own token can do only that: it reads no secret.

Before starting the hub, once (and again after adding a project or a community), an operator
writes the policies and the token role with an OpenBao token allowed to manage them::

    BAO_TOKEN=… jupyter secrets openbao-setup \\
        --SecretsExtension.openbao_url=… --SecretsExtension.communities='{…}'

and gives the hub its own token, which holds only the policy ``jupyterlab-secrets-hub``::

    bao token create -policy=jupyterlab-secrets-hub -period=720h -field=token \\
        > /etc/jupyterhub/bao-token && chmod 600 /etc/jupyterhub/bao-token
"""

import os

from jupyterlab_secrets.hub import configure_hub

c = get_config()  # noqa: F821

# -- Who works in which project: hub groups. Change them in the admin page or the REST API;
# a user removed from a group cannot start that project's server any more.
c.JupyterHub.allow_named_servers = True
c.JupyterHub.load_groups = {
    "proj-a": {"users": ["alice", "bob"]},
    "proj-b": {"users": ["carol"]},
}

# -- Secrets: OpenBao decides what each server may read and write.
configure_hub(c)  # adds to your spawner's hooks and arguments; replaces none of yours
c.SecretsHub.openbao_url = os.environ.get("SECRETS_HUB_OPENBAO_URL", "https://bao.internal:8200")
c.SecretsHub.token_file = os.environ.get("SECRETS_HUB_TOKEN_FILE", "/etc/jupyterhub/bao-token")
c.SecretsHub.communities = {
    "ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]},
}
# Where the hub writes each server's token file (a folder per user, mode 0700); it must be
# on a file system the servers see. The default is under the system's temporary folder.
# c.SecretsHub.token_dir = "/run/jupyterhub/secrets"

# -- Your own spawner and authenticator: anything. The demo uses the two that need no system
# accounts; never use them in production (every user is the hub's own system user).
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {"alice", "bob", "carol"}
c.DummyAuthenticator.allow_all = False
c.JupyterHub.admin_users = {"alice"}

# Your own hooks, arguments and environment stay yours; configure_hub chains its hooks with
# them (before or after this line) and adds its arguments at each spawn.
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"JUPYTERHUB_DEMO": "1"}
c.Spawner.args = ["--ServerApp.allow_root=True"]  # the demo runs everything as root

c.JupyterHub.bind_url = f"http://127.0.0.1:{os.environ.get('SECRETS_HUB_PORT', '8000')}"
