"""How the redacting kernel connection reads a message's type without decoding its header.

Redaction through a real server and kernel is tested in `test_redaction.py`; this checks the
shortcut's corner cases, where a wrong type would let an output through unredacted.
"""

from __future__ import annotations

import pytest
from jupyter_client.session import Session

from jupyterlab_secrets.kernel_connection import _msg_type


@pytest.fixture
def session() -> Session:
    return Session(key=b"a key")


def test_plain_header_gives_its_type(session: Session) -> None:
    header = session.pack(session.msg_header("stream"))
    assert _msg_type(session, header, json_packed=True) == "stream"


@pytest.mark.parametrize(
    "header",
    [
        # An escaped type: only decoding reads it
        b'{"msg_id": "1", "msg_type": "stre\\u0061m"}',
        # An escaped key beside a plain one: JSON keeps the last
        b'{"msg_type": "status", "msg_\\u0074ype": "stream"}',
        # The key twice: JSON keeps the last
        b'{"msg_type": "status", "msg_type": "stream"}',
        # Spaces around the colon
        b'{"msg_type" :  "stream"}',
    ],
)
def test_unusual_header_is_read_as_json_reads_it(session: Session, header: bytes) -> None:
    assert _msg_type(session, header, json_packed=True) == "stream"


def test_type_that_is_not_a_string_is_none(session: Session) -> None:
    assert _msg_type(session, b'{"msg_type": ["stream"]}', json_packed=True) == ""
