"""From promptkit's chat messages to the Messages API's `system` and `messages` parameters."""

from __future__ import annotations

import json
from typing import Any

from promptkit import ChatMessage, ToolSpec


def to_anthropic(messages: list[ChatMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """Split out the system prompt and shape the turns as the Messages API expects.

    The API takes the system prompt as a parameter of its own, not as a message, and its
    conversation must start with a user turn. The history may not: trimming to the context
    budget can cut it anywhere. Consecutive turns of one role are joined into one. An
    assistant's tool calls become `tool_use` blocks and their results `tool_result` blocks of
    the user turn that follows, as the API wants them.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system" or (not turns and message.role != "user"):
            continue
        role = "user" if message.role == "tool" else message.role
        content = _content(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] = _join(turns[-1]["content"], content)
        else:
            turns.append({"role": role, "content": content})
    return system, turns


def to_anthropic_tools(tools: tuple[ToolSpec, ...]) -> list[dict[str, Any]]:
    return [
        {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
        for tool in tools
    ]


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    if message.role == "tool":
        return [_tool_result(message)]
    if not message.tool_calls:
        return message.content
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks += [
        {"type": "tool_use", "id": call.call_id, "name": call.name, "input": _input(call.arguments)}
        for call in message.tool_calls
    ]
    return blocks


def _tool_result(message: ChatMessage) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": message.tool_call_id,
        "content": message.content,
    }
    try:
        result = json.loads(message.content)
    except ValueError:
        result = None
    if isinstance(result, dict) and list(result) == ["error"]:  # the kernel's error result
        block["is_error"] = True
    return block


def _input(arguments: str) -> Any:
    # `tool_use.input` must be an object; arguments the model got wrong were refused with an
    # error result, so an empty object stands in for them.
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _join(
    first: str | list[dict[str, Any]], second: str | list[dict[str, Any]]
) -> str | list[dict[str, Any]]:
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second
    return _blocks(first) + _blocks(second)


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content
