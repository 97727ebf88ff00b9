"""The extension's own audit log on OpenBao, against a real OpenBao: every action, environment
and injection recorded as on SQL, one KV document per event, and no server able to change or
delete one (OpenBao's policies refuse it, 403)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from jupyterlab_secrets.audit import AuditEntry
from jupyterlab_secrets.errors import ForbiddenError, InvalidInputError, UnavailableError
from jupyterlab_secrets.openbao_admin import openbao_setup
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    layout,
    project_policy_name,
    server_policies,
)
from jupyterlab_secrets.stores.openbao.audit import OpenBaoAuditLog

from .conftest import COMMUNITIES
from .openbao_server import OpenBao


def server(openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore], user: str,
           project: str) -> SecretsService:  # fmt: skip
    """``user``'s server of ``project``, with a token holding its policies."""
    store = open_store(openbao.mint(*server_policies(user, project, COMMUNITIES)))
    return SecretsService(store, project, COMMUNITIES)


def every_document(openbao: OpenBao, folder: str = layout.AUDIT) -> dict[str, dict[str, Any]]:
    """Every document under ``folder``, read with the root token, by path."""
    kv = openbao.server.client().secrets.kv.v2
    try:
        keys = kv.list_secrets(folder, mount_point=openbao.mount)["data"]["keys"]
    except Exception:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for key in keys:
        path = f"{folder}/{key.rstrip('/')}"
        if key.endswith("/"):
            found.update(every_document(openbao, path))
        else:
            found[path] = kv.read_secret_version(
                path, mount_point=openbao.mount, raise_on_deleted_version=True
            )["data"]
    return found


def test_events_are_listed_newest_first_by_secret_and_in_pages(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given alice's server of proj-a, where secrets are created, revealed, changed, shared,
    # added, and given to kernels
    alice = server(openbao, open_store, "alice", "proj-a")
    first = alice.create("alice", "first", "first-value-1c7e")
    second = alice.create("alice", "second", "second-value-52ab")
    alice.reveal("alice", first.id)
    alice.patch("alice", second.id, 1, value="second-changed-0e4d")
    alice.set_access("alice", first.id, ["ml-team"])
    alice.environment("alice")
    # Then its events are listed newest first, one document each in proj-a's folder
    events = alice.audit_events("alice")
    assert [(e.action, e.secret_name) for e in events] == [
        ("environment", None),
        ("share", "first"),
        ("update", "second"),
        ("reveal", "first"),
        ("create", "second"),
        ("create", "first"),
    ]
    assert {(e.user, e.server_project) for e in events} == {("alice", "proj-a")}
    assert len(every_document(openbao, layout.audit_tree("proj-a"))) == 6
    # And by secret
    assert [e.action for e in alice.audit_events("alice", first.id)] == [
        "share",
        "reveal",
        "create",
    ]
    assert [e.action for e in alice.audit_events("alice", first.id, limit=1)] == ["share"]
    # And in pages, each after the last event of the one before
    page = alice.audit_events("alice", limit=4)
    rest = alice.audit_events("alice", limit=4, before=page[-1].id)
    assert page + rest == events
    assert alice.audit_events("alice", first.id, before=events[1].id) == events[3:4] + events[5:]
    # And an unknown event to page from is refused
    with pytest.raises(InvalidInputError, match="no audit event with this ID"):
        alice.audit_events("alice", before="2" * 32)


def test_pages_go_on_into_earlier_days(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given events of proj-a recorded on three days (the earlier ones as their servers
    # recorded them then)
    store = open_store(openbao.mint(*server_policies("alice", "proj-a", COMMUNITIES)))
    log = store.audit_log()
    now = dt.datetime.now(dt.timezone.utc)
    for days in (9, 2):
        at = now - dt.timedelta(days=days)
        event = layout.event_id(at)
        document = {
            "id": event,
            "at": at.isoformat(timespec="microseconds"),
            "user": "alice",
            "project": "proj-a",
            "server_project": "proj-a",
            "action": "environment",
            "secret_id": None,
            "secret_name": None,
            "detail": json.dumps({"names": [f"days-{days}"]}),
        }
        store.kv.write(layout.audit_event("proj-a", event), document, cas=0)
    today = log.append(AuditEntry("alice", "proj-a", "proj-a", "environment", detail={}))
    # Then they are listed newest first across the days, a page at a time
    events = log.events("proj-a")
    assert [e.detail.get("names") for e in events] == [None, ["days-2"], ["days-9"]]
    assert events[0] == today
    assert log.events("proj-a", limit=1, before=today.id) == events[1:2]
    assert log.events("proj-a", before=events[1].id) == events[2:]
    assert log.events("proj-a", before=events[2].id) == []
    # And an operator's verification reads them all
    assert OpenBaoAuditLog(open_store(openbao.server.root_token).kv).verify().checked == 3


def test_every_environment_is_recorded_with_names_and_no_value_is_in_any_event(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a project with two secrets, and a server that read their values at its start
    alice = server(openbao, open_store, "alice", "proj-a")
    values = {"db-pass": "db-value-7d2f91", "api-key": "api-value-e40c3b"}
    for name, value in values.items():
        alice.create("alice", name, value)
    assert alice.warm() == 2
    # When three kernels get the environment (each from memory, without reading OpenBao)
    for _ in range(3):
        assert alice.environment("alice") == values
    # Then each is recorded, with the names only; warming recorded nothing
    recorded = [e for e in alice.audit_events("alice") if e.action == "environment"]
    assert [e.detail for e in recorded] == [{"names": ["api-key", "db-pass"]}] * 3
    # And no event document, read back by an operator, holds a value
    documents = every_document(openbao)
    assert len(documents) == 5
    text = json.dumps(documents)
    for value in values.values():
        assert value not in text


def test_an_environment_of_thousands_of_names_is_recorded(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given a server's audit log (OpenBao refuses a request body of more than about a
    # thousand JSON strings)
    alice = server(openbao, open_store, "alice", "proj-a")
    names = [f"secret-{index:04}" for index in range(2500)]
    # When an environment of 2,500 names is recorded
    alice.record("alice", "environment", detail={"names": names}, strict=True)
    # Then it is, and it reads back whole
    (event,) = alice.audit_events("alice")
    assert event.detail == {"names": names}


def test_a_servers_token_cannot_change_or_remove_an_event(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given an event that erin's server of proj-a recorded
    erin = server(openbao, open_store, "erin", "proj-a")
    created = erin.create("erin", "kept", "kept-value-a93e")
    [event] = erin.audit_events("erin")
    path = layout.audit_event("proj-a", event.id)
    root = openbao.server.client()
    before = root.secrets.kv.v2.read_secret_version(
        path, mount_point=openbao.mount, raise_on_deleted_version=True
    )["data"]
    # When a token of proj-a (erin's, or alice's, an admin) tries to write over it, with or
    # without check-and-set, to patch it, to delete, undelete or destroy a version, or to
    # change or delete its metadata (and so its versions)
    forged = {"data": {**before["data"], "action": "reveal"}}
    attempts = [
        ("POST", f"data/{path}", {**forged, "options": {"cas": 1}}),
        ("POST", f"data/{path}", {**forged, "options": {"cas": 0}}),
        ("POST", f"data/{path}", forged),
        ("PUT", f"data/{path}", forged),
        ("PATCH", f"data/{path}", forged),
        ("DELETE", f"data/{path}", None),
        ("POST", f"delete/{path}", {"versions": [1]}),
        ("POST", f"undelete/{path}", {"versions": [1]}),
        ("POST", f"destroy/{path}", {"versions": [1]}),
        ("PUT", f"destroy/{path}", {"versions": [1]}),
        ("DELETE", f"metadata/{path}", None),
        ("POST", f"metadata/{path}", {"delete_version_after": "1s"}),
        ("PATCH", f"metadata/{path}", {"max_versions": 1}),
        ("GET", f"metadata/{path}", None),
    ]
    tokens = {
        "erin": openbao.mint(*server_policies("erin", "proj-a", COMMUNITIES)),
        "alice": openbao.mint(*server_policies("alice", "proj-a", COMMUNITIES)),
    }
    for who, token in tokens.items():
        for method, api_path, body in attempts:
            answer = bao(openbao, token, method, api_path, body)
            # Then OpenBao refuses each: 403
            assert answer.status_code == 403, (who, method, api_path, answer.text)
    # When the server of another project tries to read proj-a's folder or to record into it
    carol = openbao.mint(*server_policies("carol", "proj-b", COMMUNITIES))
    forged_path = layout.audit_event("proj-a", layout.event_id(dt.datetime.now(dt.timezone.utc)))
    for method, api_path, body in [
        ("LIST", f"metadata/{layout.audit_tree('proj-a')}/", None),
        ("LIST", f"metadata/{layout.audit_day('proj-a', event.id[:8])}/", None),
        ("GET", f"data/{path}", None),
        ("POST", f"data/{forged_path}", {**forged, "options": {"cas": 0}}),
    ]:
        answer = bao(openbao, carol, method, api_path, body)
        # Then OpenBao refuses that too
        assert answer.status_code == 403, (method, api_path, answer.text)
    # And the event is as it was recorded: one version, never deleted, the same fields
    after = root.secrets.kv.v2.read_secret_version(
        path, mount_point=openbao.mount, raise_on_deleted_version=True
    )["data"]
    assert after == before
    metadata = root.secrets.kv.v2.read_secret_metadata(path, mount_point=openbao.mount)["data"]
    assert metadata["current_version"] == 1
    assert metadata["delete_version_after"] in ("0s", "", None)
    assert metadata["versions"]["1"]["deletion_time"] == ""
    assert erin.audit_events("erin") == [event]
    assert (event.action, event.secret_id) == ("create", created.id)
    assert every_document(openbao, layout.audit_tree("proj-a")).keys() == {path}
    # And the store's own path for it, a write with check-and-set 0, is refused as well
    with pytest.raises(ForbiddenError):
        erin.store.kv.write(path, {"forged": True}, cas=0)


def bao(
    openbao: OpenBao, token: str, method: str, api_path: str, body: dict[str, Any] | None
) -> requests.Response:
    """One request to the mount's API path with ``token``, as any client could send it."""
    headers = {"X-Vault-Token": token}
    if method == "PATCH":
        headers["Content-Type"] = "application/merge-patch+json"
    return requests.request(
        method,
        f"{openbao.url}/v1/{openbao.mount}/{api_path}",
        headers=headers,
        json=body,
        timeout=10,
    )


def test_only_an_operator_verifies_and_nothing_is_signed_or_pruned(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given events of two projects
    alice = server(openbao, open_store, "alice", "proj-a")
    carol = server(openbao, open_store, "carol", "proj-b")
    alice.create("alice", "one", "one-value-3f9a")
    carol.create("carol", "two", "two-value-8e2d")
    carol.environment("carol")
    operator = open_store(openbao.server.root_token).audit_log()
    # Then an operator's token verifies them all
    result = operator.verify()
    assert (result.ok, result.checked) == (True, 3)
    # And a server's token may not list every project's folder
    with pytest.raises(ForbiddenError, match="operator's token"):
        alice.audit.verify()
    # And nothing is signed or pruned with the audit key: it says how events are removed
    for refused in (
        lambda: operator.sign(None, None, user="op", server_project="proj-a"),  # type: ignore[arg-type]
        lambda: operator.prune(dt.datetime.now(dt.timezone.utc), None, None,  # type: ignore[arg-type]
                               user="op", server_project="proj-a"),
    ):  # fmt: skip
        with pytest.raises(InvalidInputError, match="bao kv metadata delete"):
            refused()
    # When an operator's token writes over an event of proj-b
    [environment, _] = carol.audit_events("carol")
    path = layout.audit_event("proj-b", environment.id)
    root = openbao.server.client()
    root.secrets.kv.v2.create_or_update_secret(
        path, {"id": environment.id, "forged": True}, mount_point=openbao.mount
    )
    # Then verification names it
    result = operator.verify()
    assert result.bad_event == environment.id
    assert "written over" in (result.reason or "")


def test_openbao_setup_upgrades_an_installation_made_before_the_audit_log(
    openbao: OpenBao, open_store: Callable[[str], OpenBaoSecretStore]
) -> None:
    # Given proj-d's policy as it was before the audit log (its own secrets only)
    root = openbao.server.client()
    name = project_policy_name("proj-d")
    own = f"{openbao.mount}/%s/{layout.project_tree('proj-d')}/*"
    everything = '["create", "read", "update", "patch", "delete", "list"]'
    former = "".join(
        f'path "{own % kind}" {{\n  capabilities = {everything}\n}}\n'
        for kind in ("data", "metadata")
    )
    root.sys.create_or_update_policy(name, former)
    store = open_store(openbao.mint(name))
    service = SecretsService(store, "proj-d", COMMUNITIES)
    secret = service.create("dora", "kept", "kept-value-61b0")
    # Then its server cannot record an event, so its kernels get no value
    with pytest.raises(UnavailableError):
        service.environment("dora")
    with pytest.raises(UnavailableError, match="openbao-setup"):
        store.audit.append(AuditEntry("dora", "proj-d", "proj-d", "environment"))
    # When the operator runs openbao-setup again
    lines: list[str] = []
    changed = openbao_setup(
        root, mount=openbao.mount, project="proj-d", communities=COMMUNITIES, say=lines.append
    )
    # Then proj-d's policy is updated, and the same token records events
    assert changed == 1, lines
    assert f"Policy {name}: updated." in lines
    assert service.environment("dora") == {"kept": "kept-value-61b0"}
    assert [e.action for e in service.audit_events("dora")] == ["environment"]
    # And a write made before the upgrade stays made, missing from the log, but not lost
    assert service.get("dora", secret.id).name == "kept"
