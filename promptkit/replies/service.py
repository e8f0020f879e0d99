"""Replies in flight: stopping them wherever they run, resuming them from any instance, and
storing the reply of an instance that died.

Every `POST /chat` reply is registered here while it streams, so that `POST
/chat/{id}/stop` can interrupt it: in this process directly, in another one through Redis
(`redis_log`). With `PROMPTKIT_RESUMABLE` the reply is produced by a task of its own,
whether or not a client is attached: its writes go to every client that follows it here
(`Running`) and, with `REDIS_URL`, to a Redis Stream that clients on other instances follow.
Without it the `POST /chat` response is the reply, as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from quart import Response

from ..chat import Turn, reply_events, stream_response
from ..chat.turn import LEASE_SECONDS
from ..chat.wire import DONE, HEADERS, PING, TEXT_ID, part
from ..db import conversations
from ..db import replies as replies_db
from ..db.owners import Owner
from ..errors import NotFound, ServiceUnavailable
from ..hooktypes import Principal
from ..tasks import track
from .redis_log import REDIS_ERRORS, RedisLog
from .running import Running

if TYPE_CHECKING:
    from ..app import PromptkitApp

log = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 10.0  # a stop waits this long for the reply to be stored
POLL_SECONDS = 0.05  # how often it looks, when the reply runs on another instance
FLUSH_SECONDS = 0.05  # a reply's writes go to Redis at most this often
MARK_SECONDS = 5.0  # a client following from another instance says so this often
CLEANUP_SECONDS = 5.0  # at shutdown, for the replies stopped then to be stored
CLOSE_SECONDS = 1.0  # at shutdown, for the stop channel's subscription to be left


class Replies:
    def __init__(self, app: PromptkitApp) -> None:
        settings = app.settings
        self.app = app
        self.resumable = settings.resumable
        self.grace = settings.resume_grace
        # Recorded with the lease: which instance streams a reply (for the logs, and to tell
        # one's own replies from others').
        self.instance = f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"
        self.log = RedisLog(settings.redis_url) if settings.redis_url else None
        self.running: dict[str, Running] = {}  # by conversation id
        self._services: list[asyncio.Task[None]] = []

    # Start-up and shutdown.

    async def start(self) -> None:
        self._services.append(asyncio.create_task(self._sweep()))
        if self.log is not None:
            self._services.append(asyncio.create_task(self.log.listen_for_stops(self._stop_here)))

    async def stop_all(self) -> None:
        """At shutdown, before the app waits for its tasks: stop every reply running here (a
        resumable one would otherwise run on for its grace period) and let them be stored."""
        stopping = list(self.running.values())
        for running in stopping:
            running.stop()
        if stopping:
            await asyncio.wait([r.turn.stored for r in stopping], timeout=CLEANUP_SECONDS)

    async def close(self) -> None:
        for task in self._services:
            task.cancel()
        if self._services:
            # Not forever: leaving a subscription may wait on a Redis that does not answer.
            await asyncio.wait(self._services, timeout=CLOSE_SECONDS)

    # POST /chat

    async def respond(self, turn: Turn) -> Response:
        """The response to a `POST /chat` whose turn has started."""
        running = Running(turn)
        conversation_id = turn.conversation["id"]
        self.running[conversation_id] = running

        def forget(_: object) -> None:
            if self.running.get(conversation_id) is running:
                del self.running[conversation_id]

        turn.stored.add_done_callback(forget)
        if not self.resumable:
            return await stream_response(turn)
        track(self.app, self._produce(running), "producing a resumable reply")
        if self.log is not None:
            track(self.app, self._mirror(running), "writing a reply to Redis")
        track(self.app, self._keep_grace(running), "watching a resumable reply")
        return _stream(running.follow())

    async def _produce(self, running: Running) -> None:
        events = reply_events(running.turn)
        try:
            async for chunk in events:
                if chunk != PING:  # each client gets its own while the reply is silent
                    running.add(chunk)
        finally:
            running.end()
            await events.aclose()

    async def _mirror(self, running: Running) -> None:
        """Copy the reply's writes to its Redis Stream, at most one XADD per `FLUSH_SECONDS`
        (what came meanwhile goes in one entry): a reply of a fast model costs a few round
        trips, not one per token; a client on another instance sees it that much later."""
        assert self.log is not None
        sent, first = 0, True
        while True:
            await running.grown_beyond(sent)
            chunks = running.chunks[sent:]
            if not chunks:  # ended without its last part (cut at shutdown): all written
                with contextlib.suppress(*REDIS_ERRORS):
                    await self.log.ended(running.reply_id)
                return
            last = chunks[-1].endswith(DONE)
            try:
                await self.log.append(running.reply_id, b"".join(chunks), first=first, last=last)
            except REDIS_ERRORS as error:
                # The reply goes on here; clients on other instances cannot follow it.
                log.warning("writing a reply to Redis failed (%s)", type(error).__name__)
                return
            sent, first = sent + len(chunks), False
            if last:
                return
            await asyncio.sleep(FLUSH_SECONDS)

    async def _keep_grace(self, running: Running) -> None:
        """Stop the reply once no client has followed it for `grace` seconds."""
        period = min(self.grace / 2, MARK_SECONDS)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await running.ended.wait()
                return
            if running.following or time.monotonic() - running.last_followed < self.grace:
                continue
            if self.log is not None:
                try:
                    if await self.log.followed(running.reply_id):
                        continue
                except REDIS_ERRORS:
                    continue  # not knowing is no reason to stop it
            log.info("no client followed a reply for %s s: stopping it", self.grace)
            running.stop()
            return

    # POST /chat/{id}/stop

    async def stop(self, owner: Owner, conversation_id: str) -> dict[str, Any] | None:
        """Stop the owner's reply in flight, wherever it runs; the stored message, or None when
        nothing was in flight (or it had produced nothing). NotFound: no such conversation."""
        db = self.app.db
        state = await replies_db.in_flight(db, owner, conversation_id)
        if state is None:
            return None
        running = self.running.get(conversation_id)
        if running is not None and running.reply_id == state.reply_id:
            running.stop()
            try:
                async with asyncio.timeout(STOP_WAIT_SECONDS):
                    return await asyncio.shield(running.turn.stored)
            except TimeoutError:
                raise ServiceUnavailable("the reply did not stop in time; try again") from None
        if state.expired:
            return await self._settle(owner, conversation_id, state)
        if self.log is None:
            raise ServiceUnavailable(
                "the reply streams in another process: stopping it there needs REDIS_URL"
            )
        await self.log.ask_to_stop(state.reply_id)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            now = await replies_db.in_flight(db, owner, conversation_id)
            if now is None or now.reply_id != state.reply_id:
                return await replies_db.message(db, owner, state.reply_id)
            if now.expired:
                return await self._settle(owner, conversation_id, now)
        raise ServiceUnavailable("the reply did not stop in time; try again")

    def _stop_here(self, reply_id: str) -> None:
        for running in self.running.values():
            if running.reply_id == reply_id:
                running.stop()

    # GET /chat/{id}/stream

    async def resume(self, owner: Owner, conversation_id: str) -> Response | None:
        """The owner's reply in flight, replayed from its `start` part and then live; None when
        there is none to resume. NotFound: no such conversation."""
        state = await replies_db.in_flight(self.app.db, owner, conversation_id)
        if state is None:
            return None
        if state.expired:
            await self._settle(owner, conversation_id, state)
            return None
        if not self.resumable:
            return None
        running = self.running.get(conversation_id)
        if running is not None and running.reply_id == state.reply_id:
            return _stream(running.follow())
        if self.log is None:
            return None  # it runs in another process, and only Redis could reach it
        return _stream(self._follow_elsewhere(owner, conversation_id, state.reply_id))

    async def _follow_elsewhere(
        self, owner: Owner, conversation_id: str, reply_id: str
    ) -> AsyncIterator[bytes]:
        """A reply running on another instance, from its Redis Stream."""
        assert self.log is not None
        marked, gone, text_started = 0.0, 0, False
        try:
            async for chunk in self.log.follow(reply_id):
                if time.monotonic() - marked > MARK_SECONDS:
                    await self.log.mark_followed(reply_id, self.grace)
                    marked = time.monotonic()
                if chunk is not None:
                    text_started = text_started or b'"text-start"' in chunk
                    yield chunk
                    continue
                yield PING
                try:
                    state = await replies_db.in_flight(self.app.db, owner, conversation_id)
                except NotFound:  # the conversation was deleted meanwhile
                    state = None
                if state is None or state.reply_id != reply_id:
                    # Over: its last write may still be on its way; after one more wait without
                    # it, the reply's writer died after storing it, so end the stream here.
                    gone += 1
                    if gone > 1:
                        yield closing(text_started)
                        return
        except REDIS_ERRORS as error:
            # Cut: the client's next resume tries again.
            log.warning("following a reply in Redis failed (%s)", type(error).__name__)

    # Replies whose instance died

    async def settle_if_abandoned(self, owner: Owner, conversation_id: str) -> bool:
        """When the conversation's lease has expired with its reply unstored, store that reply
        `partial` and free the conversation: True. NotFound: no such conversation."""
        state = await replies_db.in_flight(self.app.db, owner, conversation_id)
        if state is None or not state.expired:
            return False
        await self._settle(owner, conversation_id, state)
        return True

    async def _settle(
        self, owner: Owner, conversation_id: str, state: replies_db.InFlight
    ) -> dict[str, Any] | None:
        """Store an expired lease's reply from its checkpoint, or its Redis Stream when that
        holds more; end the stream for clients still following it."""
        content = str((state.checkpoint or {}).get("content") or "")
        chunks: list[bytes] = []
        if self.log is not None:
            try:
                chunks = await self.log.replay(state.reply_id)
            except REDIS_ERRORS as error:
                log.warning("reading a reply from Redis failed (%s)", type(error).__name__)
        streamed = text_of(chunks)
        if len(streamed) > len(content):  # both are what the same reply began with
            content = streamed
        saved = await replies_db.settle_abandoned(
            self.app.db, owner, conversation_id, state.reply_id, content, state.checkpoint
        )
        log.warning(
            "a reply of instance %s was abandoned; stored %d characters",
            state.holder,
            len(content) if saved else 0,
        )
        if self.log is not None and chunks and not chunks[-1].endswith(DONE):
            with contextlib.suppress(*REDIS_ERRORS):
                ended = closing(any(b'"text-start"' in chunk for chunk in chunks))
                await self.log.append(state.reply_id, ended, first=False, last=True)
        if saved is not None:
            conversation = await conversations.get(self.app.db, owner, conversation_id)
            if conversation is not None:
                principal = Principal(user_id=owner.user_id, org_id=owner.org_id)
                await self.app.plugins.message_saved(saved, conversation, principal)
        return saved

    async def _sweep(self) -> None:
        """Now and then, settle the replies of instances that died (every instance does; the
        settling itself is a conditional UPDATE, so each reply is stored once)."""
        period = min(self.app.settings.stream_lease_seconds or LEASE_SECONDS, 30.0) / 2
        while True:
            await asyncio.sleep(period)
            try:
                for row in await replies_db.recently_abandoned(self.app.db):
                    state = replies_db.InFlight(
                        row["stream_lease"], None, True, row["stream_checkpoint"]
                    )
                    await self._settle(row["owner"], row["id"], state)
            except Exception:
                log.exception("settling abandoned replies failed")


def _stream(body: AsyncIterator[bytes]) -> Response:
    response = Response(body, headers=HEADERS)
    response.timeout = None  # Quart's default 60 s would silently cut a long reply
    return response


def closing(text_started: bool) -> bytes:
    """The end of a reply whose writer is gone: its text part closed, `finish`, `[DONE]`."""
    parts = [part({"type": "text-end", "id": TEXT_ID})] if text_started else []
    return b"".join([*parts, part({"type": "finish", "finishReason": "stop"}), DONE])


def text_of(chunks: list[bytes]) -> str:
    """The text that a reply's writes carry (its `text-delta` parts, joined)."""
    text: list[str] = []
    for chunk in chunks:
        for line in chunk.split(b"\n\n"):
            if line.startswith(b'data: {"type":"text-delta"'):
                text.append(orjson.loads(line[6:])["delta"])
    return "".join(text)
