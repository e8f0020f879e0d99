"""Tools and thinking in the Anthropic example provider, through the real `anthropic` SDK against
the fake Anthropic server of test_anthropic: `tool_use` blocks stream as tool calls, thinking as
reasoning, and earlier calls and results go back as `tool_use` and `tool_result` blocks."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import test_anthropic
from promptkit_anthropic.messages import to_anthropic
from pydantic import BaseModel
from quart.testing.app import LifespanError
from test_anthropic import FakeAnthropic, anthropic_environ, chat
from test_chat import history, parse_events
from test_tools import of_type, project_with_tools

from promptkit import (
    ChatMessage,
    ReasoningDelta,
    StreamEnd,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    hookimpl,
)

# The fixtures of test_anthropic: its fake Anthropic server, an app pointed at it.
fake_anthropic = test_anthropic.fake_anthropic
provider_app = test_anthropic.provider_app

WEATHER = ToolSpec(
    "weather",
    "The weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


PARIS = {"city": "Paris"}


def thinking_then_a_call(call_id: str = "toolu_1") -> tuple[list[dict[str, Any]], str]:
    blocks = [
        {"type": "thinking", "thinking": ["Let me", " check."]},
        {"type": "text", "text": ["Checking."]},
        {
            "type": "tool_use",
            "id": call_id,
            "name": "weather",
            "partial_json": ['{"ci', 'ty": "Pa', 'ris"}'],
        },
    ]
    return blocks, "tool_use"


async def items(stream: Any) -> list[Any]:
    return [item async for item in stream]


async def test_tool_use_streams_as_tool_calls_and_thinking_as_reasoning(
    provider_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.scripts.append(thinking_then_a_call())
    request = dataclasses.replace(chat(), tools=(WEATHER,))
    got = await items(await provider_app.models.open_stream(request))

    assert got[:-1] == [
        ReasoningDelta("Let me"),
        ReasoningDelta(" check."),
        "Checking.",
        ToolCallDelta(call_id="toolu_1", name="weather"),
        ToolCallDelta("toolu_1", '{"ci'),
        ToolCallDelta("toolu_1", 'ty": "Pa'),
        ToolCallDelta("toolu_1", 'ris"}'),
    ]
    assert got[-1].finish_reason == "tool-calls"
    assert fake_anthropic.requests[0]["tools"] == [
        {
            "name": "weather",
            "description": "The weather in a city.",
            "input_schema": WEATHER.input_schema,
        }
    ]
    assert "thinking" not in fake_anthropic.requests[0]  # not asked for: the setting is off


async def test_a_server_tools_block_is_not_a_call_to_run(
    provider_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    search = {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "partial_json": ['{"query": "weather"}'],
    }
    fake_anthropic.scripts.append(([search, {"type": "text", "text": ["Sunny."]}], "end_turn"))
    got = await items(await provider_app.models.open_stream(chat()))
    assert got[:-1] == ["Sunny."]
    assert got[-1].finish_reason == "stop"


async def test_a_chat_without_tools_sends_none(
    provider_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    got = await items(await provider_app.models.open_stream(chat()))
    usage = {"prompt_tokens": 11, "completion_tokens": 4}
    assert got[-1] == StreamEnd("stop", "claude-test-1", usage)
    assert "tools" not in fake_anthropic.requests[0]


def test_tool_calls_and_results_go_back_as_tool_use_and_tool_result_blocks() -> None:
    _, turns = to_anthropic(
        [
            ChatMessage("user", "Weather in Paris and Rome?"),
            ChatMessage(
                "assistant",
                "Checking.",
                tool_calls=(
                    ToolCall("toolu_1", "weather", '{"city": "Paris"}'),
                    ToolCall("toolu_2", "weather", "not json"),
                ),
            ),
            ChatMessage("tool", '{"sky": "clear"}', tool_call_id="toolu_1"),
            ChatMessage("tool", '{"error": "no such city"}', tool_call_id="toolu_2"),
            ChatMessage("assistant", "Clear in Paris."),
            ChatMessage("user", "Thanks"),
        ]
    )
    assert turns == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": PARIS},
                {"type": "tool_use", "id": "toolu_2", "name": "weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"sky": "clear"}'},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": '{"error": "no such city"}',
                    "is_error": True,
                },
            ],
        },
        {"role": "assistant", "content": "Clear in Paris."},
        {"role": "user", "content": "Thanks"},
    ]


async def test_the_thinking_setting_asks_thinking_models_in_turns_without_tools(
    make_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    environ = {
        **anthropic_environ(fake_anthropic),
        "PROMPTKIT_ANTHROPIC_MODELS": "claude-sonnet-4-5,claude-test-1",
        "PROMPTKIT_ANTHROPIC_THINKING_TOKENS": "2048",
    }
    app = make_app(environ=environ)
    async with app.test_app():
        for request in (chat("claude-sonnet-4-5"), chat("claude-test-1")):
            await items(await app.models.open_stream(request))
        fake_anthropic.scripts.append(thinking_then_a_call())
        with_tools = dataclasses.replace(chat("claude-sonnet-4-5"), tools=(WEATHER,))
        await items(await app.models.open_stream(with_tools))
    thinking = [request.get("thinking") for request in fake_anthropic.requests]
    assert thinking == [{"type": "enabled", "budget_tokens": 2048}, None, None]


@pytest.mark.parametrize("value", ["1000", "lots"])
async def test_a_bad_thinking_setting_stops_start_up(
    make_app: Any, fake_anthropic: FakeAnthropic, value: str
) -> None:
    environ = {**anthropic_environ(fake_anthropic), "PROMPTKIT_ANTHROPIC_THINKING_TOKENS": value}
    app = make_app(environ=environ)
    with pytest.raises(LifespanError, match="PROMPTKIT_ANTHROPIC_THINKING_TOKENS"):
        async with app.test_app():
            pass


# Through the kernel's tool loop: POST /chat, the stream, the stored parts, the next turn.


class City(BaseModel):
    city: str


class WeatherTool:
    @hookimpl
    def register_tools(self, register: Any) -> None:
        async def weather(where: City, context: Any) -> dict[str, str]:
            return {"city": where.city, "sky": "clear"}

        register(Tool("weather", "The weather in a city.", City, weather))


async def test_a_tool_round_trip_through_the_kernel(
    make_app: Any, auth: Any, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.scripts += [
        thinking_then_a_call(),
        ([{"type": "text", "text": ["Clear", " in Paris."]}], "end_turn"),
        ([{"type": "text", "text": ["Bye."]}], "end_turn"),
    ]
    app = make_app(WeatherTool(), environ=anthropic_environ(fake_anthropic))
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        _, conversation = await project_with_tools(client, alice, ["weather"])

        async def say(message: str) -> list[Any]:
            body = {"conversation_id": conversation, "message": message, "model": "claude-test-1"}
            response = await client.post("/chat", json=body, headers=alice)
            assert response.status_code == 200
            return parse_events(await response.get_data())

        events = await say("Weather in Paris?")
        stored = await history(client, alice, conversation)
        await say("Thanks")

    kinds = [e["type"] for e in events if isinstance(e, dict)]
    assert kinds.count("start-step") == 2 and "reasoning-delta" in kinds
    [available] = of_type(events, "tool-input-available")
    assert available["input"] == PARIS and available["toolName"] == "weather"
    [output] = of_type(events, "tool-output-available")
    assert output["output"] == {"city": "Paris", "sky": "clear"}
    assert of_type(events, "finish")[0]["finishReason"] == "stop"

    call_and_result = [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": PARIS},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": json.dumps({"city": "Paris", "sky": "clear"}, separators=(",", ":")),
                }
            ],
        },
    ]
    second, third = fake_anthropic.requests[1], fake_anthropic.requests[2]
    assert second["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        *call_and_result,
    ]
    assert [(p["type"], p.get("state")) for p in stored[1]["parts"]] == [
        ("step-start", None),
        ("reasoning", None),
        ("text", None),
        ("tool-weather", "output-available"),
        ("step-start", None),
        ("text", None),
    ]
    # The next turn rebuilds the history from the stored parts, in the API's own blocks.
    assert third["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        *call_and_result,
        {"role": "assistant", "content": "Clear in Paris."},
        {"role": "user", "content": "Thanks"},
    ]
