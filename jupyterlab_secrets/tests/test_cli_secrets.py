"""``jupyter secrets run/list/get/set/delete/import``, run as a user would, in a subprocess.

Each test gets its own Jupyter data and config directories, so the commands use the default
store and key file there, as they would on a laptop. They run in this process, except
``run``, which replaces its process with the command.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyterlab_secrets.crypto import encode_key, generate_key

from .conftest import Outcome, RunCli

VALUE = "s3cr3t-Välue\nwith a second line and $(echo no) `quotes`"


@pytest.fixture
def cli(jp_environ: Any, run_cli: RunCli) -> RunCli:
    """``jupyter secrets``, in this process, with this test's own Jupyter data and config
    directories (``jp_environ``)."""
    return run_cli


@pytest.fixture
def run_process(jp_environ: Any) -> Callable[..., Outcome]:
    """Run ``jupyter secrets ARGS`` in a subprocess: ``run`` replaces its process."""

    def run(*args: str, extra_env: dict[str, str] | None = None) -> Outcome:
        env = dict(os.environ)
        env.pop("JUPYTERLAB_SECRETS_KEY", None)
        env.update(extra_env or {})
        result = subprocess.run(
            [sys.executable, "-m", "jupyterlab_secrets", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        return Outcome(result.returncode, result.stdout, result.stderr)

    return run


def test_set_get_list_and_delete_round_trip_a_value_byte_for_byte(
    cli: Callable[..., Outcome],
) -> None:
    # Given a secret set from standard input (its one trailing newline is dropped)
    created = cli("set", "my-api-key", stdin=VALUE + "\n")
    assert created.returncode == 0, created.output
    assert "Created my-api-key (version 1)" in created.stdout

    # When it is read back, listed and updated
    got = cli("get", "my-api-key")
    listed = cli("list")
    updated = cli("set", "my-api-key", stdin="another value\n")

    # Then get prints exactly the value, and nothing else prints it
    assert got.returncode == 0 and got.stdout == VALUE
    assert listed.returncode == 0 and listed.stdout.startswith("my-api-key\tv1\t")
    assert "Updated my-api-key (version 2)" in updated.stdout
    for outcome in (created, listed, updated):
        assert "s3cr3t" not in outcome.output and "another value" not in outcome.output

    # And delete removes it
    deleted = cli("delete", "my-api-key")
    assert deleted.returncode == 0
    assert 'Secret "my-api-key" has been deleted.' in deleted.stdout
    missing = cli("get", "my-api-key")
    assert missing.returncode == 1 and "no secret named 'my-api-key'" in missing.stderr
    assert cli("list").stdout == ""


@pytest.mark.parametrize("name", ["PATH", "Path", "BASH_ENV", "PYTHONWARNINGS", "1abc", "ab-"])
def test_set_refuses_a_name_the_rules_refuse_and_changes_nothing(
    cli: Callable[..., Outcome], name: str
) -> None:
    # Given a store holding one secret
    assert cli("set", "kept-one", stdin="kept-value").returncode == 0

    # When a refused name is set
    refused = cli("set", name, stdin="the-refused-value")

    # Then it fails with the rule's reason, without the value, and the store is unchanged
    assert refused.returncode == 1
    assert "Name" in refused.stderr and "the-refused-value" not in refused.output
    assert [line.split("\t")[0] for line in cli("list").stdout.splitlines()] == ["kept-one"]
    assert cli("get", "kept-one").stdout == "kept-value"


ENV_FILE = """\
API_TOKEN=token-value-1
# a comment
export MULTI="line one
line two"
this is not an assignment
home=value-home
NOVALUE
bad-="value-bad"
EMPTY=
API_TOKEN=token-value-2
"""


def test_import_reports_each_line_refused_with_its_reason_and_never_a_value(
    cli: Callable[..., Outcome],
    tmp_path: Path,
) -> None:
    # Given a .env file with good and bad lines, and one secret that exists already
    assert cli("set", "MULTI", stdin="old").returncode == 0
    env_file = tmp_path / "project.env"
    env_file.write_text(ENV_FILE)

    # When it is imported
    imported = cli("import", str(env_file))

    # Then the good lines are created or updated, each refusal has its line and reason
    assert imported.returncode == 1, imported.output
    assert "updated: MULTI (line 3)" in imported.stdout
    assert "created: API_TOKEN (line 10)" in imported.stdout
    assert "refused: line 1: API_TOKEN: given again on line 10" in imported.stdout
    assert "refused: line 5: not a NAME=value line" in imported.stdout
    assert "refused: line 6: home: Name home is reserved" in imported.stdout
    assert "refused: line 7: NOVALUE: no value" in imported.stdout
    assert "refused: line 8: bad-: Name must end with a Latin letter or a digit." in imported.stdout
    assert "refused: line 9: EMPTY: Content must not be empty." in imported.stdout
    assert "1 created, 1 updated, 0 unchanged, 6 refused." in imported.stdout
    for value in ("token-value", "line one", "value-home", "value-bad"):
        assert value not in imported.output
    assert cli("get", "MULTI").stdout == "line one\nline two"
    assert cli("get", "API_TOKEN").stdout == "token-value-2"

    # And importing again changes nothing
    again = cli("import", str(env_file))
    assert "0 created, 0 updated, 2 unchanged, 6 refused." in again.stdout


def test_import_dry_run_and_an_unreadable_file_change_nothing(
    cli: Callable[..., Outcome], tmp_path: Path
) -> None:
    # Given a store with one secret
    assert cli("set", "KEPT", stdin="kept-value").returncode == 0
    good = tmp_path / "good.env"
    good.write_text("NEW_ONE=new-value\nKEPT=changed-value\n")
    broken = tmp_path / "broken.env"
    broken.write_bytes(b"FIRST=fine\nSECOND=\xff\xfe not utf-8\n")

    # When a dry run and a file that is not UTF-8 are imported
    dry = cli("import", "--dry-run", str(good))
    unreadable = cli("import", str(broken))
    absent = cli("import", str(tmp_path / "absent.env"))

    # Then the dry run reports what it would do, and nothing changes in any case
    assert dry.returncode == 0
    assert "created: NEW_ONE (line 1)" in dry.stdout and "updated: KEPT (line 2)" in dry.stdout
    assert "(dry run: nothing was changed)" in dry.stdout
    assert unreadable.returncode == 1 and "not UTF-8" in unreadable.stderr
    assert "Nothing was imported." in unreadable.stderr
    assert absent.returncode == 1 and "Nothing was imported." in absent.stderr
    assert [line.split("\t")[0] for line in cli("list").stdout.splitlines()] == ["KEPT"]
    assert cli("get", "KEPT").stdout == "kept-value"


def test_run_gives_the_command_the_project_environment_and_its_exit_status(
    cli: Callable[..., Outcome], run_process: Callable[..., Outcome]
) -> None:
    # Given a secret
    assert cli("set", "my-api-key", stdin=VALUE).returncode == 0

    # When commands run with the project's environment
    printed = run_process(
        "run",
        "--",
        sys.executable,
        "-c",
        "import os, sys; sys.stdout.write(os.environ['my-api-key'])",
    )
    failed = run_process("run", "--", sys.executable, "-c", "raise SystemExit(7)")
    missing = run_process("run", "--", "no-such-command-here")

    # Then the command sees the value, and its exit status is the command's
    assert printed.returncode == 0 and printed.stdout == VALUE
    assert failed.returncode == 7
    assert missing.returncode == 127 and "no-such-command-here" in missing.stderr


def test_run_does_not_pass_the_master_key_or_the_openbao_token_on_to_the_command(
    cli: Callable[..., Outcome],
    run_process: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a store whose key is given in JUPYTERLAB_SECRETS_KEY, with one secret, and OpenBao
    # tokens in the environment too
    key = encode_key(generate_key())
    credentials = {
        "JUPYTERLAB_SECRETS_KEY": key,
        "BAO_TOKEN": "s.bao-token-never-passed-on",
        "VAULT_TOKEN": "s.vault-token-never-passed-on",
    }
    monkeypatch.setenv("JUPYTERLAB_SECRETS_KEY", key)
    assert cli("set", "my-api-key", stdin=VALUE).returncode == 0

    # When a command runs under `jupyter secrets run` with those variables set
    script = "import json, os, sys; sys.stdout.write(json.dumps(dict(os.environ)))"
    printed = run_process("run", "--", sys.executable, "-c", script, extra_env=credentials)

    # Then it gets the project's secret (so the key was read), but neither the variables nor
    # their values under any name
    assert printed.returncode == 0, printed.stderr
    environment = json.loads(printed.stdout)
    assert environment["my-api-key"] == VALUE
    for name, value in credentials.items():
        assert name not in environment
        assert not any(value in seen for seen in environment.values())
        assert value not in printed.stderr


def test_a_command_under_run_and_its_children_find_no_credential_in_proc(
    cli: Callable[..., Outcome],
    run_process: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a store whose key is given in JUPYTERLAB_SECRETS_KEY, and OpenBao tokens too
    key = encode_key(generate_key())
    credentials = {
        "JUPYTERLAB_SECRETS_KEY": key,
        "BAO_TOKEN": "s.bao-token-never-in-proc",
        "VAULT_TOKEN": "s.vault-token-never-in-proc",
    }
    monkeypatch.setenv("JUPYTERLAB_SECRETS_KEY", key)
    assert cli("set", "my-api-key", stdin=VALUE).returncode == 0

    # When a command under `jupyter secrets run` prints its own /proc files, and a child of it
    # prints its parent's (as a kernel started by papermill would)
    child = (
        "import os, sys; p = os.getppid(); sys.stdout.write("
        "(open(f'/proc/{p}/environ', 'rb').read() + open(f'/proc/{p}/cmdline', 'rb').read())"
        ".hex())"
    )
    script = (
        "import subprocess, sys; "
        "own = open('/proc/self/environ', 'rb').read() + open('/proc/self/cmdline', 'rb').read(); "
        f"theirs = subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, "
        "text=True).stdout; "
        "sys.stdout.write(own.hex() + ' ' + theirs)"
    )
    printed = run_process("run", "--", sys.executable, "-c", script, extra_env=credentials)

    # Then both read the secret the command was given, and no credential
    assert printed.returncode == 0, printed.stderr
    own, theirs = (bytes.fromhex(part) for part in printed.stdout.split(" "))
    for seen in (own, theirs):
        assert f"my-api-key={VALUE}".encode() in seen
        found = [name for name, value in credentials.items() if value.encode() in seen]
        assert found == []


def test_a_notebook_run_by_nbconvert_under_run_reads_the_secret(
    cli: Callable[..., Outcome], run_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    # Given a secret and a notebook that reads it (printing only its digest)
    assert cli("set", "nb-secret", stdin=VALUE).returncode == 0
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import hashlib, os\n"
            "print(hashlib.sha256(os.environ['nb-secret'].encode()).hexdigest())"
        )
    )
    source = tmp_path / "reads-secret.ipynb"
    nbformat.write(notebook, source)

    # When nbconvert executes it under `jupyter secrets run`
    executed = run_process(
        "run",
        "--",
        sys.executable,
        "-m",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        "--output",
        "executed.ipynb",
        str(source),
    )

    # Then the first cell saw the value, and the saved notebook does not hold it
    assert executed.returncode == 0, executed.output
    saved = (tmp_path / "executed.ipynb").read_text()
    assert hashlib.sha256(VALUE.encode()).hexdigest() in saved
    assert "s3cr3t" not in saved


def test_every_command_is_recorded_in_the_audit_log_with_the_login_name_and_no_value(
    cli: Callable[..., Outcome], run_process: Callable[..., Outcome], tmp_path: Path
) -> None:
    import getpass

    # Given commands of each kind
    assert cli("set", "AUDITED", stdin="audited-value-1").returncode == 0
    assert cli("set", "AUDITED", stdin="audited-value-2").returncode == 0
    assert cli("get", "AUDITED").returncode == 0
    env_file = tmp_path / "audited.env"
    env_file.write_text("IMPORTED=audited-value-3\n")
    assert cli("import", str(env_file)).returncode == 0
    ran = run_process("run", "--", sys.executable, "-c", "pass")
    assert ran.returncode == 0, ran.output
    assert cli("delete", "IMPORTED").returncode == 0

    # When the log is printed
    printed = cli("audit", "--json")
    verified = cli("audit", "--verify")

    # Then each command is there, by the login name, newest first, and the chain holds
    assert printed.returncode == 0, printed.output
    events = json.loads(printed.stdout)["events"]
    assert [(e["action"], e["secret_name"]) for e in reversed(events)] == [
        ("create", "AUDITED"),
        ("update", "AUDITED"),
        ("reveal", "AUDITED"),
        ("create", "IMPORTED"),
        ("import", None),
        ("run", None),
        ("delete", "IMPORTED"),
    ]
    assert {e["user"] for e in events} == {getpass.getuser()}
    assert events[1]["detail"]["names"] == ["AUDITED", "IMPORTED"]
    assert events[2]["detail"]["created"] == 1 and events[2]["detail"]["file"] == "audited.env"
    assert verified.returncode == 0 and "7 events" in verified.stdout
    for outcome in (printed, verified):
        assert "audited-value" not in outcome.output
