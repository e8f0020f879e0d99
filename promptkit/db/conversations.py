"""Conversations of a project: each is its starter's alone, in an organization's project too."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypedDict, cast

import sqlalchemy as sa

from . import projects
from .engine import Database, Prepared, new_id, now
from .owners import Owner, in_scope, prepared_scope
from .pagination import fetch_page
from .tables import conversations, messages, prompts
from .tables import projects as projects_table

COLUMNS = (
    conversations.c.id,
    conversations.c.project_id,
    conversations.c.title,
    conversations.c.created_at,
    conversations.c.updated_at,
)


class ConversationRow(TypedDict):
    """A conversation as the API shows it (`schemas.Conversation`): the columns of COLUMNS."""

    id: str
    project_id: str
    title: str
    created_at: datetime
    updated_at: datetime


def mine(owner: Owner) -> sa.ColumnElement[bool]:
    """The owner's conversations: their own, in a project they see now."""
    return sa.and_(
        conversations.c.owner_id == owner.user_id, in_scope(owner, conversations.c.project_id)
    )


def _mine(owner: Owner, conversation_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(conversations.c.id == conversation_id, mine(owner))


async def create(db: Database, owner: Owner, project_id: str, title: str) -> ConversationRow | None:
    """The new conversation, or None (nothing written) when the owner has no such project."""
    stamp = now()
    row = ConversationRow(
        id=new_id("cnv"), project_id=project_id, title=title, created_at=stamp, updated_at=stamp
    )
    if await db.fetch_one(projects.insert_under(conversations, owner, row)) is None:
        return None
    return row


async def list_page(
    db: Database, owner: Owner, project_id: str, *, limit: int, cursor: str | None
) -> tuple[list[ConversationRow], str | None]:
    query = sa.select(*COLUMNS).where(conversations.c.project_id == project_id, mine(owner))
    rows, next_cursor = await fetch_page(db, query, conversations, limit=limit, cursor=cursor)
    return cast(list[ConversationRow], rows), next_cursor


async def get(db: Database, owner: Owner, conversation_id: str) -> ConversationRow | None:
    row = await db.fetch_one(sa.select(*COLUMNS).where(_mine(owner, conversation_id)))
    return cast(ConversationRow | None, row)


async def retitle(
    db: Database, owner: Owner, conversation_id: str, title: str
) -> ConversationRow | None:
    query = (
        sa.update(conversations)
        .where(_mine(owner, conversation_id))
        .values(title=title, updated_at=now())
        .returning(*COLUMNS)
    )
    return cast(ConversationRow | None, await db.fetch_one(query))


async def name_untitled(db: Database, owner: Owner, conversation_id: str, title: str) -> bool:
    """Give the conversation `title` only if it has none yet; False when it has one (a user
    set it meanwhile) or is gone. The check and the write are one statement."""
    query = (
        sa.update(conversations)
        .where(_mine(owner, conversation_id), conversations.c.title == "")
        .values(title=title, updated_at=now())
        .returning(conversations.c.id)
    )
    return await db.fetch_one(query) is not None


async def delete(db: Database, owner: Owner, conversation_id: str) -> bool:
    query = (
        sa.delete(conversations).where(_mine(owner, conversation_id)).returning(conversations.c.id)
    )
    return await db.fetch_one(query) is not None


# The stream lease: one reply streams per conversation at a time, across every worker and
# machine. Taking it is one conditional UPDATE, so two racing requests cannot both win; a
# holder renews it while streaming, and the lease of a crashed process simply expires.
# A lease is named after the reply it streams, and a lease whose reply is stored is free:
# storing the reply ends it without one more statement. A stream that stores nothing
# releases its lease.


# Prepared: they run for every reply.
# The lease is free: nobody holds it, or the reply it names is stored.
_free = sa.or_(
    conversations.c.stream_lease.is_(None),
    sa.exists().where(messages.c.id == conversations.c.stream_lease),
)
_ours = sa.and_(
    conversations.c.id == sa.bindparam("conversation_id"),
    conversations.c.stream_lease == sa.bindparam("lease"),
)
_asked = conversations.alias("asked")
_project_of_asked = (
    sa.select(_asked.c.project_id)
    .where(_asked.c.id == sa.bindparam("conversation_id"))
    .scalar_subquery()
)


def _active_prompt(column: sa.Column[Any]) -> sa.ScalarSelect[Any]:
    """A column of the asked conversation's active prompt (through an alias of conversations,
    which SQLAlchemy does not correlate with the table being updated)."""
    return (
        sa.select(column)
        .where(
            prompts.c.project_id == _project_of_asked,
            prompts.c.is_active,
        )
        .scalar_subquery()
    )


TAKE_LEASE = Prepared(
    sa.update(conversations)
    .where(
        conversations.c.id == sa.bindparam("conversation_id"),
        conversations.c.owner_id == sa.bindparam("owner_id"),
        prepared_scope(conversations.c.project_id),
        _free,
    )
    # An expired lease whose reply is not stored is not taken here: its reply is stored
    # `partial` from its checkpoint first (`db.replies.settle_abandoned`).
    .values(
        stream_lease=sa.bindparam("lease"),
        stream_lease_expires_at=sa.bindparam("until"),
        stream_holder=sa.bindparam("holder"),
        stream_checkpoint=None,
    )
    .returning(
        *COLUMNS,
        # What the history read beside the lease must end with (see `take_stream_lease`).
        conversations.c.current_leaf_id,
        # The project's active prompt and its version, by the bound id too.
        *(
            _active_prompt(column).label(f"system_prompt_{column.key}")
            for column in (prompts.c.content, prompts.c.id, prompts.c.version)
        ),
        # The tools the project enabled, by the bound id too.
        sa.select(projects_table.c.tools)
        .where(
            projects_table.c.id
            == sa.select(conversations.c.project_id)
            .where(conversations.c.id == sa.bindparam("conversation_id"))
            .scalar_subquery()
        )
        .scalar_subquery()
        .label("project_tools"),
    )
)
RENEW_LEASE = Prepared(
    sa.update(conversations)
    .where(_ours)
    .values(stream_lease_expires_at=sa.bindparam("until"))
    .returning(conversations.c.id)
)
RELEASE_LEASE = Prepared(
    sa.update(conversations).where(_ours).values(stream_lease=None, stream_lease_expires_at=None)
)


class SystemPrompt(NamedTuple):
    content: str
    prompt_id: str
    version: int


class TakenLease(NamedTuple):
    conversation: dict[str, Any]
    current_leaf_id: str | None  # to check a history read done alongside the lease
    system_prompt: SystemPrompt | None  # the project's active prompt, if there is one
    tools: list[str] = []  # the names of the tools the project enabled


async def take_stream_lease(
    db: Database,
    owner: Owner,
    conversation_id: str,
    lease: str,
    seconds: float,
    holder: str | None = None,
) -> TakenLease | None:
    """Take the lease when it is free, and read what the reply needs besides the history;
    None when the conversation is absent (or another user's), busy, or its lease expired with
    its reply unstored (`db.replies.settle_abandoned` frees it). `holder` names the instance
    that streams the reply."""
    stamp = now()
    rows = await db.run(
        TAKE_LEASE,
        **owner.params(),
        conversation_id=conversation_id,
        lease=lease,
        until=stamp + timedelta(seconds=seconds),
        holder=holder,
    )
    if not rows:
        return None
    conversation = rows[0]
    leaf = conversation.pop("current_leaf_id")
    content, prompt_id, version = (
        conversation.pop(f"system_prompt_{key}") for key in ("content", "id", "version")
    )
    system = SystemPrompt(content, prompt_id, version) if prompt_id is not None else None
    tools = conversation.pop("project_tools")
    return TakenLease(conversation, leaf, system, tools or [])


async def renew_stream_lease(
    db: Database, conversation_id: str, lease: str, seconds: float
) -> bool:
    """Push the expiry back; False when the lease is no longer ours."""
    until = now() + timedelta(seconds=seconds)
    return bool(
        await db.run(RENEW_LEASE, conversation_id=conversation_id, lease=lease, until=until)
    )


async def release_stream_lease(db: Database, conversation_id: str, lease: str) -> None:
    """Free the conversation, only if the lease is still ours."""
    await db.run(RELEASE_LEASE, conversation_id=conversation_id, lease=lease)


async def switch_branch(
    db: Database, owner: Owner, conversation_id: str, message_id: str
) -> ConversationRow | None:
    """Make current the branch through `message_id`, down to its newest leaf (the newest of
    its descendants, or itself); the conversation, or None when nothing was changed: the
    message is not one of the owner's conversation's, or a reply is streaming there (the
    branch it is answered on must stay the shown one). One statement."""
    below = (
        sa.select(messages.c.id, messages.c.seq)
        .where(
            messages.c.id == message_id,
            messages.c.conversation_id == conversation_id,
            messages.c.owner_id == owner.user_id,
        )
        .cte("below", recursive=True)
    )
    child = messages.alias("child")
    below = below.union_all(
        sa.select(child.c.id, child.c.seq).where(child.c.parent_id == below.c.id)
    )
    newest_leaf = sa.select(below.c.id).order_by(below.c.seq.desc()).limit(1).scalar_subquery()
    query = (
        sa.update(conversations)
        .where(
            _mine(owner, conversation_id),
            _free,
            sa.exists().where(
                messages.c.id == message_id, messages.c.conversation_id == conversation_id
            ),
        )
        .values(current_leaf_id=newest_leaf)
        .returning(*COLUMNS)
    )
    return cast(ConversationRow | None, await db.fetch_one(query))
