"""Projects: the root of everything a user or an organization owns (see `owners`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypedDict

import sqlalchemy as sa

from .engine import Database, new_id, now
from .owners import Owner, OwnerRow, may_change, owner_shape, project_scope
from .pagination import fetch_page
from .tables import projects

COLUMNS = (
    projects.c.id,
    projects.c.owner_kind,
    projects.c.owner_id,
    projects.c.name,
    projects.c.tools,
    projects.c.created_at,
    projects.c.updated_at,
)


class ProjectRow(TypedDict):
    """A project as the API shows it (`schemas.Project`); a test keeps the two in step."""

    id: str
    name: str
    owner: OwnerRow
    tools: list[str]
    created_at: datetime
    updated_at: datetime


def _mine(owner: Owner, project_id: Any) -> sa.ColumnElement[bool]:
    return sa.and_(projects.c.id == project_id, project_scope(owner))


def shaped(row: Mapping[str, Any] | None) -> ProjectRow | None:
    """The API's Project: the owner columns become `owner: {kind, id}`."""
    if row is None:
        return None
    return ProjectRow(
        id=row["id"],
        name=row["name"],
        owner=owner_shape(row["owner_kind"], row["owner_id"]),
        tools=row["tools"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def create(db: Database, owner: Owner, name: str) -> ProjectRow:
    """A project of the owner's active organization, or a personal one without."""
    stamp = now()
    row = {
        "id": new_id("prj"),
        "name": name,
        "owner_kind": owner.kind,
        "owner_id": owner.tenant_id,
        "tools": [],
        "created_at": stamp,
        "updated_at": stamp,
    }
    await db.execute(sa.insert(projects).values(**row))
    created = shaped(row)
    assert created is not None
    return created


async def list_page(
    db: Database, owner: Owner, *, limit: int, cursor: str | None
) -> tuple[list[ProjectRow], str | None]:
    query = sa.select(*COLUMNS).where(project_scope(owner))
    rows, next_cursor = await fetch_page(db, query, projects, limit=limit, cursor=cursor)
    return [row for row in map(shaped, rows) if row is not None], next_cursor


async def get(db: Database, owner: Owner, project_id: str) -> ProjectRow | None:
    return shaped(await db.fetch_one(sa.select(*COLUMNS).where(_mine(owner, project_id))))


async def get_to_change(db: Database, owner: Owner, project_id: str) -> ProjectRow | None:
    """`get` for a change to come (an upload, a delete that first removes files): Forbidden
    for a member, so nothing is done before the change would be refused."""
    if not await may_change(db, owner, projects, _mine(owner, project_id)):
        return None
    return await get(db, owner, project_id)


async def update(
    db: Database, owner: Owner, project_id: str, changes: dict[str, Any]
) -> ProjectRow | None:
    """Set `name` and/or `tools` (a list of tool names); None when the owner has no such project."""
    if not await may_change(db, owner, projects, _mine(owner, project_id)):
        return None
    query = (
        sa.update(projects)
        .where(_mine(owner, project_id))
        .values(**changes, updated_at=now())
        .returning(*COLUMNS)
    )
    return shaped(await db.fetch_one(query))


async def delete(db: Database, owner: Owner, project_id: str) -> bool:
    """Delete a project; the database cascades to prompts, conversations, messages, files."""
    if not await may_change(db, owner, projects, _mine(owner, project_id)):
        return False
    query = sa.delete(projects).where(_mine(owner, project_id)).returning(projects.c.id)
    return await db.fetch_one(query) is not None


async def lock(db: Database, owner: Owner, project_id: str | sa.ScalarSelect[Any]) -> str | None:
    """Take this owner's project's row lock for the rest of the transaction: the project's id,
    or None when the owner has no such project (another tenant's row is never touched).
    `project_id` may be a subquery (the project of a prompt), so the lock stays first.

    A write as the first statement: PostgreSQL locks the row, SQLite takes its write lock at
    once (a read first could not be upgraded safely), so writers of one project queue here.
    Roles are not checked here: the callers check them before.
    """
    query = (
        sa.update(projects)
        .where(_mine(owner, project_id))
        .values(updated_at=projects.c.updated_at)
        .returning(projects.c.id)
    )
    row = await db.fetch_one(query)
    return None if row is None else str(row["id"])


def insert_under(table: sa.Table, owner: Owner, row: Mapping[str, Any]) -> sa.Insert:
    """INSERT `row` (with the owner's user id as `owner_id`: who wrote it) into a child table
    only if the owner sees the project `row["project_id"]`, in the one statement: RETURNING
    gives no row when they do not.

    FOR KEY SHARE (PostgreSQL) waits for a delete of the project in flight and then sees the
    row gone, where a bare foreign-key check would fail with an error; SQLite has one writer.
    """
    values = {"owner_id": owner.user_id, **row}
    parent = (
        sa.select(*(sa.literal(value, table.c[name].type) for name, value in values.items()))
        .where(_mine(owner, row["project_id"]))
        .with_for_update(key_share=True)
    )
    return sa.insert(table).from_select(list(values), parent).returning(table.c.id)
