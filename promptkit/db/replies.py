"""Replies in flight, seen from the conversation's stream lease: which one streams, where, what
it had produced at its last checkpoint, and storing the reply of an instance that died.

A reply is in flight while its conversation's lease names it, has not expired, and no message
with its id is stored (see `conversations`: storing the reply ends the lease).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple, TypedDict, cast

import sqlalchemy as sa

from ..errors import NotFound
from . import conversations as conversations_db
from . import messages as messages_db
from .engine import Database, Prepared, now
from .owners import Owner
from .tables import conversations, messages, projects

# How far back the sweep looks for expired leases: older ones are settled when their
# conversation is next used (a `/chat`, a resume, a stop).
SWEEP_WINDOW = timedelta(minutes=10)


class InFlight(NamedTuple):
    reply_id: str  # the lease, named after the reply
    holder: str | None  # the instance that streams it
    expired: bool  # its instance stopped renewing it: it died or lost the database
    checkpoint: dict[str, Any] | None


_stored = sa.exists().where(messages.c.id == conversations.c.stream_lease)

CHECKPOINT = Prepared(
    sa.update(conversations)
    .where(
        conversations.c.id == sa.bindparam("conversation_id"),
        conversations.c.stream_lease == sa.bindparam("lease"),
    )
    .values(
        stream_lease_expires_at=sa.bindparam("until"),
        stream_checkpoint=sa.bindparam("checkpoint", type_=sa.JSON),
    )
    .returning(conversations.c.id)
)


async def in_flight(db: Database, owner: Owner, conversation_id: str) -> InFlight | None:
    """The reply streaming in the owner's conversation, or None; NotFound when the owner has
    no such conversation."""
    row = await db.fetch_one(
        sa.select(
            conversations.c.stream_lease,
            conversations.c.stream_holder,
            conversations.c.stream_checkpoint,
            (conversations.c.stream_lease_expires_at < now()).label("expired"),
            _stored.label("stored"),
        ).where(conversations.c.id == conversation_id, conversations_db.mine(owner))
    )
    if row is None:
        raise NotFound("conversation not found")
    if row["stream_lease"] is None or row["stored"]:
        return None
    return InFlight(
        row["stream_lease"], row["stream_holder"], bool(row["expired"]), row["stream_checkpoint"]
    )


async def checkpoint(
    db: Database, conversation_id: str, lease: str, seconds: float, saved: dict[str, Any]
) -> bool:
    """Renew the lease and record what the reply has produced; False when it is not ours."""
    until = now() + timedelta(seconds=seconds)
    rows = await db.run(
        CHECKPOINT, conversation_id=conversation_id, lease=lease, until=until, checkpoint=saved
    )
    return bool(rows)


async def message(db: Database, owner: Owner, message_id: str) -> dict[str, Any] | None:
    """One of the owner's messages, shaped as the API shows it."""
    row = await db.fetch_one(
        sa.select(*messages_db.COLUMNS).where(
            messages.c.id == message_id,
            messages.c.owner_id == owner.user_id,
            sa.exists().where(
                conversations.c.id == messages.c.conversation_id, conversations_db.mine(owner)
            ),
        )
    )
    # A `MessageRow`, typed as the stored reply it stands in for (`messages.insert`).
    return cast(dict[str, Any], messages_db.shaped(row)) if row is not None else None


async def settle_abandoned(
    db: Database,
    owner: Owner,
    conversation_id: str,
    reply_id: str,
    content: str,
    checkpoint: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """Store the reply of an expired lease as `partial` with `content` (nothing when empty;
    model, prompt and the message it answers from `checkpoint`) and free the conversation,
    in one transaction; the stored message, or None.

    Freeing is a conditional UPDATE of the lease, so of two instances settling the same
    reply at once one does it and the other finds nothing to do.
    """
    async with db.transaction():
        row = await db.fetch_one(
            sa.update(conversations)
            .where(
                conversations.c.id == conversation_id,
                conversations_db.mine(owner),
                conversations.c.stream_lease == reply_id,
                conversations.c.stream_lease_expires_at < now(),
                ~_stored,
            )
            .values(
                stream_lease=None,
                stream_lease_expires_at=None,
                stream_holder=None,
                stream_checkpoint=None,
            )
            .returning(conversations.c.current_leaf_id)
        )
        if row is None or not content:
            return None
        saved = checkpoint or {}
        # The user message it answers. A checkpoint written before branches did not say; the
        # lease kept the branch from being switched, so that message is the leaf, or the
        # leaf's parent when the leaf is the reply being answered again (a regeneration).
        parent_id = saved.get("parent_id") or await _question_at(db, row["current_leaf_id"])
        prompt = saved.get("prompt")
        stored = await messages_db.insert(
            db,
            owner,
            conversation_id,
            role="assistant",
            content=content,
            status="partial",
            model=saved.get("model"),
            message_id=reply_id,
            prompt=(prompt[0], prompt[1], prompt[2]) if prompt else None,
            parent_id=parent_id,
        )
    return stored


async def _question_at(db: Database, leaf_id: str | None) -> str | None:
    row = await db.fetch_one(
        sa.select(messages.c.role, messages.c.parent_id).where(messages.c.id == leaf_id)
    )
    if row is None:
        return None
    return leaf_id if row["role"] == "user" else row["parent_id"]


class AbandonedRow(TypedDict):
    """A conversation whose lease expired with its reply unstored, and who started it."""

    id: str
    owner: Owner
    stream_lease: str
    stream_checkpoint: dict[str, Any] | None


async def recently_abandoned(db: Database, *, limit: int = 50) -> list[AbandonedRow]:
    """Conversations whose lease expired lately with its reply unstored, of every owner (the
    sweep settles each under its own owner)."""
    stamp = now()
    rows = await db.fetch_all(
        sa.select(
            conversations.c.id,
            conversations.c.owner_id,
            projects.c.owner_kind.label("project_owner_kind"),
            projects.c.owner_id.label("project_owner_id"),
            conversations.c.stream_lease,
            conversations.c.stream_checkpoint,
        )
        .join(projects, projects.c.id == conversations.c.project_id)
        .where(
            conversations.c.stream_lease_expires_at < stamp,
            conversations.c.stream_lease_expires_at > stamp - SWEEP_WINDOW,
            conversations.c.stream_lease.is_not(None),
            ~_stored,
        )
        .limit(limit)
    )
    abandoned = []
    for row in rows:
        organization = row["project_owner_id"]
        is_org = row["project_owner_kind"] == "organization"
        # The starter as a member of the project's organization: enough to store their reply.
        owner = Owner(row["owner_id"], organization if is_org else None, "member")
        abandoned.append(
            AbandonedRow(
                id=row["id"],
                owner=owner,
                stream_lease=row["stream_lease"],
                stream_checkpoint=row["stream_checkpoint"],
            )
        )
    return abandoned
