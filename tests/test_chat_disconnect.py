"""A client that goes away mid-reply: the upstream stream is closed at once, what was produced
is stored as `partial`, the conversation is freed; also through a real server and socket, and
across a graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
import sqlalchemy as sa
from fake_openai import Script
from hypercorn.asyncio import serve
from hypercorn.config import Config
from test_chat import history, new_conversation, send, text_of, upstream_env

from promptkit.chat import Ask, start_turn, stream_response
from promptkit.db import Database, tables
from promptkit.hooktypes import Principal

TOKENS = [f" w{i}" for i in range(40)]


@pytest.fixture
def fake(fake):
    fake.default = Script(tokens=TOKENS, delay=0.05)
    return fake


@pytest.fixture
def app_environ(fake):
    return upstream_env(fake)


@asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """Serve `app` with Hypercorn on a free local port, lifespan included; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = config.errorlog = None
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await server


def deltas_in(data: bytes) -> str:
    text = ""
    for block in data.decode().split("\n\n"):
        if block.startswith("data: {"):
            event = json.loads(block.removeprefix("data: "))
            if event["type"] == "text-delta":
                text += event["delta"]
    return text


async def test_disconnect_closes_upstream_and_stores_partial(app, client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    headers = {**alice, "Content-Type": "application/json"}
    async with client.request("/chat", method="POST", headers=headers) as connection:
        await connection.send(
            json.dumps({"conversation_id": conversation, "message": "hi"}).encode()
        )
        await connection.send_complete()
        seen = b""
        while deltas_in(seen).count(" w") < 3:
            seen += await asyncio.wait_for(connection.receive(), timeout=5)
        left_at = time.monotonic()
        await connection.disconnect()

    await asyncio.wait_for(fake.last.closed_early.wait(), timeout=1)
    assert time.monotonic() - left_at < 1
    assert not fake.last.completed
    stored = await history(client, alice, conversation)
    deadline = time.monotonic() + 1
    while len(stored) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        stored = await history(client, alice, conversation)
    reply = stored[1]
    assert reply["status"] == "partial"
    assert reply["content"].startswith(deltas_in(seen))
    assert "".join(TOKENS).startswith(reply["content"])
    assert len(reply["content"]) < len("".join(TOKENS))
    # The conversation is free again: the lease goes right after the reply is stored.
    fake.default = Script(reply="after")
    deadline = time.monotonic() + 1
    while True:
        response, events = await send(
            client, alice, {"conversation_id": conversation, "message": "2"}
        )
        if response.status_code != 409 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    assert text_of(events) == "after"


async def test_disconnect_over_a_real_socket(make_app, auth, fake):
    app = make_app(environ=upstream_env(fake))
    alice = auth("alice")
    async with serving(app) as url, aiohttp.ClientSession() as http:
        async with http.post(f"{url}/projects", json={"name": "P"}, headers=alice) as r:
            project = await r.json()
        async with http.post(
            f"{url}/projects/{project['id']}/conversations", json={}, headers=alice
        ) as r:
            conversation = (await r.json())["id"]
        body = {"conversation_id": conversation, "message": "hi"}
        async with http.post(f"{url}/chat", json=body, headers=alice) as response:
            assert response.status == 200
            seen = b""
            while deltas_in(seen).count(" w") < 3:
                seen += await response.content.readany()
            response.close()  # drop the connection, as a closed browser tab does
        await asyncio.wait_for(fake.last.closed_early.wait(), timeout=1)

        deadline = time.monotonic() + 1
        stored: list = []
        while len(stored) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            async with http.get(f"{url}/conversations/{conversation}/messages", headers=alice) as r:
                stored = (await r.json())["data"]
        assert stored[1]["status"] == "partial"
        assert stored[1]["content"].startswith(deltas_in(seen))
        assert not fake.last.completed


async def test_graceful_shutdown_waits_for_the_partial_reply(make_app, auth, fake, settings):
    app = make_app(environ=upstream_env(fake))
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        conversation = await new_conversation(client, alice)
        headers = {**alice, "Content-Type": "application/json"}
        connection = client.request("/chat", method="POST", headers=headers)
        await connection.__aenter__()
        await connection.send(
            json.dumps({"conversation_id": conversation, "message": "hi"}).encode()
        )
        await connection.send_complete()
        seen = b""
        while not deltas_in(seen):
            seen += await asyncio.wait_for(connection.receive(), timeout=5)
        await connection.disconnect()
        await connection.__aexit__(None, None, None)
        # Leave at once: shutdown must wait for the reply to be stored.

    db = Database(settings.database_url)
    await db.connect()
    try:
        rows = await db.fetch_all(sa.select(tables.messages.c.role, tables.messages.c.status))
    finally:
        await db.disconnect()
    assert sorted((row["role"], row["status"]) for row in rows) == [
        ("assistant", "partial"),
        ("user", "complete"),
    ]


async def test_a_response_dropped_before_its_body_frees_the_conversation(app, client, auth, fake):
    """The client left after the reply was set up but before Quart began its body, so Quart
    drops the response unread: the provider's request is still closed and the lease freed."""
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    async with app.app_context():
        turn = await start_turn(app, Principal(user_id="alice"), Ask(conversation, "hi"))
        response = await stream_response(turn)
        for _ in range(500):  # until the provider's request is under way
            if fake.received:
                break
            await asyncio.sleep(0.01)
        assert fake.received
        del response, turn
        gc.collect()  # what happens to the response once Quart lets go of it

    await asyncio.wait_for(fake.last.closed_early.wait(), timeout=2)
    assert not fake.last.completed
    fake.default = Script(reply="after")
    deadline = time.monotonic() + 2
    while True:  # the lease goes once the provider has closed; no 30 s expiry wait
        answer, events = await send(
            client, alice, {"conversation_id": conversation, "message": "2"}
        )
        if answer.status_code != 409 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    assert answer.status_code == 200
    assert text_of(events) == "after"
