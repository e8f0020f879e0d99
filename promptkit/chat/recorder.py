"""The recorder: what a reply has produced, kept as it streams, and stored once when it ends.

Whatever ends the reply (it finished, someone stopped it, the provider failed, the client went
away, the server is shutting down), the response's one `finally` calls `Recorder.store` with
the status it ended in, and only there. Storing runs in a task the app awaits at shutdown, so a
cancelled response cannot lose it: it waits for the provider to close, stops renewing the
lease, settles the budget, writes the message (which frees the conversation: the lease is
named after the reply), and tells the observers.

While the reply streams, the lease is renewed with a checkpoint of the text so far: when this
instance dies, another one stores the reply from there (`replies.service`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..budget import spent
from ..db import conversations, messages
from ..db import replies as replies_db
from ..hooktypes import StreamEnd
from ..roles import owner_of
from ..tasks import track
from .turn import Turn
from .wire import Encoder

log = logging.getLogger(__name__)

STORING = "storing a chat reply"
# While a reply streams, what it has produced is written to its conversation this often, with
# the lease's renewal: when its instance dies, another one stores it from there.
CHECKPOINT_SECONDS = 5.0

Status = str | None  # "complete", "partial", "error", or None: nothing worth storing


class Recorder:
    """The reply's text and parts as they stream, its `StreamEnd` once seen, and the one
    store of it."""

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.text: list[str] = []  # the deltas, joined only when stored or checkpointed
        # Reasoning, tool calls and steps; a turn with tools sends its text through it too.
        self.encoder = Encoder(framed=bool(turn.tools))
        self.end: StreamEnd | None = None
        self._lease = _LeaseKeeper(turn, self.text)
        self._storing: asyncio.Task[dict[str, Any] | None] | None = None

    def produced(self) -> bool:
        return bool(self.text or self.encoder.parts(self.text))

    def keep(self, items: list[Any]) -> None:
        """Record items the client never got (the pump had them when the client left): they
        were produced all the same (a tool's input, the step it began), so they are stored."""
        for item in items:
            if isinstance(item, str):
                if self.encoder.framed:
                    self.encoder.text(item)
                self.text.append(item)
            elif isinstance(item, StreamEnd):
                self.end = item
            else:  # reasoning, tool calls, steps; a sentinel or an error encodes as nothing
                self.encoder.render(item)

    def store(self, status: Status) -> asyncio.Task[dict[str, Any] | None]:
        """Start storing the reply as `status`; the task settles with the stored message, or
        None when nothing was stored. Called once, from the response's `finally`."""
        assert self._storing is None, "a reply is stored once"
        self._storing = track(self.turn.app, self._store(status), STORING)
        return self._storing

    async def _store(self, status: Status) -> dict[str, Any] | None:
        turn, end, text = self.turn, self.end, self.text
        db = turn.app.db
        owner = owner_of(turn.principal, turn.app.settings.org_admin_roles)
        parts = self.encoder.parts(text)
        saved = None
        try:
            await turn.pump.closed()
            await self._lease.stop()
            usage = _api_usage(end.usage if end else None)
            if turn.reservation is not None:
                tokens, usage = spent(turn.chat.messages, "".join(text), usage, status is not None)
                await turn.reservation.settle(tokens, turn.chat.model)  # under the id asked for
            # A stream cut short before it produced anything leaves no message behind.
            if status == "complete" or (status is not None and (text or parts)):
                saved = await messages.insert(
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
                    parent_id=turn.user_message["id"],  # regenerated: beside the other versions
                )  # one statement is atomic: no BEGIN and COMMIT round trips
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
