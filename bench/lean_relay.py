"""The floor of promptkit's own stack, for comparison: the leanest relay on the same libraries.

Quart on Hypercorn (uvloop worker, backlog 2048), the OpenAI SDK's lower layer
(`client.post(..., stream=True)`) on its aiohttp transport, httpx2's `aiter_lines`, orjson; the
same AI SDK UI message stream as promptkit's `/chat`. No authentication, no database, no
heartbeat, and no task between the upstream and the response: the response generator reads the
upstream itself. What promptkit costs above this is promptkit's own work; what this costs is
the stack's.

    hypercorn lean_relay:app --worker-class uvloop --backlog 2048 --workers 0 --bind 127.0.0.1:9300
    (OPENAI_BASE_URL and OPENAI_API_KEY set; run from promptkit's .venv)
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import orjson
from quart import Quart, Response, request

app = Quart(__name__)
clients: list[openai.AsyncOpenAI] = []


@app.before_serving
async def open_client() -> None:
    clients.append(openai.AsyncOpenAI(http_client=openai.DefaultAioHttpClient()))


@app.after_serving
async def close_client() -> None:
    await clients.pop().close()


def part(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/chat")
async def chat() -> Response:
    body = await request.get_json()
    upstream_body = {
        "model": body.get("model", "gpt-bench"),
        "messages": [{"role": "user", "content": body["message"]}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def parts() -> AsyncIterator[bytes]:
        upstream = await clients[0].post(
            "/chat/completions",
            cast_to=httpx2.Response,
            content=orjson.dumps(upstream_body),
            stream=True,
        )
        text_id, finish = str(uuid.uuid4()), "stop"
        try:
            yield part({"type": "start", "messageId": str(uuid.uuid4())}) + part(
                {"type": "text-start", "id": text_id}
            )
            async for line in upstream.aiter_lines():
                if not line.startswith("data: ") or line.startswith("data: [DONE]"):
                    continue
                for choice in orjson.loads(line[6:]).get("choices") or ():
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        yield part({"type": "text-delta", "id": text_id, "delta": delta})
                    finish = choice.get("finish_reason") or finish
        finally:
            await upstream.aclose()
        yield (
            part({"type": "text-end", "id": text_id})
            + part({"type": "finish", "finishReason": finish})
            + b"data: [DONE]\n\n"
        )

    response = Response(
        parts(),
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "x-vercel-ai-ui-message-stream": "v1",
        },
    )
    response.timeout = None
    return response
