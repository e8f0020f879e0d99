"""Edits and regenerations are branches of the conversation: nothing a user wrote is destroyed.

Through the real `openai` SDK against the fake upstream, whose log shows the exact history sent.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fake_openai import Script
from test_chat import history, new_conversation, send, text_of, upstream_env
from test_chat_lease import read_to_end, start_streaming

from promptkit.db import conversations as conversations_db
from promptkit.db import replies as replies_db
from promptkit.db.engine import now, sync_url
from promptkit.db.owners import Owner
from promptkit.db.tables import conversations as conversations_table
from promptkit.db.tables import messages as messages_table


@pytest.fixture
def app_environ(fake):
    return upstream_env(fake)


def sent(fake) -> list[tuple[str, str]]:
    """The history of the last upstream request, as (role, content)."""
    return [(m["role"], m["content"]) for m in fake.last.body["messages"]]


def shown(messages: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    return [(m["role"], m["content"], m["branch"]["index"], m["branch"]["count"]) for m in messages]


async def tree(client, headers, conversation: str, limit: int = 100) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/conversations/{conversation}/tree{query}", headers=headers)
        assert response.status_code == 200
        page = await response.get_json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def two_turns(client, fake, headers) -> tuple[str, list[dict[str, Any]]]:
    """A conversation q1, a1, q2, a2."""
    conversation = await new_conversation(client, headers)
    fake.queue(Script(reply="a1"), Script(reply="a2"))
    await send(client, headers, {"conversation_id": conversation, "message": "q1"})
    await send(client, headers, {"conversation_id": conversation, "message": "q2"})
    return conversation, await history(client, headers, conversation)


async def switch(client, headers, conversation: str, message_id: str):
    return await client.post(
        f"/conversations/{conversation}/branch", json={"message_id": message_id}, headers=headers
    )


async def test_a_linear_conversation_is_one_chain_of_single_versions(client, auth, fake):
    alice = auth("alice")
    _, messages = await two_turns(client, fake, alice)
    assert shown(messages) == [
        ("user", "q1", 1, 1),
        ("assistant", "a1", 1, 1),
        ("user", "q2", 1, 1),
        ("assistant", "a2", 1, 1),
    ]
    assert [m["parent_id"] for m in messages] == [None, *(m["id"] for m in messages[:-1])]
    assert sent(fake) == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]


@pytest.mark.parametrize("shape", ["simple", "use_chat"])
async def test_an_edit_answers_from_its_own_branch_and_keeps_the_old_one(client, auth, fake, shape):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    q2 = before[2]["id"]
    fake.default = Script(reply="a2 edited")
    if shape == "simple":
        body: dict[str, Any] = {"conversation_id": conversation, "message": "Q2", "edit_of": q2}
    else:  # useChat's `sendMessage({text, messageId})`
        edited = {"id": q2, "role": "user", "parts": [{"type": "text", "text": "Q2"}]}
        body = {"id": conversation, "messages": [edited], "trigger": "submit-message"}
        body["messageId"] = q2

    response, events = await send(client, alice, body)

    assert response.status_code == 200 and text_of(events) == "a2 edited"
    # Answered from its branch only: the old q2 and a2 were not sent.
    assert sent(fake) == [("user", "q1"), ("assistant", "a1"), ("user", "Q2")]
    after = await history(client, alice, conversation)
    assert shown(after) == [
        ("user", "q1", 1, 1),
        ("assistant", "a1", 1, 1),
        ("user", "Q2", 2, 2),
        ("assistant", "a2 edited", 1, 1),
    ]
    assert after[2]["parent_id"] == before[1]["id"]
    assert events[-3]["messageMetadata"]["user_message_id"] == after[2]["id"]
    # Nothing was destroyed: the tree holds both versions, oldest first, with their parents.
    everything = await tree(client, alice, conversation)
    assert [m["content"] for m in everything] == ["q1", "a1", "q2", "a2", "Q2", "a2 edited"]
    parents = {m["content"]: m["parent_id"] for m in everything}
    ids = {m["content"]: m["id"] for m in everything}
    assert parents["q2"] == parents["Q2"] == ids["a1"]
    assert parents["a2"] == ids["q2"] and parents["a2 edited"] == ids["Q2"]


async def test_the_old_branch_can_be_switched_back_to_and_continued(client, auth, fake):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    fake.default = Script(reply="a2 edited")
    body = {"conversation_id": conversation, "message": "Q2", "edit_of": before[2]["id"]}
    await send(client, alice, body)

    response = await switch(client, alice, conversation, before[2]["id"])

    assert response.status_code == 200
    assert (await response.get_json())["id"] == conversation
    back = await history(client, alice, conversation)
    assert shown(back) == [
        ("user", "q1", 1, 1),
        ("assistant", "a1", 1, 1),
        ("user", "q2", 1, 2),
        ("assistant", "a2", 1, 1),
    ]
    # The next turn continues the branch that is shown.
    fake.default = Script(reply="a3")
    await send(client, alice, {"conversation_id": conversation, "message": "q3"})
    assert sent(fake) == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2"),
        ("user", "q3"),
    ]
    # Switching to the first message goes down to its newest leaf: this branch, q3's reply.
    response = await switch(client, alice, conversation, before[0]["id"])
    assert [m["content"] for m in await history(client, alice, conversation)][-1] == "a3"
    # And to the other version of q2, down to its reply.
    edited = next(m for m in await tree(client, alice, conversation) if m["content"] == "Q2")
    await switch(client, alice, conversation, edited["id"])
    assert [m["content"] for m in await history(client, alice, conversation)] == [
        "q1",
        "a1",
        "Q2",
        "a2 edited",
    ]


async def test_editing_the_first_message_makes_a_second_first_message(client, auth, fake):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    fake.default = Script(reply="fresh start")
    body = {"conversation_id": conversation, "message": "Q1", "edit_of": before[0]["id"]}

    response, _ = await send(client, alice, body)

    assert response.status_code == 200
    assert sent(fake) == [("user", "Q1")]
    assert shown(await history(client, alice, conversation)) == [
        ("user", "Q1", 2, 2),
        ("assistant", "fresh start", 1, 1),
    ]


async def test_regenerate_keeps_the_old_reply_as_a_version(client, auth, fake):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    fake.default = Script(reply="a2 again")

    body = {"conversation_id": conversation, "trigger": "regenerate-message"}
    response, events = await send(client, alice, body)

    assert response.status_code == 200 and text_of(events) == "a2 again"
    assert sent(fake) == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    after = await history(client, alice, conversation)
    assert shown(after)[2:] == [("user", "q2", 1, 1), ("assistant", "a2 again", 2, 2)]
    assert after[3]["parent_id"] == before[2]["id"]
    # The old reply is kept and can be shown again.
    assert (await switch(client, alice, conversation, before[3]["id"])).status_code == 200
    assert shown(await history(client, alice, conversation))[3] == ("assistant", "a2", 1, 2)
    # Regenerating while the old one is shown makes a third version beside both.
    fake.default = Script(reply="a2 third")
    await send(client, alice, body)
    assert shown(await history(client, alice, conversation))[3] == ("assistant", "a2 third", 3, 3)


async def test_use_chat_regenerate_of_a_named_reply_answers_its_question(client, auth, fake):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    fake.default = Script(reply="a1 again")
    body = {
        "id": conversation,
        "messages": [],
        "trigger": "regenerate-message",
        "messageId": before[1]["id"],
    }

    response, _ = await send(client, alice, body)

    assert response.status_code == 200
    assert sent(fake) == [("user", "q1")]
    assert shown(await history(client, alice, conversation)) == [
        ("user", "q1", 1, 1),
        ("assistant", "a1 again", 2, 2),
    ]


async def test_the_tree_paginates_oldest_first(client, auth, fake):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    fake.default = Script(reply="again")
    await send(client, alice, {"conversation_id": conversation, "trigger": "regenerate-message"})
    body = {"conversation_id": conversation, "message": "Q2", "edit_of": before[2]["id"]}
    await send(client, alice, body)

    whole = await tree(client, alice, conversation)
    assert [m["content"] for m in whole] == ["q1", "a1", "q2", "a2", "again", "Q2", "again"]
    assert [m["branch"] for m in whole][2:5] == [
        {"index": 1, "count": 2},
        {"index": 1, "count": 2},
        {"index": 2, "count": 2},
    ]
    for limit in (1, 2, 3):
        assert await tree(client, alice, conversation, limit) == whole
    for query in ("limit=0", "limit=101", "cursor=bm9wZQ"):
        response = await client.get(f"/conversations/{conversation}/tree?{query}", headers=alice)
        assert response.status_code == 422
    # The current branch paginates as the history always has.
    current = await history(client, alice, conversation)
    paged, cursor = [], None
    while True:
        query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = await (
            await client.get(f"/conversations/{conversation}/messages{query}", headers=alice)
        ).get_json()
        paged += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == current and [m["content"] for m in current] == ["q1", "a1", "Q2", "again"]


def _counts(database_url: str) -> tuple[int, list[Any]]:
    """Every message row, and every conversation's current leaf: what a refusal must not move."""
    engine = sa.create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            count = connection.execute(
                sa.select(sa.func.count()).select_from(messages_table)
            ).scalar_one()
            leaves = connection.execute(
                sa.select(conversations_table.c.id, conversations_table.c.current_leaf_id).order_by(
                    conversations_table.c.id
                )
            ).all()
    finally:
        engine.dispose()
    return count, [tuple(row) for row in leaves]


async def test_hostile_and_foreign_messages_write_nothing_and_call_no_provider(
    app, client, auth, fake
):
    alice, bob = auth("alice"), auth("bob")
    conversation, mine = await two_turns(client, fake, alice)
    _, elsewhere = await two_turns(client, fake, alice)  # another conversation of alice's
    _, bobs = await two_turns(client, fake, bob)
    calls = len(fake.received)
    written = _counts(app.settings.database_url)

    def edit(message_id: Any) -> dict[str, Any]:
        return {"conversation_id": conversation, "message": "x", "edit_of": message_id}

    def use_chat(message_id: Any, trigger: str = "submit-message") -> dict[str, Any]:
        last = {"id": "x", "role": "user", "parts": [{"type": "text", "text": "x"}]}
        return {"id": conversation, "messages": [last], "trigger": trigger, "messageId": message_id}

    cases = [
        (edit(bobs[0]["id"]), 404),  # another user's message: as if it did not exist
        (edit("msg_doesnotexist"), 404),
        (use_chat(bobs[0]["id"]), 404),
        (use_chat(bobs[1]["id"], "regenerate-message"), 404),
        (edit(elsewhere[0]["id"]), 422),  # one of mine, in another conversation
        (use_chat(elsewhere[0]["id"]), 422),
        (edit(mine[1]["id"]), 422),  # an assistant message cannot be edited
        (use_chat(mine[3]["id"]), 422),
        (edit(""), 422),
        (edit("m" * 65), 422),
        (edit(12), 422),
        (edit("'; DROP TABLE messages; --"), 422),
        (edit("msg_\u0000"), 422),
        (use_chat("msg_\u0000"), 422),
    ]
    for body, status in cases:
        response = await client.post("/chat", json=body, headers=alice)
        assert response.status_code == status, body
        assert set((await response.get_json())["error"]) >= {"code", "message"}

    branch_cases = [
        (conversation, {"message_id": bobs[0]["id"]}, 404),
        (conversation, {"message_id": "msg_doesnotexist"}, 404),
        (conversation, {"message_id": elsewhere[0]["id"]}, 422),
        (conversation, {"message_id": ""}, 422),
        (conversation, {}, 422),
        (conversation, {"message_id": ["x"]}, 422),
        (conversation, {"message_id": "msg_\u0000"}, 422),
        ("cnv_doesnotexist", {"message_id": mine[0]["id"]}, 404),
    ]
    for conversation_id, body, status in branch_cases:
        response = await client.post(
            f"/conversations/{conversation_id}/branch", json=body, headers=alice
        )
        assert response.status_code == status, body
    for path in (f"/conversations/{conversation}/tree", f"/conversations/{conversation}/messages"):
        assert (await client.get(path, headers=bob)).status_code == 404

    assert len(fake.received) == calls  # no provider was called
    assert _counts(app.settings.database_url) == written  # nothing was written
    assert await history(client, alice, conversation) == [
        {**m, "branch": {"index": 1, "count": 1}} for m in mine
    ]
    # And the conversation was left free.
    response, _ = await send(client, alice, edit(mine[2]["id"]))
    assert response.status_code == 200


async def test_an_edit_or_a_switch_while_a_reply_streams_is_409_and_leaves_nothing_half_written(
    app, client, auth, fake
):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    fake.default = Script(tokens=["a", "b", "c"], delay=0.2)
    streaming = await start_streaming(client, alice, conversation)

    edit = {"conversation_id": conversation, "message": "Q2", "edit_of": before[2]["id"]}
    busy = await client.post("/chat", json=edit, headers=alice)
    assert busy.status_code == 409
    assert (await switch(client, alice, conversation, before[0]["id"])).status_code == 409
    regenerate = {"conversation_id": conversation, "trigger": "regenerate-message"}
    assert (await client.post("/chat", json=regenerate, headers=alice)).status_code == 409
    assert len(fake.received) == 3  # the two turns and the one streaming

    assert text_of(await read_to_end(streaming)) == "abc"
    everything = await tree(client, alice, conversation)
    assert [m["content"] for m in everything] == ["q1", "a1", "q2", "a2", "hi", "abc"]
    assert [m["content"] for m in await history(client, alice, conversation)][-2:] == ["hi", "abc"]


async def test_concurrent_edits_one_answers_the_other_409(client, auth, fake):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    fake.default = Script(tokens=["x", "y"], delay=0.1)
    bodies = [
        {"conversation_id": conversation, "message": text, "edit_of": before[2]["id"]}
        for text in ("one", "two")
    ]

    async def post(body):
        response = await client.post("/chat", json=body, headers=alice)
        await response.get_data()
        return response.status_code

    statuses = await asyncio.gather(*(post(body) for body in bodies))

    assert sorted(statuses) == [200, 409]
    everything = await tree(client, alice, conversation)
    assert len(everything) == 6  # one new version and its reply; nothing of the refused one
    current = await history(client, alice, conversation)
    assert [m["content"] for m in current][2:] == [
        ["one", "two"][statuses.index(200)],
        "xy",
    ]
    assert current[2]["branch"] == {"index": 2, "count": 2}


async def test_deleting_a_conversation_deletes_every_branch(app, client, auth, fake):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    body = {"conversation_id": conversation, "message": "Q2", "edit_of": before[2]["id"]}
    await send(client, alice, body)
    await send(client, alice, {"conversation_id": conversation, "trigger": "regenerate-message"})
    assert len(await tree(client, alice, conversation)) == 7

    assert (await client.delete(f"/conversations/{conversation}", headers=alice)).status_code == 204

    engine = sa.create_engine(sync_url(app.settings.database_url))
    with engine.connect() as connection:
        left = connection.execute(
            sa.select(sa.func.count())
            .select_from(messages_table)
            .where(messages_table.c.conversation_id == conversation)
        ).scalar_one()
    engine.dispose()
    assert left == 0
    response = await client.get(f"/conversations/{conversation}/tree", headers=alice)
    assert response.status_code == 404


async def open_stream(client, headers, body: dict[str, Any]):
    """A /chat request read until its first delta: the reply is streaming."""
    connection = client.request(
        "/chat", method="POST", headers={**headers, "Content-Type": "application/json"}
    )
    await connection.__aenter__()
    await connection.send(json.dumps(body).encode())
    await connection.send_complete()
    received = b""
    while b"text-delta" not in received:
        received += await asyncio.wait_for(connection.receive(), timeout=5)
    return connection, received


async def test_a_stopped_regeneration_lands_beside_the_old_reply(client, auth, fake):
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    fake.default = Script(tokens=["cut", " short", " here"], delay=0.3)
    regenerate = {"conversation_id": conversation, "trigger": "regenerate-message"}
    streaming = await open_stream(client, alice, regenerate)

    stopped = await client.post(f"/chat/{conversation}/stop", headers=alice)

    assert stopped.status_code == 200
    message = await stopped.get_json()
    assert message["status"] == "partial" and message["parent_id"] == before[2]["id"]
    assert message["branch"] == {"index": 2, "count": 2}
    await read_to_end(streaming)
    assert shown(await history(client, alice, conversation))[3] == (
        "assistant",
        message["content"],
        2,
        2,
    )


@pytest.mark.parametrize("checkpointed", [True, False])
async def test_a_dead_instances_regeneration_is_stored_on_its_branch(
    app, client, auth, fake, checkpointed
):
    """Settled from its checkpoint, which names the message it answers (or, written before
    branches, does not: then the leaf says)."""
    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    row = await app.db.fetch_one(
        sa.select(conversations_table.c.owner_id).where(conversations_table.c.id == conversation)
    )
    owner = Owner(row["owner_id"])
    # What a regeneration's instance leaves when it dies: the lease, a checkpoint, expired.
    assert await conversations_db.take_stream_lease(app.db, owner, conversation, "msg_dead", 60)
    saved: dict[str, Any] = {"content": "half a new", "model": "gpt-dead", "prompt": None}
    saved |= {"parent_id": before[2]["id"]} if checkpointed else {"replaces": [before[3]["id"]]}
    assert await replies_db.checkpoint(app.db, conversation, "msg_dead", 60, saved)
    await app.db.execute(
        sa.update(conversations_table)
        .where(conversations_table.c.id == conversation)
        .values(stream_lease_expires_at=now() - timedelta(seconds=1))
    )

    stopped = await client.post(f"/chat/{conversation}/stop", headers=alice)

    assert stopped.status_code == 200
    assert (await stopped.get_json())["id"] == "msg_dead"
    current = await history(client, alice, conversation)
    assert shown(current)[2:] == [
        ("user", "q2", 1, 1),
        ("assistant", "half a new", 2, 2),
    ]
    assert current[3]["parent_id"] == before[2]["id"]
    assert len(await tree(client, alice, conversation)) == 5  # the old reply is kept


def test_the_newest_messages_by_seq_are_taken_as_the_branch_only_when_they_chain():
    """`messages.recent`'s shortcut for conversations never edited: the rows by `seq` stand for
    the branch only when they chain up from the current leaf."""
    from promptkit.db.messages import _is_the_branch

    def rows(*pairs: tuple[str, str | None], leaf: str) -> list[dict[str, Any]]:
        return [{"id": id_, "parent_id": parent, "leaf": leaf} for id_, parent in pairs]

    linear = rows(("m3", "m2"), ("m2", "m1"), ("m1", None), leaf="m3")
    assert _is_the_branch(linear, limit=200)
    assert _is_the_branch(linear[:2], limit=2)  # the limit cut it: older ones may exist
    assert not _is_the_branch(linear[:2], limit=3)  # short of the limit but not at the root
    assert not _is_the_branch(rows(("m3", "m2"), ("m2", "m1"), leaf="m1"), limit=200)  # switched
    edited = rows(("u2", "a0"), ("a1", "u1"), ("u1", "a0"), ("a0", "u0"), ("u0", None), leaf="u2")
    assert not _is_the_branch(edited, limit=200)  # u2 edits u1: it does not follow a1
    assert _is_the_branch([], limit=200)


async def test_a_conversation_never_edited_reads_its_history_in_one_scan(app, client, auth, fake):
    """The shortcut is taken where it holds (one statement, by `seq`) and left where it does
    not (an edited conversation walks its branch), with the same history either way."""
    from promptkit.db import messages as messages_db

    alice = auth("alice")
    conversation, before = await two_turns(client, fake, alice)
    owner = Owner("alice")
    run, statements = app.db.run, []

    async def counted(statement, **values):
        statements.append(statement)
        return await run(statement, **values)

    app.db.run = counted
    try:
        linear = await messages_db.recent(app.db, owner, conversation, limit=200)
        assert statements == [messages_db.RECENT_BY_SEQ]
        assert [row["id"] for row in linear] == [m["id"] for m in reversed(before)]

        fake.default = Script(reply="a2 edited")
        body = {"conversation_id": conversation, "message": "Q2", "edit_of": before[2]["id"]}
        await send(client, alice, body)
        statements.clear()
        edited = await messages_db.recent(app.db, owner, conversation, limit=200)
        assert statements == [messages_db.RECENT_BY_SEQ, messages_db.RECENT]
        assert [row["content"] for row in edited] == ["a2 edited", "Q2", "a1", "q1"]
    finally:
        app.db.run = run
