"""The audit log: every action recorded with its user, project and time, never a value;
``GET audit``; ``jupyter secrets audit --verify`` against tampering that its hash chain shows
by itself; key rotation. (What only the operator's signatures show, and pruning, are in
``test_audit_anchors.py``.) On SQLite and PostgreSQL (the `db_url` fixture), through a real
server or the real command."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text, update

from jupyterlab_secrets.crypto import Keyring, encode_key, generate_key
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.sql import SqlSecretStore
from jupyterlab_secrets.stores.sql_schema import AuditEventRow

from .conftest import API, COMMUNITIES, Api
from .kernels_helpers import wait_until
from .test_api import create_secret
from .test_cli_secrets import Outcome, cli  # noqa: F401  (fixture: run jupyter secrets)
from .test_kernels import Kernels, kernels  # noqa: F401  (fixture: kernels through REST)

PLANTED = ["planted-value-A-71c3", "planted-value-B-9e02", "planted-value-C-44d1"]


@pytest.fixture
def secrets_config(backend_config: dict[str, Any]) -> dict[str, Any]:
    """The test server works in proj-a, with communities, on each backend."""
    return {**backend_config, "project": "proj-a", "communities": COMMUNITIES}


def _table(store: SqlSecretStore) -> list[dict[str, Any]]:
    """Every row of the audit table, oldest first, as stored."""
    with store.engine.connect() as connection:
        rows = connection.execute(select(AuditEventRow.__table__).order_by(AuditEventRow.seq))
        return [dict(row._mapping) for row in rows]


async def _audit(jp_fetch: Any, user: str = "alice", **params: str) -> tuple[int, Any]:
    response = await jp_fetch(
        *API,
        "audit",
        params=params,
        method="GET",
        headers={"X-Test-User": user},
        raise_error=False,
    )
    return response.code, json.loads(response.body)


async def test_every_action_is_recorded_with_user_project_and_time_and_never_a_value(
    api: Api, jp_fetch: Any, extension: Any, project_service: Callable[[str], SecretsService]
) -> None:
    start = dt.datetime.now(dt.timezone.utc)
    store: SqlSecretStore = extension.store
    # Given a secret of proj-a created, changed, revealed, copied, restored, shared, added by
    # proj-b, removed there, unshared and deleted, and the environment read
    created = await create_secret(api, "audited", PLANTED[0])
    sid = created["id"]
    patched = await api(
        "PATCH", "secrets", sid, body={"version": 1, "value": PLANTED[1]}, user="bob"
    )
    assert patched.status == 200
    assert (await api("POST", "secrets", sid, "reveal", user="carol")).status == 200
    copied = await api("POST", "secrets", sid, "copy", body={"name": "copied", "value": PLANTED[2]})
    assert copied.status == 201
    restored = await api("POST", "secrets", sid, "versions", "1", "restore", body={"version": 2})
    assert restored.status == 200
    environment = await api("GET", "environment")
    assert environment.status == 200
    shared = await api("PUT", "secrets", sid, "access", body={"communities": ["ml-team"]})
    assert shared.status == 200
    proj_b = project_service("proj-b")
    proj_b.set_attached("dave", sid, True)
    proj_b.set_attached("dave", sid, False)
    unshared = await api("PUT", "secrets", sid, "access", body={"communities": []})
    assert unshared.status == 200
    assert (await api("DELETE", "secrets", sid)).status == 204

    # Then each is in the log, newest first, with its user, the secret's project, this
    # server's project and a time
    status, body = await _audit(jp_fetch)
    assert status == 200
    events = [e for e in body["events"] if e["user"] != "jupyter-server"]
    seen = [(e["action"], e["user"], e["secret_name"]) for e in reversed(events)]
    assert seen == [
        ("create", "alice", "audited"),
        ("update", "bob", "audited"),
        ("reveal", "carol", "audited"),
        ("copy", "alice", "copied"),
        ("restore", "alice", "audited"),
        ("environment", "alice", None),
        ("share", "alice", "audited"),
        ("attach", "dave", "audited"),
        ("detach", "dave", "audited"),
        ("unshare", "alice", "audited"),
        ("delete", "alice", "audited"),
    ]
    for event in events:
        assert set(event) == {
            "id",
            "at",
            "user",
            "project",
            "server_project",
            "action",
            "secret_id",
            "secret_name",
            "detail",
        }
        assert event["project"] == "proj-a"
        at = dt.datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
        assert start - dt.timedelta(seconds=1) <= at <= dt.datetime.now(dt.timezone.utc)
    by_action = {e["action"]: e for e in events}
    assert by_action["attach"]["server_project"] == "proj-b"
    assert by_action["share"]["server_project"] == "proj-a"
    assert by_action["copy"]["detail"]["source_id"] == sid
    assert by_action["restore"]["detail"] == {"from_version": 1, "version": 3}
    assert by_action["environment"]["detail"] == {"names": ["audited", "copied"]}
    # And no value is anywhere in the table, in any form it could be stored
    dump = repr(_table(store))
    for value in PLANTED:
        assert value not in dump
        assert value.encode().hex() not in dump
    # And the chain verifies
    assert store.audit.verify().ok


async def test_an_environment_answered_304_records_nothing(api: Api, extension: Any) -> None:
    # Given an environment read once
    await create_secret(api, "polled", PLANTED[0])
    first = await api("GET", "environment")
    tag = first.headers["ETag"]
    count = len(_table(extension.store))
    # When a client polls with the tag it holds
    polled = [await api("GET", "environment", headers={"If-None-Match": tag}) for _ in range(3)]
    # Then it is answered 304, and nothing more is recorded
    assert [reply.status for reply in polled] == [304, 304, 304]
    assert len(_table(extension.store)) == count


async def test_get_audit_filters_by_secret_pages_with_before_and_limit(
    api: Api, jp_fetch: Any, project_service: Callable[[str], SecretsService]
) -> None:
    # Given two secrets of proj-a with two events each, and one of proj-c
    one = await create_secret(api, "one", PLANTED[0])
    two = await create_secret(api, "two", PLANTED[1])
    await api("POST", "secrets", one["id"], "reveal")
    await api("POST", "secrets", two["id"], "reveal")
    project_service("proj-c").create("erin", "elsewhere", PLANTED[2])
    # When the log of one secret is asked for
    status, body = await _audit(jp_fetch, secret_id=one["id"])
    # Then it answers that secret's events only, newest first
    assert status == 200
    assert [(e["action"], e["secret_id"]) for e in body["events"]] == [
        ("reveal", one["id"]),
        ("create", one["id"]),
    ]
    # And the whole log holds none of another project's events
    _, everything = await _audit(jp_fetch)
    assert "elsewhere" not in {e["secret_name"] for e in everything["events"]}
    assert len(everything["events"]) == 4
    # And limit and before page through it
    _, first = await _audit(jp_fetch, limit="2")
    _, rest = await _audit(jp_fetch, before=first["events"][-1]["id"])
    assert first["events"] + rest["events"] == everything["events"]
    # And no answer holds a value
    assert not any(value in json.dumps(everything) for value in PLANTED)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"before": "nope"}, "before"),
        ({"before": "0" * 32}, "before"),
        ({"secret_id": "../etc"}, "secret_id"),
    ],
)
async def test_get_audit_refuses_bad_parameters_with_400(
    api: Api, jp_fetch: Any, params: dict[str, str], field: str
) -> None:
    await create_secret(api, "kept", PLANTED[0])
    status, body = await _audit(jp_fetch, **params)
    assert status == 400
    assert body["field"] == field
    assert (await _audit(jp_fetch))[1]["events"][0]["action"] == "create"


# -- tampering, through the command --------------------------------------------------------


@pytest.fixture
def key() -> bytes:
    return generate_key()


@pytest.fixture
def logged(db_url: str, key: bytes) -> Any:
    """A store on ``db_url`` with six events of project ``default``; closed after the test."""
    store = SqlSecretStore(db_url=db_url, keyring=Keyring([key]))
    service = SecretsService(store, "default")
    meta = service.create("alice", "tampered", PLANTED[0])
    service.reveal("bob", meta.id)
    meta = service.patch("alice", meta.id, 1, value=PLANTED[1])
    service.reveal("carol", meta.id)
    service.environment("dave")
    service.delete("alice", meta.id)
    yield store
    store.close()


@pytest.fixture
def run_audit(
    cli: Callable[..., Outcome],  # noqa: F811
    db_url: str,
    key: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Outcome]:
    """Run ``jupyter secrets audit ARGS`` on ``db_url`` with the given keys (default: key)."""

    def run(*args: str, keys: tuple[bytes, ...] = ()) -> Outcome:
        given = keys or (key,)
        monkeypatch.setenv("JUPYTERLAB_SECRETS_KEY", ";".join(encode_key(k) for k in given))
        return cli("audit", *args, f"--db-url={db_url}")

    return run


def test_an_untouched_log_verifies_and_prints_no_value(
    logged: SqlSecretStore, run_audit: Callable[..., Outcome]
) -> None:
    verified = run_audit("--verify")
    assert verified.returncode == 0, verified.output
    assert "6 events" in verified.stdout
    printed, as_json = run_audit(), run_audit("--json")
    assert printed.returncode == as_json.returncode == 0
    assert printed.stdout.count("\n") == 6 and "bob reveal tampered" in printed.stdout
    assert len(json.loads(as_json.stdout)["events"]) == 6
    for outcome in (verified, printed, as_json):
        assert not any(value in outcome.output for value in PLANTED)


def _execute(store: SqlSecretStore, *statements: Any) -> None:
    with store.engine.begin() as connection:
        for statement in statements:
            connection.execute(statement)


def test_an_altered_event_is_named(
    logged: SqlSecretStore, run_audit: Callable[..., Outcome]
) -> None:
    victim = _table(logged)[1]
    _execute(
        logged,
        update(AuditEventRow).where(AuditEventRow.seq == victim["seq"]).values(user="mallory"),
    )
    outcome = run_audit("--verify")
    assert outcome.returncode == 1
    assert f"event {victim['id']}: it was altered" in outcome.stdout


def test_an_altered_time_or_detail_is_named(
    logged: SqlSecretStore, run_audit: Callable[..., Outcome]
) -> None:
    rows = _table(logged)
    _execute(
        logged,
        update(AuditEventRow)
        .where(AuditEventRow.seq == rows[4]["seq"])
        .values(detail=json.dumps({"names": []})),
    )
    outcome = run_audit("--verify")
    assert outcome.returncode == 1 and rows[4]["id"] in outcome.stdout


def test_a_removed_event_is_found_at_the_next_one(
    logged: SqlSecretStore, run_audit: Callable[..., Outcome]
) -> None:
    rows = _table(logged)
    _execute(logged, AuditEventRow.__table__.delete().where(AuditEventRow.seq == rows[2]["seq"]))
    outcome = run_audit("--verify")
    assert outcome.returncode == 1
    assert f"event {rows[3]['id']}: an event before it was removed" in outcome.stdout


def test_removing_the_first_events_is_found(
    logged: SqlSecretStore, run_audit: Callable[..., Outcome]
) -> None:
    rows = _table(logged)
    _execute(logged, AuditEventRow.__table__.delete().where(AuditEventRow.seq <= rows[1]["seq"]))
    outcome = run_audit("--verify")
    assert outcome.returncode == 1 and rows[2]["id"] in outcome.stdout


def test_reordered_events_are_found(
    logged: SqlSecretStore, run_audit: Callable[..., Outcome]
) -> None:
    # Given two events swapped in the log's order (through a free sequence number)
    rows = _table(logged)
    a, b = rows[2]["seq"], rows[3]["seq"]
    _execute(
        logged,
        update(AuditEventRow).where(AuditEventRow.seq == a).values(seq=-1),
        update(AuditEventRow).where(AuditEventRow.seq == b).values(seq=a),
        update(AuditEventRow).where(AuditEventRow.seq == -1).values(seq=b),
    )
    outcome = run_audit("--verify")
    assert outcome.returncode == 1
    assert rows[3]["id"] in outcome.stdout


def test_rotate_key_leaves_the_log_as_it_is_and_it_verifies_with_the_new_key_alone(
    logged: SqlSecretStore,
    run_audit: Callable[..., Outcome],
    cli: Callable[..., Outcome],  # noqa: F811
    db_url: str,
    key: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = [(r["id"], r["hash"]) for r in _table(logged)]
    new = generate_key()
    monkeypatch.setenv("JUPYTERLAB_SECRETS_KEY", f"{encode_key(new)};{encode_key(key)}")
    rotated = cli("rotate-key", f"--db-url={db_url}")
    assert rotated.returncode == 0, rotated.output
    outcome = run_audit("--verify", keys=(new,))
    assert outcome.returncode == 0, outcome.output
    assert "7 events" in outcome.stdout
    after = _table(logged)
    assert after[-1]["action"] == "rotate-key"
    # And no event was chained again: the chain needs no master key
    assert [(r["id"], r["hash"]) for r in after[:-1]] == before


# -- retention: the operator's (see test_audit_anchors.py) ---------------------------------


def test_the_table_is_only_appended_to_by_the_service(logged: SqlSecretStore) -> None:
    # The store's own writes never rewrite an event: ids and MACs stay as recorded
    before = {(r["id"], r["mac"]) for r in _table(logged)}
    service = SecretsService(logged, "default")
    service.create("alice", "another", PLANTED[2])
    after = {(r["id"], r["mac"]) for r in _table(logged)}
    assert before < after and len(after - before) == 1
    with logged.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_events")).scalar() == 7


# -- the kernels' reads --------------------------------------------------------------------


async def test_the_kernels_reads_are_recorded_once_per_start_or_change_never_per_poll(
    api: Api,
    extension: Any,
    kernels: Kernels,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a server polling its store every 0.1 s, with one secret
    injector = extension.kernel_secrets
    injector.poll_interval = 0.1
    await create_secret(api, "first", PLANTED[0])
    # (each poll reads the store's change marker: count them)
    polls = 0
    read_marker = injector._read_marker

    def counted() -> str:
        nonlocal polls
        polls += 1
        return read_marker()

    monkeypatch.setattr(injector, "_read_marker", counted)

    async def polled(times: int) -> None:
        target = polls + times

        async def done() -> bool:
            return polls >= target

        await wait_until(done, what=f"{times} polls")

    def reads() -> list[dict[str, Any]]:
        return [
            row
            for row in _table(extension.store)
            if row["action"] == "environment" and row["user"] == "jupyter-server"
        ]

    # When a kernel starts and gets it
    kernel_id = await kernels.start()

    async def loaded(names: list[str]) -> bool:
        status = await kernels.status(kernel_id)
        return status["state"] == "loaded" and status["names"] == names

    await wait_until(lambda: loaded(["first"]), what="the kernel got its secrets")
    after_start = len(reads())
    # Then its read is recorded, as the server's, with the names only
    assert after_start >= 1
    assert json.loads(reads()[-1]["detail"]) == {"names": ["first"]}
    # And while nothing changes, polling (ten times over) records nothing more
    await polled(10)
    assert len(reads()) == after_start
    # And a change is read, and recorded, once more
    await create_secret(api, "second", PLANTED[1])
    await wait_until(lambda: loaded(["first", "second"]), what="the change reached the kernel")
    await polled(10)
    assert len(reads()) == after_start + 1


def _refuse_audit_events(store: SqlSecretStore) -> None:
    """Make the database refuse every new audit event, as a full disk or a broken table
    would: a trigger raises, in the database itself."""
    if store.engine.dialect.name == "postgresql":
        _execute(
            store,
            text(
                "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'audit events refused'; END $$"
            ),
            text(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
            ),
        )
    else:
        _execute(
            store,
            text(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit events refused'); END"
            ),
        )


def test_a_write_whose_event_cannot_be_recorded_is_not_made(logged: SqlSecretStore) -> None:
    from jupyterlab_secrets.errors import UnavailableError

    # Given two projects' secrets, one shared with the other and added there
    owner = SecretsService(logged, "proj-a", COMMUNITIES)
    other = SecretsService(logged, "proj-b", COMMUNITIES)
    kept = owner.create("alice", "kept-key", PLANTED[0])
    kept = owner.patch("alice", kept.id, 1, value=PLANTED[1])
    shared = owner.create("alice", "shared-key", PLANTED[2])
    shared = owner.set_access("alice", shared.id, ["ml-team"])
    other.set_attached("bob", shared.id, True)
    before = (owner.list("alice"), other.list("bob"), _table(logged))

    # And a database that now refuses every audit event
    _refuse_audit_events(logged)

    # When each kind of write is tried, then each is refused, saying why
    writes: list[Callable[[], Any]] = [
        lambda: owner.create("alice", "new-key", "a new value"),
        lambda: owner.patch("alice", kept.id, kept.version, value="changed value"),
        lambda: owner.patch("alice", kept.id, kept.version, name="renamed-key"),
        lambda: owner.copy("alice", kept.id, "copied-key"),
        lambda: owner.delete("alice", kept.id),
        lambda: owner.set_access("alice", shared.id, []),
        lambda: owner.restore("alice", kept.id, 1, kept.version),
        lambda: other.set_attached("bob", shared.id, False),
    ]
    for write in writes:
        with pytest.raises(UnavailableError, match="audit log cannot record this change"):
            write()

    # And nothing changed: the same secrets, versions, shares, additions and events
    assert (owner.list("alice"), other.list("bob"), _table(logged)) == before
    # And reading a value, which must be recorded too, is refused while events cannot be
    with pytest.raises(UnavailableError, match="no value is given out"):
        owner.reveal("alice", kept.id)
    # And once events can be recorded again, the values are those from before
    _execute(logged, text("DROP TRIGGER refuse_audit" + _ON_AUDIT[logged.engine.dialect.name]))
    assert owner.reveal("alice", kept.id) == PLANTED[1]
    assert other.reveal("bob", shared.id) == PLANTED[2]


_ON_AUDIT = {"postgresql": " ON audit_events", "sqlite": ""}
