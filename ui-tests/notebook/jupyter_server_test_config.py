"""Server configuration for the browser tests against Notebook 7 (`jupyter notebook`).

Like the JupyterLab one, every run starts from an empty secrets store and a fresh key in a
temporary folder. Galata's helper extension is left out: it is built for JupyterLab's page.
"""

import os
from pathlib import Path
from tempfile import mkdtemp

c.ServerApp.port_retries = 0  # noqa: F821
c.ServerApp.open_browser = False  # noqa: F821
c.ServerApp.root_dir = os.environ.get(  # noqa: F821
    "JUPYTERLAB_GALATA_ROOT_DIR", mkdtemp(prefix="secrets-notebook-test-")
)
c.IdentityProvider.token = ""  # noqa: F821
c.ServerApp.password = ""  # noqa: F821
c.ServerApp.disable_check_xsrf = True  # noqa: F821
c.JupyterNotebookApp.expose_app_in_browser = True  # noqa: F821

_store_dir = Path(mkdtemp(prefix="secrets-notebook-store-"))
c.SecretsExtension.db_url = f"sqlite:///{_store_dir / 'secrets.db'}"  # noqa: F821
c.SecretsExtension.key_file = str(_store_dir / "key")  # noqa: F821

# CI and our machines run as root.
c.ServerApp.allow_root = True  # noqa: F821
