"""The handover between the provider and the response: `Pump` reads the provider's stream in
a task of its own, so the response can wait for the next item with a timeout (for the
heartbeat) without ever cancelling the provider mid-read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from ..hooktypes import ReasoningDelta, StreamEnd, ToolCallDelta
from . import tool_loop

IDLE = object()  # no delta within the idle time `next_batch` was given
FINISHED = object()  # the provider's iterator ended
STOPPED = object()  # `Pump.stop`: someone stopped the reply
MAX_WAITING = 256  # items the pump holds for a slow client before it stops reading
# What a provider may yield, and what the tool loop adds between its steps.
STREAM_ITEMS = (str, StreamEnd, ReasoningDelta, ToolCallDelta, *tool_loop.KERNEL_ITEMS)


class Interrupted(Exception):
    """Handed over by `Pump.interrupt` in place of the rest of the reply: what was produced
    is a partial reply, not an error of the provider's. Its message is safe to show."""


class Pump:
    """Reads the provider's iterator in a task of its own and hands the items over.

    The response can then wait for the next item with a timeout (for the heartbeat) without
    ever cancelling the provider mid-read. The handover is a list and a future for the side
    that waits: per delta about 1.5 us of CPU, where an `asyncio.Queue` with a timeout per
    wait took about 6.
    """

    def __init__(self, stream: AsyncIterator[Any]) -> None:
        self.started = time.perf_counter()  # when the provider was called
        self._loop = asyncio.get_running_loop()
        self._items: list[Any] = []
        self._reader: asyncio.Future[None] | None = None  # the response, waiting for items
        self._writer: asyncio.Future[None] | None = None  # the provider, waiting for room
        self._task = self._loop.create_task(self._run(stream))

    async def _run(self, stream: AsyncIterator[Any]) -> None:
        try:
            async for item in stream:
                if not isinstance(item, STREAM_ITEMS):
                    raise TypeError(f"a provider yielded {type(item).__name__}")
                self._hand_over(item)
                while len(self._items) >= MAX_WAITING:  # the client reads slower than this
                    self._writer = self._loop.create_future()
                    await self._writer
        except Exception as error:
            self._hand_over(error)
        else:
            self._hand_over(FINISHED)

    async def next_batch(self, idle_seconds: float) -> list[Any]:
        """Every item waiting now (deltas, a `StreamEnd`, `FINISHED` or an error), in order;
        when none waits, the next one; `[IDLE]` after `idle_seconds` without one."""
        if not self._items:
            self._reader = self._loop.create_future()
            timer = self._loop.call_later(idle_seconds, _wake, self._reader)
            try:
                await self._reader
            finally:
                timer.cancel()
            if not self._items:
                return [IDLE]
        batch, self._items = self._items, []
        _wake(self._writer)
        return batch

    def _hand_over(self, item: Any) -> None:
        self._items.append(item)
        _wake(self._reader)

    def cancel(self) -> None:
        self._task.cancel()

    def take_waiting(self) -> list[Any]:
        """The items handed over but not yet taken, without waiting: when the client has gone,
        what the provider and the tools did up to now is still stored."""
        batch, self._items = self._items, []
        return batch

    def interrupt(self, reason: str) -> None:
        """Stop the provider (it closes its request) and hand over `Interrupted(reason)` after
        what it produced, as a failure ends a reply; nothing when the provider has ended."""
        if not self._task.done():
            self._task.cancel()
            self._hand_over(Interrupted(reason))

    def stop(self) -> None:
        """Hand `STOPPED` to the side that waits, after what is already waiting: someone asked
        for the reply to end here, and it ends as a finished one does."""
        self._hand_over(STOPPED)

    async def closed(self) -> None:
        """Wait until the provider's iterator has finished or run its `finally`."""
        await asyncio.wait([self._task])


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
