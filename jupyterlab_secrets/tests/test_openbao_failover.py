"""How the OpenBao store rides out a node that does not answer, an answer lost on the way
and a node that cannot serve for a moment: against a real OpenBao, with the faults made by a
relay on loopback between the store and OpenBao (nothing of the store is replaced)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from jupyterlab_secrets.audit import AuditEntry
from jupyterlab_secrets.errors import UnavailableError
from jupyterlab_secrets.stores.base import View
from jupyterlab_secrets.stores.openbao import OpenBaoSecretStore, project_policy_name

from .openbao_server import OpenBao, _free_port

A = View("proj-d", ())

UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b'Content-Length: 32\r\nConnection: close\r\n\r\n{"errors":["Vault is sealed xx"]}'
)


@dataclass
class Relay:
    """A TCP relay to OpenBao that can lose the answer to the next write of a document
    (``lose_answers``: the write reaches OpenBao, its answer never comes back) or answer the
    next reads 503 itself (``refuse_reads``)."""

    upstream: int
    lose_answers: int = 0
    refuse_reads: int = 0
    lost: int = 0
    refused: int = 0
    sockets: list[socket.socket] = field(default_factory=list)

    def start(self) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        self.sockets.append(listener)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    def close(self) -> None:
        for one in self.sockets:
            with contextlib.suppress(OSError):
                one.close()

    def _accept(self, listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                self.sockets.append(client)
                threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream))
        self.sockets.append(upstream)
        lose = threading.Event()

        def back() -> None:
            with contextlib.suppress(OSError):
                while chunk := upstream.recv(65536):
                    if lose.is_set():
                        # The write went through; its answer is lost with the connection.
                        client.shutdown(socket.SHUT_RDWR)
                        client.close()
                        return
                    client.sendall(chunk)

        threading.Thread(target=back, daemon=True).start()
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                if chunk.startswith(b"GET ") and self.refuse_reads:
                    self.refuse_reads -= 1
                    self.refused += 1
                    client.sendall(UNAVAILABLE)
                    client.close()
                    return
                if chunk.startswith(b"POST ") and b"/data/" in chunk.split(b"\r\n", 1)[0]:
                    if self.lose_answers:
                        self.lose_answers -= 1
                        self.lost += 1
                        lose.set()
                upstream.sendall(chunk)


@pytest.fixture
def relay(openbao: OpenBao) -> Iterator[Relay]:
    port = int(openbao.url.rsplit(":", 1)[1])
    one = Relay(port)
    yield one
    one.close()


@pytest.fixture
def token(openbao: OpenBao) -> str:
    return openbao.mint(project_policy_name("proj-d"))


def test_a_node_that_does_not_answer_is_passed_over(openbao: OpenBao, token: str) -> None:
    # Given a server given two nodes, the first of which is down
    dead = f"http://127.0.0.1:{_free_port()}"
    store = OpenBaoSecretStore(url=f"{dead}, {openbao.url}/", token=token, mount=openbao.mount)
    try:
        # When it writes and reads
        secret = store.create(A, name="through-the-second", value="v-1", user="alice")
        assert store.read_values(A, [secret.id]) == {secret.id: "v-1"}
        # Then it went on to the second node once, and stays there
        moved = store.kv.cluster.failovers
        assert moved >= 1
        store.list(A)
        assert store.kv.cluster.failovers == moved
        assert store.kv.cluster.nodes == [dead, openbao.url]
    finally:
        store.close()


def test_the_proxy_of_the_environment_is_still_used(
    openbao: OpenBao, relay: Relay, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an OpenBao reached only through a proxy (the relay: OpenBao takes a request
    # line that names the full address, as a proxy passes it on), named by HTTP_PROXY
    monkeypatch.setenv("HTTP_PROXY", relay.start())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    store = OpenBaoSecretStore(url="http://openbao.invalid:8200", token=token, mount=openbao.mount)
    try:
        # When the server writes and reads many times
        secret = store.create(A, name="through-the-proxy", value="v-1", user="alice")
        for _ in range(3):
            assert store.read_values(A, [secret.id]) == {secret.id: "v-1"}
    finally:
        store.close()
    # And when NO_PROXY names OpenBao's host, the proxy is passed by (and the name does
    # not resolve)
    monkeypatch.setenv("NO_PROXY", "openbao.invalid")
    store = OpenBaoSecretStore(url="http://openbao.invalid:8200", token=token, mount=openbao.mount)
    try:
        with pytest.raises(UnavailableError, match="cannot be reached"):
            store.list(A)
    finally:
        store.close()


@pytest.mark.parametrize(
    "url", ["bao.internal:8200", "http://a:1,,ftp://b", " , ", "https://bao internal"]
)
def test_an_openbao_url_that_is_not_one_is_refused(url: str, token: str) -> None:
    with pytest.raises(UnavailableError, match="openbao_url .* is not an OpenBao address"):
        OpenBaoSecretStore(url=url, token=token, mount="m")


def test_a_write_whose_answer_is_lost_is_done_once(
    openbao: OpenBao, relay: Relay, token: str
) -> None:
    # Given a server whose writes reach OpenBao but whose answers may be lost on the way
    store = OpenBaoSecretStore(url=relay.start(), token=token, mount=openbao.mount)
    direct = OpenBaoSecretStore(url=openbao.url, token=token, mount=openbao.mount)
    try:
        # When the answers to a create's first two writes (its value, then the index) are lost
        relay.lose_answers = 2
        secret = store.create(A, name="answer-lost", value="once-1", user="alice")
        # Then the create is reported done, and each write was applied once
        assert relay.lost == 2
        value_path = f"projects/proj-d/secrets/{secret.id}"
        assert direct.kv.version_of(value_path) == 1
        assert direct.kv.version_of("projects/proj-d/index") == 1
        assert direct.read_values(A, [secret.id]) == {secret.id: "once-1"}
        # And an update whose answers are lost lands once, at the next version
        relay.lose_answers = 2
        updated = store.update(A, secret.id, expected_version=1, user="alice", value="once-2")
        assert updated.version == 2
        assert direct.kv.version_of(value_path) == 2
        assert direct.kv.version_of("projects/proj-d/index") == 2
        assert direct.read_values(A, [secret.id]) == {secret.id: "once-2"}
    finally:
        store.close()
        direct.close()


def test_an_audit_event_whose_answer_is_lost_is_recorded_once(
    openbao: OpenBao, relay: Relay, token: str
) -> None:
    # Given a server whose writes reach OpenBao but whose answers may be lost on the way, and
    # whose token may create audit events but not write over one nor read their metadata
    store = OpenBaoSecretStore(url=relay.start(), token=token, mount=openbao.mount)
    try:
        # When the answer to an event's write is lost
        relay.lose_answers = 1
        entry = AuditEntry("alice", "proj-d", "proj-d", "environment", detail={"names": ["x"]})
        event = store.audit_log().append(entry)
        # Then it is reported recorded, and is recorded once
        assert relay.lost == 1
        assert store.audit_log().events("proj-d") == [event]
    finally:
        store.close()


def test_a_read_answered_503_is_sent_again(openbao: OpenBao, relay: Relay, token: str) -> None:
    # Given a server behind a node that cannot serve for its next three reads
    store = OpenBaoSecretStore(url=relay.start(), token=token, mount=openbao.mount)
    try:
        secret = store.create(A, name="read-again", value="patient", user="alice")
        relay.refuse_reads = 3
        # When it reads, then the reads are sent again until one is answered
        assert store.read_values(A, [secret.id]) == {secret.id: "patient"}
        assert relay.refused == 3
        assert store.kv.cluster.retried == 3
    finally:
        store.close()
