"""The third-party Anthropic provider plugin, through the real `anthropic` SDK against a fake
Anthropic-compatible HTTP server that these tests start (the SDK is not mocked)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

# The plugin imports the SDK at start-up; imported here first, as its thousands of modules can
# take a loaded machine longer than the test app's 6 s start-up limit.
import anthropic  # noqa: F401
import promptkit_anthropic
import pytest
from aiohttp import web
from fake_openai import FakeOpenAI
from local_server import LocalServer
from promptkit_anthropic.messages import to_anthropic

from promptkit import ChatMessage, ChatRequest, Model, ProviderError, StreamEnd, hookimpl
from promptkit.plugins import describe_plugins

API_KEY = "sk-ant-test-secret-0123456789"


@dataclass
class FakeAnthropic:
    """`POST /v1/messages` streaming like the Messages API; each test scripts what it answers."""

    words: list[str] = field(default_factory=lambda: ["Hello", " from", " Claude", "."])
    delay: float = 0.0
    status: int = 200  # an HTTP error before any event, when not 200
    error_type: str = "overloaded_error"
    error_after: int | None = None  # send an `error` event after this many deltas
    stop_reason: str = "end_turn"
    # Scripted answers, one per request, instead of `words`: content blocks (`text`,
    # `thinking`, or `tool_use` with its input as `partial_json` fragments) and a stop reason.
    scripts: list[tuple[list[dict[str, Any]], str]] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["claude-test-1", "claude-test-2"])
    requests: list[dict[str, Any]] = field(default_factory=list)
    api_keys: list[str | None] = field(default_factory=list)
    finished: list[bool] = field(default_factory=list)
    url: str = ""

    async def list_models(self, request: web.Request) -> web.Response:
        data = [
            {
                "type": "model",
                "id": m,
                "display_name": m.title(),
                "created_at": "2025-01-01T00:00:00Z",
            }
            for m in self.models
        ]
        body = {"data": data, "has_more": False, "first_id": None, "last_id": None}
        return web.json_response(body)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(await request.json())
        # Older SDKs send `x-api-key`, newer ones `Authorization: Bearer`.
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ") or None
        self.api_keys.append(request.headers.get("x-api-key") or bearer)
        if self.status != 200:
            body = {"type": "error", "error": {"type": self.error_type, "message": API_KEY}}
            # No retries: these tests check what one failure does, not the SDK's backoff.
            return web.json_response(body, status=self.status, headers={"x-should-retry": "false"})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        completed = False
        try:
            await self._events(response, self.requests[-1]["model"])
            completed = True
        finally:
            self.finished.append(completed)
        return response

    async def _events(self, response: web.StreamResponse, model: str) -> None:
        async def send(event: str, data: dict[str, Any]) -> None:
            await response.write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

        message: dict[str, Any] = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 11, "output_tokens": 1},
        }
        await send("message_start", {"type": "message_start", "message": message})
        if self.scripts:
            blocks, stop_reason = self.scripts.pop(0)
            await self._blocks(send, blocks, stop_reason)
            return
        block = {"type": "text", "text": ""}
        await send(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        )
        await send("ping", {"type": "ping"})
        for count, word in enumerate(self.words):
            if count == self.error_after:
                error = {"type": self.error_type, "message": "upstream broke"}
                await send("error", {"type": "error", "error": error})
                return
            await asyncio.sleep(self.delay)
            delta = {"type": "text_delta", "text": word}
            await send(
                "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
            )
        await send("content_block_stop", {"type": "content_block_stop", "index": 0})
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": len(self.words)},
            },
        )
        await send("message_stop", {"type": "message_stop"})

    async def _blocks(self, send: Any, blocks: list[dict[str, Any]], stop_reason: str) -> None:
        for index, block in enumerate(blocks):
            kind = block["type"]
            if kind in ("tool_use", "server_tool_use"):
                start = {"type": kind, "id": block["id"], "name": block["name"], "input": {}}
                deltas = [
                    {"type": "input_json_delta", "partial_json": part}
                    for part in block["partial_json"]
                ]
            elif kind == "thinking":
                start = {"type": "thinking", "thinking": "", "signature": ""}
                deltas = [{"type": "thinking_delta", "thinking": t} for t in block["thinking"]]
                deltas.append({"type": "signature_delta", "signature": "c2lnbmVk"})
            else:
                start = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": t} for t in block["text"]]
            await send(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
            for delta in deltas:
                await send(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            await send("content_block_stop", {"type": "content_block_stop", "index": index})
        await send(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 7},
            },
        )
        await send("message_stop", {"type": "message_stop"})


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    fake = FakeAnthropic()
    server = web.Application()
    server.router.add_post("/v1/messages", fake.handle)
    server.router.add_get("/v1/models", fake.list_models)
    local = LocalServer(server)
    fake.url = f"http://127.0.0.1:{await local.start()}"
    try:
        yield fake
    finally:
        await local.close()


def anthropic_environ(fake: FakeAnthropic) -> dict[str, str]:
    return {"ANTHROPIC_API_KEY": API_KEY, "ANTHROPIC_BASE_URL": fake.url}


def chat(model: str = "claude-test-1", *messages: ChatMessage) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=list(messages) or [ChatMessage("user", "Hi")],
        user_id="alice",
        conversation_id="c1",
    )


@pytest.fixture
async def provider_app(make_app: Any, fake_anthropic: FakeAnthropic) -> AsyncIterator[Any]:
    """An app whose installed plugins include this one, configured for the fake server."""
    app = make_app(environ=anthropic_environ(fake_anthropic))
    async with app.test_app():
        yield app


async def collect(stream: AsyncIterator[str | StreamEnd]) -> tuple[list[str], list[StreamEnd]]:
    deltas: list[str] = []
    ends: list[StreamEnd] = []
    async for item in stream:
        (ends if isinstance(item, StreamEnd) else deltas).append(item)  # type: ignore[arg-type]
    return deltas, ends


async def test_streams_deltas_then_usage(provider_app: Any, fake_anthropic: FakeAnthropic) -> None:
    request = chat(
        "claude-test-1",
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello!"),
        ChatMessage("user", "How are you?"),
    )
    stream = await provider_app.models.open_stream(request)
    deltas, ends = await collect(stream)

    assert deltas == ["Hello", " from", " Claude", "."]
    assert ends == [
        StreamEnd(
            finish_reason="stop",
            model="claude-test-1",
            usage={"prompt_tokens": 11, "completion_tokens": 4},
        )
    ]
    sent = fake_anthropic.requests[0]
    assert sent["model"] == "claude-test-1"
    assert sent["stream"] is True
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    assert sent["max_tokens"] == 4096
    assert fake_anthropic.api_keys == [API_KEY]


async def test_each_delta_arrives_before_the_next_is_sent(
    provider_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.delay = 0.2
    stream = await provider_app.models.open_stream(chat())
    first = await asyncio.wait_for(anext(stream), timeout=5)
    # The first word is here while the server still waits to send the others: not buffered.
    assert first == "Hello"
    assert len(fake_anthropic.finished) == 0
    await stream.aclose()


async def test_registers_the_claude_models_the_api_lists(provider_app: Any) -> None:
    claude = {m.id: m for m in provider_app.models.registered() if m.provider == "anthropic"}
    assert set(claude) == {"claude-test-1", "claude-test-2"}
    assert claude["claude-test-1"].display_name == "Claude-Test-1"
    assert claude["claude-test-1"].capabilities.tools


class CatchAll:
    """A provider that would answer every model, registering one model of its own."""

    @hookimpl
    def register_models(self, register: Any) -> None:
        register(Model(id="catch-all-1"))

    @hookimpl(tryfirst=True)
    def complete_stream(self, chat: ChatRequest) -> AsyncIterator[str | StreamEnd]:
        async def reply() -> AsyncIterator[str | StreamEnd]:
            yield "catch-all"
            yield StreamEnd()

        return reply()


async def test_claude_models_stay_with_it_whatever_the_plugin_order(
    make_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    # CatchAll is registered last and `tryfirst`: in hook order it would be asked first. A chat
    # goes to the plugin that registered its model, so no `tryfirst` is needed to be heard.
    app = make_app(CatchAll(), environ=anthropic_environ(fake_anthropic))
    async with app.test_app():
        claude, _ = await collect(await app.models.open_stream(chat("claude-test-1")))
        other, _ = await collect(await app.models.open_stream(chat("catch-all-1")))
    assert "".join(claude) == "Hello from Claude."
    assert other == ["catch-all"]
    assert [r["model"] for r in fake_anthropic.requests] == ["claude-test-1"]


async def test_registers_nothing_when_not_configured(make_app: Any) -> None:
    app = make_app(environ={})
    async with app.test_app():
        assert not [m for m in app.models.registered() if m.provider == "anthropic"]
        assert (
            promptkit_anthropic.complete_stream(chat=chat(), host=app.plugins.host("anthropic"))
            is None
        )


async def test_the_models_setting_replaces_the_listing(
    make_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    environ = {**anthropic_environ(fake_anthropic), "PROMPTKIT_ANTHROPIC_MODELS": "claude-x-9"}
    app = make_app(environ=environ)
    async with app.test_app():
        claude = [m.id for m in app.models.registered() if m.provider == "anthropic"]
    assert claude == ["claude-x-9"]


async def test_max_tokens_setting(make_app: Any, fake_anthropic: FakeAnthropic) -> None:
    environ = {**anthropic_environ(fake_anthropic), "PROMPTKIT_ANTHROPIC_MAX_TOKENS": "256"}
    app = make_app(environ=environ)
    async with app.test_app():
        await collect(await app.models.open_stream(chat()))
    assert fake_anthropic.requests[0]["max_tokens"] == 256

    environ["PROMPTKIT_ANTHROPIC_MAX_TOKENS"] = "lots"
    # Start-up stops, naming the plugin and the variable (the test app wraps the error).
    with pytest.raises(Exception, match=r"'anthropic'.*PROMPTKIT_ANTHROPIC_MAX_TOKENS"):
        async with make_app(environ=environ).test_app():
            pass


async def test_max_tokens_finishes_as_length(
    provider_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.stop_reason = "max_tokens"
    _, ends = await collect(await provider_app.models.open_stream(chat()))
    assert ends[0].finish_reason == "length"


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (401, "authentication_error", "refused the credentials"),
        (429, "rate_limit_error", "rate limiting"),
        (400, "invalid_request_error", "failed (invalid_request_error)"),
    ],
)
async def test_http_errors_become_safe_provider_errors(
    provider_app: Any,
    fake_anthropic: FakeAnthropic,
    caplog: pytest.LogCaptureFixture,
    status: int,
    error_type: str,
    expected: str,
) -> None:
    fake_anthropic.status, fake_anthropic.error_type = status, error_type
    stream = await provider_app.models.open_stream(chat())
    with pytest.raises(ProviderError) as caught:
        await collect(stream)
    assert expected in caught.value.message
    # The fake quotes the key in its error text, as real providers sometimes do.
    assert API_KEY not in str(caught.value)
    assert caught.value.__cause__ is None
    assert API_KEY not in caplog.text


async def test_error_event_mid_stream_after_some_text(
    provider_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.error_after = 2
    stream = await provider_app.models.open_stream(chat())
    deltas: list[str] = []
    with pytest.raises(ProviderError, match="overloaded_error"):
        async for item in stream:
            deltas.append(item)
    assert deltas == ["Hello", " from"]


async def test_unreachable_server(make_app: Any) -> None:
    environ = {
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "PROMPTKIT_ANTHROPIC_MODELS": "claude-test-1",  # the listing would fail the same way
    }
    app = make_app(environ=environ)
    async with app.test_app():
        provider = app.plugins.host("anthropic").state["provider"]
        provider.client = provider.client.with_options(max_retries=0)
        stream = await app.models.open_stream(chat())
        with pytest.raises(ProviderError, match="could not reach"):
            await collect(stream)


async def test_closing_the_stream_closes_the_upstream_request(
    provider_app: Any, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.delay = 0.1
    fake_anthropic.words = ["word"] * 50
    stream = await provider_app.models.open_stream(chat())
    assert await anext(stream) == "word"
    await stream.aclose()  # what the kernel does when its client goes away
    for _ in range(50):
        if fake_anthropic.finished:
            break
        await asyncio.sleep(0.05)
    assert fake_anthropic.finished == [False]


def test_messages_start_with_a_user_turn_and_alternate() -> None:
    system, turns = to_anthropic(
        [
            ChatMessage("system", "One."),
            ChatMessage("assistant", "cut off by trimming"),
            ChatMessage("user", "a"),
            ChatMessage("user", "b"),
            ChatMessage("assistant", "c"),
        ]
    )
    assert system == "One."
    assert turns == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
    ]
    assert to_anthropic([ChatMessage("user", "x")]) == (None, [{"role": "user", "content": "x"}])


# Installed beside the built-ins: one promptkit, one conversation per provider, through /chat.


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    server = await FakeOpenAI().start()
    yield server
    await server.close()


def both_environ(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> dict[str, str]:
    openai = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": "sk-openai-test"}
    return {**openai, **anthropic_environ(fake_anthropic)}


async def new_conversation(client: Any, headers: dict[str, str]) -> str:
    project = await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json()
    url = f"/projects/{project['id']}/conversations"
    return str((await (await client.post(url, json={}, headers=headers)).get_json())["id"])


async def ask(client: Any, headers: dict[str, str], conversation_id: str, model: str) -> str:
    """One turn in the body `useChat` sends; returns the streamed text."""
    body = {
        "id": conversation_id,
        "messages": [{"id": "m", "role": "user", "parts": [{"type": "text", "text": "Hi"}]}],
        "trigger": "submit-message",
        "model": model,
    }
    response = await client.post("/chat", json=body, headers=headers)
    assert response.status_code == 200
    events = [
        json.loads(line.removeprefix("data: "))
        for line in (await response.get_data()).decode().split("\n\n")
        if line.startswith("data: {")
    ]
    assert events[-1] == {"type": "finish", "finishReason": "stop"}
    return "".join(e["delta"] for e in events if e["type"] == "text-delta")


async def stored_models(client: Any, headers: dict[str, str], conversation_id: str) -> list[Any]:
    url = f"/conversations/{conversation_id}/messages"
    messages = (await (await client.get(url, headers=headers)).get_json())["data"]
    return [(m["role"], m["status"], m["model"]) for m in messages]


async def test_found_through_its_entry_point_beside_the_builtins(make_app: Any) -> None:
    app = make_app()  # nothing passed in: it is found like any installed plugin
    rows = {row["name"]: row for row in describe_plugins(app.plugins.pm)}
    assert {"clerk", "openai", "files", "anthropic"} <= set(rows)
    assert rows["anthropic"]["builtin"] is False
    assert rows["anthropic"]["version"] == "0.1.0"
    assert {"complete_stream", "startup", "shutdown"} <= set(rows["anthropic"]["hooks"])


async def test_one_promptkit_routes_each_conversation_to_its_provider(
    make_app: Any, auth: Any, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    app = make_app(environ=both_environ(fake_openai, fake_anthropic))
    async with app.test_app():
        client, headers = app.test_client(), auth("alice")
        to_openai = await new_conversation(client, headers)
        to_claude = await new_conversation(client, headers)

        assert await ask(client, headers, to_openai, "gpt-4.1-mini") == fake_openai.default.reply
        assert await ask(client, headers, to_claude, "claude-test-1") == "Hello from Claude."
        assert await ask(client, headers, to_claude, "claude-test-1") == "Hello from Claude."

        assert len(fake_openai.received) == 1
        assert fake_openai.last.body["model"] == "gpt-4.1-mini"
        assert [r["model"] for r in fake_anthropic.requests] == ["claude-test-1"] * 2
        # The second Claude turn carries the conversation's history from the database.
        assert fake_anthropic.requests[1]["messages"] == [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello from Claude."},
            {"role": "user", "content": "Hi"},
        ]
        assert (await stored_models(client, headers, to_claude))[1] == (
            "assistant",
            "complete",
            "claude-test-1",
        )
        assert (await stored_models(client, headers, to_openai))[1][:2] == ("assistant", "complete")


@pytest.mark.parametrize("disabled", ["anthropic", "openai"])
async def test_disabling_a_provider_takes_exactly_its_models_away(
    make_app: Any,
    auth: Any,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    disabled: str,
) -> None:
    # `disabled_plugins` is what PROMPTKIT_DISABLED_PLUGINS=<name> sets.
    app = make_app(environ=both_environ(fake_openai, fake_anthropic), disabled_plugins=(disabled,))
    asks = {"openai": "gpt-4.1-mini", "anthropic": "claude-test-1"}
    expected = {"openai": fake_openai.default.reply, "anthropic": "Hello from Claude."}
    async with app.test_app():
        client, headers = app.test_client(), auth("alice")
        for provider, model in asks.items():
            conversation = await new_conversation(client, headers)
            if provider == disabled:
                body = {"conversation_id": conversation, "message": "Hi", "model": model}
                response = await client.post("/chat", json=body, headers=headers)
                assert response.status_code == 422
                assert (await response.get_json())["error"]["code"] == "unknown_model"
                assert await stored_models(client, headers, conversation) == []
            else:
                assert await ask(client, headers, conversation, model) == expected[provider]
        echo = await ask(client, headers, await new_conversation(client, headers), "echo")
    assert echo.startswith("I am promptkit's offline echo provider")
    upstream_calls = {
        "openai": len(fake_openai.received),
        "anthropic": len(fake_anthropic.requests),
    }
    assert upstream_calls[disabled] == 0
    assert upstream_calls[next(p for p in asks if p != disabled)] == 1


async def test_attachments_go_as_image_document_and_text_blocks(
    make_app: Any, auth: Any, fake_anthropic: FakeAnthropic
) -> None:
    from test_attachments import PDF, PNG, new_chat, uploaded

    app = make_app(environ=anthropic_environ(fake_anthropic))  # uploads: the local store
    async with app.test_app():
        client, headers = app.test_client(), auth("alice")
        project_id, conversation_id = await new_chat(client, headers)
        ids = [
            await uploaded(client, project_id, headers, PNG, "photo.png", "image/png"),
            await uploaded(client, project_id, headers, PDF, "report.pdf", "application/pdf"),
            await uploaded(client, project_id, headers, b"a,b\n", "t.csv", "text/csv"),
        ]
        body = {"conversation_id": conversation_id, "message": "Read", "file_ids": ids}
        response = await client.post(
            "/chat", json={**body, "model": "claude-test-1"}, headers=headers
        )
        assert response.status_code == 200
        await response.get_data()

    def source(kind: str, data: bytes) -> dict[str, str]:
        return {"type": "base64", "media_type": kind, "data": base64.b64encode(data).decode()}

    assert fake_anthropic.requests[-1]["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": source("image/png", PNG)},
                {"type": "document", "source": source("application/pdf", PDF)},
                {"type": "text", "text": "File t.csv (text/csv):\na,b\n"},
                {"type": "text", "text": "Read"},
            ],
        }
    ]


def test_a_user_turn_with_files_joins_the_one_before_it_as_blocks() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "x"}}
    _, turns = to_anthropic([ChatMessage("user", "a"), ChatMessage("user", "b")], {1: [image]})
    assert turns == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "a"}, image, {"type": "text", "text": "b"}],
        }
    ]
