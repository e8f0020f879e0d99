"""From promptkit's chat messages to the Messages API's `system` and `messages` parameters."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from promptkit import Attachment, ChatMessage, ToolSpec

# Read as base64 `document` blocks; images as `image` blocks, text files as text.
DOCUMENTS = ("application/pdf",)


def to_anthropic(
    messages: list[ChatMessage], files: Mapping[int, list[dict[str, Any]]] | None = None
) -> tuple[str | None, list[dict[str, Any]]]:
    """Split out the system prompt and shape the turns as the Messages API expects.

    The API takes the system prompt as a parameter of its own, not as a message, and its
    conversation must start with a user turn. The history may not: trimming to the context
    budget can cut it anywhere. Consecutive turns of one role are joined into one. An
    assistant's tool calls become `tool_use` blocks and their results `tool_result` blocks of
    the user turn that follows, as the API wants them. `files` holds the content blocks of the
    attachments of the user messages, by index (`file_blocks`): such a message's content is
    those blocks, then its text.
    """
    files = files or {}
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.role == "system" or (not turns and message.role != "user"):
            continue
        role = "user" if message.role == "tool" else message.role
        content = _content(message)
        if index in files:
            content = [*files[index], *_blocks(content)]
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
        return [_text_block(content)] if content else []
    return content


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


async def file_blocks(messages: list[ChatMessage]) -> dict[int, list[dict[str, Any]]]:
    """The content blocks of each user message's attachments, by the message's index."""
    return {
        index: [await _block(attachment) for attachment in message.attachments]
        for index, message in enumerate(messages)
        if message.role == "user" and message.attachments
    }


async def _block(attachment: Attachment) -> dict[str, Any]:
    data = await attachment.read_bytes()  # the SDK sends a request built whole
    if attachment.is_text:
        text = data.decode("utf-8", errors="replace")
        return _text_block(f"File {attachment.filename} ({attachment.media_type}):\n{text}")
    source = {
        "type": "base64",
        "media_type": attachment.media_type,
        "data": base64.b64encode(data).decode(),
    }
    kind = "document" if attachment.media_type in DOCUMENTS else "image"
    return {"type": kind, "source": source}
