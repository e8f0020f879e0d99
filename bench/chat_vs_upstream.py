"""Streamed replies through promptkit versus straight from the upstream, side by side.

One run starts the fake OpenAI-compatible server (`promptkit.testing.fake_openai`) and promptkit
(Hypercorn, SQLite, builtin_openai pointed at the fake) as two processes, then streams the same
reply both ways and prints a table: time to first token, whole-reply time, and the CPU that
each server process spent per reply (read from /proc, so Linux only).

    .venv/bin/python bench/chat_vs_upstream.py --replies 200 --concurrency 8 --tokens 64
    .venv/bin/python bench/chat_vs_upstream.py --database-url postgresql://postgres@127.0.0.1/db

The CPU of the fake upstream is shown too, so the promptkit column can be read as the
overhead promptkit adds. Figures vary with the machine; compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
FIRST_TOKEN = b"tok0"  # the fake's first content chunk is " tok0"


@dataclass
class Sample:
    first_token: float
    total: float


@dataclass
class Row:
    name: str
    samples: list[Sample]
    cpu_per_reply: dict[str, float]  # process name -> CPU seconds per reply


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (fields 14 and 15 of /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_port(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


async def stream_one(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], headers: dict[str, str]
) -> Sample:
    started = time.perf_counter()
    first = None
    async with http.post(url, json=body, headers=headers) as response:
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
        async for chunk in response.content.iter_any():
            if first is None and FIRST_TOKEN in chunk:
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError(f"{url} streamed no first token")
    return Sample(first, time.perf_counter() - started)


async def run_path(
    name: str,
    replies: int,
    concurrency: int,
    send: object,
    pids: dict[str, int],
) -> Row:
    """`replies` streams, `concurrency` at a time; CPU of each process in `pids` per reply."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(replies):
        queue.put_nowait(index)
    samples: list[Sample] = []

    async def worker() -> None:
        while not queue.empty():
            index = queue.get_nowait()
            samples.append(await send(index))  # type: ignore[operator]

    before = {process: cpu_seconds(pid) for process, pid in pids.items()}
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    after = {process: cpu_seconds(pid) for process, pid in pids.items()}
    return Row(name, samples, {p: (after[p] - before[p]) / replies for p in pids})


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    def ms(values: list[float], q: float) -> str:
        ordered = sorted(values)
        return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:8.2f}"

    print(
        f"\n{args.replies} replies per path, {args.concurrency} at a time, "
        f"{args.tokens} tokens each, {args.delay * 1000:g} ms between upstream tokens\n"
    )
    header = (
        f"{'path':<18} {'TTFT p50':>9} {'TTFT p95':>9} {'reply p50':>10} "
        f"{'promptkit CPU':>14} {'upstream CPU':>13}"
    )
    print(header)
    print(f"{'':<18} {'ms':>9} {'ms':>9} {'ms':>10} {'ms/reply':>14} {'ms/reply':>13}")
    print("-" * len(header))
    for row in rows:
        first = [s.first_token for s in row.samples]
        total = [s.total for s in row.samples]
        promptkit = row.cpu_per_reply.get("promptkit")
        promptkit_cpu = f"{promptkit * 1000:14.2f}" if promptkit is not None else f"{'-':>14}"
        print(
            f"{row.name:<18} {ms(first, 0.5):>9} {ms(first, 0.95):>9} {ms(total, 0.5):>10} "
            f"{promptkit_cpu} {row.cpu_per_reply['upstream'] * 1000:13.2f}"
        )
    print(f"\nmean TTFT: {', '.join(_means(rows))}")


def _means(rows: list[Row]) -> list[str]:
    return [
        f"{r.name} {statistics.mean(s.first_token for s in r.samples) * 1000:.2f} ms" for r in rows
    ]


def bench(args: argparse.Namespace) -> None:
    upstream_port, promptkit_port = free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="promptkit-bench-")
    python = sys.executable
    upstream = subprocess.Popen(
        [python, "-m", "promptkit.testing.fake_openai", "--port", str(upstream_port),
         "--tokens", str(args.tokens), "--delay", str(args.delay)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    promptkit = subprocess.Popen(
        [python, __file__, "--serve", str(promptkit_port),
         "--upstream", f"http://127.0.0.1:{upstream_port}/v1",
         "--database", args.database_url or f"sqlite:///{workdir}/bench.sqlite3"],
        cwd=workdir,
    )  # fmt: skip
    try:
        asyncio.run(measure(args, upstream, promptkit, upstream_port, promptkit_port))
    finally:
        for process in (promptkit, upstream):
            process.terminate()
            process.wait(timeout=10)


async def measure(
    args: argparse.Namespace,
    upstream: subprocess.Popen[bytes],
    promptkit: subprocess.Popen[bytes],
    upstream_port: int,
    promptkit_port: int,
) -> None:
    await wait_for_port(upstream_port)
    await wait_for_port(promptkit_port)
    base = f"http://127.0.0.1:{promptkit_port}"
    headers = {"Authorization": "Bearer bench:user"}
    limits = aiohttp.TCPConnector(limit=args.concurrency * 2)
    async with aiohttp.ClientSession(connector=limits) as http:
        async with http.post(f"{base}/projects", json={"name": "bench"}, headers=headers) as r:
            project = (await r.json())["id"]
        conversations = []
        for _ in range(args.replies + args.warmup):  # one each: every reply starts a fresh chat
            url = f"{base}/projects/{project}/conversations"
            async with http.post(url, json={}, headers=headers) as r:
                conversations.append((await r.json())["id"])

        messages = [{"role": "user", "content": "Say something."}]
        direct_body = {
            "model": "bench-model",
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        direct_url = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"
        auth = {"Authorization": "Bearer sk-bench"}

        async def direct(_: int) -> Sample:
            return await stream_one(http, direct_url, direct_body, auth)

        async def through_promptkit(index: int) -> Sample:
            body = {"conversation_id": conversations[index], "message": "Say something."}
            return await stream_one(http, f"{base}/chat", body, headers)

        for index in range(args.warmup):  # warm connections, caches and the JIT-less paths
            await direct(index)
            await through_promptkit(args.replies + index)

        pids = {"upstream": upstream.pid}
        rows = [await run_path("direct upstream", args.replies, args.concurrency, direct, pids)]
        pids["promptkit"] = promptkit.pid
        rows.append(
            await run_path(
                "through promptkit", args.replies, args.concurrency, through_promptkit, pids
            )
        )
    print_table(rows, args)


def serve(port: int, upstream: str, database: str) -> None:
    """The promptkit process of the benchmark: a bench-only auth plugin, nothing else added."""
    import hypercorn.asyncio
    import hypercorn.config

    from promptkit import Principal, hookimpl
    from promptkit.app import create_app
    from promptkit.migrate import upgrade
    from promptkit.settings import Settings

    class BenchAuth:
        @hookimpl
        def authenticate(self, request: object) -> Principal | None:
            header = request.headers.get("Authorization", "")  # type: ignore[attr-defined]
            if header.startswith("Bearer bench:"):
                return Principal(user_id=header.removeprefix("Bearer bench:"))
            return None

    upgrade(database)
    environ = {"OPENAI_BASE_URL": upstream, "OPENAI_API_KEY": "sk-bench"}
    settings = Settings(database_url=database, disabled_plugins=("clerk",), environ=environ)
    app = create_app(settings, plugins=[BenchAuth()])
    config = hypercorn.config.Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    asyncio.run(hypercorn.asyncio.serve(app, config))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=200, help="streamed replies per path")
    parser.add_argument("--concurrency", type=int, default=8, help="replies streaming at once")
    parser.add_argument("--tokens", type=int, default=64, help="content chunks per reply")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between tokens")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured replies per path")
    parser.add_argument(
        "--database-url", help="promptkit's database (default: a fresh SQLite file); it is migrated"
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.upstream, args.database)
    else:
        bench(args)


if __name__ == "__main__":
    main()
