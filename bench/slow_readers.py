"""Slow readers: many clients reading long replies slowly, and one other user chatting meanwhile.

Starts `bench/fake_upstream.py` and a real `promptkit serve` (SQLite in a temporary directory,
the built-in OpenAI plugin pointed at the fake, tokens from the local Clerk key), then opens
`--clients` streams whose readers take `--read-bytes` every `--read-every` seconds. While they
read, another user sends short chats and times their first token. At the end every stream's
conversation is read back: was its reply stored, and `complete`?

It prints one JSON object: replies stored (and how), the other user's time to first token
before and during the load, and the server's resident memory before and at its peak (what the
pump's bound of `chat.MAX_WAITING` deltas per stream, plus the socket buffers, cost).

    .venv/bin/python bench/slow_readers.py [--clients 200] [--tokens 20000] [--read-bytes 4096]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


async def wait_for_http(url: str) -> None:
    async with asyncio.timeout(60), aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def new_conversation(http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> str:
    async with http.post(f"{base}/projects", json={"name": "slow"}, headers=headers) as response:
        project = (await response.json())["id"]
    async with http.post(
        f"{base}/projects/{project}/conversations", json={}, headers=headers
    ) as response:
        conversation: str = (await response.json())["id"]
    return conversation


async def slow_reader(
    http: aiohttp.ClientSession, base: str, headers: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    conversation = await new_conversation(http, base, headers)
    body = {"conversation_id": conversation, "message": "a long one, please"}
    began = time.monotonic()
    received = 0
    done = False
    try:
        async with http.post(f"{base}/chat", json=body, headers=headers) as response:
            while chunk := await response.content.read(args.read_bytes):
                received += len(chunk)
                done = done or b"data: [DONE]" in chunk[-64:]
                await asyncio.sleep(args.read_every)
    except aiohttp.ClientError as error:
        return {"conversation": conversation, "error": repr(error), "bytes": received}
    return {
        "conversation": conversation,
        "bytes": received,
        "done": done,
        "seconds": time.monotonic() - began,
    }


async def first_token_ms(base: str, headers: dict[str, str]) -> float:
    """One chat of another user, on connections of its own: milliseconds to the first delta.
    (The time to the response's headers, which follow the database work, goes to `HEADERS_MS`.)
    """
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        conversation = await new_conversation(http, base, headers)
        began = time.perf_counter()
        async with http.post(
            f"{base}/chat", json={"conversation_id": conversation, "message": "hi"}, headers=headers
        ) as response:
            HEADERS_MS.append((time.perf_counter() - began) * 1000)
            async for line in response.content:
                if b"text-delta" in line:
                    return (time.perf_counter() - began) * 1000
    return float("nan")


HEADERS_MS: list[float] = []


def start(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], ...]:
    """The fake upstream and the server, in a temporary directory; and two users' tokens."""
    workdir = Path(tempfile.mkdtemp(prefix="promptkit-slow-readers-"))
    args.upstream_port, args.port = free_port(), free_port()
    upstream_port = args.upstream_port
    upstream = subprocess.Popen(
        [sys.executable, str(BENCH / "fake_upstream.py"), "--port", str(upstream_port),
         "--tokens", str(args.tokens), "--delay-ms", str(args.delay_ms)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    environ = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "OPENAI_API_KEY": "sk-bench",
        "PROMPTKIT_API_RATE_LIMIT": "off",
        "PROMPTKIT_RATE_LIMIT": "",
        "PROMPTKIT_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [str(BIN / "promptkit"), "serve", "--port", str(args.port)],
        cwd=workdir, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def token(user: str) -> dict[str, str]:
        minted = subprocess.run(
            [str(BIN / "promptkit"), "token", user], cwd=workdir, env=environ,
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        return {"Authorization": f"Bearer {minted}"}

    args.readers, args.other = token(f"slow-{secrets.token_hex(3)}"), token("other")
    return upstream, server


async def run(args: argparse.Namespace, server_pid: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{args.port}"
    await wait_for_http(f"{base}/health")
    await wait_for_http(f"http://127.0.0.1:{args.upstream_port}/")
    readers, other = args.readers, args.other
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await first_token_ms(base, other)  # warm up
        baseline = [await first_token_ms(base, other) for _ in range(5)]
        rss_before = rss_mib(server_pid)
        streams = [
            asyncio.create_task(slow_reader(http, base, readers, args)) for _ in range(args.clients)
        ]
        peak, during = rss_before, []
        while not all(stream.done() for stream in streams):
            peak = max(peak, rss_mib(server_pid))
            if len(during) < args.probes:
                during.append(await first_token_ms(base, other))
            await asyncio.sleep(1)
        results = [stream.result() for stream in streams]
        await asyncio.sleep(1)  # the last replies' storing
        statuses: dict[str, int] = {}
        for result in results:
            async with http.get(
                f"{base}/conversations/{result['conversation']}/messages", headers=readers
            ) as response:
                stored = (await response.json())["data"]
            key = stored[-1]["status"] if len(stored) == 2 else "none"
            statuses[key] = statuses.get(key, 0) + 1
    seconds = [r["seconds"] for r in results if "seconds" in r]
    return {
        "clients": args.clients,
        "tokens": args.tokens,
        "read": f"{args.read_bytes} bytes every {args.read_every} s",
        "streams_read_to_done": sum(1 for r in results if r.get("done")),
        "client_errors": [r["error"] for r in results if "error" in r][:5],
        "replies_stored": statuses,
        "reader_seconds_median": statistics.median(seconds) if seconds else None,
        "other_user_ttft_ms_before": statistics.median(baseline),
        "other_user_ttft_ms_during": {
            "median": statistics.median(during) if during else None,
            "max": max(during) if during else None,
            "probes": len(during),
            "headers_ms_median": statistics.median(HEADERS_MS[-len(during) :]) if during else None,
        },
        "server_rss_mib": {"before": round(rss_before, 1), "peak": round(peak, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="upstream pace per token")
    parser.add_argument("--read-bytes", type=int, default=4096)
    parser.add_argument("--read-every", type=float, default=0.05, help="seconds between reads")
    parser.add_argument("--probes", type=int, default=10, help="other-user chats while loaded")
    args = parser.parse_args()
    upstream, server = start(args)
    try:
        print(json.dumps(asyncio.run(run(args, server.pid)), indent=2))
    finally:
        server.terminate()
        server.wait(timeout=60)
        upstream.terminate()
        upstream.wait()


if __name__ == "__main__":
    main()
