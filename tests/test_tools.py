"""Tools end to end: registration, `GET /tools`, a project's `tools`, and the kernel's tool loop
driven by the fake OpenAI server through the real SDK in builtin_openai: the stream's parts, the
upstream requests' tool messages, the stored `parts` and the history rebuilt from them."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from fake_openai import Script
from pydantic import BaseModel
from quart.testing.app import LifespanError
from test_chat import history, send, text_of, upstream_env

from promptkit import Capabilities, ChatRequest, Model, StreamEnd, Tool, ToolContext, hookimpl
from promptkit.settings import Settings


class Pair(BaseModel):
    a: int
    b: int


class Calls:
    """What the test tools saw."""

    def __init__(self) -> None:
        self.contexts: list[ToolContext] = []
        self.slow_started = asyncio.Event()
        self.slow_cancelled = asyncio.Event()


class ToolPlugin:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    @hookimpl
    def register_tools(self, register):
        calls = self.calls

        async def add(pair: Pair, context: ToolContext) -> dict[str, int]:
            calls.contexts.append(context)
            return {"sum": pair.a + pair.b}

        async def fail(value: dict[str, Any], context: ToolContext) -> None:
            raise RuntimeError("the disk is on fire")

        async def slow(value: dict[str, Any], context: ToolContext) -> str:
            calls.slow_started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                calls.slow_cancelled.set()
                raise
            return "late"

        async def big(value: dict[str, Any], context: ToolContext) -> str:
            return "x" * 100_000

        async def project_files(value: dict[str, Any], context: ToolContext) -> Any:
            return await context.list_project_files()

        empty = {"type": "object", "properties": {}}
        register(Tool("add", "Add two integers.", Pair, add))
        register(Tool("fail", "Always fails.", empty, fail))
        register(Tool("slow", "Takes its time.", empty, slow))
        register(Tool("big", "Says too much.", empty, big))
        register(Tool("my_files", "The project's files.", empty, project_files))


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
async def app(make_app, fake, calls):
    app = make_app(ToolPlugin(calls), environ=upstream_env(fake), tool_timeout=0.3)
    async with app.test_app():
        yield app


async def project_with_tools(client, headers, tools: list[str]) -> tuple[str, str]:
    project = await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json()
    response = await client.patch(
        f"/projects/{project['id']}", json={"tools": tools}, headers=headers
    )
    assert response.status_code == 200, await response.get_data()
    assert (await response.get_json())["tools"] == tools
    response = await client.post(
        f"/projects/{project['id']}/conversations", json={}, headers=headers
    )
    return project["id"], (await response.get_json())["id"]


def types(events: list[Any]) -> list[str]:
    return [e["type"] for e in events if isinstance(e, dict)]


def of_type(events: list[Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if isinstance(e, dict) and e["type"] == kind]


async def test_get_tools_lists_names_descriptions_and_schemas(client, auth):
    response = await client.get("/tools", headers=auth("alice"))
    assert response.status_code == 200
    tools = {tool["name"]: tool for tool in (await response.get_json())["data"]}
    assert set(tools) >= {"add", "fail", "slow", "big", "my_files"}
    assert tools["add"]["description"] == "Add two integers."
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    assert tools["fail"]["input_schema"] == {"type": "object", "properties": {}}


async def test_patch_project_tools_refuses_unknown_names_and_writes_nothing(client, auth):
    alice = auth("alice")
    project = await (await client.post("/projects", json={"name": "P"}, headers=alice)).get_json()
    assert project["tools"] == []
    response = await client.patch(
        f"/projects/{project['id']}", json={"tools": ["add", "nope"]}, headers=alice
    )
    assert response.status_code == 422
    assert "nope" in (await response.get_json())["error"]["message"]
    for bad in (None, "add", [1]):
        response = await client.patch(
            f"/projects/{project['id']}", json={"tools": bad}, headers=alice
        )
        assert response.status_code == 422, bad
    again = await (await client.get(f"/projects/{project['id']}", headers=alice)).get_json()
    assert again["tools"] == [] and again["name"] == "P"
    # A rename alone keeps the tools; the tools alone keep the name.
    await client.patch(f"/projects/{project['id']}", json={"tools": ["add"]}, headers=alice)
    renamed = await client.patch(f"/projects/{project['id']}", json={"name": "Q"}, headers=alice)
    assert (await renamed.get_json())["tools"] == ["add"]
    # Another user's project is not found, whatever the body.
    response = await client.patch(
        f"/projects/{project['id']}", json={"tools": ["add"]}, headers=auth("bob")
    )
    assert response.status_code == 404


async def test_promptkit_tools_restricts_what_projects_may_enable(make_app, auth, calls):
    app = make_app(ToolPlugin(calls), tools=("add",))
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        listed = await (await client.get("/tools", headers=alice)).get_json()
        assert [tool["name"] for tool in listed["data"]] == ["add"]
        project = await (
            await client.post("/projects", json={"name": "P"}, headers=alice)
        ).get_json()
        response = await client.patch(
            f"/projects/{project['id']}", json={"tools": ["fail"]}, headers=alice
        )
        assert response.status_code == 422


def test_the_tool_settings_are_read_from_the_environment():
    settings = Settings.from_env(
        {
            "PROMPTKIT_TOOLS": "add, my_files",
            "PROMPTKIT_MAX_TOOL_STEPS": "3",
            "PROMPTKIT_TOOL_TIMEOUT": "2.5",
            "PROMPTKIT_TOOL_MAX_OUTPUT_BYTES": "1000",
        }
    )
    assert settings.tools == ("add", "my_files")
    assert (settings.max_tool_steps, settings.tool_timeout) == (3, 2.5)
    assert settings.tool_max_output_bytes == 1000
    defaults = Settings.from_env({})
    assert defaults.tools is None and defaults.max_tool_steps == 8
    assert (defaults.tool_timeout, defaults.tool_max_output_bytes) == (30.0, 65536)
    for name in ("PROMPTKIT_MAX_TOOL_STEPS", "PROMPTKIT_TOOL_TIMEOUT"):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: "0"})


async def test_an_allow_list_naming_no_registered_tool_stops_start_up(make_app, calls):
    app = make_app(ToolPlugin(calls), tools=("ad",))
    with pytest.raises(LifespanError, match="PROMPTKIT_TOOLS names 'ad', which no plugin"):
        async with app.test_app():
            pass


async def test_two_plugins_registering_one_name_stop_start_up_naming_both(make_app, calls):
    class Other:
        @hookimpl
        def register_tools(self, register):
            async def add(value: Any, context: ToolContext) -> int:
                return 0

            register(Tool("add", "Another add.", {"type": "object"}, add))

    first, second = ToolPlugin(calls), Other()
    app = make_app(first, second)
    with pytest.raises(LifespanError) as raised:
        async with app.test_app():
            pass
    message = str(raised.value)
    assert "the tool name 'add' is registered by both plugin" in message
    assert all(repr(app.plugins.pm.get_name(p)) in message for p in (first, second))


async def test_one_tool_call_round_trip(client, auth, fake, calls):
    alice = auth("alice")
    project_id, conversation = await project_with_tools(client, alice, ["add"])
    fake.queue(
        Script(tool_calls=[("add", '{"a": 2, "b": 3}')]),
        Script(tokens=["The sum", " is 5."]),
    )
    response, events = await send(
        client, alice, {"conversation_id": conversation, "message": "2+3?"}
    )
    assert response.status_code == 200
    call_id = "call_1_0"
    assert types(events) == [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-delta",
        "tool-input-delta",
        "tool-input-available",
        "tool-output-available",
        "finish-step",
        "start-step",
        "text-start",
        "text-delta",
        "text-delta",
        "text-end",
        "finish-step",
        "message-metadata",
        "finish",
    ]
    assert events[-1] == "[DONE]"
    assert of_type(events, "tool-input-start") == [
        {"type": "tool-input-start", "toolCallId": call_id, "toolName": "add"}
    ]
    deltas = "".join(e["inputTextDelta"] for e in of_type(events, "tool-input-delta"))
    assert deltas == '{"a": 2, "b": 3}'
    assert of_type(events, "tool-input-available") == [
        {
            "type": "tool-input-available",
            "toolCallId": call_id,
            "toolName": "add",
            "input": {"a": 2, "b": 3},
        }
    ]
    assert of_type(events, "tool-output-available") == [
        {"type": "tool-output-available", "toolCallId": call_id, "output": {"sum": 5}}
    ]
    assert of_type(events, "finish")[0]["finishReason"] == "stop"
    text_starts = of_type(events, "text-start")
    assert of_type(events, "text-end") == [{"type": "text-end", "id": text_starts[0]["id"]}]

    first, second = fake.received
    assert first.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add two integers.",
                "parameters": Pair.model_json_schema(),
            },
        }
    ]
    assert second.body["messages"] == [
        {"role": "user", "content": "2+3?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": '{"sum":5}'},
    ]
    (context,) = calls.contexts
    assert context.principal.user_id == "alice"
    assert (context.project_id, context.conversation_id) == (project_id, conversation)

    stored = await history(client, alice, conversation)
    assert stored[0]["parts"] == [{"type": "text", "text": "2+3?"}]
    reply = stored[1]
    assert reply["status"] == "complete" and reply["content"] == "The sum is 5."
    assert reply["parts"] == [
        {"type": "step-start"},
        {
            "type": "tool-add",
            "toolCallId": call_id,
            "state": "output-available",
            "input": {"a": 2, "b": 3},
            "output": {"sum": 5},
        },
        {"type": "step-start"},
        {"type": "text", "text": "The sum is 5."},
    ]
    usage = of_type(events, "message-metadata")[0]["messageMetadata"]["usage"]
    assert usage == reply["usage"] and usage["completion_tokens"] == 2  # both steps summed

    # The next turn sends that history back in the provider's own format, not as flat text.
    fake.queue(Script(reply="Sure."))
    await send(client, alice, {"conversation_id": conversation, "message": "thanks"})
    sent = fake.last.body["messages"]
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"a": 2, "b": 3}
    sent[1]["tool_calls"][0]["function"]["arguments"] = '{"a": 2, "b": 3}'
    assert sent == [
        *second.body["messages"],
        {"role": "assistant", "content": "The sum is 5."},
        {"role": "user", "content": "thanks"},
    ]


async def test_parallel_calls_run_at_once_and_each_gets_its_result(client, auth, fake):
    alice = auth("alice")
    _, conversation = await project_with_tools(client, alice, ["add", "slow"])
    fake.queue(
        Script(tool_calls=[("add", '{"a": 1, "b": 1}'), ("add", '{"a": 2, "b": 2}')]),
        Script(reply="2 and 4"),
    )
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "go"})
    outputs = {e["toolCallId"]: e["output"] for e in of_type(events, "tool-output-available")}
    assert outputs == {"call_1_0": {"sum": 2}, "call_1_1": {"sum": 4}}
    tool_messages = [m for m in fake.last.body["messages"] if m["role"] == "tool"]
    assert tool_messages == [
        {"role": "tool", "tool_call_id": "call_1_0", "content": '{"sum":2}'},
        {"role": "tool", "tool_call_id": "call_1_1", "content": '{"sum":4}'},
    ]
    assert len(fake.last.body["messages"][1]["tool_calls"]) == 2


async def test_slow_and_fast_calls_of_one_step_overlap(client, auth, fake, calls):
    # The slow call times out (0.3 s here); the fast one is not made to wait behind it.
    alice = auth("alice")
    _, conversation = await project_with_tools(client, alice, ["add", "slow"])
    fake.queue(
        Script(tool_calls=[("slow", "{}"), ("add", '{"a": 1, "b": 2}')]),
        Script(reply="done"),
    )
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "go"})
    assert of_type(events, "tool-output-error") == [
        {
            "type": "tool-output-error",
            "toolCallId": "call_1_0",
            "errorText": "the tool did not finish within 0.3 s",
        }
    ]
    assert of_type(events, "tool-output-available")[0]["output"] == {"sum": 3}
    assert calls.slow_cancelled.is_set()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (("add", '{"a": 2,'), "the arguments are not valid JSON"),
        (("add", '{"a": "two", "b": 1}'), "the arguments do not match the schema: a: "),
        (("nope", "{}"), "no tool named 'nope' is enabled"),
        (("fail", '{"extra": 1}'), "no tool named 'fail' is enabled"),  # registered, not enabled
    ],
)
async def test_bad_arguments_give_the_model_an_error_result(client, auth, fake, call, error):
    alice = auth("alice")
    _, conversation = await project_with_tools(client, alice, ["add"])
    fake.queue(Script(tool_calls=[call]), Script(reply="Sorry."))
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "go"})
    (refused,) = of_type(events, "tool-input-error")
    assert refused["toolName"] == call[0] and refused["errorText"].startswith(error)
    assert not of_type(events, "tool-output-available") and not of_type(
        events, "tool-input-available"
    )
    result = json.loads(fake.last.body["messages"][-1]["content"])
    assert result["error"].startswith(error)
    stored = (await history(client, alice, conversation))[1]
    assert stored["parts"][1]["state"] == "output-error"
    assert stored["parts"][-1] == {"type": "text", "text": "Sorry."}


@pytest.mark.parametrize(
    ("tool", "error"),
    [
        ("fail", "the tool failed: the disk is on fire"),
        ("big", "the tool's result is too large (100002 bytes; the limit is 65536)"),
    ],
)
async def test_a_failing_or_oversized_tool_gives_an_error_result(client, auth, fake, tool, error):
    alice = auth("alice")
    _, conversation = await project_with_tools(client, alice, [tool])
    fake.queue(Script(tool_calls=[(tool, "{}")]), Script(reply="It failed."))
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "go"})
    assert of_type(events, "tool-output-error")[0]["errorText"] == error
    assert json.loads(fake.last.body["messages"][-1]["content"]) == {"error": error}
    assert of_type(events, "finish")[0]["finishReason"] == "stop"
    stored = (await history(client, alice, conversation))[1]
    assert stored["status"] == "complete"
    assert stored["parts"][1] == {
        "type": f"tool-{tool}",
        "toolCallId": "call_1_0",
        "state": "output-error",
        "input": {},
        "errorText": error,
    }


async def test_a_model_that_never_stops_calling_is_cut_at_max_steps(make_app, auth, fake, calls):
    fake.default = Script(tool_calls=[("add", '{"a": 1, "b": 1}')])
    app = make_app(ToolPlugin(calls), environ=upstream_env(fake), max_tool_steps=3)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        _, conversation = await project_with_tools(client, alice, ["add"])
        _, events = await send(client, alice, {"conversation_id": conversation, "message": "go"})
        stored = (await history(client, alice, conversation))[1]
    assert len(fake.received) == 3
    assert types(events).count("start-step") == 3 == types(events).count("finish-step")
    assert of_type(events, "finish")[0]["finishReason"] == "tool-calls"
    assert events[-1] == "[DONE]"
    assert stored["status"] == "complete" and stored["content"] == ""
    assert [p["type"] for p in stored["parts"]] == ["step-start", "tool-add"] * 3


async def test_a_tool_reads_the_callers_own_project_files(client, auth, fake):
    alice = auth("alice")
    _, conversation = await project_with_tools(client, alice, ["my_files"])
    fake.queue(Script(tool_calls=[("my_files", "{}")]), Script(reply="none"))
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "files?"})
    assert of_type(events, "tool-output-available")[0]["output"] == []


async def test_reasoning_deltas_stream_as_reasoning_parts(client, auth, fake):
    alice = auth("alice")
    _, conversation = await project_with_tools(client, alice, [])
    fake.queue(Script(reasoning=["Think", "ing."], tokens=["Hi"]))
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "go"})
    assert types(events) == [
        "start",
        "reasoning-start",
        "reasoning-delta",
        "reasoning-delta",
        "text-start",
        "text-delta",
        "reasoning-end",
        "text-end",
        "message-metadata",
        "finish",
    ]
    assert "tools" not in fake.last.body  # a project without tools sends none
    stored = (await history(client, alice, conversation))[1]
    assert stored["parts"] == [
        {"type": "reasoning", "text": "Thinking."},
        {"type": "text", "text": "Hi"},
    ]
    assert stored["content"] == "Hi"


async def test_client_gone_mid_tool_cancels_it_and_stores_the_steps_done(
    app, client, auth, fake, calls
):
    alice = auth("alice")
    _, conversation = await project_with_tools(client, alice, ["add", "slow"])
    app.settings.__dict__["tool_timeout"] = 30.0  # the client, not the timeout, ends this call
    fake.queue(
        Script(tool_calls=[("add", '{"a": 1, "b": 1}')]),
        Script(tool_calls=[("slow", "{}")]),
        Script(reply="never"),
    )
    headers = {**alice, "Content-Type": "application/json"}
    async with client.request("/chat", method="POST", headers=headers) as connection:
        await connection.send(
            json.dumps({"conversation_id": conversation, "message": "go"}).encode()
        )
        await connection.send_complete()
        await asyncio.wait_for(calls.slow_started.wait(), timeout=5)
        await connection.disconnect()
    await asyncio.wait_for(calls.slow_cancelled.wait(), timeout=2)
    assert len(fake.received) == 2  # the model was not called again
    deadline = time.monotonic() + 5
    stored = await history(client, alice, conversation)
    while len(stored) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        stored = await history(client, alice, conversation)
    reply = stored[1]
    assert reply["status"] == "partial"
    assert [(p["type"], p.get("state")) for p in reply["parts"]] == [
        ("step-start", None),
        ("tool-add", "output-available"),
        ("step-start", None),
        ("tool-slow", "input-available"),
    ]
    # The conversation is free, and the unfinished call is not sent back upstream.
    fake.queue(Script(reply="after"))
    response, _ = await send(client, alice, {"conversation_id": conversation, "message": "2"})
    assert response.status_code == 200
    sent = fake.last.body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user"]


class ModelWithoutTools:
    """A provider whose one model is registered without tool support."""

    def __init__(self) -> None:
        self.asked: list[ChatRequest] = []

    @hookimpl
    def register_models(self, register):
        register(Model("plain-1", capabilities=Capabilities(tools=False)))

    @hookimpl
    def complete_stream(self, chat: ChatRequest):
        self.asked.append(chat)

        async def reply():
            yield "plain"
            yield StreamEnd()

        return reply()


async def test_a_model_without_tool_support_is_never_sent_tools(make_app, auth, calls):
    provider = ModelWithoutTools()
    app = make_app(ToolPlugin(calls), provider)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        _, conversation = await project_with_tools(client, alice, ["add"])
        body = {"conversation_id": conversation, "message": "hi", "model": "plain-1"}
        response, events = await send(client, alice, body)
    assert response.status_code == 200
    assert [chat.tools for chat in provider.asked] == [()]
    assert "start-step" not in types(events)  # no tool loop: the reply is plain text
    assert text_of(events) == "plain"


class SlowToStoreUserMessages:
    """Holds the user message's `on_message_saved` (part of storing it) until released."""

    def __init__(self) -> None:
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    @hookimpl
    async def on_message_saved(self, message, conversation, principal):
        if message["role"] == "user":
            self.holding.set()
            await self.release.wait()


async def test_no_tool_runs_before_the_user_message_is_stored(make_app, auth, fake, calls):
    slow_store = SlowToStoreUserMessages()
    app = make_app(ToolPlugin(calls), slow_store, environ=upstream_env(fake))
    fake.queue(Script(tool_calls=[("add", '{"a": 2, "b": 3}')]), Script(reply="5"))
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        _, conversation = await project_with_tools(client, alice, ["add"])
        body = {"conversation_id": conversation, "message": "add"}
        sending = asyncio.create_task(send(client, alice, body))
        await asyncio.wait_for(slow_store.holding.wait(), timeout=5)
        # The model's first step overlaps with storing: it asks for the tool meanwhile.
        await asyncio.sleep(0.5)
        assert len(fake.received) == 1
        assert calls.contexts == []  # but the tool waits for the stored message
        slow_store.release.set()
        _, events = await asyncio.wait_for(sending, timeout=10)
    assert of_type(events, "tool-output-available")[0]["output"] == {"sum": 5}
    assert len(calls.contexts) == 1


async def test_the_offline_echo_provider_calls_a_tool_on_request(make_app, auth, calls):
    app = make_app(ToolPlugin(calls))  # no OpenAI settings: the echo provider answers
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        _, conversation = await project_with_tools(client, alice, ["add"])
        message = '/tool add {"a": 4, "b": 5}'
        _, events = await send(client, alice, {"conversation_id": conversation, "message": message})
        _, missing = await send(
            client, alice, {"conversation_id": conversation, "message": "/tool fail {}"}
        )
    assert of_type(events, "tool-input-available")[0]["input"] == {"a": 4, "b": 5}
    assert of_type(events, "tool-output-available")[0]["output"] == {"sum": 9}
    assert text_of(events) == 'The tool returned: {"sum":9}'
    assert text_of(missing) == "The project has no tool named 'fail' enabled."
