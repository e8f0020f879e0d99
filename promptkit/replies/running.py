"""One reply streaming in this process, and the clients that follow it here."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from ..chat import Turn
from ..chat.stream import PING_SECONDS
from ..chat.wire import PING


class Running:
    """A reply in flight in this process.

    Resumable, it keeps every write of the reply (`chunks`): each client that follows it gets
    them all from the `start` part on, then the new ones as they come. Not resumable, the
    `POST /chat` response is the reply itself and only `stop` is used.
    """

    def __init__(self, turn: Turn) -> None:
        self.turn = turn
        self.chunks: list[bytes] = []
        self.ended = asyncio.Event()
        self._grown = asyncio.Event()
        self.following = 0  # clients attached here
        self.last_followed = time.monotonic()  # when the last one left (or the reply began)

    @property
    def reply_id(self) -> str:
        return self.turn.assistant_id

    def stop(self) -> None:
        """Stop the provider; the reply is stored `partial` and its stream ends with `finish`."""
        self.turn.pump.stop()

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self._grown.set()
        self._grown = asyncio.Event()

    def end(self) -> None:
        self.ended.set()
        self._grown.set()

    async def grown_beyond(self, count: int) -> None:
        """Wait until there are more than `count` chunks, or the reply has ended."""
        while len(self.chunks) <= count and not self.ended.is_set():
            await self._grown.wait()

    async def follow(self) -> AsyncIterator[bytes]:
        """The reply from its `start` part, then live; a `: ping` while it is silent."""
        self.following += 1
        try:
            sent = 0
            while True:
                while sent < len(self.chunks):
                    sent += 1
                    yield self.chunks[sent - 1]
                if self.ended.is_set():
                    return
                grown = self._grown
                try:
                    async with asyncio.timeout(PING_SECONDS):
                        await grown.wait()
                except TimeoutError:
                    yield PING
        finally:
            self.following -= 1
            self.last_followed = time.monotonic()
