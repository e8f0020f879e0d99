"""Conversations become trees: `messages.parent_id`, and the conversation's current leaf.

A message follows its parent (null for a first message); an edit or a regeneration is a new
sibling, and the history of a turn is the current branch: the path from the root to
`conversations.current_leaf_id`. A trigger makes every inserted message its conversation's
current leaf, in the inserting statement: a turn stores its messages with one statement each,
as before. `POST /conversations/{id}/branch` moves the leaf to another branch.

Existing conversations become one chain each, in their order (`seq`), their newest message
the current leaf: they read exactly as before. Plain `add_column` on `messages`: a batch
rebuild on SQLite would drop the full-text search triggers.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each existing message follows the one before it in its conversation.
LINK_EXISTING = """
    UPDATE messages SET parent_id = (
        SELECT before.id FROM messages AS before
        WHERE before.conversation_id = messages.conversation_id AND before.seq < messages.seq
        ORDER BY before.seq DESC LIMIT 1
    )
"""
NEWEST_IS_LEAF = """
    UPDATE conversations SET current_leaf_id = (
        SELECT id FROM messages WHERE messages.conversation_id = conversations.id
        ORDER BY seq DESC LIMIT 1
    )
"""
SQLITE_LEAF = """
    CREATE TRIGGER messages_current_leaf AFTER INSERT ON messages
    BEGIN
        UPDATE conversations SET current_leaf_id = new.id WHERE id = new.conversation_id;
    END
"""
POSTGRES_LEAF = """
    CREATE FUNCTION messages_current_leaf() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE conversations SET current_leaf_id = NEW.id WHERE id = NEW.conversation_id;
        RETURN NULL;
    END $$;
    CREATE TRIGGER messages_current_leaf AFTER INSERT ON messages
        FOR EACH ROW EXECUTE FUNCTION messages_current_leaf();
"""


def upgrade() -> None:
    op.add_column("messages", sa.Column("parent_id", sa.String(32), nullable=True))
    op.add_column("conversations", sa.Column("current_leaf_id", sa.String(32), nullable=True))
    op.execute(LINK_EXISTING)
    op.execute(NEWEST_IS_LEAF)
    # The siblings of a message, and the roots of a conversation (parent_id IS NULL).
    op.create_index(
        "ix_messages_conversation_id_parent", "messages", ["conversation_id", "parent_id", "seq"]
    )
    if op.get_context().dialect.name == "sqlite":
        op.execute(SQLITE_LEAF)
    else:
        op.execute(POSTGRES_LEAF)


def downgrade() -> None:
    # Back to one list per conversation: every branch's messages stay, in `seq` order.
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER messages_current_leaf")
    else:
        op.execute("DROP TRIGGER messages_current_leaf ON messages")
        op.execute("DROP FUNCTION messages_current_leaf()")
    op.drop_index("ix_messages_conversation_id_parent", table_name="messages")
    op.drop_column("conversations", "current_leaf_id")
    op.drop_column("messages", "parent_id")
