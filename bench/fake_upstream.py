"""A fast fake OpenAI-compatible upstream: `POST /v1/chat/completions` with `stream: true`.

It must cost far less CPU than anything measured against it, so it is a bare asyncio protocol
on uvloop with httptools (uvicorn's C parser) and pre-encoded chunks: about 1 ms of CPU for a
64-token reply. Every reply is the same text, framed as the OpenAI spec shows: a first chunk
with the role, one chunk per token, a last chunk with `finish_reason`, a usage chunk when
`stream_options.include_usage` is set, then `data: [DONE]`.

The first token is `@@first` and the last `@@last`, so the load generator can spot the first
token and a complete reply in any relay's output with one `in` test.

    python fake_upstream.py --port 9100 --tokens 64 --delay-ms 20

`PUT /bench/config?delay_ms=20&tokens=64` changes the pacing between runs without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

import httptools
import uvloop

COMPLETION_ID = "chatcmpl-bench0000000000000000000000"
MODEL = "gpt-bench"


def _event(payload: dict[str, object]) -> bytes:
    """One SSE event as one HTTP/1.1 chunk (hex size, CRLF, data, CRLF)."""
    data = b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _chunk(delta: dict[str, object], finish_reason: str | None = None) -> bytes:
    return _event(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion.chunk",
            "created": 1_764_000_000,
            "model": MODEL,
            "service_tier": "default",
            "system_fingerprint": "fp_bench",
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
            "usage": None,
            "obfuscation": "x7Qm",
        }
    )


class Reply:
    """The pre-encoded pieces of one streamed reply of `tokens` tokens."""

    def __init__(self, tokens: int, delay_ms: float) -> None:
        words = ["@@first"] + [f" w{i}" for i in range(1, tokens - 1)] + [" @@last"]
        self.delay = delay_ms / 1000
        self.head = _chunk({"role": "assistant", "content": "", "refusal": None})
        self.tokens = [_chunk({"content": word}) for word in words[:tokens]]
        self.tail = _chunk({}, "stop")
        usage = {"prompt_tokens": 20, "completion_tokens": tokens, "total_tokens": 20 + tokens}
        self.usage = _event(
            {
                "id": COMPLETION_ID,
                "object": "chat.completion.chunk",
                "created": 1_764_000_000,
                "model": MODEL,
                "choices": [],
                "usage": usage,
            }
        )
        self.done = _event_done()


def _event_done() -> bytes:
    return b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"transfer-encoding: chunked\r\n"
    b"cache-control: no-cache\r\n"
    b"x-request-id: req_bench\r\n"
    b"\r\n"
)


def _plain(status: str, body: bytes, content_type: bytes = b"application/json") -> bytes:
    return b"HTTP/1.1 %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n%s" % (
        status.encode(),
        content_type,
        len(body),
        body,
    )


class UpstreamProtocol(asyncio.Protocol):
    """One keep-alive connection; requests on it are answered one after the other."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.streaming: asyncio.Task[None] | None = None

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(_plain("400 Bad Request", b'{"error":"bad request"}'))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.streaming is not None:
            self.streaming.cancel()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, body = self.url, b"".join(self.body)
        self.url, self.body = b"", []
        method = self.parser.get_method()
        self.server.handle(self, method, url, body)


class Server:
    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def handle(self, conn: UpstreamProtocol, method: bytes, url: bytes, body: bytes) -> None:
        transport = conn.transport
        assert transport is not None
        path = urlsplit(url.decode()).path
        if method == b"PUT" and path == "/bench/config":
            query = parse_qs(urlsplit(url.decode()).query)
            delay = float(query.get("delay_ms", [self.reply.delay * 1000])[0])
            tokens = int(query.get("tokens", [len(self.reply.tokens)])[0])
            self.reply = Reply(tokens, delay)
            transport.write(_plain("200 OK", b'{"ok":true}'))
            return
        if method == b"GET" and path in ("/health", "/v1/models", "/models"):
            models = b'{"object":"list","data":[{"id":"gpt-bench","object":"model"}]}'
            transport.write(_plain("200 OK", models))
            return
        if method != b"POST" or not path.endswith("/chat/completions"):
            transport.write(_plain("404 Not Found", b'{"error":{"message":"not found"}}'))
            return
        request = json.loads(body or b"{}")
        if not request.get("stream"):
            transport.write(_plain("200 OK", self._whole_reply()))
            return
        usage = bool((request.get("stream_options") or {}).get("include_usage"))
        conn.streaming = asyncio.get_running_loop().create_task(
            self._stream(transport, self.reply, usage)
        )

    async def _stream(self, transport: asyncio.Transport, reply: Reply, usage: bool) -> None:
        transport.write(STREAM_HEAD + reply.head)
        for token in reply.tokens:
            # 0 ms still yields to the loop, so concurrent streams interleave like real ones.
            await asyncio.sleep(reply.delay)
            if transport.is_closing():
                return
            transport.write(token)
        transport.write(reply.tail + (reply.usage if usage else b"") + reply.done)

    def _whole_reply(self) -> bytes:
        text = "".join(
            json.loads(t.split(b"data: ", 1)[1].split(b"\n")[0])["choices"][0]["delta"]["content"]
            for t in self.reply.tokens
        )
        return json.dumps(
            {
                "id": COMPLETION_ID,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": 20,
                    "completion_tokens": len(self.reply.tokens),
                    "total_tokens": 20 + len(self.reply.tokens),
                },
            }
        ).encode()


async def serve(host: str, port: int, tokens: int, delay_ms: float) -> None:
    server = Server(Reply(tokens, delay_ms))
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: UpstreamProtocol(server), host, port, backlog=4096, reuse_address=True
    )
    print(f"fake upstream on http://{host}:{port}/v1", flush=True)
    async with listener:
        await listener.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port, args.tokens, args.delay_ms))


if __name__ == "__main__":
    main()
