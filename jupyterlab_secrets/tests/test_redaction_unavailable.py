"""A server whose kernel websockets the extension cannot redact does not promise it.

Such a server logs a warning at start (a gateway's connection class, say); its secrets'
Meta must then say that values are not hidden in outputs, whatever `redact_outputs` says.
"""

from __future__ import annotations

import pytest
from traitlets.config import Config

from .conftest import Api


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    """The test server, with a kernel websocket connection the extension cannot redact."""
    jp_server_config.ServerApp.kernel_websocket_connection_class = (
        "jupyter_server.gateway.connections.GatewayWebSocketConnection"
    )
    return jp_server_config


async def test_meta_says_values_are_not_hidden_where_outputs_cannot_be_redacted(
    api: Api,
) -> None:
    # Given a server that cannot redact, with redaction on in its settings
    # When a secret long enough to be redacted is created
    created = await api("POST", "secrets", body={"name": "api-key", "value": "long-enough-value"})
    assert created.status == 201, created.body

    # Then its Meta, on creation and in the listing, says it is not hidden in outputs
    assert created.body["hidden_in_outputs"] is False
    listed = await api("GET", "secrets")
    (meta,) = [m for m in listed.body["secrets"] if m["name"] == "api-key"]
    assert meta["hidden_in_outputs"] is False
