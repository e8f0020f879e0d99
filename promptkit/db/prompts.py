"""Prompts of a project; at most one is active (the system prompt).

Every content a prompt has had is kept in `prompt_versions`, numbered from 1; a version is
never changed once written, so it can be read without a transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, TypedDict, cast

import sqlalchemy as sa

from . import projects
from .engine import Database, new_id, now
from .owners import Owner, in_scope, may_change, project_scope
from .pagination import fetch_page, invalid_cursor
from .tables import projects as projects_table
from .tables import prompt_versions, prompts

COLUMNS = (
    prompts.c.id,
    prompts.c.project_id,
    prompts.c.name,
    prompts.c.content,
    prompts.c.is_active,
    prompts.c.version,
    prompts.c.created_at,
    prompts.c.updated_at,
)
VERSION_COLUMNS = (
    prompt_versions.c.prompt_id,
    prompt_versions.c.version,
    prompt_versions.c.content,
    prompt_versions.c.created_at,
    prompt_versions.c.created_by,
)


class PromptRow(TypedDict):
    """A prompt as the API shows it (`schemas.Prompt`): the columns of COLUMNS."""

    id: str
    project_id: str
    name: str
    content: str
    is_active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class PromptVersionRow(TypedDict):
    """One version of a prompt as the API shows it (`schemas.PromptVersion`): VERSION_COLUMNS."""

    prompt_id: str
    version: int
    content: str
    created_at: datetime
    created_by: str


def _mine(owner: Owner, prompt_id: str) -> sa.ColumnElement[bool]:
    """The prompt, when it is of a project the owner sees (whoever of its admins wrote it)."""
    return sa.and_(prompts.c.id == prompt_id, in_scope(owner, prompts.c.project_id))


def _versions_of(owner: Owner, prompt_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        prompt_versions.c.prompt_id == prompt_id,
        sa.exists().where(prompts.c.id == prompt_versions.c.prompt_id, _mine(owner, prompt_id)),
    )


async def _may_change(db: Database, owner: Owner, prompt_id: str) -> bool:
    return await may_change(db, owner, prompts, _mine(owner, prompt_id))


class _Vanished(Exception):
    """Rolls a transaction back when its parent or its row went away under it."""


async def _deactivate_others(db: Database, project_id: str, keep_id: str) -> None:
    await db.execute(
        sa.update(prompts)
        .where(prompts.c.project_id == project_id, prompts.c.is_active, prompts.c.id != keep_id)
        .values(is_active=False, updated_at=now())
    )


async def _add_version(db: Database, owner: Owner, prompt: PromptRow) -> None:
    """Record the prompt's content as its version `prompt["version"]`, unless that version is
    there already (an edit that left the content as it was)."""
    exists = sa.exists().where(
        prompt_versions.c.prompt_id == prompt["id"],
        prompt_versions.c.version == prompt["version"],
    )
    columns = prompt_versions.c
    values = sa.select(
        sa.literal(prompt["id"], columns.prompt_id.type),
        sa.literal(prompt["version"], columns.version.type),
        sa.literal(owner.user_id, columns.owner_id.type),
        sa.literal(prompt["content"], columns.content.type),
        sa.literal(owner.user_id, columns.created_by.type),
        sa.literal(prompt["updated_at"], columns.created_at.type),
    ).where(~exists)
    await db.execute(
        sa.insert(prompt_versions).from_select(
            ["prompt_id", "version", "owner_id", "content", "created_by", "created_at"], values
        )
    )


async def create(
    db: Database, owner: Owner, project_id: str, *, name: str, content: str, is_active: bool
) -> PromptRow | None:
    """The new prompt, or None (nothing written) when the owner has no such project."""
    project = sa.and_(projects_table.c.id == project_id, project_scope(owner))
    if not await may_change(db, owner, projects_table, project):
        return None
    stamp, prompt_id = now(), new_id("pmt")
    row = PromptRow(
        id=prompt_id,
        project_id=project_id,
        name=name,
        content=content,
        is_active=is_active,
        version=1,
        created_at=stamp,
        updated_at=stamp,
    )
    try:
        async with db.transaction():
            if is_active:
                if await projects.lock(db, owner, project_id) is None:
                    return None
                await _deactivate_others(db, project_id, prompt_id)
            if await db.fetch_one(projects.insert_under(prompts, owner, row)) is None:
                raise _Vanished
            await _add_version(db, owner, row)
    except _Vanished:
        return None
    return row


async def list_page(
    db: Database, owner: Owner, project_id: str, *, limit: int, cursor: str | None
) -> tuple[list[PromptRow], str | None]:
    query = sa.select(*COLUMNS).where(
        prompts.c.project_id == project_id, in_scope(owner, prompts.c.project_id)
    )
    rows, next_cursor = await fetch_page(db, query, prompts, limit=limit, cursor=cursor)
    return cast(list[PromptRow], rows), next_cursor


async def get(db: Database, owner: Owner, prompt_id: str) -> PromptRow | None:
    row = await db.fetch_one(sa.select(*COLUMNS).where(_mine(owner, prompt_id)))
    return cast(PromptRow | None, row)


async def update(
    db: Database, owner: Owner, prompt_id: str, changes: dict[str, Any]
) -> PromptRow | None:
    """Change the name and/or content; new content becomes the prompt's next version."""
    if not await _may_change(db, owner, prompt_id):
        return None
    values = {**changes, "updated_at": now()}
    if "content" in changes:
        # Numbered under the row's lock: racing edits get distinct versions, none is lost.
        values["version"] = sa.case(
            (prompts.c.content == changes["content"], prompts.c.version),
            else_=prompts.c.version + 1,
        )
    query = sa.update(prompts).where(_mine(owner, prompt_id)).values(**values)
    if "content" not in changes:
        return cast(PromptRow | None, await db.fetch_one(query.returning(*COLUMNS)))
    async with db.transaction():
        row = cast(PromptRow | None, await db.fetch_one(query.returning(*COLUMNS)))
        if row is not None:
            await _add_version(db, owner, row)
    return row


async def restore(db: Database, owner: Owner, prompt_id: str, version: int) -> PromptRow | None:
    """Make version `version` the content again, as a new version; None when either is absent."""
    if not await _may_change(db, owner, prompt_id):
        return None
    old = await get_version(db, owner, prompt_id, version)
    if old is None:
        return None
    return await update(db, owner, prompt_id, {"content": old["content"]})


async def delete(db: Database, owner: Owner, prompt_id: str) -> bool:
    if not await _may_change(db, owner, prompt_id):
        return False
    query = sa.delete(prompts).where(_mine(owner, prompt_id)).returning(prompts.c.id)
    return await db.fetch_one(query) is not None


async def activate(db: Database, owner: Owner, prompt_id: str) -> PromptRow | None:
    """Make this the project's one active prompt, in one transaction under the project lock.

    Everything happens under the lock, the read included: a prompt deleted meanwhile rolls the
    deactivation of the others back, so the project never ends up with no active prompt.
    """
    if not await _may_change(db, owner, prompt_id):
        return None
    of_prompt = sa.select(prompts.c.project_id).where(_mine(owner, prompt_id))
    try:
        async with db.transaction():
            project_id = await projects.lock(db, owner, of_prompt.scalar_subquery())
            if project_id is None:
                return None
            await _deactivate_others(db, project_id, prompt_id)
            row = await update(db, owner, prompt_id, {"is_active": True})
            if row is None:
                raise _Vanished
            return row
    except _Vanished:
        return None


async def get_version(
    db: Database, owner: Owner, prompt_id: str, version: int
) -> PromptVersionRow | None:
    query = sa.select(*VERSION_COLUMNS).where(
        _versions_of(owner, prompt_id), prompt_versions.c.version == version
    )
    return cast(PromptVersionRow | None, await db.fetch_one(query))


async def list_versions(
    db: Database, owner: Owner, prompt_id: str, *, limit: int, cursor: str | None
) -> tuple[list[PromptVersionRow], str | None]:
    """A page of the prompt's versions, newest first; the cursor is the last version shown."""
    query = sa.select(*VERSION_COLUMNS).where(_versions_of(owner, prompt_id))
    if cursor is not None:
        query = query.where(prompt_versions.c.version < _decode_version(cursor))
    rows = cast(
        list[PromptVersionRow],
        await db.fetch_all(query.order_by(prompt_versions.c.version.desc()).limit(limit + 1)),
    )
    if len(rows) > limit:
        return rows[:limit], _encode_version(rows[limit - 1]["version"])
    return rows, None


def _encode_version(version: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["v", version]).encode()).decode().rstrip("=")


def _decode_version(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, version = json.loads(raw)
        if tag != "v" or type(version) is not int or not 1 <= version < 2**31:
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise invalid_cursor() from error
    return version
