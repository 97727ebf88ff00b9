"""``python -m jupyterlab_secrets rotate-key``: the same as ``jupyter secrets``."""

from .cli import main

main()
