"""Graceful shutdown: requests still running when the grace period ends are cut *before* the
app stops, so that their cleanup (storing a `partial` reply) still has a database.

On SIGTERM hypercorn stops accepting, waits `graceful_timeout` for the connections in flight,
then cancels its connection tasks and shuts the app down. Quart runs each request in a task of
its own that such a cancellation does not reach (`asyncio.wait` leaves it running, typically
blocked sending to a closed socket), so without this module a cut stream would run its
`finally` only when the event loop closes, after the database was disconnected.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from quart import Quart

log = logging.getLogger(__name__)

EXTENSION = "promptkit.requests_in_flight"
# How long cut requests get to run their cleanup blocks before the app stops anyway.
CLEANUP_SECONDS = 5.0


def prepare_workers(workers: int) -> None:
    """Before hypercorn spawns several workers: let them inherit "ignore SIGTERM".

    The parent tells its workers to stop through an event; once the first worker has exited
    it also sends SIGTERM to the others, which would kill a worker still draining its streams.
    Hypercorn guards against SIGINT the same way. The parent installs its own SIGTERM handler
    after spawning, so the process that receives the platform's SIGTERM still reacts to it.
    """
    if workers > 1:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def init_app(app: Quart) -> None:
    in_flight: set[asyncio.Task[object]] = set()
    app.extensions[EXTENSION] = in_flight

    @app.before_request
    async def track_request() -> None:
        # The request's task lives until its response, streamed or not, is sent.
        task = asyncio.current_task()
        if task is not None:
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)


async def cut_requests_in_flight(app: Quart) -> None:
    """Cancel the requests that outlived the grace period and wait for their cleanup.

    Call at the start of the app's shutdown, before it waits for its background tasks: the
    cleanup of a cut stream hands the storing of its reply to such a task.
    """
    in_flight: set[asyncio.Task[object]] = app.extensions.get(EXTENSION, set())
    tasks = [task for task in in_flight if not task.done()]
    if not tasks:
        return
    log.warning("shutting down: cutting %d request(s) still in flight", len(tasks))
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks, timeout=CLEANUP_SECONDS)
