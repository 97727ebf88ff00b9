"""A team on a real JupyterHub: the hub decides who works in which project, mints each
server's OpenBao token, renews it and revokes it.

One JupyterHub (from PyPI, DummyAuthenticator, SimpleLocalProcessSpawner, named servers,
configurable-http-proxy from npm) and one ``bao server -dev`` serve the whole module, set up
by ``jupyter secrets openbao-setup`` and configured by the operators' example
``examples/jupyterhub/jupyterhub_config.py``. alice (admin of ml-team) and bob are in proj-a,
carol in proj-b, dave in both, erin in none. Every request goes through the hub's proxy with
the users' own hub tokens. With ``CI=true`` a missing JupyterHub, proxy or OpenBao fails the
module instead of skipping it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from jupyterlab_secrets.stores.openbao import (
    HUB_POLICY_NAME,
    TOKEN_ROLE,
    admin_policy_name,
    member_policy_name,
    project_policy_name,
    server_policies,
)

from .hub_server import COMMUNITIES, MOUNT, Hub, HubDidNotStart, missing, running_hub
from .kernel_client import JSON_PROTOCOL, KernelClient, text_of

API = "jupyterlab-secrets/api/"
SERVERS = (("alice", "proj-a"), ("bob", "proj-a"), ("carol", "proj-b"))
OPENBAO_TOKEN = re.compile(rb"\b(?:s|hvs|b|hvb)\.[A-Za-z0-9]{20,}")
"""What an OpenBao (or Vault) service or batch token looks like."""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The module's hub, with alice's and bob's proj-a servers and carol's proj-b server
    started through its REST API, each by its user."""
    reason = missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: the hub tests must run).", pytrace=False)
        pytest.skip(reason)
    try:
        with running_hub(tmp_path_factory.mktemp("hub"), renew_interval=1) as running:
            for user, server in SERVERS:
                reply = running.spawn(user, server)
                assert reply.status_code in (201, 202), reply.text
            with ThreadPoolExecutor(3) as pool:
                list(pool.map(lambda s: running.wait_ready(*s), SERVERS))
            yield running
    except HubDidNotStart as error:
        pytest.fail(str(error), pytrace=False)


def call(hub: Hub, owner: str, server: str, method: str, path: str, *, user: str = "", **options):
    """Call the secrets API of ``owner``'s server over the hub's proxy, as ``user`` (the
    owner by default), with that user's hub token."""
    token = hub.token_of(user or owner)
    return httpx.request(
        method,
        hub.server_url(owner, server) + API + path,
        headers={"Authorization": f"token {token}"},
        timeout=60,
        **options,
    )


def held(hub: Hub) -> dict[str, dict[str, str]]:
    """What the hub keeps of its servers' tokens (its state file: accessors, never tokens)."""
    path = hub.folder / "jupyterlab_secrets_hub.json"
    return json.loads(path.read_text()) if path.exists() else {}


def lookup(hub: Hub, accessor: str) -> dict[str, Any]:
    """OpenBao's record of a token, looked up by the root token."""
    assert hub.bao is not None
    return hub.bao.client().auth.token.lookup_accessor(accessor)["data"]


def server_pid(hub: Hub, user: str, server: str) -> int:
    state = hub.api("GET", f"users/{user}").json()["servers"][server]["state"]
    return int(state["pid"])


def count_tokens(hub: Hub) -> int:
    assert hub.bao is not None
    return len(hub.bao.client().auth.token.list_accessors()["data"]["keys"])


# -- openbao-setup ---------------------------------------------------------------------


def test_openbao_setup_writes_the_token_role_and_the_hubs_policy(hub: Hub) -> None:
    assert hub.bao is not None
    root = hub.bao.client()
    # Then the role allows exactly the project, member and admin policies it wrote
    role = root.auth.token.read_role(TOKEN_ROLE)["data"]
    assert sorted(role["allowed_policies"]) == sorted(
        [
            project_policy_name("proj-a"),
            project_policy_name("proj-b"),
            member_policy_name("ml-team"),
            admin_policy_name("ml-team", "proj-a"),
            admin_policy_name("ml-team", "proj-b"),
        ]
    )
    assert (role["orphan"], role["renewable"], role["token_period"]) == (True, True, 3600)
    # And the hub's policy reaches no path of the mount
    rules = root.sys.read_policy(HUB_POLICY_NAME)["data"]["rules"]
    paths = re.findall(r'^path "([^"]+)"', rules, re.MULTILINE)
    assert sorted(paths) == sorted(
        [
            f"auth/token/create/{TOKEN_ROLE}",
            "auth/token/lookup-accessor",
            "auth/token/renew-accessor",
            "auth/token/revoke-accessor",
        ]
    )
    assert (
        "Token role jupyterlab-secrets: written." in (hub.folder / "openbao-setup.log").read_text()
    )


def test_the_hubs_token_reads_no_secret_and_mints_only_through_the_role(hub: Hub) -> None:
    assert hub.bao is not None
    client = hvac.Client(url=hub.bao.url, token=hub.hub_token)
    # Given a secret of proj-a
    created = call(
        hub, "alice", "proj-a", "POST", "secrets", json={"name": "hub-probe", "value": "x" * 12}
    )
    assert created.status_code == 201, created.text
    secret_path = f"projects/proj-a/secrets/{created.json()['id']}"
    # Then the hub's token cannot read it, list the mount, or mint outside the role
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(
            secret_path, mount_point=MOUNT, raise_on_deleted_version=True
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.list_secrets("projects", mount_point=MOUNT)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.create(policies=[project_policy_name("proj-a")])
    # And through the role it cannot mint a token with its own policy
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.auth.token.create(role_name=TOKEN_ROLE, policies=[HUB_POLICY_NAME])
    assert (
        call(hub, "alice", "proj-a", "DELETE", f"secrets/{created.json()['id']}").status_code == 204
    )


# -- one token per server ----------------------------------------------------------------


def test_each_server_works_in_the_project_its_name_says(hub: Hub) -> None:
    for user, server in SERVERS:
        reply = call(hub, user, server, "GET", "secrets")
        assert reply.status_code == 200, reply.text
        assert reply.json()["project"] == server


@pytest.mark.parametrize("user,project", SERVERS)
def test_the_token_holds_exactly_the_users_policies_for_the_project(
    hub: Hub, user: str, project: str
) -> None:
    accessor = held(hub)[f"{user}/{project}"]["accessor"]
    record = lookup(hub, accessor)
    expected = {
        "alice": [
            project_policy_name("proj-a"),
            member_policy_name("ml-team"),
            admin_policy_name("ml-team", "proj-a"),
        ],
        "bob": [project_policy_name("proj-a"), member_policy_name("ml-team")],
        "carol": [project_policy_name("proj-b"), member_policy_name("ml-team")],
    }[user]
    assert server_policies(user, project, COMMUNITIES) == expected
    # "default" lets the server look up its own token and capabilities; nothing else is added
    assert sorted(record["policies"]) == sorted(["default", *expected])
    assert record["meta"] == {"user": user, "project": project}
    assert (record["role"], record["orphan"], record["renewable"]) == (TOKEN_ROLE, True, True)


def test_the_hub_renews_from_its_start_not_from_the_first_spawn(hub: Hub) -> None:
    # So that after a restart it goes on renewing the tokens of servers that outlived it
    log = hub.log
    assert "Renewing the OpenBao tokens of running servers every 1.0 s" in log
    assert log.index("Renewing the OpenBao tokens") < log.index("Minted the OpenBao token")


def test_the_token_is_renewed_while_the_server_runs(hub: Hub) -> None:
    # Given the hub renews every second (renew_interval=1)
    accessor = held(hub)["carol/proj-b"]["accessor"]
    first = lookup(hub, accessor).get("last_renewal_time")
    deadline = time.monotonic() + 60
    while True:
        renewed = lookup(hub, accessor).get("last_renewal_time")
        if renewed and renewed != first:
            break
        assert time.monotonic() < deadline, "the hub did not renew carol's token"
        time.sleep(0.5)
    # Then it was renewed to a full period again
    assert lookup(hub, accessor)["ttl"] > 3000


@pytest.mark.parametrize("user,project", SERVERS)
def test_the_token_reaches_the_server_in_a_private_file_not_its_environment(
    hub: Hub, user: str, project: str
) -> None:
    pid = server_pid(hub, user, project)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    # The command line names the file, never a token
    token_file = held(hub)[f"{user}/{project}"]["token_file"]
    assert f"--SecretsExtension.openbao_token_file={token_file}".encode() in cmdline
    assert f"--SecretsExtension.project={project}".encode() in cmdline
    assert f"--SecretsExtension.owner={user}".encode() in cmdline
    for where in (b"\0".join(cmdline), environ):
        assert OPENBAO_TOKEN.search(where) is None
        assert hub.hub_token.encode() not in where
    names = {entry.split(b"=", 1)[0] for entry in environ.split(b"\0") if entry}
    assert not names & {b"BAO_TOKEN", b"VAULT_TOKEN"}
    # The file is in a folder only the server's user may enter, and only they may read it
    folder = Path(token_file).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert folder.stat().st_uid == os.getuid()
    if Path(token_file).exists():  # until the server removes it once read
        assert stat.S_IMODE(Path(token_file).stat().st_mode) == 0o600
        token = Path(token_file).read_bytes().strip()
        assert OPENBAO_TOKEN.fullmatch(token)
        assert token not in environ and token not in b"\0".join(cmdline)


# -- projects are hub groups ---------------------------------------------------------------


@pytest.mark.parametrize(
    "user,server,reason",
    [
        (
            "carol",
            "proj-a",
            "carol is not a member of the group proj-a, so cannot start a server for project "
            "proj-a",
        ),
        ("alice", "proj-z", "alice is not a member of the group proj-z"),
        ("dave", "", "dave is in several projects (proj-a, proj-b): start a named server"),
        ("erin", "", "erin is in no project"),
    ],
)
def test_a_spawn_outside_the_users_projects_is_refused_with_the_reason(
    hub: Hub, user: str, server: str, reason: str
) -> None:
    tokens = count_tokens(hub)
    reply = hub.spawn(user, server)
    assert reply.status_code == 403, reply.text
    assert reason in reply.json()["message"]
    # And no token was minted for it
    assert count_tokens(hub) == tokens
    assert f"{user}/{server}" not in held(hub)


def test_removing_a_user_from_a_group_stops_their_next_spawn(hub: Hub) -> None:
    # Given dave, in proj-a and proj-b, who starts and stops a proj-b server
    assert hub.spawn("dave", "proj-b").status_code in (201, 202)
    hub.wait_ready("dave", "proj-b")
    hub.stop_server("dave", "proj-b")
    # When the hub's admin removes him from proj-b
    reply = hub.api("DELETE", "groups/proj-b/users", json={"users": ["dave"]})
    assert reply.status_code == 200, reply.text
    try:
        # Then he cannot start it again, and is told why
        refused = hub.spawn("dave", "proj-b")
        assert refused.status_code == 403
        assert "not a member of the group proj-b" in refused.json()["message"]
        # And his default server now gets his only project
        assert hub.spawn("dave").status_code in (201, 202)
        hub.wait_ready("dave")
        assert call(hub, "dave", "", "GET", "secrets").json()["project"] == "proj-a"
        assert held(hub)["dave/"]["project"] == "proj-a"
        hub.stop_server("dave")
    finally:
        hub.api("POST", "groups/proj-b/users", json={"users": ["dave"]})


# -- the team at work ------------------------------------------------------------------------


def test_alice_shares_bob_cannot_carol_adds_it_and_her_kernel_sees_it(hub: Hub) -> None:
    name = f"team-key-{uuid.uuid4().hex[:6]}"
    value = f"shared-value-{uuid.uuid4().hex}"
    # Given alice's secret in proj-a, shared with ml-team by her
    created = call(hub, "alice", "proj-a", "POST", "secrets", json={"name": name, "value": value})
    assert created.status_code == 201, created.text
    secret_id = created.json()["id"]
    shared = call(
        hub,
        "alice",
        "proj-a",
        "PUT",
        f"secrets/{secret_id}/access",
        json={"communities": ["ml-team"]},
    )
    assert shared.status_code == 200, shared.text
    assert shared.json()["shared_with"] == ["ml-team"]
    # When bob tries to share his own secret with ml-team
    own = call(
        hub, "bob", "proj-a", "POST", "secrets", json={"name": f"bob-{name}", "value": "bob's"}
    )
    refused = call(
        hub,
        "bob",
        "proj-a",
        "PUT",
        f"secrets/{own.json()['id']}/access",
        json={"communities": ["ml-team"]},
    )
    # Then he may not, and it stays unshared
    assert refused.status_code == 403, refused.text
    assert (
        call(hub, "bob", "proj-a", "GET", f"secrets/{own.json()['id']}").json()["shared_with"] == []
    )
    communities = call(hub, "bob", "proj-a", "GET", "communities").json()["communities"]
    assert [(c["name"], c["is_admin"]) for c in communities] == [("ml-team", False)]
    # When carol adds alice's shared secret to proj-b
    listed = call(hub, "carol", "proj-b", "GET", "secrets").json()["secrets"]
    assert [(s["name"], s["origin"]) for s in listed if s["id"] == secret_id] == [(name, "shared")]
    added = call(hub, "carol", "proj-b", "PUT", f"secrets/{secret_id}/attachment")
    assert added.status_code == 200, added.text
    # Then a kernel of her server, started over the proxy, has it
    code = (
        "import os, hashlib\n"
        f"print('sha', hashlib.sha256(os.environ.get({name!r}, '').encode()).hexdigest())\n"
        "print('env', os.environ.get('OPERATOR_ENV'), '|', os.environ.get('OPERATOR_HOOK'))\n"
        "print('tokens', sorted(k for k in os.environ if k in ('BAO_TOKEN', 'VAULT_TOKEN')))\n"
    )
    text = asyncio.run(run_in_kernel(hub, "carol", "proj-b", code))
    import hashlib

    assert f"sha {hashlib.sha256(value.encode()).hexdigest()}" in text
    # And the operator's own environment and pre-spawn hook took effect, beside the hub's
    assert "env kept | ran for proj-b" in text
    assert "tokens []" in text
    assert value not in text


async def run_in_kernel(hub: Hub, user: str, server: str, code: str) -> str:
    """Start a kernel on a server over the hub's proxy, run ``code`` over its websocket, and
    return what it showed; the kernel is shut down."""
    token = hub.token_of(user)
    headers = {"Authorization": f"token {token}"}
    base = hub.server_url(user, server)
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        kernel = (await client.post(base + "api/kernels", json={"name": "python3"})).json()
        try:
            ws_url = base.replace("http://", "ws://") + f"api/kernels/{kernel['id']}/channels"
            ws = await websocket_connect(HTTPRequest(ws_url, headers=headers))
            kernel_client = KernelClient(ws, JSON_PROTOCOL, kernel["id"])
            try:
                return text_of(await kernel_client.execute(code, timeout=120))
            finally:
                kernel_client.close()
        finally:
            await client.delete(base + f"api/kernels/{kernel['id']}")


def test_on_a_shared_server_only_its_owner_acts_as_admin(hub: Hub) -> None:
    # Given alice's proj-a server, shared with bob through the hub, and a secret of proj-a
    created = call(
        hub,
        "alice",
        "proj-a",
        "POST",
        "secrets",
        json={"name": f"owned-{uuid.uuid4().hex[:6]}", "value": "v" * 10},
    )
    secret_id = created.json()["id"]
    # When bob uses it, he has the project's rights
    listing = call(hub, "alice", "proj-a", "GET", "secrets", user="bob")
    assert listing.status_code == 200, listing.text
    assert secret_id in [s["id"] for s in listing.json()["secrets"]]
    # But not alice's admin rights, though her token holds them
    communities = call(hub, "alice", "proj-a", "GET", "communities", user="bob").json()
    assert [(c["name"], c["is_admin"]) for c in communities["communities"]] == [("ml-team", False)]
    refused = call(
        hub,
        "alice",
        "proj-a",
        "PUT",
        f"secrets/{secret_id}/access",
        user="bob",
        json={"communities": ["ml-team"]},
    )
    assert refused.status_code == 403
    assert "only its owner acts as an admin" in refused.json()["message"]
    assert call(hub, "alice", "proj-a", "GET", f"secrets/{secret_id}").json()["shared_with"] == []
    # And alice, on the same server, is the admin
    communities = call(hub, "alice", "proj-a", "GET", "communities").json()
    assert [(c["name"], c["is_admin"]) for c in communities["communities"]] == [("ml-team", True)]


# -- stopping --------------------------------------------------------------------------------


def test_the_token_is_revoked_when_the_server_stops(hub: Hub) -> None:
    # Given bob's running server and its live token
    entry = held(hub)["bob/proj-a"]
    assert lookup(hub, entry["accessor"])["meta"] == {"user": "bob", "project": "proj-a"}
    # When he stops it (the hub may answer before its post-stop hooks are done)
    hub.stop_server("bob", "proj-a")
    deadline = time.monotonic() + 60
    while "bob/proj-a" in held(hub):
        assert time.monotonic() < deadline, "the hub did not finish stopping bob's server"
        time.sleep(0.2)
    # Then its token is gone, and so is its file
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid accessor"):
        lookup(hub, entry["accessor"])
    assert not Path(entry["token_file"]).exists()
    # And the operator's own post-stop hook ran too
    assert "bob/proj-a" in (hub.folder / "stopped.log").read_text().splitlines()
