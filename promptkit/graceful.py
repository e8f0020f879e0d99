"""Graceful shutdown, the app's side: streams are told to end when the grace period is over,
and requests still running after that are cut *before* the app stops, so that their cleanup
(storing a `partial` reply) still has a database.

On SIGTERM, promptkit's shutdown trigger (`serving`) starts `stop_streams_after`: a stream still
running when the grace period ends is told to stop, and ends as a failed reply does (an `error`
part, then `data: [DONE]`), its reply stored `partial`. Hypercorn waits a little longer than the
grace period for its connections, then cancels them and shuts the app down. Quart runs each
request in a task of its own that such a cancellation does not reach (`asyncio.wait` leaves it
running, typically blocked sending to a closed socket), so `cut_requests_in_flight` cancels
what is left before the database is disconnected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from quart import Quart

log = logging.getLogger(__name__)

EXTENSION = "promptkit.requests_in_flight"
STREAMS = "promptkit.streams_to_stop"
STOPPING = "promptkit.stopping_streams"
TIMER = "promptkit.stop_streams_timer"
# How long cut requests get to run their cleanup blocks before the app stops anyway; also how
# much longer than the grace period hypercorn waits for connections, for the streams told to
# stop to end on their own.
CLEANUP_SECONDS = 5.0


def init_app(app: Quart) -> None:
    in_flight: set[asyncio.Task[object]] = set()
    app.extensions[EXTENSION] = in_flight
    app.extensions[STREAMS] = set()

    @app.before_request
    async def track_request() -> None:
        # The request's task lives until its response, streamed or not, is sent.
        task = asyncio.current_task()
        if task is not None:
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)


def on_stop(app: Quart, stop: Callable[[], None]) -> Callable[[], None]:
    """Have `stop` called when the shutdown's grace period is over (at once if it is over
    already); returns the function that takes it back, for a stream that ended by itself."""
    if app.extensions.get(STOPPING):
        stop()
        return lambda: None
    streams: set[Callable[[], None]] = app.extensions[STREAMS]
    streams.add(stop)
    return lambda: streams.discard(stop)


def stop_streams_after(app: Quart, seconds: float) -> asyncio.Task[None]:
    """Once `seconds` have passed, tell every stream still running to stop."""

    async def later() -> None:
        await asyncio.sleep(seconds)
        app.extensions[STOPPING] = True
        streams: set[Callable[[], None]] = app.extensions.get(STREAMS, set())
        if streams:
            log.info("shutting down: stopping %d stream(s) still running", len(streams))
        for stop in list(streams):
            stop()

    task = asyncio.get_running_loop().create_task(later())
    app.extensions[TIMER] = task  # the app's shutdown cancels it: nothing is left to stop then
    return task


async def cut_requests_in_flight(app: Quart) -> None:
    """Cancel the requests that outlived the grace period and wait for their cleanup.

    Call at the start of the app's shutdown, before it waits for its background tasks: the
    cleanup of a cut stream hands the storing of its reply to such a task.
    """
    timer: asyncio.Task[None] | None = app.extensions.pop(TIMER, None)
    if timer is not None:
        timer.cancel()
    in_flight: set[asyncio.Task[object]] = app.extensions.get(EXTENSION, set())
    tasks = [task for task in in_flight if not task.done()]
    if not tasks:
        return
    log.warning("shutting down: cutting %d request(s) still in flight", len(tasks))
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=CLEANUP_SECONDS)
