"""Secrets in every kernel this server starts, whichever client started it.

`SecretsKernelManager` puts them in each kernel process's environment at launch;
`KernelSecrets` keeps running kernels in step with changes and answers what each holds.
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

__all__ = [
    "KernelSecrets",
    "KernelStatus",
    "SecretsKernelManager",
    "Skipped",
    "injector_for",
    "install",
    "kernel_routes",
    "language_for",
]
