"""PostgreSQL behind a real PgBouncer in transaction mode (Debian's `pgbouncer`, started here).

The prepared path breaks there the way the managed poolers break it (a statement missing on
the next server session, or one of the same name left by another client); with the setting
on, concurrent activations and list reads from two apps answer as they do directly, and
without it start-up stops with a message that names the setting.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pgbouncer import PgBouncer, installed
from quart.testing.app import LifespanError
from test_production_support import Server

from promptkit.app import PromptkitApp
from promptkit.db.engine import Database, says_pgbouncer
from promptkit.db.tables import projects
from promptkit.errors import ServiceUnavailable

Auth = Callable[[str], dict[str, str]]


@pytest.fixture(scope="module")
def pgbouncer(database_url: str) -> Iterator[PgBouncer]:
    if not database_url.startswith("postgres"):
        pytest.skip("PgBouncer fronts PostgreSQL: set DATABASE_URL=postgresql://...")
    if installed() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)")
    pooler = PgBouncer(database_url, pool_size=4).start()
    yield pooler
    pooler.stop()


async def _owners_projects(databases: list[Database], statements: int) -> Counter[str]:
    """Many concurrent reads spread over the databases: what each one ended in."""

    async def read(db: Database, index: int) -> str:
        try:
            await db.fetch_all(sa.select(projects.c.id).where(projects.c.owner_id == f"u{index}"))
        except ServiceUnavailable:
            return "503"
        return "ok"

    for db in databases:
        await db.connect()
    try:
        outcomes = await asyncio.gather(
            *(read(databases[index % len(databases)], index) for index in range(statements))
        )
    finally:
        for db in databases:
            await db.disconnect()
    return Counter(outcomes)


async def test_the_prepared_path_breaks_behind_a_transaction_pooler_as_503s_not_500s(
    pgbouncer: PgBouncer,
) -> None:
    """The control for the tests below. One connection per pool skips the start-up check,
    as three processes would each pass it alone: the pooler errors still never reach a 500."""
    url = pgbouncer.pooled_url(flag=False)
    outcomes = await _owners_projects([Database(url, pool_size=1) for _ in range(3)], 200)
    assert outcomes["503"] > 0, outcomes
    assert set(outcomes) <= {"ok", "503"}


async def test_with_the_flag_the_same_statements_all_answer(
    pgbouncer: PgBouncer,
) -> None:
    url = pgbouncer.pooled_url()  # ?pgbouncer=true
    assert await _owners_projects([Database(url, pool_size=1) for _ in range(3)], 200) == {
        "ok": 200
    }


async def test_concurrent_activations_and_list_reads_from_two_apps_never_fail(
    pgbouncer: PgBouncer, make_app: Callable[..., PromptkitApp], auth: Auth
) -> None:
    # The setting, not the URL flag: the environment variable that operators set.
    pooled = pgbouncer.pooled_url(flag=False)
    apps = [make_app(database_url=pooled, db_pgbouncer=True) for _ in range(2)]
    headers = auth("pooled-user")
    async with apps[0].test_app(), apps[1].test_app():
        clients = [app.test_client() for app in apps]
        created = await clients[0].post("/projects", json={"name": "P"}, headers=headers)
        project_id = (await created.get_json())["id"]
        prompt_ids = []
        for index in range(4):
            response = await clients[index % 2].post(
                f"/projects/{project_id}/prompts",
                json={"name": f"p{index}", "content": "c"},
                headers=headers,
            )
            assert response.status_code == 201
            prompt_ids.append((await response.get_json())["id"])

        def request(index: int) -> Any:
            client = clients[index % 2]
            if index % 3 == 0:
                return client.post(f"/prompts/{prompt_ids[index % 4]}/activate", headers=headers)
            if index % 3 == 1:
                return client.get(f"/projects/{project_id}/prompts", headers=headers)
            return client.get("/projects", headers=headers)

        responses = await asyncio.gather(*(request(index) for index in range(120)))
        assert Counter(response.status_code for response in responses) == {200: 120}

        listed = await clients[1].get(f"/projects/{project_id}/prompts", headers=headers)
        active = [row for row in (await listed.get_json())["data"] if row["is_active"]]
        assert len(active) == 1


async def test_without_the_setting_the_app_does_not_start_and_names_it(
    pgbouncer: PgBouncer, make_app: Callable[..., PromptkitApp]
) -> None:
    app = make_app(database_url=pgbouncer.pooled_url(flag=False))
    with pytest.raises(LifespanError, match="PROMPTKIT_DB_PGBOUNCER=true"):
        async with app.test_app():
            pass


async def test_session_mode_keeps_the_prepared_path(
    pgbouncer: PgBouncer, make_app: Callable[..., PromptkitApp], auth: Auth
) -> None:
    """A pooler in session mode gives each client its own server session: no false alarm."""
    if says_pgbouncer(pgbouncer.outer_url):
        # In front of another pooler in transaction mode, it is one (and start-up says so).
        pytest.skip("the suite's own database is behind a transaction-mode pooler")
    app = make_app(database_url=pgbouncer.pooled_url(session_mode=True, flag=False))
    async with app.test_app():
        assert not app.db.pgbouncer
        listed = await app.test_client().get("/projects", headers=auth("session-user"))
        assert listed.status_code == 200


def test_a_server_without_the_setting_exits_at_start_naming_it(
    pgbouncer: PgBouncer, tmp_path: Path
) -> None:
    server = Server(tmp_path, {"DATABASE_URL": pgbouncer.pooled_url(flag=False)})
    try:
        exit_code = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        pytest.fail(f"the server kept running:\n{server.output()}")
    server.log.close()
    assert exit_code != 0
    assert "PROMPTKIT_DB_PGBOUNCER=true" in server.output()


def test_the_script_runs_a_command_through_pgbouncer(database_url: str) -> None:
    """`python tests/pgbouncer.py COMMAND` (how CI runs the whole suite this way)."""
    if not database_url.startswith("postgres") or installed() is None:
        pytest.skip("needs PostgreSQL and pgbouncer")
    probe = (
        "import os, sqlalchemy as sa; from promptkit.db.engine import sync_url;"
        "url = os.environ['DATABASE_URL']; assert 'pgbouncer=true' in url, url;"
        "engine = sa.create_engine(sync_url(url));"
        "print(engine.url.port, engine.connect().execute(sa.text('SHOW port')).scalar())"
    )
    script = Path(__file__).with_name("pgbouncer.py")
    result = subprocess.run(
        [sys.executable, str(script), sys.executable, "-c", probe],
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin:/usr/sbin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # Connected to another port (the pooler's), and PostgreSQL behind it answered.
    pooler_port, server_port = result.stdout.split()
    assert pooler_port != str(sa.engine.make_url(database_url).port or 5432)
    assert server_port.isdigit()
