"""The migrated schema is the schema of the tables, with its invariants, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from promptkit.db import Database
from promptkit.db.engine import new_id, now, sync_url
from promptkit.db.tables import metadata, projects, prompts
from promptkit.migrate import HEAD, head_revisions, upgrade

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
