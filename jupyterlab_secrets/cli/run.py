"""``jupyter secrets run -- CMD [ARGS...]``: a program with the project's secrets.

For scripts, papermill, ``jupyter nbconvert --execute`` and anything else that starts its own
kernels or reads its own environment: CMD gets exactly what the project's kernels get (the
answer of ``GET environment``) on top of this environment, and its exit status is CMD's.
"""

from __future__ import annotations

import os
import sys

from ..config import Opened
from ..credentials import take_credentials
from . import SecretsCommand
from .manage import current_user


class RunApp(SecretsCommand):
    """Run a command with the project's secrets in its environment."""

    name = "jupyter-secrets-run"
    description = (
        "Run CMD with the project's secrets added to its environment: "
        "jupyter secrets run -- CMD [ARGS...]. Exits with CMD's status."
    )
    _environment: dict[str, str] | None = None

    def run(self, opened: Opened) -> None:
        """Read the environment; the command starts once the store is closed."""
        if not self.extra_args:
            self.log.error("Give a command to run: jupyter secrets run -- CMD [ARGS...]")
            self.exit(2)
        self._environment = opened.service.environment(current_user(), action="run")

    def start(self) -> None:
        """Replace this process with CMD, so signals and the exit status are CMD's own."""
        super().start()
        command = list(self.extra_args)
        # The master key and the OpenBao token leave os.environ before CMD inherits it: CMD
        # gets the project's secrets, not the key that decrypts every project's.
        take_credentials()
        environment = {**os.environ, **(self._environment or {})}
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvpe(command[0], command, environment)
        except OSError as error:
            # The shell's convention: 127 for a command not found, 126 for one not runnable.
            self.log.error("Cannot run %s: %s", command[0], error.strerror)
            self.exit(127 if isinstance(error, FileNotFoundError) else 126)
