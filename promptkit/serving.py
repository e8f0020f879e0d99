"""The serving processes: hypercorn's server loop, with promptkit's own shutdown trigger.

Hypercorn's own trigger tells only hypercorn: on SIGTERM it stops accepting, waits its
graceful timeout for the connections in flight, then cancels them, and only then shuts the app
down. A stream still running at that point was cut mid-write: no `error` part, no
`data: [DONE]`, and asyncio logs the cancelled connection as an ERROR. promptkit's trigger
also starts the app's own grace period (`graceful.stop_streams_after`), which tells the streams
still running to end before hypercorn's longer timeout is reached: each ends like any other
failed reply and its connection closes normally.

With several workers this module is the parent too (hypercorn's `run` cannot be given a
trigger): it binds the sockets, spawns the workers, and sets an event that each worker's
trigger polls. A worker that exits stops the others.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from multiprocessing.connection import wait
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING

from . import graceful

if TYPE_CHECKING:
    from hypercorn.config import Config, Sockets

    from .app import PromptkitApp

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run(config: Config, workers: int) -> int:
    """Serve until SIGTERM or SIGINT; the exit code."""
    if workers == 1:
        _worker(config)
        return 0
    sockets = config.create_sockets()
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    # The workers inherit "ignore": only this process decides when they stop, through `stop`.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    processes = [
        context.Process(target=_worker, kwargs={"config": config, "sockets": sockets, "stop": stop})
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop.set())
    wait([process.sentinel for process in processes])  # until a signal stops them, or one dies
    stop.set()
    for process in processes:
        process.join()
    for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
        sock.close()
    return next((code for p in processes if (code := p.exitcode or 0) != 0), 0)


def _worker(config: Config, sockets: Sockets | None = None, stop: Event | None = None) -> None:
    import uvloop

    from .app import create_app

    uvloop.run(_serve(create_app(), config, sockets, stop))


async def _serve(
    app: PromptkitApp, config: Config, sockets: Sockets | None, stop: Event | None
) -> None:
    from hypercorn.asyncio.run import worker_serve
    from hypercorn.utils import wrap_app

    stopping = asyncio.Event()
    watcher = None
    if stop is None:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, stopping.set)
    else:
        watcher = asyncio.create_task(_watch(stop, stopping))

    async def shutdown_trigger() -> None:
        await stopping.wait()
        # Streams get the app's grace period; hypercorn waits longer (see `cli.serve`).
        graceful.stop_streams_after(app, app.settings.graceful_timeout)

    try:
        await worker_serve(
            wrap_app(app, config.wsgi_max_body_size, "asgi"),
            config,
            sockets=sockets,
            shutdown_trigger=shutdown_trigger,
        )
    finally:
        if watcher is not None:
            watcher.cancel()


async def _watch(stop: Event, stopping: asyncio.Event) -> None:
    """Wait for the parent's event, polling it as hypercorn does (it cannot be awaited)."""
    from hypercorn.utils import check_multiprocess_shutdown_event

    await check_multiprocess_shutdown_event(stop, asyncio.sleep)
    stopping.set()
