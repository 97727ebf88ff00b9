"""Encrypted secrets for JupyterLab projects, served over a REST API."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # the build hook writes _version.py; a source checkout may lack it
    __version__ = "0.1.0"

from .credentials import take_credentials

__all__ = ["SecretsExtension", "__version__"]


def __getattr__(name: str) -> Any:
    # The server extension is imported when asked for, so that a part of the package (the
    # service, the rules, the command line's help) loads without the server and its store.
    if name == "SecretsExtension":
        from .app import SecretsExtension

        return SecretsExtension
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where JupyterLab finds the prebuilt frontend extension."""
    return [{"src": "labextension", "dest": "jupyterlab-secrets"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The server extension that jupyter_server loads.

    jupyter_server asks this before it creates its kernel and terminal managers: the earliest
    moment to take the master key and the OpenBao token out of the environment they inherit.
    """
    take_credentials()
    from .app import SecretsExtension

    return [{"module": "jupyterlab_secrets", "app": SecretsExtension}]
