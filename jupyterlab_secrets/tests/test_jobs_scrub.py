"""Scrubbing written files (`jobs.scrub`), and a scheduler job that cannot get the secrets."""

from __future__ import annotations

import base64
import importlib.util
import os
import stat
from pathlib import Path

import nbformat

from jupyterlab_secrets.jobs import scrub_file, scrub_notebook
from jupyterlab_secrets.redaction import Matcher

from .conftest import require_or_skip

VALUE = "scrub-Välue\nwith a second line"
MATCHER = Matcher({"api-token": VALUE, "short": "abc"})


def notebook_with_the_value() -> nbformat.NotebookNode:
    """A notebook holding the value in an output, a source, metadata and an attachment."""
    cell = nbformat.v4.new_code_cell("token = 'placeholder'")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=f"got {VALUE}\nabc\n"),
        nbformat.v4.new_output(
            "execute_result", data={"text/plain": repr(VALUE)}, execution_count=1
        ),
    ]
    markdown = nbformat.v4.new_markdown_cell("see attachment")
    markdown.attachments = {"note.txt": {"text/plain": base64.b64encode(VALUE.encode()).decode()}}
    document = nbformat.v4.new_notebook(cells=[cell, markdown])
    document.metadata["papermill"] = {"parameters": {"token": VALUE}}
    return document


def test_a_notebook_file_is_scrubbed_everywhere_and_keeps_its_mode(tmp_path: Path) -> None:
    # Given a notebook file (multi-line strings stored as lists of lines) holding a value
    # in an output, its repr, metadata and a base64 attachment, with mode 0600
    path = tmp_path / "out.ipynb"
    nbformat.write(notebook_with_the_value(), path)
    assert '"second line' not in path.read_text()  # split into lines on disk
    os.chmod(path, 0o600)

    # When it is scrubbed
    changed = scrub_file(path, MATCHER)

    # Then each place shows the placeholder, the short value stays (too short to hide),
    # the notebook is still valid, and its mode is kept
    assert changed
    text = path.read_text()
    for leak in ("scrub-V", "second line", base64.b64encode(VALUE.encode()).decode()):
        assert leak not in text
    scrubbed = nbformat.read(path, as_version=4)
    nbformat.validate(scrubbed)
    outputs = scrubbed.cells[0].outputs
    assert outputs[0].text == "got [REDACTED:api-token]\nabc\n"
    assert outputs[1].data["text/plain"] == "'[REDACTED:api-token]'"
    assert scrubbed.metadata.papermill.parameters.token == "[REDACTED:api-token]"
    # (base64 keeps the edge characters that also hold bits of the bytes around the value)
    attachment = scrubbed.cells[1].attachments["note.txt"]["text/plain"]
    assert attachment.startswith("[REDACTED:api-token]") and len(attachment) <= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["out.ipynb"]  # no temporary file left


def test_a_file_without_a_value_is_left_as_it_is(tmp_path: Path) -> None:
    # Given a notebook and a binary file that hold no value
    document = tmp_path / "clean.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), document)
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"\xff\xfe\x00 no value here")
    before = {path: (path.stat().st_ino, path.read_bytes()) for path in (document, binary)}

    # When they are scrubbed
    changed = [scrub_file(path, MATCHER) for path in (document, binary)]

    # Then neither is rewritten
    assert changed == [False, False]
    assert {path: (path.stat().st_ino, path.read_bytes()) for path in before} == before


def test_a_file_that_is_not_a_notebook_is_scrubbed_as_bytes(tmp_path: Path) -> None:
    # Given a text file (not UTF-8 everywhere) and a symbolic link to it
    target = tmp_path / "log.txt"
    target.write_bytes(b"\xff value: " + VALUE.encode() + b" end\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)

    # When it is scrubbed through the link
    assert scrub_file(link, MATCHER)

    # Then the file it points to is scrubbed, and the link is still a link
    assert target.read_bytes() == b"\xff value: [REDACTED:api-token] end\n"
    assert link.is_symlink()


def test_scrub_notebook_answers_the_same_node_when_it_holds_no_value() -> None:
    clean = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    assert scrub_notebook(clean, MATCHER) is clean
    scrubbed = scrub_notebook(notebook_with_the_value(), MATCHER)
    assert isinstance(scrubbed, nbformat.NotebookNode)
    assert scrubbed.metadata.papermill.parameters.token == "[REDACTED:api-token]"


def test_a_job_outside_a_server_with_the_extension_fails_and_says_why(tmp_path: Path) -> None:
    # Given a job in jupyter-scheduler's own database, whose execution manager is created
    # where no server runs jupyterlab_secrets
    if importlib.util.find_spec("jupyter_scheduler") is None:
        require_or_skip("jupyter-scheduler is not installed (pip install -e '.[test]')")
    from jupyter_scheduler.orm import Job, create_session, create_tables

    from jupyterlab_secrets.jobs.scheduler import SecretsExecutionManager

    db_url = f"sqlite:///{tmp_path / 'scheduler.sqlite'}"
    create_tables(db_url)
    source = tmp_path / "job.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), source)
    with create_session(db_url)() as session:
        job = Job(name="job", input_filename="job.ipynb", runtime_environment_name="")
        session.add(job)
        session.commit()
        job_id = job.job_id
    manager = SecretsExecutionManager(
        job_id=job_id,
        root_dir=str(tmp_path),
        db_url=db_url,
        staging_paths={"input": str(source), "ipynb": str(tmp_path / "out.ipynb")},
    )

    # When it runs
    manager.process()

    # Then the job failed before running anything, with the reason
    with create_session(db_url)() as session:
        stored = session.get(Job, job_id)
        assert stored.status == "FAILED"
        assert stored.status_message == (
            "The job cannot get the project's secrets: jupyterlab_secrets is not enabled on "
            "the Jupyter server that runs this scheduler."
        )
    assert not (tmp_path / "out.ipynb").exists()
