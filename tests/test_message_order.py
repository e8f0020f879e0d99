"""Message order is the database's insert order, whatever the storing process's clock says:
two workers with skewed clocks cannot reorder a conversation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fake_openai import Script
from test_chat import history, new_conversation, send, upstream_env

from promptkit.db import messages as messages_db
from promptkit.db.engine import now


@pytest.fixture
def app_environ(fake):
    return upstream_env(fake)


@pytest.fixture
def clock_running_backwards(monkeypatch):
    """Each message is stamped an hour before the one stored before it, as when every message
    is stored by a worker whose clock is further behind."""
    start = now()
    stamps = (start - timedelta(hours=n) for n in range(1000))
    monkeypatch.setattr(messages_db, "now", lambda: next(stamps))


async def test_messages_come_back_in_insert_order_not_clock_order(
    client, auth, fake, clock_running_backwards
):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.queue(Script(reply="first answer"), Script(reply="second answer"))

    await send(client, alice, {"conversation_id": conversation, "message": "first question"})
    await send(client, alice, {"conversation_id": conversation, "message": "second question"})

    # The history sent upstream for the second turn is in insert order.
    assert fake.last.body["messages"] == [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    stored = await history(client, alice, conversation)
    contents = ["first question", "first answer", "second question", "second answer"]
    assert [m["content"] for m in stored] == contents
    stamps = [m["created_at"] for m in stored]
    assert stamps == sorted(stamps, reverse=True)  # the clock really did run backwards

    # Paged one at a time, the cursors follow the same order.
    paged, cursor = [], None
    while True:
        query = f"?limit=1&cursor={cursor}" if cursor else "?limit=1"
        response = await client.get(f"/conversations/{conversation}/messages{query}", headers=alice)
        page = await response.get_json()
        paged += [m["content"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == contents


async def test_regenerate_versions_the_newest_reply_in_insert_order(
    client, auth, fake, clock_running_backwards
):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.queue(Script(reply="one"), Script(reply="two"), Script(reply="two again"))
    await send(client, alice, {"conversation_id": conversation, "message": "q1"})
    await send(client, alice, {"conversation_id": conversation, "message": "q2"})

    body = {"conversation_id": conversation, "trigger": "regenerate-message"}
    response, _ = await send(client, alice, body)
    assert response.status_code == 200
    stored = await history(client, alice, conversation)
    assert [m["content"] for m in stored] == ["q1", "one", "q2", "two again"]
    # The replaced reply stays, as the other version of the answer to q2.
    tree = await client.get(f"/conversations/{conversation}/tree", headers=alice)
    assert [m["content"] for m in (await tree.get_json())["data"]] == [
        "q1", "one", "q2", "two", "two again"
    ]  # fmt: skip


# ["seq", -1], ["seq", 1e999], ["seq", true], ["seq", 2**63]; and a list cursor of created_at.
BAD_CURSORS = [
    "WyJzZXEiLCAtMV0",
    "WyJzZXEiLCAxZTk5OV0",
    "WyJzZXEiLCB0cnVlXQ",
    "WyJzZXEiLCA5MjIzMzcyMDM2ODU0Nzc1ODA4XQ",
    "WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIm1zZ194Il0",
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
async def test_a_message_cursor_that_was_not_issued_is_422(client, auth, cursor):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    response = await client.get(
        f"/conversations/{conversation}/messages?cursor={cursor}", headers=alice
    )
    assert response.status_code == 422
    assert (await response.get_json())["error"]["code"] == "validation_error"
