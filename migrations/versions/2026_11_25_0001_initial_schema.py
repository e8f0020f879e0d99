"""Initial schema: projects, prompts, conversations, messages, file_metadata.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=32)
OWNER = sa.String(length=255)


def _timestamp(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _parent(child: str, parent: str) -> list[sa.Column | sa.ForeignKeyConstraint]:
    column = f"{parent[:-1]}_id"
    return [
        sa.Column(column, ID, nullable=False),
        sa.ForeignKeyConstraint(
            [column], [f"{parent}.id"], name=f"fk_{child}_{column}_{parent}", ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", ID, nullable=False),
        sa.Column("owner_id", OWNER, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
    )
    op.create_index("ix_projects_owner_created", "projects", ["owner_id", "created_at", "id"])

    op.create_table(
        "prompts",
        sa.Column("id", ID, nullable=False),
        *_parent("prompts", "projects"),
        sa.Column("owner_id", OWNER, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_prompts"),
    )
    op.create_index("ix_prompts_project_created", "prompts", ["project_id", "created_at", "id"])
    op.create_index("ix_prompts_owner", "prompts", ["owner_id"])
    op.create_index(
        "uq_prompts_one_active_per_project",
        "prompts",
        ["project_id"],
        unique=True,
        postgresql_where=sa.text("is_active"),
        sqlite_where=sa.text("is_active"),
    )

    op.create_table(
        "conversations",
        sa.Column("id", ID, nullable=False),
        *_parent("conversations", "projects"),
        sa.Column("owner_id", OWNER, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("stream_lease", sa.String(length=32), nullable=True),
        sa.Column("stream_lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_conversations"),
    )
    op.create_index(
        "ix_conversations_project_created", "conversations", ["project_id", "created_at", "id"]
    )
    op.create_index("ix_conversations_owner", "conversations", ["owner_id"])

    op.create_table(
        "messages",
        sa.Column("id", ID, nullable=False),
        *_parent("messages", "conversations"),
        sa.Column("owner_id", OWNER, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("usage", sa.JSON(), nullable=True),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
    )
    op.create_index(
        "ix_messages_conversation_created", "messages", ["conversation_id", "created_at", "id"]
    )
    op.create_index("ix_messages_owner", "messages", ["owner_id"])

    op.create_table(
        "file_metadata",
        sa.Column("id", ID, nullable=False),
        *_parent("file_metadata", "projects"),
        sa.Column("owner_id", OWNER, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("provider_file_id", sa.String(length=255), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_file_metadata"),
    )
    op.create_index(
        "ix_file_metadata_project_created", "file_metadata", ["project_id", "created_at", "id"]
    )
    op.create_index("ix_file_metadata_owner", "file_metadata", ["owner_id"])


def downgrade() -> None:
    for table in ("file_metadata", "messages", "conversations", "prompts", "projects"):
        op.drop_table(table)
