"""Migration 0006 (reply checkpoints) goes down and up again on both databases, keeping rows."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from promptkit.db.engine import new_id, now, sync_url
from promptkit.migrate import alembic_config, upgrade

COLUMNS = {"stream_holder", "stream_checkpoint"}
INDEX = "ix_conversations_stream_lease_expires_at"


def _shape(url: str) -> tuple[set[str], set[str]]:
    engine = sa.create_engine(sync_url(url))
    try:
        inspector = sa.inspect(engine)
        columns = {column["name"] for column in inspector.get_columns("conversations")}
        indexes = {index["name"] or "" for index in inspector.get_indexes("conversations")}
    finally:
        engine.dispose()
    return columns, indexes


def test_0006_downgrades_and_upgrades_keeping_conversations(clean_database):
    engine = sa.create_engine(sync_url(clean_database))
    stamp = now()
    project, conversation = new_id("prj"), new_id("cnv")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO projects (id, owner_id, name, created_at, updated_at)"
                " VALUES (:id, 'alice', 'P', :t, :t)"
            ),
            {"id": project, "t": stamp},
        )
        connection.execute(
            sa.text(
                "INSERT INTO conversations (id, project_id, owner_id, title, created_at,"
                " updated_at) VALUES (:id, :p, 'alice', 'kept', :t, :t)"
            ),
            {"id": conversation, "p": project, "t": stamp},
        )
    try:
        command.downgrade(alembic_config(clean_database), "0004")
        columns, indexes = _shape(clean_database)
        assert not COLUMNS & columns and INDEX not in indexes

        upgrade(clean_database)
        columns, indexes = _shape(clean_database)
        assert columns >= COLUMNS and INDEX in indexes
        with engine.connect() as connection:
            title = connection.execute(
                sa.text("SELECT title FROM conversations WHERE id = :id"), {"id": conversation}
            ).scalar_one()
        assert title == "kept"
    finally:
        upgrade(clean_database)  # whatever happened, the next tests get the head schema
        engine.dispose()
