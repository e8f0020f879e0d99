"""A fake OpenAI-compatible chat completions server: real HTTP on 127.0.0.1, scriptable per test.

Tests point the real `openai` SDK at it (`OPENAI_BASE_URL=fake.base_url`) and read back what it
received. Each request takes the next queued `Script`, or the default one:

    fake.queue(Script(status=429, headers={"retry-after-ms": "1"}), Script(reply="Hi"))

A request with `"stream": false` (a conversation title) takes the next of its own queue,
`fake.queue_plain(...)`, or `fake.plain_default`, and is answered with one JSON completion.

It also runs on its own for benchmarks: `python tests/fake_openai.py --port 8001 --tokens 50`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .local_server import LocalServer

COMPLETIONS_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
# What `GET /v1/models` lists by default: the default model, others, and one that is not a chat
# model (the plugin leaves it out).
LISTED_MODELS = ["gpt-4.1-mini", "gpt-4o", "llama-3-8b", "text-embedding-3-small"]


@dataclass
class Script:
    """What the fake answers to one request."""

    reply: str = "Hello, world! This is the fake upstream."
    tokens: list[str] | None = None  # the exact chunks; default: `reply` split before spaces
    delay: float = 0.0  # seconds before each content chunk
    status: int | None = None  # answer this HTTP error instead of streaming
    error_code: str | None = None  # the `code` of that error body, e.g. "insufficient_quota"
    headers: dict[str, str] = field(default_factory=dict)  # e.g. retry-after-ms on a 429
    error_after: int | None = None  # send an SSE error event after this many content chunks
    drop_after: int | None = None  # cut the connection after this many content chunks
    finish_reason: str = "stop"
    usage: dict[str, int] | None = None  # default: counted from the request and the reply
    raw: list[bytes] | None = None  # send these bytes as they are, one write each, instead
    hold: asyncio.Event | None = None  # wait for it before the first content (or the answer)
    # Tool calls after the content: ("name", "arguments JSON text"), each with an id of its own,
    # its arguments in two fragments; the stream then ends with finish_reason "tool_calls".
    tool_calls: list[tuple[str, str]] | None = None
    reasoning: list[str] | None = None  # `reasoning_content` deltas before the content

    def chunks(self) -> list[str]:
        if self.tokens is not None:
            return self.tokens
        words = self.reply.split(" ")
        return [words[0]] + [" " + word for word in words[1:]]


@dataclass
class Received:
    """One request as the fake saw it."""

    headers: Mapping[str, str]
    body: dict[str, Any]
    chunks_sent: int = 0
    completed: bool = False  # sent `data: [DONE]`
    closed_early: asyncio.Event = field(default_factory=asyncio.Event)  # the client went away


class FakeOpenAI:
    def __init__(self) -> None:
        self.default = Script()
        self.scripts: deque[Script] = deque()
        # The script for a request whose last message has this content, whenever it arrives:
        # the queue and the default go by arrival order, which racing requests do not keep.
        self.by_message: dict[str, Script] = {}
        self.plain_default = Script(reply="A fake title")
        self.plain_scripts: deque[Script] = deque()
        self.received: list[Received] = []
        self.models = list(LISTED_MODELS)  # what `GET /v1/models` lists
        self.models_status: int | None = None  # answer this HTTP error to `GET /v1/models`
        self.model_listings = 0  # how many times `GET /v1/models` was asked
        self._server: LocalServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, *scripts: Script) -> None:
        self.scripts.extend(scripts)

    def queue_plain(self, *scripts: Script) -> None:
        self.plain_scripts.extend(scripts)

    @property
    def plain(self) -> list[Received]:
        """The non-streamed requests received."""
        return [seen for seen in self.received if not seen.body.get("stream")]

    @property
    def last(self) -> Received:
        return self.received[-1]

    async def start(self, port: int = 0) -> FakeOpenAI:
        app = web.Application()
        app.router.add_post(COMPLETIONS_PATH, self._complete)
        app.router.add_get(MODELS_PATH, self._list_models)
        self._server = LocalServer(app)
        self.port = await self._server.start(port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def _list_models(self, request: web.Request) -> web.Response:
        self.model_listings += 1
        if self.models_status is not None:
            return _error_response(Script(status=self.models_status))
        data = [
            {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"}
            for model in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    def _script_for(self, body: dict[str, Any]) -> Script:
        messages = body.get("messages") or [{}]
        content = messages[-1].get("content")
        if isinstance(content, str) and content in self.by_message:
            return self.by_message[content]
        return self.scripts.popleft() if self.scripts else self.default

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen = Received(headers=request.headers.copy(), body=body)  # case-insensitive
        self.received.append(seen)
        if not body.get("stream"):
            script = self.plain_scripts.popleft() if self.plain_scripts else self.plain_default
            return await _plain_response(script, body, seen)
        script = self._script_for(body)
        if script.status is not None:
            return _error_response(script)

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        try:
            await response.prepare(request)
        except ConnectionError:  # the client left before the response began
            seen.closed_early.set()
            return response
        if script.raw is not None:
            for piece in script.raw:
                await response.write(piece)
                await asyncio.sleep(0.002)  # a read of its own on the other side
            await response.write_eof()
            return response
        stream = _Chunks(body.get("model", "fake-model"))
        tokens = [] if script.tool_calls and script.tokens is None else script.chunks()
        try:
            await response.write(stream.event({"role": "assistant", "content": ""}))
            if script.hold is not None:
                await script.hold.wait()
            for thought in script.reasoning or ():
                await response.write(stream.event({"reasoning_content": thought}))
            for index, token in enumerate(tokens):
                if index == script.error_after:
                    await response.write(_sse({"error": _error_body("server_error", None)}))
                    return response
                if index == script.drop_after:
                    assert request.transport is not None
                    request.transport.abort()  # no final empty chunk: a truncated body
                    return response
                if script.delay and await _client_left(request, script.delay):
                    seen.closed_early.set()
                    return response
                await response.write(stream.event({"content": token}))
                seen.chunks_sent += 1
            finish_reason = script.finish_reason
            if script.tool_calls:
                await _write_tool_calls(response, stream, script.tool_calls, len(self.received))
                finish_reason = "tool_calls"
            await response.write(stream.event({}, finish_reason=finish_reason))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = script.usage or _count_usage(body, tokens)
                await response.write(stream.usage(usage))
            await response.write(b"data: [DONE]\n\n")
            seen.completed = True
            await response.write_eof()
        except (ConnectionError, RuntimeError):  # the client closed the connection mid-write
            seen.closed_early.set()
        return response


async def _write_tool_calls(
    response: web.StreamResponse, stream: _Chunks, calls: list[tuple[str, str]], request_number: int
) -> None:
    for index, (name, arguments) in enumerate(calls):
        half = len(arguments) // 2
        first = {"index": index, "id": f"call_{request_number}_{index}", "type": "function"}
        first["function"] = {"name": name, "arguments": arguments[:half]}
        await response.write(stream.event({"tool_calls": [first]}))
        rest = {"index": index, "function": {"arguments": arguments[half:]}}
        await response.write(stream.event({"tool_calls": [rest]}))


async def _client_left(request: web.Request, delay: float) -> bool:
    """Wait `delay` seconds, noticing at once when the client closes the connection."""
    deadline = time.monotonic() + delay
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(remaining, 0.005))


async def _plain_response(script: Script, body: dict[str, Any], seen: Received) -> web.Response:
    """One `chat.completion` object, as a request without `stream` gets it."""
    if script.hold is not None:
        await script.hold.wait()
    if script.delay:
        await asyncio.sleep(script.delay)
    if script.status is not None:
        response = _error_response(script)
    else:
        usage = script.usage or _count_usage(body, script.chunks())
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": script.reply, "refusal": None},
            "finish_reason": script.finish_reason,
            "logprobs": None,
        }
        completion = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake-model"),
            "choices": [choice],
            "usage": usage,
        }
        response = web.json_response(completion)
    seen.completed = True
    return response


class _Chunks:
    """`chat.completion.chunk` objects with the id, created and model shared by a stream."""

    def __init__(self, model: str) -> None:
        self.base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

    def event(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return _sse({**self.base, "choices": [choice], "usage": None})

    def usage(self, usage: dict[str, int]) -> bytes:
        return _sse({**self.base, "choices": [], "usage": usage})


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _error_body(kind: str, code: str | None) -> dict[str, Any]:
    return {"message": f"fake upstream {kind}", "type": kind, "param": None, "code": code}


def _error_response(script: Script) -> web.Response:
    assert script.status is not None
    kind = {401: "invalid_request_error", 404: "invalid_request_error", 429: "requests"}
    error = _error_body(kind.get(script.status, "server_error"), script.error_code)
    return web.json_response({"error": error}, status=script.status, headers=script.headers)


def _count_usage(body: dict[str, Any], tokens: list[str]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": len(tokens),
        "total_tokens": prompt + len(tokens),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=50, help="content chunks per reply")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each chunk")
    args = parser.parse_args()

    async def serve() -> None:
        fake = FakeOpenAI()
        fake.default = Script(tokens=[f" tok{i}" for i in range(args.tokens)], delay=args.delay)
        await fake.start(args.port)
        print(f"fake upstream on {fake.base_url}", flush=True)
        while True:  # keep memory flat over long benchmark runs
            fake.received.clear()
            await asyncio.sleep(1)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
