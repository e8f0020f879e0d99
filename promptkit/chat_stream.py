"""The reply as the Vercel AI SDK UI message stream v1, and storing it whatever happens.

Per delta the hot path is one hand-over from the pump and one JSON encode: no database round
trip. The provider is read by a task of its own (`chat.Pump`, started by `start_turn`), so the
response can wait for the next delta with a timeout (for the `: ping` heartbeat) without ever
cancelling the provider mid-read.

When the client goes away, Quart cancels the response generator. Its `finally` then does only
synchronous work: it cancels the provider's task (the provider closes its upstream request in
its own `finally`) and hands storing the `partial` reply and releasing the lease to a task the
app awaits at shutdown, so neither can be lost to the cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from quart import Response

from . import graceful
from .budget import spent
from .chat import FINISHED, IDLE, STOPPED, Interrupted, Pump, Turn
from .db import conversations, messages
from .db import replies as replies_db
from .errors import ProviderError
from .hooktypes import StreamEnd
from .metrics import metrics
from .roles import owner_of
from .tasks import run_to_completion, track
from .tool_loop import Recorder, part  # one encoder of a stream part, shared

log = logging.getLogger(__name__)

PING_SECONDS = 15.0  # a comment line this often while idle keeps proxies from closing the stream
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "x-vercel-ai-ui-message-stream": "v1",
}
PING = b": ping\n\n"
DONE = b"data: [DONE]\n\n"
TEXT_ID = "text-1"  # the reply's one text part
STORING = "storing a chat reply"
SHUTTING_DOWN = "the server is shutting down: send the message again"
# While a reply streams, what it has produced is written to its conversation this often, with
# the lease's renewal: when its instance dies, another one stores it from there.
CHECKPOINT_SECONDS = 5.0


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
    pump = turn.pump
    watch = metrics(turn.app).watch_stream(turn.chat.model, pump.started)
    text: list[str] = []
    lease_keeper = _LeaseKeeper(turn, text)
    # Reasoning, tool calls and steps; a turn with tools sends its text through it too.
    recorder = Recorder(framed=bool(turn.tools))
    steps = recorder if recorder.framed else None
    end: StreamEnd | None = None
    finishing = False
    # At the end of a shutdown's grace period the reply ends as a failed one does.
    forget = graceful.on_stop(turn.app, lambda: pump.interrupt(SHUTTING_DOWN))
    try:
        yield part({"type": "start", "messageId": turn.assistant_id})
        finished = False
        while not finished:
            # What the provider has handed over goes out in one write: nothing waits for more,
            # but a burst of deltas costs one trip through Quart and Hypercorn, not one each.
            out: list[bytes] = []
            for item in await pump.next_batch(PING_SECONDS):
                if isinstance(item, str):
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
                    end = item
                    watch.usage(item.model, item.usage)
                elif item is FINISHED:
                    finished = True
                elif item is STOPPED:  # stored as `partial`; every client gets a `finish`
                    finishing = True
                    pump.cancel()
                    saved = None
                    parts = recorder.parts(text)
                    with contextlib.suppress(Exception):  # logged by the task
                        saved = await run_to_completion(
                            turn.app,
                            _finish(turn, pump, lease_keeper, "partial", text, None, parts),
                            STORING,
                        )
                    yield b"".join(out) + _closing(turn, recorder, text, saved, StreamEnd())
                    return
                elif not isinstance(item, BaseException):  # reasoning, tool calls, steps
                    out += recorder.render(item)
                else:  # an exception: store what was produced, then say what happened
                    finishing = True
                    parts = recorder.parts(text)
                    produced = bool(text or parts)
                    if isinstance(item, Interrupted):  # not the provider's fault: `partial`
                        status, error_text = ("partial" if produced else None), str(item)
                    else:  # the provider failed
                        watch.failed()
                        status, error_text = ("error" if produced else None), _safe_text(item)
                    finish = _finish(turn, pump, lease_keeper, status, text, None, parts)
                    with contextlib.suppress(Exception):  # logged by the task; the error goes out
                        await run_to_completion(turn.app, finish, STORING)
                    error = part({"type": "error", "errorText": error_text})
                    yield b"".join(out) + error + DONE
                    return
            if turn.title is not None and (named := turn.title.part()) is not None:
                out.append(part(named))
            if out:
                yield b"".join(out)

        finishing = True
        end = end or StreamEnd()
        try:
            finish = _finish(turn, pump, lease_keeper, "complete", text, end, recorder.parts(text))
            saved = await run_to_completion(turn.app, finish, STORING)
        except Exception:  # logged by the task; e.g. the conversation was deleted meanwhile
            yield part({"type": "error", "errorText": "the reply could not be stored"}) + DONE
            return
        yield _closing(turn, recorder, text, saved, end)
    finally:
        forget()
        watch.closed()
        if not finishing:  # the client went away (CancelledError, or GeneratorExit at a yield)
            pump.cancel()
            # What the pump handed over that this generator had not taken yet was produced
            # all the same (a tool's input, the step it began): it is stored too.
            end = _keep_unsent(pump.take_waiting(), text, recorder) or end
            status = "complete" if end is not None else "partial"
            parts = recorder.parts(text)
            track(turn.app, _finish(turn, pump, lease_keeper, status, text, end, parts), STORING)


def _keep_unsent(items: list[Any], text: list[str], recorder: Recorder) -> StreamEnd | None:
    """Record items that never reached the client; the `StreamEnd` among them, if any."""
    end = None
    for item in items:
        if isinstance(item, str):
            if recorder.framed:
                recorder.text(item)
            text.append(item)
        elif isinstance(item, StreamEnd):
            end = item
        else:  # reasoning, tool calls, steps; a sentinel or an error renders as nothing
            recorder.render(item)
    return end


def _closing(
    turn: Turn, recorder: Recorder, text: list[str], saved: dict[str, Any] | None, end: StreamEnd
) -> bytes:
    if recorder.framed:  # each step closed its own parts
        closing = []
    elif text:
        closing = [*recorder.close(), part({"type": "text-end", "id": TEXT_ID})]
    else:
        closing = [
            *recorder.close(),
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


async def _finish(
    turn: Turn,
    pump: Pump,
    lease_keeper: _LeaseKeeper,
    status: str | None,
    text: list[str],
    end: StreamEnd | None,
    parts: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Wait for the provider to close, store the reply (unless `status` is None or nothing was
    produced by a stream cut short), which frees the conversation, then tell the observers."""
    db, owner = turn.app.db, owner_of(turn.principal, turn.app.settings.org_admin_roles)
    saved = None
    try:
        await pump.closed()
        await lease_keeper.stop()
        usage = _api_usage(end.usage if end else None)
        if turn.reservation is not None:
            tokens, usage = spent(turn.chat.messages, "".join(text), usage, status is not None)
            await turn.reservation.settle(tokens, turn.chat.model)  # under the id asked for
        if status == "complete" or (status is not None and (text or parts)):
            store = messages.insert(
                db,
                owner,
                turn.conversation["id"],
                role="assistant",
                content="".join(text),
                status=status,
                model=(end.model if end else None) or turn.chat.model,
                usage=usage,
                message_id=turn.assistant_id,
                prompt=turn.prompt,
                parts=parts,
                parent_id=turn.user_message["id"],  # a regenerated one beside the other versions
            )
            saved = await store  # one statement is atomic: no BEGIN and COMMIT round trips
    finally:
        try:
            if saved is None:  # a stored reply has ended the lease, which is named after it
                await conversations.release_stream_lease(
                    db, turn.conversation["id"], turn.assistant_id
                )
        finally:
            if not turn.stored.done():
                turn.stored.set_result(saved)
    if saved is not None:
        await turn.app.plugins.message_saved(saved, turn.conversation, turn.principal)
    return saved


def _api_usage(usage: dict[str, int] | None) -> dict[str, int] | None:
    if not usage:
        return None
    return {
        "prompt_tokens": int(usage.get("prompt_tokens", 0)),
        "completion_tokens": int(usage.get("completion_tokens", 0)),
    }


def _safe_text(error: BaseException) -> str:
    if isinstance(error, ProviderError):
        log.warning("provider failed: %s", error.message)
        return error.message
    log.error("provider raised %s instead of ProviderError", type(error).__name__, exc_info=error)
    return "the model provider failed"


class _LeaseKeeper:
    """Renews the conversation's lease while the reply streams, with a checkpoint of `text`
    (what the reply has produced so far) whenever it has grown."""

    def __init__(self, turn: Turn, text: list[str]) -> None:
        self._turn = turn
        self._text = text
        self._checkpointed = 0
        self._stopping = asyncio.Event()
        self._task = track(turn.app, self._run(), "renewing a stream lease")

    async def _run(self) -> None:
        turn = self._turn
        while True:
            try:
                async with asyncio.timeout(min(turn.lease_seconds / 3, CHECKPOINT_SECONDS)):
                    await self._stopping.wait()
                return
            except TimeoutError:
                pass
            try:
                if not await self._renew():
                    log.warning("a stream lost its conversation lease")
            except Exception:
                log.exception("renewing a stream lease failed")

    async def _renew(self) -> bool:
        turn, text = self._turn, self._text
        db, conversation_id = turn.app.db, turn.conversation["id"]
        if len(text) == self._checkpointed:
            return await conversations.renew_stream_lease(
                db, conversation_id, turn.assistant_id, turn.lease_seconds
            )
        self._checkpointed = len(text)
        saved = {
            "content": "".join(text),
            "model": turn.chat.model,
            "prompt": list(turn.prompt) if turn.prompt else None,
            "parent_id": turn.user_message["id"],
        }
        return await replies_db.checkpoint(
            db, conversation_id, turn.assistant_id, turn.lease_seconds, saved
        )

    async def stop(self) -> None:
        """Stop renewing; waits for a renewal in flight rather than cancelling it mid-query."""
        self._stopping.set()
        await asyncio.wait([self._task])
