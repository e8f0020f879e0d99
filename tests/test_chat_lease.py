"""One stream per conversation, held by a lease in the database: 409 while a reply streams,
also from another app on the same database (another worker), free once `[DONE]` is read, and
a crashed holder's lease expires."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa
from fake_openai import Script
from test_chat import new_conversation, parse_events, send, text_of, upstream_env

from promptkit.chat import turn as chat_module
from promptkit.db import conversations
from promptkit.db.owners import Owner
from promptkit.db.tables import conversations as table


@pytest.fixture
def app_environ(fake):
    return upstream_env(fake)


async def start_streaming(client, headers, conversation: str):
    """Open a /chat request and read until the first delta: the reply is now streaming."""
    headers = {**headers, "Content-Type": "application/json"}
    connection = client.request("/chat", method="POST", headers=headers)
    await connection.__aenter__()
    await connection.send(json.dumps({"conversation_id": conversation, "message": "hi"}).encode())
    await connection.send_complete()
    received = b""
    while b"text-delta" not in received:
        received += await asyncio.wait_for(connection.receive(), timeout=5)
    return connection, received


async def read_to_end(streaming) -> list:
    connection, body = streaming
    while b"[DONE]" not in body:
        body += await asyncio.wait_for(connection.receive(), timeout=5)
    await connection.__aexit__(None, None, None)
    return parse_events(body)


async def test_second_chat_while_streaming_is_409_and_free_after_done(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["a", "b", "c"], delay=0.2)
    first = await start_streaming(client, alice, conversation)

    busy = await client.post(
        "/chat", json={"conversation_id": conversation, "message": "me too"}, headers=alice
    )
    assert busy.status_code == 409
    assert (await busy.get_json())["error"]["code"] == "conflict"
    assert len(fake.received) == 1  # the refused request never reached the provider

    assert text_of(await read_to_end(first)) == "abc"
    # The moment [DONE] has been read, the conversation is free: never a 409 here.
    fake.default = Script(reply="next")
    response, events = await send(client, alice, {"conversation_id": conversation, "message": "2"})
    assert response.status_code == 200
    assert text_of(events) == "next"


async def test_other_conversations_are_not_blocked(client, auth, fake):
    alice = auth("alice")
    busy, other = await new_conversation(client, alice), await new_conversation(client, alice)
    fake.queue(Script(tokens=["a", "b"], delay=0.2))
    first = await start_streaming(client, alice, busy)
    response, _ = await send(client, alice, {"conversation_id": other, "message": "hi"})
    assert response.status_code == 200
    await read_to_end(first)


async def test_another_worker_on_the_same_database_gets_409(make_app, app, client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["a", "b", "c"], delay=0.2)
    first = await start_streaming(client, alice, conversation)

    other_worker = make_app(environ=upstream_env(fake))  # shares nothing but the database
    async with other_worker.test_app():
        response = await other_worker.test_client().post(
            "/chat", json={"conversation_id": conversation, "message": "hi"}, headers=alice
        )
    assert response.status_code == 409
    await read_to_end(first)


async def test_racing_requests_get_exactly_one_stream(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["a", "b"], delay=0.1)
    body = {"conversation_id": conversation, "message": "hi"}
    responses = await asyncio.gather(
        *(client.post("/chat", json=body, headers=alice) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    assert len(fake.received) == 1


async def test_a_crashed_streams_lease_expires(app, client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    user_id = await _user_id(app, conversation)

    # A process took the lease and died without releasing it.
    assert await conversations.take_stream_lease(
        app.db, Owner(user_id), conversation, "lease_dead", 60
    )
    response, _ = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert response.status_code == 409

    # Its lease runs out: the conversation is usable again without anyone cleaning up.
    await conversations.release_stream_lease(app.db, conversation, "lease_dead")
    assert await conversations.take_stream_lease(
        app.db, Owner(user_id), conversation, "lease_dead", 0.05
    )
    await asyncio.sleep(0.1)
    response, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert response.status_code == 200
    assert events[-1] == "[DONE]"


async def test_a_long_stream_renews_its_lease(app, client, auth, fake, monkeypatch):
    monkeypatch.setattr(chat_module, "LEASE_SECONDS", 0.3)
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["a", "b", "c", "d"], delay=0.25)  # 1 s: three lease lifetimes
    first = await start_streaming(client, alice, conversation)
    await asyncio.sleep(0.6)
    response = await client.post(
        "/chat", json={"conversation_id": conversation, "message": "hi"}, headers=alice
    )
    assert response.status_code == 409
    assert text_of(await read_to_end(first)) == "abcd"


async def _user_id(app, conversation_id: str) -> str:
    row = await app.db.fetch_one(sa.select(table.c.owner_id).where(table.c.id == conversation_id))
    return row["owner_id"]


async def test_a_history_read_that_raced_the_previous_reply_is_read_again(
    client, auth, fake, monkeypatch
):
    """The history is read beside the lease. When a reply was stored between that read and the
    lease (its stream ended just then), the lease says so and the history is read again; when
    none was, it is read once."""
    real_recent = chat_module.messages.recent
    reads: list[int] = []
    missing_newest = False

    async def recent(db, owner_id, conversation_id, *, limit, end=None):
        nonlocal missing_newest
        rows = await real_recent(db, owner_id, conversation_id, limit=limit, end=end)
        reads.append(len(rows))
        if missing_newest:  # this read ran before the newest reply landed
            missing_newest = False
            return rows[1:]
        return rows

    monkeypatch.setattr(chat_module.messages, "recent", recent)
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(reply="first answer")
    response, _ = await send(client, alice, {"conversation_id": conversation, "message": "q1"})
    assert response.status_code == 200
    assert reads == [0]

    missing_newest = True
    fake.default = Script(reply="second answer")
    response, events = await send(client, alice, {"conversation_id": conversation, "message": "q2"})
    assert text_of(events) == "second answer"
    assert reads == [0, 2, 2]
    sent = [(m["role"], m["content"]) for m in fake.last.body["messages"]]
    assert sent == [("user", "q1"), ("assistant", "first answer"), ("user", "q2")]

    response, _ = await send(client, alice, {"conversation_id": conversation, "message": "q3"})
    assert response.status_code == 200
    assert reads == [0, 2, 2, 4]  # no race: one read


async def test_a_stored_reply_ends_its_lease_without_a_release(client, auth, fake, monkeypatch):
    """The lease is named after the reply it streams: storing the reply frees the conversation.
    Only a stream that stores nothing releases its lease with a statement of its own."""
    real_release = conversations.release_stream_lease
    releases: list[str] = []

    async def release(db, conversation_id, lease):
        releases.append(lease)
        await real_release(db, conversation_id, lease)

    monkeypatch.setattr(conversations, "release_stream_lease", release)
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    response, _ = await send(client, alice, {"conversation_id": conversation, "message": "q1"})
    assert response.status_code == 200
    assert releases == []

    fake.default = Script(status=400)  # refused before any token: nothing to store
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "q2"})
    assert events[-2]["type"] == "error"
    assert len(releases) == 1

    fake.default = Script(reply="fine")
    for question in ("q3", "q4"):  # free after the stored reply and after the release alike
        _, events = await send(
            client, alice, {"conversation_id": conversation, "message": question}
        )
        assert text_of(events) == "fine"
    assert len(releases) == 1
