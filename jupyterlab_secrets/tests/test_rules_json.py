"""The frontend's copy of the rules is the server's: ``src/rules.json`` and the verdicts table.

The browser checks names as the user types with ``src/rules.json``, generated from
`jupyterlab_secrets.rules`. These tests fail when someone changes the rules without
regenerating it (``python -m jupyterlab_secrets.rules > src/rules.json``), and pin the
server's verdicts on the table of names that the frontend's Jest test also checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jupyterlab_secrets import rules

ROOT = Path(__file__).resolve().parents[2]
RULES_JSON = ROOT / "src" / "rules.json"
VERDICTS_JSON = ROOT / "src" / "__tests__" / "name_verdicts.json"


def _check_of(message: str) -> str:
    """Which check of `rules.name_error` wrote ``message``."""
    if message.startswith("Names starting with"):
        return "reserved-prefix"
    if message.startswith("Name must start with"):
        return "first"
    if message.startswith("Name must end with"):
        return "last"
    if message.startswith("Name may contain only"):
        return "chars"
    if message.startswith("Name must be "):
        return "length"
    if " is reserved" in message:
        return "reserved"
    raise AssertionError(f"a message of no known check: {message!r}")


def _verdicts(key: str = "verdicts") -> list[tuple[str, str | None]]:
    return [tuple(row) for row in json.loads(VERDICTS_JSON.read_text("utf-8"))[key]]


def test_rules_json_is_generated_from_the_server_rules() -> None:
    # Given the frontend's copy of the rules
    frontend = json.loads(RULES_JSON.read_text("utf-8"))

    # Then it is exactly what the server's rules give, and its text is the generator's
    assert frontend == rules.rules_document(), (
        "src/rules.json differs from jupyterlab_secrets/rules.py: run "
        "`python -m jupyterlab_secrets.rules > src/rules.json`"
    )
    assert RULES_JSON.read_text("utf-8") == json.dumps(rules.rules_document(), indent=2) + "\n"


def test_the_reserved_lists_are_upper_case_since_the_frontend_compares_upper_case() -> None:
    document = rules.rules_document()["name"]
    for key in ("reserved", "reservedPrefixes", "traffic", "trafficPrefixes", "settingPrefixes"):
        assert all(item == item.upper() for item in document[key]), key


@pytest.mark.parametrize(("name", "verdict"), _verdicts())
def test_the_server_gives_the_verdict_the_frontend_is_tested_against(
    name: str, verdict: str | None
) -> None:
    # When the server checks the name
    message = rules.name_error(name)

    # Then it accepts or refuses it as the table says, for the reason the table names
    assert (None if message is None else _check_of(message)) == verdict, (name, message)


@pytest.mark.parametrize(("name", "verdict"), _verdicts("sharedVerdicts"))
def test_the_server_injects_a_shared_secret_under_the_names_the_frontend_is_tested_against(
    name: str, verdict: str | None
) -> None:
    # Given a valid name
    assert rules.name_error(name) is None
    # When the server decides whether a secret shared by another project is injected under it
    # Then it says what the table says: injected (None), or why not
    assert rules.shared_name_refusal(name) == verdict
