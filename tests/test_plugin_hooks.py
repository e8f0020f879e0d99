"""One test per hook, named `test_hook_<hook>`: a plugin object implements the hook, is
registered with `create_app(plugins=[...])` as a third party's would be, and the kernel calls
it where the hook's docstring says. `test_plugin_docs` fails when a hook has no such test.

The hookimpls name only the arguments they use, as a plugin may."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from quart import Blueprint
from test_files import new_project, upload

from promptkit import (
    Model,
    Principal,
    StoredFile,
    StreamEnd,
    Tool,
    Upload,
    context,
    hookimpl,
    public_route,
)
from promptkit.plugins import add_plugin_commands, build_plugin_manager
from promptkit.testing import read_ui_message_stream, text_of


async def chat(client: Any, headers: dict[str, str], body: dict[str, Any]) -> list[Any]:
    response = await client.post("/chat", json=body, headers=headers)
    assert response.status_code == 200, await response.get_data()
    return read_ui_message_stream(await response.get_data())


async def new_conversation(client: Any, headers: dict[str, str]) -> str:
    project_id = await new_project(client, headers)
    created = await client.post(f"/projects/{project_id}/conversations", json={}, headers=headers)
    return str((await created.get_json())["id"])


async def ask_the_parrot(client: Any, headers: dict[str, str], message: str) -> tuple[str, list]:
    """A new conversation and its first reply, from the `Parrot` provider's model."""
    conversation = await new_conversation(client, headers)
    body = {"conversation_id": conversation, "message": message, "model": "parrot-1"}
    return conversation, await chat(client, headers, body)


class Parrot:
    """A provider: one model, which repeats the last message."""

    @hookimpl
    def register_models(self, register: Any) -> None:
        register(Model(id="parrot-1", display_name="Parrot"))

    @hookimpl
    async def complete_stream(self, chat: Any) -> AsyncIterator[Any]:
        async def reply() -> AsyncIterator[Any]:
            yield "squawk: "
            yield chat.messages[-1].content
            yield StreamEnd(model="parrot-1", usage={"prompt_tokens": 3, "completion_tokens": 2})

        return reply()


async def test_hook_authenticate(make_app):
    class ApiKeys:
        @hookimpl
        def authenticate(self, request: Any) -> Principal | None:
            if request.headers.get("X-Api-Key") == "key-of-carol":
                return Principal(user_id="carol")
            return None  # not ours: the Clerk plugin is asked next

    app = make_app(ApiKeys())
    async with app.test_app():
        client = app.test_client()
        mine = await client.post(
            "/projects", json={"name": "P"}, headers={"X-Api-Key": "key-of-carol"}
        )
        assert mine.status_code == 201 and (await mine.get_json())["name"] == "P"
        assert (await client.get("/projects", headers={"X-Api-Key": "wrong"})).status_code == 401


async def test_hook_register_models(make_app, auth):
    app = make_app(Parrot())
    async with app.test_app():
        listed = await (await app.test_client().get("/models", headers=auth("alice"))).get_json()
    parrot = next(model for model in listed["data"] if model["id"] == "parrot-1")
    assert parrot["display_name"] == "Parrot"


async def test_hook_complete_stream(make_app, auth):
    app = make_app(Parrot())
    alice = auth("alice")
    async with app.test_app():
        _, parts = await ask_the_parrot(app.test_client(), alice, "hello")
    assert text_of(parts) == "squawk: hello"


async def test_hook_conversation_title(make_app, auth):
    class Namer:
        @hookimpl(tryfirst=True)
        async def conversation_title(self, messages: list[Any]) -> str:
            return f"About {messages[-1].content}"

    app = make_app(Parrot(), Namer(), titles=True)
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        conversation, _ = await ask_the_parrot(client, alice, "otters")
        for _ in range(100):  # named beside the reply, in a task of its own
            got = await client.get(f"/conversations/{conversation}", headers=alice)
            if (title := (await got.get_json())["title"]) != "":
                break
            await asyncio.sleep(0.02)
    assert title == "About otters"


class Observer:
    def __init__(self) -> None:
        self.saved: list[str] = []
        self.deleted: list[str] = []

    @hookimpl
    def on_message_saved(self, message: dict[str, Any], conversation: dict[str, Any]) -> None:
        self.saved.append(json.dumps([message, conversation]))  # the API's shapes: JSON-ready

    @hookimpl
    def on_message_deleted(self, message: dict[str, Any]) -> None:
        self.deleted.append(message["id"])


@pytest.fixture
async def observed(make_app, auth) -> AsyncIterator[tuple[Observer, Any, dict[str, str], str]]:
    """An app with an `Observer`, once alice's first chat ("hi") is answered."""
    observer, alice = Observer(), auth("alice")
    app = make_app(Parrot(), observer)
    async with app.test_app():
        client = app.test_client()
        conversation, _ = await ask_the_parrot(client, alice, "hi")
        yield observer, client, alice, conversation


async def test_hook_on_message_saved(observed):
    observer, _, _, conversation = observed
    seen = [json.loads(text) for text in observer.saved]
    assert [(m["role"], m["content"], c["id"]) for m, c in seen] == [
        ("user", "hi", conversation),
        ("assistant", "squawk: hi", conversation),
    ]
    assert observer.deleted == []


async def test_hook_on_message_deleted(observed):
    observer, client, alice, conversation = observed
    response = await client.delete(f"/conversations/{conversation}", headers=alice)
    assert response.status_code == 204
    saved = [json.loads(text)[0]["id"] for text in observer.saved]
    assert observer.deleted == saved  # both messages, in their order


class MemoryStore:
    """A file store that keeps the bytes in a dict."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    @hookimpl
    def store_file(self, upload: Upload) -> StoredFile:
        key = f"mem-{len(self.files) + 1}"
        self.files[key] = Path(upload.path).read_bytes()
        return StoredFile(provider_file_id=key, provider="memory")

    @hookimpl
    def read_stored_file(self, stored: StoredFile) -> AsyncIterator[bytes] | None:
        if stored.provider != "memory":
            return None

        async def chunks() -> AsyncIterator[bytes]:
            yield self.files[stored.provider_file_id]

        return chunks()

    @hookimpl
    def delete_stored_file(self, stored: StoredFile) -> bool | None:
        if stored.provider != "memory":
            return None
        del self.files[stored.provider_file_id]
        return True


@pytest.fixture
async def memory_store(make_app, auth) -> AsyncIterator[tuple[MemoryStore, Any, dict[str, str]]]:
    """An app whose uploads go to a `MemoryStore`, with alice's headers."""
    store, alice = MemoryStore(), auth("alice")
    app = make_app(store)
    async with app.test_app():
        yield store, app.test_client(), alice


async def uploaded(client: Any, headers: dict[str, str], data: bytes) -> dict[str, Any]:
    """A new file of a new project, as the upload answered it."""
    response = await upload(client, await new_project(client, headers), headers, data)
    assert response.status_code == 201
    return dict(await response.get_json())


async def test_hook_store_file(memory_store):
    store, client, alice = memory_store
    created = await uploaded(client, alice, b"the bytes")
    assert created["provider_file_id"] == "mem-1"
    assert store.files == {"mem-1": b"the bytes"}


async def test_hook_read_stored_file(memory_store):
    store, client, alice = memory_store
    created = await uploaded(client, alice, b"abc")
    store.files["mem-1"] = b"changed in the store"  # what is read comes from the hook
    got = await client.get(f"/files/{created['id']}/content", headers=alice)
    assert got.status_code == 200
    assert await got.get_data() == b"changed in the store"


async def test_hook_delete_stored_file(memory_store):
    store, client, alice = memory_store
    created = await uploaded(client, alice, b"abc")
    assert store.files == {"mem-1": b"abc"}
    assert (await client.delete(f"/files/{created['id']}", headers=alice)).status_code == 204
    assert store.files == {}


class Lifecycle:
    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def startup(self) -> None:
        self.events.append("startup")

    @hookimpl
    async def shutdown(self) -> None:
        self.events.append("shutdown")


async def test_hook_startup(make_app):
    plugin = Lifecycle()
    app = make_app(plugin)
    assert plugin.events == []
    async with app.test_app():
        assert plugin.events == ["startup"]  # before the first request


async def test_hook_shutdown(make_app):
    plugin = Lifecycle()
    app = make_app(plugin)
    async with app.test_app():
        assert "shutdown" not in plugin.events
    assert plugin.events == ["startup", "shutdown"]


async def test_hook_register_tools(make_app, auth):
    async def roll(arguments: dict[str, Any], context: Any) -> int:
        return 4

    class Dice:
        @hookimpl
        def register_tools(self, register: Any) -> None:
            schema = {"type": "object", "properties": {}}
            register(Tool("roll_die", "Roll a fair die.", schema, roll))

    app = make_app(Dice())
    async with app.test_app():
        listed = await (await app.test_client().get("/tools", headers=auth("alice"))).get_json()
    assert "roll_die" in [tool["name"] for tool in listed["data"]]


async def test_hook_register_routes(make_app, auth):
    class Hello:
        @hookimpl
        def register_routes(self) -> Blueprint:
            blueprint = Blueprint("hello_plugin", __name__, url_prefix="/hello")

            @blueprint.get("/me")
            async def me() -> dict[str, str]:
                return {"user": context.principal().user_id}

            @blueprint.post("/webhook")
            @public_route
            async def webhook() -> tuple[str, int]:
                return "", 204

            return blueprint

    app = make_app(Hello())
    async with app.test_app():
        client = app.test_client()
        mine = await client.get("/hello/me", headers=auth("alice"))
        assert (mine.status_code, await mine.get_json()) == (200, {"user": "alice"})
        assert (await client.get("/hello/me")).status_code == 401  # authenticated like the rest
        assert (await client.post("/hello/webhook")).status_code == 204  # marked public


def test_hook_register_commands():
    class Greeter:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command()
            @click.argument("name")
            def greet(name: str) -> None:
                click.echo(f"hello, {name}")

    group = click.Group("promptkit")
    add_plugin_commands(build_plugin_manager(extra=[Greeter()]), group)
    result = CliRunner().invoke(group, ["greet", "dora"])
    assert (result.exit_code, result.output) == (0, "hello, dora\n")
