"""``jupyter secrets generate-key``."""

from __future__ import annotations

from jupyter_core.application import JupyterApp

from .. import __version__
from ..crypto import KEY_ENV, encode_key, generate_key


class GenerateKeyApp(JupyterApp):
    """Print a fresh random master key, base64-encoded."""

    name = "jupyter-secrets-generate-key"
    version = __version__
    description = (
        f"Print a fresh master key (base64 of 32 random bytes), for the key file or {KEY_ENV}."
    )

    def start(self) -> None:
        """Print the key and nothing else, so it can be piped."""
        print(encode_key(generate_key()))
