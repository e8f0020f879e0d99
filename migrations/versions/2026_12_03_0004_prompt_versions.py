"""Prompt versions: every content a prompt has had, and the version each reply was answered by.

Each existing prompt gets its current content as version 1.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=32)
OWNER = sa.String(length=255)


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite 3.35+ drops columns too): rebuilding the
    # table, as Alembic's batch mode does, would drop the search triggers on `messages`.
    op.add_column("prompts", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "prompt_versions",
        sa.Column("prompt_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner_id", OWNER, nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", OWNER, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
            name="fk_prompt_versions_prompt_id_prompts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("prompt_id", "version", name="pk_prompt_versions"),
    )
    op.execute(
        "INSERT INTO prompt_versions"
        " (prompt_id, version, owner_id, content, created_by, created_at)"
        " SELECT id, 1, owner_id, content, owner_id, updated_at FROM prompts"
    )
    op.add_column("messages", sa.Column("prompt_id", ID, nullable=True))
    op.add_column("messages", sa.Column("prompt_version", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("prompt_variables", sa.JSON(), nullable=True))


def downgrade() -> None:
    for column in ("prompt_variables", "prompt_version", "prompt_id"):
        op.drop_column("messages", column)
    op.drop_table("prompt_versions")
    op.drop_column("prompts", "version")
