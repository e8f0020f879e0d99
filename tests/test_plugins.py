"""The plugin manager and the hook facade."""

from __future__ import annotations

import json
import logging
import textwrap

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
    with caplog.at_level(logging.ERROR):
        await app.plugins.message_saved({"id": "msg_1"}, {"id": "cnv_1"}, Principal("alice"))
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
