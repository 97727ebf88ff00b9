"""The OpenBao store against a real OpenBao, with tokens minted by ``bao token create``:
the store's own behaviour, and that OpenBao's policies decide, not the server's config."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import hvac.exceptions
import pytest

from jupyterlab_secrets.errors import (
    ForbiddenError,
    NameTakenError,
    NotFoundError,
    UnavailableError,
)
from jupyterlab_secrets.openbao_admin import openbao_setup
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    admin_policy_name,
    configured_policies,
    layout,
    member_policy_name,
    project_policy_name,
)
from jupyterlab_secrets.stores.openbao.index import modify

from .conftest import COMMUNITIES
from .openbao_server import OpenBao, answered

A = View("proj-a", ("data-team", "ml-team"))
B = View("proj-b", ("ml-team",))
C = View("proj-c", ("data-team", "other-team"))


@pytest.fixture
def everything(openbao: OpenBao, open_store) -> OpenBaoSecretStore:
    """A store whose token holds every policy of the config (an operator's view)."""
    return open_store(openbao.everything())


def member_token(openbao: OpenBao, project: str, *communities: str, admin: tuple = ()) -> str:
    """A user's server token: its project, its communities, and the communities it admins."""
    names = [project_policy_name(project)]
    names += [member_policy_name(c) for c in communities]
    names += [admin_policy_name(c, project) for c in admin]
    return openbao.mint(*names)


def snapshot(store: OpenBaoSecretStore, view: View) -> tuple:
    """Everything a view sees: metadata and values."""
    listed = sorted(store.list(view), key=lambda s: s.id)
    return listed, dict(store.read_values(view, [s.id for s in listed]))


# -- the store on its own ----------------------------------------------------------------


def test_change_marker_costs_the_same_for_many_secrets(
    openbao: OpenBao, everything: OpenBaoSecretStore
) -> None:
    before, requests = answered(openbao, lambda: everything.change_marker(A))
    counted = len(requests)
    everything.create(A, name="one", value="1", user="alice")
    after_one = everything.change_marker(A)
    for index in range(30):
        everything.create(A, name=f"many-{index}", value="x", user="alice")
    everything.snapshots.settle()  # the values snapshot is written after each create answers
    after_many, requests = answered(openbao, lambda: everything.change_marker(A))
    assert len(requests) == counted == 1 + len(A.communities)
    assert len({before, after_one, after_many}) == 3


def test_values_read_at_once_are_each_audited_and_keyed_by_id(openbao: OpenBao, open_store) -> None:
    # Given 40 secrets of proj-a, one of them refused to this token by a policy, and one of
    # proj-b shared with ml-team
    everything = open_store(openbao.everything())
    values = {f"v-{index}-c41d": f"value-{index}-9e2b" for index in range(40)}
    ids = {
        everything.create(A, name=name, value=value, user="alice").id: value
        for name, value in values.items()
    }
    refused = next(iter(ids))
    shared = everything.create(B, name="from-b", value="shared-value-5a1f", user="bob")
    everything.set_shares(B, shared.id, add=["ml-team"], remove=[])
    root = openbao.server.client()
    root.sys.create_or_update_policy(
        "deny-one",
        f'path "{openbao.mount}/data/projects/proj-a/secrets/{refused}" '
        '{ capabilities = ["deny"] }',
    )
    token = openbao.mint(project_policy_name("proj-a"), member_policy_name("ml-team"), "deny-one")
    at_once, one_by_one = open_store(token), open_store(token, read_concurrency=1)
    assert at_once.read_concurrency > 1
    wanted = [*ids, shared.id, "0" * 32, "not-an-id"]
    everything.snapshots.settle()  # its snapshot writes, made after each create answered
    # When every value is read at once
    read, requests = answered(openbao, lambda: at_once.read_values(A, wanted))
    # Then each is keyed by its ID, the refused one left out as one at a time leaves it out
    expected = {key: value for key, value in ids.items() if key != refused}
    expected[shared.id] = "shared-value-5a1f"
    assert read == expected
    assert one_by_one.read_values(A, wanted) == expected
    # And OpenBao audited one read of every value, the refused one too
    value_reads = sorted(path for op, path in requests if "/secrets/" in path)
    assert {op for op, _ in requests} <= {"read", "list"}  # reading writes nothing
    assert value_reads == sorted(
        [f"{openbao.mount}/data/projects/proj-a/secrets/{key}" for key in ids]
        + [f"{openbao.mount}/data/communities/ml-team/projects/proj-b/secrets/{shared.id}"]
    )
    # And no value reached the audit log in clear
    log = openbao.server.audit_log.read_text()
    assert not any(value in log for value in [*values.values(), "shared-value-5a1f"])


def test_setup_is_idempotent_and_prints_no_token(openbao: OpenBao) -> None:
    lines: list[str] = []
    changed = openbao_setup(
        openbao.server.client(),
        mount=openbao.mount,
        project="proj-d",
        communities=COMMUNITIES,
        say=lines.append,
    )
    assert changed == 0
    assert all(line.endswith(("unchanged.", "exists.")) for line in lines), lines
    names = set(configured_policies(openbao.mount, "proj-d", COMMUNITIES))
    assert {
        "jupyterlab-secrets-project-proj-a",
        "jupyterlab-secrets-member-ml-team",
        "jupyterlab-secrets-admin-data-team@proj-a",
        "jupyterlab-secrets-admin-data-team@proj-c",
    } <= names
    assert openbao.server.root_token not in "\n".join(lines)


def test_a_create_that_loses_its_name_leaves_no_value_behind(openbao: OpenBao, open_store) -> None:
    # Given two servers of proj-a, and a name taken already
    token = openbao.everything()
    first, second = open_store(token), open_store(token)
    first.create(A, name="taken", value="x", user="alice")
    # When one creates it again, and both race to create another name at once
    with pytest.raises(NameTakenError):
        second.create(A, name="taken", value="lost", user="alice")
    barrier = threading.Barrier(2)

    def create(store: OpenBaoSecretStore) -> str:
        barrier.wait()
        try:
            store.create(A, name="twice", value="x", user="alice")
            return "created"
        except NameTakenError:
            return "taken"

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(create, (first, second))) == ["created", "taken"]
    # Then OpenBao holds a value for each listed secret only: the losers' were deleted
    values = first.kv.list("projects/proj-a/secrets")
    assert sorted(values) == sorted(s.id for s in first.list(A))
    assert len(values) == 2


def test_a_value_that_landed_after_its_edit_was_undone_blocks_no_later_edit(
    openbao: OpenBao, open_store
) -> None:
    # Given a secret at version 2, and a value that reached OpenBao after the edit that sent
    # it was reported failed and undone (OpenBao answered nothing in time, then applied it)
    store = open_store(openbao.everything())
    secret = store.create(A, name="edited", value="v1", user="alice")
    secret = store.update(A, secret.id, expected_version=1, user="alice", value="v2")
    path = layout.own_value("proj-a", secret.id)
    _, kv_version = store.kv.read(path)
    store.kv.write(path, {"value": "lost-in-flight"}, cas=kv_version)
    # When the secret is edited again
    edited = store.update(A, secret.id, expected_version=2, user="alice", value="v3")
    # Then the edit is made, and every version the history lists can be read
    assert edited.version == 3
    assert store.read_values(A, [secret.id]) == {secret.id: "v3"}
    kept = [store.read_version(A, secret.id, v.version) for v in store.versions(A, secret.id)]
    assert kept == ["v3", "v2", "v1"]


def test_capabilities_are_those_the_policies_grant(openbao: OpenBao, open_store) -> None:
    # Given a token of proj-a that is a member (not an admin) of data-team
    store = open_store(member_token(openbao, "proj-a", "data-team"))
    own = "data/projects/proj-a/secrets/" + "0" * 32
    copy = "data/communities/ml-team/projects/proj-a/secrets/" + "0" * 32
    shared = "data/communities/data-team/projects/proj-b/secrets/" + "0" * 32
    other = "data/projects/proj-b/secrets/" + "0" * 32
    # When OpenBao is asked what it may do on each path
    granted = store.capabilities([own, copy, shared, other])
    # Then each is what its policies say, by the path as asked
    assert set(granted[own]) == {"create", "read", "update", "patch", "delete", "list"}
    assert granted[copy] == ["update"]
    assert granted[shared] == ["read"]
    assert granted[other] == ["deny"]
    # And a root token may do anything
    root = open_store(openbao.server.root_token)
    assert root.capabilities([other]) == {other: ["root"]}
    assert root.community_admin(A, "data-team")


# -- OpenBao decides ----------------------------------------------------------------------


def test_a_token_of_proj_b_gets_nothing_of_proj_a(
    openbao: OpenBao, open_store, everything: OpenBaoSecretStore
) -> None:
    # Given a secret of proj-a, and a server whose config claims proj-a with proj-b's token
    secret = everything.create(A, name="a-only", value="value-of-a", user="alice")
    before = snapshot(everything, A)
    claims_a = open_store(member_token(openbao, "proj-b", "ml-team"))
    # Then it lists, reads, writes and injects nothing of proj-a, each refused by OpenBao
    for attempt in (
        lambda: claims_a.list(A),
        lambda: claims_a.get(A, secret.id),
        lambda: claims_a.read_values(A, [secret.id]),
        lambda: claims_a.create(A, name="planted", value="x", user="mallory"),
        lambda: claims_a.update(A, secret.id, expected_version=1, user="mallory", value="x"),
        lambda: claims_a.delete(A, secret.id),
        lambda: claims_a.read_version(A, secret.id, 1),
    ):
        with pytest.raises(ForbiddenError, match="permission denied"):
            attempt()
    assert snapshot(everything, A) == before


def test_bob_without_the_admin_policy_cannot_share(
    openbao: OpenBao, open_store, everything: OpenBaoSecretStore
) -> None:
    # Given bob's server of proj-a: the config makes bob admin of data-team, his token does not
    secret = everything.create(A, name="shared", value="s3cret", user="alice")
    bobs = open_store(member_token(openbao, "proj-a", "ml-team", "data-team"))
    assert not bobs.community_admin(A, "data-team")
    # When he shares, OpenBao's reason comes back and nothing is written
    with pytest.raises(ForbiddenError, match="permission denied") as refused:
        bobs.set_shares(A, secret.id, add=["data-team"], remove=[])
    assert admin_policy_name("data-team", "proj-a") in refused.value.message
    assert everything.get(A, secret.id).shared_with == ()
    assert everything.list(C) == []
    # And a token with the admin policy may
    admins = open_store(member_token(openbao, "proj-a", "data-team", admin=("data-team",)))
    assert admins.community_admin(A, "data-team")
    assert admins.set_shares(A, secret.id, add=["data-team"], remove=[]).shared_with == (
        "data-team",
    )


def test_a_member_cannot_write_a_shared_copy(
    openbao: OpenBao, open_store, everything: OpenBaoSecretStore
) -> None:
    secret = everything.create(A, name="shared", value="original", user="alice")
    everything.set_shares(A, secret.id, add=["ml-team"], remove=[])
    b = open_store(member_token(openbao, "proj-b", "ml-team"))
    assert b.read_values(B, [secret.id]) == {secret.id: "original"}
    # proj-b cannot change it, neither through the store nor behind its back
    with pytest.raises(NotFoundError):
        b.update(B, secret.id, expected_version=1, user="carol", value="hijacked")
    with pytest.raises(NotFoundError):
        b.set_shares(B, secret.id, add=[], remove=["ml-team"])
    copy = f"communities/ml-team/projects/proj-a/secrets/{secret.id}"
    with pytest.raises(ForbiddenError):
        b.kv.write(copy, {"value": "x"}, None)
    with pytest.raises(ForbiddenError):
        b.kv.destroy(copy)
    assert b.read_values(B, [secret.id]) == {secret.id: "original"}


def test_a_change_by_a_member_who_is_not_an_admin_reaches_the_shared_copy(
    openbao: OpenBao, open_store, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a secret of proj-a that alice (admin of ml-team) shared with ml-team; bob works in
    # proj-a too, a member of ml-team but not its admin; carol reads it in proj-b
    alice = open_store(member_token(openbao, "proj-a", "ml-team", admin=("ml-team",)))
    bob = open_store(member_token(openbao, "proj-a", "ml-team", "data-team"))
    carol = open_store(member_token(openbao, "proj-b", "ml-team"))
    secret = alice.create(A, name="db-pass", value="first-5c1e", user="alice")
    alice.set_shares(A, secret.id, add=["ml-team"], remove=[])
    assert carol.read_values(B, [secret.id]) == {secret.id: "first-5c1e"}
    marker = carol.change_marker(B)
    # When bob changes its value
    bob.update(A, secret.id, expected_version=1, user="bob", value="second-8d2f")
    # Then ml-team's members read the new value, and their change marker moved
    assert carol.read_values(B, [secret.id]) == {secret.id: "second-8d2f"}
    assert carol.change_marker(B) != marker
    assert [v.version for v in carol.versions(B, secret.id)] == [2, 1]
    # And a rename by bob reaches them too, and nothing failed to follow
    bob.update(A, secret.id, expected_version=2, user="bob", name="db-password")
    assert carol.get(B, secret.id).name == "db-password"
    assert "could not follow" not in caplog.text


def test_each_users_own_token_suffices_to_share_add_change_and_unshare(
    openbao: OpenBao, open_store, everything: OpenBaoSecretStore
) -> None:
    # (The contract suite runs these rules with a token of every policy; here each server
    # holds only its user's policies, as a hub mints them.)
    # Given alice (admin of ml-team) on proj-a, and carol on proj-b, each with own tokens
    alice = open_store(member_token(openbao, "proj-a", "ml-team", "data-team", admin=("ml-team",)))
    carol = open_store(member_token(openbao, "proj-b", "ml-team"))
    secret = alice.create(A, name="db-pass", value="first", user="alice")
    assert carol.list(B) == []
    # When alice shares it, proj-b lists it read-only and reads it
    alice.set_shares(A, secret.id, add=["ml-team"], remove=[])
    seen = carol.get(B, secret.id)
    assert (seen.project, seen.shared_with, seen.attached_as) == ("proj-a", ("ml-team",), None)
    marker = carol.change_marker(B)
    # When carol adds it to proj-b, it is added under its current name
    assert carol.set_attachment(B, secret.id, "db-pass").attached_as == "db-pass"
    assert carol.get(B, secret.id).attached_as == "db-pass"
    assert carol.change_marker(B) != marker
    # When alice changes the value, it reaches proj-b
    marker = carol.change_marker(B)
    alice.update(A, secret.id, expected_version=1, user="alice", value="second")
    assert carol.read_values(B, [secret.id]) == {secret.id: "second"}
    assert carol.change_marker(B) != marker
    # When alice renames it, proj-b keeps the name it added (the service stops injecting it)
    alice.update(A, secret.id, expected_version=2, user="alice", name="db-password")
    seen = carol.get(B, secret.id)
    assert (seen.name, seen.attached_as) == ("db-password", "db-pass")
    # When carol removes it and adds it again
    assert carol.set_attachment(B, secret.id, None).attached_as is None
    assert carol.set_attachment(B, secret.id, "db-password").attached_as == "db-password"
    # When alice unshares it (detaching proj-b), proj-b no longer sees it
    alice.set_shares(A, secret.id, add=[], remove=["ml-team"], detach=["proj-b"])
    assert carol.list(B) == []
    assert carol.read_values(B, [secret.id]) == {}
    # And sharing it again does not add it back by itself
    alice.set_shares(A, secret.id, add=["ml-team"], remove=[])
    assert carol.get(B, secret.id).attached_as is None
    # When alice deletes it, its copies go too
    alice.delete(A, secret.id)
    assert carol.list(B) == []


def test_a_project_in_two_communities_keeps_an_added_secret_when_one_unshares(
    everything: OpenBaoSecretStore,
) -> None:
    secret = everything.create(A, name="both", value="v", user="alice")
    everything.set_shares(A, secret.id, add=["data-team"], remove=[])
    both = View("proj-c", ("data-team", "ml-team"))
    everything.set_attachment(both, secret.id, "both")
    everything.set_shares(A, secret.id, add=["ml-team"], remove=[])
    everything.set_shares(A, secret.id, add=[], remove=["data-team"])
    assert everything.get(both, secret.id).attached_as == "both"


def test_a_reveal_is_in_the_audit_log_without_the_plaintext(
    openbao: OpenBao, everything: OpenBaoSecretStore
) -> None:
    value = "audit-plaintext-7f3c9a"
    secret = everything.create(A, name="audited", value=value, user="alice")
    assert everything.read_values(A, [secret.id]) == {secret.id: value}
    log = openbao.server.audit_log.read_text()
    reads = [
        json.loads(line)
        for line in log.splitlines()
        if f"{openbao.mount}/data/projects/proj-a/secrets/{secret.id}" in line
    ]
    assert any(
        entry["type"] == "response" and entry["request"]["operation"] == "read" for entry in reads
    )
    assert value not in log
    assert openbao.server.root_token not in log


def test_the_readme_recipe_lets_a_hub_mint_only_our_policies(openbao: OpenBao) -> None:
    # Given the token role and the hub's policy of the README
    server = openbao.server
    root = server.client()
    root.write_data(
        "auth/token/roles/jupyterlab-secrets",
        data={
            "allowed_policies_glob": "jupyterlab-secrets-*",
            "orphan": True,
            "token_period": "24h",
        },
    )
    root.sys.create_or_update_policy(
        "jupyterhub-mint",
        'path "auth/token/create/jupyterlab-secrets" { capabilities = ["update"] }',
    )
    hub = server.client(server.mint("jupyterhub-mint"))
    # When the hub mints alice's token, it holds exactly her policies
    policies = [project_policy_name("proj-a"), member_policy_name("ml-team")]
    minted = hub.auth.token.create(role_name="jupyterlab-secrets", policies=policies)["auth"]
    assert sorted(minted["policies"]) == sorted(["default", *policies])
    # And the hub cannot mint anything beyond our policies
    with pytest.raises(hvac.exceptions.InvalidRequest, match="must be subset"):
        hub.auth.token.create(role_name="jupyterlab-secrets", policies=["root"])
    with pytest.raises(hvac.exceptions.Forbidden):
        hub.auth.token.create(policies=policies)


def test_check_names_the_policies_and_refuses_a_bad_token(openbao: OpenBao, open_store) -> None:
    token = member_token(openbao, "proj-a", "ml-team")
    assert open_store(token).check() == sorted(
        ["default", project_policy_name("proj-a"), member_policy_name("ml-team")]
    )
    with pytest.raises(UnavailableError, match="does not accept this server's token") as error:
        open_store("not-a-token").check()
    assert "not-a-token" not in error.value.message


def test_an_unreachable_openbao_is_unavailable(open_store) -> None:
    store = OpenBaoSecretStore(url="http://127.0.0.1:9", token="t", mount="m")
    try:
        with pytest.raises(UnavailableError, match="cannot be reached"):
            store.list(A)
    finally:
        store.close()


def test_reads_at_once_stop_at_the_first_error() -> None:
    # Given reads of which the third finds OpenBao down while the others wait on it
    store = OpenBaoSecretStore(url="http://127.0.0.1:9", token="t", mount="m", read_concurrency=4)
    started: list[int] = []
    release = threading.Event()

    def read(index: int) -> int:
        started.append(index)
        if index == 2:
            raise UnavailableError("OpenBao cannot serve.")
        release.wait(5)
        return index

    try:
        # Then the error is raised, and the reads not yet started never start
        with pytest.raises(UnavailableError):
            store.kv.map(read, range(100))
        release.set()
        assert store.kv.map(lambda index: index * 2, range(5)) == [0, 2, 4, 6, 8]
    finally:
        store.close()
    assert len(started) < 100


def test_an_index_of_thousands_of_secrets_fits_in_one_request(
    everything: OpenBaoSecretStore,
) -> None:
    # Given a project index of 5,000 secrets (OpenBao refuses a body of ~1,000 JSON strings)
    secret = everything.create(A, name="template", value="v", user="alice")
    entry = everything._own("proj-a")["secrets"][secret.id]

    def grow(document: dict) -> None:
        for index in range(5_000):
            document["secrets"][f"{index:032x}"] = {**entry, "name": f"secret-{index:05d}"}

    modify(everything.kv, "projects/proj-a/index", grow)
    # Then it is listed whole, and a create still claims its name in it
    assert len(everything.list(A)) == 5_001
    everything.create(A, name="one-more", value="v", user="alice")
    assert len(everything.list(A)) == 5_002
