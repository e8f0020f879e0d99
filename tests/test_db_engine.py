"""The database layer: prepared statements inside and outside a transaction, on both backends."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from promptkit.db.engine import Database, Prepared, now
from promptkit.db.tables import projects

INSERT = Prepared(sa.insert(projects))


def project(project_id: str) -> dict[str, object]:
    stamp = now()
    return {
        "id": project_id,
        "owner_kind": "user",
        "owner_id": "user_a",
        "name": "p",
        "tools": [],
        "created_at": stamp,
        "updated_at": stamp,
    }


@pytest.fixture
async def db(clean_database: str):
    database = Database(clean_database)
    await database.connect()
    try:
        yield database
    finally:
        await database.disconnect()


async def stored(db: Database) -> set[str]:
    return {row["id"] for row in await db.fetch_all(sa.select(projects.c.id))}


async def insert_prepared(db: Database, values: dict[str, object]) -> None:
    await db.run(INSERT, **values)


async def insert_ad_hoc(db: Database, values: dict[str, object]) -> None:
    await db.execute(sa.insert(projects).values(**values))


@pytest.mark.parametrize("insert", [insert_prepared, insert_ad_hoc])
async def test_a_statement_commits_or_rolls_back_with_its_transaction(db, insert):
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await insert(db, project("prj_rolled_back"))
            raise RuntimeError("undo")
    async with db.transaction():
        await insert(db, project("prj_committed"))
    await insert(db, project("prj_alone"))
    assert await stored(db) == {"prj_committed", "prj_alone"}


async def test_rows_come_back_with_their_types(db):
    await insert_ad_hoc(db, project("prj_typed"))
    row = await db.fetch_one(sa.select(projects).where(projects.c.id == "prj_typed"))
    assert row is not None and row["created_at"].tzinfo is not None
    assert await db.fetch_one(sa.select(projects).where(projects.c.id == "prj_absent")) is None


async def test_an_in_list_is_refused_with_a_clear_error(db):
    with pytest.raises(ValueError, match="IN lists"):
        await db.fetch_all(sa.select(projects.c.id).where(projects.c.id.in_(["a", "b"])))


async def test_statements_outside_a_transaction_run_beside_one(db):
    """Lone statements from many tasks, while another task holds a transaction open."""
    inside = asyncio.Event()

    async def transaction() -> None:
        async with db.transaction():
            await db.run(INSERT, **project("prj_in_transaction"))
            inside.set()
            await asyncio.sleep(0.05)

    async def alone(index: int) -> None:
        await inside.wait()
        await db.run(INSERT, **project(f"prj_{index}"))

    await asyncio.gather(transaction(), *(alone(index) for index in range(20)))
    assert await stored(db) == {"prj_in_transaction"} | {f"prj_{index}" for index in range(20)}
