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
import html
import json
import os
import re
import uuid
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from .conftest import Api
from .kernel_client import JSON_PROTOCOL, V1, Connect, KernelClient, Received, strings, text_of
from .kernels_helpers import wait_until


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


def lower_hex(quoted: str) -> str:
    """URL encoding with lower-case hex digits, as other programs than Python write it."""
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quoted)


def shown_forms(value: str) -> list[str]:
    """Every form of the value as a client would read it, decoded from the message: escaped
    for HTML, Python and JSON, URL-encoded in either case of hex, and in base64."""
    data = value.encode()
    escaped = html.escape(value)
    return [
        value,
        escaped,
        html.escape(value, quote=False),
        escaped.replace("&#x27;", "&#39;"),
        repr(value)[1:-1],
        ascii(value)[1:-1],
        repr(data)[2:-1],
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        lower_hex(quote(value, safe="")),
        lower_hex(quote_plus(value)),
        base64.b64encode(data).decode().rstrip("="),
        base64.urlsafe_b64encode(data).decode().rstrip("="),
    ]


def assert_never_received(client: KernelClient, value: str) -> None:
    """No frame the client received, of any message, holds the value in any form: neither
    as sent, nor in any string of the message once decoded."""
    shown = shown_forms(value)
    for received in client.received:
        where = (received.channel, received.msg["header"])
        for form in all_forms(value):
            assert form not in received.raw, where
        for text in strings(received.msg):
            for form in shown:
                assert form not in text, where


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


def tricky_value() -> str:
    """A value that every form changes: quotes of both kinds, HTML, URL and control
    characters, and non-ASCII text."""
    return 'it\'s "q" <b>&amp; p@ss/w%rd+ \u00fcn\u00efc\u00f6de\x01-' + new_value()


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, V1])
async def test_every_form_a_program_prints_is_redacted(
    api: Api, connect: Connect, protocol: str
) -> None:
    # Given a secret whose value every form changes, in a Python kernel
    value = tricky_value()
    await create_secret(api, "password", value)
    client = await connect("python3", protocol)
    await client.execute(python_setenv("password", value))
    # When cells print it in each form programs write it in: HTML (as IPython's HTML display
    # and pandas' to_html escape it), URL-encoded with either case of hex, Python's repr
    # and ascii (of the text, of a dict, of the bytes), JSON, base64
    code = """
import base64, html, json, re
from urllib.parse import quote, quote_plus
from IPython.display import HTML, display
v = os.environ['password']
lower = lambda s: re.sub('%[0-9A-F]{2}', lambda m: m.group().lower(), s)
print(html.escape(v))
print(html.escape(v, quote=False))
print(html.escape(v).replace('&#x27;', '&#39;'))
display(HTML('<table><td>' + html.escape(v, quote=False) + '</td></table>'))
print(quote(v), quote(v, safe=''), quote_plus(v))
print(lower(quote(v)), lower(quote(v, safe='')), lower(quote_plus(v)))
print(repr(v), ascii(v), repr({'password': v}), repr(('x"', v)))
print(v.encode(), repr(b"x'" + v.encode()))
print(json.dumps(v), json.dumps({'v': v}, ensure_ascii=False))
print(base64.b64encode(v.encode()).decode(), base64.urlsafe_b64encode(b'a' + v.encode()))
{'v': v}
"""
    replies = await client.execute(code)
    text = text_of(replies)
    # Then each one shows the placeholder, and the value is in no form anywhere
    assert text.count("[REDACTED:password]") >= 20, text
    assert_never_received(client, value)


def _of_type(replies: list[Received], msg_type: str) -> list[dict[str, Any]]:
    return [r.msg for r in replies if r.msg["header"]["msg_type"] == msg_type]


@pytest.mark.parametrize("protocol", [JSON_PROTOCOL, V1])
async def test_every_message_type_is_redacted(api: Api, connect: Connect, protocol: str) -> None:
    # Given a secret in a Python kernel
    value = new_value()
    await create_secret(api, "api-key", value)
    client = await connect("python3", protocol)
    await client.execute(python_setenv("api-key", value))

    # When a cell holding the value as text runs (echoed to clients as execute_input),
    # asks for it in a user expression (execute_reply), and opens a comm (a widget) with it
    # in its data, its metadata and a binary buffer, then sends it a message
    code = (
        f"typed = {value!r}\n"
        "from ipykernel.comm import Comm\n"
        "from IPython.display import display\n"
        "comm = Comm(target_name='jupyterlab-secrets-test', data={'value': typed},\n"
        "            metadata={'note': typed}, buffers=[typed.encode()])\n"
        "comm.send({'again': typed}, buffers=[b'<' + typed.encode() + b'>'])\n"
        "display({'text/plain': 'shown'}, metadata={'note': typed}, raw=True)\n"
    )
    executed = await client.execute(code, user_expressions={"key": "os.environ['api-key']"})
    # And a client asks for the history (history_reply), for the value as an input prompt
    # (input_request), and the debugger for the variable (debug_reply, the Variables panel)
    history = await client.request(
        "shell",
        "history_request",
        {"output": False, "raw": True, "hist_access_type": "tail", "n": 10},
    )
    prompted = await client.execute(
        "answer = input('Password ' + os.environ['api-key'] + ': ')", allow_stdin=True
    )
    debugged = await client.request(
        "control",
        "debug_request",
        {
            "type": "request",
            "seq": 1,
            "command": "richInspectVariables",
            "arguments": {"variableName": "typed"},
        },
    )
    variables = await client.request(
        "control",
        "debug_request",
        {"type": "request", "seq": 2, "command": "inspectVariables", "arguments": {}},
    )

    # Then each of these messages arrived with the placeholder where the value was
    placeholder = "[REDACTED:api-key]"
    (echo,) = _of_type(executed, "execute_input")
    assert f"typed = '{placeholder}'" in echo["content"]["code"]
    (reply,) = _of_type(executed, "execute_reply")
    assert reply["content"]["user_expressions"]["key"]["data"]["text/plain"] == f"'{placeholder}'"
    (opened,) = _of_type(executed, "comm_open")
    assert opened["content"]["data"] == {"value": placeholder}
    assert opened["metadata"] == {"note": placeholder}
    (sent,) = _of_type(executed, "comm_msg")
    assert sent["content"]["data"] == {"again": placeholder}
    assert [bytes(buffer) for buffer in sent["buffers"]] == [f"<{placeholder}>".encode()]
    (displayed,) = _of_type(executed, "display_data")
    assert displayed["content"]["metadata"] == {"note": placeholder}
    (past,) = _of_type(history, "history_reply")
    assert any(f"typed = '{placeholder}'" in entry[2] for entry in past["content"]["history"])
    (prompt,) = _of_type(prompted, "input_request")
    assert prompt["content"]["prompt"] == f"Password {placeholder}: "
    (rich,) = _of_type(debugged, "debug_reply")
    assert rich["content"]["body"]["data"]["text/plain"] == f"'{placeholder}'"
    (listed,) = _of_type(variables, "debug_reply")
    shown = {v["name"]: v["value"] for v in listed["content"]["body"]["variables"]}
    assert shown["typed"] == f"'{placeholder}'"
    # And no frame held the value in any form, in a buffer neither
    assert_never_received(client, value)


@pytest.mark.parametrize("kernel", ["python3", "bash", "ir"])
async def test_injection_requests_never_reach_clients(
    api: Api, connect: Connect, kernel: str
) -> None:
    # Given a client connected to a running kernel
    client = await connect(kernel, V1)
    await client.execute("1" if kernel != "bash" else "true")
    # When secrets are created, one too short to be redacted, and the server injects them
    # (IRkernel echoes the code of every request, silent ones too, and the code holds the
    # values in base64)
    short, long = "Ab1-x", new_value()
    await create_secret(api, "SHORT_ONE", short)
    await create_secret(api, "LONG_ONE", long)
    await until_held(api, client.kernel_id, "SHORT_ONE")
    await until_held(api, client.kernel_id, "LONG_ONE")
    await client.execute("1" if kernel != "bash" else "true")
    # Then the client received nothing about the server's requests: no echo of their code,
    # no status; and neither value, in any form
    about_injection = [
        r.msg["header"]["msg_type"]
        for r in client.received
        if r.msg["parent_header"].get("username") == "jupyterlab_secrets"
    ]
    assert about_injection == []
    assert not [
        r
        for r in client.received
        if r.msg["header"]["msg_type"] == "execute_input"
        and r.msg["parent_header"].get("session") != client.session
    ]
    for value in (short, long):
        encoded = base64.b64encode(value.encode()).decode().rstrip("=")
        assert not [r for r in client.received if encoded.encode() in r.raw]
    assert_never_received(client, long)
