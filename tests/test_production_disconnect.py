"""A client that leaves before reading a byte of the reply, over a raw socket against a real
`promptkit serve` process whose provider is the fake OpenAI server: the upstream request is
closed at once (or never made) and nothing is stored as `complete`.

On Python 3.11 the case of a client that closes right after sending its request went unnoticed:
Quart's `asyncio.wait_for` on the request body swallowed the cancellation of the view (see
`routes.request_class`), so the whole reply streamed to nobody and was stored `complete`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx
import pytest
from fake_openai import Script
from test_production_support import Server, StartServer

TOKENS = [f" w{i}" for i in range(100)]  # 5 s at 0.05 s a chunk


@pytest.fixture
def fake(fake):
    fake.default = Script(tokens=TOKENS, delay=0.05)
    return fake


@pytest.fixture
def server(start_server: StartServer, fake) -> Server:
    return start_server(
        PROMPTKIT_DISABLED_PLUGINS="clerk",  # the OpenAI plugin serves every model
        PROMPTKIT_MODEL="gpt-test",
        # Declared, not listed: the fake runs in this process, which waits for the server.
        PROMPTKIT_OPENAI_MODELS="gpt-test",
        OPENAI_BASE_URL=fake.base_url,
        OPENAI_API_KEY="sk-test",
    )


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer test:leaver-{secrets.token_hex(6)}"}


async def new_conversation(server: Server, auth: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=server.url, headers=auth, timeout=30) as client:
        project = (await client.post("/projects", json={"name": "P"})).json()["id"]
        response = await client.post(f"/projects/{project}/conversations", json={})
        conversation: str = response.json()["id"]
    return conversation


async def send_raw(server: Server, auth: dict[str, str], conversation: str) -> Any:
    """Write a `POST /chat` on a socket of its own; the writer, nothing read."""
    body = json.dumps({"conversation_id": conversation, "message": "hi"}).encode()
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = (
        "POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    return writer


async def leave(writer: Any, how: str) -> None:
    if how == "close":
        writer.close()
    else:  # half-close: nothing more will be sent, as `shutdown(SHUT_WR)`
        writer.write_eof()


async def stored(server: Server, auth: dict[str, str], conversation: str) -> list[Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(
            f"{server.url}/conversations/{conversation}/messages", headers=auth
        )
    assert response.status_code == 200
    data: list[Any] = response.json()["data"]
    return data


async def chat_again(server: Server, auth: dict[str, str], conversation: str) -> int:
    """The status of a new `/chat` on the conversation (its reply read to the end)."""
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{server.url}/chat",
            json={"conversation_id": conversation, "message": "again"},
            headers=auth,
        )
    return response.status_code


@pytest.mark.parametrize("how", ["close", "half-close"])
async def test_a_client_that_leaves_right_after_its_request_is_noticed(server, fake, how):
    auth = headers()
    conversation = await new_conversation(server, auth)
    # Only the later chats are answered at once: the left request keeps the slow default even
    # when, on a loaded machine, it reaches the fake after this test has moved on.
    fake.by_message["again"] = Script(reply="later")
    writer = await send_raw(server, auth, conversation)
    await leave(writer, how)

    # The conversation is free at once: the reply that nobody reads is not streaming (it would
    # hold the conversation for the 5 s the upstream takes, answering 409).
    deadline = time.monotonic() + 2
    while (status := await chat_again(server, auth, conversation)) == 409:
        assert time.monotonic() < deadline, "the reply to nobody is still streaming"
        await asyncio.sleep(0.05)
    assert status == 200
    first = fake.received[0]
    if first.body["messages"][-1]["content"] == "hi":  # the left request reached the provider
        # Closed at once when it works; left open, it would complete at 5 s instead. The bound is
        # loose for a loaded machine, and still well inside those 5 s.
        await asyncio.wait_for(first.closed_early.wait(), timeout=4)
        assert not first.completed
    replies = [m for m in await stored(server, auth, conversation) if m["role"] == "assistant"]
    assert [m["content"] for m in replies if m["status"] == "complete"] == ["later"]
    writer.close()


@pytest.mark.parametrize("how", ["close", "half-close"])
async def test_a_client_that_leaves_before_reading_a_byte_stores_partial(server, fake, how):
    auth = headers()
    conversation = await new_conversation(server, auth)
    writer = await send_raw(server, auth, conversation)
    for _ in range(200):  # until the provider has streamed a few chunks, none of them read
        if fake.received and fake.last.chunks_sent >= 3:
            break
        await asyncio.sleep(0.01)
    await leave(writer, how)
    left_at = time.monotonic()

    await asyncio.wait_for(fake.last.closed_early.wait(), timeout=2)
    assert time.monotonic() - left_at < 2  # the upstream would take 5 s to finish
    assert not fake.last.completed
    deadline = time.monotonic() + 2
    while len(messages := await stored(server, auth, conversation)) < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    user, reply = messages
    assert (user["content"], reply["role"], reply["status"]) == ("hi", "assistant", "partial")
    assert reply["content"] and "".join(TOKENS).startswith(reply["content"])
    assert len(reply["content"]) < len("".join(TOKENS))
    writer.close()
