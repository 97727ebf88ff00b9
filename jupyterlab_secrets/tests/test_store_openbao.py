"""The store contract suite (`store_contract`) on a real OpenBao, as on SQLite and PostgreSQL.

Every store of a test shares one fresh mount, and holds a token minted with every project,
member and admin policy the suite's views need (never the root token): so the suite also
checks that the policies `openbao-setup` writes allow all a team does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jupyterlab_secrets.stores.openbao import OpenBaoSecretStore

from .openbao_server import OpenBao
from .store_contract import *  # noqa: F403
from .store_contract import StoreFactory


@pytest.fixture
def contract_store(openbao: OpenBao) -> Iterator[StoreFactory]:
    """OpenBao stores on one mount, each with its own client, as separate servers."""
    token = openbao.everything()
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
