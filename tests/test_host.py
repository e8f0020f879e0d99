"""The `Host` that hooks receive: one per app and plugin, holding the plugin's name, its
settings, its own state, the app's shared HTTP session, its logger and its data directory,
and nothing of the database, the routes or other plugins."""

from __future__ import annotations

import logging
from typing import Any

import promptkit_files
import pytest
from quart import Blueprint

from promptkit import Host, Principal, Upload, context, hookimpl
from promptkit.plugins import build_plugin_manager, describe_plugins
from promptkit.testing.fake_openai import FakeOpenAI


class Recorder:
    """A plugin named `name` that writes to its state and keeps every Host it is given."""

    def __init__(self, name: str) -> None:
        self.__name__ = name  # pluggy registers a plugin object under this name
        self.hosts: list[Host] = []

    @hookimpl
    def startup(self, host: Host) -> None:
        self.hosts.append(host)
        host.state["started_by"] = self.__name__

    @hookimpl
    def authenticate(self, host: Host) -> None:
        self.hosts.append(host)

    @hookimpl
    def shutdown(self, host: Host) -> None:
        self.hosts.append(host)


async def test_each_plugin_gets_its_own_host_in_every_hook(make_app, auth):
    alpha, beta = Recorder("alpha"), Recorder("beta")
    app = make_app(alpha, beta)
    async with app.test_app():
        await app.test_client().get("/projects", headers=auth("alice"))
    [alpha_host] = set(alpha.hosts)  # the same object in startup, authenticate and shutdown
    [beta_host] = set(beta.hosts)
    assert len(alpha.hosts) == 3
    assert (alpha_host.name, beta_host.name) == ("alpha", "beta")
    assert alpha_host.state == {"started_by": "alpha"}
    assert beta_host.state == {"started_by": "beta"}
    assert app.plugins.host("alpha") is alpha_host


async def test_two_apps_do_not_share_a_plugins_state(make_app):
    plugin = Recorder("alpha")
    for app in (make_app(plugin), make_app(plugin)):
        async with app.test_app():
            pass
    first, second = plugin.hosts[0], plugin.hosts[-1]
    assert first is not second and first.state is not second.state


def test_setting_reads_the_apps_environment(make_app):
    host = make_app(environ={"ALPHA_GREETING": "hi"}).plugins.host("alpha")
    assert host.setting("ALPHA_GREETING") == "hi"
    assert host.setting("ALPHA_MISSING") is None
    assert host.setting("ALPHA_MISSING", "hello") == "hello"
    assert host.settings.environ["ALPHA_GREETING"] == "hi"


def test_a_host_names_its_logger_and_data_directory_after_its_plugin(make_app, settings):
    host = make_app().plugins.host("files")
    assert host.log.name == "promptkit.plugins.files"
    assert host.data_dir == settings.data_dir / "files"


def test_a_host_reaches_nothing_of_the_app_but_what_it_holds(make_app):
    host = make_app().plugins.host("alpha")
    for kernel_part in ("db", "app", "plugins", "routes", "blueprints", "extensions", "models"):
        assert not hasattr(host, kernel_part)
    public = {name for name in dir(host) if not name.startswith("_")}
    assert public == {"name", "setting", "settings", "state", "http", "log", "data_dir"}


class HttpUser:
    """Uses the shared session in `startup` and looks at it again in `shutdown`."""

    def __init__(self, name: str, url: str = "") -> None:
        self.__name__ = name
        self.url = url
        self.sessions: list[Any] = []
        self.open_at_shutdown: bool | None = None

    @hookimpl
    async def startup(self, host: Host) -> None:
        self.sessions.append(host.http)
        if self.url:
            async with host.http.get(self.url) as response:
                assert response.status == 200

    @hookimpl
    def shutdown(self, host: Host) -> None:
        session = host.http
        self.open_at_shutdown = session is self.sessions[0] and not session.closed


async def test_http_is_one_session_per_app_closed_after_every_shutdown(make_app):
    fake = await FakeOpenAI().start()  # any local HTTP server will do: its model list
    try:
        alpha, beta = HttpUser("alpha", f"{fake.base_url}/models"), HttpUser("beta")
        app = make_app(alpha, beta)
        async with app.test_app():
            assert alpha.sessions[0] is beta.sessions[0]  # one session for the app's plugins
            assert not alpha.sessions[0].closed
        assert alpha.open_at_shutdown and beta.open_at_shutdown  # open until both had theirs
        assert alpha.sessions[0].closed
        other = make_app(HttpUser("alpha"))
        async with other.test_app():
            assert other.plugins.host("alpha").http is not alpha.sessions[0]
    finally:
        await fake.close()


async def test_no_session_is_opened_unless_a_plugin_asks(make_app):
    app = make_app()
    async with app.test_app():
        pass
    assert app.plugins._http._session is None  # nothing was opened to be closed


class Pages:
    """Two plugins with a route each: each view reads its own plugin's Host."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    @hookimpl
    def startup(self, host: Host) -> None:
        host.state["owner"] = host.name

    @hookimpl
    def register_routes(self, host: Host) -> Blueprint:
        blueprint = Blueprint(f"{self.__name__}_pages", __name__, url_prefix=f"/{self.__name__}")
        inner = Blueprint("inner", __name__, url_prefix="/inner")

        @blueprint.get("/whose")
        async def whose() -> dict[str, Any]:
            found = context.host()
            return {"name": found.name, "owner": found.state["owner"], "asked": host is found}

        @inner.get("/whose")
        async def inner_whose() -> dict[str, str]:
            return {"name": context.host().name}

        blueprint.register_blueprint(inner)
        return blueprint


async def test_a_plugins_view_reads_its_own_host(make_app, auth):
    app = make_app(Pages("alpha"), Pages("beta"))
    async with app.test_app():
        client = app.test_client()
        for name in ("alpha", "beta"):
            response = await client.get(f"/{name}/whose", headers=auth("alice"))
            assert await response.get_json() == {"name": name, "owner": name, "asked": True}
            nested = await client.get(f"/{name}/inner/whose", headers=auth("alice"))
            assert await nested.get_json() == {"name": name}


def test_promptkit_plugins_lists_the_routes_of_a_plugin_that_names_host():
    pm = build_plugin_manager(extra=[Pages("alpha")])
    [row] = [row for row in describe_plugins(pm) if row["name"] == "alpha"]
    assert row["routes"] == ["GET /alpha/inner/whose", "GET /alpha/whose"]


async def test_a_kernel_view_has_no_host(make_app):
    app = make_app()
    async with app.test_request_context("/projects"):
        with pytest.raises(RuntimeError, match="plugin's own blueprints"):
            context.host()


class StillOnApp:
    def __init__(self) -> None:
        self.__name__ = "legacy"

    @hookimpl
    def startup(self, app: Any) -> None:
        app.extensions["legacy"] = app.settings.environ.get("LEGACY_SETTING")

    @hookimpl
    def authenticate(self, request: Any, app: Any) -> Principal | None:
        return None


async def test_a_hookimpl_naming_app_still_works_and_is_warned_of_once(make_app, auth, caplog):
    with caplog.at_level(logging.WARNING, logger="promptkit.plugins"):
        app = make_app(StillOnApp(), Recorder("modern"), environ={"LEGACY_SETTING": "kept"})
        async with app.test_app():
            await app.test_client().get("/projects", headers=auth("alice"))
            await app.test_client().get("/projects", headers=auth("alice"))
    assert app.extensions["legacy"] == "kept"
    warnings = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert {r.levelno for r in warnings} == {logging.WARNING}
    warned = [r.getMessage() for r in warnings]
    assert len(warned) == 2, warned  # one per hookimpl, not one per call
    assert any("'legacy'" in line and "startup" in line for line in warned)
    assert any("'legacy'" in line and "authenticate" in line for line in warned)
    assert not any("'modern'" in line for line in warned)


def test_no_installed_plugin_names_app(make_app, caplog):
    with caplog.at_level(logging.WARNING, logger="promptkit.plugins"):
        make_app()
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]


def test_an_installed_plugin_passed_again_keeps_its_name():
    pm = build_plugin_manager(extra=[promptkit_files])
    assert pm.get_name(promptkit_files) == "files"


async def test_promptkit_host_calls_a_hookimpl_with_a_real_host(promptkit_host, tmp_path):
    # The files plugin on its own: its local store, in the host's data directory.
    host = promptkit_host("files")
    assert promptkit_host("files") is host
    promptkit_files.startup(host)
    upload = tmp_path / "note.txt"
    upload.write_bytes(b"hello")
    stored = await promptkit_files.store_file(
        Upload(str(upload), "note.txt", "text/plain", 5), host
    )
    assert stored.provider == "local"
    assert (host.data_dir / stored.provider_file_id).read_bytes() == b"hello"
    await promptkit_files.shutdown(host)
    assert host.state == {}
