"""Stop and resume within one process (no Redis), and the reply of an instance that died:
`POST /chat/{id}/stop`, `GET /chat/{id}/stream`, the resume grace, checkpoints.

Several instances sharing Redis are in test_production_replies.py.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fake_openai import Script
from test_chat import history, new_conversation, parse_events, send, text_of, upstream_env
from test_chat_lease import read_to_end, start_streaming

from promptkit.db import conversations, messages
from promptkit.db import replies as replies_db
from promptkit.db.engine import now
from promptkit.db.owners import Owner
from promptkit.db.tables import conversations as conversations_table

TOKENS = [f" w{i}" for i in range(40)]


@pytest.fixture
def fake(fake):
    fake.default = Script(tokens=TOKENS, delay=0.05)
    return fake


@pytest.fixture
def app_environ(fake):
    return upstream_env(fake)


@pytest.fixture
async def resumable(make_app, fake):
    """The test client of an app with PROMPTKIT_RESUMABLE on and a short grace."""
    app = make_app(environ=upstream_env(fake), resumable=True, resume_grace=0.6)
    async with app.test_app():
        yield app.test_client()


async def wait_for_status(client, headers, conversation, count=2, within=3.0):
    deadline = time.monotonic() + within
    while True:
        stored = await history(client, headers, conversation)
        if len(stored) >= count or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.02)


async def test_stop_closes_the_upstream_stores_partial_and_ends_the_stream(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    streaming = await start_streaming(client, alice, conversation)

    stopped = await client.post(f"/chat/{conversation}/stop", headers=alice)

    assert stopped.status_code == 200
    message = await stopped.get_json()
    assert message["status"] == "partial" and message["role"] == "assistant"
    await asyncio.wait_for(fake.last.closed_early.wait(), timeout=1)
    assert not fake.last.completed
    events = await read_to_end(streaming)
    assert [e["type"] for e in events[-4:-1]] == ["text-end", "message-metadata", "finish"]
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]"
    assert text_of(events) == message["content"]
    assert "".join(TOKENS).startswith(message["content"]) and message["content"]
    assert (await history(client, alice, conversation))[1] == message
    # Stopped and stored: the conversation takes the next message at once.
    fake.default = Script(reply="next")
    response, after = await send(client, alice, {"conversation_id": conversation, "message": "2"})
    assert response.status_code == 200 and text_of(after) == "next"


async def test_stop_with_nothing_in_flight_is_204_and_another_users_is_404(client, auth):
    alice, bob = auth("alice"), auth("bob")
    conversation = await new_conversation(client, alice)

    assert (await client.post(f"/chat/{conversation}/stop", headers=alice)).status_code == 204
    for path in (f"/chat/{conversation}/stop", f"/chat/{conversation}/stream"):
        method = client.post if path.endswith("stop") else client.get
        response = await method(path, headers=bob)
        assert response.status_code == 404
        assert (await response.get_json())["error"]["code"] == "not_found"
    assert (await client.post("/chat/cnv_nope/stop", headers=alice)).status_code == 404
    assert (await client.get(f"/chat/{conversation}/stream", headers=alice)).status_code == 204


async def test_another_user_cannot_stop_a_reply_in_flight(client, auth, fake):
    alice, bob = auth("alice"), auth("bob")
    conversation = await new_conversation(client, alice)
    streaming = await start_streaming(client, alice, conversation)

    assert (await client.post(f"/chat/{conversation}/stop", headers=bob)).status_code == 404

    events = await read_to_end(streaming)
    assert text_of(events) == "".join(TOKENS)
    assert (await history(client, alice, conversation))[1]["status"] == "complete"


async def test_resumable_off_has_nothing_to_resume_while_streaming(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    streaming = await start_streaming(client, alice, conversation)

    assert (await client.get(f"/chat/{conversation}/stream", headers=alice)).status_code == 204
    assert text_of(await read_to_end(streaming)) == "".join(TOKENS)


async def test_a_resumable_reply_goes_on_without_its_client_and_replays(resumable, auth, fake):
    client = resumable
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    connection, seen = await start_streaming(client, alice, conversation)
    await connection.disconnect()
    await connection.__aexit__(None, None, None)

    resumed = await client.get(f"/chat/{conversation}/stream", headers=alice)

    assert resumed.status_code == 200
    assert resumed.headers["x-vercel-ai-ui-message-stream"] == "v1"
    events = [e for e in parse_events(await resumed.get_data()) if e != ": ping"]
    assert events[0]["type"] == "start"
    assert seen.startswith(b'data: {"type":"start"')
    assert events[0] == parse_events(seen)[0]  # the same reply, from its start
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]"
    assert events[-2] == {"type": "finish", "finishReason": "stop"}
    assert fake.last.completed  # the disconnect did not stop it
    stored = await history(client, alice, conversation)
    assert stored[1]["status"] == "complete"
    assert text_of(events) == stored[1]["content"] == "".join(TOKENS)
    # Once stored, nothing is in flight.
    assert (await client.get(f"/chat/{conversation}/stream", headers=alice)).status_code == 204


async def test_several_clients_follow_one_resumable_reply(resumable, auth, fake):
    client = resumable
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    first = await start_streaming(client, alice, conversation)

    others = await asyncio.gather(
        *(client.get(f"/chat/{conversation}/stream", headers=alice) for _ in range(3))
    )
    original = await read_to_end(first)

    for other in others:
        assert other.status_code == 200
        assert parse_events(await other.get_data()) == original
    assert len(fake.received) == 1


async def test_a_resumable_reply_nobody_follows_is_stopped_after_the_grace(resumable, auth, fake):
    client = resumable
    alice = auth("alice")
    fake.default = Script(tokens=TOKENS * 5, delay=0.05)  # 10 s: far longer than the grace
    conversation = await new_conversation(client, alice)
    connection, _ = await start_streaming(client, alice, conversation)
    await connection.disconnect()
    await connection.__aexit__(None, None, None)
    left = time.monotonic()

    await asyncio.wait_for(fake.last.closed_early.wait(), timeout=5)

    assert 0.5 < time.monotonic() - left < 4
    stored = await wait_for_status(client, alice, conversation)
    assert stored[1]["status"] == "partial"
    assert "".join(TOKENS * 5).startswith(stored[1]["content"])


async def test_stop_ends_every_client_of_a_resumable_reply(resumable, auth, fake):
    client = resumable
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    first = await start_streaming(client, alice, conversation)
    follower = asyncio.ensure_future(client.get(f"/chat/{conversation}/stream", headers=alice))
    await asyncio.sleep(0.1)

    stopped = await client.post(f"/chat/{conversation}/stop", headers=alice)

    assert stopped.status_code == 200
    message = await stopped.get_json()
    assert message["status"] == "partial"
    await asyncio.wait_for(fake.last.closed_early.wait(), timeout=1)
    for events in (await read_to_end(first), parse_events(await (await follower).get_data())):
        assert events[-2] == {"type": "finish", "finishReason": "stop"}
        assert events.count("[DONE]") == 1
        assert text_of(events) == message["content"]


async def _checkpoint_then_die(app, conversation: str, owner: Owner, content: str) -> None:
    """What a dead instance leaves: a lease with a checkpoint, expired, its reply unstored."""
    taken = await conversations.take_stream_lease(
        app.db, owner, conversation, "msg_dead", 60, "dead-instance"
    )
    assert taken is not None
    saved = {"content": content, "model": "gpt-dead", "prompt": None, "replaces": []}
    assert await replies_db.checkpoint(app.db, conversation, "msg_dead", 60, saved)
    await app.db.execute(
        sa.update(conversations_table)
        .where(conversations_table.c.id == conversation)
        .values(stream_lease_expires_at=now() - timedelta(seconds=1))
    )


async def _owner(app, conversation: str) -> Owner:
    row = await app.db.fetch_one(
        sa.select(conversations_table.c.owner_id).where(conversations_table.c.id == conversation)
    )
    assert row is not None
    return Owner(str(row["owner_id"]))


async def test_the_next_chat_stores_a_dead_instances_reply_from_its_checkpoint(
    app, client, auth, fake
):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    owner = await _owner(app, conversation)
    # Alive, the reply keeps the conversation busy.
    assert await conversations.take_stream_lease(app.db, owner, conversation, "msg_dead", 60)
    response, _ = await send(client, alice, {"conversation_id": conversation, "message": "x"})
    assert response.status_code == 409
    await conversations.release_stream_lease(app.db, conversation, "msg_dead")
    await messages.insert(
        app.db, owner, conversation, role="user", content="1", status="complete", parent_id=None
    )
    await _checkpoint_then_die(app, conversation, owner, "half a repl")

    fake.default = Script(reply="fresh")
    response, events = await send(client, alice, {"conversation_id": conversation, "message": "2"})

    assert response.status_code == 200 and text_of(events) == "fresh"
    stored = await history(client, alice, conversation)
    assert [(m["role"], m["status"], m["content"]) for m in stored] == [
        ("user", "complete", "1"),
        ("assistant", "partial", "half a repl"),
        ("user", "complete", "2"),
        ("assistant", "complete", "fresh"),
    ]
    assert stored[1]["id"] == "msg_dead" and stored[1]["model"] == "gpt-dead"
    # The history sent upstream includes the settled reply.
    assert {"role": "assistant", "content": "half a repl"} in fake.last.body["messages"]


async def test_stop_and_resume_settle_a_dead_instances_reply(app, client, auth):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    owner = await _owner(app, conversation)
    await _checkpoint_then_die(app, conversation, owner, "cut")

    stopped = await client.post(f"/chat/{conversation}/stop", headers=alice)

    assert stopped.status_code == 200
    assert {k: v for k, v in (await stopped.get_json()).items() if k in ("id", "status")} == {
        "id": "msg_dead",
        "status": "partial",
    }
    # Settled once: nothing is in flight any more.
    assert (await client.post(f"/chat/{conversation}/stop", headers=alice)).status_code == 204
    assert len(await history(client, alice, conversation)) == 1


async def test_the_sweep_settles_a_dead_instances_reply(make_app, auth, fake):
    app = make_app(environ=upstream_env(fake), stream_lease_seconds=0.4)
    async with app.test_app():
        client = app.test_client()
        alice = auth("alice")
        conversation = await new_conversation(client, alice)
        await _checkpoint_then_die(app, conversation, await _owner(app, conversation), "swept")

        stored = await wait_for_status(client, alice, conversation, count=1)

    assert [(m["id"], m["status"], m["content"]) for m in stored] == [
        ("msg_dead", "partial", "swept")
    ]


async def test_a_long_reply_is_checkpointed_while_it_streams(make_app, auth, fake, monkeypatch):
    from promptkit.chat import recorder

    monkeypatch.setattr(recorder, "CHECKPOINT_SECONDS", 0.1)
    app = make_app(environ=upstream_env(fake))
    async with app.test_app():
        client = app.test_client()
        alice = auth("alice")
        conversation = await new_conversation(client, alice)
        streaming = await start_streaming(client, alice, conversation)
        await asyncio.sleep(0.5)
        state = await replies_db.in_flight(app.db, await _owner(app, conversation), conversation)
        events = await read_to_end(streaming)

    assert state is not None and state.checkpoint is not None
    assert state.holder == app.replies.instance
    assert 0 < len(state.checkpoint["content"]) < len(text_of(events))
    assert text_of(events).startswith(state.checkpoint["content"])


def test_resumable_is_a_switch():
    from promptkit.settings import Settings

    assert Settings.from_env({}).resumable is False
    assert Settings.from_env({"PROMPTKIT_RESUMABLE": "on"}).resumable is True
    assert Settings.from_env({"PROMPTKIT_RESUME_GRACE": "5"}).resume_grace == 5.0
    with pytest.raises(ValueError, match="PROMPTKIT_RESUMABLE"):
        Settings.from_env({"PROMPTKIT_RESUMABLE": "maybe"})
