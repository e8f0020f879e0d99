"""Messages gain `parts` (the AI SDK UIMessage parts), projects the `tools` they may call.

Existing messages get one text part holding their content. Plain `add_column` on `messages`:
a batch rebuild on SQLite would drop the full-text search triggers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("parts", sa.JSON, nullable=False, server_default="[]"))
    op.add_column("projects", sa.Column("tools", sa.JSON, nullable=False, server_default="[]"))
    if op.get_context().dialect.name == "postgresql":
        text_part = "json_build_array(json_build_object('type', 'text', 'text', content))"
    else:
        text_part = "json_array(json_object('type', 'text', 'text', content))"
    op.execute(f"UPDATE messages SET parts = {text_part} WHERE content <> ''")


def downgrade() -> None:
    op.drop_column("projects", "tools")
    op.drop_column("messages", "parts")
