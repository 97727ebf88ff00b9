"""The rules, called on the domain API: no JSON, no HTTP.

proj-a is in ml-team (admin alice) and data-team (admin bob); proj-b is in ml-team; proj-c in
data-team and other-team. Every service here shares one SQLite store and key (the rules do not
depend on the backend; the store contract suite runs each backend).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from jupyterlab_secrets import rules
from jupyterlab_secrets.errors import (
    ForbiddenError,
    InvalidInputError,
    NameTakenError,
    NotFoundError,
    StaleVersionError,
    UndecryptableError,
    ValueTooLargeError,
)
from jupyterlab_secrets.service import Change, Explanation, SecretMeta, SecretsService

Make = Callable[..., SecretsService]


def state(service: SecretsService) -> tuple[list[SecretMeta], dict[str, str]]:
    """Everything a project sees: its listing, and every value it can read."""
    listing = service.list("alice").secrets
    values = {}
    for meta in listing:
        try:
            values[meta.id] = service.reveal("alice", meta.id)
        except UndecryptableError:
            values[meta.id] = "<undecryptable>"
    return listing, values


def shared_by_b(make_service: Make, name: str, value: str) -> tuple[SecretsService, str]:
    """proj-b's service, and a secret of proj-b shared with ml-team (which proj-a is in)."""
    proj_b = make_service("proj-b")
    secret_id = proj_b.create("alice", name, value).id
    proj_b.set_access("alice", secret_id, ["ml-team"])
    return proj_b, secret_id


def meta_of(service: SecretsService, secret_id: str) -> SecretMeta:
    listed = [m for m in service.list("alice").secrets if m.id == secret_id]
    assert listed == [service.get("alice", secret_id)]
    return listed[0]


def explanation_of(service: SecretsService, secret_id: str) -> Explanation:
    return meta_of(service, secret_id).explanation


# -- names ----------------------------------------------------------------------------------

HARDENED_NAMES = [
    "Path",
    "home",
    "BASH_ENV",
    "PROMPT_COMMAND",
    "NODE_OPTIONS",
    "PERL5OPT",
    "PYTHONWARNINGS",
    "DYLD_INSERT_LIBRARIES",
    "bash_env",
    "Ld_Preload",
    "pythonpath",
    "Jupyter_Token",
]


@pytest.mark.parametrize("name", HARDENED_NAMES)
def test_reserved_names_are_refused_in_any_case_on_create_rename_and_copy(
    make_service: Make, name: str
) -> None:
    # Given a project with one secret
    service = make_service("proj-a")
    kept = service.create("alice", "kept-one", "kept value")
    before = state(service)
    # When a reserved name is used to create, rename or copy
    for attempt in (
        lambda: service.create("alice", name, "x"),
        lambda: service.patch("alice", kept.id, 1, name=name),
        lambda: service.copy("alice", kept.id, name),
    ):
        # Then it is refused as an input error on the name, saying it is reserved
        with pytest.raises(InvalidInputError) as refused:
            attempt()
        assert refused.value.field == "name"
        assert "reserved" in refused.value.message
        assert "kept value" not in refused.value.message
    # And nothing changed
    assert state(service) == before


def test_every_listed_reserved_name_and_prefix_is_refused_in_any_case(make_service: Make) -> None:
    service = make_service("proj-a")
    names = [*rules.RESERVED_NAMES, *(p + "X1" for p in rules.RESERVED_PREFIXES)]
    for name in names:
        for variant in {name, name.lower(), name.capitalize()}:
            if not 3 <= len(variant) <= 63:
                continue
            with pytest.raises(InvalidInputError):
                service.create("alice", variant, "x")
    assert service.list("alice").secrets == []


def test_name_and_value_rules_are_domain_errors(make_service: Make) -> None:
    service = make_service("proj-a")
    with pytest.raises(InvalidInputError, match="3 to 63"):
        service.create("alice", "ab", "x")
    with pytest.raises(InvalidInputError, match="empty"):
        service.create("alice", "abc", "")
    with pytest.raises(ValueTooLargeError):
        service.create("alice", "abc", "a" * 65_537)
    service.create("alice", "abc", "x")
    with pytest.raises(NameTakenError):
        service.create("alice", "abc", "y")
    assert [(m.name, m.version) for m in service.list("alice").secrets] == [("abc", 1)]


# -- traffic names ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "PIP_INDEX_URL", "SSL_CERT_FILE"])
def test_a_traffic_name_is_injected_when_own_never_when_shared(
    make_service: Make, name: str
) -> None:
    # Given proj-a's own secret under a traffic name
    proj_a = make_service("proj-a")
    own = proj_a.create("alice", name, "http://user:pw@proxy:3128")
    # Then it is injected
    assert proj_a.environment("alice") == {name: "http://user:pw@proxy:3128"}
    assert explanation_of(proj_a, own.id).injected is True
    # Given proj-b shares a secret under a traffic name, and proj-c adds it... (proj-a here)
    proj_b, theirs = shared_by_b(make_service, "HTTP_PROXY", "http://evil:3128")
    proj_a.set_attached("alice", theirs, True)
    # Then proj-a lists it, added, but never injects it, and says why
    explained = explanation_of(proj_a, theirs)
    assert (explained.attached, explained.injected, explained.not_injected_reason) == (
        True,
        False,
        "traffic",
    )
    assert "HTTP_PROXY" not in proj_a.environment("alice")
    # And its owner still gets it
    assert proj_b.environment("alice") == {"HTTP_PROXY": "http://evil:3128"}


# -- shared secrets only under names no tool reads ------------------------------------------

TOOL_NAMES = [
    "GIT_EXTERNAL_DIFF",
    "MAILPATH",
    "TAR_OPTIONS",
    "GIT_EDITOR",
    "GIT_PROXY_COMMAND",
    "RSYNC_RSH",
    "R_BROWSER",
    "OPENSSL_CONF",
    "XDG_CONFIG_HOME",
    "KUBECONFIG",
    "SUDO_ASKPASS",
    "OPENAI_BASE_URL",
    "AWS_ENDPOINT_URL",
    "HOSTALIASES",
    "GIT_SSL_NO_VERIFY",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "CONDARC",
    "SSH_AUTH_SOCK",
]
"""Names that run code or redirect traffic in common tools, and that no reserved list held."""

SETTING_NAMES = ["npm_config_script-shell", "NPM_CONFIG_NODE-OPTIONS", "yarn_script-shell"]
"""Hyphenated, yet read as settings by a tool that reads every name with its prefix."""


@pytest.mark.parametrize("name", TOOL_NAMES + SETTING_NAMES + ["api_key", "ApiKey"])
def test_a_shared_secret_without_a_hyphen_is_listed_not_injected(
    make_service: Make, name: str
) -> None:
    # Given proj-a's own secret, and proj-b's secret under a name a tool reads, shared
    proj_a = make_service("proj-a")
    proj_a.create("alice", "own-key", "ours")
    proj_b, theirs = shared_by_b(make_service, name, "/tmp/evil")
    before = (state(proj_a), state(proj_b))
    # When proj-a adds it
    added = proj_a.set_attached("alice", theirs, True).explanation
    # Then proj-a lists it, added, but never injects it, and says why
    assert (added.attached, added.injected, added.not_injected_reason) == (
        True,
        False,
        "shared_name",
    )
    explained = explanation_of(proj_a, theirs)
    assert (explained.injected, explained.not_injected_reason, explained.shadowed) == (
        False,
        "shared_name",
        False,
    )
    assert proj_a.environment("alice") == {"own-key": "ours"}
    # And nothing stored changed but the addition: names, versions and values are the same
    listing, values = state(proj_a)
    assert values == before[0][1]
    assert [(m.id, m.name, m.version) for m in listing] == [
        (m.id, m.name, m.version) for m in before[0][0]
    ]
    assert state(proj_b) == before[1]
    # And its owner's kernels still get it: a project's own secret keeps today's rules
    assert proj_b.environment("alice") == {name: "/tmp/evil"}
    # And the rule itself says the same
    assert rules.shared_name_refusal(name) == "shared_name"


def test_a_shared_secret_under_a_hyphenated_name_is_injected(make_service: Make) -> None:
    # Given proj-b shares "team-api-key" and a second "team_api_key"; proj-a adds both
    proj_a = make_service("proj-a")
    _, hyphen = shared_by_b(make_service, "team-api-key", "from-b")
    _, underscore = shared_by_b(make_service, "team_api_key", "from-b too")
    for secret_id in (hyphen, underscore):
        proj_a.set_attached("alice", secret_id, True)
    # Then only the hyphenated one reaches proj-a's kernels
    assert proj_a.environment("alice") == {"team-api-key": "from-b"}
    assert explanation_of(proj_a, hyphen).not_injected_reason is None
    assert explanation_of(proj_a, underscore).not_injected_reason == "shared_name"
    # And a clone of the other is proj-a's own, injected under any valid name
    clone = proj_a.copy("alice", underscore, "team_api_key").explanation
    assert (clone.origin, clone.injected) == ("project", True)
    assert proj_a.environment("alice") == {"team-api-key": "from-b", "team_api_key": "from-b too"}


# -- an added secret keeps its name --------------------------------------------------------------


def test_an_added_secret_keeps_the_name_it_was_added_under(make_service: Make) -> None:
    # Given proj-a added proj-b's shared "api-token"
    proj_a = make_service("proj-a")
    proj_b, theirs = shared_by_b(make_service, "api-token", "t1")
    added = proj_a.set_attached("alice", theirs, True).explanation
    assert (added.attached_name, added.injected) == ("api-token", True)
    assert proj_a.environment("alice") == {"api-token": "t1"}
    # When the owner changes its value
    proj_b.patch("alice", theirs, 1, value="t2")
    # Then the new value reaches proj-a under the same name
    assert proj_a.environment("alice") == {"api-token": "t2"}
    # When the owner renames it
    proj_b.patch("alice", theirs, 2, name="other-name")
    # Then proj-a stops injecting it and says it was renamed
    assert proj_a.environment("alice") == {}
    meta = meta_of(proj_a, theirs)
    explained = meta.explanation
    assert (meta.name, explained.attached_name) == ("other-name", "api-token")
    assert (explained.attached, explained.injected, explained.not_injected_reason) == (
        True,
        False,
        "renamed",
    )
    # When proj-a adds it again
    again = proj_a.set_attached("alice", theirs, True).explanation
    # Then it is injected under its new name
    assert (again.attached_name, again.injected, again.not_injected_reason) == (
        "other-name",
        True,
        None,
    )
    assert proj_a.environment("alice") == {"other-name": "t2"}


def test_unsharing_removes_the_secret_from_projects_that_added_it(make_service: Make) -> None:
    # Given proj-a added proj-b's shared secret
    proj_a = make_service("proj-a")
    proj_b, theirs = shared_by_b(make_service, "team-token", "v")
    proj_a.set_attached("alice", theirs, True)
    # When proj-b unshares it, and shares it again
    proj_b.set_access("alice", theirs, [])
    assert proj_a.environment("alice") == {}
    with pytest.raises(NotFoundError):
        proj_a.get("alice", theirs)
    proj_b.set_access("alice", theirs, ["ml-team"])
    # Then proj-a lists it again, but not added: sharing again did not add it back
    explained = explanation_of(proj_a, theirs)
    assert (explained.attached, explained.attached_name, explained.not_injected_reason) == (
        False,
        None,
        "not_added",
    )
    assert proj_a.environment("alice") == {}


def test_unsharing_one_community_keeps_it_where_another_still_shares_it(
    make_service: Make,
) -> None:
    # Given proj-a's secret shared with ml-team and data-team, added by proj-b and proj-c
    proj_a = make_service("proj-a")
    mine = proj_a.create("alice", "both-teams", "v").id
    proj_a.set_access("alice", mine, ["ml-team"])
    proj_a.set_access("bob", mine, ["ml-team", "data-team"])
    proj_b, proj_c = make_service("proj-b"), make_service("proj-c")
    proj_b.set_attached("alice", mine, True)
    proj_c.set_attached("alice", mine, True)
    # When bob unshares it from data-team
    proj_a.set_access("bob", mine, ["ml-team"])
    # Then proj-c (data-team) loses it, and proj-b (ml-team) keeps it added
    assert proj_c.environment("alice") == {}
    assert proj_b.environment("alice") == {"both-teams": "v"}


def test_only_the_owning_project_changes_sharing(make_service: Make) -> None:
    # Given proj-b's secret shared with ml-team, whose admin is alice
    proj_a = make_service("proj-a")
    proj_b, theirs = shared_by_b(make_service, "b-secret", "v")
    proj_a.set_attached("alice", theirs, True)
    before_a, before_b = state(proj_a), state(proj_b)
    # When alice, working in proj-a, unshares it or shares it more
    for communities in ([], ["ml-team", "data-team"], ["ml-team"]):
        # Then it is forbidden, admin or not
        with pytest.raises(ForbiddenError, match="only that project"):
            proj_a.set_access("alice", theirs, communities)
    # And nothing changed for anyone
    assert (state(proj_a), state(proj_b)) == (before_a, before_b)


# -- one bad row -----------------------------------------------------------------------------


def test_an_undecryptable_value_never_takes_the_others_offline(
    make_service: Make, break_value: Callable[[SecretsService, str], None]
) -> None:
    # Given three secrets, one of which cannot be decrypted any more
    service = make_service("proj-a")
    good = service.create("alice", "good", "fine").id
    bad = service.create("alice", "bad", "lost").id
    service.create("alice", "also-good", "fine too")
    break_value(service, bad)
    fresh = make_service("proj-a")
    # When the environment is built
    environment = fresh.environment("alice")
    # Then it holds every other secret
    assert environment == {"also-good": "fine too", "good": "fine"}
    # And the listing marks the bad one
    metas = {m.name: m.explanation for m in fresh.list("alice").secrets}
    assert (metas["bad"].injected, metas["bad"].not_injected_reason) == (False, "undecryptable")
    assert (metas["good"].injected, metas["good"].not_injected_reason) == (True, None)
    # And revealing or copying it is a clear error, without a value
    for attempt in (
        lambda: fresh.reveal("alice", bad),
        lambda: fresh.copy("alice", bad, "copied"),
    ):
        with pytest.raises(UndecryptableError) as refused:
            attempt()
        assert "decrypt" in refused.value.message
    assert fresh.reveal("alice", good) == "fine"


# -- versions --------------------------------------------------------------------------------


def test_restore_makes_a_new_version_holding_the_old_value(make_service: Make) -> None:
    # Given a secret changed twice
    service = make_service("proj-a")
    secret_id = service.create("alice", "rotating", "v1").id
    service.patch("bob", secret_id, 1, value="v2")
    service.patch("alice", secret_id, 2, name="rotated")
    versions = service.versions("alice", secret_id)
    assert [(v.version, v.current) for v in versions][0] == (3, True)
    assert versions[0].updated_by == "alice"
    assert all(not v.current for v in versions[1:])
    # When version 1 is restored with a stale current version
    with pytest.raises(StaleVersionError):
        service.restore("alice", secret_id, 1, current_version=2)
    assert service.reveal("alice", secret_id) == "v2"
    # When it is restored with the current one
    restored = service.restore("carol", secret_id, 1, current_version=3)
    # Then a new version holds the old value
    assert (restored.version, restored.name, restored.updated_by) == (4, "rotated", "carol")
    assert service.reveal("alice", secret_id) == "v1"
    assert service.versions("alice", secret_id)[0].version == 4


def test_restore_of_a_version_no_longer_kept_is_not_found(make_service: Make) -> None:
    service = make_service("proj-a")
    secret_id = service.create("alice", "short-lived", "v1").id
    before = state(service)
    with pytest.raises(NotFoundError, match="no longer kept"):
        service.restore("alice", secret_id, 99, current_version=1)
    assert state(service) == before


def test_versions_and_restore_of_another_projects_secret(make_service: Make) -> None:
    proj_a = make_service("proj-a")
    proj_b, theirs = shared_by_b(make_service, "b-secret", "v")
    assert [v.version for v in proj_a.versions("alice", theirs)] == [1]
    with pytest.raises(ForbiddenError):
        proj_a.restore("alice", theirs, 1, current_version=1)
    with pytest.raises(NotFoundError):
        make_service("proj-c").versions("alice", theirs)


# -- what the panel is told ------------------------------------------------------------------


def test_hidden_in_outputs_follows_the_value_length_and_the_setting(make_service: Make) -> None:
    service = make_service("proj-a")
    short = service.create("alice", "short", "1234567").id
    long = service.create("alice", "long", "12345678").id
    assert explanation_of(service, short).hidden_in_outputs is False
    assert explanation_of(service, long).hidden_in_outputs is True
    unredacted = make_service("proj-a", redact_outputs=False)
    assert explanation_of(unredacted, long).hidden_in_outputs is False


def test_shadowed_names_in_the_listing(make_service: Make) -> None:
    # Given proj-a's own "clash-key", and proj-b's shared "clash-key" added to proj-a
    proj_a = make_service("proj-a")
    proj_a.create("alice", "clash-key", "ours")
    _, theirs = shared_by_b(make_service, "clash-key", "theirs")
    proj_a.set_attached("alice", theirs, True)
    # Then the shared one is shadowed, not injected, and the own one wins
    explained = explanation_of(proj_a, theirs)
    assert (explained.shadowed, explained.injected, explained.not_injected_reason) == (
        True,
        False,
        "shadowed",
    )
    assert proj_a.environment("alice") == {"clash-key": "ours"}


def test_communities_of_the_project(make_service: Make) -> None:
    communities = make_service("proj-a").communities("bob")
    assert [(c.name, c.is_admin, c.projects) for c in communities] == [
        ("data-team", True, ["proj-a", "proj-c"]),
        ("ml-team", False, ["proj-a", "proj-b"]),
    ]


# -- changes ---------------------------------------------------------------------------------


def test_listeners_hear_each_successful_write_and_the_marker_moves(make_service: Make) -> None:
    # Given a listener
    service = make_service("proj-a")
    heard: list[Change] = []
    service.listeners.append(heard.append)
    marker = service.change_marker()
    # When secrets are written, and a write is refused
    secret_id = service.create("alice", "watched", "v").id
    service.patch("alice", secret_id, 1, value="VALUE-MARK-1")
    with pytest.raises(StaleVersionError):
        service.patch("alice", secret_id, 1, value="x")
    service.delete("alice", secret_id)
    # Then each successful write was heard once, with no value
    assert [(c.action, c.secret_id, c.project) for c in heard] == [
        ("create", secret_id, "proj-a"),
        ("update", secret_id, "proj-a"),
        ("delete", secret_id, "proj-a"),
    ]
    assert "VALUE-MARK" not in repr(heard)
    # And the change marker moved
    assert service.change_marker() != marker


def test_a_failing_listener_does_not_undo_the_write(make_service: Make) -> None:
    service = make_service("proj-a")

    def broken(change: Change) -> Any:
        raise RuntimeError("listener bug")

    service.listeners.append(broken)
    created = service.create("alice", "kept", "v")
    assert service.reveal("alice", created.id) == "v"


def test_malformed_ids_never_reach_the_store(make_service: Make) -> None:
    service = make_service("proj-a")
    for secret_id in ("\0abc", "x" * 300, "0" * 31, "A" * 32):
        with pytest.raises(NotFoundError):
            service.get("alice", secret_id)


def test_the_service_loads_no_database_web_or_key_code() -> None:
    # Given a fresh interpreter (the layers themselves are checked by lint-imports: see
    # pyproject.toml's [tool.importlinter])
    code = (
        "import sys; import jupyterlab_secrets.service; "
        "assert 'sqlalchemy' not in sys.modules; "
        "print(sorted(sys.modules))"
    )
    # When it imports the service
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    # Then neither SQLAlchemy nor, even indirectly, a web framework, key handling, OpenBao's
    # client, a concrete store or the REST layer was loaded
    assert done.returncode == 0, done.stderr
    loaded = set(ast.literal_eval(done.stdout))
    assert "jupyterlab_secrets.stores.base" in loaded
    unwanted = {"sqlalchemy", "tornado", "jupyter_server", "cryptography", "hvac", "alembic"}
    assert not {name.split(".")[0] for name in loaded} & unwanted, loaded
    ours = {name for name in loaded if name.startswith("jupyterlab_secrets.")}
    assert ours <= {
        "jupyterlab_secrets._version",
        "jupyterlab_secrets.audit",
        "jupyterlab_secrets.credentials",
        "jupyterlab_secrets.errors",
        "jupyterlab_secrets.precedence",
        "jupyterlab_secrets.rules",
        "jupyterlab_secrets.service",
        "jupyterlab_secrets.stores",
        "jupyterlab_secrets.stores.base",
    }, ours
