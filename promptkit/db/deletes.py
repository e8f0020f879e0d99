"""Deletes that say which messages went, for the `on_message_deleted` observers.

Used only when some plugin observes: otherwise a delete is the one statement it always was and
the database's cascade drops the messages unseen. Here the messages are deleted first, with
RETURNING, in the transaction that deletes their conversation or project, after locking what
they hang from: a message stored meanwhile waits for the delete and then finds its
conversation gone (see `messages.INSERT`), so none is dropped by the cascade unreported.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import sqlalchemy as sa

from . import files, projects
from .conversations import COLUMNS as CONVERSATION_COLUMNS
from .conversations import ConversationRow
from .conversations import mine as conversations_of
from .engine import Database
from .messages import COLUMNS as MESSAGE_COLUMNS
from .messages import MessageRow, shaped
from .owners import Owner
from .tables import conversations, messages
from .tables import projects as projects_table


class Deleted(NamedTuple):
    """A conversation that is gone, as it was, and its messages in their order."""

    conversation: ConversationRow
    messages: list[MessageRow]


class _KeepEverything(Exception):
    """Raised inside the transaction to roll it back: the project is not deleted after all."""


async def conversation(db: Database, owner: Owner, conversation_id: str) -> Deleted | None:
    """Delete the owner's conversation and its messages; None when there is no such one."""
    mine = sa.and_(conversations.c.id == conversation_id, conversations_of(owner))
    async with db.transaction():
        # A write first: SQLite takes its write lock at once (a read could not be upgraded
        # safely); then FOR UPDATE, which blocks a message's insert on PostgreSQL.
        touched = sa.update(conversations).where(mine).values(updated_at=conversations.c.updated_at)
        if await db.fetch_one(touched.returning(conversations.c.id)) is None:
            return None
        locked = sa.select(*CONVERSATION_COLUMNS).where(mine).with_for_update()
        row = cast(ConversationRow | None, await db.fetch_one(locked))
        assert row is not None  # locked just above
        gone = await _delete_messages(db, messages.c.conversation_id == conversation_id)
        await db.execute(sa.delete(conversations).where(mine))
    return Deleted(row, gone)


async def project_if_empty(
    db: Database, owner: Owner, project_id: str
) -> tuple[bool | None, list[Deleted]]:
    """`files.delete_project_if_empty`, and the conversations and messages that went with the
    project (none unless it was deleted: True): every member's, in an organization's project."""
    # The project's lock below is owner-scoped (and `files.delete_project_if_empty` checks the
    # role), so once it is held every conversation of the project is the deleter's to drop.
    mine = conversations.c.project_id == project_id
    try:
        async with db.transaction():
            if await projects.lock(db, owner, project_id) is None:
                return None, []
            # Blocks a new conversation (PostgreSQL; SQLite has one writer), then a new message.
            await db.execute(
                sa.select(projects_table.c.id)
                .where(projects_table.c.id == project_id)
                .with_for_update()
            )
            locked = (
                sa.select(*CONVERSATION_COLUMNS)
                .where(mine)
                .order_by(conversations.c.created_at, conversations.c.id)
                .with_for_update()
            )
            rows = cast(list[ConversationRow], await db.fetch_all(locked))
            in_project = messages.c.conversation_id.in_(sa.select(conversations.c.id).where(mine))
            gone = await _delete_messages(db, in_project)
            deleted = await files.delete_project_if_empty(db, owner, project_id)
            if not deleted:
                raise _KeepEverything
    except _KeepEverything:
        return deleted, []
    by_conversation: dict[str, list[MessageRow]] = {row["id"]: [] for row in rows}
    for message in gone:
        by_conversation[message["conversation_id"]].append(message)
    return True, [Deleted(row, by_conversation[row["id"]]) for row in rows]


async def _delete_messages(db: Database, which: sa.ColumnElement[bool]) -> list[MessageRow]:
    """Delete the messages that `which` selects (within what the caller has locked as theirs):
    each as the API shapes it, in order."""
    query = sa.delete(messages).where(which).returning(*MESSAGE_COLUMNS, messages.c.seq)
    rows = sorted(await db.fetch_all(query), key=lambda row: row.pop("seq"))
    return [shaped(row) for row in rows]
