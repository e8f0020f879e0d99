"""Fixtures shared by every test: a migrated database (SQLite, or PostgreSQL when
DATABASE_URL says so), an app with its lifespan running, and credentials for test users."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fake_openai import FakeOpenAI
from joserfc.jwk import RSAKey
from promptkit_clerk.local import mint_session_token

from promptkit.app import PromptkitApp, create_app
from promptkit.db.engine import sync_url
from promptkit.db.tables import metadata
from promptkit.migrate import upgrade
from promptkit.settings import Settings


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database for the whole run."""
    url = os.environ.get("DATABASE_URL") or ""
    if not url.startswith(("postgres://", "postgresql")):
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        upgrade(url)
        yield url
        return
    engine = sa.create_engine(sync_url(url))
    with engine.connect() as lock:
        # One test run at a time per PostgreSQL database: a second run waits here.
        lock.execute(sa.text("SELECT pg_advisory_lock(hashtext('promptkit tests'))"))
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
        upgrade(url)
        yield url
        lock.execute(sa.text("SELECT pg_advisory_unlock(hashtext('promptkit tests'))"))
    engine.dispose()


@pytest.fixture
def clean_database(database_url: str) -> Iterator[str]:
    """Empty every table before the test, so tests never see each other's rows."""
    engine = sa.create_engine(sync_url(database_url))
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()
    yield database_url


@pytest.fixture(scope="session")
def clerk_signing_key() -> RSAKey:
    """One RSA key pair for the run: the tests' stand-in for a Clerk instance's signing key."""
    return RSAKey.generate_key(2048, private=True)


@pytest.fixture
def auth(clerk_signing_key: RSAKey) -> Callable[[str], dict[str, str]]:
    """Headers that authenticate as the given user id: a real RS256 Clerk-shaped session
    token, verified by the built-in Clerk plugin through CLERK_JWT_KEY (see `settings`)."""
    tokens: dict[str, str] = {}

    def headers(user_id: str) -> dict[str, str]:
        if user_id not in tokens:
            tokens[user_id] = mint_session_token(clerk_signing_key, user_id, ttl_seconds=900)
        return {"Authorization": f"Bearer {tokens[user_id]}"}

    return headers


@pytest.fixture
def settings(clean_database: str, tmp_path: Path, clerk_signing_key: RSAKey) -> Settings:
    public_pem = clerk_signing_key.as_pem(private=False).decode()
    return Settings(
        database_url=clean_database,
        data_dir=tmp_path / "data",
        environ={"CLERK_JWT_KEY": public_pem},
        # Naming conversations adds an upstream request beside each first reply: the tests of
        # titles turn it on (`make_app(titles=True)`), the others count requests without it.
        titles=False,
    )


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., PromptkitApp]:
    """An app with extra plugins and settings; an `environ` override adds to the Clerk key."""

    def make(*plugins: object, **overrides: Any) -> PromptkitApp:
        environ = {**settings.environ, **overrides.pop("environ", {})}
        merged = Settings(**{**settings.__dict__, **overrides, "environ": environ})
        return create_app(merged, plugins=plugins)

    return make


@pytest.fixture
def app_environ() -> dict[str, str]:
    """Settings the `app` fixture adds; a test module overrides it to point plugins at its fakes."""
    return {}


@pytest.fixture
async def app(
    make_app: Callable[..., PromptkitApp], app_environ: dict[str, str]
) -> AsyncIterator[PromptkitApp]:
    app = make_app(environ=app_environ)
    async with app.test_app():
        yield app


@pytest.fixture
def client(app: PromptkitApp) -> Any:
    return app.test_client()


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start real `promptkit serve` processes on the test database (see
    test_production_support.Server); every one is stopped when the test ends."""
    from test_production_support import Server

    started: list[Server] = []

    def start(workers: int = 1, **environ: str) -> Server:
        environ = {"DATABASE_URL": database_url, "PROMPTKIT_TITLES": "off", **environ}
        server = Server(tmp_path, environ, workers=workers)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        server.kill()


@pytest.fixture
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """The module's fake provider, a real HTTP server on a free port: `FakeOpenAI`, or the class
    the test module names as `FAKE_SERVER` (the Files fake)."""
    server = await getattr(request.module, "FAKE_SERVER", FakeOpenAI)().start()
    yield server
    await server.close()


@pytest.fixture
def files_env(fake: Any) -> dict[str, str]:
    """Settings that point the Files plugin at the fake Files API."""
    return {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url}
