"""The plugin manager and the hook facade."""

from __future__ import annotations

import json
import logging
import textwrap
from datetime import UTC, datetime
from typing import Any

import pytest

from promptkit import Principal, ProviderError, hookimpl
from promptkit.app import create_app
from promptkit.cli import cli
from promptkit.plugins import PluginLoadError, build_plugin_manager


def install_fake_distribution(tmp_path, monkeypatch, name, source):
    """A real installed distribution with an entry point in group `promptkit`."""
    (tmp_path / f"{name}_plugin.py").write_text(textwrap.dedent(source))
    info = tmp_path / f"{name}_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[promptkit]\n{name} = {name}_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))


class Passes:
    @hookimpl
    async def authenticate(self, request):
        return None


class AsyncAnswers:
    @hookimpl
    async def authenticate(self, request):
        return Principal(user_id="from-async")


class SyncAnswers:
    @hookimpl
    def authenticate(self, request):
        return Principal(user_id="from-sync")


async def whoami(app, headers=None):
    async with app.test_app():
        response = await app.test_client().get("/projects", headers=headers or {})
    return response


async def test_first_real_answer_wins_over_async_none(settings):
    # Registered last = asked first: the async None must not claim the call.
    app = create_app(settings, plugins=[SyncAnswers(), Passes()])
    assert (await whoami(app)).status_code == 200


async def test_async_hookimpl_answers(settings):
    app = create_app(settings, plugins=[AsyncAnswers()])
    assert (await whoami(app)).status_code == 200


async def test_authentication_error_from_a_plugin_is_401_with_its_reason(settings):
    from promptkit import AuthenticationError

    class Rejects:
        @hookimpl
        def authenticate(self, request):
            raise AuthenticationError("token expired")

    app = create_app(settings, plugins=[SyncAnswers(), Rejects()])
    response = await whoami(app)
    assert response.status_code == 401
    assert (await response.get_json())["error"]["message"] == "token expired"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_a_crashing_auth_plugin_is_503_not_500(settings, caplog):
    class Crashes:
        @hookimpl
        def authenticate(self, request):
            raise RuntimeError("secret-detail")

    app = create_app(settings, plugins=[Crashes()])
    response = await whoami(app)
    assert response.status_code == 503
    assert "secret-detail" not in (await response.get_data(as_text=True))


async def test_complete_stream_is_asked_of_the_plugin_that_registered_the_model(settings):
    from promptkit import ChatMessage, ChatRequest, Model

    def replying(text):
        async def stream():
            yield text

        return stream()

    class Mine:
        @hookimpl
        def register_models(self, register):
            register(Model(id="mine"))

        @hookimpl
        async def complete_stream(self, chat):
            return replying("mine")

    class Greedy:  # registered last and tryfirst: in hook order it would always answer
        @hookimpl
        async def register_models(self, register):
            register(Model(id="greedy"))

        @hookimpl(tryfirst=True)
        def complete_stream(self, chat):
            return replying("greedy")

    app = create_app(settings, plugins=[Mine(), Greedy()])
    async with app.test_app():
        for model in ("mine", "greedy"):
            chat = ChatRequest(model, [ChatMessage("user", "x")], "u", "c")
            assert [part async for part in await app.models.open_stream(chat)] == [model]


async def test_a_raising_observer_does_not_stop_the_others(settings, caplog):
    seen = []

    class First:
        @hookimpl
        def on_message_saved(self, message):
            seen.append(("first", message["id"]))

    class Broken:
        @hookimpl
        async def on_message_saved(self, message):
            raise ProviderError("observer down")

    class Last:
        @hookimpl
        async def on_message_saved(self, message, conversation, principal):
            seen.append(("last", principal.user_id))

    app = create_app(settings, plugins=[First(), Broken(), Last()])
    stamp = datetime.now(UTC)
    message = {
        "id": "msg_1",
        "conversation_id": "cnv_1",
        "role": "user",
        "content": "hi",
        "status": "complete",
        "model": None,
        "usage": None,
        "prompt": None,
        "created_at": stamp,
    }
    conversation = {
        "id": "cnv_1",
        "project_id": "prj_1",
        "title": "",
        "created_at": stamp,
        "updated_at": stamp,
    }
    with caplog.at_level(logging.ERROR):
        await app.plugins.message_saved(message, conversation, Principal("alice"))
    assert sorted(seen) == [("first", "msg_1"), ("last", "alice")]
    assert "on_message_saved" in caplog.text


def test_a_misspelled_hookimpl_fails_start_up_naming_it():
    class Typo:
        @hookimpl
        def authenticat(self, request):
            return None

    with pytest.raises(PluginLoadError, match="authenticat"):
        build_plugin_manager(extra=[Typo()])


def test_a_broken_plugin_stops_start_up_with_its_name(tmp_path, monkeypatch):
    install_fake_distribution(tmp_path, monkeypatch, "brokenthing", "raise ImportError('nope')\n")
    with pytest.raises(PluginLoadError, match="brokenthing"):
        build_plugin_manager()


def test_a_disabled_plugin_is_never_imported(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "explosive",
        f"""
        open({str(marker)!r}, "w").close()
        raise RuntimeError("must not be imported")
        """,
    )
    pm = build_plugin_manager(disabled=["explosive"])
    assert not marker.exists()
    assert pm.get_plugin("explosive") is None


def test_an_installed_plugin_is_found_and_listed(tmp_path, monkeypatch, capsys):
    install_fake_distribution(
        tmp_path,
        monkeypatch,
        "greeter",
        """
        from promptkit import hookimpl

        @hookimpl
        def on_message_saved(message):
            pass
        """,
    )
    monkeypatch.delenv("PROMPTKIT_DISABLED_PLUGINS", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["plugins", "--hook", "on_message_saved"], standalone_mode=True)
    assert exit_info.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    assert {
        "name": "greeter",
        "version": "1.0",
        "hooks": ["on_message_saved"],
        "builtin": False,
    } in rows


def test_a_misspelled_disabled_plugin_stops_start_up_naming_the_installed_ones():
    with pytest.raises(PluginLoadError) as raised:
        build_plugin_manager(disabled=["opeani"])
    message = str(raised.value)
    assert "'opeani'" in message and "openai" in message and "clerk" in message


def test_an_installed_plugin_passed_again_replaces_its_installed_copy():
    import promptkit_echo

    pm = build_plugin_manager(extra=[promptkit_echo])
    registered = [plugin for _, plugin in pm.list_name_plugin() if plugin is promptkit_echo]
    assert registered == [promptkit_echo]


def test_plugins_order_shows_who_is_asked_first(monkeypatch, capsys):
    monkeypatch.delenv("PROMPTKIT_DISABLED_PLUGINS", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["plugins", "--order", "--hook", "authenticate"], standalone_mode=True)
    assert exit_info.value.code == 0
    order = json.loads(capsys.readouterr().out)
    assert order["authenticate"][-1] == {"plugin": "clerk", "priority": "trylast"}


class Webhooks:
    """A plugin with one authenticated route and one public one."""

    @hookimpl
    def register_routes(self) -> Any:
        from quart import Blueprint, request

        from promptkit import context, public_route

        blueprint = Blueprint("webhooks_plugin", __name__, url_prefix="/webhooks")

        @blueprint.get("/me")
        async def me() -> dict[str, str]:
            return {"user_id": context.principal().user_id}

        @blueprint.post("/incoming")
        @public_route
        async def incoming() -> tuple[dict[str, bool], int]:
            ok = request.headers.get("X-Signature") == "right"
            return {"accepted": ok}, 200 if ok else 401

        return blueprint


async def test_a_plugins_routes_are_authenticated_unless_marked_public(make_app, auth):
    app = make_app(Webhooks())
    async with app.test_app():
        client = app.test_client()
        assert (await client.get("/webhooks/me")).status_code == 401
        mine = await client.get("/webhooks/me", headers=auth("alice"))
        assert (await mine.get_json()) == {"user_id": "alice"}
        public = await client.post("/webhooks/incoming", headers={"X-Signature": "right"})
        assert public.status_code == 200  # no credential asked for
        assert (await client.post("/webhooks/incoming")).status_code == 401


def test_a_plugin_blueprint_name_that_is_taken_stops_start_up(make_app):
    class Clash:
        @hookimpl
        def register_routes(self) -> Any:
            from quart import Blueprint

            return [Blueprint("projects", __name__, url_prefix="/mine")]

    with pytest.raises(PluginLoadError, match="'projects' is taken"):
        make_app(Clash())


def test_promptkit_plugins_lists_a_plugins_routes():
    from promptkit.plugins import describe_plugins

    pm = build_plugin_manager(extra=[Webhooks()])
    [row] = [row for row in describe_plugins(pm) if "register_routes" in row["hooks"]]
    assert row["routes"] == ["GET /webhooks/me", "POST /webhooks/incoming"]


async def test_observers_get_the_apis_json_shapes_in_a_real_chat(make_app, auth):
    dumped: list[str] = []

    class Archiver:
        @hookimpl
        def on_message_saved(self, message, conversation):
            dumped.append(json.dumps({"message": message, "conversation": conversation}))

    app = make_app(Archiver())
    async with app.test_app():
        client = app.test_client()
        alice = auth("alice")
        project = await (
            await client.post("/projects", json={"name": "P"}, headers=alice)
        ).get_json()
        conversation = await (
            await client.post(f"/projects/{project['id']}/conversations", json={}, headers=alice)
        ).get_json()
        response = await client.post(
            "/chat", json={"conversation_id": conversation["id"], "message": "hi"}, headers=alice
        )
        await response.get_data()
        listed = await (
            await client.get(f"/conversations/{conversation['id']}/messages", headers=alice)
        ).get_json()
    seen = [json.loads(line)["message"] for line in dumped]
    assert [message["role"] for message in seen] == ["user", "assistant"]
    # Exactly what the API answers for the same messages; `branch`, a message's place among
    # its versions, belongs to the lists (it changes as versions are added).
    assert seen == [{k: v for k, v in m.items() if k != "branch"} for m in listed["data"]]


async def test_tracing_logs_every_hook_call_without_its_values(make_app, auth, caplog):
    from promptkit.settings import Settings

    assert Settings.from_env({"PROMPTKIT_TRACE_PLUGINS": "1"}).trace_plugins
    app = make_app(trace_plugins=True)
    token = auth("alice")
    with caplog.at_level(logging.INFO, logger="promptkit.plugins.trace"):
        async with app.test_app():
            response = await app.test_client().get("/projects", headers=token)
            assert response.status_code == 200
    traced = [r.getMessage() for r in caplog.records if r.name == "promptkit.plugins.trace"]
    assert any(line.startswith("hook startup ") for line in traced)
    [line] = [line for line in traced if line.startswith("hook authenticate ")]
    assert "answered" in line and "'clerk'" in line and "'request'" in line
    assert token["Authorization"].split()[1] not in "\n".join(traced)


async def test_without_tracing_nothing_is_logged(make_app, auth, caplog):
    app = make_app()
    with caplog.at_level(logging.INFO, logger="promptkit.plugins.trace"):
        async with app.test_app():
            await app.test_client().get("/projects", headers=auth("alice"))
    assert not [r for r in caplog.records if r.name == "promptkit.plugins.trace"]
