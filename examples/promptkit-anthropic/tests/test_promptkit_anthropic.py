"""The plugin on promptkit.testing's app, as its author tests it: a tool round trip through a
whole chat, the real `anthropic` SDK talking over HTTP to a small scripted Messages API (the
fuller fake and the other cases are in promptkit's tests/test_anthropic*.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic  # noqa: F401 (imported before the app starts: a big import on a busy machine)
import pytest
from aiohttp import web
from pydantic import BaseModel

from promptkit import Tool, hookimpl
from promptkit.testing import chat, text_of
from promptkit.testing.local_server import LocalServer

# Each answer: the content blocks of one streamed message, and its stop reason.
ANSWERS = [
    (
        [
            {"type": "thinking", "thinking": "A sum."},
            {"type": "tool_use", "id": "toolu_1", "name": "add", "json": ['{"a": 2,', ' "b": 3}']},
        ],
        "tool_use",
    ),
    ([{"type": "text", "text": "It is 5."}], "end_turn"),
]


class Messages:
    """`POST /v1/messages`: streams the next answer, and keeps each request's body."""

    def __init__(self) -> None:
        self.url = ""
        self.answers = list(ANSWERS)
        self.requests: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        blocks, stop_reason = self.answers.pop(0)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(kind: str, **data: Any) -> None:
            await response.write(
                f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()
            )

        usage = {"input_tokens": 5, "output_tokens": 1}
        message = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.requests[-1]["model"],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        await send("message_start", message=message)
        for index, block in enumerate(blocks):
            if block["type"] == "tool_use":
                start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": p} for p in block["json"]]
            elif block["type"] == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": block["thinking"]}]
            else:
                start = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": block["text"]}]
            await send("content_block_start", index=index, content_block=start)
            for delta in deltas:
                await send("content_block_delta", index=index, delta=delta)
            await send("content_block_stop", index=index)
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        await send("message_delta", delta=delta, usage={"output_tokens": 3})
        await send("message_stop")
        return response


@pytest.fixture
async def messages() -> AsyncIterator[Messages]:
    fake = Messages()
    server = web.Application()
    server.router.add_post("/v1/messages", fake.handle)
    local = LocalServer(server)
    fake.url = f"http://127.0.0.1:{await local.start()}"
    yield fake
    await local.close()


@pytest.fixture
def promptkit_environ(messages: Messages) -> dict[str, str]:
    return {
        "ANTHROPIC_API_KEY": "sk-ant-test",
        "ANTHROPIC_BASE_URL": messages.url,
        "PROMPTKIT_ANTHROPIC_MODELS": "claude-test-1",
    }


class Pair(BaseModel):
    a: int
    b: int


class AddTool:
    @hookimpl
    def register_tools(self, register: Any) -> None:
        async def add(pair: Pair, context: Any) -> dict[str, int]:
            return {"sum": pair.a + pair.b}

        register(Tool("add", "Add two integers.", Pair, add))


@pytest.fixture
def promptkit_plugins() -> list[object]:
    return [AddTool()]


async def test_a_tool_call_round_trip(promptkit_client, promptkit_token, messages):
    alice = promptkit_token("alice")
    project = await (
        await promptkit_client.post("/projects", json={"name": "P"}, headers=alice)
    ).get_json()
    response = await promptkit_client.patch(
        f"/projects/{project['id']}", json={"tools": ["add"]}, headers=alice
    )
    assert response.status_code == 200
    conversation = await promptkit_client.post(
        f"/projects/{project['id']}/conversations", json={}, headers=alice
    )
    parts = await chat(
        promptkit_client,
        alice,
        "2 + 3?",
        model="claude-test-1",
        conversation_id=(await conversation.get_json())["id"],
    )
    kinds = [part["type"] for part in parts]
    assert "reasoning-delta" in kinds
    (called,) = [part for part in parts if part["type"] == "tool-input-available"]
    assert called["toolName"] == "add" and called["input"] == {"a": 2, "b": 3}
    (output,) = [part for part in parts if part["type"] == "tool-output-available"]
    assert output["output"] == {"sum": 5}
    assert text_of(parts) == "It is 5."
    first, second = messages.requests
    assert [tool["name"] for tool in first["tools"]] == ["add"]
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 2, "b": 3}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"sum":5}'}],
        },
    ]
