"""Secrets in every kernel this server starts, whichever client started it.

`SecretsKernelManager` puts them in each kernel process's environment at launch;
`KernelSecrets` keeps running kernels in step with changes and answers what each holds;
`KernelsApi` and `kernel_routes` serve that answer over REST.
"""

from .handlers import kernel_routes
from .injector import (
    KernelSecrets,
    KernelStatus,
    SecretsKernelManager,
    injector_for,
    install,
)
from .languages import Skipped, language_for
from .rest import KernelsApi

__all__ = [
    "KernelSecrets",
    "KernelsApi",
    "KernelStatus",
    "SecretsKernelManager",
    "Skipped",
    "injector_for",
    "install",
    "kernel_routes",
    "language_for",
]
