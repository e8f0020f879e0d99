"""The response: the reply streamed as UI message stream parts, from `start` to `[DONE]`.

Per delta the hot path is one handover from the pump and one JSON encode: no database round
trip. The loop reads what the pump has handed over, sends it, and notes how the reply ended;
its `finally` then has the recorder store the reply, once, whatever the ending. When the client
goes away, Quart cancels the response generator: the `finally` does only synchronous work (it
cancels the provider's task, whose `finally` closes the upstream request, and starts the store
in a task the app awaits at shutdown), so nothing is lost to the cancellation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from quart import Response

from .. import graceful
from ..errors import ProviderError
from ..hooktypes import StreamEnd
from ..metrics import StreamWatch, metrics
from .pump import FINISHED, IDLE, STOPPED, Interrupted
from .recorder import Recorder, Status
from .turn import Turn
from .wire import DONE, HEADERS, PING, TEXT_ID, part

log = logging.getLogger(__name__)

PING_SECONDS = 15.0  # a comment line this often while idle keeps proxies from closing the stream
SHUTTING_DOWN = "the server is shutting down: send the message again"
NOT_STORED = "the reply could not be stored"


@dataclass(frozen=True, slots=True)
class Ending:
    """How a reply ended: the status it is stored with, and the error the client is told
    instead of `finish` (None: it finished, or someone stopped it)."""

    status: Status
    error_text: str | None = None


COMPLETE = Ending("complete")
STOPPED_HERE = Ending("partial")  # stopped on request: every client still gets a `finish`


async def stream_response(turn: Turn) -> Response:
    events = reply_events(turn)
    # Started here rather than by Quart: from its first step on, the generator's `finally` runs
    # whatever happens. When the client leaves before the body starts, Quart drops the response
    # unread; asyncio then closes a started generator (an unstarted one would just vanish,
    # leaving the provider's request running and the lease held).
    first = await anext(events)
    response = Response(_resume(first, events), headers=HEADERS)
    response.timeout = None  # Quart's default 60 s would silently cut a long reply
    return response


async def _resume(first: bytes, events: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in events:
            yield chunk
    finally:
        await events.aclose()


async def reply_events(turn: Turn) -> AsyncGenerator[bytes, None]:
    """The reply's stream, from its `start` part to `data: [DONE]`; the reply is stored before
    the last part. Closing it early stores what was produced as `partial`."""
    pump, recorder = turn.pump, Recorder(turn)
    text, encoder = recorder.text, recorder.encoder
    steps = encoder if encoder.framed else None  # a turn with tools frames its text in steps
    watch = metrics(turn.app).watch_stream(turn.chat.model, pump.started)
    ending: Ending | None = None  # still None in the `finally`: the client went away
    # At the end of a shutdown's grace period the reply ends as a failed one does.
    forget = graceful.on_stop(turn.app, lambda: pump.interrupt(SHUTTING_DOWN))
    try:
        yield part({"type": "start", "messageId": turn.assistant_id})
        while ending is None:
            # What the provider has handed over goes out in one write: nothing waits for more,
            # but a burst of deltas costs one trip through Quart and Hypercorn, not one each.
            out: list[bytes] = []
            for item in await pump.next_batch(PING_SECONDS):
                if isinstance(item, str):  # inline, not a method: this runs once per delta
                    if steps is not None:
                        out += steps.text(item)
                    else:
                        if not text:
                            out.append(part({"type": "text-start", "id": TEXT_ID}))
                        out.append(part({"type": "text-delta", "id": TEXT_ID, "delta": item}))
                    text.append(item)
                    watch.delta()
                elif item is IDLE:
                    out.append(PING)
                elif isinstance(item, StreamEnd):
                    recorder.end = item
                    watch.usage(item.model, item.usage)
                elif item is FINISHED:
                    ending = COMPLETE
                elif item is STOPPED:
                    pump.cancel()
                    ending = STOPPED_HERE
                    break
                elif isinstance(item, BaseException):
                    ending = _failure(item, recorder, watch)
                    break
                else:  # reasoning, tool calls, steps
                    out += encoder.render(item)
            if turn.title is not None and (named := turn.title.part()) is not None:
                out.append(part(named))
            if out:
                yield b"".join(out)
    finally:
        forget()
        watch.closed()
        if ending is None:  # CancelledError, or GeneratorExit at a yield
            pump.cancel()
            recorder.keep(pump.take_waiting())
            status: Status = "complete" if recorder.end is not None else "partial"
        else:
            status = ending.status
        storing = recorder.store(status)  # the one place a reply is stored
    # The client is still there: it hears how the reply ended once the reply is stored.
    try:
        saved = await asyncio.shield(storing)  # a client leaving now does not stop the store
    except Exception:  # logged by the task; e.g. the conversation was deleted meanwhile
        saved, ending = None, Ending(None, ending.error_text or NOT_STORED)
    if ending.error_text is not None:
        yield part({"type": "error", "errorText": ending.error_text}) + DONE
    else:
        yield _closing(turn, recorder, saved, recorder.end or StreamEnd())


def _failure(error: BaseException, recorder: Recorder, watch: StreamWatch) -> Ending:
    """A reply cut by an exception: what it produced is kept, as `partial` when it was
    interrupted (the server shutting down: not the provider's fault), as `error` when the
    provider failed."""
    produced = recorder.produced()
    if isinstance(error, Interrupted):
        return Ending("partial" if produced else None, str(error))
    watch.failed()
    return Ending("error" if produced else None, _safe_text(error))


def _closing(turn: Turn, recorder: Recorder, saved: dict[str, Any] | None, end: StreamEnd) -> bytes:
    encoder = recorder.encoder
    if encoder.framed:  # each step closed its own parts
        closing = []
    elif recorder.text:
        closing = [*encoder.close(), part({"type": "text-end", "id": TEXT_ID})]
    else:
        closing = [
            *encoder.close(),
            part({"type": "text-start", "id": TEXT_ID}),
            part({"type": "text-end", "id": TEXT_ID}),
        ]
    if turn.title is not None and (named := turn.title.part()) is not None:
        closing.insert(0, part(named))  # ready in time: the client need not ask again
    metadata = {
        "user_message_id": turn.user_message["id"],
        "assistant_message_id": turn.assistant_id,
        "model": saved["model"] if saved else end.model,
        "usage": saved["usage"] if saved else end.usage,
        # Which prompt version answered, as the stored Message has it (`prompt`).
        "prompt": saved["prompt"] if saved else None,
    }
    closing += [
        part({"type": "message-metadata", "messageMetadata": metadata}),
        part({"type": "finish", "finishReason": end.finish_reason}),
        DONE,
    ]
    return b"".join(closing)


def _safe_text(error: BaseException) -> str:
    if isinstance(error, ProviderError):
        log.warning("provider failed: %s", error.message)
        return error.message
    log.error("provider raised %s instead of ProviderError", type(error).__name__, exc_info=error)
    return "the model provider failed"
