"""A pool of two connections under fifty concurrent requests, some of them slow: each request
answers, or gets a 503 with `Retry-After` once it has waited `PROMPTKIT_DB_POOL_TIMEOUT` for a
connection. Never a hang, never a 500."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from promptkit.app import PromptkitApp
from promptkit.db.engine import sync_url

Auth = Callable[[str], dict[str, str]]
POOL_TIMEOUT = 1.0
HELD_FOR = 2.5  # seconds the slow requests hold their connections


async def test_an_exhausted_pool_answers_503_with_retry_after(
    database_url: str, make_app: Callable[..., PromptkitApp], auth: Auth
) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("SQLite has no connection pool to exhaust")
    app = make_app(db_pool_size=2, db_pool_timeout=POOL_TIMEOUT)
    headers = auth("pool-user")
    async with app.test_app():
        client = app.test_client()
        project_id = (
            await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json()
        )["id"]
        created = await client.post(
            f"/projects/{project_id}/prompts", json={"name": "p", "content": "c"}, headers=headers
        )
        prompt_id = (await created.get_json())["id"]

        # Another client of the database locks the project row: activations (which lock it
        # too) wait inside their transactions, each holding one of the two connections.
        engine = sa.create_engine(sync_url(database_url))
        outside = engine.connect()
        outside.execute(
            sa.text("SELECT id FROM projects WHERE id = :id FOR UPDATE"), {"id": project_id}
        )

        async def release_later() -> None:
            await asyncio.sleep(HELD_FOR)
            await asyncio.to_thread(outside.rollback)

        def request(index: int) -> Any:
            if index < 5:
                return client.post(f"/prompts/{prompt_id}/activate", headers=headers)
            if index % 2:
                return client.get(f"/projects/{project_id}/prompts", headers=headers)
            return client.get("/projects", headers=headers)

        try:
            async with asyncio.timeout(30):  # a hang fails here
                releaser = asyncio.create_task(release_later())
                responses = await asyncio.gather(*(request(index) for index in range(50)))
                await releaser
        finally:
            await asyncio.to_thread(outside.close)
            engine.dispose()

    statuses = Counter(response.status_code for response in responses)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0 and statuses[200] > 0, statuses
    for response in responses:
        if response.status_code == 503:
            assert int(response.headers["Retry-After"]) >= 1
            error = (await response.get_json())["error"]
            assert error["code"] == "service_unavailable"
            assert "busy" in error["message"]
    # The slow ones that got a connection finished once the lock went.
    assert any(r.status_code == 200 for r in responses[:5])


async def test_ready_says_a_saturated_pool_is_not_an_unreachable_database(
    database_url: str, make_app: Callable[..., PromptkitApp], auth: Auth
) -> None:
    """Every pooled connection held for seconds: readiness answers 503 within about two
    seconds, says the database answers and the pool is saturated; ready again once they free."""
    app = make_app(db_pool_size=2, db_pool_timeout=5)
    headers = auth("ready-user")
    async with app.test_app():
        client = app.test_client()
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert (await ready.get_json())["checks"] | {"models": "ok"} == {
            "database": "ok",
            "pool": "ok",
            "migrations": "ok",
            "models": "ok",
        }
        if not database_url.startswith("postgres"):
            return  # SQLite has no connection pool to exhaust
        project_id = (
            await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json()
        )["id"]
        created = await client.post(
            f"/projects/{project_id}/prompts", json={"name": "p", "content": "c"}, headers=headers
        )
        prompt_id = (await created.get_json())["id"]

        # Two activations wait on a row lock held elsewhere, each holding a pooled connection.
        engine = sa.create_engine(sync_url(database_url))
        outside = engine.connect()
        outside.execute(
            sa.text("SELECT id FROM projects WHERE id = :id FOR UPDATE"), {"id": project_id}
        )
        try:
            activations = [
                asyncio.ensure_future(
                    client.post(f"/prompts/{prompt_id}/activate", headers=headers)
                )
                for _ in range(2)
            ]
            await asyncio.sleep(0.5)  # both are waiting on the lock now
            asked = asyncio.get_running_loop().time()
            busy = await client.get("/health/ready")
            took = asyncio.get_running_loop().time() - asked
        finally:
            await asyncio.to_thread(outside.rollback)
            await asyncio.to_thread(outside.close)
            engine.dispose()
        done = await asyncio.gather(*activations)
        again = await client.get("/health/ready")

    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    body = await busy.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok" and body["checks"]["pool"] == "saturated"
    assert 0.9 < took < 3, took  # the pool's wait is cut to a second for readiness
    assert [r.status_code for r in done] == [200, 200]
    assert again.status_code == 200
    assert (await again.get_json())["checks"]["pool"] == "ok"
