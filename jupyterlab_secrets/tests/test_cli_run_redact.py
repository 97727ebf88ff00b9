"""``jupyter secrets run --redact`` and ``--redact-file``: real papermill, real kernels, and
commands run in a subprocess (``run`` waits for its command, then scrubs its files).

Each test gets its own Jupyter data and config directories, so the commands use the default
store and key file there, as they would on a laptop.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import pytest

from .conftest import Outcome, RunCli, require_or_skip

VALUE = "pm-Välue-5e1d <b>&\nsecond line of the papermill secret"
PARAMETER_VALUE = "param-value-9876543210"
HASH = hashlib.sha256(VALUE.encode()).hexdigest()

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def cli(jp_environ: Any, run_cli: RunCli) -> RunCli:
    """``jupyter secrets``, in this process, with this test's own Jupyter directories, and
    the two secrets the tests read."""
    for name, value in (("pm-token", VALUE), ("param-secret", PARAMETER_VALUE)):
        assert run_cli("set", name, stdin=value).returncode == 0
    return run_cli


def command(*args: str) -> list[str]:
    """``jupyter secrets ARGS`` as a subprocess runs it."""
    return [sys.executable, "-m", "jupyterlab_secrets", *args]


def environment() -> dict[str, str]:
    """This test's environment (its Jupyter directories) without a master key."""
    env = dict(os.environ)
    env.pop("JUPYTERLAB_SECRETS_KEY", None)
    return env


@pytest.fixture
def secrets_run(cli: RunCli, tmp_path: Path) -> Callable[..., Outcome]:
    """Run ``jupyter secrets run ARGS`` in a subprocess, in ``tmp_path``, with no input."""

    def run(*args: str) -> Outcome:
        result = subprocess.run(
            command("run", *args),
            env=environment(),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,  # papermill reads a piped input as the notebook
            capture_output=True,
            text=True,
            timeout=240,
        )
        return Outcome(result.returncode, result.stdout, result.stderr)

    return run


@pytest.fixture(autouse=True)
def _papermill() -> None:
    try:
        import papermill  # noqa: F401
    except ImportError:
        require_or_skip("papermill is not installed (pip install -e '.[test]')")


def write_notebook(path: Path, *sources: str, parameters: str | None = None) -> Path:
    """A Python notebook with these code cells, after a cell tagged ``parameters``."""
    document = nbformat.v4.new_notebook()
    document.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        document.cells.append(cell)
    document.cells.extend(nbformat.v4.new_code_cell(source) for source in sources)
    nbformat.write(document, path)
    return path


def assert_no_value(text: str) -> None:
    """Neither value, nor a part or an encoded form of one, is in ``text``."""
    for leak in (
        VALUE,
        "pm-V",
        "second line of the papermill",
        base64.b64encode(VALUE.encode()).decode(),
        quote(VALUE),
        json.dumps(VALUE),
        PARAMETER_VALUE,
    ):
        assert leak not in text


def test_redact_scrubs_the_notebook_and_the_stdout_file_papermill_writes(
    secrets_run: Callable[..., Outcome], tmp_path: Path
) -> None:
    # Given a notebook that reads a secret and prints it in several forms, run by papermill
    # with another secret's value given as a parameter, and an output path that papermill
    # formats with a parameter
    write_notebook(
        tmp_path / "report.ipynb",
        "import base64, hashlib, os\n"
        "value = os.environ['pm-token']\n"
        "print(hashlib.sha256(value.encode()).hexdigest())",
        "print(value)",
        "print(base64.b64encode(value.encode()).decode())",
        "value",
        "print(given)",
        parameters="given = ''\nrun = 0",
    )

    # When papermill runs it under `jupyter secrets run --redact`
    ran = secrets_run(
        "--redact",
        "--",
        sys.executable,
        "-m",
        "papermill",
        "report.ipynb",
        "out-{run}.ipynb",
        "-p",
        "run",
        "7",
        "-r",
        "given",
        PARAMETER_VALUE,
        "--stdout-file",
        "stdout.txt",
    )

    # Then the notebook ran with the value (its hash is printed), and neither the notebook
    # nor the stdout file holds a value or a form of one: each shows the placeholder
    assert ran.returncode == 0, ran.output
    assert "Scrubbed the secrets' values from out-7.ipynb." in ran.stderr
    saved = (tmp_path / "out-7.ipynb").read_text()
    stdout = (tmp_path / "stdout.txt").read_text()
    for text in (saved, stdout):
        assert HASH in text
        assert "[REDACTED:pm-token]" in text and "[REDACTED:param-secret]" in text
        assert_no_value(text)
    executed = nbformat.reads(saved, as_version=4)
    assert executed.metadata.papermill.parameters.given == "[REDACTED:param-secret]"
    assert executed.metadata.papermill.parameters.run == 7
    assert nbformat.validate(executed) is None


def test_redact_scrubs_a_failed_run_and_keeps_papermill_s_status(
    secrets_run: Callable[..., Outcome], tmp_path: Path
) -> None:
    # Given a notebook whose cell fails with the secret's value in its error
    write_notebook(
        tmp_path / "fails.ipynb",
        "import os\nraise ValueError('bad token ' + os.environ['pm-token'])",
    )
    papermill = str(Path(sys.executable).with_name("papermill"))

    # When the papermill command runs it under `jupyter secrets run --redact`
    ran = secrets_run("--redact", "--", papermill, "fails.ipynb", "failed.ipynb")

    # Then the status is papermill's, and the notebook it wrote shows the error scrubbed
    assert ran.returncode == 1, ran.output
    saved = (tmp_path / "failed.ipynb").read_text()
    assert "bad token [REDACTED:pm-token]" in saved
    assert_no_value(saved)


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (
            [sys.executable, "-c", "open('ran.txt', 'w')"],
            "--redact finds the files of papermill only",
        ),
        (
            [sys.executable, "-m", "papermill", "in.ipynb", "out.ipynb", "-p", PARAMETER_VALUE],
            "--redact cannot read papermill's arguments",
        ),
    ],
)
def test_redact_refuses_what_it_cannot_scrub_and_runs_nothing(
    secrets_run: Callable[..., Outcome],
    cli: RunCli,
    tmp_path: Path,
    arguments: list[str],
    reason: str,
) -> None:
    # Given a command whose files --redact cannot find or scrub
    write_notebook(tmp_path / "in.ipynb", "open('ran.txt', 'w')")

    # When it is run with --redact
    refused = secrets_run("--redact", "--", *arguments)

    # Then it is refused with the reason, without quoting an argument, and nothing ran: no
    # file written, no environment read (the audit log records no run)
    assert refused.returncode == 2, refused.output
    assert reason in refused.stderr and "Nothing was run." in refused.stderr
    assert PARAMETER_VALUE not in refused.output
    assert not (tmp_path / "ran.txt").exists() and not (tmp_path / "out.ipynb").exists()
    events = json.loads(cli("audit", "--json").stdout)["events"]
    assert "run" not in [event["action"] for event in events]


OUTPUTS_OF = """
import json, sys
from jupyterlab_secrets.errors import SecretsError
from jupyterlab_secrets.jobs.papermill_outputs import papermill_outputs
found = []
for arguments in json.loads(sys.argv[1]):
    try:
        found.append(papermill_outputs(arguments))
    except SecretsError as error:
        found.append(error.message)
print(json.dumps(found))
"""


def test_papermill_outputs_are_read_with_papermill_s_own_parser(tmp_path: Path) -> None:
    # Given papermill arguments of each kind, and a parameters file
    (tmp_path / "params.yaml").write_text("day: monday\n")
    cases = {
        "plain": ["in.ipynb", "out.ipynb", "--log-output", "-k", "python3"],
        "formatted": ["in.ipynb", "out-{run}-{day}-{kind}.ipynb", "-p", "run", "7"]
        + ["-f", "params.yaml", "-y", "kind: daily", "-r", "run", "8"],
        "streams": ["in.ipynb", "o.ipynb", "--stdout-file", "so.txt", "--stderr-file", "se.txt"],
        "help": ["in.ipynb", "--help-notebook"],
        "stdout": ["in.ipynb", "-"],
        "remote": ["in.ipynb", "s3://bucket/out.ipynb"],
        "stream to stdout": ["in.ipynb", "o.ipynb", "--stderr-file", "-"],
        "unreadable": ["in.ipynb", "o.ipynb", "--no-such-option"],
        "unformattable": ["in.ipynb", "out-{run:03d}.ipynb", "-p", "run", "7"],
        "missing parameter": ["in.ipynb", "out-{missing}.ipynb"],
    }

    # When the files each writes are found, in a process with no piped input (as papermill
    # reads a piped input as the notebook)
    result = subprocess.run(
        [sys.executable, "-c", OUTPUTS_OF, json.dumps(list(cases.values()))],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = dict(zip(cases, json.loads(result.stdout), strict=True))

    # Then each is what papermill writes, or the reason it cannot be scrubbed
    assert found["plain"] == ["out.ipynb"]
    assert found["formatted"] == ["out-8-monday-daily.ipynb"]
    assert found["streams"] == ["o.ipynb", "so.txt", "se.txt"]
    assert found["help"] == []
    assert "writes the notebook to standard output" in found["stdout"]
    assert "local files only, and papermill writes to s3://" in found["remote"]
    assert "writes --stderr-file to standard output" in found["stream to stdout"]
    assert "cannot read papermill's arguments" in found["unreadable"]
    for case in ("unformattable", "missing parameter"):
        assert "cannot format papermill's OUTPUT_PATH" in found[case]
    assert not (tmp_path / "so.txt").exists()  # found, not opened


WRITES_FILES = """
import json, os, sys
from urllib.parse import quote
value = os.environ['pm-token']
with open('log.txt', 'w') as f:
    f.write('token=' + value + ' url=' + quote(value) + '\\n')
with open('data.json', 'w') as f:
    json.dump({'token': value}, f)
with open('written', 'w'):
    pass
sys.exit(int(sys.argv[1]))
"""


def test_redact_file_scrubs_the_named_files_of_any_command(
    secrets_run: Callable[..., Outcome], tmp_path: Path
) -> None:
    # Given a command that writes a secret's value in plain, URL-encoded and JSON forms to
    # two files, and exits with 3

    # When it runs under `jupyter secrets run` with those files (and one it never writes)
    ran = secrets_run(
        "--redact-file",
        "log.txt",
        "--redact-file",
        "data.json",
        "--redact-file",
        "never-written.txt",
        "--",
        sys.executable,
        "-c",
        WRITES_FILES,
        "3",
    )

    # Then its status is kept, both files are scrubbed, and the missing one is reported
    assert ran.returncode == 3, ran.output
    log = (tmp_path / "log.txt").read_text()
    assert log == "token=[REDACTED:pm-token] url=[REDACTED:pm-token]\n"
    assert json.loads((tmp_path / "data.json").read_text()) == {"token": "[REDACTED:pm-token]"}
    assert "never-written.txt was not written: nothing to scrub there." in ran.stderr


def test_a_sigterm_reaches_the_command_and_its_files_are_scrubbed_all_the_same(
    cli: RunCli, tmp_path: Path
) -> None:
    # Given a command under `jupyter secrets run --redact-file` that writes a value to a
    # file, then waits
    script = WRITES_FILES.replace("sys.exit(int(sys.argv[1]))", "import time; time.sleep(120)")
    process = subprocess.Popen(
        command("run", "--redact-file", "log.txt", "--", sys.executable, "-c", script),
        env=environment(),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "written").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the command did not write its file"
            time.sleep(0.1)

        # When `jupyter secrets run` gets SIGTERM
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    # Then the command was ended by it (the status a shell gives), and the file is scrubbed
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert (tmp_path / "log.txt").read_text() == (
        "token=[REDACTED:pm-token] url=[REDACTED:pm-token]\n"
    )
