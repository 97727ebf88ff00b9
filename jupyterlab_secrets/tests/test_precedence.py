"""Which secrets a project's kernels get, and why not: the pure rules, on plain values.

No store, no service, no HTTP: each case builds the secrets a project sees as `StoredSecret`
values and asks `Precedence`. proj-a is the project; proj-b and proj-c share with it.
"""

from __future__ import annotations

import datetime as dt

import pytest

from jupyterlab_secrets.precedence import Precedence
from jupyterlab_secrets.stores.base import StoredSecret

WHEN = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def secret(
    project: str,
    name: str,
    number: int,
    *,
    attached_as: str | None = None,
    value_length: int = 20,
) -> StoredSecret:
    """A secret of ``project``; ``number`` makes its ID (a lower one sorts first)."""
    return StoredSecret(
        id=f"{number:032x}",
        project=project,
        name=name,
        version=1,
        created_by="alice",
        created_at=WHEN,
        updated_at=WHEN,
        updated_by="alice",
        value_length=value_length,
        attached_as=attached_as,
    )


def test_the_projects_own_secret_wins_a_clash_of_names() -> None:
    # Given proj-a's own "api-token", and proj-b's "api-token" added to proj-a
    own = secret("proj-a", "api-token", 9)
    shared = secret("proj-b", "api-token", 1, attached_as="api-token")
    # When the precedence among them is decided
    rules = Precedence.of("proj-a", [shared, own])
    # Then the own one goes in, and the shared one is shadowed
    assert (rules.blocked(own), rules.shadowed(own)) == (None, False)
    assert (rules.blocked(shared), rules.shadowed(shared)) == ("shadowed", True)
    assert rules.injectable([shared, own]) == [own]


def test_among_added_shared_secrets_the_first_by_project_and_id_wins() -> None:
    # Given three shared secrets added under one name, from two projects
    c_first = secret("proj-c", "api-token", 1, attached_as="api-token")
    b_second = secret("proj-b", "api-token", 2, attached_as="api-token")
    b_first = secret("proj-b", "api-token", 1, attached_as="api-token")
    stored = [c_first, b_second, b_first]
    # When the precedence among them is decided, in any order
    for order in (stored, stored[::-1]):
        rules = Precedence.of("proj-a", order)
        # Then proj-b's lower ID wins; the others are shadowed
        assert rules.leaders == {"api-token": ("proj-b", b_first.id)}
        assert [rules.blocked(s) for s in stored] == ["shadowed", "shadowed", None]
        assert rules.injectable(order) == [b_first]


def test_a_shared_secret_not_added_is_kept_out_and_says_whether_it_would_be_shadowed() -> None:
    # Given proj-a's own "api-token", and two secrets shared but not added
    own = secret("proj-a", "api-token", 5)
    clashing = secret("proj-b", "api-token", 1)
    alone = secret("proj-b", "other-token", 2)
    rules = Precedence.of("proj-a", [own, clashing, alone])
    # Then both are "not added"; the one under a taken name would be shadowed if added
    assert [rules.blocked(s) for s in (clashing, alone)] == ["not_added", "not_added"]
    assert [rules.shadowed(s) for s in (clashing, alone)] == [True, False]
    # And a secret not added does not lead its name
    assert rules.leaders == {}


def test_a_secret_renamed_by_its_owner_after_it_was_added_is_kept_out() -> None:
    # Given a secret added as "old-name", which its owner renamed "new-name"
    renamed = secret("proj-b", "new-name", 1, attached_as="old-name")
    rules = Precedence.of("proj-a", [renamed])
    # Then it is kept out as renamed, and leads no name (old or new)
    assert rules.blocked(renamed) == "renamed"
    assert rules.leaders == {}
    assert rules.injectable([renamed]) == []


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "PIP_INDEX_URL", "SSL_CERT_FILE"])
def test_a_traffic_name_is_injected_only_from_the_projects_own_secret(name: str) -> None:
    # Given a shared secret under a name that redirects traffic or trust, added to proj-a
    shared = secret("proj-b", name, 1, attached_as=name)
    rules = Precedence.of("proj-a", [shared])
    # Then it is kept out, and leads nothing
    assert rules.blocked(shared) == "traffic"
    assert rules.leaders == {}
    # And proj-a's own secret of that name goes in
    own = secret("proj-a", name, 2)
    assert Precedence.of("proj-a", [own, shared]).injectable([own, shared]) == [own]


@pytest.mark.parametrize(
    "name", ["GIT_EXTERNAL_DIFF", "KUBECONFIG", "api_token", "npm_config_script-shell"]
)
def test_a_shared_name_without_a_hyphen_is_injected_only_from_the_projects_own_secret(
    name: str,
) -> None:
    # Given a shared secret under a name a tool might read, added to proj-a
    shared = secret("proj-b", name, 1, attached_as=name)
    rules = Precedence.of("proj-a", [shared])
    # Then it is kept out, and leads nothing
    assert rules.blocked(shared) == "shared_name"
    assert rules.leaders == {}
    # And proj-a's own secret of that name goes in
    own = secret("proj-a", name, 2)
    assert Precedence.of("proj-a", [own, shared]).injectable([own, shared]) == [own]


def test_a_name_reserved_after_it_was_stored_is_kept_out_even_for_the_own_project() -> None:
    # Given secrets whose names the rules reserve now (stored before they did)
    own = secret("proj-a", "PATH", 1)
    shared = secret("proj-b", "LD_PRELOAD", 2, attached_as="LD_PRELOAD")
    rules = Precedence.of("proj-a", [own, shared])
    # Then neither goes in, and both say why
    assert [rules.blocked(own), rules.blocked(shared)] == ["reserved", "reserved"]
    assert rules.injectable([own, shared]) == []


def test_what_goes_in_comes_own_first_then_by_name() -> None:
    # Given own and added shared secrets in no order
    stored = [
        secret("proj-b", "alpha-key", 1, attached_as="alpha-key"),
        secret("proj-a", "zeta", 2),
        secret("proj-c", "beta-key", 3, attached_as="beta-key"),
        secret("proj-a", "gamma", 4),
    ]
    # When the injectable ones are listed
    injectable = Precedence.of("proj-a", stored).injectable(stored)
    # Then the project's own come first, each group by name
    assert [(s.project, s.name) for s in injectable] == [
        ("proj-a", "gamma"),
        ("proj-a", "zeta"),
        ("proj-b", "alpha-key"),
        ("proj-c", "beta-key"),
    ]


def explain(rules: Precedence, stored: StoredSecret, **options: object) -> dict[str, object]:
    settings = {"decryptable": True, "redact_outputs": True, "redact_min_length": 8}
    settings.update(options)
    return vars(rules.explain(stored, **settings))  # type: ignore[arg-type]


def test_the_explanation_of_an_own_secret() -> None:
    own = secret("proj-a", "api-token", 1)
    assert explain(Precedence.of("proj-a", [own]), own) == {
        "origin": "project",
        "attached": False,
        "editable": True,
        "shadowed": False,
        "injected": True,
        "not_injected_reason": None,
        "attached_name": None,
        "hidden_in_outputs": True,
    }


def test_the_explanation_of_a_shared_secret_added_and_shadowed() -> None:
    own = secret("proj-a", "api-token", 9)
    shared = secret("proj-b", "api-token", 1, attached_as="api-token")
    assert explain(Precedence.of("proj-a", [own, shared]), shared) == {
        "origin": "shared",
        "attached": True,
        "editable": False,
        "shadowed": True,
        "injected": False,
        "not_injected_reason": "shadowed",
        "attached_name": "api-token",
        "hidden_in_outputs": True,
    }


def test_a_value_that_does_not_decrypt_is_explained_after_the_rules_of_names() -> None:
    # Given an own secret and a shared one not added, neither of which decrypts
    own = secret("proj-a", "api-token", 1)
    not_added = secret("proj-b", "other-token", 2)
    rules = Precedence.of("proj-a", [own, not_added])
    # Then the own one says undecryptable; the other says first why it is not in at all
    assert explain(rules, own, decryptable=False)["not_injected_reason"] == "undecryptable"
    assert explain(rules, not_added, decryptable=False)["not_injected_reason"] == "not_added"
    assert explain(rules, own, decryptable=False)["injected"] is False


@pytest.mark.parametrize(
    ("length", "redact", "minimum", "hidden"),
    [(8, True, 8, True), (7, True, 8, False), (100, False, 8, False), (0, True, 0, True)],
)
def test_hidden_in_outputs_follows_redaction_and_the_shortest_hidden_length(
    length: int, redact: bool, minimum: int, hidden: bool
) -> None:
    own = secret("proj-a", "api-token", 1, value_length=length)
    rules = Precedence.of("proj-a", [own])
    shown = explain(rules, own, redact_outputs=redact, redact_min_length=minimum)
    assert shown["hidden_in_outputs"] is hidden
