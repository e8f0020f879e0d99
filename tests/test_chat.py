"""POST /chat end to end: the real `openai` SDK in builtin_openai, against the fake upstream.

The stream's event sequence and headers, what is sent upstream, what is stored, both request
bodies, regenerate, trimming, observers and heartbeats.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Script

from promptkit import hookimpl
from promptkit.app import PromptkitApp
from promptkit.chat import stream as chat_stream

SECRET = "sk-test-do-not-leak"


def upstream_env(fake: FakeOpenAI) -> dict[str, str]:
    return {"OPENAI_BASE_URL": fake.base_url, "OPENAI_API_KEY": SECRET}


@pytest.fixture
def app_environ(fake):
    return upstream_env(fake)


def parse_events(body: bytes) -> list[Any]:
    """The SSE body as a list: each `data:` JSON object, "[DONE]", or ": ping" for comments."""
    events: list[Any] = []
    for block in body.decode().split("\n\n"):
        if block.startswith(":"):
            events.append(block)
        elif block.startswith("data: "):
            data = block.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def text_of(events: list[Any]) -> str:
    return "".join(e["delta"] for e in events if isinstance(e, dict) and e["type"] == "text-delta")


async def new_conversation(client, headers, *, prompt: str | None = None) -> str:
    project = await (await client.post("/projects", json={"name": "P"}, headers=headers)).get_json()
    if prompt is not None:
        response = await client.post(
            f"/projects/{project['id']}/prompts",
            json={"name": "system", "content": prompt, "is_active": True},
            headers=headers,
        )
        assert response.status_code == 201
    response = await client.post(
        f"/projects/{project['id']}/conversations", json={}, headers=headers
    )
    return (await response.get_json())["id"]


async def send(client, headers, body: dict[str, Any]) -> tuple[Any, list[Any]]:
    response = await client.post("/chat", json=body, headers=headers)
    return response, parse_events(await response.get_data())


async def history(client, headers, conversation_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/conversations/{conversation_id}/messages", headers=headers)
    assert response.status_code == 200
    return (await response.get_json())["data"]


async def test_event_sequence_headers_and_text(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["Hel", "lo", ", wor", "ld"])

    response, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    types = [e if isinstance(e, str) else e["type"] for e in events]
    assert types == [
        "start",
        "text-start",
        *["text-delta"] * 4,
        "text-end",
        "message-metadata",
        "finish",
        "[DONE]",
    ]
    # One delta per upstream chunk, in order, all on the one text part.
    assert [e["delta"] for e in events[2:6]] == ["Hel", "lo", ", wor", "ld"]
    assert {e["id"] for e in events[1:7]} == {events[1]["id"]}
    metadata = events[7]["messageMetadata"]
    assert metadata["assistant_message_id"] == events[0]["messageId"]
    assert metadata["model"] == "gpt-4.1-mini"
    assert metadata["usage"] == {"prompt_tokens": 1, "completion_tokens": 4}
    assert events[8] == {"type": "finish", "finishReason": "stop"}

    stored = await history(client, alice, conversation)
    assert [(m["role"], m["content"], m["status"]) for m in stored] == [
        ("user", "hi", "complete"),
        ("assistant", "Hello, world", "complete"),
    ]
    assert stored[0]["id"] == metadata["user_message_id"]
    assert stored[1]["id"] == metadata["assistant_message_id"]
    assert stored[1]["usage"] == {"prompt_tokens": 1, "completion_tokens": 4}
    assert stored[1]["model"] == "gpt-4.1-mini"


async def test_upstream_gets_system_prompt_then_history_in_order(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice, prompt="You are terse.")
    fake.queue(Script(reply="first answer"), Script(reply="second answer"))

    await send(client, alice, {"conversation_id": conversation, "message": "first question"})
    await send(client, alice, {"conversation_id": conversation, "message": "second question"})

    sent = fake.last.body
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "gpt-4.1-mini"
    assert fake.last.headers["Authorization"] == f"Bearer {SECRET}"


async def test_model_from_the_request(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    body = {"conversation_id": conversation, "message": "hi", "model": "llama-3-8b"}
    _, events = await send(client, alice, body)
    assert fake.last.body["model"] == "llama-3-8b"
    assert events[-3]["messageMetadata"]["model"] == "llama-3-8b"


async def test_each_conversation_gets_its_own_projects_active_prompt(client, auth, fake):
    alice, bob = auth("alice"), auth("bob")
    await new_conversation(client, bob, prompt="bob's prompt")  # another user's active prompt
    terse = await new_conversation(client, alice, prompt="You are terse.")
    verbose = await new_conversation(client, alice, prompt="You are verbose.")
    plain = await new_conversation(client, alice)  # its project has no prompt at all
    sent = {}
    for name, conversation in (("verbose", verbose), ("plain", plain), ("terse", terse)):
        await send(client, alice, {"conversation_id": conversation, "message": "hi"})
        sent[name] = [m for m in fake.last.body["messages"] if m["role"] == "system"]
    assert sent == {
        "verbose": [{"role": "system", "content": "You are verbose."}],
        "plain": [],
        "terse": [{"role": "system", "content": "You are terse."}],
    }


async def test_history_is_trimmed_oldest_first_keeping_system_and_new_message(make_app, auth, fake):
    app = make_app(environ=upstream_env(fake), context_budget_chars=60)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        conversation = await new_conversation(client, alice, prompt="S" * 10)
        for turn in range(3):
            fake.queue(Script(reply=f"answer{turn}.."))  # 9 characters, like each question
            body = {"conversation_id": conversation, "message": f"q{turn}-456789"}
            await send(client, alice, body)
        await send(client, alice, {"conversation_id": conversation, "message": "N" * 20})

    # 10 (system) + 20 (new) + 9 + 9 (last turn) + 9 (answer1) = 57 <= 60; q1 would make 66.
    # answer1 fits but goes too: a reply whose question was dropped would only confuse.
    assert fake.last.body["messages"] == [
        {"role": "system", "content": "S" * 10},
        {"role": "user", "content": "q2-456789"},
        {"role": "assistant", "content": "answer2.."},
        {"role": "user", "content": "N" * 20},
    ]


async def test_system_prompt_and_new_message_survive_a_tiny_budget(make_app, auth, fake):
    app = make_app(environ=upstream_env(fake), context_budget_chars=5)
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        conversation = await new_conversation(client, alice, prompt="a long system prompt")
        await send(client, alice, {"conversation_id": conversation, "message": "earlier"})
        await send(
            client, alice, {"conversation_id": conversation, "message": "a long new message"}
        )
    assert fake.last.body["messages"] == [
        {"role": "system", "content": "a long system prompt"},
        {"role": "user", "content": "a long new message"},
    ]


async def test_use_chat_body_takes_only_the_last_message(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    body = {
        "id": conversation,
        "messages": [
            {"id": "u0", "role": "user", "parts": [{"type": "text", "text": "not in the db"}]},
            {"id": "a0", "role": "assistant", "parts": [{"type": "text", "text": "made up"}]},
            {
                "id": "u1",
                "role": "user",
                "parts": [
                    {"type": "step-start"},
                    {"type": "text", "text": "Hello "},
                    {"type": "text", "text": "there"},
                ],
            },
        ],
        "trigger": "submit-message",
    }
    response, events = await send(client, alice, body)
    assert response.status_code == 200
    assert events[-1] == "[DONE]"
    assert fake.last.body["messages"] == [{"role": "user", "content": "Hello there"}]
    stored = await history(client, alice, conversation)
    assert [m["content"] for m in stored] == ["Hello there", fake.default.reply]


@pytest.mark.parametrize("shape", ["simple", "use_chat"])
async def test_regenerate_answers_the_last_user_message_again(client, auth, fake, shape):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.queue(Script(reply="first try"), Script(reply="second try"))
    await send(client, alice, {"conversation_id": conversation, "message": "question"})
    before = await history(client, alice, conversation)

    if shape == "simple":
        body: dict[str, Any] = {"conversation_id": conversation, "trigger": "regenerate-message"}
    else:
        body = {"id": conversation, "messages": [], "trigger": "regenerate-message"}
    response, events = await send(client, alice, body)

    assert response.status_code == 200
    assert text_of(events) == "second try"
    assert fake.last.body["messages"] == [{"role": "user", "content": "question"}]
    after = await history(client, alice, conversation)
    assert [(m["role"], m["content"]) for m in after] == [
        ("user", "question"),
        ("assistant", "second try"),
    ]
    assert after[0]["id"] == before[0]["id"]  # the user message is not stored twice
    assert after[1]["id"] != before[1]["id"]
    assert events[-3]["messageMetadata"]["user_message_id"] == before[0]["id"]


async def test_regenerate_with_nothing_to_answer_is_422(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    response = await client.post(
        "/chat",
        json={"conversation_id": conversation, "trigger": "regenerate-message"},
        headers=alice,
    )
    assert response.status_code == 422
    assert fake.received == []
    # The refusal released the conversation.
    response, _ = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"message": "no conversation"},
        {"conversation_id": "X", "message": ""},
        {"conversation_id": "X", "message": "   \n"},
        {"conversation_id": "X", "message": 42},
        {"conversation_id": "X", "message": "nul\x00byte"},
        {"conversation_id": "X", "message": "hi", "trigger": "delete-everything"},
        {"conversation_id": "X", "message": "hi", "model": ""},
        {"id": "X", "messages": []},
        {"id": "X", "messages": [{"role": "assistant", "parts": [{"type": "text", "text": "a"}]}]},
        {"id": "X", "messages": [{"role": "user", "parts": [{"type": "file", "url": "x"}]}]},
        {"id": "X", "messages": "hi"},
        ["not", "an", "object"],
    ],
)
async def test_bad_bodies_are_422_and_touch_nothing(client, auth, fake, body):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    body = json.loads(json.dumps(body).replace('"X"', json.dumps(conversation)))
    response = await client.post("/chat", json=body, headers=alice)
    assert response.status_code == 422
    assert set((await response.get_json())["error"]) >= {"code", "message"}
    assert fake.received == []
    assert await history(client, alice, conversation) == []


async def test_not_json_is_415(client, auth, fake):
    response = await client.post("/chat", data="hi", headers=auth("alice"))
    assert response.status_code == 415
    assert fake.received == []


async def test_unknown_or_foreign_conversation_is_the_same_404(client, auth, fake):
    conversation = await new_conversation(client, auth("alice"))
    bob = auth("bob")
    foreign = await client.post(
        "/chat", json={"conversation_id": conversation, "message": "hi"}, headers=bob
    )
    missing = await client.post(
        "/chat", json={"conversation_id": "cnv_nope", "message": "hi"}, headers=bob
    )
    assert foreign.status_code == missing.status_code == 404
    assert await foreign.get_json() == await missing.get_json()
    assert fake.received == []
    assert await history(client, auth("alice"), conversation) == []


async def test_without_credentials_is_401(client, fake):
    response = await client.post("/chat", json={"conversation_id": "x", "message": "hi"})
    assert response.status_code == 401
    assert fake.received == []


class Observer:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    @hookimpl
    def on_message_saved(self, message, conversation, principal):
        self.seen.append((message["role"], conversation["id"], principal.user_id))


class BrokenObserver:
    @hookimpl
    async def on_message_saved(self, message):
        raise RuntimeError("this observer is broken")


async def test_observers_see_each_stored_message_and_one_failing_breaks_nothing(
    make_app, auth, fake
):
    observer = Observer()
    app = make_app(BrokenObserver(), observer, environ=upstream_env(fake))
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        conversation = await new_conversation(client, alice)
        response, events = await send(
            client, alice, {"conversation_id": conversation, "message": "hi"}
        )
        assert response.status_code == 200
        assert events[-2] == {"type": "finish", "finishReason": "stop"}
        assert len(await history(client, alice, conversation)) == 2
    user_id = observer.seen[0][2]
    assert observer.seen == [
        ("user", conversation, user_id),
        ("assistant", conversation, user_id),
    ]


async def test_idle_stream_gets_ping_comments(client, auth, fake, monkeypatch):
    monkeypatch.setattr(chat_stream, "PING_SECONDS", 0.05)
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["slow", " reply"], delay=0.3)
    _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    assert ": ping" in events
    assert text_of(events) == "slow reply"
    assert events[-1] == "[DONE]"


async def test_each_delta_is_flushed_as_it_arrives(client, auth, fake):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["one", " two", " three"], delay=0.4)
    body = json.dumps({"conversation_id": conversation, "message": "hi"}).encode()
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    headers = {**alice, "Content-Type": "application/json"}
    async with client.request("/chat", method="POST", headers=headers) as connection:
        await connection.send(body)
        await connection.send_complete()
        while True:
            chunk = await asyncio.wait_for(connection.receive(), timeout=5)
            for event in parse_events(chunk):
                if isinstance(event, dict) and event["type"] == "text-delta":
                    arrivals.append((time.monotonic() - started, event["delta"]))
            if b"[DONE]" in chunk:
                break
    assert [delta for _, delta in arrivals] == ["one", " two", " three"]
    # Each delta came about one upstream delay after the previous one, not all at the end.
    assert arrivals[0][0] < 0.75
    assert arrivals[1][0] - arrivals[0][0] > 0.2
    assert arrivals[2][0] - arrivals[1][0] > 0.2


async def test_no_provider_configured_falls_back_to_the_offline_echo(make_app, auth):
    app: PromptkitApp = make_app()
    async with app.test_app():
        client, alice = app.test_client(), auth("alice")
        conversation = await new_conversation(client, alice)
        _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
    text = text_of(events)
    assert "not a language model" in text
    assert text.endswith("Your last message was: hi")
    assert events[-3]["messageMetadata"]["model"] == "echo"


@pytest.mark.parametrize(
    ("error_after", "error_text"),
    [
        (None, "the reply could not be stored"),
        # The provider fails after the deletion: its `error` reply has nowhere to go either.
        (2, "the model provider failed while answering"),
    ],
)
async def test_conversation_deleted_while_streaming_ends_with_an_error_part(
    client, auth, fake, error_after, error_text
):
    alice = auth("alice")
    conversation = await new_conversation(client, alice)
    fake.default = Script(tokens=["a", "b", "c"], delay=0.2, error_after=error_after)
    headers = {**alice, "Content-Type": "application/json"}
    async with client.request("/chat", method="POST", headers=headers) as connection:
        await connection.send(
            json.dumps({"conversation_id": conversation, "message": "hi"}).encode()
        )
        await connection.send_complete()
        body = await asyncio.wait_for(connection.receive(), timeout=5)
        deleted = await client.delete(f"/conversations/{conversation}", headers=alice)
        assert deleted.status_code == 204
        while b"[DONE]" not in body:
            body += await asyncio.wait_for(connection.receive(), timeout=5)
    events = parse_events(body)
    assert events[-1] == "[DONE]"
    assert events[-2] == {"type": "error", "errorText": error_text}
