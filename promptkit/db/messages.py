"""Messages of a conversation: a tree, read as its current branch, oldest first.

Every message names the one it follows (`parent_id`, null for a first message); an edit or a
regeneration is a sibling of the message it replaces. The current branch is the path from a
first message down to the conversation's current leaf (`conversations.current_leaf_id`): one
recursive query up the `parent_id` links, the same on both databases.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict, cast

import sqlalchemy as sa

from ..errors import NotFound
from .engine import Database, Prepared, new_id, now
from .owners import Owner, in_scope, prepared_scope
from .pagination import decode_sequence, encode_sequence, fetch_sequence_page
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
    messages.c.parent_id,
    messages.c.created_at,
)
Columns = Callable[[Any], list[Any]]  # the columns of `messages` or of an alias of it


def leaf_of(conversation_id: Any, owner_id: Any) -> sa.ScalarSelect[Any]:
    """The owner's conversation's current leaf, as a scalar subquery."""
    return (
        sa.select(conversations.c.current_leaf_id)
        .where(conversations.c.id == conversation_id, conversations.c.owner_id == owner_id)
        .scalar_subquery()
    )


def up_from(
    end: Any,
    conversation_id: Any,
    mine: sa.ColumnElement[bool],
    columns: Columns,
    limit: Any = None,
) -> sa.CTE:
    """The branch that ends at the message `end`, as a recursive CTE of `columns(table)` (they
    include `parent_id`) and `depth`: 0 for `end`, 1 for its parent, up to the first message;
    at most `limit` rows when given. Empty when `end` is not a message of the owner's
    conversation: the anchor is owner-checked (`mine`, on `messages`), and a parent is always
    of the same conversation."""
    anchor = sa.select(*columns(messages), sa.literal_column("0", sa.Integer).label("depth")).where(
        messages.c.id == end, messages.c.conversation_id == conversation_id, mine
    )
    branch = anchor.cte("branch", recursive=True)
    parent = messages.alias("parent")
    depth = branch.c.depth + sa.literal_column("1", sa.Integer)
    step = sa.select(*columns(parent), depth).where(parent.c.id == branch.c.parent_id)
    if limit is not None:
        step = step.where(depth < limit)
    return branch.union_all(step)


def _turn_columns(table: Any) -> list[Any]:
    return [
        table.c.id,
        table.c.role,
        table.c.content,
        # As JSON text, decoded only by a turn that has tools (`chat.history.expand_history`).
        sa.type_coerce(table.c.parts, sa.Text).label("parts"),
        table.c.parent_id,
    ]


class MessagePromptRow(TypedDict):
    """The system prompt an assistant message was answered by: its id, version, variables."""

    id: str
    version: int
    variables: dict[str, str]


class BranchRow(TypedDict):
    """A message's place among its siblings: 1-based, and how many there are."""

    index: int
    count: int


class MessageRow(TypedDict):
    """A message as the API shows it (`schemas.Message`); a test keeps the two in step."""

    id: str
    conversation_id: str
    parent_id: str | None
    role: Literal["user", "assistant"]
    content: str
    status: Literal["complete", "partial", "error"]
    model: str | None
    usage: dict[str, Any] | None
    prompt: MessagePromptRow | None
    parts: list[dict[str, Any]]
    branch: NotRequired[BranchRow]  # in the lists of messages only
    created_at: datetime


class RecentRow(TypedDict):
    """What a chat turn reads of a message of its history."""

    id: str
    role: str
    content: str
    parts: str  # JSON text, decoded only by a turn that has tools
    parent_id: str | None


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
# `seq` is left to the database (see the table); a trigger makes the new message the
# conversation's current leaf (migration 0010).
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
# The newest `limit` messages of a branch, newest first: the branch that ends at `end`, or at
# the conversation's current leaf when `end` is null.
_turn_branch = up_from(
    sa.func.coalesce(
        sa.bindparam("end", type_=messages.c.id.type),
        leaf_of(sa.bindparam("conversation_id"), sa.bindparam("owner_id")),
    ),
    sa.bindparam("conversation_id"),
    sa.and_(
        messages.c.owner_id == sa.bindparam("owner_id"),
        sa.exists().where(
            conversations.c.id == messages.c.conversation_id,
            prepared_scope(conversations.c.project_id),
        ),
    ),
    _turn_columns,
    sa.bindparam("limit", type_=sa.Integer),
)
RECENT = Prepared(
    sa.select(*(column for column in _turn_branch.c if column.key != "depth"))
    .order_by(_turn_branch.c.depth)
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
# Most conversations were never edited: their newest messages by `seq`, one index range scan,
# are their branch. RECENT_BY_SEQ reads them with the current leaf, and `recent` checks that
# they chain up from it; only a conversation where they do not walks the branch (RECENT). On
# SQLite, which runs in the server's process, walking 50 messages costs about 8 % more
# instructions per reply than the scan (docs/performance.md, "Branches").
RECENT_BY_SEQ = Prepared(
    sa.select(
        *_turn_columns(messages),
        leaf_of(sa.bindparam("conversation_id"), sa.bindparam("owner_id")).label("leaf"),
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


def _is_the_branch(newest_first: list[dict[str, Any]], limit: int) -> bool:
    """True when the newest messages by `seq` are the current branch's: the newest is the
    current leaf and each follows the next. A parent is always older than its child, so such
    a chain is the leaf's ancestors in order; fewer than `limit` must reach the first message."""
    if not newest_first:
        return True
    if newest_first[0]["id"] != newest_first[0]["leaf"]:
        return False
    for newer, older in itertools.pairwise(newest_first):
        if newer["parent_id"] != older["id"]:
            return False
    return len(newest_first) == limit or newest_first[-1]["parent_id"] is None


def _placed(row: Any) -> list[Any]:
    """Columns for each `row` (of `messages`, or of a query with its columns): its 1-based
    place among its siblings (the messages with the same parent; the first messages of a
    conversation are siblings too), and their count. Each is an index lookup on
    (conversation_id, parent_id, seq), for the rows that a page returns."""
    sibling = messages.alias("sibling")

    def siblings(*where: Any) -> Any:
        def counted(same_parent: Any) -> Any:
            return (
                sa.select(sa.func.count())
                .where(sibling.c.conversation_id == row.c.conversation_id, same_parent, *where)
                .scalar_subquery()
            )

        # Two queries, one per case, so that each can use the index (`IS NOT DISTINCT FROM`
        # cannot on PostgreSQL).
        return sa.case(
            (row.c.parent_id.is_(None), counted(sibling.c.parent_id.is_(None))),
            else_=counted(sibling.c.parent_id == row.c.parent_id),
        )

    return [
        siblings(sibling.c.seq <= row.c.seq).label("branch_index"),
        siblings().label("branch_count"),
    ]


async def list_page(
    db: Database, owner: Owner, conversation_id: str, *, limit: int, cursor: str | None
) -> tuple[list[MessageRow], str | None]:
    """A page of the current branch, oldest first, each message with its place among its
    siblings."""
    branch = up_from(
        leaf_of(conversation_id, owner.user_id),
        conversation_id,
        _of_owner(owner),
        lambda table: [*(table.c[column.name] for column in COLUMNS), table.c.seq],
    )
    query = sa.select(*(branch.c[column.name] for column in COLUMNS))
    if cursor is not None:
        query = query.where(branch.c.seq > decode_sequence(cursor))
    # The page first, then the places of its messages only.
    page = query.add_columns(branch.c.seq).order_by(branch.c.seq).limit(limit + 1).subquery()
    rows = await db.fetch_all(sa.select(*page.c, *_placed(page)).order_by(page.c.seq))
    positions = [row.pop("seq") for row in rows]
    next_cursor = encode_sequence(positions[limit - 1]) if len(rows) > limit else None
    return [shaped(row) for row in rows[:limit]], next_cursor


async def tree_page(
    db: Database, owner: Owner, conversation_id: str, *, limit: int, cursor: str | None
) -> tuple[list[MessageRow], str | None]:
    """A page of every message of the conversation, every branch, oldest first."""
    query = sa.select(*COLUMNS, *_placed(messages)).where(
        messages.c.conversation_id == conversation_id, _of_owner(owner)
    )
    rows, next_cursor = await fetch_sequence_page(
        db, query, messages.c.seq, limit=limit, cursor=cursor
    )
    return [shaped(row) for row in rows], next_cursor


def shaped(row: dict[str, Any]) -> MessageRow:
    """The API's Message: the prompt columns become `prompt: {id, version, variables} | null`,
    the sibling columns (when read) `branch: {index, count}`."""
    prompt_id = row["prompt_id"]
    prompt = None
    if prompt_id is not None:
        variables = row["prompt_variables"] or {}
        prompt = MessagePromptRow(id=prompt_id, version=row["prompt_version"], variables=variables)
    message = MessageRow(
        id=row["id"],
        conversation_id=row["conversation_id"],
        parent_id=row["parent_id"],
        role=row["role"],
        content=row["content"],
        status=row["status"],
        model=row["model"],
        usage=row["usage"],
        prompt=prompt,
        parts=row["parts"],
        created_at=row["created_at"],
    )
    if "branch_index" in row:
        message["branch"] = BranchRow(index=row["branch_index"], count=row["branch_count"])
    return message


async def with_place(db: Database, message: dict[str, Any]) -> dict[str, Any]:
    """`message` (as `shaped` gives it) with its `branch` place among its siblings."""
    row = await db.fetch_one(sa.select(*_placed(messages)).where(messages.c.id == message["id"]))
    if row is not None:
        message["branch"] = {"index": row["branch_index"], "count": row["branch_count"]}
    return message


async def locate(db: Database, owner: Owner, message_id: str) -> str | None:
    """The conversation of one of the owner's messages; None when the owner has no such one."""
    row = await db.fetch_one(
        sa.select(messages.c.conversation_id).where(messages.c.id == message_id, _of_owner(owner))
    )
    return row["conversation_id"] if row is not None else None


async def insert(
    db: Database,
    owner: Owner,
    conversation_id: str,
    *,
    role: str,
    content: str,
    status: str,
    parent_id: str | None,
    model: str | None = None,
    usage: dict[str, int] | None = None,
    message_id: str | None = None,
    prompt: tuple[str, int, dict[str, str]] | None = None,
    parts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # a MessageRow, once the chat path that keeps it takes one
    """Store one message after `parent_id` (None: a first message); it becomes the
    conversation's current leaf. Returns it as the API shapes it. `prompt` is the id, version
    and filled variables of the system prompt that an assistant message was answered by.
    `parts` defaults to one text part holding `content`.
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
        "parent_id": parent_id,
        "created_at": now(),
    }
    if not await db.run(INSERT, **owner.params(), **row):
        raise NotFound("conversation not found")
    return cast(dict[str, Any], shaped(row))


async def recent(
    db: Database, owner: Owner, conversation_id: str, *, limit: int, end: str | None = None
) -> list[RecentRow]:
    """The newest `limit` messages of the current branch, newest first, or of the branch that
    ends at the message `end`: `id`, `role`, `content`, `parts` as JSON text, `parent_id`.
    Empty when `end` is not a message of the owner's conversation.

    Only what a chat turn reads: this runs before every reply, over up to `limit` rows.
    """
    scope = owner.params()
    if end is None:
        rows = await db.run(RECENT_BY_SEQ, **scope, conversation_id=conversation_id, limit=limit)
        if _is_the_branch(rows, limit):
            for row in rows:
                del row["leaf"]
            return rows  # type: ignore[return-value]  # the columns of RecentRow
    rows = await db.run(RECENT, **scope, conversation_id=conversation_id, limit=limit, end=end)
    return rows  # type: ignore[return-value]  # RECENT selects exactly these columns
