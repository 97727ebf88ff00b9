"""Encrypted secrets for JupyterLab projects, served over a REST API."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # the build hook writes _version.py; a source checkout may lack it
    __version__ = "0.1.0"

from .app import SecretsExtension

__all__ = ["SecretsExtension", "__version__"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the prebuilt frontend extension."""
    return [{"src": "labextension", "dest": "jupyterlab-secrets"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The server extension that jupyter_server loads."""
    return [{"module": "jupyterlab_secrets", "app": SecretsExtension}]
