"""The pytest fixtures of `promptkit.testing` (registered through the `pytest11` entry point)."""

from __future__ import annotations

import importlib
import shutil
from collections.abc import AsyncIterator, Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

# Without the testing extra (no pytest-asyncio), the plugin offers nothing rather than break
# every pytest run where promptkit happens to be installed.
if find_spec("pytest_asyncio") is not None:
    import pytest_asyncio

    from promptkit.app import PromptkitApp, create_app
    from promptkit.hooktypes import Host, SharedHttp
    from promptkit.settings import Settings

    @pytest.fixture
    def promptkit_environ() -> dict[str, str]:
        """Settings for the app, as environment names; override it in your tests."""
        return {}

    @pytest.fixture
    def promptkit_plugins() -> list[object]:
        """Plugin objects to register beside the installed ones; override it in your tests."""
        return []

    @pytest.fixture(scope="session")
    def promptkit_signing_key() -> Any:
        """The test run's stand-in for a Clerk instance's signing key."""
        from joserfc.jwk import RSAKey

        return RSAKey.generate_key(2048, private=True)

    @pytest.fixture(scope="session")
    def promptkit_database_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
        """A migrated SQLite file, copied for each test (migrating each time is slower)."""
        from promptkit.migrate import upgrade

        path = tmp_path_factory.mktemp("promptkit") / "template.sqlite3"
        upgrade(f"sqlite:///{path}")
        return path

    @pytest.fixture
    def promptkit_settings(
        tmp_path: Path,
        promptkit_environ: dict[str, str],
        promptkit_signing_key: Any,
        promptkit_database_template: Path,
    ) -> Settings:
        database = tmp_path / "promptkit.sqlite3"
        shutil.copyfile(promptkit_database_template, database)
        public_pem = promptkit_signing_key.as_pem(private=False).decode()
        return Settings(
            database_url=f"sqlite:///{database}",
            data_dir=tmp_path / "data",
            environ={"CLERK_JWT_KEY": public_pem, **promptkit_environ},
        )

    @pytest_asyncio.fixture
    async def promptkit_app(
        promptkit_settings: Settings, promptkit_plugins: list[object]
    ) -> AsyncIterator[PromptkitApp]:
        app = create_app(promptkit_settings, plugins=promptkit_plugins)
        async with app.test_app():  # with time for a plugin's first SDK import (see there)
            yield app

    @pytest_asyncio.fixture
    async def promptkit_host(promptkit_settings: Settings) -> AsyncIterator[Callable[[str], Host]]:
        """`promptkit_host("greeter")`: a real `Host` for the plugin of that name, to call its
        hookimpls with directly (`startup(host)`, then the hook under test): the settings of
        `promptkit_app` (`promptkit_environ`, a fresh data directory), no app started. One
        Host per name; their shared `http` session is closed when the test ends."""
        http = SharedHttp()
        hosts: dict[str, Host] = {}

        def host(name: str) -> Host:
            if name not in hosts:
                hosts[name] = Host(name, promptkit_settings, _http=http)
            return hosts[name]

        yield host
        await http.close()

    @pytest_asyncio.fixture
    async def promptkit_fake_openai() -> AsyncIterator[Any]:
        """A scriptable OpenAI-compatible server on a loopback port (`FakeOpenAI`): point the
        app at it with `OPENAI_BASE_URL=fake.base_url` in `promptkit_environ`, queue
        `Script(...)`s, and read what it received."""
        from .fake_openai import FakeOpenAI

        fake = await FakeOpenAI().start()
        yield fake
        await fake.close()

    @pytest.fixture
    def promptkit_client(promptkit_app: PromptkitApp) -> Any:
        return promptkit_app.test_client()

    @pytest.fixture
    def promptkit_token(promptkit_signing_key: Any) -> Callable[..., dict[str, str]]:
        """`promptkit_token("alice")`: the headers of a signed-in user; keyword arguments add
        the active organization (`org_id`, `org_slug`, `org_role`)."""
        # The built-in Clerk plugin's own minting, reached by its installed name like any plugin.
        mint_session_token = importlib.import_module("promptkit_clerk.local").mint_session_token

        def headers(user_id: str, **organization: str) -> dict[str, str]:
            token = mint_session_token(
                promptkit_signing_key, user_id, ttl_seconds=900, **organization
            )
            return {"Authorization": f"Bearer {token}"}

        return headers
