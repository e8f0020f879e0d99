"""The real Vercel AI SDK reads a tool-calling reply: `readUIMessageStream` ends with the tool
part in state `output-available`, beside the text of the step after it."""

from __future__ import annotations

import aiohttp
from fake_openai import Script
from test_chat import upstream_env
from test_chat_disconnect import serving
from test_chat_node import run_node
from test_tools import Calls, ToolPlugin


async def test_the_ai_sdk_reads_a_tool_call_and_its_output(make_app, auth, fake):
    fake.queue(
        Script(tool_calls=[("add", '{"a": 20, "b": 22}')]),
        Script(tokens=["It is", " 42."]),
    )
    app = make_app(ToolPlugin(Calls()), environ=upstream_env(fake))
    alice = auth("alice")
    async with serving(app) as url, aiohttp.ClientSession(headers=alice) as http:
        async with http.post(f"{url}/projects", json={"name": "P"}) as response:
            project = await response.json()
        async with http.patch(f"{url}/projects/{project['id']}", json={"tools": ["add"]}):
            pass
        async with http.post(f"{url}/projects/{project['id']}/conversations", json={}) as response:
            conversation = (await response.json())["id"]

        result = await run_node(f"{url}/chat", alice["Authorization"], conversation, "20+22?")

        async with http.get(f"{url}/conversations/{conversation}/messages") as response:
            stored = (await response.json())["data"]

    assert result["errors"] == []
    parts = result["message"]["parts"]
    assert [part["type"] for part in parts] == ["step-start", "tool-add", "step-start", "text"]
    tool = parts[1]
    assert tool["state"] == "output-available"
    assert tool["toolCallId"] == "call_1_0"
    assert tool["input"] == {"a": 20, "b": 22}
    assert tool["output"] == {"sum": 42}
    assert parts[3]["text"] == "It is 42." and parts[3]["state"] == "done"
    # What the client built from the stream is what a reload gets from the database.
    assert [{k: v for k, v in p.items() if k != "state" or p["type"] != "text"} for p in parts] == [
        {k: v for k, v in p.items() if k != "state" or p["type"] != "text"}
        for p in stored[1]["parts"]
    ]
