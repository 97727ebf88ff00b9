"""``migrate --to-openbao``: a SQLite or PostgreSQL store copied into a real OpenBao."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyterlab_secrets.crypto import Keyring
from jupyterlab_secrets.stores.base import SecretStore, View
from jupyterlab_secrets.stores.openbao import (
    OpenBaoSecretStore,
    member_policy_name,
    project_policy_name,
)
from jupyterlab_secrets.stores.openbao.migration import migrate_to_openbao
from jupyterlab_secrets.stores.sql import SqlSecretStore

from .conftest import COMMUNITIES
from .openbao_server import OpenBao

A = View("proj-a", ("data-team", "ml-team"))
B = View("proj-b", ("ml-team",))
C = View("proj-c", ("data-team", "other-team"))


@pytest.fixture
def source(db_url: str, keyring: Keyring) -> Iterator[SqlSecretStore]:
    """A SQL store (SQLite, and PostgreSQL where reachable) with a team's secrets."""
    store = SqlSecretStore(db_url, keyring)
    rotated = store.create(A, name="rotated", value="first", user="alice")
    store.update(A, rotated.id, expected_version=1, user="bob", value="second")
    store.update(A, rotated.id, expected_version=2, user="bob", value="third\nline ✓")
    shared = store.create(A, name="shared-token", value="for the team", user="alice")
    store.set_shares(A, shared.id, add=["ml-team", "data-team"], remove=[])
    store.set_attachment(B, shared.id, "shared-token")
    store.update(A, shared.id, expected_version=1, user="alice", name="renamed-token")
    store.create(B, name="b-own", value="of b", user="carol")
    store.create(C, name="c-own", value="of c", user="dave")
    try:
        yield store
    finally:
        store.close()


def everything_seen(store: SecretStore) -> dict[str, Any]:
    """What each project sees: metadata, values and versions (times to the millisecond)."""
    seen = {}
    for view in (A, B, C):
        listed = sorted(store.list(view), key=lambda s: s.id)
        seen[view.project] = [
            (
                s.id,
                s.project,
                s.name,
                s.version,
                s.created_by,
                s.created_at.isoformat(timespec="milliseconds"),
                s.updated_by,
                s.value_length,
                s.shared_with,
                s.attached_as,
                [(v.version, v.updated_by, v.current) for v in store.versions(view, s.id)],
                [store.read_version(view, s.id, v.version) for v in store.versions(view, s.id)],
            )
            for s in listed
        ]
        seen[f"{view.project} values"] = store.read_values(view, [s.id for s in listed])
    return seen


def test_migration_copies_everything_once_and_completes_after_a_failure(
    source: SqlSecretStore, openbao: OpenBao
) -> None:
    expected = everything_seen(source)
    # Given a first run whose OpenBao token reaches proj-a only (it fails for the others)
    partial = OpenBaoSecretStore(
        url=openbao.url,
        token=openbao.mint(project_policy_name("proj-a"), member_policy_name("ml-team")),
        mount=openbao.mount,
    )
    operator = OpenBaoSecretStore(url=openbao.url, token=openbao.everything(), mount=openbao.mount)
    try:
        first = migrate_to_openbao(source, partial, project="proj-a", communities=COMMUNITIES)
        assert (first.copied, first.failed) == (2, 4)
        assert any("permission denied" in line for line in first.lines())
        # When it runs again with the operator's token
        second = migrate_to_openbao(source, operator, project="proj-a", communities=COMMUNITIES)
        # Then it completes the copy, leaving what was there
        assert (second.copied, second.unchanged, second.failed) == (2, 2, 0)
        assert (second.shares, second.attachments) == (2, 1)
        assert everything_seen(operator) == expected
        # And a third run changes nothing
        third = migrate_to_openbao(source, operator, project="proj-a", communities=COMMUNITIES)
        assert (third.copied, third.unchanged, third.failed, third.shares, third.attachments) == (
            0,
            4,
            0,
            0,
            0,
        )
        # And no report line holds a value
        report = "\n".join(first.lines() + second.lines() + third.lines())
        for value in ("first", "second", "third", "for the team", "of b", "of c"):
            assert value not in report
    finally:
        partial.close()
        operator.close()
