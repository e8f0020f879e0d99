"""MCP tools end to end, against a real MCP server made with the same SDK (tests/mcp_server.py),
over stdio and over streamable HTTP: listed by GET /tools, called through a chat (the offline
echo provider calls a tool on "/tool NAME {json}"), and reconnected after the server dies."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from promptkit_mcp import parse_servers
from quart.testing.app import TestApp

from promptkit.app import create_app
from promptkit.testing import chat, text_of

SERVER = Path(__file__).parent / "mcp_server.py"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_http_server(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the MCP test server did not start")


@pytest.fixture
async def promptkit_app(promptkit_settings, promptkit_plugins):
    # Start-up connects to the server, which imports the SDK first: on a busy machine that can
    # take longer than the test app's default 6 s.
    app = create_app(promptkit_settings, plugins=promptkit_plugins)
    async with TestApp(app, startup_timeout=60):
        yield app


@pytest.fixture(scope="module")
def http_port():
    return free_port()


@pytest.fixture
def http_server(http_port):
    process = start_http_server(http_port)
    yield process
    process.kill()
    process.wait()


@pytest.fixture(params=["stdio", "http"])
def promptkit_environ(request):
    if request.param == "stdio":
        how = f"{sys.executable} {SERVER} stdio"
    else:
        request.getfixturevalue("http_server")
        how = f"http://127.0.0.1:{request.getfixturevalue('http_port')}/mcp"
    return {"PROMPTKIT_MCP_SERVERS": f"demo={how}"}


async def enable(client, headers, tools):
    project = await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json()
    response = await client.patch(
        f"/projects/{project['id']}", json={"tools": tools}, headers=headers
    )
    assert response.status_code == 200, await response.get_data()
    conversation = await client.post(
        f"/projects/{project['id']}/conversations", json={}, headers=headers
    )
    return (await conversation.get_json())["id"]


def outputs(parts, kind):
    return [part for part in parts if part["type"] == kind]


async def test_the_servers_tools_are_listed_with_their_schemas(promptkit_client, promptkit_token):
    listed = await promptkit_client.get("/tools", headers=promptkit_token("alice"))
    tools = {tool["name"]: tool for tool in (await listed.get_json())["data"]}
    assert {"demo_shout", "demo_refuse", "demo_crash"} <= set(tools)
    assert tools["demo_shout"]["description"] == "Upper-case a text."
    schema = tools["demo_shout"]["input_schema"]
    assert schema["properties"]["text"]["type"] == "string" and schema["required"] == ["text"]


async def test_a_call_goes_to_the_server_and_its_error_comes_back(
    promptkit_client, promptkit_token
):
    alice = promptkit_token("alice")
    conversation = await enable(promptkit_client, alice, ["demo_shout", "demo_refuse"])
    parts = await chat(
        promptkit_client, alice, '/tool demo_shout {"text": "hi mcp"}', conversation_id=conversation
    )
    (output,) = outputs(parts, "tool-output-available")
    assert output["output"] == {"result": "HI MCP"}
    assert "HI MCP" in text_of(parts)
    parts = await chat(
        promptkit_client, alice, "/tool demo_refuse {}", conversation_id=conversation
    )
    (error,) = outputs(parts, "tool-output-error")
    assert "refused on purpose" in error["errorText"]
    # Arguments that miss the schema never reach the server.
    parts = await chat(promptkit_client, alice, "/tool demo_shout {}", conversation_id=conversation)
    assert "'text' is a required property" in outputs(parts, "tool-input-error")[0]["errorText"]


async def test_a_server_that_dies_is_reconnected(
    promptkit_client, promptkit_token, promptkit_environ, http_port, request
):
    alice = promptkit_token("alice")
    conversation = await enable(promptkit_client, alice, ["demo_shout", "demo_crash"])
    parts = await chat(promptkit_client, alice, "/tool demo_crash {}", conversation_id=conversation)
    assert outputs(parts, "tool-output-error")  # the server died mid-call
    if "http" in promptkit_environ["PROMPTKIT_MCP_SERVERS"]:
        request.getfixturevalue("http_server").wait()
        restarted = start_http_server(http_port)
        request.addfinalizer(restarted.kill)
    parts = await chat(
        promptkit_client, alice, '/tool demo_shout {"text": "back"}', conversation_id=conversation
    )
    assert outputs(parts, "tool-output-available")[0]["output"] == {"result": "BACK"}


def test_the_setting_is_parsed_and_checked():
    assert parse_servers("a=python -m x; b=http://127.0.0.1:1/mcp") == {
        "a": "python -m x",
        "b": "http://127.0.0.1:1/mcp",
    }
    assert parse_servers("") == {}
    for bad in ("nameonly", "=cmd", "a b=cmd", "a=x;a=y"):
        with pytest.raises(ValueError, match="PROMPTKIT_MCP_SERVERS"):
            parse_servers(bad)
