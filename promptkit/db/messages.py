"""Messages of a conversation, oldest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypedDict, cast

import sqlalchemy as sa

from ..errors import NotFound
from .engine import Database, Prepared, new_id, now
from .owners import Owner, in_scope, prepared_scope
from .pagination import fetch_sequence_page
from .tables import conversations, messages

COLUMNS = (
    messages.c.id,
    messages.c.conversation_id,
    messages.c.role,
    messages.c.content,
    messages.c.status,
    messages.c.model,
    messages.c.usage,
    messages.c.prompt_id,
    messages.c.prompt_version,
    messages.c.prompt_variables,
    messages.c.parts,
    messages.c.created_at,
)


class MessagePromptRow(TypedDict):
    """The system prompt an assistant message was answered by: its id, version, variables."""

    id: str
    version: int
    variables: dict[str, str]


class MessageRow(TypedDict):
    """A message as the API shows it (`schemas.Message`); a test keeps the two in step."""

    id: str
    conversation_id: str
    role: Literal["user", "assistant"]
    content: str
    status: Literal["complete", "partial", "error"]
    model: str | None
    usage: dict[str, Any] | None
    prompt: MessagePromptRow | None
    parts: list[dict[str, Any]]
    created_at: datetime


class RecentRow(TypedDict):
    """What a chat turn reads of a message of its history."""

    id: str
    role: str
    content: str
    parts: str  # JSON text, decoded only by a turn that has tools


def _of_owner(owner: Owner) -> sa.ColumnElement[bool]:
    """The owner's messages: theirs, in a conversation of a project they see now."""
    return sa.and_(
        messages.c.owner_id == owner.user_id,
        sa.exists().where(
            conversations.c.id == messages.c.conversation_id,
            in_scope(owner, conversations.c.project_id),
        ),
    )


# Prepared: they run for every reply.
# INSERT: every column a placeholder named after it, written only while the owner's
# conversation exists, in the one statement. FOR KEY SHARE (PostgreSQL) waits for a delete of
# the conversation in flight and then sees it gone, where the foreign key would raise instead.
# `seq` is left to the database (see the table).
WRITTEN = [column for column in messages.c if column.key != "seq"]
INSERT = Prepared(
    sa.insert(messages)
    .from_select(
        [column.name for column in WRITTEN],
        sa.select(*(sa.bindparam(column.name, type_=column.type) for column in WRITTEN))
        .where(
            conversations.c.id == sa.bindparam("conversation_id"),
            conversations.c.owner_id == sa.bindparam("owner_id"),
            prepared_scope(conversations.c.project_id),
        )
        .with_for_update(key_share=True),
    )
    .returning(messages.c.id)
)
RECENT = Prepared(
    sa.select(
        messages.c.id,
        messages.c.role,
        messages.c.content,
        # As JSON text, decoded only by a turn that has tools (`tool_loop.history`).
        sa.type_coerce(messages.c.parts, sa.Text).label("parts"),
    )
    .where(
        messages.c.conversation_id == sa.bindparam("conversation_id"),
        messages.c.owner_id == sa.bindparam("owner_id"),
        sa.exists().where(
            conversations.c.id == messages.c.conversation_id,
            prepared_scope(conversations.c.project_id),
        ),
    )
    .order_by(messages.c.seq.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)


async def list_page(
    db: Database, owner: Owner, conversation_id: str, *, limit: int, cursor: str | None
) -> tuple[list[MessageRow], str | None]:
    query = sa.select(*COLUMNS).where(
        messages.c.conversation_id == conversation_id, _of_owner(owner)
    )
    rows, next_cursor = await fetch_sequence_page(
        db, query, messages.c.seq, limit=limit, cursor=cursor
    )
    return [shaped(row) for row in rows], next_cursor


def shaped(row: dict[str, Any]) -> MessageRow:
    """The API's Message: the prompt columns become `prompt: {id, version, variables} | null`."""
    prompt_id = row["prompt_id"]
    prompt = None
    if prompt_id is not None:
        variables = row["prompt_variables"] or {}
        prompt = MessagePromptRow(id=prompt_id, version=row["prompt_version"], variables=variables)
    return MessageRow(
        id=row["id"],
        conversation_id=row["conversation_id"],
        role=row["role"],
        content=row["content"],
        status=row["status"],
        model=row["model"],
        usage=row["usage"],
        prompt=prompt,
        parts=row["parts"],
        created_at=row["created_at"],
    )


async def insert(
    db: Database,
    owner: Owner,
    conversation_id: str,
    *,
    role: str,
    content: str,
    status: str,
    model: str | None = None,
    usage: dict[str, int] | None = None,
    message_id: str | None = None,
    prompt: tuple[str, int, dict[str, str]] | None = None,
    parts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # a MessageRow, once the chat path that keeps it takes one
    """Store one message; returns it as the API shapes it. `prompt` is the id, version and
    filled variables of the system prompt that an assistant message was answered by. `parts`
    defaults to one text part holding `content`.
    NotFound when the owner's conversation is gone (deleted meanwhile): nothing is written."""
    row = {
        "id": message_id or new_id("msg"),
        "conversation_id": conversation_id,
        "role": role,
        "content": content,
        "status": status,
        "model": model,
        "usage": usage,
        "prompt_id": prompt[0] if prompt else None,
        "prompt_version": prompt[1] if prompt else None,
        "prompt_variables": (prompt[2] or None) if prompt else None,
        "parts": [{"type": "text", "text": content}] if parts is None and content else parts or [],
        "created_at": now(),
    }
    if not await db.run(INSERT, **owner.params(), **row):
        raise NotFound("conversation not found")
    return cast(dict[str, Any], shaped(row))


async def recent(
    db: Database, owner: Owner, conversation_id: str, *, limit: int
) -> list[RecentRow]:
    """The newest `limit` messages of a conversation, newest first: `id`, `role`, `content`,
    and `parts` as JSON text.

    Only what a chat turn reads: this runs before every reply, over up to `limit` rows.
    """
    rows = await db.run(RECENT, **owner.params(), conversation_id=conversation_id, limit=limit)
    return rows  # type: ignore[return-value]  # RECENT selects exactly these columns


async def delete_many(db: Database, owner: Owner, message_ids: list[str]) -> None:
    # One statement each (a regenerated reply usually replaces one): `Database` runs no IN lists.
    for message_id in message_ids:
        await db.execute(sa.delete(messages).where(messages.c.id == message_id, _of_owner(owner)))
