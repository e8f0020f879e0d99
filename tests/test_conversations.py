"""Conversations and the messages list."""

from __future__ import annotations

import sqlalchemy as sa

from promptkit.db.engine import new_id, now, sync_url
from promptkit.db.tables import messages


async def _project(client, headers):
    return (await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json())[
        "id"
    ]


def insert_messages(database_url, conversation_id, owner_id, contents):
    """Rows as the chat stores them (the chat route is tested on its own)."""
    engine = sa.create_engine(sync_url(database_url))
    parent_id = None
    with engine.begin() as connection:
        for index, content in enumerate(contents):
            message_id = new_id("msg")
            connection.execute(
                sa.insert(messages).values(
                    id=message_id,
                    parent_id=parent_id,
                    conversation_id=conversation_id,
                    owner_id=owner_id,
                    role="user" if index % 2 == 0 else "assistant",
                    content=content,
                    status="complete",
                    model=None if index % 2 == 0 else "gpt-test",
                    usage=None if index % 2 == 0 else {"prompt_tokens": 3, "completion_tokens": 5},
                    created_at=now(),
                )
            )
            parent_id = message_id
    engine.dispose()


async def test_conversation_crud(client, auth):
    alice = auth("alice")
    project_id = await _project(client, alice)
    untitled = await client.post(f"/projects/{project_id}/conversations", json={}, headers=alice)
    assert untitled.status_code == 201
    assert (await untitled.get_json())["title"] == ""

    created = await client.post(
        f"/projects/{project_id}/conversations", json={"title": "Trip"}, headers=alice
    )
    conversation = await created.get_json()
    assert conversation["project_id"] == project_id and conversation["title"] == "Trip"

    retitled = await client.patch(
        f"/conversations/{conversation['id']}", json={"title": "Trip to Oslo"}, headers=alice
    )
    assert (await retitled.get_json())["title"] == "Trip to Oslo"

    listed = await client.get(f"/projects/{project_id}/conversations", headers=alice)
    titles = [row["title"] for row in (await listed.get_json())["data"]]
    assert titles == ["Trip to Oslo", ""]

    deleted = await client.delete(f"/conversations/{conversation['id']}", headers=alice)
    assert deleted.status_code == 204
    assert (
        await client.get(f"/conversations/{conversation['id']}", headers=alice)
    ).status_code == 404


async def test_messages_are_oldest_first_and_paginate(client, auth, app):
    alice = auth("alice")
    project_id = await _project(client, alice)
    conversation = await (
        await client.post(f"/projects/{project_id}/conversations", json={}, headers=alice)
    ).get_json()
    contents = [f"m{i}" for i in range(5)]
    insert_messages(app.settings.database_url, conversation["id"], "alice", contents)

    seen, cursor = [], None
    while True:
        url = f"/conversations/{conversation['id']}/messages?limit=2" + (
            f"&cursor={cursor}" if cursor else ""
        )
        body = await (await client.get(url, headers=alice)).get_json()
        seen += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [m["content"] for m in seen] == contents
    assert seen[1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 5}
    assert seen[0]["usage"] is None and seen[1]["model"] == "gpt-test"
    assert {m["status"] for m in seen} == {"complete"}

    other = await client.get(f"/conversations/{conversation['id']}/messages", headers=auth("bob"))
    assert other.status_code == 404


async def test_deleting_a_project_cascades(client, auth, app):
    from promptkit.db.tables import conversations, file_metadata, projects, prompts

    alice = auth("alice")
    project_id = await _project(client, alice)
    keep_id = await _project(client, alice)
    for pid in (project_id, keep_id):
        await client.post(
            f"/projects/{pid}/prompts", json={"name": "n", "content": "c"}, headers=alice
        )
        conversation = await (
            await client.post(f"/projects/{pid}/conversations", json={}, headers=alice)
        ).get_json()
        insert_messages(app.settings.database_url, conversation["id"], "alice", ["a", "b"])
    engine = sa.create_engine(sync_url(app.settings.database_url))
    with engine.begin() as connection:
        connection.execute(
            sa.insert(file_metadata).values(
                id=new_id("fil"),
                project_id=project_id,
                owner_id="alice",
                filename="notes.txt",
                size_bytes=3,
                content_type="text/plain",
                provider="none",
                provider_file_id="file-1",
                created_at=now(),
            )
        )

    from promptkit import hookimpl

    class NoneStore:  # a project delete deletes each file at its provider first: claim "none"
        @hookimpl
        def delete_stored_file(self, stored):
            return True if stored.provider == "none" else None

    app.plugins.pm.register(NoneStore())
    assert (await client.delete(f"/projects/{project_id}", headers=alice)).status_code in (204,)

    def count(table, column, value):
        return connection.execute(
            sa.select(sa.func.count()).select_from(table).where(column == value)
        ).scalar_one()

    with engine.connect() as connection:
        assert count(projects, projects.c.id, project_id) == 0
        assert count(prompts, prompts.c.project_id, project_id) == 0
        assert count(conversations, conversations.c.project_id, project_id) == 0
        assert count(file_metadata, file_metadata.c.project_id, project_id) == 0
        assert count(messages, messages.c.owner_id, "alice") == 2  # only the kept project's
        assert count(prompts, prompts.c.project_id, keep_id) == 1
    engine.dispose()
