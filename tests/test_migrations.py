"""The migrated schema is the schema of the tables, with its invariants, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from promptkit.db import Database
from promptkit.db.engine import new_id, now, sync_url
from promptkit.db.tables import metadata, projects, prompts
from promptkit.migrate import HEAD, alembic_config, head_revisions, upgrade

# The full-text index of migrations 0003 and 0008 lives outside the tables' metadata on
# purpose: it is engine-specific (FTS5 virtual tables and their shadow tables on SQLite, a
# generated tsvector column and its GIN index on PostgreSQL), and the code that writes rows
# never names it. The comparison leaves exactly those out; tests/test_search.py checks them.
SEARCH_TABLES = ("messages_search", "conversations_search")
SEARCH_INDEXES = {"ix_messages_search_vector", "ix_conversations_search_vector"}
SEARCH_COLUMN = "search_vector"


def _not_search_index(obj, name, type_, reflected, compare_to):
    if type_ == "table":
        return not (name or "").startswith(SEARCH_TABLES)
    if type_ == "column":
        return name != SEARCH_COLUMN
    return not (type_ == "index" and name in SEARCH_INDEXES)


def test_autogenerate_finds_no_difference(clean_database):
    engine = sa.create_engine(sync_url(clean_database))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": _not_search_index})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_a_no_op_and_reaches_head(clean_database):
    upgrade(clean_database)
    engine = sa.create_engine(sync_url(clean_database))
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    engine.dispose()
    assert current == head_revisions()


def test_the_head_the_app_expects_is_alembics_head():
    assert head_revisions() == {HEAD}


def _project(connection, owner="alice"):
    project_id = new_id("prj")
    stamp = now()
    connection.execute(
        sa.insert(projects).values(
            id=project_id, owner_id=owner, name="P", created_at=stamp, updated_at=stamp
        )
    )
    return project_id


def _prompt(project_id, active):
    stamp = now()
    return sa.insert(prompts).values(
        id=new_id("pmt"),
        project_id=project_id,
        owner_id="alice",
        name="n",
        content="c",
        is_active=active,
        created_at=stamp,
        updated_at=stamp,
    )


def test_two_active_prompts_in_one_project_are_impossible(clean_database):
    engine = sa.create_engine(sync_url(clean_database))
    with engine.begin() as connection:
        project_id = _project(connection)
        other_id = _project(connection)
        connection.execute(_prompt(project_id, True))
        connection.execute(_prompt(project_id, False))
        connection.execute(_prompt(other_id, True))  # another project may have its own
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(_prompt(project_id, True))
    engine.dispose()


async def test_foreign_keys_are_enforced_on_the_apps_connections(clean_database):
    db = Database(clean_database)
    await db.connect()
    try:
        with pytest.raises(Exception) as error:
            await db.execute(_prompt("prj_does_not_exist", False))
        assert "foreign" in str(error.value).lower()
    finally:
        await db.disconnect()


def _message_rows(connection):
    order = "ORDER BY conversation_id, seq"
    return connection.execute(sa.text(f"SELECT conversation_id, id, seq FROM messages {order}"))


def test_0009_gives_existing_messages_their_text_part_and_downgrades(clean_database):
    """Rows written before 0009 get `parts` of one text part (none for an empty content), so a
    stored reply renders from its parts like a new one; projects get no tools."""
    import json

    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(clean_database)
    before = ScriptDirectory.from_config(config).get_revision("0009").down_revision
    assert isinstance(before, str)
    command.downgrade(config, before)
    engine = sa.create_engine(sync_url(clean_database))
    try:
        with engine.begin() as connection:
            project_id = _project(connection)
            stamp = now()
            connection.execute(
                sa.text(
                    "INSERT INTO conversations (id, project_id, owner_id, title, created_at,"
                    " updated_at) VALUES ('cnv_p', :project, 'alice', '', :at, :at)"
                ),
                {"project": project_id, "at": stamp},
            )
            for message_id, content in (("msg_said", 'He said "hi"\n'), ("msg_empty", "")):
                connection.execute(
                    sa.text(
                        "INSERT INTO messages (id, conversation_id, owner_id, role, content,"
                        " status, created_at) VALUES (:id, 'cnv_p', 'alice', 'assistant',"
                        " :content, 'partial', :at)"
                    ),
                    {"id": message_id, "content": content, "at": stamp},
                )
        upgrade(clean_database)
        with engine.begin() as connection:
            rows = connection.execute(sa.text("SELECT id, parts FROM messages ORDER BY id"))
            parts = {
                row.id: json.loads(row.parts) if isinstance(row.parts, str) else row.parts
                for row in rows
            }
            assert parts == {
                "msg_empty": [],
                "msg_said": [{"type": "text", "text": 'He said "hi"\n'}],
            }
            tools = connection.execute(sa.text("SELECT tools FROM projects")).scalar_one()
            assert (json.loads(tools) if isinstance(tools, str) else tools) == []
        command.downgrade(config, before)
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            assert "parts" not in {c["name"] for c in inspector.get_columns("messages")}
            assert "tools" not in {c["name"] for c in inspector.get_columns("projects")}
    finally:
        engine.dispose()
        upgrade(clean_database)


def test_0005_numbers_existing_messages_in_their_order_and_downgrades(clean_database):
    """Rows written before 0005 get `seq` in (created_at, id) order; new ones follow them."""
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(clean_database)
    before = ScriptDirectory.from_config(config).get_revision("0005").down_revision
    assert isinstance(before, str)
    command.downgrade(config, before)
    engine = sa.create_engine(sync_url(clean_database))
    try:
        with engine.begin() as connection:
            project_id = _project(connection)
            stamp = now()
            for conversation in ("cnv_a", "cnv_b"):
                connection.execute(
                    sa.text(
                        "INSERT INTO conversations (id, project_id, owner_id, title, created_at,"
                        " updated_at) VALUES (:id, :project, 'alice', '', :at, :at)"
                    ),
                    {"id": conversation, "project": project_id, "at": stamp},
                )
            # Written out of order: the ids and times say which one is older.
            for conversation, message_id, seconds in (
                ("cnv_a", "msg_3", 3),
                ("cnv_b", "msg_b", 1),
                ("cnv_a", "msg_1", 1),
                ("cnv_a", "msg_2", 1),  # the same time as msg_1: the id decides
            ):
                connection.execute(
                    sa.text(
                        "INSERT INTO messages (id, conversation_id, owner_id, role, content,"
                        " status, created_at) VALUES (:id, :conversation, 'alice', 'user', 'x',"
                        " 'complete', :at)"
                    ),
                    {
                        "id": message_id,
                        "conversation": conversation,
                        "at": stamp + timedelta(seconds=seconds),
                    },
                )
        upgrade(clean_database)
        with engine.begin() as connection:
            rows = [tuple(row) for row in _message_rows(connection)]
            by_conversation = {}
            for conversation, message_id, seq in rows:
                by_conversation.setdefault(conversation, []).append((message_id, seq))
            assert [m for m, _ in by_conversation["cnv_a"]] == ["msg_1", "msg_2", "msg_3"]
            newest = by_conversation["cnv_a"][-1][1]
            # A row inserted after the upgrade, with no seq given, comes after every other.
            connection.execute(
                sa.text(
                    "INSERT INTO messages (id, conversation_id, owner_id, role, content, status,"
                    " created_at) VALUES ('msg_0', 'cnv_a', 'alice', 'user', 'x', 'complete', :at)"
                ),
                {"at": stamp - timedelta(days=1)},
            )
            seq = connection.execute(sa.text("SELECT seq FROM messages WHERE id = 'msg_0'"))
            assert seq.scalar_one() > newest
        command.downgrade(config, before)
        with engine.connect() as connection:
            columns = {column["name"] for column in sa.inspect(connection).get_columns("messages")}
            assert "seq" not in columns
            count = connection.execute(sa.text("SELECT COUNT(*) FROM messages"))
            assert count.scalar_one() == 5
    finally:
        engine.dispose()
        upgrade(clean_database)
