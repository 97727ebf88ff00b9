"""Server configuration for the browser tests.

Every run starts from an empty secrets store and a fresh key in a temporary
folder, so that runs never see each other's secrets.
"""

from pathlib import Path
from tempfile import mkdtemp

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821

_store_dir = Path(mkdtemp(prefix="secrets-ui-tests-"))
c.SecretsExtension.db_url = f"sqlite:///{_store_dir / 'secrets.db'}"  # noqa: F821
c.SecretsExtension.key_file = str(_store_dir / "key")  # noqa: F821

# CI and our machines run as root.
c.ServerApp.allow_root = True  # noqa: F821
