"""Work that must finish even when the request that started it is cancelled.

Quart cancels a view when its client disconnects. Storing a partial chat reply, or the
provider-then-database pair of a file upload or delete, must not stop half-way: such work runs
in a task of its own, kept in Quart's `app.background_tasks`, which the app awaits at shutdown
before it closes the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from quart import Quart

from .errors import ApiError

log = logging.getLogger(__name__)
T = TypeVar("T")


def track(app: Quart, work: Coroutine[Any, Any, T], what: str) -> asyncio.Task[T]:
    """Start `work` as a task the app awaits at shutdown; a failure is logged as `what`."""
    task = asyncio.get_running_loop().create_task(work)
    app.background_tasks.add(task)
    task.add_done_callback(app.background_tasks.discard)
    task.add_done_callback(lambda done: _log_failure(done, what))
    return task


async def run_to_completion(app: Quart, work: Coroutine[Any, Any, T], what: str) -> T:
    """Await `work` in a tracked task that a cancellation of the caller cannot stop."""
    return await asyncio.shield(track(app, work, what))


def _log_failure(task: asyncio.Task[Any], what: str) -> None:
    # When the client has gone nobody awaits the task: say what happened here, once.
    if task.cancelled() or (error := task.exception()) is None:
        return
    if isinstance(error, ApiError):  # an answer for the client, such as a 502 from a provider
        log.info("%s ended with %s: %s", what, type(error).__name__, error.message)
    else:
        log.error("%s failed", what, exc_info=error)
