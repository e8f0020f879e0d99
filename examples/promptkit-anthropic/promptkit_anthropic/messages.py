"""From promptkit's chat messages to the Messages API's `system` and `messages` parameters."""

from __future__ import annotations

from typing import Any

from promptkit import ChatMessage


def to_anthropic(messages: list[ChatMessage]) -> tuple[str | None, list[dict[str, Any]]]:
    """Split out the system prompt and shape the turns as the Messages API expects.

    The API takes the system prompt as a parameter of its own, not as a message, and its
    conversation must start with a user turn. The history may not: trimming to the context
    budget can cut it anywhere. Consecutive turns of one role are joined into one.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system" or (not turns and message.role == "assistant"):
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    return system, turns
