"""``jupyter secrets openbao-setup`` and ``migrate --to-openbao``, run as an operator would,
against a real OpenBao, with the servers' config file."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jupyterlab_secrets.crypto import Keyring, encode_key, generate_key
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    project_policy_name,
    server_policies,
)
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import COMMUNITIES, RunCli
from .openbao_server import BaoServer, OpenBao

A = View("proj-a", ("data-team", "ml-team"))


@pytest.fixture
def configure(jp_environ: Any, jp_config_dir: Path) -> Callable[..., None]:
    """Write the servers' config file (``jupyter_server_config.json``)."""

    def write(**settings: Any) -> None:
        path = jp_config_dir / "jupyter_server_config.json"
        path.write_text(json.dumps({"SecretsExtension": settings}))

    return write


@pytest.fixture
def operator(run_cli: RunCli) -> Callable[..., tuple[int, str]]:
    """Run ``jupyter secrets …`` as an operator with ``BAO_TOKEN``; (status, all output)."""

    def run(*args: str, token: str) -> tuple[int, str]:
        result = run_cli(*args, env={"BAO_TOKEN": token})
        return result.returncode, result.output

    return run


def test_openbao_setup_creates_the_mount_and_policies_once(
    bao_server: BaoServer, configure: Callable[..., None], operator: Callable[..., tuple[int, str]]
) -> None:
    # Given the servers' config naming a new mount
    mount = f"cli-{uuid.uuid4().hex[:8]}"
    configure(openbao_url=bao_server.url, openbao_mount=mount, project="proj-d",
              communities=COMMUNITIES)  # fmt: skip
    # When the operator runs openbao-setup
    code, output = operator("openbao-setup", token=bao_server.root_token)
    # Then the mount and the three kinds of policy are written, and no token is printed
    assert code == 0, output
    assert f"Created the KV v2 mount {mount}/." in output
    for policy in (
        "jupyterlab-secrets-project-proj-a",
        "jupyterlab-secrets-project-proj-d",
        "jupyterlab-secrets-member-ml-team",
        "jupyterlab-secrets-admin-other-team@proj-c",
        "jupyterlab-secrets-hub",
    ):
        assert f"Policy {policy}: " in output
    assert "Token role jupyterlab-secrets: " in output
    role = bao_server.client().auth.token.read_role("jupyterlab-secrets")["data"]
    assert {"jupyterlab-secrets-project-proj-d", "jupyterlab-secrets-admin-ml-team@proj-a"} <= set(
        role["allowed_policies"]
    )
    assert "jupyterlab-secrets-hub" not in role["allowed_policies"]
    assert bao_server.root_token not in output
    # When it runs again, nothing changes
    code, output = operator("openbao-setup", token=bao_server.root_token)
    assert code == 0, output
    assert "Done: 0 changes." in output
    assert "written" not in output and "Created" not in output
    # And a token without the right to manage policies is refused with OpenBao's reason
    code, output = operator("openbao-setup", token=bao_server.mint("default"))
    assert code == 1
    assert "permission denied" in output


def test_migrate_to_openbao_copies_once_and_prints_counts(
    bao_server: BaoServer,
    configure: Callable[..., None],
    operator: Callable[..., tuple[int, str]],
    tmp_path: Path,
) -> None:
    # Given a SQLite store of proj-a, with its key file, and OpenBao set up
    key = generate_key()
    key_file = tmp_path / "key"
    key_file.write_text(encode_key(key))
    key_file.chmod(0o600)
    db_url = f"sqlite:///{tmp_path / 'db' / 'secrets.db'}"
    sql = SqlSecretStore(db_url, Keyring([key]))
    kept = sql.create(A, name="kept", value="value-one", user="alice")
    sql.update(A, kept.id, expected_version=1, user="bob", value="value-two")
    shared = sql.create(A, name="shared", value="value-shared", user="alice")
    sql.set_shares(A, shared.id, add=["ml-team"], remove=[])
    sql.close()
    mount = f"cli-{uuid.uuid4().hex[:8]}"
    configure(openbao_url=bao_server.url, openbao_mount=mount, project="proj-a",
              communities=COMMUNITIES, db_url=db_url, key_file=str(key_file))  # fmt: skip
    assert operator("openbao-setup", token=bao_server.root_token)[0] == 0
    # When the operator migrates, twice
    code, first = operator("migrate", "--to-openbao", token=bao_server.root_token)
    code_again, second = operator("migrate", "--to-openbao", token=bao_server.root_token)
    # Then the first copies both with the share, the second nothing, and neither prints a value
    assert (code, code_again) == (0, 0), first + second
    assert "Copied 2 secrets into OpenBao; 0 were there already; 0 failed." in first
    assert "Set 1 shares and 0 additions to projects." in first
    assert "Copied 0 secrets into OpenBao; 2 were there already; 0 failed." in second
    for value in ("value-one", "value-two", "value-shared"):
        assert value not in first + second
    # And OpenBao holds them with their versions
    target = OpenBaoSecretStore(url=bao_server.url, token=bao_server.root_token, mount=mount)
    try:
        assert target.read_values(A, [kept.id, shared.id]) == {
            kept.id: "value-two",
            shared.id: "value-shared",
        }
        assert target.read_version(A, kept.id, 1) == "value-one"
        assert target.get(A, shared.id).shared_with == ("ml-team",)
    finally:
        target.close()
    # And without a target it says what to give
    code, output = operator("migrate", token=bao_server.root_token)
    assert code == 2
    assert "--to-openbao" in output


def test_the_commands_leave_the_token_file_for_the_server(
    openbao: OpenBao, configure: Callable[..., None], run_cli: RunCli, tmp_path: Path
) -> None:
    # Given the servers' config naming a token file, as an operator prepares it for a server
    token_file = tmp_path / "bao-token"
    token_file.write_text(openbao.mint(project_policy_name("proj-a")) + "\n")
    token_file.chmod(0o600)
    configure(openbao_url=openbao.url, openbao_mount=openbao.mount, project="proj-a",
              openbao_token_file=str(token_file))  # fmt: skip
    # When the operator runs a command with that config
    result = run_cli("set", "from-the-cli", stdin="value")
    # Then it worked with the file's token, and left the file for the server
    assert result.returncode == 0, result.output
    assert token_file.exists()
    # And once a server has removed it, a command says where the file went
    token_file.unlink()
    result = run_cli("list")
    assert result.returncode == 1
    assert "a server removes its token file once it has read it" in result.output


def test_the_audit_command_reads_the_log_on_openbao_and_signs_nothing(
    openbao: OpenBao, configure: Callable[..., None], run_cli: RunCli, tmp_path: Path
) -> None:
    # Given the config of proj-a on OpenBao, and a secret set with a server's token
    configure(openbao_url=openbao.url, openbao_mount=openbao.mount, project="proj-a",
              communities=COMMUNITIES, audit_key_file=str(tmp_path / "no-such-key"))  # fmt: skip
    server = {"BAO_TOKEN": openbao.mint(*server_policies("alice", "proj-a", COMMUNITIES))}
    root = {"BAO_TOKEN": openbao.server.root_token}
    assert run_cli("set", "audited", stdin="cli-value-5e1a", env=server).returncode == 0
    # When the log is printed, then it holds the creation, and no value
    printed = run_cli("audit", env=server)
    assert printed.returncode == 0, printed.output
    assert " create audited (" in printed.output
    assert "cli-value-5e1a" not in printed.output
    # When the operator anchors or prunes it, then it is refused before any key is asked for,
    # saying that the log is append-only and how old events are removed
    for args in (["--anchor"], ["--prune", "30"]):
        refused = run_cli("audit", *args, env=root)
        assert refused.returncode == 1, refused.output
        assert "append-only by OpenBao's policies" in refused.output
        assert "bao kv metadata delete" in refused.output
        assert "no-such-key" not in refused.output
    # When it is verified with the operator's token, then every event is checked
    verified = run_cli("audit", "--verify", env=root)
    assert verified.returncode == 0, verified.output
    assert "The audit log verifies: 1 events" in verified.output
    assert "No server can change or delete one" in verified.output
    # And a server's token, which reads its own project's folder only, is told so
    refused = run_cli("audit", "--verify", env=server)
    assert refused.returncode == 1
    assert "operator's token" in refused.output
