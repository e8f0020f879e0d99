"""CPU per reply with one tool round trip, against a text-only reply, in one process.

    python bench/tool_round_trip.py [--replies 200]

The app runs in-process on a fresh SQLite file with Quart's test client (no HTTP server), the
fake OpenAI server (`promptkit.testing.fake_openai`) in the same process answers at once, and a tool
`add` is registered by a plugin. Two kinds of reply, each `--replies` times, one after the
other: a text-only reply (one upstream call) and a reply that calls `add` once and then
answers (two upstream calls). CPU is `time.process_time()` over the whole process, so the
fake's work for the second upstream call is included. It also reports the time from the
`tool-output-available` part to the next `text-delta`: the kernel sending the results back,
the fake answering and the first token arriving, with nothing upstream to wait for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fake_openai import FakeOpenAI, Script
from joserfc.jwk import RSAKey
from promptkit_clerk.local import mint_session_token
from pydantic import BaseModel

from promptkit import Tool, hookimpl
from promptkit.app import create_app
from promptkit.migrate import upgrade
from promptkit.settings import Settings


class Pair(BaseModel):
    a: int
    b: int


class Adder:
    @hookimpl
    def register_tools(self, register: Any) -> None:
        async def add(pair: Pair, context: Any) -> dict[str, int]:
            return {"sum": pair.a + pair.b}

        register(Tool("add", "Add two integers.", Pair, add))


async def main(replies: int) -> None:
    fake = await FakeOpenAI().start()
    key = RSAKey.generate_key(2048, private=True)
    workdir = Path(tempfile.mkdtemp(prefix="promptkit-tool-bench-"))
    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    upgrade(url)
    settings = Settings(
        database_url=url,
        data_dir=workdir / "data",
        api_rate_limit="off",
        environ={
            "CLERK_JWT_KEY": key.as_pem(private=False).decode(),
            "OPENAI_BASE_URL": fake.base_url,
            "OPENAI_API_KEY": "bench",
        },
    )
    app = create_app(settings, plugins=[Adder()])
    headers = {"Authorization": f"Bearer {mint_session_token(key, 'bench', ttl_seconds=3600)}"}
    tokens = [f" tok{i}" for i in range(20)]
    async with app.test_app():
        client = app.test_client()
        project = await (
            await client.post("/projects", json={"name": "B"}, headers=headers)
        ).get_json()
        await client.patch(f"/projects/{project['id']}", json={"tools": ["add"]}, headers=headers)

        async def reply(with_tool: bool) -> float | None:
            response = await client.post(
                f"/projects/{project['id']}/conversations", json={}, headers=headers
            )
            conversation = (await response.get_json())["id"]
            if with_tool:
                fake.queue(Script(tool_calls=[("add", '{"a": 1, "b": 2}')]), Script(tokens=tokens))
            else:
                fake.queue(Script(tokens=tokens))
            body = {"conversation_id": conversation, "message": "go"}
            gap, output_at = None, None
            chat_headers = {**headers, "Content-Type": "application/json"}
            async with client.request("/chat", method="POST", headers=chat_headers) as connection:
                await connection.send(json.dumps(body).encode())
                await connection.send_complete()
                buffer = b""
                while not buffer.endswith(b"data: [DONE]\n\n"):
                    buffer += await connection.receive()
                    if output_at is None and b'"tool-output-available"' in buffer:
                        output_at = time.perf_counter()
                    elif (
                        output_at is not None
                        and gap is None
                        and b'"text-delta"' in buffer.split(b'"tool-output-available"', 1)[1]
                    ):
                        gap = time.perf_counter() - output_at
            fake.received.clear()
            return gap

        for kind in (False, True):  # warm both paths
            for _ in range(10):
                await reply(kind)
        results = {}
        for kind in (False, True):
            started = time.process_time()
            gaps = [await reply(kind) for _ in range(replies)]
            cpu = (time.process_time() - started) / replies
            results[kind] = cpu
            label = "one tool round trip" if kind else "text only"
            line = f"{label}: {cpu * 1000:.2f} CPU-ms per reply"
            if kind:
                measured = [g for g in gaps if g is not None]
                line += (
                    f"; tool result to next token: median {statistics.median(measured) * 1000:.2f}"
                    f" ms, p90 {statistics.quantiles(measured, n=10)[-1] * 1000:.2f} ms"
                )
            print(line)
        print(f"the round trip adds {(results[True] - results[False]) * 1000:.2f} CPU-ms per reply")
    await fake.close()


if __name__ == "__main__":
    import faulthandler

    faulthandler.dump_traceback_later(50, exit=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=200)
    asyncio.run(main(parser.parse_args().replies))
