"""Load generator: closed-loop streams or requests, with the server's CPU and RSS from /proc.

`concurrency` workers each send one request after the other. After `warmup` seconds the
window opens: the server's CPU time (user + system, its whole process tree) is read from
`/proc/<pid>/stat` at the window's start and end, and its resident memory is sampled every
50 ms in between. Replies that finish inside the window count for replies/s and CPU per reply;
requests started inside it give the latency percentiles (they are allowed to finish).

A streamed reply counts as good when the status is 200, its body holds the upstream's last
token (`@@last`) and ends with `data: [DONE]`. Time to first token is the time from sending
the request to the first byte that holds the upstream's first token (`@@first`).

Modes:
- `stream`: the closed loop above, for a streaming POST.
- `request`: the same loop for plain requests (CRUD), good when the status is 2xx.
- `hold`: open `concurrency` streams at once, wait until each has its first token, sample the
  server's memory while all are open, then close them.

It prints one JSON object. Run with `--help` for the options; the runner (`run.py`) drives it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvloop

FIRST = b"@@first"
LAST = b"@@last"
DONE = b"data: [DONE]"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


# --- the server process, read from /proc -------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (uvicorn or hypercorn may fork workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_split(pids: list[int]) -> tuple[float, float]:
    """User and system (kernel: network stack, system calls) CPU time of `pids`, in seconds."""
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11])  # utime and stime: fields 14 and 15 of the stat line
        system += int(fields[12])
    return user / CLOCK_TICKS, system / CLOCK_TICKS


def runqueue_wait_seconds(pids: list[int]) -> float:
    """Time the server's threads were ready to run but waited for a core (others' work)."""
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat", "rb") as handle:
                    total += int(handle.read().split()[1])
            except OSError:
                continue
    return total / 1e9


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as handle:
                total += int(handle.read().split()[1]) * PAGE_KIB
        except OSError:
            continue
    return total


class RssSampler:
    """The peak of the server's resident memory while it runs."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak = rss_kib(pids) if pids else 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_kib(self.pids))
            await asyncio.sleep(0.05)

    def stop(self) -> int:
        if self.task:
            self.task.cancel()
        if self.pids:
            self.peak = max(self.peak, rss_kib(self.pids))
        return self.peak


# --- one request ---------------------------------------------------------------------------


@dataclass
class Sample:
    started: float
    ttft: float | None = None  # seconds to the first token (streams only)
    total: float | None = None  # seconds to the end of the body
    gap: float = 0.0  # longest wait between two reads of the body
    error: str | None = None


@dataclass
class Target:
    url: str
    method: str
    body: dict[str, Any] | None
    headers: dict[str, str]
    stream: bool
    conversations: asyncio.Queue[str] | None = None
    conversation_key: str = "conversation_id"


async def one_request(
    session: aiohttp.ClientSession, target: Target, first_token: asyncio.Event | None = None
) -> Sample:
    conversation = await target.conversations.get() if target.conversations else None
    body = target.body
    if conversation is not None and body is not None:
        body = {**body, target.conversation_key: conversation}
    sample = Sample(started=time.perf_counter())
    try:
        async with session.request(
            target.method, target.url, json=body, headers=target.headers
        ) as response:
            if not target.stream:
                await response.read()
                if response.status >= 300:
                    sample.error = f"status {response.status}"
                sample.total = time.perf_counter() - sample.started
                return sample
            if response.status != 200:
                sample.error = f"status {response.status}: {(await response.read())[:200]!r}"
                return sample
            tail, seen_last, last_read = b"", False, time.perf_counter()
            async for data in response.content.iter_any():
                now = time.perf_counter()
                sample.gap = max(sample.gap, now - last_read)
                last_read = now
                window = tail + data
                if sample.ttft is None and FIRST in window:
                    sample.ttft = now - sample.started
                    if first_token is not None:
                        first_token.set()
                seen_last = seen_last or LAST in window
                tail = window[-64:]
            sample.total = time.perf_counter() - sample.started
            if not seen_last or DONE not in tail:
                sample.error = f"incomplete stream, ends with {tail[-40:]!r}"
    except asyncio.CancelledError:
        raise
    except Exception as error:  # a failed request is a figure, not a crash
        sample.error = f"{type(error).__name__}: {error}"[:200]
    finally:
        if conversation is not None and target.conversations is not None:
            target.conversations.put_nowait(conversation)
    return sample


# --- the closed loop -----------------------------------------------------------------------


@dataclass
class Window:
    start: float = float("inf")
    end: float = float("inf")
    completed: int = 0  # good replies finished inside the window
    finished: int = 0  # replies finished since the start, good or not
    samples: list[Sample] = field(default_factory=list)


async def worker(
    session: aiohttp.ClientSession,
    target: Target,
    window: Window,
    stop: asyncio.Event,
    stagger: float,
) -> None:
    # Spread the first requests over about one reply's time: workers that start together
    # would otherwise move in lockstep waves, and a short window would count waves.
    await asyncio.sleep(random.uniform(0, stagger))
    while not stop.is_set():
        sample = await one_request(session, target)
        finished = time.perf_counter()
        window.finished += 1
        if window.start <= sample.started < window.end:
            window.samples.append(sample)
        if window.start <= finished < window.end and sample.error is None:
            window.completed += 1
        if sample.error is not None:
            await asyncio.sleep(0.01)  # a failing target must not turn into a busy loop


async def poll_until(condition: Callable[[], bool], deadline: float) -> None:
    """Wait until `condition()` holds or the `perf_counter` deadline passes."""
    while not condition():
        if time.perf_counter() >= deadline:
            return
        await asyncio.sleep(0.05)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


async def closed_loop(
    args: argparse.Namespace, target: Target, groups: list[list[int]]
) -> dict[str, Any]:
    """`groups`: the process tree of each `--pid`; their CPU is added up, and also kept apart
    (`cpu_ms_per_reply_each`, in the order of the `--pid` options)."""
    pids = [pid for group in groups for pid in group]
    window, stop = Window(), asyncio.Event()
    async with _session(args.concurrency) as session:
        workers = [
            asyncio.create_task(worker(session, target, window, stop, args.stagger))
            for _ in range(args.concurrency)
        ]
        # Warm up until every worker has had about one reply (the first wave is over), so the
        # window sees a steady state even on a slow target; then measure for `duration`
        # seconds and at least `min_replies` replies. Both waits are capped.
        began = time.perf_counter()
        await asyncio.sleep(args.warmup)
        await poll_until(lambda: window.finished >= args.concurrency, began + args.max_wait)
        sampler = RssSampler(pids)
        (user_before, sys_before), waited_before = cpu_split(pids), runqueue_wait_seconds(pids)
        each_before = [sum(cpu_split(group)) for group in groups]
        window.start = time.perf_counter()
        sampler.start()
        await asyncio.sleep(args.duration)
        await poll_until(lambda: window.completed >= args.min_replies, window.start + args.max_wait)
        (user_after, sys_after), waited_after = cpu_split(pids), runqueue_wait_seconds(pids)
        each_after = [sum(cpu_split(group)) for group in groups]
        window.end = time.perf_counter()
        peak_rss = sampler.stop()
        stop.set()
        _done, pending = await asyncio.wait(workers, timeout=args.drain)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    elapsed = window.end - window.start
    good = [s for s in window.samples if s.error is None]
    errors = [s.error for s in window.samples if s.error is not None]
    cpu = user_after + sys_after - user_before - sys_before
    result: dict[str, Any] = {
        "replies": window.completed,
        "seconds": round(elapsed, 3),
        "replies_per_s": round(window.completed / elapsed, 1),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_share": round(cpu / elapsed, 3),
        "server_waited_share": round((waited_after - waited_before) / elapsed, 3),
        "cpu_ms_per_reply": round(cpu * 1000 / window.completed, 3) if window.completed else None,
        "system_cpu_share": round((sys_after - sys_before) / cpu, 3) if cpu else None,
        "cpu_ms_per_reply_each": [
            round((after - before) * 1000 / window.completed, 3) if window.completed else None
            for before, after in zip(each_before, each_after, strict=True)
        ],
        "errors": len(errors),
        "unfinished": len(pending),
        "error_examples": sorted(set(errors))[:3],
        "peak_rss_kib": peak_rss,
        "total_p50_ms": ms(percentile([s.total for s in good if s.total is not None], 50)),
        "total_p99_ms": ms(percentile([s.total for s in good if s.total is not None], 99)),
        "max_gap_ms": ms(max((s.gap for s in good), default=None)),
    }
    if target.stream:
        ttfts = [s.ttft for s in good if s.ttft is not None]
        result.update(
            ttft_p50_ms=ms(percentile(ttfts, 50)),
            ttft_p99_ms=ms(percentile(ttfts, 99)),
            ttft_max_ms=ms(max(ttfts, default=None)),
            ttft_samples=[round(t * 1000, 3) for t in ttfts[:200]] if args.concurrency == 1 else [],
        )
    return result


async def hold(args: argparse.Namespace, target: Target, pids: list[int]) -> dict[str, Any]:
    """Open `concurrency` streams, measure memory while all are past their first token."""
    idle = rss_kib(pids)
    async with _session(args.concurrency) as session:
        events = [asyncio.Event() for _ in range(args.concurrency)]
        tasks = [asyncio.create_task(one_request(session, target, event)) for event in events]
        waits = [asyncio.create_task(event.wait()) for event in events]
        await asyncio.wait(waits, timeout=args.duration)
        opened = sum(1 for event in events if event.is_set())
        await asyncio.sleep(0.3)  # let the server settle with every stream open
        held = max(rss_kib(pids) for _ in range(3))
        for task in tasks + waits:
            task.cancel()
        await asyncio.gather(*tasks, *waits, return_exceptions=True)
    errors = [
        t.result().error for t in tasks if t.done() and not t.cancelled() and t.result().error
    ]
    return {
        "streams": args.concurrency,
        "opened": opened,
        "errors": len(errors),
        "error_examples": sorted(set(e for e in errors if e))[:3],
        "rss_before_kib": idle,
        "rss_held_kib": held,
        "kib_per_stream": round((held - idle) / opened, 1) if opened else None,
    }


def _session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120, sock_connect=30)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def main_async(args: argparse.Namespace, ids: list[str]) -> dict[str, Any]:
    conversations: asyncio.Queue[str] | None = None
    if ids:
        conversations = asyncio.Queue()
        for conversation_id in ids:
            conversations.put_nowait(conversation_id)
    target = Target(
        url=args.url,
        method=args.method,
        body=json.loads(args.body) if args.body else None,
        headers=dict(header.split(": ", 1) for header in args.header),
        stream=args.mode != "request",
        conversations=conversations,
    )
    groups = [process_tree(server) for server in args.pid]
    if args.mode == "hold":
        return await hold(args, target, [pid for group in groups for pid in group])
    return await closed_loop(args, target, groups)


def main() -> None:
    parser = argparse.ArgumentParser(description="closed-loop HTTP load with server CPU/RSS")
    parser.add_argument("url")
    parser.add_argument("--mode", choices=["stream", "request", "hold"], default="stream")
    parser.add_argument("--method", default="POST")
    parser.add_argument("--body", help="JSON body")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--conversations", help="JSON file: a list of conversation ids")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--stagger", type=float, default=0.0, help="spread the first requests")
    parser.add_argument("--min-replies", type=int, default=0, help="extend the window to this")
    parser.add_argument("--max-wait", type=float, default=15.0, help="cap of each extension")
    parser.add_argument("--drain", type=float, default=5.0, help="then cancel what is left")
    parser.add_argument(
        "--pid",
        type=int,
        action="append",
        default=[],
        help="server process to measure (with its children); again for each process of a "
        "topology (instances, nginx, PgBouncer), whose CPU is added up",
    )
    args = parser.parse_args()
    ids = []
    if args.conversations:
        with open(args.conversations) as handle:
            ids = json.load(handle)
    print(json.dumps(uvloop.run(main_async(args, ids))))


if __name__ == "__main__":
    main()
