"""Prompts of a project; at most one is active (the system prompt)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from . import projects
from .engine import Database, new_id, now
from .pagination import fetch_page
from .tables import prompts

COLUMNS = (
    prompts.c.id,
    prompts.c.project_id,
    prompts.c.name,
    prompts.c.content,
    prompts.c.is_active,
    prompts.c.created_at,
    prompts.c.updated_at,
)


def _mine(owner_id: str, prompt_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(prompts.c.id == prompt_id, prompts.c.owner_id == owner_id)


class _Vanished(Exception):
    """Rolls a transaction back when its parent or its row went away under it."""


async def _deactivate_others(db: Database, project_id: str, keep_id: str) -> None:
    await db.execute(
        sa.update(prompts)
        .where(prompts.c.project_id == project_id, prompts.c.is_active, prompts.c.id != keep_id)
        .values(is_active=False, updated_at=now())
    )


async def create(
    db: Database, owner_id: str, project_id: str, *, name: str, content: str, is_active: bool
) -> dict[str, Any] | None:
    """The new prompt, or None (nothing written) when the owner has no such project."""
    stamp, prompt_id = now(), new_id("pmt")
    row = {
        "id": prompt_id,
        "project_id": project_id,
        "name": name,
        "content": content,
        "is_active": is_active,
        "created_at": stamp,
        "updated_at": stamp,
    }
    try:
        async with db.transaction():
            if is_active:
                if await projects.lock(db, owner_id, project_id) is None:
                    return None
                await _deactivate_others(db, project_id, prompt_id)
            if await db.fetch_one(projects.insert_under(prompts, owner_id, row)) is None:
                raise _Vanished
    except _Vanished:
        return None
    return row


async def list_page(
    db: Database, owner_id: str, project_id: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = sa.select(*COLUMNS).where(
        prompts.c.project_id == project_id, prompts.c.owner_id == owner_id
    )
    return await fetch_page(db, query, prompts, limit=limit, cursor=cursor)


async def get(db: Database, owner_id: str, prompt_id: str) -> dict[str, Any] | None:
    return await db.fetch_one(sa.select(*COLUMNS).where(_mine(owner_id, prompt_id)))


async def update(
    db: Database, owner_id: str, prompt_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    query = (
        sa.update(prompts)
        .where(_mine(owner_id, prompt_id))
        .values(**changes, updated_at=now())
        .returning(*COLUMNS)
    )
    return await db.fetch_one(query)


async def delete(db: Database, owner_id: str, prompt_id: str) -> bool:
    query = sa.delete(prompts).where(_mine(owner_id, prompt_id)).returning(prompts.c.id)
    return await db.fetch_one(query) is not None


async def activate(db: Database, owner_id: str, prompt_id: str) -> dict[str, Any] | None:
    """Make this the project's one active prompt, in one transaction under the project lock.

    Everything happens under the lock, the read included: a prompt deleted meanwhile rolls the
    deactivation of the others back, so the project never ends up with no active prompt.
    """
    of_prompt = sa.select(prompts.c.project_id).where(_mine(owner_id, prompt_id))
    try:
        async with db.transaction():
            project_id = await projects.lock(db, owner_id, of_prompt.scalar_subquery())
            if project_id is None:
                return None
            await _deactivate_others(db, project_id, prompt_id)
            row = await update(db, owner_id, prompt_id, {"is_active": True})
            if row is None:
                raise _Vanished
            return row
    except _Vanished:
        return None
