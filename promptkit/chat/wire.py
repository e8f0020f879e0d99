"""The wire: the reply as the Vercel AI SDK UI message stream v1 (Server-Sent Events whose
`data:` is one JSON part each), and the `UIMessage` parts that are stored with it."""

from __future__ import annotations

from typing import Any

import orjson

from ..hooktypes import ReasoningDelta, ToolCallDelta
from .tool_loop import StepEnd, StepStart, ToolInput, ToolOutput

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "x-vercel-ai-ui-message-stream": "v1",
}
PING = b": ping\n\n"  # a comment line: keeps proxies from closing an idle stream
DONE = b"data: [DONE]\n\n"
TEXT_ID = "text-1"  # the one text part of a reply without tools


def part(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


class Encoder:
    """Encodes a reply's non-text items (and, when `framed`, its text too) as UI message
    stream parts, and keeps the `UIMessage` parts to store.

    `framed` (a turn with tools) sends `start-step`/`finish-step` and a new text part per
    step; unframed, the caller streams the text itself and only reasoning passes here.
    """

    def __init__(self, framed: bool) -> None:
        self.framed = framed
        self._parts: list[dict[str, Any]] = []
        self._fragments: dict[int, list[str]] = {}  # text of a text/reasoning part, by index
        self._open: dict[str, tuple[str, int]] = {}  # "text"/"reasoning" -> (part id, index)
        self._tools: dict[str, dict[str, Any]] = {}
        self._count = 0

    def text(self, delta: str) -> list[bytes]:
        return self._delta("text", delta)

    def render(self, item: Any) -> list[bytes]:
        if isinstance(item, ReasoningDelta):
            return self._delta("reasoning", item.text)
        if not self.framed:
            return []  # a turn without tools shows no tool calls (none were offered)
        if isinstance(item, StepStart):
            self._parts.append({"type": "step-start"})
            return [part({"type": "start-step"})]
        if isinstance(item, ToolCallDelta):
            return self._tool_delta(item)
        if isinstance(item, ToolInput):
            stored = self._tool(item.call_id, item.name)
            stored["input"] = item.input
            shown = {"toolCallId": item.call_id, "toolName": item.name, "input": item.input}
            if item.error is not None:
                stored.update(state="output-error", errorText=item.error)
                return [part({"type": "tool-input-error", **shown, "errorText": item.error})]
            stored["state"] = "input-available"
            return [part({"type": "tool-input-available", **shown})]
        if isinstance(item, ToolOutput):
            stored, called = self._tools[item.call_id], {"toolCallId": item.call_id}
            if item.error is not None:
                stored.update(state="output-error", errorText=item.error)
                return [part({"type": "tool-output-error", **called, "errorText": item.error})]
            stored.update(state="output-available", output=item.output)
            return [part({"type": "tool-output-available", **called, "output": item.output})]
        if isinstance(item, StepEnd):
            return [*self.close(), part({"type": "finish-step"})]
        return []

    def close(self) -> list[bytes]:
        """End the open text and reasoning parts (the next step starts new ones)."""
        out = [
            part({"type": f"{kind}-end", "id": part_id})
            for kind, (part_id, _) in self._open.items()
        ]
        self._open.clear()
        return out

    def parts(self, text: list[str]) -> list[dict[str, Any]]:
        """The parts to store; unframed, `text` (streamed by the caller) becomes the text part."""
        stored = [
            {**item, "text": "".join(self._fragments[index])} if index in self._fragments else item
            for index, item in enumerate(self._parts)
        ]
        if not self.framed and text:
            stored.append({"type": "text", "text": "".join(text)})
        return stored

    def _delta(self, kind: str, delta: str) -> list[bytes]:
        out = []
        if kind not in self._open:
            self._count += 1
            part_id = f"{kind}-{self._count}"
            self._open[kind] = (part_id, len(self._parts))
            self._fragments[len(self._parts)] = []
            self._parts.append({"type": kind, "text": ""})
            out.append(part({"type": f"{kind}-start", "id": part_id}))
        part_id, index = self._open[kind]
        self._fragments[index].append(delta)
        out.append(part({"type": f"{kind}-delta", "id": part_id, "delta": delta}))
        return out

    def _tool(self, call_id: str, name: str) -> dict[str, Any]:
        stored = self._tools.get(call_id)
        if stored is None:
            stored = {"type": f"tool-{name}", "toolCallId": call_id, "state": "input-streaming"}
            self._tools[call_id] = stored
            self._parts.append(stored)
        return stored

    def _tool_delta(self, item: ToolCallDelta) -> list[bytes]:
        out = []
        if item.call_id not in self._tools:
            name = item.name or ""
            self._tool(item.call_id, name)
            out.append(
                part({"type": "tool-input-start", "toolCallId": item.call_id, "toolName": name})
            )
        if item.arguments:
            out.append(
                part(
                    {
                        "type": "tool-input-delta",
                        "toolCallId": item.call_id,
                        "inputTextDelta": item.arguments,
                    }
                )
            )
        return out
