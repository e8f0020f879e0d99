"""The Anthropic provider's own tests, on promptkit.testing's fixtures: an app with this plugin
installed, pointed at a small Anthropic-compatible server that the tests start (the real
`anthropic` SDK talks to it over HTTP), a signed-in user, and the UI message stream read back.
promptkit's own suite tests the provider further (errors, cancellation, tool calls)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

from promptkit.testing import chat, text_of
from promptkit.testing.local_server import LocalServer

API_KEY = "sk-ant-example-test"


class FakeAnthropic:
    """`GET /v1/models` and a streamed `POST /v1/messages`, as the Messages API answers."""

    def __init__(self) -> None:
        self.words = ["Hello", " from", " Claude."]
        self.requests: list[dict[str, Any]] = []
        self.url = ""

    async def models(self, request: web.Request) -> web.Response:
        data = [
            {
                "type": "model",
                "id": model,
                "display_name": model,
                "created_at": "2025-01-01T00:00:00Z",
            }
            for model in ("claude-test-1", "not-claude")
        ]
        return web.json_response(
            {"data": data, "has_more": False, "first_id": None, "last_id": None}
        )

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)

        async def send(event: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        message = {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }  # fmt: skip
        await send("message_start", {"type": "message_start", "message": message})
        block = {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "text", "text": ""},
        }
        await send("content_block_start", block)
        for word in self.words:
            delta = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": word},
            }
            await send("content_block_delta", delta)
        await send("content_block_stop", {"type": "content_block_stop", "index": 0})
        end = {"stop_reason": "end_turn", "stop_sequence": None}
        await send(
            "message_delta", {"type": "message_delta", "delta": end, "usage": {"output_tokens": 3}}
        )
        await send("message_stop", {"type": "message_stop"})
        return response


@pytest.fixture
async def fake_anthropic():
    fake = FakeAnthropic()
    server = web.Application()
    server.router.add_get("/v1/models", fake.models)
    server.router.add_post("/v1/messages", fake.messages)
    local = LocalServer(server)
    fake.url = f"http://127.0.0.1:{await local.start()}"
    yield fake
    await local.close()


@pytest.fixture
def promptkit_environ(fake_anthropic):
    return {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": fake_anthropic.url}


async def test_a_claude_model_is_registered_from_the_listing(promptkit_client, promptkit_token):
    response = await promptkit_client.get("/models", headers=promptkit_token("alice"))
    assert response.status_code == 200
    ids = {model["id"] for model in (await response.get_json())["data"]}
    assert "claude-test-1" in ids and "not-claude" not in ids


async def test_a_chat_streams_from_the_messages_api(
    promptkit_client, promptkit_token, fake_anthropic
):
    parts = await chat(
        promptkit_client, promptkit_token("alice"), "Hi there", model="claude-test-1"
    )
    assert text_of(parts) == "Hello from Claude."
    assert parts[-1]["type"] == "finish"
    sent = fake_anthropic.requests[-1]
    assert sent["model"] == "claude-test-1" and sent["stream"] is True
    assert sent["messages"][-1] == {"role": "user", "content": "Hi there"}
