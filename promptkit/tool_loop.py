"""The tool loop: the model calls tools, the kernel runs them and calls the model again.

`run_steps` wraps a turn's provider stream when its project enabled tools. It passes the
provider's items through and adds its own: `StepStart` and `StepEnd` around each model call,
`ToolInput` once a call's arguments are complete and checked, `ToolOutput` once it ran. The
calls of one step run at once; their results (or errors) go back to the model as `tool`
messages, until the model answers without calling a tool or `PROMPTKIT_MAX_TOOL_STEPS` model
calls were made. `Recorder` renders those items as AI SDK UI message stream parts and keeps
the `UIMessage` parts that are stored; `expand_history` turns stored parts back into upstream
messages.

Cancellation: the loop runs inside the turn's pump task; cancelling it (the client went away)
cancels the provider's read or the running tools, whichever is in progress.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .hooktypes import ChatMessage, ChatRequest, ReasoningDelta, StreamEnd, ToolCall, ToolCallDelta
from .tools import Tool, ToolContext, ToolInputError

if TYPE_CHECKING:
    from .app import PromptkitApp

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StepStart:
    """A model call begins."""


@dataclass(frozen=True, slots=True)
class StepEnd:
    """A model call, and the tools it called, are done."""


@dataclass(frozen=True, slots=True)
class ToolInput:
    """A call's arguments are complete: `input` parsed, or `error` (and the raw text) when they
    are not JSON, do not match the schema, or name no enabled tool."""

    call_id: str
    name: str
    arguments: str
    input: Any
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """A call ran: its JSON-ready `output`, or `error` (it raised, timed out, said too much)."""

    call_id: str
    output: Any = None
    error: str | None = None


KERNEL_ITEMS = (StepStart, StepEnd, ToolInput, ToolOutput)


async def run_steps(
    app: PromptkitApp,
    chat: ChatRequest,
    first: AsyncIterator[Any],
    tools: dict[str, Tool],
    context: ToolContext,
    may_run: asyncio.Event,
) -> AsyncIterator[Any]:
    """The items of every step of one reply, ending with one `StreamEnd` (usage summed).
    No tool runs before `may_run` is set (the user message is stored)."""
    settings = app.settings
    stream, messages = first, list(chat.messages)
    usage: dict[str, int] | None = None
    end: StreamEnd | None = None
    for step in range(1, settings.max_tool_steps + 1):
        yield StepStart()
        calls: dict[str, tuple[list[str], list[str]]] = {}  # id -> ([name], argument fragments)
        text: list[str] = []
        end = None
        async for item in stream:
            if isinstance(item, StreamEnd):
                end = item
                continue
            if isinstance(item, str):
                text.append(item)
            elif isinstance(item, ToolCallDelta):
                name, fragments = calls.setdefault(item.call_id, ([], []))
                if item.name and not name:
                    name.append(item.name)
                fragments.append(item.arguments)
            yield item
        usage = _add_usage(usage, end.usage if end else None)
        model = end.model if end else None
        if not calls:
            yield StepEnd()
            yield StreamEnd(end.finish_reason if end else "stop", model, usage)
            return
        inputs = [
            _checked(call_id, name[0] if name else "", "".join(fragments), tools)
            for call_id, (name, fragments) in calls.items()
        ]
        for checked in inputs:
            yield checked
        await may_run.wait()
        outputs = await asyncio.gather(*(_run(checked, tools, context, app) for checked in inputs))
        for checked, output in zip(inputs, outputs, strict=True):
            if checked.error is None:  # a refused input was shown as `tool-input-error`
                yield output
        yield StepEnd()
        messages.append(
            ChatMessage(
                role="assistant",
                content="".join(text),
                tool_calls=tuple(ToolCall(c.call_id, c.name, c.arguments) for c in inputs),
            )
        )
        messages.extend(
            ChatMessage(role="tool", content=result_text(o.output, o.error), tool_call_id=o.call_id)
            for o in outputs
        )
        if step == settings.max_tool_steps:
            break
        chat = dataclasses.replace(chat, messages=list(messages))
        stream = await app.models.open_stream(chat)
    log.info("a reply stopped after %d tool steps", settings.max_tool_steps)
    yield StreamEnd("tool-calls", end.model if end else None, usage)


def _checked(call_id: str, name: str, arguments: str, tools: dict[str, Tool]) -> ToolInput:
    try:
        raw = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return ToolInput(call_id, name, arguments, arguments, "the arguments are not valid JSON")
    tool = tools.get(name)
    if tool is None:
        return ToolInput(call_id, name, arguments, raw, f"no tool named {name!r} is enabled")
    try:
        tool.parse(arguments)
    except ToolInputError as error:
        return ToolInput(call_id, name, arguments, raw, str(error))
    return ToolInput(call_id, name, arguments, raw)


async def _run(
    checked: ToolInput, tools: dict[str, Tool], context: ToolContext, app: PromptkitApp
) -> ToolOutput:
    if checked.error is not None:
        return ToolOutput(checked.call_id, error=checked.error)
    tool, settings = tools[checked.name], app.settings
    tool_log = context.log.getChild(tool.name)
    try:
        async with asyncio.timeout(settings.tool_timeout):
            output = await tool.function(
                tool.parse(checked.arguments), dataclasses.replace(context, log=tool_log)
            )
        size = len(orjson.dumps(output))
    except TimeoutError:
        tool_log.warning("tool %r timed out", tool.name)
        return ToolOutput(
            checked.call_id, error=f"the tool did not finish within {settings.tool_timeout:g} s"
        )
    except TypeError as error:  # orjson: not JSON
        if "serializable" not in str(error):
            return _failed(checked, tool, tool_log, error)
        tool_log.error("tool %r returned %s, which JSON cannot hold", tool.name, type(output))
        return ToolOutput(checked.call_id, error="the tool returned something JSON cannot hold")
    except Exception as error:
        return _failed(checked, tool, tool_log, error)
    if size > settings.tool_max_output_bytes:
        return ToolOutput(
            checked.call_id,
            error=f"the tool's result is too large ({size} bytes; the limit is "
            f"{settings.tool_max_output_bytes})",
        )
    return ToolOutput(checked.call_id, output)


def _failed(
    checked: ToolInput, tool: Tool, tool_log: logging.Logger, error: Exception
) -> ToolOutput:
    tool_log.warning("tool %r raised %s", tool.name, type(error).__name__, exc_info=error)
    message = str(error)[:500] or type(error).__name__
    return ToolOutput(checked.call_id, error=f"the tool failed: {message}")


def result_text(output: Any, error: str | None) -> str:
    """A call's result as the JSON text a `tool` message carries."""
    return orjson.dumps({"error": error} if error is not None else output).decode()


def _add_usage(total: dict[str, int] | None, more: dict[str, int] | None) -> dict[str, int] | None:
    if not more:
        return total
    if not total:
        return dict(more)
    return {key: total.get(key, 0) + more.get(key, 0) for key in {*total, *more}}


def part(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


class Recorder:
    """Renders a reply's non-text items (and, when `framed`, its text too) as UI message
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


ExpandHistory = Callable[[dict[str, Any]], list[ChatMessage]]
