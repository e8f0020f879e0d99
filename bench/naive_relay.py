"""The relay most people would write first, for comparison: FastAPI, uvicorn, `AsyncOpenAI`.

`POST /chat {"message": "..."}` streams the reply in the same AI SDK UI message stream as
promptkit's `/chat`, the way the tutorials show: iterate over the SDK's typed chunk objects and
send one `data:` line (`json.dumps`) per chunk. No authentication, no database: everything it
costs is the relay itself.

    uvicorn naive_relay:app --port 9200      (OPENAI_BASE_URL and OPENAI_API_KEY set)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from openai import AsyncOpenAI
from pydantic import BaseModel

app = FastAPI()
client = AsyncOpenAI()


class ChatIn(BaseModel):
    message: str
    model: str = "gpt-bench"


def sse(part: dict[str, object]) -> str:
    return f"data: {json.dumps(part)}\n\n"


@app.post("/chat")
async def chat(body: ChatIn) -> StreamingResponse:
    async def parts() -> AsyncIterator[str]:
        stream = await client.chat.completions.create(
            model=body.model,
            messages=[{"role": "user", "content": body.message}],
            stream=True,
            stream_options={"include_usage": True},
        )
        message_id, part_id = str(uuid.uuid4()), str(uuid.uuid4())
        yield sse({"type": "start", "messageId": message_id})
        yield sse({"type": "text-start", "id": part_id})
        finish = "stop"
        async with stream:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield sse(
                        {
                            "type": "text-delta",
                            "id": part_id,
                            "delta": chunk.choices[0].delta.content,
                        }
                    )
                if chunk.choices and chunk.choices[0].finish_reason:
                    finish = chunk.choices[0].finish_reason
        yield sse({"type": "text-end", "id": part_id})
        yield sse({"type": "finish", "finishReason": finish})
        yield "data: [DONE]\n\n"

    return StreamingResponse(
        parts(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "x-vercel-ai-ui-message-stream": "v1"},
    )
