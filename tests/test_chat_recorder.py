"""Whatever ends a reply, it is stored exactly once: the observers hear of it once, the
conversation holds it once, under the id its `start` part announced, and the conversation is
free for the next message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fake_openai import Script
from test_chat import history, new_conversation, parse_events, upstream_env

from promptkit import graceful, hookimpl

TOKENS = [f" w{i}" for i in range(30)]


class Observer:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    @hookimpl
    def on_message_saved(self, message: dict[str, Any]) -> None:
        if message["role"] == "assistant":
            self.saved.append(message)


@pytest.fixture
def observer() -> Observer:
    return Observer()


@pytest.fixture
async def app(make_app, fake, observer):
    app = make_app(observer, environ=upstream_env(fake))
    async with app.test_app():
        yield app


async def read_until(connection: Any, body: bytes, marker: bytes) -> bytes:
    while marker not in body:
        body += await asyncio.wait_for(connection.receive(), timeout=5)
    return body


async def stored_reply(client: Any, alice: dict[str, str], conversation: str) -> list[Any]:
    for _ in range(250):
        replies = [m for m in await history(client, alice, conversation) if m["role"] != "user"]
        if replies:
            return replies
        await asyncio.sleep(0.02)
    return []


# How each ending is brought about once the reply has streamed its first delta; the status it
# is stored with; the last part the client reads before `[DONE]` (None: it left).
ENDINGS = {
    "finished": ("complete", "finish"),
    "provider error": ("error", "error"),
    "stopped": ("partial", "finish"),
    "client gone": ("partial", None),
    "shutdown": ("partial", "error"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
async def test_a_reply_is_stored_once_whatever_ends_it(app, client, auth, fake, observer, ending):
    status, last_part = ENDINGS[ending]
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(
        tokens=TOKENS,
        delay=0 if ending == "finished" else 0.05,
        error_after=3 if ending == "provider error" else None,
    )
    headers = {**alice, "Content-Type": "application/json"}
    body = json.dumps({"conversation_id": conversation, "message": "hi"}).encode()
    events: list[Any] = []
    async with client.request("/chat", method="POST", headers=headers) as connection:
        await connection.send(body)
        await connection.send_complete()
        received = await read_until(connection, b"", b'"text-delta"')
        if ending == "stopped":
            assert (await client.post(f"/chat/{conversation}/stop", headers=alice)).status_code
        elif ending == "shutdown":
            graceful.stop_streams_after(app, 0)
        if ending == "client gone":
            await connection.disconnect()
        else:
            events = parse_events(await read_until(connection, received, b"[DONE]"))
    started = parse_events(received)[0]

    replies = await stored_reply(client, alice, conversation)
    assert [(m["id"], m["status"]) for m in replies] == [(started["messageId"], status)]
    await asyncio.sleep(0.1)  # a second store, if there were one, would have told them by now
    assert [(m["id"], m["status"]) for m in observer.saved] == [(started["messageId"], status)]
    if last_part is not None:
        assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
        assert events[-2]["type"] == last_part
    if ending == "shutdown":
        return  # the app is stopping: it takes no new message
    fake.default = Script(tokens=["again"])
    follow_up = await client.post(
        "/chat", json={"conversation_id": conversation, "message": "next"}, headers=alice
    )
    assert follow_up.status_code == 200  # the lease was freed with the store
