"""PostgreSQL search reads stored tsvectors instead of recomputing them for every row.

With expression indexes (0003), every row that the planner reads for a search (and every hit,
to rank it) recomputed `promptkit_search_text`: accent folding and parsing of the whole text,
some 200 µs a message. When the owner's rows were the cheaper path, one word took seconds over
20,000 messages. A stored generated column is computed once, as the row is written, and the GIN
index is built over it; ranking reads it too. SQLite's FTS5 index already stores its terms.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, indexed column)
INDEXED = (("messages", "content"), ("conversations", "title"))


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    for table, column in INDEXED:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
            f"GENERATED ALWAYS AS (promptkit_search_text({column})) STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_search_vector ON {table} USING gin (search_vector)")
    op.execute("DROP INDEX ix_messages_search")
    op.execute("DROP INDEX ix_conversations_search")


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE INDEX ix_messages_search ON messages USING gin (promptkit_search_text(content))"
    )
    op.execute(
        "CREATE INDEX ix_conversations_search ON conversations "
        "USING gin (promptkit_search_text(title))"
    )
    for table, _ in INDEXED:
        op.execute(f"DROP INDEX ix_{table}_search_vector")
        op.execute(f"ALTER TABLE {table} DROP COLUMN search_vector")
