"""The store contract suite (`store_contract`) on a real OpenBao, as on SQLite and PostgreSQL.

Every store of a test shares one fresh mount, and holds a token minted with every project,
member and admin policy the suite's views need (never the root token): so the suite also
checks that the policies `openbao-setup` writes allow all a team does.

The suite shares secrets with communities their project is not in (the service refuses that;
a store leaves it to the service), which OpenBao's policies allow only to a project in the
community: so the policies here are those of a configuration where every project of the
suite is in every community.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jupyterlab_secrets.stores.openbao import OpenBaoSecretStore, configured_policies

from .conftest import COMMUNITIES
from .openbao_server import OpenBao
from .store_contract import *  # noqa: F403
from .store_contract import StoreFactory


@pytest.fixture
def contract_store(openbao: OpenBao) -> Iterator[StoreFactory]:
    """OpenBao stores on one mount, each with its own client, as separate servers."""
    projects = ["proj-a", "proj-b", "proj-c", "proj-d"]
    everywhere = {name: {**spec, "projects": projects} for name, spec in COMMUNITIES.items()}
    root = openbao.server.client()
    policies = configured_policies(openbao.mount, "proj-d", everywhere)
    for name, rules in policies.items():
        root.sys.create_or_update_policy(name, rules)
    token = openbao.mint(*policies)
    opened: list[OpenBaoSecretStore] = []

    def make(keep_versions: int = 10) -> OpenBaoSecretStore:
        store = OpenBaoSecretStore(
            url=openbao.url, token=token, mount=openbao.mount, keep_versions=keep_versions
        )
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
