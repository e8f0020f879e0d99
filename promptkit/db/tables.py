"""The schema: SQLAlchemy Core tables on one MetaData. Alembic migrates to exactly this."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = sa.String(32)
OWNER = sa.String(255)
NAME_MAX = 200


def _timestamp(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _parent(table: str) -> sa.Column[str]:
    return sa.Column(
        f"{table[:-1]}_id", ID, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False
    )


projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # "user" (a personal project, `owner_id` its user) or "organization" (`owner_id` the
    # organization's id); see promptkit/db/owners.py.
    sa.Column("owner_kind", sa.String(16), nullable=False, server_default="user"),
    sa.Column("owner_id", OWNER, nullable=False),
    sa.Column("name", sa.String(NAME_MAX), nullable=False),
    # The names of the registered tools the project's chats may call.
    sa.Column("tools", sa.JSON, nullable=False, server_default="[]"),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    sa.Index("ix_projects_owner_created", "owner_kind", "owner_id", "created_at", "id"),
)

prompts = sa.Table(
    "prompts",
    metadata,
    sa.Column("id", ID, primary_key=True),
    _parent("projects"),
    sa.Column("owner_id", OWNER, nullable=False),
    sa.Column("name", sa.String(NAME_MAX), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, default=False),
    # The number of the newest row of `prompt_versions`, whose content `content` is.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    sa.Index("ix_prompts_project_created", "project_id", "created_at", "id"),
    sa.Index("ix_prompts_owner", "owner_id"),
    # At most one active prompt per project, enforced by the database itself.
    sa.Index(
        "uq_prompts_one_active_per_project",
        "project_id",
        unique=True,
        postgresql_where=sa.text("is_active"),
        sqlite_where=sa.text("is_active"),
    ),
)

# Every content a prompt has had, numbered from 1; never updated, only added to.
prompt_versions = sa.Table(
    "prompt_versions",
    metadata,
    sa.Column("prompt_id", ID, sa.ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("owner_id", OWNER, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("created_by", OWNER, nullable=False),
    _timestamp("created_at"),
)

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", ID, primary_key=True),
    _parent("projects"),
    sa.Column("owner_id", OWNER, nullable=False),
    sa.Column("title", sa.String(NAME_MAX), nullable=False, default=""),
    # A lease held while a reply streams: one stream per conversation, across every worker.
    # A crashed stream's lease simply expires.
    sa.Column("stream_lease", sa.String(32), nullable=True),
    sa.Column("stream_lease_expires_at", sa.DateTime(timezone=True), nullable=True),
    # The instance that streams the reply, and what it had produced at its last checkpoint
    # (`{"content", "model", "prompt", "parent_id"}`): another instance stores it as `partial`
    # when the lease expires.
    sa.Column("stream_holder", sa.String(64), nullable=True),
    sa.Column("stream_checkpoint", sa.JSON, nullable=True),
    # The last message of the current branch (see `messages.parent_id`). A trigger makes each
    # inserted message the leaf (migration 0010); `POST /conversations/{id}/branch` moves it.
    sa.Column("current_leaf_id", ID, nullable=True),
    _timestamp("created_at"),
    _timestamp("updated_at"),
    sa.Index("ix_conversations_project_created", "project_id", "created_at", "id"),
    sa.Index("ix_conversations_owner", "owner_id"),
    sa.Index("ix_conversations_stream_lease_expires_at", "stream_lease_expires_at"),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    _parent("conversations"),
    sa.Column("owner_id", OWNER, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("model", sa.String(200), nullable=True),
    sa.Column("usage", sa.JSON, nullable=True),
    # Assistant messages: the prompt version that was the system prompt, and the variables
    # filled into it. No foreign key: a reply keeps its trace when the prompt is deleted.
    sa.Column("prompt_id", ID, nullable=True),
    sa.Column("prompt_version", sa.Integer, nullable=True),
    sa.Column("prompt_variables", sa.JSON, nullable=True),
    # The AI SDK UIMessage parts (text, reasoning, tool calls, step starts); `content` is the text.
    sa.Column("parts", sa.JSON, nullable=False, server_default="[]"),
    _timestamp("created_at"),
    # The order of a conversation: given by the database as each row is inserted (an identity
    # on PostgreSQL, a trigger on SQLite; see migration 0005), never by a process's clock.
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
    # The message this one follows, null for a first one: a conversation is a tree, whose
    # edits and regenerations are siblings. No foreign key: messages go only with their
    # conversation, and the code stores a parent of the same conversation.
    sa.Column("parent_id", ID, nullable=True),
    sa.Index("uq_messages_conversation_seq", "conversation_id", "seq", unique=True),
    # The children of a message, in order, and the roots of a conversation (parent_id NULL).
    sa.Index("ix_messages_conversation_id_parent", "conversation_id", "parent_id", "seq"),
    sa.Index("ix_messages_owner", "owner_id"),
)

file_metadata = sa.Table(
    "file_metadata",
    metadata,
    sa.Column("id", ID, primary_key=True),
    _parent("projects"),
    sa.Column("owner_id", OWNER, nullable=False),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.String(255), nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("provider_file_id", sa.String(255), nullable=False),
    _timestamp("created_at"),
    sa.Index("ix_file_metadata_project_created", "project_id", "created_at", "id"),
    sa.Index("ix_file_metadata_owner", "owner_id"),
)
