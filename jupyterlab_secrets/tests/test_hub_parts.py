"""The hub's parts that need no running hub: how ``configure_hub`` chains the operator's
hooks and arguments, the token file, the tokens kept across a hub restart (on a real OpenBao),
and the owner rule of a server's service. ``test_hub.py`` runs them all on a real hub."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac.exceptions
import pytest
from traitlets.config import Config

from jupyterlab_secrets.errors import ForbiddenError
from jupyterlab_secrets.service import SecretsService
from jupyterlab_secrets.stores.openbao.policies import (
    HUB_POLICY_NAME,
    TOKEN_ROLE,
    admin_policy_name,
    member_policy_name,
    project_policy_name,
    server_policies,
)

from .conftest import COMMUNITIES
from .openbao_server import OpenBao

try:
    import jupyterhub.spawner as spawner_module
except ImportError:
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("JupyterHub is not installed: pip install -e '.[test]'", allow_module_level=True)

from jupyterlab_secrets import hub  # noqa: E402


def operator_hook(spawner: Any) -> None:
    """An operator's own hook."""


def other_hook(spawner: Any) -> None:
    """Another of the operator's hooks."""


@pytest.fixture
def secrets_hub(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Make `SecretsHub` objects (not the hub's singleton) with settings of this test."""
    made: list[Any] = []

    def make(**settings: Any) -> Any:
        config = Config()
        config.SecretsHub.state_file = str(tmp_path / "state.json")
        config.SecretsHub.token_dir = str(tmp_path / "tokens")
        for name, value in settings.items():
            config.SecretsHub[name] = value
        made.append(hub.SecretsHub(config=config))
        return made[-1]

    yield make
    for secrets_hub in made:
        secrets_hub.stop()


def spawner(user: str = "alice", server: str = "proj-a") -> Any:
    """A SimpleLocalProcessSpawner of ``user``'s server, on JupyterHub's own records."""
    from jupyterhub import orm

    return spawner_module.SimpleLocalProcessSpawner(
        orm_spawner=orm.Spawner(name=server), user=orm.User(name=user)
    )


# -- configure_hub ------------------------------------------------------------------------


def test_configure_hub_chains_the_operators_hooks_set_before_and_after_it() -> None:
    # Given an operator's pre-spawn hook, and one of a specific spawner class, set before
    c = Config()
    c.Spawner.pre_spawn_hook = operator_hook
    c.LocalProcessSpawner.post_stop_hook = other_hook
    c.Spawner.environment = {"MINE": "1"}
    c.Spawner.args = ["--mine"]
    # When configure_hub runs, and the operator then sets a post-stop hook
    hub.configure_hub(c)
    c.Spawner.post_stop_hook = other_hook
    # Then each hook is the hub's, chained with the operator's, and nothing else changed
    assert c.Spawner.pre_spawn_hook.operator_hook is operator_hook
    assert c.Spawner.post_stop_hook.operator_hook is other_hook
    assert c.LocalProcessSpawner.post_stop_hook.operator_hook is other_hook
    assert (c.Spawner.environment, c.Spawner.args) == ({"MINE": "1"}, ["--mine"])
    # And copying the config (as traitlets does) chains nothing twice
    copied = copy.deepcopy(c)
    assert copied.Spawner.pre_spawn_hook.operator_hook is operator_hook
    # And without hooks of the operator's the hub's run alone
    bare = Config()
    hub.configure_hub(bare)
    assert bare.Spawner.pre_spawn_hook.operator_hook is None
    assert bare.Spawner.post_stop_hook.operator_hook is None


def test_the_hubs_arguments_come_after_the_operators_and_are_replaced_at_each_spawn() -> None:
    made = spawner()
    made.args = ["--ServerApp.allow_root=True", "--SecretsExtension.redact_min_length=12"]
    hub._set_args(made, ["--SecretsExtension.project=proj-a"])
    hub._set_args(made, ["--SecretsExtension.project=proj-b"])
    assert made.args == [
        "--ServerApp.allow_root=True",
        "--SecretsExtension.redact_min_length=12",
        "--SecretsExtension.project=proj-b",
    ]
    hub._set_args(made, [])
    assert made.args == ["--ServerApp.allow_root=True", "--SecretsExtension.redact_min_length=12"]


def test_a_servers_policies_are_its_users_for_its_project() -> None:
    assert server_policies("alice", "proj-a", COMMUNITIES) == [
        project_policy_name("proj-a"),
        member_policy_name("data-team"),
        member_policy_name("ml-team"),
        admin_policy_name("ml-team", "proj-a"),
    ]
    # bob administers data-team, not ml-team; proj-d is in no community
    bobs = server_policies("bob", "proj-a", COMMUNITIES)
    assert bobs[-1] == admin_policy_name("data-team", "proj-a")
    assert server_policies("bob", "proj-d", COMMUNITIES) == [project_policy_name("proj-d")]


# -- the token file -----------------------------------------------------------------------


def test_the_token_file_is_new_private_and_in_a_private_folder(secrets_hub: Any) -> None:
    secrets = secrets_hub()
    first = secrets.write_token(spawner(), "s.first-token")
    second = secrets.write_token(spawner(), "s.second-token")
    assert first != second and first.parent == second.parent
    assert first.read_text() == "s.first-token"
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    assert stat.S_IMODE(first.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(first.parent.parent.stat().st_mode) == 0o711
    assert first.parent.name == "alice" and first.name.startswith("proj-a-")


def test_a_token_folder_open_to_others_or_a_link_is_refused(
    secrets_hub: Any, tmp_path: Path
) -> None:
    secrets = secrets_hub()
    # Given alice's folder replaced by a link to a folder others can read
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    (tmp_path / "tokens").mkdir(mode=0o711)
    (tmp_path / "tokens" / "alice").symlink_to(elsewhere)
    # Then no token is written there, and the refusal says why
    with pytest.raises(hub.SpawnRefused, match="is not a folder"):
        secrets.write_token(spawner(), "s.token")
    assert list(elsewhere.iterdir()) == []
    # And a base folder others may write to is refused too
    (tmp_path / "tokens" / "alice").unlink()
    os.chmod(tmp_path / "tokens", 0o777)
    with pytest.raises(hub.SpawnRefused, match="is writable by others"):
        secrets.write_token(spawner(), "s.token")
    assert not (tmp_path / "tokens" / "alice").exists()


# -- tokens kept across a hub restart, on a real OpenBao -------------------------------------


def test_a_restarted_hub_renews_the_running_servers_tokens_and_forgets_revoked_ones(
    openbao: OpenBao, secrets_hub: Any, tmp_path: Path
) -> None:
    # Given a hub with its own token (the hub policy only), that minted a server's token
    hub_token = tmp_path / "hub.token"
    hub_token.write_text(openbao.mint(HUB_POLICY_NAME))
    settings = {"openbao_url": openbao.url, "token_file": str(hub_token)}
    before = secrets_hub(**settings)
    minted = before._call(
        lambda client: client.auth.token.create(
            role_name=TOKEN_ROLE, policies=[project_policy_name("proj-a")]
        )
    )["auth"]
    accessor = minted["accessor"]
    before.servers["alice/proj-a"] = hub.ServerToken("alice", "proj-a", "proj-a", accessor, "f")
    before._save()
    state = (tmp_path / "state.json").read_text()
    assert accessor in state and minted["client_token"] not in state
    assert stat.S_IMODE((tmp_path / "state.json").stat().st_mode) == 0o600
    # When the hub restarts and renews
    after = secrets_hub(**settings)
    after._load()
    asyncio.run(after.renew())
    # Then the token was renewed, and so was the hub's own
    root = openbao.server.client()
    assert root.auth.token.lookup_accessor(accessor)["data"]["last_renewal_time"]
    assert root.auth.token.lookup(hub_token.read_text())["data"]["last_renewal_time"]
    # When the token is revoked behind the hub's back, the next renewal forgets it
    root.auth.token.revoke_accessor(accessor)
    asyncio.run(after.renew())
    assert after.servers == {}
    assert json.loads((tmp_path / "state.json").read_text()) == {}
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.auth.token.lookup_accessor(accessor)


def test_the_hub_reaches_openbao_through_any_node_that_answers(
    openbao: OpenBao, secrets_hub: Any, tmp_path: Path
) -> None:
    # Given a hub whose openbao_url names a node that is down before one that answers
    hub_token = tmp_path / "hub.token"
    hub_token.write_text(openbao.mint(HUB_POLICY_NAME))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{probe.getsockname()[1]}"
    secrets_hub_ = secrets_hub(openbao_url=f"{down},{openbao.url}", token_file=str(hub_token))
    # When it mints a server's token
    minted = secrets_hub_._call(
        lambda client: client.auth.token.create(
            role_name=TOKEN_ROLE, policies=[project_policy_name("proj-a")]
        )
    )["auth"]
    # Then the token is made, by the node that answered, which the hub now tries first
    assert openbao.server.client().auth.token.lookup_accessor(minted["accessor"])
    assert secrets_hub_._cluster[1].order()[0] == openbao.url


# -- the owner of a server -------------------------------------------------------------------


def test_only_the_owner_of_a_server_acts_as_admin_on_it(
    make_service: Callable[..., SecretsService],
) -> None:
    # Given alice's server of proj-a; the config makes alice admin of ml-team, bob of data-team
    service = make_service("proj-a", owner="alice")
    secret = service.create("alice", "owned-key", "value")
    # Then bob, using her server, is admin of nothing there, and may not share
    assert [c.is_admin for c in service.communities("bob")] == [False, False]
    with pytest.raises(ForbiddenError, match="only its owner acts as an admin"):
        service.set_access("bob", secret.id, ["data-team"])
    assert list(service.get("alice", secret.id).shared_with) == []
    # And alice is admin of what the config says
    assert {c.name: c.is_admin for c in service.communities("alice")} == {
        "data-team": False,
        "ml-team": True,
    }
    assert list(service.set_access("alice", secret.id, ["ml-team"]).shared_with) == ["ml-team"]
