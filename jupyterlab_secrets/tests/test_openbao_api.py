"""The REST API on the OpenBao store: the same features, and OpenBao's policies decide.

Each server is one user's server with its own token, minted by ``bao token create`` with
that user's policies, as a JupyterHub spawner would. The test server is alice's, in proj-a:
a member of ml-team and data-team, and admin of ml-team only.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    admin_policy_name,
    layout,
    member_policy_name,
    project_policy_name,
)

from .conftest import API, COMMUNITIES, Api, snapshot
from .openbao_server import OpenBao
from .test_openapi import assert_described

A = View("proj-a", ("data-team", "ml-team"))


def token_file(openbao: OpenBao, folder: Path, name: str, *policies: str) -> str:
    """A token file (mode 0600) holding a token minted with these policies."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.token"
    path.write_text(openbao.mint(*policies) + "\n")
    path.chmod(0o600)
    return str(path)


def alices_policies() -> list[str]:
    return [
        project_policy_name("proj-a"),
        member_policy_name("ml-team"),
        member_policy_name("data-team"),
        admin_policy_name("ml-team", "proj-a"),
    ]


@pytest.fixture
def secrets_config(openbao: OpenBao, tmp_path: Path) -> dict[str, Any]:
    """alice's server of proj-a on OpenBao; its config makes bob admin of data-team, but no
    token of this server holds that policy."""
    return {
        "project": "proj-a",
        "communities": COMMUNITIES,
        "openbao_url": openbao.url,
        "openbao_mount": openbao.mount,
        "openbao_token_file": token_file(openbao, tmp_path / "tokens", "alice", *alices_policies()),
    }


@pytest.fixture
def operator(openbao: OpenBao) -> OpenBaoSecretStore:
    """A store with every policy, to look at what is stored whatever a server may see."""
    store = OpenBaoSecretStore(url=openbao.url, token=openbao.everything(), mount=openbao.mount)
    yield store
    store.close()


async def create(api: Api, name: str, value: str = "value") -> dict[str, Any]:
    reply = await api("POST", "secrets", body={"name": name, "value": value})
    assert reply.status == 201, reply.body
    return reply.body


async def test_every_feature_works_on_openbao(api: Api, extension: Any, tmp_path: Path) -> None:
    # Given a server on OpenBao, which keeps no database or key file
    assert isinstance(extension.store, OpenBaoSecretStore)
    # And a secret created through the API
    created = await create(api, "api-key", "first value")
    assert (created["project"], created["version"], created["editable"]) == ("proj-a", 1, True)
    # Then it is listed and revealed, and injected
    assert [s["name"] for s in (await api("GET", "secrets")).body["secrets"]] == ["api-key"]
    assert (await api("POST", "secrets", created["id"], "reveal")).body == {"value": "first value"}
    assert (await api("GET", "environment")).body == {"environment": {"api-key": "first value"}}
    # When it is edited with a stale version, nothing is written
    edited = await api("PATCH", "secrets", created["id"], body={"version": 1, "value": "second"})
    assert edited.status == 200
    stale = await api("PATCH", "secrets", created["id"], body={"version": 1, "value": "lost"})
    assert stale.status == 409
    # And its versions are KV versions, restorable
    versions = (await api("GET", "secrets", created["id"], "versions")).body["versions"]
    assert [(v["version"], v["current"]) for v in versions] == [(2, True), (1, False)]
    restored = await api(
        "POST", "secrets", created["id"], "versions", "1", "restore", body={"version": 2}
    )
    assert restored.status == 200, restored.body
    assert (await api("POST", "secrets", created["id"], "reveal")).body == {"value": "first value"}
    # And a copy is independent, and a delete removes it
    copied = await api("POST", "secrets", created["id"], "copy", body={"name": "api-key-2"})
    assert copied.status == 201
    assert (await api("DELETE", "secrets", created["id"])).status == 204
    assert [s["name"] for s in (await api("GET", "secrets")).body["secrets"]] == ["api-key-2"]
    # And no file of the server holds a value or a key
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "tokens" not in p.parts]
    assert not [p for p in written if b"first value" in p.read_bytes()]
    assert not [p for p in written if p.name in ("secrets.db", "key")]


class TestAServerReadsTheValuesAtItsStart:
    @pytest.fixture
    def secrets_config(
        self, secrets_config: dict[str, Any], operator: OpenBaoSecretStore
    ) -> dict[str, Any]:
        """proj-a holds 6 secrets before alice's server starts."""
        service = SecretsService(operator, "proj-a", COMMUNITIES)
        for index in range(6):
            service.create("bob", f"key-{index}", f"before-start-{index}-a41c")
        return secrets_config

    async def test_before_any_kernel_asks(self, api: Api, extension: Any) -> None:
        # Given alice's server, just started, with no kernel
        store = extension.store
        # Then it reads the 6 values into memory on its own, without a request
        for _ in range(600):
            if len(store.values) == 6:
                break
            await asyncio.sleep(0.05)
        assert sorted(store.values._items) == sorted(
            layout.own_value("proj-a", s["id"])
            for s in (await api("GET", "secrets")).body["secrets"]
        )
        # And the environment it then answers is those values
        environment = (await api("GET", "environment")).body["environment"]
        assert environment == {f"key-{i}": f"before-start-{i}-a41c" for i in range(6)}


async def test_admin_rights_come_from_the_token_and_the_config_only_narrows_them(
    api: Api, operator: OpenBaoSecretStore
) -> None:
    # Given the config makes bob admin of data-team, and this server's token does not; and
    # the token may share with ml-team, whose only configured admin is alice
    reply = await api("GET", "communities", user="bob")
    assert {c["name"]: c["is_admin"] for c in reply.body["communities"]} == {
        "data-team": False,
        "ml-team": False,
    }
    reply = await api("GET", "communities", user="alice")
    assert {c["name"]: c["is_admin"] for c in reply.body["communities"]} == {
        "data-team": False,
        "ml-team": True,
    }
    created = await create(api, "guarded")
    before = await snapshot(api)
    # When bob shares with data-team
    refused = await api(
        "PUT", "secrets", created["id"], "access", body={"communities": ["data-team"]}, user="bob"
    )
    # Then OpenBao refuses, with its reason, and nothing changed
    assert refused.status == 403
    assert "permission denied" in refused.message
    assert admin_policy_name("data-team", "proj-a") in refused.message
    assert await snapshot(api) == before
    assert operator.get(A, created["id"]).shared_with == ()
    # When carl, whom the config does not name admin of ml-team, shares with it
    refused = await api(
        "PUT", "secrets", created["id"], "access", body={"communities": ["ml-team"]}, user="carl"
    )
    # Then the config narrows what the token allows: refused, and nothing changed
    assert refused.status == 403
    assert "Only an admin of community 'ml-team'" in refused.message
    assert await snapshot(api) == before
    assert operator.get(A, created["id"]).shared_with == ()
    # And alice, admin by the config and by the token, shares
    shared = await api(
        "PUT", "secrets", created["id"], "access", body={"communities": ["ml-team"]}, user="alice"
    )
    assert shared.status == 200
    assert shared.body["shared_with"] == ["ml-team"]


async def test_a_community_without_configured_admins_leaves_it_to_the_token(
    api: Api, start_server: Any, openbao: OpenBao, tmp_path: Path
) -> None:
    # Given a server whose config names no admin of ml-team, with a token that may share
    server = start_server(
        "proj-a",
        communities={"ml-team": {"projects": ["proj-a", "proj-b"]}},
        openbao_token_file=token_file(
            openbao,
            tmp_path / "tokens",
            "carl",
            project_policy_name("proj-a"),
            member_policy_name("ml-team"),
            admin_policy_name("ml-team", "proj-a"),
        ),
    )
    created = (await server.api("POST", "secrets", body={"name": "open", "value": "v"})).body
    # When carl shares with ml-team, the token decides: he may
    shared = await server.api(
        "PUT", "secrets", created["id"], "access", body={"communities": ["ml-team"]}, user="carl"
    )
    assert shared.status == 200, shared.body
    assert shared.body["shared_with"] == ["ml-team"]


async def test_a_server_claiming_proj_a_with_proj_b_token_gets_nothing(
    api: Api, start_server: Any, openbao: OpenBao, tmp_path: Path
) -> None:
    # Given proj-a's secret, and a server whose config claims proj-a with proj-b's token
    created = await create(api, "a-only", "a's value")
    before = await snapshot(api)
    claims_a = start_server(
        "proj-a",
        openbao_token_file=token_file(
            openbao,
            tmp_path / "tokens",
            "mallory",
            project_policy_name("proj-b"),
            member_policy_name("ml-team"),
        ),
    )
    # Then it lists, reads, writes and injects nothing of proj-a: OpenBao says why
    for method, path, body in (
        ("GET", ("secrets",), None),
        ("GET", ("secrets", created["id"]), None),
        ("POST", ("secrets", created["id"], "reveal"), None),
        ("GET", ("environment",), None),
        ("POST", ("secrets",), {"name": "planted", "value": "x"}),
        ("PATCH", ("secrets", created["id"]), {"version": 1, "value": "x"}),
        ("DELETE", ("secrets", created["id"]), None),
    ):
        options = {} if body is None else {"body": body}
        reply = await claims_a.api(method, *path, **options)
        assert reply.status == 403, (method, path, reply.status, reply.body)
        assert "permission denied" in reply.message
        assert "a's value" not in json.dumps(reply.body)
    assert await snapshot(api) == before


async def test_sharing_between_two_users_servers(
    api: Api, start_server: Any, openbao: OpenBao, tmp_path: Path
) -> None:
    # Given carol's server of proj-b (member of ml-team, admin of nothing)
    carol = start_server(
        "proj-b",
        openbao_token_file=token_file(
            openbao,
            tmp_path / "tokens",
            "carol",
            project_policy_name("proj-b"),
            member_policy_name("ml-team"),
        ),
    )
    created = await create(api, "db-pass", "shared value")
    # When alice shares it with ml-team
    reply = await api("PUT", "secrets", created["id"], "access", body={"communities": ["ml-team"]})
    assert reply.status == 200
    # Then carol sees it read-only, cannot share it on, and adds it to proj-b
    listed = (await carol.api("GET", "secrets")).body["secrets"]
    assert [(s["name"], s["origin"], s["editable"]) for s in listed] == [
        ("db-pass", "shared", False)
    ]
    assert (
        await carol.api("PATCH", "secrets", created["id"], body={"version": 1, "value": "x"})
    ).status == 403
    assert (await carol.api("PUT", "secrets", created["id"], "attachment")).status == 200
    assert (await carol.api("GET", "environment")).body == {
        "environment": {"db-pass": "shared value"}
    }
    # When alice changes the value, it reaches proj-b; when she renames it, it stops there
    await api("PATCH", "secrets", created["id"], body={"version": 1, "value": "new value"})
    assert (await carol.api("GET", "environment")).body == {"environment": {"db-pass": "new value"}}
    await api("PATCH", "secrets", created["id"], body={"version": 2, "name": "db-password"})
    assert (await carol.api("GET", "environment")).body == {"environment": {}}
    # When alice unshares it, proj-b no longer sees it
    reply = await api("PUT", "secrets", created["id"], "access", body={"communities": []})
    assert reply.status == 200
    assert (await carol.api("GET", "secrets")).body["secrets"] == []


async def test_a_member_who_is_not_an_admin_changes_a_shared_secret_but_never_its_sharing(
    api: Api, start_server: Any, openbao: OpenBao, operator: OpenBaoSecretStore, tmp_path: Path
) -> None:
    # Given a secret of proj-a that alice shared with ml-team, bob's server of proj-a (a member
    # of ml-team, not its admin) and carol's of proj-b, where it was added
    tokens = tmp_path / "tokens"
    bob = start_server(
        "proj-a",
        openbao_token_file=token_file(
            openbao, tokens, "bob", project_policy_name("proj-a"), member_policy_name("ml-team")
        ),
    )
    carol = start_server(
        "proj-b",
        openbao_token_file=token_file(
            openbao, tokens, "carol", project_policy_name("proj-b"), member_policy_name("ml-team")
        ),
    )
    shared = await create(api, "db-pass", "shared-before-4e2a")
    reply = await api("PUT", "secrets", shared["id"], "access", body={"communities": ["ml-team"]})
    assert reply.status == 200
    assert (await carol.api("PUT", "secrets", shared["id"], "attachment")).status == 200
    private = await create(api, "private", "private-value-0c7d")
    before = await snapshot(api)
    seen_by_carol = await snapshot(carol.api)
    # When bob shares the private one, unshares the shared one, or deletes the shared one
    for method, path, body in (
        ("PUT", ("secrets", private["id"], "access"), {"communities": ["ml-team"]}),
        ("PUT", ("secrets", shared["id"], "access"), {"communities": []}),
        ("DELETE", ("secrets", shared["id"]), None),
    ):
        options = {} if body is None else {"body": body}
        refused = await bob.api(method, *path, **options)
        # Then OpenBao refuses with its reason, naming the policy he lacks; nothing changed
        assert refused.status == 403, (method, path, refused.body)
        assert "permission denied" in refused.message
        assert admin_policy_name("ml-team", "proj-a") in refused.message
        assert "shared-before-4e2a" not in json.dumps(refused.body)
    assert await snapshot(api) == before
    assert await snapshot(carol.api) == seen_by_carol
    assert operator.get(A, shared["id"]).shared_with == ("ml-team",)
    # When bob changes the shared secret's value, it reaches proj-b's kernels
    changed = await bob.api(
        "PATCH", "secrets", shared["id"], body={"version": 1, "value": "shared-after-9f31"}
    )
    assert changed.status == 200, changed.body
    assert (await carol.api("GET", "environment")).body == {
        "environment": {"db-pass": "shared-after-9f31"}
    }


async def test_a_reveal_is_in_openbaos_audit_log_without_the_value(
    api: Api, openbao: OpenBao
) -> None:
    created = await create(api, "audited", "plaintext-4b1e7d")
    assert (await api("POST", "secrets", created["id"], "reveal")).status == 200
    log = openbao.server.audit_log.read_text()
    path = f"{openbao.mount}/data/projects/proj-a/secrets/{created['id']}"
    reads = [
        json.loads(line)
        for line in log.splitlines()
        if path in line and '"operation":"read"' in line.replace(" ", "")
    ]
    assert any(entry["type"] == "response" for entry in reads)
    assert "plaintext-4b1e7d" not in log


async def test_get_audit_lists_every_environment_with_names_only(
    api: Api, jp_fetch: Any, openbao: OpenBao
) -> None:
    # Given a server on OpenBao where a secret was created, then read for kernels three times
    # (the first read reaches OpenBao, the next two come from the server's memory)
    created = await create(api, "audited", "plaintext-6d0a2c")
    for _ in range(3):
        reply = await api("GET", "environment")
        assert reply.body == {"environment": {"audited": "plaintext-6d0a2c"}}
    # When its audit log is asked for
    reply = await api("GET", "audit")
    # Then it lists every environment, with the names only, and the creation, newest first
    assert reply.status == 200, reply.body
    events = reply.body["events"]
    assert [(e["action"], e["secret_id"]) for e in events] == [
        ("environment", None),
        ("environment", None),
        ("environment", None),
        ("create", created["id"]),
    ]
    assert [e["detail"] for e in events[:3]] == [{"names": ["audited"]}] * 3
    assert "plaintext-6d0a2c" not in json.dumps(reply.body)
    # And a page and one secret's events are answered too
    for params in ({"limit": "1", "before": events[2]["id"]}, {"secret_id": created["id"]}):
        answer = await jp_fetch(*API, "audit", params=params, method="GET")
        assert json.loads(answer.body)["events"] == events[3:]
    # And that answer is the one the OpenAPI description lists
    assert assert_described("GET", "/audit", 200, reply.headers, json.dumps(reply.body).encode())
    # And the events are documents of proj-a's audit folder, which hold no value
    kv = openbao.server.client().secrets.kv.v2
    days = kv.list_secrets(layout.audit_tree("proj-a"), mount_point=openbao.mount)["data"]["keys"]
    paths = [
        f"{layout.audit_tree('proj-a')}/{day}{name}"
        for day in days
        for name in kv.list_secrets(
            f"{layout.audit_tree('proj-a')}/{day}", mount_point=openbao.mount
        )["data"]["keys"]
    ]
    assert sorted(path.rsplit("/", 1)[1] for path in paths) == sorted(e["id"] for e in events)
    documents = [
        kv.read_secret_version(path, mount_point=openbao.mount, raise_on_deleted_version=True)
        for path in paths
    ]
    assert "plaintext-6d0a2c" not in json.dumps(documents)
