"""Metadata of uploaded files. The bytes live with a `store_file` plugin's provider."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict, cast

import sqlalchemy as sa

from . import projects
from .engine import Database, new_id, now
from .owners import Owner, in_scope, may_change, project_scope
from .pagination import fetch_page
from .tables import file_metadata
from .tables import projects as projects_table

COLUMNS = (
    file_metadata.c.id,
    file_metadata.c.project_id,
    file_metadata.c.filename,
    file_metadata.c.size_bytes,
    file_metadata.c.content_type,
    file_metadata.c.provider_file_id,
    file_metadata.c.created_at,
)
# What a row needs beyond the API shape: which plugin's provider holds the bytes.
STORED_COLUMNS = (*COLUMNS, file_metadata.c.provider)


class FileRow(TypedDict):
    """A file's metadata as the API shows it (`routes.files.File`): the columns of COLUMNS."""

    id: str
    project_id: str
    filename: str
    size_bytes: int
    content_type: str
    provider_file_id: str
    created_at: datetime


class StoredFileRow(FileRow):
    """A file's row with the plugin whose provider holds the bytes: STORED_COLUMNS."""

    provider: str


def _mine(owner: Owner, file_id: str) -> sa.ColumnElement[bool]:
    """The file, when it is of a project the owner sees (whoever of its admins uploaded it)."""
    return sa.and_(file_metadata.c.id == file_id, in_scope(owner, file_metadata.c.project_id))


def _of_project(owner: Owner, project_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        file_metadata.c.project_id == project_id, in_scope(owner, file_metadata.c.project_id)
    )


async def create(
    db: Database,
    owner: Owner,
    project_id: str,
    *,
    filename: str,
    size_bytes: int,
    content_type: str,
    provider: str,
    provider_file_id: str,
) -> FileRow | None:
    """The new file's row; None (nothing written) when the owner has no such project."""
    project = sa.and_(projects_table.c.id == project_id, project_scope(owner))
    if not await may_change(db, owner, projects_table, project):
        return None
    row = FileRow(
        id=new_id("fil"),
        project_id=project_id,
        filename=filename,
        size_bytes=size_bytes,
        content_type=content_type,
        provider_file_id=provider_file_id,
        created_at=now(),
    )
    stored = {**row, "provider": provider}
    if await db.fetch_one(projects.insert_under(file_metadata, owner, stored)) is None:
        return None
    return row


async def list_page(
    db: Database, owner: Owner, project_id: str, *, limit: int, cursor: str | None
) -> tuple[list[FileRow], str | None]:
    query = sa.select(*COLUMNS).where(_of_project(owner, project_id))
    rows, next_cursor = await fetch_page(db, query, file_metadata, limit=limit, cursor=cursor)
    return cast(list[FileRow], rows), next_cursor


async def get(db: Database, owner: Owner, file_id: str) -> StoredFileRow | None:
    """The file's row with its `provider`, or None when it is absent or not this owner's."""
    row = await db.fetch_one(sa.select(*STORED_COLUMNS).where(_mine(owner, file_id)))
    return cast(StoredFileRow | None, row)


async def get_to_delete(db: Database, owner: Owner, file_id: str) -> StoredFileRow | None:
    """`get` before deleting the file's bytes: Forbidden for a member, before anything goes."""
    if not await may_change(db, owner, file_metadata, _mine(owner, file_id)):
        return None
    return await get(db, owner, file_id)


async def of_project(
    db: Database, owner: Owner, project_id: str, *, limit: int = 100
) -> list[StoredFileRow]:
    """Some of a project's files, oldest first, with their `provider`."""
    query = (
        sa.select(*STORED_COLUMNS)
        .where(_of_project(owner, project_id))
        .order_by(file_metadata.c.created_at, file_metadata.c.id)
        .limit(limit)
    )
    return cast(list[StoredFileRow], await db.fetch_all(query))


async def delete(db: Database, owner: Owner, file_id: str) -> bool:
    if not await may_change(db, owner, file_metadata, _mine(owner, file_id)):
        return False
    query = sa.delete(file_metadata).where(_mine(owner, file_id)).returning(file_metadata.c.id)
    return await db.fetch_one(query) is not None


async def delete_project_if_empty(db: Database, owner: Owner, project_id: str) -> bool | None:
    """Delete a project that has no files left: True when deleted, False when files remain,
    None when there is no such project of this owner.

    Its file rows must go first, each after its bytes at the provider: the cascade would drop
    rows whose bytes are still stored. The project is locked against new file rows while it
    is checked and deleted, so an upload that finishes meanwhile cannot slip a row in under
    the cascade: its insert waits, then fails, and the upload deletes its bytes again.
    """
    mine = sa.and_(projects_table.c.id == project_id, project_scope(owner))
    if not await may_change(db, owner, projects_table, mine):
        return None
    async with db.transaction():
        # Owner-scoped: another tenant's row is never locked. SQLite takes the write lock at once.
        if await projects.lock(db, owner, project_id) is None:
            return None
        # PostgreSQL: FOR UPDATE also blocks the key-share lock that inserting a child row takes.
        await db.execute(sa.select(projects_table.c.id).where(mine).with_for_update())
        remaining = sa.select(file_metadata.c.id).where(file_metadata.c.project_id == project_id)
        if await db.fetch_one(remaining.limit(1)) is not None:
            return False
        await db.execute(sa.delete(projects_table).where(mine))
    return True
