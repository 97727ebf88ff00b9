"""``jupyter secrets run -- CMD [ARGS...]``: a program with the project's secrets.

For scripts, papermill, ``jupyter nbconvert --execute`` and anything else that starts its own
kernels or reads its own environment: CMD gets exactly what the project's kernels get (the
answer of ``GET environment``) on top of this environment, and its exit status is CMD's.

With ``--redact`` (papermill) or ``--redact-file PATH`` (any command), the files CMD writes
are scrubbed once it ends: each value of those secrets, in each form the output redaction
knows, becomes ``[REDACTED:<name>]``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from traitlets import Bool, List, Unicode

from ..config import Opened
from ..credentials import take_credentials
from ..jobs import scrub_file
from ..jobs.papermill_outputs import CannotScrubError, papermill_arguments, papermill_outputs
from ..redaction import Matcher
from . import SecretsCommand
from .manage import current_user

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Passed on to CMD while this command waits for it to scrub its files. SIGINT is not: a
terminal's Ctrl-C reaches CMD itself, and this command waits for CMD to finish."""


class RunApp(SecretsCommand):
    """Run a command with the project's secrets in its environment."""

    name = "jupyter-secrets-run"
    description = (
        "Run CMD with the project's secrets added to its environment: "
        "jupyter secrets run [--redact] [--redact-file PATH]... -- CMD [ARGS...]. "
        "Exits with CMD's status."
    )
    flags = {
        **SecretsCommand.flags,
        "redact": (
            {"RunApp": {"redact": True}},
            "Scrub the secrets' values from the notebook papermill writes (CMD is papermill).",
        ),
    }
    aliases = {**SecretsCommand.aliases, "redact-file": "RunApp.redact_files"}

    redact = Bool(
        False,
        config=True,
        help=(
            "CMD is papermill (papermill ... or python -m papermill ...): once it ends, scrub "
            "the secrets' values from the notebook it wrote, found from its arguments with "
            "papermill's own parser, and from its --stdout-file and --stderr-file."
        ),
    )
    redact_files = List(
        Unicode(),
        config=True,
        help=(
            "Files to scrub the secrets' values from once CMD ends, for any CMD "
            "(--redact-file PATH, repeatable)."
        ),
    )

    _environment: dict[str, str] | None = None
    _scrubbed: list[str] | None = None
    _min_length = 0

    def run(self, opened: Opened) -> None:
        """Find the files to scrub, then read the environment; CMD starts once the store is
        closed. A papermill command whose output cannot be scrubbed is not run."""
        if not self.extra_args:
            self.log.error("Give a command to run: jupyter secrets run -- CMD [ARGS...]")
            self.exit(2)
        self._scrubbed = self.files_to_scrub(list(self.extra_args))
        self._environment = opened.service.environment(current_user(), action="run")
        assert self.settings is not None
        self._min_length = self.settings.redact_min_length

    def files_to_scrub(self, command: list[str]) -> list[str] | None:
        """The files to scrub once ``command`` ends; None when nothing is to be scrubbed.
        Exits 2, running nothing, when the options cannot be honoured."""
        files = list(self.redact_files)
        if self.redact:
            arguments = papermill_arguments(command)
            if arguments is None:
                self.log.error(
                    "--redact finds the files of papermill only (papermill ... or python -m "
                    "papermill ...): name the files %s writes with --redact-file PATH. "
                    "Nothing was run.",
                    os.path.basename(command[0]),
                )
                self.exit(2)
            try:
                files.extend(papermill_outputs(arguments))
            except CannotScrubError as error:
                self.log.error("%s Nothing was run.", error.message)
                self.exit(2)
        if not files and not self.redact:
            return None
        return list(dict.fromkeys(files))

    def start(self) -> None:
        """Replace this process with CMD, so signals and the exit status are CMD's own; or,
        when files are to be scrubbed, run CMD, wait for it, and scrub them."""
        super().start()
        command = list(self.extra_args)
        # The master key and the OpenBao token leave os.environ before CMD inherits it: CMD
        # gets the project's secrets, not the key that decrypts every project's.
        take_credentials()
        environment = {**os.environ, **(self._environment or {})}
        sys.stdout.flush()
        sys.stderr.flush()
        if self._scrubbed is not None:
            self.exit(self.run_and_scrub(command, environment, self._scrubbed))
        try:
            os.execvpe(command[0], command, environment)
        except OSError as error:
            self.exit(self.not_runnable(command, error))

    def not_runnable(self, command: list[str], error: OSError) -> int:
        """Say why CMD cannot run; the status a shell gives then: 127 for a command not
        found, 126 for one not runnable."""
        self.log.error("Cannot run %s: %s", command[0], error.strerror)
        return 127 if isinstance(error, FileNotFoundError) else 126

    def run_and_scrub(
        self, command: list[str], environment: dict[str, str], files: list[str]
    ) -> int:
        """Run CMD to its end, scrub ``files`` (whatever its status), and return the status
        to exit with: CMD's, or 1 when CMD succeeded but a file could not be scrubbed."""
        try:
            process = subprocess.Popen(command, env=environment)
        except OSError as error:
            return self.not_runnable(command, error)
        status = self._wait(process)
        matcher = Matcher(self._environment or {}, self._min_length)
        failed = False
        for path in files:
            try:
                changed = scrub_file(path, matcher)
            except FileNotFoundError:
                self.log.warning("%s was not written: nothing to scrub there.", path)
                continue
            except OSError as error:
                # The file is left as CMD wrote it: say so, without quoting it.
                self.log.error(
                    "Cannot scrub %s (%s): it may hold the secrets' values.", path, error.strerror
                )
                failed = True
                continue
            if changed:
                print(f"Scrubbed the secrets' values from {path}.", file=sys.stderr)
        if failed and status == 0:
            return 1
        return status

    @staticmethod
    def _wait(process: subprocess.Popen[Any]) -> int:
        """CMD's exit status, as a shell gives it (128 + N for a process killed by signal N);
        SIGTERM and SIGHUP received meanwhile are passed on to it."""

        def forward(signum: int, _frame: Any) -> None:
            process.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            code = process.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.signal(signal.SIGINT, interrupt)
        return 128 - code if code < 0 else code
