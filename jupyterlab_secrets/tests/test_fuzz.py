"""Property-based fuzzing of every REST operation, from the OpenAPI description the package ships.

schemathesis turns ``jupyterlab_secrets/openapi.yaml`` into hypothesis strategies: requests that
fit the description (positive) and requests that break it (negative: wrong types, bad ids,
missing or unknown fields). Each operation the server serves gets at least
`EXAMPLES_PER_OPERATION` generated requests, plus a fixed corpus of hostile inputs, against a
real ``jupyter server`` on loopback holding secrets with distinctive values. The property:
no answer is a 5xx, and no answer but ``reveal`` and ``environment`` holds a stored value.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

import jupyterlab_secrets
from jupyterlab_secrets.crypto import encode_key, generate_key
from jupyterlab_secrets.rest import MAX_BODY_BYTES

from .live import LiveServer

SPEC = Path(jupyterlab_secrets.__file__).parent / "openapi.yaml"

EXAMPLES_PER_OPERATION = int(os.environ.get("JUPYTERLAB_SECRETS_FUZZ_EXAMPLES", "200"))
"""Generated requests per operation, half positive and half negative (the corpus comes on top)."""

COMMUNITIES = {"ml-team": {"admins": ["alice"], "projects": ["proj-a", "proj-b"]}}

CANARIES = {
    "canary-api-key": "canary-" + uuid.uuid4().hex,
    "canary-multiline": "first line " + uuid.uuid4().hex + "\nsecond line\n",
    "canary-unicode": "пароль-" + uuid.uuid4().hex + "-密码-🔑",
    "canary-json": '{"token": "' + uuid.uuid4().hex + '", "quote": "\\""}',
    "canary-shared": "shared-" + uuid.uuid4().hex,
}
"""Secrets stored before fuzzing: distinctive values that must never show in an answer."""

NO_KERNEL = uuid.uuid4().hex
"""A well-formed kernel ID this server does not run (the fuzzer starts no kernel)."""

HISTORY_CANARY = "canary-api-key"
"""The canary given kept versions, first in `CANARIES`: restore is aimed at it."""

SENSITIVE_OPERATIONS = {"revealSecret", "getEnvironment"}
"""The only answers that may hold values."""

NESTED = b"[" * 200_000
HOSTILE_BODIES = [
    NESTED,
    b"{" * 200_000,
    b'{"name": ' * 50_000,
    b'{"name": "abc", "value": "' + b"x" * (2 << 20) + b'"}',
    b"\xff\xfe\x00garbage",
    b'{"name": "abc", "value": "\\ud800"}',
    b'{"name": "abc", "value": "a\\u0000b"}',
    b'{"version": 1e999999}',
    b'{"version": -1, "name": "\\u0000"}',
    b'{"communities": [' + b'"c",' * 100_000 + b'"c"]}',
    b"null",
    b"",
]
"""Bodies a parser can choke on: deep nesting, huge sizes, bad encodings, odd numbers."""

HOSTILE_IDS = [
    "%00abc",
    "abc%00",
    "%ff%fe",
    "%c0%ae%c0%ae",
    "..%2f..%2fetc",
    "a" * 5000,
    "0" * 32 + "%00",
    "%F0%9F%94%91",
    "'%20OR%201=1--",
    "1e999",
]
"""Path ids that are not ids: NUL, invalid UTF-8, traversal, SQL, huge."""


EXTRA_QUERY = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=60), max_size=3)
"""Query parameters no operation expects, so that even an operation without parameters gets
varied requests."""


@dataclass
class Tally:
    """What the fuzzer sent and what came back."""

    tried: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.tried.values())


class Fuzzer:
    """Sends requests to one live server and checks each answer."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.headers.update(server.headers)
        self.base = server.url.rstrip("/")
        self.tally = Tally()
        self.values: set[str] = set(CANARIES.values())
        self.ids: list[str] = []

    def close(self) -> None:
        self.session.close()

    def seed(self) -> None:
        """Make sure every canary is stored (an earlier operation may have deleted or edited
        it), and that one is shared with the community."""
        listing = self.session.get(f"{self.base}/secrets").json()["secrets"]
        present = {meta["name"]: meta["id"] for meta in listing if meta["origin"] == "project"}
        for name, value in CANARIES.items():
            if name in present:
                revealed = self.session.post(f"{self.base}/secrets/{present[name]}/reveal")
                if revealed.status_code == 200 and revealed.json()["value"] == value:
                    continue
                self.session.delete(f"{self.base}/secrets/{present[name]}")
            created = self.session.post(
                f"{self.base}/secrets", data=json.dumps({"name": name, "value": value})
            )
            assert created.status_code == 201, created.text
            present[name] = created.json()["id"]
            if name == HISTORY_CANARY:
                self.give_history(present[name], value)
        shared = self.session.put(
            f"{self.base}/secrets/{present['canary-shared']}/access",
            data=json.dumps({"communities": ["ml-team"]}),
        )
        assert shared.status_code == 200, shared.text
        self.ids = [present[name] for name in CANARIES]

    def give_history(self, secret_id: str, value: str) -> None:
        """Edit a new canary twice, back to its own value, so that versions 1 to 3 are kept and
        restore has real versions to restore (each earlier value is a secret too)."""
        earlier = "earlier-" + uuid.uuid4().hex
        self.values.add(earlier)
        for version, edited in ((1, earlier), (2, value)):
            reply = self.session.patch(
                f"{self.base}/secrets/{secret_id}",
                data=json.dumps({"version": version, "value": edited}),
            )
            assert reply.status_code == 200, reply.text

    def served(self, method: str, path: str) -> bool:
        """Whether the server has this route: jupyter_server's own 404 page is HTML, while
        the extension's 404 is a JSON error."""
        url = self.base + path.replace("{id}", "0" * 32).replace("{version}", "1")
        url = url.replace("{kernel_id}", NO_KERNEL)
        reply = self.session.request(method, url, data=b"{}")
        not_found_page = reply.status_code == 404 and "json" not in reply.headers.get(
            "Content-Type", ""
        )
        return not not_found_page and reply.status_code != 405

    def check(
        self, label: str, status: int, body: bytes, operation_id: str, shown: str = ""
    ) -> None:
        """The properties: no 5xx; no stored value in any answer that may not hold one."""
        self.tally.tried[label] += 1
        self.tally.statuses[status // 100] += 1
        if status >= 500:
            self.tally.server_errors.append(f"{label} {shown} -> {status}".replace("  ", " "))
        if operation_id in SENSITIVE_OPERATIONS and status < 400:
            return
        text = body.decode("utf-8", errors="replace")
        for value in self.values:
            if value in text or json.dumps(value)[1:-1] in text:
                self.tally.leaks.append(f"{label} -> {status} holds a stored value")
                return

    def remember(self, operation_id: str, case: Any, status: int) -> None:
        """A value the fuzzer stored is a secret too, once it is long enough to be distinctive."""
        body = case.body if isinstance(case.body, dict) else {}
        value = body.get("value")
        if (
            operation_id in {"createSecret", "editSecret", "copySecret"}
            and status in (200, 201)
            and isinstance(value, str)
            and len(value) >= 12
            and len(set(value)) > 4
        ):
            self.values.add(value)

    def generated(self, operation: Any, mode: GenerationMode, examples: int) -> None:
        """Send ``examples`` requests generated by schemathesis for one operation and mode.

        An operation with nothing to break (no body, no required parameter) has no negative
        requests; it gets positive ones instead, so that it is driven as often as the others.
        """
        before = self.tally.tried[operation.label]
        try:
            self._generate(operation, mode, examples)
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            sent = self.tally.tried[operation.label] - before
            self._generate(operation, GenerationMode.POSITIVE, examples - sent)

    def _generate(self, operation: Any, mode: GenerationMode, examples: int) -> None:
        label = operation.label
        operation_id = operation.definition.raw.get("operationId", label)
        strategies = [operation.as_strategy(generation_mode=mode)]
        if mode is GenerationMode.POSITIVE and "{id}" in operation.path:
            # Aim most valid requests at real secrets: a random id only finds 404.
            strategies += [
                operation.as_strategy(generation_mode=mode, path_parameters={"id": secret_id})
                for secret_id in self.ids
            ]
        if mode is GenerationMode.POSITIVE and "{version}" in operation.path:
            # And at versions that are kept, so that restore restores, or finds a stale version.
            strategies += [
                operation.as_strategy(
                    generation_mode=mode,
                    path_parameters={"id": self.ids[0], "version": version},
                )
                for version in (1, 2, 3)
            ]

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=st.one_of(strategies), extra=EXTRA_QUERY)
        def send(case: Any, extra: dict[str, str]) -> None:
            response = case.call(
                base_url=self.base, session=self.session, params=extra or None, timeout=60
            )
            self.check(label, response.status_code, response.content, operation_id)
            self.remember(operation_id, case, response.status_code)

        send()

    def corpus(self, method: str, path: str, operation_id: str) -> None:
        """The fixed hostile inputs: every hostile body (at a real secret), every hostile id
        (of a secret or a kernel)."""
        label = f"corpus {method} {path}"
        has_body = method in ("POST", "PUT", "PATCH")
        # A secret's id, or a kernel's: the real secret, or a kernel this server does not run.
        url = self.base + path.replace("{version}", "1").replace("{kernel_id}", "{id}")
        real_id = NO_KERNEL if "{kernel_id}" in path else self.ids[0]
        sends: list[tuple[str, bytes, str]] = []
        for body in HOSTILE_BODIES if has_body else [b""]:
            shown = f"body {body[:12]!r}… ({len(body):,} bytes)"
            sends.append((url.replace("{id}", real_id), body, shown))
        if "{id}" in url:
            for secret_id in HOSTILE_IDS:
                shown = f"id {secret_id[:20]}"
                sends.append((url.replace("{id}", secret_id), b"{}" if has_body else b"", shown))
        for target, body, shown in sends:
            if len(body) > MAX_BODY_BYTES:
                status, content = self.oversized(method, target, len(body))
                self.check(label, status, content, operation_id, shown)
                continue
            reply = self.session.request(
                method, target, data=body, headers={"Content-Type": "application/json"}, timeout=60
            )
            self.check(label, reply.status_code, reply.content, operation_id, shown)

    def oversized(self, method: str, target: str, length: int) -> tuple[int, bytes]:
        """Announce a body larger than the server takes, and read the answer it gives from the
        length alone (413), before any of the body is sent: a client that sends the body first
        finds the connection closed under it, as a browser would, and learns nothing."""
        url = urllib.parse.urlsplit(target)
        with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
            head = [
                f"{method} {url.path} HTTP/1.1",
                f"Host: {url.netloc}",
                *(f"{name}: {value}" for name, value in self.server.headers.items()),
                "Content-Type: application/json",
                f"Content-Length: {length}",
                "Connection: close",
            ]
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            reply = http.client.HTTPResponse(sock)
            reply.begin()
            return reply.status, reply.read()


def operations() -> list[Any]:
    """Every operation of the shipped description."""
    schema = schemathesis.openapi.from_path(SPEC)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.fixture
def live_server(db_url: str, tmp_path: Path) -> Any:
    """A real server of proj-a, on a fresh SQLite file or PostgreSQL schema."""
    server = LiveServer(
        tmp_path / "server", db_url, encode_key(generate_key()), communities=COMMUNITIES
    )
    try:
        yield server.start()
    finally:
        server.stop()


def examples_for(db_url: str) -> int:
    """Generated requests per operation on this backend.

    SQLite gets them all. PostgreSQL gets a quarter, plus the whole corpus: what differs there
    is how the database takes odd text (NUL, bad encodings), which the corpus sends on
    purpose, and the whole run on both would take minutes more on two cores.
    """
    if db_url.startswith("sqlite"):
        return EXAMPLES_PER_OPERATION
    return max(2, EXAMPLES_PER_OPERATION // 4)


@pytest.mark.timeout(900)
def test_no_input_gets_a_server_error_or_a_value(
    live_server: LiveServer, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a server holding secrets with distinctive values
    fuzzer = Fuzzer(live_server)
    examples = examples_for(db_url)
    skipped = []
    try:
        # When every operation it serves gets generated and hostile requests
        for operation in operations():
            operation_id = operation.definition.raw["operationId"]
            method = operation.method.upper()
            fuzzer.seed()
            if not fuzzer.served(method, operation.path):
                skipped.append(f"{method} {operation.path}")
                continue
            half = max(1, examples // 2)
            fuzzer.generated(operation, GenerationMode.POSITIVE, half)
            fuzzer.seed()
            fuzzer.generated(operation, GenerationMode.NEGATIVE, examples - half)
            fuzzer.seed()
            fuzzer.corpus(method, operation.path, operation_id)
    finally:
        fuzzer.close()
    tally = fuzzer.tally
    backend = db_url.split(":", 1)[0]
    with capsys.disabled():
        print(
            f"\nfuzz on {backend}: {tally.total} inputs over {len(tally.tried) // 2} "
            f"operations, {len(tally.server_errors)} answered 5xx, {len(tally.leaks)} showed a "
            f"value; answers by class {dict(sorted(tally.statuses.items()))}; not served "
            f"(yet): {', '.join(skipped) or 'none'}"
        )
        for failure in sorted(Counter(tally.server_errors).items()):
            print(f"  5xx: {failure[0]} ({failure[1]}x)")
    # Then every operation it serves was driven at least as often as promised
    driven = {label: n for label, n in tally.tried.items() if not label.startswith("corpus")}
    assert len(driven) >= 12
    assert all(count >= examples for count in driven.values()), driven
    # And nothing answered 5xx, and nothing showed a value
    assert tally.server_errors == []
    assert tally.leaks == []
