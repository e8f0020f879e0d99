"""What resumable replies cost: Redis work and server CPU per reply, resumable off beside on,
the time from `GET /chat/{id}/stream` to the first replayed part of a 500-part reply, and the
server memory per attached client.

It starts promptkit server processes (Hypercorn, SQLite unless --database-url, Redis at
--redis-url) with a bench provider plugin, so the upstream costs nothing:

- `bench-paced`: --tokens tokens, --delay seconds apart (a model streaming at 1/delay tokens/s);
- `bench-held`: 500 tokens at once, then silence until stopped: a 500-part reply in flight.

Redis commands are counted from the server's `INFO commandstats` (XADD, EXPIRE, XRANGE, XREAD,
SET, EXISTS, PUBLISH), so run it on a Redis that nothing else writes streams to. One XADD is
one round trip (a first or last one carries its EXPIRE in the same pipeline).

    .venv/bin/python bench/resume.py --replies 100 --concurrency 8 --tokens 64 --delay 0.005
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat_vs_upstream import cpu_seconds, free_port, wait_for_port

HELD_PARTS = 500
COUNTED = ("xadd", "expire", "xrange", "xread", "set", "exists", "publish")
HEADERS = {"Authorization": "Bearer bench:user"}


async def redis_commands(redis_url: str) -> dict[str, int]:
    import coredis

    client: coredis.Redis[str] = coredis.Redis.from_url(redis_url, decode_responses=True)
    info = await client.info("commandstats")
    counts = {}
    for name in COUNTED:
        stats = info.get(f"cmdstat_{name}")
        counts[name] = int(stats["calls"]) if isinstance(stats, dict) else 0
    return counts


async def new_conversations(http: aiohttp.ClientSession, base: str, count: int) -> list[str]:
    async with http.post(f"{base}/projects", json={"name": "bench"}, headers=HEADERS) as r:
        project = (await r.json())["id"]
    found = []
    for _ in range(count):
        async with http.post(
            f"{base}/projects/{project}/conversations", json={}, headers=HEADERS
        ) as r:
            found.append((await r.json())["id"])
    return found


async def one_reply(http: aiohttp.ClientSession, base: str, conversation: str) -> None:
    body = {"conversation_id": conversation, "message": "go", "model": "bench-paced"}
    async with http.post(f"{base}/chat", json=body, headers=HEADERS) as response:
        assert response.status == 200, await response.text()
        data = await response.read()
    assert data.endswith(b"data: [DONE]\n\n"), data[-200:]


async def cost_per_reply(
    args: argparse.Namespace, resumable: str, redis: bool = True
) -> dict[str, float]:
    server, base = start_server(args, resumable, redis)
    try:
        await wait_for_port(int(base.rsplit(":", 1)[1]))
        async with aiohttp.ClientSession() as http:
            conversations = await new_conversations(http, base, args.replies + 4)
            for conversation in conversations[args.replies :]:  # warm up
                await one_reply(http, base, conversation)
            queue = list(conversations[: args.replies])
            commands_before = await redis_commands(args.redis_url)
            cpu_before = cpu_seconds(server.pid)
            started = time.perf_counter()

            async def worker() -> None:
                while queue:
                    await one_reply(http, base, queue.pop())

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(server.pid) - cpu_before
            commands_after = await redis_commands(args.redis_url)
    finally:
        stop_server(server)
    per_reply = {
        name: (commands_after[name] - commands_before[name]) / args.replies for name in COUNTED
    }
    per_reply["cpu_ms"] = cpu * 1000 / args.replies
    per_reply["wall_s"] = elapsed
    return per_reply


async def first_part_times(
    args: argparse.Namespace,
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """A 500-part reply held in flight on A; GET .../stream on A (in memory) and on B (Redis)."""
    a, base_a = start_server(args, "on")
    b, base_b = start_server(args, "on")
    try:
        for base in (base_a, base_b):
            await wait_for_port(int(base.rsplit(":", 1)[1]))
        timings: dict[str, list[float]] = {
            "same instance": [],
            "other instance (Redis)": [],
            "baseline: GET conversation": [],
        }
        memory: dict[str, float] = {}
        async with aiohttp.ClientSession() as http:
            (conversation,) = await new_conversations(http, base_a, 1)
            body = {"conversation_id": conversation, "message": "go", "model": "bench-held"}
            async with http.post(f"{base_a}/chat", json=body, headers=HEADERS) as response:
                seen = b""
                while seen.count(b'"text-delta"') < HELD_PARTS:
                    seen += await response.content.readany()
            await asyncio.sleep(0.5)  # every part is in the Redis Stream
            for _ in range(args.samples):
                for name, base in (("same instance", base_a), ("other instance (Redis)", base_b)):
                    timings[name].append(await time_to_first_part(http, base, conversation))
                timings["baseline: GET conversation"].append(
                    await time_to_answer(http, f"{base_b}/conversations/{conversation}")
                )
            for name, base, server in (("same instance", base_a, a), ("other instance", base_b, b)):
                memory[name] = await memory_per_follower(args, base, server.pid, conversation)
            async with http.post(f"{base_a}/chat/{conversation}/stop", headers=HEADERS) as r:
                assert r.status == 200, await r.text()
    finally:
        stop_server(a)
        stop_server(b)
    return timings, memory


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def memory_per_follower(
    args: argparse.Namespace, base: str, pid: int, conversation: str
) -> float:
    """The server's RSS growth per client attached to the held reply, `args.followers` of them
    at once, each having read the replay."""
    url = f"{base}/chat/{conversation}/stream"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await asyncio.sleep(0.5)
        before = rss_bytes(pid)
        responses = []
        for _ in range(args.followers):
            response = await http.get(url, headers=HEADERS)
            assert response.status == 200
            seen = b""
            while seen.count(b'"text-delta"') < HELD_PARTS:
                seen += await response.content.readany()
            responses.append(response)
        await asyncio.sleep(0.5)
        grown = rss_bytes(pid) - before
        for response in responses:
            response.close()
    return grown / args.followers


async def time_to_first_part(http: aiohttp.ClientSession, base: str, conversation: str) -> float:
    started = time.perf_counter()
    async with http.get(f"{base}/chat/{conversation}/stream", headers=HEADERS) as response:
        assert response.status == 200, response.status
        seen = b""
        while b"\n\n" not in seen:
            seen += await response.content.readany()
        elapsed = time.perf_counter() - started
        assert seen.startswith(b'data: {"type":"start"'), seen[:80]
        response.close()
    return elapsed


async def time_to_answer(http: aiohttp.ClientSession, url: str) -> float:
    """An authenticated read of one row: the floor under the resume figures."""
    started = time.perf_counter()
    async with http.get(url, headers=HEADERS) as response:
        assert response.status == 200, response.status
        await response.read()
    return time.perf_counter() - started


_workdir = tempfile.mkdtemp(prefix="promptkit-bench-resume-")


def start_server(
    args: argparse.Namespace, resumable: str, redis: bool = True
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    database = args.database_url or f"sqlite:///{_workdir}/bench.sqlite3"
    command = [sys.executable, __file__, "--serve", str(port), "--database", database,
               "--resumable", resumable, "--redis-url", args.redis_url if redis else "",
               "--tokens", str(args.tokens), "--delay", str(args.delay)]  # fmt: skip
    process = subprocess.Popen(command, cwd=_workdir)
    return process, f"http://127.0.0.1:{port}"


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def serve(args: argparse.Namespace) -> None:
    """A promptkit process of the benchmark: bench auth and the two bench models."""
    import hypercorn.asyncio
    import hypercorn.config

    from promptkit import ChatRequest, Principal, StreamEnd, hookimpl
    from promptkit.app import create_app
    from promptkit.migrate import upgrade
    from promptkit.settings import Settings

    tokens, delay = args.tokens, args.delay

    async def paced() -> AsyncIterator[str | StreamEnd]:
        for index in range(tokens):
            await asyncio.sleep(delay)
            yield f" tok{index}"
        yield StreamEnd(finish_reason="stop")

    async def held() -> AsyncIterator[str | StreamEnd]:
        for index in range(HELD_PARTS):
            yield f" tok{index}"
            await asyncio.sleep(0)  # one part per write: a 500-part reply
        await asyncio.sleep(3600)
        yield StreamEnd(finish_reason="stop")

    class Bench:
        @hookimpl
        def authenticate(self, request: Any) -> Principal | None:
            header = request.headers.get("Authorization", "")
            if header.startswith("Bearer bench:"):
                return Principal(user_id=header.removeprefix("Bearer bench:"))
            return None

        @hookimpl
        def complete_stream(self, chat: ChatRequest) -> AsyncIterator[str | StreamEnd] | None:
            return {"bench-paced": paced, "bench-held": held}.get(chat.model, lambda: None)()

    upgrade(args.database)
    settings = Settings(
        database_url=args.database,
        disabled_plugins=("clerk", "openai", "echo"),
        redis_url=args.redis_url or None,
        resumable=args.resumable == "on",
        api_rate_limit=None,
    )
    app = create_app(settings, plugins=[Bench()])
    config = hypercorn.config.Config()
    config.bind = [f"127.0.0.1:{args.serve}"]
    config.accesslog = None
    asyncio.run(hypercorn.asyncio.serve(app, config))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(args: argparse.Namespace) -> None:
    columns = {
        "resumable off": await cost_per_reply(args, "off"),
        "on, no Redis": await cost_per_reply(args, "on", redis=False),
        "on, Redis": await cost_per_reply(args, "on"),
    }
    print(
        f"\n{args.replies} replies, {args.concurrency} at a time, {args.tokens} tokens "
        f"{args.delay * 1000:g} ms apart\n"
    )
    print(f"{'per reply':<24}" + "".join(f"{name:>15}" for name in columns))
    for name in ("cpu_ms", *COUNTED):
        label = "promptkit CPU (ms)" if name == "cpu_ms" else f"Redis {name.upper()}"
        print(f"{label:<24}" + "".join(f"{c[name]:>15.2f}" for c in columns.values()))
    # Each XADD is one round trip; a first or last one carries its EXPIRE in the same pipeline.
    print(f"{'Redis round trips':<24}" + "".join(f"{c['xadd']:>15.2f}" for c in columns.values()))

    timings, memory = await first_part_times(args)
    print(f"\nGET /chat/{{id}}/stream to the first replayed part, {HELD_PARTS}-part reply")
    print(f"{'served by':<24} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name, values in timings.items():
        print(
            f"{name:<24} {percentile(values, 0.5) * 1000:>8.2f} "
            f"{percentile(values, 0.99) * 1000:>8.2f} {statistics.mean(values) * 1000:>8.2f}"
        )
    print(f"\nserver memory per attached client ({args.followers} at once), RSS growth")
    for name, value in memory.items():
        print(f"{name:<24} {value / 1024:>8.1f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64, help="tokens per paced reply")
    parser.add_argument("--delay", type=float, default=0.005, help="seconds between tokens")
    parser.add_argument("--samples", type=int, default=200, help="resumes timed per server")
    parser.add_argument("--followers", type=int, default=200, help="clients attached at once")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--resumable", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
    else:
        asyncio.run(measure(args))


if __name__ == "__main__":
    main()
