"""What is sent upstream: the system prompt, the history that fits the context budget, and
the new message; stored assistant messages with tool calls turned back into upstream messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .. import attachments
from ..hooktypes import Attachment, ChatMessage, ToolCall
from .tool_loop import result_text

ExpandHistory = Callable[[dict[str, Any]], list[ChatMessage]]


def build_messages(
    system: str | None,
    history: list[dict[str, Any]],
    new_text: str,
    budget_chars: int,
    *,
    expand: ExpandHistory | None = None,
    files_of: dict[str, tuple[Attachment, ...]] | None = None,
    new_files: tuple[Attachment, ...] = (),
) -> list[ChatMessage]:
    """The upstream messages: system prompt, the history that fits the budget, the new message.

    The system prompt and the new message are always kept, even over budget; history turns are
    dropped oldest first. `history` is oldest first; empty replies (a stream that failed before
    its first token) carry nothing and are skipped. `expand` (a turn with tools) turns an
    assistant row into its messages, tool calls and results included; without it the
    history is the text alone. `files_of` gives the files of user rows by id, `new_files` the
    new message's; each costs the budget `attachments.context_chars`.
    """
    files_of = files_of or {}
    used = len(system or "") + len(new_text) + sum(map(attachments.context_chars, new_files))
    kept: list[list[ChatMessage]] = []
    for row in reversed(history):
        if expand is not None and row["role"] == "assistant":
            turn = expand(row)
            used += sum(map(message_size, turn))
        elif row["content"]:
            files = files_of.get(row.get("id", ""), ())
            turn = [ChatMessage(role=row["role"], content=row["content"], attachments=files)]
            used += len(row["content"]) + sum(map(attachments.context_chars, files))
        else:
            continue
        if used > budget_chars:
            break
        if turn:
            kept.append(turn)
    kept.reverse()
    while (
        kept and kept[0][0].role == "assistant"
    ):  # its question was dropped: a reply alone confuses
        kept.pop(0)
    head = [ChatMessage(role="system", content=system)] if system else []
    return [
        *head,
        *(message for turn in kept for message in turn),
        ChatMessage(role="user", content=new_text, attachments=new_files),
    ]


def expand_history(row: dict[str, Any]) -> list[ChatMessage]:
    """A stored assistant message as upstream messages: per step, the text and the tool calls,
    then one `tool` message per result. Calls that never got a result (a reply cut short) are
    left out: a provider refuses a call without its result."""
    raw = row.get("parts")
    parts = orjson.loads(raw) if isinstance(raw, str | bytes) else raw or []
    if not any(str(p.get("type", "")).startswith("tool-") for p in parts):
        return [ChatMessage(role="assistant", content=row["content"])] if row["content"] else []
    out: list[ChatMessage] = []
    text: list[str] = []
    calls: list[ToolCall] = []
    results: list[ChatMessage] = []

    def flush() -> None:
        if calls or text:
            out.append(
                ChatMessage(role="assistant", content="".join(text), tool_calls=tuple(calls))
            )
            out.extend(results)
        text.clear()
        calls.clear()
        results.clear()

    for item in parts:
        kind = str(item.get("type", ""))
        if kind == "step-start":
            flush()
        elif kind == "text":
            text.append(str(item.get("text", "")))
        elif kind.startswith("tool-") and item.get("state") in ("output-available", "output-error"):
            given = item.get("input")
            arguments = given if isinstance(given, str) else orjson.dumps(given).decode()
            calls.append(ToolCall(str(item["toolCallId"]), kind.removeprefix("tool-"), arguments))
            error = item.get("errorText") if item["state"] == "output-error" else None
            results.append(
                ChatMessage(
                    role="tool",
                    content=result_text(item.get("output"), error),
                    tool_call_id=str(item["toolCallId"]),
                )
            )
    flush()
    return out


def message_size(message: ChatMessage) -> int:
    """What a message counts against the context budget, in characters."""
    return len(message.content) + sum(len(c.arguments) + len(c.name) for c in message.tool_calls)
