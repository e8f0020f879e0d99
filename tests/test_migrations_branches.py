"""Migration 0010 (branches) links an existing linear conversation as one chain, which then
reads exactly as before; it goes down and up again on both databases, keeping rows."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import command

from promptkit.db.engine import new_id, now, sync_url
from promptkit.migrate import alembic_config, upgrade


def _columns(engine: sa.Engine, table: str) -> set[str]:
    return {column["name"] for column in sa.inspect(engine).get_columns(table)}


def test_0010_links_existing_conversations_as_one_chain_and_downgrades(clean_database):
    config = alembic_config(clean_database)
    engine = sa.create_engine(sync_url(clean_database))
    project, linear, empty = new_id("prj"), new_id("cnv"), new_id("cnv")
    ids = [new_id("msg") for _ in range(5)]
    stamp = now()
    try:
        command.downgrade(config, "0009")
        assert "parent_id" not in _columns(engine, "messages")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO projects (id, owner_id, name, created_at, updated_at)"
                    " VALUES (:id, 'alice', 'P', :t, :t)"
                ),
                {"id": project, "t": stamp},
            )
            for conversation in (linear, empty):
                connection.execute(
                    sa.text(
                        "INSERT INTO conversations (id, project_id, owner_id, title,"
                        " created_at, updated_at) VALUES (:id, :p, 'alice', '', :t, :t)"
                    ),
                    {"id": conversation, "p": project, "t": stamp},
                )
            # Stored as a 0009 chat stored them; the clock disagrees with the order on purpose.
            for index, message_id in enumerate(ids):
                connection.execute(
                    sa.text(
                        "INSERT INTO messages (id, conversation_id, owner_id, role, content,"
                        " status, created_at) VALUES (:id, :c, 'alice', :role, :content,"
                        " 'complete', :t)"
                    ),
                    {
                        "id": message_id,
                        "c": linear,
                        "role": "user" if index % 2 == 0 else "assistant",
                        "content": f"m{index}",
                        "t": stamp - timedelta(seconds=index),
                    },
                )

        upgrade(clean_database)

        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT id, parent_id FROM messages WHERE conversation_id = :c ORDER BY seq"
                ),
                {"c": linear},
            ).all()
            leaves = dict(
                connection.execute(sa.text("SELECT id, current_leaf_id FROM conversations")).all()
            )
        assert [row.id for row in rows] == ids
        assert [row.parent_id for row in rows] == [None, *ids[:-1]]
        assert leaves == {linear: ids[-1], empty: None}

        command.downgrade(config, "0009")
        assert "parent_id" not in _columns(engine, "messages")
        assert "current_leaf_id" not in _columns(engine, "conversations")
        with engine.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()
        assert count == 5
    finally:
        upgrade(clean_database)  # whatever happened, the next tests get the head schema
        engine.dispose()


async def test_a_migrated_conversation_reads_as_before(clean_database, make_app, auth):
    """Through the API: the migrated history is the one chain, every message `1/1`."""
    config = alembic_config(clean_database)
    command.downgrade(config, "0009")
    engine = sa.create_engine(sync_url(clean_database))
    project, conversation = new_id("prj"), new_id("cnv")
    ids = [new_id("msg") for _ in range(4)]
    stamp = now()
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO projects (id, owner_id, name, created_at, updated_at)"
                    " VALUES (:id, :o, 'P', :t, :t)"
                ),
                {"id": project, "o": "user_alice", "t": stamp},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO conversations (id, project_id, owner_id, title, created_at,"
                    " updated_at) VALUES (:id, :p, :o, '', :t, :t)"
                ),
                {"id": conversation, "p": project, "o": "user_alice", "t": stamp},
            )
            for index, message_id in enumerate(ids):
                connection.execute(
                    sa.text(
                        "INSERT INTO messages (id, conversation_id, owner_id, role, content,"
                        " status, created_at) VALUES (:id, :c, :o, :role, :content,"
                        " 'complete', :t)"
                    ),
                    {
                        "id": message_id,
                        "c": conversation,
                        "o": "user_alice",
                        "role": "user" if index % 2 == 0 else "assistant",
                        "content": f"m{index}",
                        "t": stamp,
                    },
                )
    finally:
        upgrade(clean_database)
        engine.dispose()

    app = make_app()
    async with app.test_app():
        client = app.test_client()
        response = await client.get(
            f"/conversations/{conversation}/messages", headers=auth("user_alice")
        )
        assert response.status_code == 200
        listed = (await response.get_json())["data"]
    assert [(m["id"], m["content"]) for m in listed] == [(i, f"m{n}") for n, i in enumerate(ids)]
    assert [m["parent_id"] for m in listed] == [None, *ids[:-1]]
    assert {(m["branch"]["index"], m["branch"]["count"]) for m in listed} == {(1, 1)}
