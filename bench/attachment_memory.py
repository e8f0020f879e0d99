"""Attachment memory: how much a promptkit server grows while it sends large files to a model.

    python bench/attachment_memory.py                  # 4 PDFs of 50 MB in the local store
    python bench/attachment_memory.py --files 2 --size-mb 20

It starts a minimal OpenAI-compatible upstream (in this file: it reads each request body as it
arrives, counts and hashes it, then streams a short reply) and a promptkit server (Hypercorn,
SQLite, the local file store), each in its own process. It uploads the files, then measures
the server's peak resident memory (`VmHWM`, reset through `/proc/<pid>/clear_refs` first) while
one `POST /chat` attaches all of them: the OpenAI plugin sends each PDF's bytes as base64
`file_data`, 4/3 of their size. Then the time to first token of a chat with three small
images attached, against the same chat without.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

from upload_memory import BenchAuth, free_port, kib, make_file, reset_peak, wait_for_port

HEADERS = {"Authorization": "Bearer bench:alice"}
MODEL = "gpt-4o"


# The upstream: reads the body in chunks (never whole), remembers its size and hash.


def upstream(port: int) -> None:
    from aiohttp import web

    async def complete(request: web.Request) -> web.StreamResponse:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(256 * 1024):
            digest.update(chunk)
            size += len(chunk)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for text in ("Read", " them", "."):
            delta = {"choices": [{"index": 0, "delta": {"content": text}}], "model": MODEL}
            await response.write(b"data: " + _json(delta) + b"\n\n")
        end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "model": MODEL}
        await response.write(b"data: " + _json(end) + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        if size > 1024 * 1024:
            print(f"upstream: a {size} byte request, sha256 {digest.hexdigest()[:16]}", flush=True)
        return response

    app = web.Application(client_max_size=0)
    app.router.add_post("/v1/chat/completions", complete)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def serve(port: int, database_url: str, base_url: str) -> None:
    import hypercorn.asyncio
    from hypercorn.config import Config

    from promptkit.app import create_app
    from promptkit.migrate import upgrade
    from promptkit.settings import Settings

    upgrade(database_url)
    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "OPENAI_BASE_URL": base_url,  # no key: uploads stay in the local store
        "PROMPTKIT_OPENAI_MODELS": MODEL,
        "PROMPTKIT_TITLES": "off",
    }
    app = create_app(Settings.from_env(environ), plugins=[BenchAuth()])
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    asyncio.run(hypercorn.asyncio.serve(app, config))  # type: ignore[arg-type]


async def prepare(base: str, paths: list[Path], kind: str) -> tuple[str, list[str]]:
    """A project and the files uploaded to it."""
    import aiohttp

    async with aiohttp.ClientSession(headers=HEADERS) as session:
        async with session.post(f"{base}/projects", json={"name": "bench"}) as response:
            project_id = (await response.json())["id"]
        ids = []
        for path in paths:
            with path.open("rb") as content:
                form = aiohttp.FormData()
                form.add_field("file", content, filename=path.name, content_type=kind)
                async with session.post(f"{base}/projects/{project_id}/files", data=form) as got:
                    assert got.status == 201, await got.text()
                    ids.append((await got.json())["id"])
        return project_id, ids


async def chat(base: str, project_id: str, file_ids: list[str]) -> tuple[int, float, float]:
    """One chat in a new conversation: its status, seconds to the first text delta, seconds to
    the end."""
    import aiohttp

    first = 0.0
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        url = f"{base}/projects/{project_id}/conversations"
        async with session.post(url, json={}) as response:
            conversation_id = (await response.json())["id"]
        body = {"conversation_id": conversation_id, "message": "Read these", "model": MODEL}
        started = time.perf_counter()
        async with session.post(f"{base}/chat", json={**body, "file_ids": file_ids}) as response:
            async for line in response.content:
                if not first and b'"text-delta"' in line:
                    first = time.perf_counter() - started
            return response.status, first, time.perf_counter() - started


def run(files: int, size_mb: int) -> int:
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="promptkit-bench-") as scratch:
        paths = [Path(scratch) / f"report-{n}.pdf" for n in range(files)]
        for path in paths:
            make_file(path, size_mb)
        small = [Path(scratch) / f"photo-{n}.png" for n in range(3)]
        for path in small:
            path.write_bytes(os.urandom(64 * 1024))
        upstream_port, server_port = free_port(), free_port()
        fake = subprocess.Popen([python, __file__, "--upstream", str(upstream_port)])
        base_url = f"http://127.0.0.1:{upstream_port}/v1"
        server = None
        try:
            wait_for_port(upstream_port, fake)
            server = subprocess.Popen(
                [python, __file__, "--serve", str(server_port), base_url],
                env={
                    **os.environ,
                    "TMPDIR": scratch,
                    "PROMPTKIT_DISABLED_PLUGINS": "clerk",
                    "PROMPTKIT_DATA_DIR": str(Path(scratch) / "data"),
                },
                cwd=scratch,
            )
            wait_for_port(server_port, server)
            base = f"http://127.0.0.1:{server_port}"
            project_id, ids = asyncio.run(prepare(base, paths, "application/pdf"))
            warm_id, small_ids = asyncio.run(prepare(base, small, "image/png"))
            asyncio.run(chat(base, warm_id, small_ids))  # warm-up: every code path once
            before = kib(server.pid, "VmRSS")
            reset_peak(server.pid)
            status, _, seconds = asyncio.run(chat(base, project_id, ids))
            growth = (kib(server.pid, "VmHWM") - before) / 1024
            with_files, without = [], []
            for _ in range(25):
                with_files.append(asyncio.run(chat(base, warm_id, small_ids))[1])
                without.append(asyncio.run(chat(base, warm_id, []))[1])
        finally:
            for process in (server, fake):
                if process is not None:
                    process.terminate()
                    process.wait(timeout=30)
    total = files * size_mb
    sent = 4 * -(-(size_mb * 1024 * 1024) // 3) * files
    print(f"one chat attaching {files} PDFs of {size_mb} MB ({total} MB) from the local store:")
    print(f"      status: {status}, {seconds:.2f} s; base64 sent upstream: {sent / 2**20:.0f} MB")
    print(f"    baseline: {before / 1024:.1f} MB RSS after a warm-up chat")
    print(f" peak growth: {growth:.1f} MB")
    added = (median(with_files) - median(without)) * 1000
    print(
        f"time to first token, median of 25: {median(without) * 1000:.1f} ms without,"
        f" {median(with_files) * 1000:.1f} ms with three 64 KB images ({added:+.1f} ms)"
    )
    return 0 if status == 200 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("base_url", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        upstream(args.upstream)
    elif args.serve:
        serve(args.serve, f"sqlite:///{Path.cwd() / 'bench.sqlite3'}", args.base_url)
    else:
        sys.exit(run(args.files, args.size_mb))
