"""The tool loop: the model calls tools, the kernel runs them and calls the model again.

`run_steps` wraps a turn's provider stream when its project enabled tools. It passes the
provider's items through and adds its own: `StepStart` and `StepEnd` around each model call,
`ToolInput` once a call's arguments are complete and checked, `ToolOutput` once it ran. The
calls of one step run at once; their results (or errors) go back to the model as `tool`
messages, until the model answers without calling a tool or `PROMPTKIT_MAX_TOOL_STEPS` model
calls were made. `wire.Encoder` encodes those items as AI SDK UI message stream parts and
keeps the `UIMessage` parts that are stored; `history.expand_history` turns stored parts back
into upstream messages.

Cancellation: the loop runs inside the turn's pump task; cancelling it (the client went away)
cancels the provider's read or the running tools, whichever is in progress.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ..hooktypes import ChatMessage, ChatRequest, StreamEnd, ToolCall, ToolCallDelta
from ..tools import Tool, ToolContext, ToolInputError

if TYPE_CHECKING:
    from ..app import PromptkitApp

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
