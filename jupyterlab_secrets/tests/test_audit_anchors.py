"""The operator's hold on the audit log: ``jupyter secrets audit --anchor`` and ``--prune DAYS``
sign it with an Ed25519 key no server holds, and ``--verify`` finds what someone with the
database and the master key does to it: events altered, inserted, removed or reordered before
an anchor, signatures forged, the newest events cut off, a prune made by hand. A server's
retention setting prunes nothing. On SQLite and PostgreSQL (the `db_url` fixture), through the
real command, as an operator runs it."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jupyter_core.paths import jupyter_data_dir
from sqlalchemy import delete, update

from jupyterlab_secrets.audit import AuditEntry, LogDoesNotVerify
from jupyterlab_secrets.audit_keys import AuditSigner, PublicKeys, public_line
from jupyterlab_secrets.credentials import take_credentials
from jupyterlab_secrets.crypto import Keyring, encode_key
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.sql import SqlSecretStore
from jupyterlab_secrets.stores.sql_audit import GENESIS, SqlAuditLog, event_hash
from jupyterlab_secrets.stores.sql_schema import AuditEventRow

from .conftest import Outcome, Server
from .test_audit import (  # noqa: F401  (fixtures: key, logged, run_audit, secrets_config)
    PLANTED,
    _execute,
    _table,
    key,
    logged,
    run_audit,
    secrets_config,
)
from .test_cli_secrets import cli  # noqa: F401  (fixture: run jupyter secrets)

Run = Callable[..., Outcome]


def write_private_key(path: Path, private: Ed25519PrivateKey) -> Path:
    """An OpenSSH private key file, as ``ssh-keygen -t ed25519 -N ''`` writes it: 0600 in a
    0700 directory."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def audit_private() -> Ed25519PrivateKey:
    """The operator's audit key."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
def audit_key(tmp_path: Path, audit_private: Ed25519PrivateKey) -> Path:
    """The operator's audit key file, away from every server."""
    return write_private_key(tmp_path / "operator" / "audit_key", audit_private)


@pytest.fixture
def public(audit_private: Ed25519PrivateKey) -> str:
    """The line of its .pub file."""
    return public_line(audit_private.public_key())


@pytest.fixture
def operator(run_audit: Run, audit_key: Path) -> Run:  # noqa: F811
    """``jupyter secrets audit ARGS`` as the operator runs it: with the audit key."""

    def run(*args: str) -> Outcome:
        return run_audit(*args, f"--audit-key-file={audit_key}")

    return run


@pytest.fixture
def auditor(run_audit: Run, public: str) -> Run:  # noqa: F811
    """``jupyter secrets audit ARGS`` as someone with the public key only."""

    def run(*args: str) -> Outcome:
        return run_audit(*args, f"--SecretsExtension.audit_public_keys={public}")

    return run


def anchor_file() -> Path:
    """Where the command keeps the anchor by default (this test's Jupyter data dir)."""
    return Path(jupyter_data_dir()) / "jupyterlab_secrets" / "audit-anchor.json"


def rechain(store: SqlSecretStore, change: Callable[[list[dict[str, Any]]], Any]) -> None:
    """What anyone with the database can do, with or without the master key: change the rows
    (in place), then compute the whole chain again so that every link holds."""
    rows = _table(store)
    change(rows)
    previous = GENESIS
    with store.engine.begin() as connection:
        connection.execute(delete(AuditEventRow))
        for seq, row in enumerate(rows, start=1):
            row["seq"], row["prev_hash"] = seq, previous
            row["hash"] = previous = event_hash(row)
            connection.execute(AuditEventRow.__table__.insert().values(**row))


def forged_signed(store: SqlSecretStore, key: bytes, action: str, **detail: Any) -> str:  # noqa: F811
    """Append a signed event as someone with the database, the master key and an Ed25519 key
    of their own (not the operator's); answer its ID."""
    forger = SqlAuditLog(store.engine, Keyring([key]))
    signer = AuditSigner(Ed25519PrivateKey.generate())
    with store.engine.begin() as connection:
        entry = AuditEntry("mallory", "default", "default", action, detail=detail)
        return forger._append(connection, entry, signer).id


# -- anchoring -----------------------------------------------------------------------------


def test_the_operator_anchors_and_verify_says_what_is_fixed(
    logged: SqlSecretStore,  # noqa: F811
    operator: Run,
    auditor: Run,
    run_audit: Run,  # noqa: F811
) -> None:
    # When the operator anchors the log of six events
    anchored = operator("--anchor")
    # Then it is signed, by the operator's login, as a seventh event, and the anchor is kept
    assert anchored.returncode == 0, anchored.output
    assert "Anchored the audit log at event" in anchored.stdout
    rows = _table(logged)
    last = rows[-1]
    detail = json.loads(last["detail"])
    assert (last["action"], last["user"], detail["events"]) == ("anchor", getpass.getuser(), 6)
    assert detail["key"].startswith("SHA256:") and detail["signature"]
    assert last["prev_hash"] == rows[-2]["hash"]
    kept = json.loads(anchor_file().read_text())
    assert (kept["id"], kept["hash"]) == (last["id"], last["hash"])
    # And after a server's next event, verify says what is fixed and what is not yet
    SecretsService(logged, "default").environment("erin")
    for verified in (operator("--verify"), auditor("--verify")):
        assert verified.returncode == 0, verified.output
        assert "8 events" in verified.stdout
        assert "Signed by the operator: 1 events" in verified.stdout
        assert "the 1 recorded since are not anchored yet" in verified.stdout
        assert "It agrees with the anchor kept in" in verified.stdout
    # And without a public key, a signed log cannot be taken on trust
    blind = run_audit("--verify")
    assert blind.returncode == 1
    assert f"event {last['id']}: it is signed by the key" in blind.stdout
    assert "no public key was given to check it" in blind.stdout
    # And the printed log shows the anchor, without its signature
    printed = run_audit()
    assert f"{getpass.getuser()} anchor [default]" in printed.stdout
    assert detail["signature"] not in printed.stdout


def test_what_servers_append_while_the_operator_verifies_is_anchored_and_a_change_refused(
    logged: SqlSecretStore,  # noqa: F811
    audit_private: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signer = AuditSigner(audit_private)
    check = PublicKeys([signer.public])
    audit = logged.audit
    verify = audit.verify
    # Given a server that appends an event while the operator's whole log is being checked
    # (outside the chain's lock, so that servers never wait on it)

    def verify_then_append(*args: Any, **kwargs: Any) -> Any:
        result = verify(*args, **kwargs)
        SecretsService(logged, "default").environment("erin")
        return result

    monkeypatch.setattr(audit, "verify", verify_then_append)
    # When the operator signs
    event = audit.sign(signer, check, user="olivia", server_project="default")
    # Then the anchor comes after that event too, and covers it
    rows = _table(logged)
    assert (rows[-1]["id"], rows[-2]["user"]) == (event.id, "erin")
    assert event.detail["events"] == 7
    # And given someone who changes the newest checked event meanwhile
    before = _table(logged)

    def verify_then_alter(*args: Any, **kwargs: Any) -> Any:
        result = verify(*args, **kwargs)
        newest = before[-1]["seq"]
        _execute(logged, update(AuditEventRow).where(AuditEventRow.seq == newest).values(user="x"))
        return result

    monkeypatch.setattr(audit, "verify", verify_then_alter)
    # Then nothing is signed, and the operator is told to run it again
    with pytest.raises(LogDoesNotVerify, match="the log changed while it was checked"):
        audit.sign(signer, check, user="olivia", server_project="default")
    assert len(_table(logged)) == len(before)


def test_anchoring_needs_the_audit_key_kept_private_and_a_log_that_verifies(
    logged: SqlSecretStore,  # noqa: F811
    operator: Run,
    run_audit: Run,  # noqa: F811
    audit_key: Path,
) -> None:
    before = _table(logged)
    # Without the audit key, it is refused, saying where to put one
    keyless = run_audit("--anchor")
    assert keyless.returncode == 1
    assert "none was given: set SecretsExtension.audit_key_file" in keyless.output
    # With a key file others may read, it is refused, saying how to fix it
    audit_key.chmod(0o644)
    exposed = operator("--anchor")
    assert exposed.returncode == 1
    assert f"Run 'chmod 600 {audit_key}', then run the command again." in exposed.output
    assert _table(logged) == before
    audit_key.chmod(0o600)
    # And a log that does not verify is never signed: that would vouch for the change
    victim = before[2]
    _execute(
        logged,
        update(AuditEventRow).where(AuditEventRow.seq == victim["seq"]).values(user="mallory"),
    )
    refused = operator("--anchor")
    assert refused.returncode == 1
    assert f"does not verify at event {victim['id']}: it was altered" in refused.stdout
    assert "Nothing was signed." in refused.stdout
    assert len(_table(logged)) == len(before)
    assert not anchor_file().exists()


def _alter(rows: list[dict[str, Any]]) -> None:
    rows[1]["user"] = "mallory"


def _insert(rows: list[dict[str, Any]]) -> None:
    rows.insert(2, {**rows[1], "id": "f" * 32, "user": "mallory", "action": "reveal"})


def _remove(rows: list[dict[str, Any]]) -> None:
    del rows[2]


def _reorder(rows: list[dict[str, Any]]) -> None:
    rows[2], rows[3] = rows[3], rows[2]


@pytest.mark.parametrize("change", [_alter, _insert, _remove, _reorder])
def test_rewriting_anchored_history_with_the_database_and_the_master_key_is_found(
    logged: SqlSecretStore,  # noqa: F811
    operator: Run,
    auditor: Run,
    change: Callable[[list[dict[str, Any]]], None],
) -> None:
    # Given an anchored log, and a server's event after the anchor
    assert operator("--anchor").returncode == 0
    SecretsService(logged, "default").environment("erin")
    anchor = _table(logged)[-2]
    # When someone with the database changes an event before the anchor and computes the
    # whole chain again, so that every link holds
    rechain(logged, change)
    # Then verification fails at the anchor, whose signature no longer covers what precedes it
    for verified in (operator("--verify"), auditor("--verify")):
        assert verified.returncode == 1
        assert f"event {anchor['id']}: its signature is not the key" in verified.stdout
        assert "forged or altered" in verified.stdout


def test_an_anchor_signed_with_another_key_is_found(
    logged: SqlSecretStore,  # noqa: F811
    operator: Run,
    key: bytes,  # noqa: F811
) -> None:
    # Given a log rewritten after its anchor was dropped, then anchored again with a key of
    # the forger's own (they hold the master key and the database, not the audit key)
    assert operator("--anchor").returncode == 0
    rechain(logged, lambda rows: (_alter(rows), rows.pop()))
    forged = forged_signed(logged, key, "anchor", events=6)
    # Then the forged anchor is named
    verified = operator("--verify")
    assert verified.returncode == 1
    assert f"event {forged}: it is signed by the key SHA256:" in verified.stdout
    assert "which is not one of SecretsExtension.audit_public_keys" in verified.stdout


def test_the_newest_events_cut_off_with_the_anchor_are_found_by_the_anchor_file(
    logged: SqlSecretStore,  # noqa: F811
    operator: Run,
    auditor: Run,
) -> None:
    # Given an anchored log, with two events after the anchor
    assert operator("--anchor").returncode == 0
    service = SecretsService(logged, "default")
    service.environment("erin")
    service.environment("frank")
    anchor = _table(logged)[-3]
    # When the anchor and everything after it are deleted (and an event before it rewritten)
    _execute(logged, delete(AuditEventRow).where(AuditEventRow.seq >= anchor["seq"]))
    rechain(logged, _alter)
    # Then the operator's anchor file shows the log was cut short
    verified = operator("--verify")
    assert verified.returncode == 1
    assert f"event {anchor['id']}: the operator anchored the log at this event" in verified.stdout
    assert "the newest events were removed" in verified.stdout
    # And someone without it is told the log is not anchored, rather than that all is well
    elsewhere = auditor("--verify", "--anchor-file=/nonexistent/audit-anchor.json")
    assert elsewhere.returncode == 0
    assert "It is not anchored: anyone with the database could rewrite it" in elsewhere.stdout


# -- pruning -------------------------------------------------------------------------------


def test_the_operator_prunes_signed_and_the_log_still_verifies(
    logged: SqlSecretStore,  # noqa: F811
    operator: Run,
    audit_private: Ed25519PrivateKey,
) -> None:
    # Given the first four events older than the cutoff
    rows = _table(logged)
    cutoff = rows[4]["at"]
    signer = AuditSigner(audit_private)
    # When the operator prunes the log
    pruned = logged.audit.prune(
        cutoff, signer, PublicKeys([signer.public]), user="olivia", server_project="default"
    )
    # Then they are gone, and the pruning is recorded, signed, with their count and the last
    after = _table(logged)
    assert pruned.count == 4
    assert [r["id"] for r in after[:2]] == [rows[4]["id"], rows[5]["id"]]
    assert after[-1]["action"] == "prune"
    detail = json.loads(after[-1]["detail"])
    assert detail["count"] == 4
    assert (detail["last_id"], detail["last_hash"]) == (rows[3]["id"], rows[3]["hash"])
    assert detail["key"] == signer.key
    outcome = operator("--verify")
    assert outcome.returncode == 0, outcome.output
    # And removing one more event from the head is still found
    _execute(logged, AuditEventRow.__table__.delete().where(AuditEventRow.seq == after[0]["seq"]))
    assert operator("--verify").returncode == 1


@pytest.mark.parametrize("signed", ["unsigned", "with another key"])
def test_a_prune_made_in_the_database_is_found(
    logged: SqlSecretStore,  # noqa: F811
    auditor: Run,
    key: bytes,  # noqa: F811
    signed: str,
) -> None:
    # Given the two oldest events deleted by hand, and a prune appended to excuse it
    rows = _table(logged)
    _execute(logged, delete(AuditEventRow).where(AuditEventRow.seq <= rows[1]["seq"]))
    detail = {"count": 2, "last_seq": rows[1]["seq"], "last_hash": rows[1]["hash"]}
    if signed == "unsigned":
        # (as a server could: the chain needs no key)
        row = _table(logged)[-1]
        with logged.engine.begin() as connection:
            entry = {
                **row,
                "seq": row["seq"] + 1,
                "id": "e" * 32,
                "user": "mallory",
                "action": "prune",
                "detail": json.dumps(detail, sort_keys=True),
                "prev_hash": row["hash"],
            }
            entry["hash"] = event_hash(entry)
            connection.execute(AuditEventRow.__table__.insert().values(**entry))
        bad, reason = "e" * 32, "a prune must be signed by the operator, and it is not"
    else:
        bad = forged_signed(logged, key, "prune", **detail)
        reason = "which is not one of SecretsExtension.audit_public_keys"
    # Then verification names it
    verified = auditor("--verify")
    assert verified.returncode == 1
    assert f"event {bad}: " in verified.stdout and reason in verified.stdout


def test_servers_cannot_record_the_logs_own_actions(
    logged: SqlSecretStore,  # noqa: F811
) -> None:
    before = _table(logged)
    for action in ("anchor", "prune", "hash-chain"):
        with pytest.raises(ValueError, match="is the log's own"):
            logged.audit.append(AuditEntry("mallory", "default", "default", action))
    assert _table(logged) == before


def test_pruning_is_the_operators_command_and_a_retention_setting_prunes_nothing(
    db_url: str,
    key: bytes,  # noqa: F811
    run_audit: Run,  # noqa: F811
    operator: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given three events recorded a year and a half ago, and one today
    store = SqlSecretStore(db_url=db_url, keyring=Keyring([key]))
    service = SecretsService(store, "default")
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=550)
    with monkeypatch.context() as patch:
        patch.setattr("jupyterlab_secrets.stores.sql_audit.utc_now", lambda: old)
        meta = service.create("alice", "aging", PLANTED[0])
        service.reveal("bob", meta.id)
        service.reveal("carol", meta.id)
    service.reveal("dave", meta.id)
    store.close()
    # When a command opens the store with the retired retention setting
    configured = run_audit("--SecretsExtension.audit_retention_days=365")
    # Then it warns that the setting is ignored, and nothing is pruned
    assert configured.returncode == 0, configured.output
    assert configured.stdout.count("\n") == 4
    assert "audit_retention_days is no longer a setting, and is ignored" in configured.stderr
    assert "jupyter secrets audit --prune DAYS" in configured.stderr
    # And pruning without the audit key is refused, with nothing deleted
    keyless = run_audit("--prune", "365")
    assert keyless.returncode == 1 and "Nothing was changed." in keyless.output
    assert run_audit().stdout.count("\n") == 4
    # When the operator prunes what is older than 365 days
    pruned = operator("--prune", "365")
    assert pruned.returncode == 0, pruned.output
    assert "Pruned 3 events older than 365 days" in pruned.stdout
    # Then they are gone, the pruning is recorded by the operator's login with its count
    events = json.loads(run_audit("--json").stdout)["events"]
    assert [(e["action"], e["user"]) for e in events] == [
        ("prune", getpass.getuser()),
        ("reveal", "dave"),
    ]
    assert events[0]["detail"]["count"] == 3
    # And it is the anchor now, and the log verifies
    assert json.loads(anchor_file().read_text())["id"] == events[0]["id"]
    assert operator("--verify").returncode == 0
    # And pruning again finds nothing older
    again = operator("--prune", "365")
    assert again.returncode == 0 and "nothing was pruned" in again.stdout


async def test_a_server_configured_to_prune_warns_and_prunes_nothing(
    extension: Any,
    start_server: Callable[..., Server],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a store holding events two years old
    service = SecretsService(extension.store, "default")
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=730)
    with monkeypatch.context() as patch:
        patch.setattr("jupyterlab_secrets.stores.sql_audit.utc_now", lambda: old)
        meta = service.create("alice", "aging", PLANTED[0])
        service.reveal("bob", meta.id)
    before = _table(extension.store)
    # When a server starts with a config that still sets a retention of 30 days
    server = start_server("proj-b", audit_retention_days=30)
    assert (await server.api("GET", "secrets")).status == 200
    # Then it says the setting is ignored, and the log is as it was
    assert "audit_retention_days is no longer a setting, and is ignored" in capsys.readouterr().err
    assert _table(extension.store) == before


def test_an_ssh_keygen_key_signs_and_its_pub_line_verifies(
    logged: SqlSecretStore,  # noqa: F811
    run_audit: Run,  # noqa: F811
    tmp_path: Path,
) -> None:
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        pytest.skip("ssh-keygen (OpenSSH) is not installed: the OpenSSH key files go untested")
    # Given an audit key made as the README says
    directory = tmp_path / "operator"
    directory.mkdir(mode=0o700)
    path = directory / "audit_key"
    subprocess.run(
        [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", "audit", "-f", str(path)],
        check=True,
    )
    pub = (directory / "audit_key.pub").read_text().strip()
    fingerprint = subprocess.run(
        [ssh_keygen, "-lf", str(path) + ".pub"], check=True, capture_output=True, text=True
    ).stdout.split()[1]
    # When the operator anchors with it
    anchored = run_audit("--anchor", f"--audit-key-file={path}")
    # Then the event names the fingerprint ssh-keygen prints, and the .pub line verifies it
    assert anchored.returncode == 0, anchored.output
    assert f"signed with {fingerprint}" in anchored.stdout
    assert json.loads(_table(logged)[-1]["detail"])["key"] == fingerprint
    verified = run_audit("--verify", f"--SecretsExtension.audit_public_keys={pub}")
    assert verified.returncode == 0, verified.output


def test_the_audit_key_in_the_environment_is_taken_from_it_and_never_printed(
    logged: SqlSecretStore,  # noqa: F811
    cli: Run,  # noqa: F811
    db_url: str,
    key: bytes,  # noqa: F811
    audit_private: Ed25519PrivateKey,
    public: str,
) -> None:
    text = audit_private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    # When the operator anchors with the key in JUPYTERLAB_SECRETS_AUDIT_KEY (PEM)
    env = {"JUPYTERLAB_SECRETS_KEY": encode_key(key), "JUPYTERLAB_SECRETS_AUDIT_KEY": text}
    anchored = cli("audit", "--anchor", f"--db-url={db_url}", env=env)
    # Then it signs, the key is held in memory (taken from the environment), and no output
    # holds it
    assert anchored.returncode == 0, anchored.output
    assert take_credentials().audit_key == text
    body = "".join(text.strip().splitlines()[1:-1])
    assert body[:40] not in anchored.output
    verified = cli(
        "audit",
        "--verify",
        f"--db-url={db_url}",
        f"--SecretsExtension.audit_public_keys={public}",
        env={"JUPYTERLAB_SECRETS_KEY": encode_key(key)},
    )
    assert verified.returncode == 0, verified.output
