"""Message order that the database assigns: `messages.seq`, rising with every insert.

`created_at` comes from the clock of whichever process stored the message: two workers whose
clocks disagree could reorder a conversation. `seq` is given by the database itself: an
identity column on PostgreSQL; on SQLite (whose ALTER TABLE cannot add one) a trigger that
numbers each new row after the newest of its conversation, inside the inserting statement,
which holds SQLite's one write lock. Only the order within a conversation is promised.

Existing rows are numbered in the order they were listed in until now (created_at, then id).
The index on (conversation_id, created_at, id) is replaced by one on (conversation_id, seq).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBER_EXISTING = """
    UPDATE messages SET seq = ordered.n
    FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM messages) AS ordered
    WHERE messages.id = ordered.id
"""
# A row inserted without a number (0) gets the next one of its conversation. SQLite runs row
# triggers inside the inserting statement, under its write lock: no two rows get one number.
SQLITE_NUMBERING = """
    CREATE TRIGGER messages_seq AFTER INSERT ON messages WHEN new.seq = 0
    BEGIN
        UPDATE messages SET seq = (
            SELECT COALESCE(MAX(seq), 0) + 1 FROM messages
            WHERE conversation_id = new.conversation_id
        ) WHERE rowid = new.rowid;
    END
"""


def upgrade() -> None:
    # Plain ALTER TABLE: a batch rebuild of `messages` would drop its search triggers.
    sqlite = op.get_context().dialect.name == "sqlite"
    if sqlite:
        column = sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False)
    else:
        column = sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False)
    op.add_column("messages", column)
    op.execute(NUMBER_EXISTING)
    if sqlite:
        op.execute(SQLITE_NUMBERING)
    else:
        op.execute(
            "SELECT setval(pg_get_serial_sequence('messages', 'seq'), "
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM messages), false)"
        )
    op.create_index(
        "uq_messages_conversation_seq", "messages", ["conversation_id", "seq"], unique=True
    )
    op.drop_index("ix_messages_conversation_created", table_name="messages")


def downgrade() -> None:
    op.create_index(
        "ix_messages_conversation_created", "messages", ["conversation_id", "created_at", "id"]
    )
    op.drop_index("uq_messages_conversation_seq", table_name="messages")
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER messages_seq")
    op.drop_column("messages", "seq")
