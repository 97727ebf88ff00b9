"""Redaction of secret values in kernel outputs, through the kernel websocket as any client sees.

Each test starts a real kernel on the test server, connects to it with a websocket client (the
JSON protocol or ``v1.kernel.websocket.jupyter.org``), stores a secret through the API, gives
the kernel the value without writing it in the code (the code carries it hex-encoded, a form
that is not redacted), and checks what arrives: ``[REDACTED:<name>]``, and never the value in
any form, in any frame the client received.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from .conftest import Api
from .kernel_client import JSON_PROTOCOL, V1, KernelClient, install_kernelspecs, text_of
from .kernels_helpers import wait_until

Connect = Callable[..., Awaitable[KernelClient]]


@pytest.fixture
def kernel_names(jp_data_dir: Path) -> list[str]:
    """The kernels the test server can start: ipykernel, bash_kernel and IRkernel."""
    return install_kernelspecs(jp_data_dir)


@pytest.fixture
def connect(jp_fetch: Any, jp_ws_fetch: Any, kernel_names: list[str]) -> Iterator[Connect]:
    """Start a kernel and open a websocket to it: ``await connect("python3", V1)``.

    The server shuts its kernels down when it stops.
    """
    clients: list[KernelClient] = []

    async def start(name: str = "python3", protocol: str = JSON_PROTOCOL) -> KernelClient:
        if name not in kernel_names:
            if os.environ.get("CI") == "true":
                pytest.fail(f"The {name} kernel is not installed: install IRkernel for R.")
            pytest.skip(f"The {name} kernel is not installed (R with IRkernel is missing).")
        reply = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": name}))
        kernel_id = json.loads(reply.body)["id"]
        client = await KernelClient.open(jp_ws_fetch, kernel_id, protocol)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()


@pytest.fixture
def redact_outputs() -> bool:
    """`SecretsExtension.redact_outputs` of the test server; a test parametrizes it to turn
    redaction off."""
    return True


@pytest.fixture
def secrets_config(secrets_config: dict[str, Any], redact_outputs: bool) -> dict[str, Any]:
    """The test server's settings, with `redact_outputs`."""
    return {**secrets_config, "redact_outputs": redact_outputs}


def new_value(prefix: str = "s3cr3t") -> str:
    """A value no output holds by chance."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


async def create_secret(api: Api, name: str, value: str) -> str:
    """Store a secret through the API; its ID."""
    reply = await api("POST", "secrets", body={"name": name, "value": value})
    assert reply.status == 201, reply.body
    return reply.body["id"]


async def until_held(api: Api, kernel_id: str, name: str, held: bool = True) -> None:
    """Wait until the server's injector has given the kernel a secret (or taken it away)."""

    async def done() -> bool:
        status = (await api("GET", "kernels", kernel_id)).body
        return status["state"] == "loaded" and (name in status["names"]) == held

    await wait_until(done, what=f"the kernel to {'hold' if held else 'drop'} {name!r}")


def python_setenv(name: str, value: str) -> str:
    """Python code that puts ``value`` in the environment without holding it in plain form."""
    return f"import os; os.environ[{name!r}] = bytes.fromhex({value.encode().hex()!r}).decode()"


def all_forms(value: str) -> list[bytes]:
    """What must never reach the client: the value, its base64 and URL-encoded forms, as they
    would sit in a frame of either protocol."""
    data = value.encode()
    forms = [
        value,
        json.dumps(value)[1:-1],
        base64.b64encode(data).decode().rstrip("="),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
        quote(value),
        quote(value, safe=""),
        quote_plus(value),
    ]
    return [form.encode() for form in forms]


def assert_never_received(client: KernelClient, value: str) -> None:
    """No frame the client received, of any message, holds the value in any form."""
    for received in client.received:
        for form in all_forms(value):
            assert form not in received.raw, (received.channel, received.msg["header"])


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, V1])
async def test_printed_value_is_redacted(api: Api, connect: Connect, protocol: str) -> None:
    # Given a secret, and a Python kernel that has its value
    value = new_value()
    await create_secret(api, "api-key", value)
    client = await connect("python3", protocol)
    await client.execute(python_setenv("api-key", value))
    # When a cell prints it, among other text
    replies = await client.execute("print('key:', os.environ['api-key'], 'end')")
    # Then the client sees the placeholder where the value was, and the value nowhere
    assert "key: [REDACTED:api-key] end\n" in text_of(replies)
    assert_never_received(client, value)


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, V1])
@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
async def test_base64_at_every_offset_is_redacted(
    api: Api, connect: Connect, protocol: str, alphabet: str
) -> None:
    # Given a secret whose value's base64 form uses + and / (or - and _)
    value = "\xfb\xff\xfe-" + new_value()
    await create_secret(api, "token", value)
    client = await connect("python3", protocol)
    await client.execute(python_setenv("token", value))
    encode = base64.b64encode if alphabet == "standard" else base64.urlsafe_b64encode
    for prefix in (b"", b"a", b"ab"):
        # When the value is encoded at offset 0, 1 or 2 inside a longer string
        data = prefix + value.encode() + b" and a tail"
        code = (
            f"import base64; v = os.environ['token'].encode()\n"
            f"print(base64.{encode.__name__}({prefix!r} + v + b' and a tail').decode())"
        )
        text = text_of(await client.execute(code)).strip()
        # Then what remains around the placeholder is only the edges: the prefix and the
        # tail, and the characters that mix their bits with the value's
        encoded = encode(data).decode()
        head, found, tail = text.partition("[REDACTED:token]")
        assert found, text
        assert encoded.startswith(head) and len(head) <= len(prefix) + 2
        assert encoded.endswith(tail) and len(tail) <= len(encode(b" and a tail")) + 2
    assert_never_received(client, value)


async def test_largest_value_is_redacted(api: Api, connect: Connect) -> None:
    # Given a secret of the largest size allowed, in a Python kernel
    value = "v" + os.urandom(32767).hex() + "!"
    await create_secret(api, "big", value)
    client = await connect("python3", V1)
    await client.execute(python_setenv("big", value))
    # When a cell prints it
    text = text_of(await client.execute("print(os.environ['big'])"))
    # Then it is redacted
    assert text == "[REDACTED:big]\n"
    assert_never_received(client, value)


async def test_url_encoded_value_is_redacted(api: Api, connect: Connect) -> None:
    # Given a value with characters that URL encoding changes
    value = "p@ss w/rd+?&=\u00fc-" + new_value()
    await create_secret(api, "db-password", value)
    client = await connect("python3")
    await client.execute(python_setenv("db-password", value))
    # When a cell prints it quoted both ways, in URLs
    code = (
        "from urllib.parse import quote, quote_plus; v = os.environ['db-password']\n"
        "print('https://h/?a=' + quote(v) + '&b=' + quote(v, safe='') + '&c=' + quote_plus(v))"
    )
    text = text_of(await client.execute(code))
    # Then each form is redacted
    expected = "https://h/?a=[REDACTED:db-password]&b=[REDACTED:db-password]"
    assert expected + "&c=[REDACTED:db-password]\n" in text
    assert_never_received(client, value)


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, V1])
async def test_error_value_and_traceback_are_redacted(
    api: Api, connect: Connect, protocol: str
) -> None:
    # Given a secret in a Python kernel
    value = new_value()
    await create_secret(api, "api-key", value)
    client = await connect("python3", protocol)
    await client.execute(python_setenv("api-key", value))
    # When a cell raises an error that carries it
    replies = await client.execute("raise ValueError('bad key ' + os.environ['api-key'])")
    # Then the error message and its traceback show the placeholder
    (error,) = [r.msg["content"] for r in replies if r.msg["header"]["msg_type"] == "error"]
    assert error["ename"] == "ValueError"
    assert error["evalue"] == "bad key [REDACTED:api-key]"
    assert "[REDACTED:api-key]" in "".join(error["traceback"])
    assert_never_received(client, value)


async def test_results_and_displays_are_redacted(api: Api, connect: Connect) -> None:
    # Given a secret in a Python kernel
    value = new_value()
    await create_secret(api, "api-key", value)
    client = await connect("python3", V1)
    await client.execute(python_setenv("api-key", value))
    # When it is the cell's result, then displayed, then an updated display
    result = await client.execute("os.environ['api-key']")
    shown = await client.execute(
        "from IPython.display import display, HTML\n"
        "handle = display(HTML('<b>' + os.environ['api-key'] + '</b>'), display_id=True)"
    )
    updated = await client.execute("handle.update(os.environ['api-key'] * 2)")
    # Then every one of them holds the placeholder
    kinds = {r.msg["header"]["msg_type"]: r.msg["content"] for r in result + shown + updated}
    assert kinds["execute_result"]["data"]["text/plain"] == "'[REDACTED:api-key]'"
    assert "<b>[REDACTED:api-key]</b>" in kinds["display_data"]["data"]["text/html"]
    assert (
        kinds["update_display_data"]["data"]["text/plain"]
        == "'[REDACTED:api-key][REDACTED:api-key]'"
    )
    assert_never_received(client, value)


async def test_bash_output_is_redacted(api: Api, connect: Connect) -> None:
    # Given a secret in a bash kernel (whose names cannot hold a hyphen), set without
    # writing the value in the code
    value = new_value()
    await create_secret(api, "API_KEY", value)
    client = await connect("bash")
    escaped = "".join(f"\\x{byte:02x}" for byte in value.encode())
    await client.execute(f"export API_KEY=\"$(printf '{escaped}')\"")
    # When a cell echoes it
    text = text_of(await client.execute('echo "key=$API_KEY"'))
    # Then the placeholder is shown
    assert "key=[REDACTED:API_KEY]" in text
    assert_never_received(client, value)


async def test_r_output_is_redacted(api: Api, connect: Connect) -> None:
    # Given a secret in an R kernel
    value = new_value()
    await create_secret(api, "api-key", value)
    client = await connect("ir")
    codes = ", ".join(f"0x{byte:02x}" for byte in value.encode())
    await client.execute(f'Sys.setenv("api-key" = rawToChar(as.raw(c({codes}))))')
    # When a cell prints it with cat, and as a value
    text = text_of(await client.execute('cat("key:", Sys.getenv("api-key"), "\\n")'))
    shown = text_of(await client.execute('Sys.getenv("api-key")'))
    # Then the placeholder is shown
    assert "key: [REDACTED:api-key]" in text
    assert "[REDACTED:api-key]" in shown
    assert_never_received(client, value)


async def test_value_shorter_than_minimum_is_not_redacted(api: Api, connect: Connect) -> None:
    # Given a secret of 7 characters (the minimum is 8) and one of 8
    await create_secret(api, "short", "abc1234")
    await create_secret(api, "long-enough", "abcd1234")
    client = await connect("python3")
    await client.execute(
        python_setenv("short", "abc1234") + "; " + python_setenv("long", "abcd1234")
    )
    # When a cell prints both
    text = text_of(await client.execute("print(os.environ['short'], os.environ['long'])"))
    # Then only the long one is hidden
    assert "abc1234 [REDACTED:long-enough]\n" in text


async def test_redaction_follows_the_secrets(api: Api, connect: Connect) -> None:
    # Given a running kernel that already printed something, before the secret exists
    value = new_value()
    client = await connect("python3")
    await client.execute(python_setenv("later", value))
    assert value in text_of(await client.execute("print(os.environ['later'])"))
    # When the secret is created, the very next output once the kernel got it hides it
    secret_id = await create_secret(api, "later", value)
    await until_held(api, client.kernel_id, "later")
    assert "[REDACTED:later]\n" in text_of(await client.execute("print(os.environ['later'])"))
    # And once it is deleted, it is shown again (it is no secret of the kernel any more)
    reply = await api("DELETE", "secrets", secret_id)
    assert reply.status == 204
    await until_held(api, client.kernel_id, "later", held=False)
    # (the injector took the variable away with the secret: the kernel gets it by hand again)
    await client.execute(python_setenv("later", value))
    assert value + "\n" in text_of(await client.execute("print(os.environ['later'])"))


@pytest.mark.parametrize("redact_outputs", [False])
@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, V1])
async def test_redaction_off_passes_everything(api: Api, connect: Connect, protocol: str) -> None:
    # Given redaction turned off, and a secret in a Python kernel
    value = new_value()
    await create_secret(api, "api-key", value)
    client = await connect("python3", protocol)
    await client.execute(python_setenv("api-key", value))
    # When a cell prints it
    text = text_of(await client.execute("print(os.environ['api-key'])"))
    # Then it arrives as printed
    assert text == value + "\n"


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, V1])
async def test_outputs_wait_for_new_secrets_in_order_and_a_status_does_not(
    api: Api, connect: Connect, protocol: str
) -> None:
    from jupyter_server.services.kernels.connection.channels import (
        ZMQChannelsWebsocketConnection,
    )

    # Given a connected kernel that was just given a secret, whose matcher is not compiled
    client = await connect("python3", protocol)
    value = new_value()
    await create_secret(api, "late", value)
    await until_held(api, client.kernel_id, "late")
    (connection,) = [
        opened
        for opened in ZMQChannelsWebsocketConnection._open_sockets
        if opened.kernel_id == client.kernel_id
    ]
    assert connection.redactor.ready(client.kernel_id) is None

    # When the kernel sends a status, an output holding the value, then another status
    session = connection.session
    topic = f"kernel.{client.kernel_id}".encode()
    sent = []
    for msg_type, content in [
        ("status", {"execution_state": "busy"}),
        ("stream", {"name": "stdout", "text": f"the value: {value}\n"}),
        ("status", {"execution_state": "idle"}),
    ]:
        msg = session.msg(msg_type, content=content)
        sent.append(msg["header"]["msg_id"])
        connection.handle_outgoing_message("iopub", session.serialize(msg, ident=[topic]))
        if msg_type == "status" and len(sent) == 1:
            # Then the first status went on at once: nothing waits yet
            assert connection._backlog is None
    # And the output, and the status behind it, wait for the matcher
    assert connection._backlog is not None and len(connection._backlog) == 2

    # And the client receives all three in the order sent, the value redacted
    received = []
    while len(received) < 3:
        message = await asyncio.wait_for(client.receive(), 30)
        if message.msg["header"]["msg_id"] in sent:
            received.append(message)
    assert [message.msg["header"]["msg_id"] for message in received] == sent
    assert received[1].msg["content"]["text"] == "the value: [REDACTED:late]\n"
    assert_never_received(client, value)
