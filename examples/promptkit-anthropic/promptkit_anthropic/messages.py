"""From promptkit's chat messages to the Messages API's `system` and `messages` parameters."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from promptkit import Attachment, ChatMessage

# Read as base64 `document` blocks; images as `image` blocks, text files as text.
DOCUMENTS = ("application/pdf",)


def to_anthropic(
    messages: list[ChatMessage], files: Mapping[int, list[dict[str, Any]]] | None = None
) -> tuple[str | None, list[dict[str, Any]]]:
    """Split out the system prompt and shape the turns as the Messages API expects.

    The API takes the system prompt as a parameter of its own, not as a message, and its
    conversation must start with a user turn. The history may not: trimming to the context
    budget can cut it anywhere. Consecutive turns of one role are joined into one.
    `files` holds the content blocks of the attachments of the user messages, by index
    (`file_blocks`): such a message's content is those blocks, then its text.
    """
    files = files or {}
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.role == "system" or (not turns and message.role == "assistant"):
            continue
        content: str | list[dict[str, Any]] = message.content
        if index in files:
            content = [*files[index], {"type": "text", "text": message.content}]
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] = _joined(turns[-1]["content"], content)
        else:
            turns.append({"role": message.role, "content": content})
    return system, turns


def _joined(
    first: str | list[dict[str, Any]], second: str | list[dict[str, Any]]
) -> str | list[dict[str, Any]]:
    if isinstance(first, str) and isinstance(second, str):
        return first + "\n\n" + second
    blocks = [_text_block(part) if isinstance(part, str) else part for part in (first, second)]
    return [block for part in blocks for block in (part if isinstance(part, list) else [part])]


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
