"""``jupyter secrets scan PATH...``, run as a user (or a pre-commit hook) would.

Each test gets its own Jupyter data and config directories (``jp_environ``), so the command
uses the default store there. It runs in this process, except under pre-commit, which runs
it as the hook a project adds in two lines of its ``.pre-commit-config.yaml``.
"""

from __future__ import annotations

import base64
import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nbformat
import pytest

from .conftest import RunCli

ROOT = Path(__file__).resolve().parents[2]

VALUE = 'p@ss "wörd" <&> with\na newline-0123'
OTHER = "sk-live-0123456789abcdef"
SHORT = "1234567"  # shorter than redact_min_length: not looked for


@pytest.fixture
def cli(jp_environ: Any, run_cli: RunCli) -> RunCli:
    """``jupyter secrets`` with this test's own Jupyter directories, holding three secrets."""
    for name, value in (("db-password", VALUE), ("api-token", OTHER), ("pin-code", SHORT)):
        assert run_cli("set", name, stdin=value).returncode == 0
    return run_cli


def assert_no_value(text: str) -> None:
    for value in (VALUE, OTHER, SHORT, json.dumps(VALUE)[1:-1], quote(VALUE, safe="")):
        assert value not in text


def notebook(path: Path) -> None:
    """A notebook holding the value in a cell's source and HTML-escaped in its output (each
    JSON-escaped in the file), and URL-encoded inside a PNG attachment."""
    png = b"\x89PNG\r\n\x1a\n" + b"tEXtComment\0" + quote(VALUE).encode() + b"\0IEND"
    code = nbformat.v4.new_code_cell(
        "clean = 1\nconnect(password=" + json.dumps(VALUE) + ")\n",
        outputs=[
            nbformat.v4.new_output(
                "display_data", data={"text/html": "<td>" + html.escape(VALUE) + "</td>"}
            )
        ],
    )
    markdown = nbformat.v4.new_markdown_cell("![plot](attachment:plot.png)")
    markdown["attachments"] = {"plot.png": {"image/png": base64.b64encode(png).decode()}}
    nbformat.write(nbformat.v4.new_notebook(cells=[markdown, code]), path)


def project(root: Path) -> Path:
    """A folder with values in several forms, a clean file, and places that are not read."""
    root.mkdir()
    (root / "clean.py").write_text("print('nothing here')\n")
    (root / "settings.py").write_text(f"DEBUG = True\n\nTOKEN = {OTHER!r}\n")
    docs = root / "docs"
    docs.mkdir()
    encoded = base64.b64encode(b"user:" + VALUE.encode()).decode()
    (docs / "notes.md").write_text(f"Authorization: Basic {encoded}\n")
    notebook(root / "analysis.ipynb")
    (root / "short.txt").write_text(f"pin {SHORT}\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text(f"token = {OTHER}\n")
    (root / "image.bin").write_bytes(b"\0\x01binary " + OTHER.encode())
    return root


def test_scan_prints_where_each_value_is_and_never_a_value(cli: RunCli, tmp_path: Path) -> None:
    # Given a folder where the project's values sit in several forms
    root = project(tmp_path / "project")
    # When it is scanned
    outcome = cli("scan", str(root))
    # Then each hit is printed as path:line: name, in every file but .git and binary ones,
    # in a notebook's source (as JSON escapes it), its outputs and its attachments
    assert outcome.returncode == 1, outcome.output
    lines = outcome.stdout.splitlines()
    notebook_text = (root / "analysis.ipynb").read_text().splitlines()
    source_line = next(i for i, t in enumerate(notebook_text, 1) if "connect(password" in t)
    output_line = next(i for i, t in enumerate(notebook_text, 1) if "<td>" in t)
    png_line = next(i for i, t in enumerate(notebook_text, 1) if "image/png" in t)
    in_notebook = sorted({png_line, output_line, source_line})
    assert len(in_notebook) == 3
    assert lines == [
        *(f"{root / 'analysis.ipynb'}:{line}: db-password" for line in in_notebook),
        f"{root / 'settings.py'}:3: api-token",
        f"{root / 'docs' / 'notes.md'}:1: db-password",
    ]
    # And no value, in any form, is printed
    assert_no_value(outcome.output)


def test_a_clean_tree_exits_0_and_files_can_be_named(cli: RunCli, tmp_path: Path) -> None:
    root = project(tmp_path / "project")
    clean = cli("scan", str(root / "clean.py"), str(root / "short.txt"), str(root / "image.bin"))
    assert (clean.returncode, clean.stdout) == (0, "")
    one = cli("scan", str(root / "settings.py"))
    assert (one.returncode, one.stdout) == (1, f"{root / 'settings.py'}:3: api-token\n")


def test_usage_errors_exit_2_and_read_no_value(cli: RunCli, tmp_path: Path) -> None:
    # Given the audit log before
    before = json.loads(cli("audit", "--json").stdout)["events"]
    # When scan is given no path, or one that does not exist
    none = cli("scan")
    missing = cli("scan", str(tmp_path / "nowhere"))
    # Then it exits 2 saying why, and read no value (nothing recorded)
    assert none.returncode == 2 and "Give the files or folders to scan" in none.output
    assert missing.returncode == 2 and "nowhere" in missing.output
    assert json.loads(cli("audit", "--json").stdout)["events"] == before


def test_a_scan_is_recorded_in_the_audit_log(cli: RunCli, tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("nothing\n")
    assert cli("scan", str(tmp_path / "file.txt")).returncode == 0
    (event, *_) = json.loads(cli("audit", "--json").stdout)["events"]
    assert event["action"] == "scan"
    assert event["detail"] == {"names": ["api-token", "db-password", "pin-code"]}
    assert_no_value(json.dumps(event))


def _git(repo: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=300
    )


def test_pre_commit_hook_stops_a_commit_that_holds_a_value(cli: RunCli, tmp_path: Path) -> None:
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("pre-commit is not installed, though the test extra asks for it")
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-cache"),
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
        # `jupyter secrets` of this checkout, as the hook runs it
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    # Given a repository of hooks holding this project's .pre-commit-hooks.yaml, as a user
    # would point to this project's repository
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", hooks / ".pre-commit-hooks.yaml")
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "hooks"]):
        assert _git(hooks, *args, env=env).returncode == 0
    revision = _git(hooks, "rev-parse", "HEAD", env=env).stdout.strip()
    # And a project that adds the hook in two lines, with pre-commit installed
    repo = tmp_path / "repo"
    repo.mkdir()
    assert _git(repo, "init", "-q", env=env).returncode == 0
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {hooks.as_uri()}\n    rev: {revision}\n    hooks:\n"
        "      - id: jupyter-secrets-scan\n"
    )
    installed = subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (repo / "README.md").write_text("A clean file\n")
    assert _git(repo, "add", ".", env=env).returncode == 0
    clean = _git(repo, "commit", "-q", "-m", "clean", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    # When a commit adds a notebook that holds a value
    notebook(repo / "analysis.ipynb")
    assert _git(repo, "add", "analysis.ipynb", env=env).returncode == 0
    refused = _git(repo, "commit", "-q", "-m", "analysis", env=env)

    # Then the hook fails the commit, naming the secret and the file, never its value
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "analysis.ipynb:" in output and ": db-password" in output
    assert_no_value(output)
    assert _git(repo, "log", "--format=%s", env=env).stdout.split() == ["clean"]
