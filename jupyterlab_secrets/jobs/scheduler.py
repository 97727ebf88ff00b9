"""The project's secrets in the jobs of jupyter-scheduler, and none in what they write.

jupyter-scheduler runs each job in a process of its own, whose kernel nbclient starts outside
the server's kernel manager: the server's injection and output redaction never see it. This
execution manager gives it the secrets, and scrubs what it writes::

    c.Scheduler.execution_manager_class = (
        "jupyterlab_secrets.jobs.scheduler.SecretsExecutionManager"
    )

- When a job is created, in the server (which holds the master key or the OpenBao token; the
  job's process does not), it reads the project's environment from this server's
  jupyterlab_secrets, as ``jupyter secrets run`` does: the same settings and rules, recorded
  as ``run`` in the audit log under the server's login name. A cron job reads it each time it
  runs.
- The job's process adds it to its environment, which the kernel inherits.
- Every output file of the job is made from the notebook scrubbed with the output redaction's
  matcher (outputs, sources such as the parameters cell, metadata such as widget state), and
  so is the failure message the scheduler keeps and shows, and the traceback it logs.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from jupyter_scheduler.executors import DefaultExecutionManager
from jupyter_scheduler.models import Status
from jupyter_scheduler.orm import Job

from ..errors import SecretsError
from ..redaction import DEFAULT_MIN_LENGTH, Matcher
from .scrub import scrub_notebook

EXTENSION = "jupyterlab_secrets"


class SecretsUnavailableError(RuntimeError):
    """The job cannot get the project's secrets; the message says why (never a value)."""


class SecretsExecutionManager(DefaultExecutionManager):
    """`DefaultExecutionManager` with the project's secrets in the kernel's environment, and
    their values scrubbed from the job's output files and failure message."""

    def __init__(
        self, job_id: str, root_dir: str, db_url: str, staging_paths: dict[str, str]
    ) -> None:
        super().__init__(
            job_id=job_id, root_dir=root_dir, db_url=db_url, staging_paths=staging_paths
        )
        # This runs in the server; the instance then goes to the job's process (pickled
        # through a pipe by multiprocessing, never through a file or an environment).
        self._environment: dict[str, str] = {}
        self._min_length = DEFAULT_MIN_LENGTH
        self._unavailable: str | None = None
        self._matcher: Matcher | None = None
        try:
            self._environment, self._min_length = read_environment()
        except SecretsError as error:
            # The job is created all the same, and fails with this message when it starts.
            self._unavailable = error.message

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_matcher"] = None  # compiled where it is used
        return state

    @property
    def matcher(self) -> Matcher:
        """The redaction matcher of the job's secrets."""
        if self._matcher is None:
            self._matcher = Matcher(self._environment, self._min_length)
        return self._matcher

    def execute(self) -> None:
        """Run the notebook with the project's secrets in the kernel's environment."""
        if self._unavailable is not None:
            raise SecretsUnavailableError(
                f"The job cannot get the project's secrets: {self._unavailable}"
            )
        # This process runs this one job: its kernel inherits this environment.
        os.environ.update(self._environment)
        super().execute()

    def create_output_files(self, job: Any, notebook_node: Any) -> None:
        """Write each output format from the notebook with every value scrubbed."""
        super().create_output_files(job, scrub_notebook(notebook_node, self.matcher))

    def on_failure(self, e: Exception) -> None:
        """Mark the job failed with its error scrubbed (a cell's error quotes its output),
        and log the traceback scrubbed too."""
        message = self.matcher.redact(str(e))
        with self.db_session() as session:
            session.query(Job).filter(Job.job_id == self.job_id).update(
                {"status": Status.FAILED, "status_message": message}
            )
            session.commit()
        print(self.matcher.redact(traceback.format_exc()), file=sys.stderr)


def read_environment() -> tuple[dict[str, str], int]:
    """The project's environment, from the jupyterlab_secrets of the server this process
    runs, and the shortest length of a value redacted. `SecretsError` when there is none."""
    from ..app import SecretsExtension
    from ..cli.manage import current_user

    extension = _running_extension(SecretsExtension)
    if extension is None:
        raise SecretsError(
            f"{EXTENSION} is not enabled on the Jupyter server that runs this scheduler."
        )
    service = extension.service
    if service is None:
        raise SecretsError(f"{EXTENSION} is unavailable: {extension.unavailable}")
    return service.environment(current_user(), action="run"), extension.redact_min_length


def _running_extension(kind: type) -> Any | None:
    """The running server's instance of the extension, if this process runs one."""
    from jupyter_server.serverapp import ServerApp

    if not ServerApp.initialized():
        return None
    apps = ServerApp.instance().extension_manager.extension_apps.get(EXTENSION, set())
    return next((app for app in apps if isinstance(app, kind)), None)
