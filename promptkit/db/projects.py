"""Projects: the root of everything a user owns."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .engine import Database, new_id, now
from .pagination import fetch_page
from .tables import projects

COLUMNS = (
    projects.c.id,
    projects.c.name,
    projects.c.tools,
    projects.c.created_at,
    projects.c.updated_at,
)


def _mine(owner_id: str, project_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(projects.c.id == project_id, projects.c.owner_id == owner_id)


async def create(db: Database, owner_id: str, name: str) -> dict[str, Any]:
    stamp = now()
    row = {"id": new_id("prj"), "name": name, "created_at": stamp, "updated_at": stamp}
    await db.execute(sa.insert(projects).values(owner_id=owner_id, tools=[], **row))
    return {**row, "tools": []}


async def list_page(
    db: Database, owner_id: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = sa.select(*COLUMNS).where(projects.c.owner_id == owner_id)
    return await fetch_page(db, query, projects, limit=limit, cursor=cursor)


async def get(db: Database, owner_id: str, project_id: str) -> dict[str, Any] | None:
    return await db.fetch_one(sa.select(*COLUMNS).where(_mine(owner_id, project_id)))


async def update(
    db: Database, owner_id: str, project_id: str, changes: dict[str, Any]
) -> dict[str, Any] | None:
    """Set `name` and/or `tools` (a list of tool names); None when the owner has no such project."""
    query = (
        sa.update(projects)
        .where(_mine(owner_id, project_id))
        .values(**changes, updated_at=now())
        .returning(*COLUMNS)
    )
    return await db.fetch_one(query)


async def delete(db: Database, owner_id: str, project_id: str) -> bool:
    """Delete a project; the database cascades to prompts, conversations, messages, files."""
    query = sa.delete(projects).where(_mine(owner_id, project_id)).returning(projects.c.id)
    return await db.fetch_one(query) is not None


async def lock(db: Database, owner_id: str, project_id: str | sa.ScalarSelect[Any]) -> str | None:
    """Take this owner's project's row lock for the rest of the transaction: the project's id,
    or None when the owner has no such project (another tenant's row is never touched).
    `project_id` may be a subquery (the project of a prompt), so the lock stays first.

    A write as the first statement: PostgreSQL locks the row, SQLite takes its write lock at
    once (a read first could not be upgraded safely), so writers of one project queue here.
    """
    query = (
        sa.update(projects)
        .where(projects.c.id == project_id, projects.c.owner_id == owner_id)
        .values(updated_at=projects.c.updated_at)
        .returning(projects.c.id)
    )
    row = await db.fetch_one(query)
    return None if row is None else str(row["id"])


def insert_under(table: sa.Table, owner_id: str, row: dict[str, Any]) -> sa.Insert:
    """INSERT `row` (with `owner_id`) into a child table only if the owner's project
    `row["project_id"]` exists, in the one statement: RETURNING gives no row when it does not.

    FOR KEY SHARE (PostgreSQL) waits for a delete of the project in flight and then sees the
    row gone, where a bare foreign-key check would fail with an error; SQLite has one writer.
    """
    values = {"owner_id": owner_id, **row}
    parent = (
        sa.select(*(sa.literal(value, table.c[name].type) for name, value in values.items()))
        .where(_mine(owner_id, row["project_id"]))
        .with_for_update(key_share=True)
    )
    return sa.insert(table).from_select(list(values), parent).returning(table.c.id)
