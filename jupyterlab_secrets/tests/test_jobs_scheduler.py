"""Secrets in the jobs of jupyter-scheduler, through its REST API, on a real server.

A real ``jupyter server`` runs jupyter-scheduler with `SecretsExecutionManager` and this
extension, on a store whose master key is given in the environment (which the server takes
out of it, so the job's own process never has it). Jobs are created, run in their own
processes, and their output files read as a user downloads them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import time
from collections.abc import Iterator
from typing import Any

import httpx
import nbformat
import pytest

from jupyterlab_secrets.crypto import encode_key, generate_key

from .conftest import require_or_skip
from .live import LiveServer

VALUE = "job-Välue-7f3a <b>&\nsecond line of the job's secret"
PARAMETER_VALUE = "param-value-0123456789"
HASH = hashlib.sha256(VALUE.encode()).hexdigest()
MANAGER = "jupyterlab_secrets.jobs.scheduler.SecretsExecutionManager"

pytestmark = pytest.mark.timeout(600)


def notebook(*sources: str) -> str:
    """A Python notebook with these code cells."""
    document = nbformat.v4.new_notebook()
    document.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    document.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    return nbformat.writes(document)


READS_THE_SECRET = notebook(
    "import base64, hashlib, os\n"
    "value = os.environ['job-token']\n"
    "print(hashlib.sha256(value.encode()).hexdigest())",
    "print(value)",
    "print(base64.b64encode(value.encode()).decode())",
    "print(base64.urlsafe_b64encode(b'>>' + value.encode()).decode())",
    "value",
    "print(given)",
)

FAILS_WITH_THE_SECRET = notebook(
    "import os\nraise ValueError('bad token ' + os.environ['job-token'])",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server with jupyter-scheduler and the secrets, with two secrets stored."""
    if importlib.util.find_spec("jupyter_scheduler") is None:
        require_or_skip("jupyter-scheduler is not installed (pip install -e '.[test]')")
    workdir = tmp_path_factory.mktemp("scheduler")
    # The scheduler keeps its database and staging area in the Jupyter data directory.
    (workdir / "data").mkdir()
    live = LiveServer(
        workdir,
        f"sqlite:///{workdir / 'secrets.db'}",
        encode_key(generate_key()),
        extra_config={
            "ServerApp": {
                "jpserver_extensions": {"jupyter_scheduler": True},
                # jupyter-scheduler downloads a job's files relative to the server's working
                # directory, and finds them relative to its root: the same one here.
                "root_dir": str(workdir),
            },
            "Scheduler": {"execution_manager_class": MANAGER},
        },
    )
    live.start()
    try:
        with httpx.Client(headers=live.headers, timeout=30) as client:
            for name, value in (("job-token", VALUE), ("param-secret", PARAMETER_VALUE)):
                reply = client.post(live.url + "secrets", json={"name": name, "value": value})
                assert reply.status_code == 201, reply.text
        yield live
    finally:
        live.stop()


def root_url(server: LiveServer) -> str:
    return f"http://127.0.0.1:{server.port}/"


def run_job(server: LiveServer, name: str, source: str, **options: Any) -> dict[str, Any]:
    """Create a job through the scheduler's REST API, wait for its end, download its files,
    and answer its description."""
    (server.workdir / f"{name}.ipynb").write_text(source)
    base = root_url(server) + "scheduler/jobs"
    with httpx.Client(headers=server.headers, timeout=30) as client:
        created = client.post(
            base,
            json={
                "name": name,
                "input_uri": f"{name}.ipynb",
                "runtime_environment_name": "",
                "output_formats": ["ipynb", "html"],
                **options,
            },
        )
        assert created.status_code == 200, created.text
        job_id = created.json()["job_id"]
        deadline = time.monotonic() + 300
        while True:
            job = client.get(f"{base}/{job_id}").json()
            # (A job reads STOPPED until its process starts: jupyter-scheduler's default.)
            if job["status"] in ("COMPLETED", "FAILED"):
                break
            assert time.monotonic() < deadline, f"the job did not end: {job}"
            time.sleep(0.5)
        downloaded = client.get(f"{base}/{job_id}/download_files")
        assert downloaded.status_code == 204, downloaded.text
        # The files are copied into the server's root by a process of their own. (Not
        # `downloaded`: jupyter-scheduler counts the input among the files a job wrote.)
        while not all(entry["file_path"] for entry in job["job_files"]):
            assert time.monotonic() < deadline, f"the job's files were not downloaded: {job}"
            time.sleep(0.2)
            job = client.get(f"{base}/{job_id}").json()
    return job


def output_files(server: LiveServer, job: dict[str, Any]) -> dict[str, str]:
    """The job's output files, by format, as downloaded into the server's root."""
    return {
        entry["file_format"]: (server.workdir / entry["file_path"]).read_text()
        for entry in job["job_files"]
        if entry["file_format"] != "input"
    }


def assert_no_value(text: str) -> None:
    """Neither value, nor a part or an encoded form of one, is in ``text``."""
    for leak in (
        VALUE,
        "job-V",
        "second line of the job",
        base64.b64encode(VALUE.encode()).decode(),
        base64.urlsafe_b64encode(b">>" + VALUE.encode()).decode()[4:],
        PARAMETER_VALUE,
    ):
        assert leak not in text


def test_a_job_gets_the_secrets_and_its_output_files_hold_no_value(server: LiveServer) -> None:
    # Given a notebook that reads a secret, prints it in several forms, and a parameter
    # that holds another secret's value

    # When it runs as a job of jupyter-scheduler
    job = run_job(
        server,
        "reads-secret",
        READS_THE_SECRET,
        parameters={"given": repr(PARAMETER_VALUE)},
    )

    # Then the job saw the value (its hash is printed), and no output file holds a value or
    # a form of one: each is replaced with the secret's placeholder
    assert job["status"] == "COMPLETED", job
    files = output_files(server, job)
    assert set(files) == {"ipynb", "html"}
    for text in files.values():
        assert HASH in text
        assert_no_value(text)
        assert "[REDACTED:job-token]" in text
        assert "[REDACTED:param-secret]" in text
    executed = nbformat.reads(files["ipynb"], as_version=4)
    printed = [o.get("text", "") for cell in executed.cells for o in cell.get("outputs", [])]
    assert "[REDACTED:job-token]\n" in printed

    # And the audit log records the job's read of the environment as a run, names only
    with httpx.Client(headers=server.headers, timeout=30) as client:
        events = client.get(server.url + "audit").json()["events"]
    runs = [event for event in events if event["action"] == "run"]
    assert runs and runs[0]["detail"]["names"] == ["job-token", "param-secret"]
    assert_no_value(str(events))


def test_a_failed_job_keeps_and_logs_its_error_without_the_value(server: LiveServer) -> None:
    # Given a notebook whose cell fails with the secret's value in its error

    # When it runs as a job
    job = run_job(server, "fails-with-secret", FAILS_WITH_THE_SECRET)

    # Then the job failed, and neither its message, its output files nor the server's log
    # hold the value; the message shows the placeholder where the value was
    assert job["status"] == "FAILED", job
    assert "bad token [REDACTED:job-token]" in job["status_message"]
    assert_no_value(job["status_message"])
    for text in output_files(server, job).values():
        assert "bad token [REDACTED:job-token]" in text
        assert_no_value(text)
    log = (server.workdir / f"server-{server.starts}.log").read_text()
    assert "[REDACTED:job-token]" in log
    assert_no_value(log)
