"""Stop and resume across real `promptkit serve` processes sharing PostgreSQL (or SQLite) and
Redis, in front of the fake OpenAI upstream: resume a reply on another instance, stop it from
another instance, and SIGKILL the instance that runs it."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fake_openai import FakeOpenAI, Script
from test_production_support import Server, StartServer

REDIS_URL = "redis://127.0.0.1:6379/3"
TOKENS = [f" t{i}" for i in range(60)]
Part = dict[str, Any] | str


@pytest.fixture
def fake(fake: FakeOpenAI) -> FakeOpenAI:
    fake.default = Script(tokens=TOKENS, delay=0.05)  # 3 s
    return fake


def environ(fake: FakeOpenAI, **more: str) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-test",
        "PROMPTKIT_DISABLED_PLUGINS": "clerk",  # the test plugin authenticates; OpenAI answers
        "PROMPTKIT_MODEL": "gpt-test",
        # Declared, not listed: the fake runs in this process, which waits for the servers.
        "PROMPTKIT_OPENAI_MODELS": "gpt-test",
        "PROMPTKIT_STREAM_LEASE_SECONDS": "1.5",
        **more,
    }


def user() -> dict[str, str]:
    return {"Authorization": f"Bearer test:replies-{secrets.token_hex(6)}"}


async def new_conversation(http: httpx.AsyncClient, server: Server) -> str:
    project = (await http.post(f"{server.url}/projects", json={"name": "P"})).json()["id"]
    response = await http.post(f"{server.url}/projects/{project}/conversations", json={})
    return str(response.json()["id"])


async def parts(response: httpx.Response) -> AsyncIterator[Part]:
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            yield payload if payload == "[DONE]" else json.loads(payload)


def text_in(body: str) -> str:
    lines = [
        line.removeprefix("data: ") for line in body.splitlines() if line.startswith("data: {")
    ]
    return text_of([json.loads(line) for line in lines])


def text_of(received: list[Part]) -> str:
    return "".join(p["delta"] for p in received if isinstance(p, dict) and "delta" in p)


async def chat_until(
    http: httpx.AsyncClient, server: Server, conversation: str, deltas: int
) -> list[Part]:
    """POST /chat and read until `deltas` text deltas have come; then disconnect."""
    received: list[Part] = []
    body = {"conversation_id": conversation, "message": "count"}
    async with http.stream("POST", f"{server.url}/chat", json=body) as response:
        assert response.status_code == 200
        async for item in parts(response):
            received.append(item)
            if len(text_of(received).split()) >= deltas:
                break
    return received


async def read_all(http: httpx.AsyncClient, url: str) -> list[Part]:
    async with http.stream("GET", url) as response:
        assert response.status_code == 200, await response.aread()
        return [item async for item in parts(response)]


async def stored(http: httpx.AsyncClient, server: Server, conversation: str) -> list[Any]:
    response = await http.get(f"{server.url}/conversations/{conversation}/messages")
    assert response.status_code == 200
    return list(response.json()["data"])


async def test_a_reply_started_on_a_resumes_whole_on_b(
    start_server: StartServer, fake: FakeOpenAI
) -> None:
    settings = environ(fake, REDIS_URL=REDIS_URL, PROMPTKIT_RESUMABLE="on")
    a, b = start_server(**settings), start_server(**settings)
    async with httpx.AsyncClient(timeout=30, headers=user()) as http:
        conversation = await new_conversation(http, a)
        seen = await chat_until(http, a, conversation, deltas=5)  # then the client leaves

        resumed, again = await asyncio.gather(
            read_all(http, f"{b.url}/chat/{conversation}/stream"),
            read_all(http, f"{b.url}/chat/{conversation}/stream"),
        )
        messages = await stored(http, b, conversation)
        after = await http.get(f"{b.url}/chat/{conversation}/stream")

    assert resumed == again  # several clients at once, each the whole reply
    assert resumed[: len(seen)] == seen  # replayed from `start`, the same parts
    deltas = [p["delta"] for p in resumed if isinstance(p, dict) and p["type"] == "text-delta"]
    assert deltas == TOKENS  # every part once, in order
    assert [p if isinstance(p, str) else p["type"] for p in resumed[-3:]] == [
        "message-metadata",
        "finish",
        "[DONE]",
    ]
    assert resumed.count("[DONE]") == 1
    assert isinstance(resumed[0], dict) and resumed[0]["messageId"] == messages[1]["id"]
    assert (messages[1]["status"], messages[1]["content"]) == ("complete", text_of(resumed))
    assert fake.last.completed and len(fake.received) == 1
    assert after.status_code == 204  # stored: nothing in flight


@pytest.mark.parametrize("resumable", ["off", "on"])
async def test_stop_on_b_stops_the_reply_running_on_a(
    start_server: StartServer, fake: FakeOpenAI, resumable: str
) -> None:
    settings = environ(fake, REDIS_URL=REDIS_URL, PROMPTKIT_RESUMABLE=resumable)
    a, b = start_server(**settings), start_server(**settings)
    async with httpx.AsyncClient(timeout=30, headers=user()) as http:
        conversation = await new_conversation(http, a)
        received: list[Part] = []
        stop: httpx.Response | None = None
        body = {"conversation_id": conversation, "message": "count"}
        async with http.stream("POST", f"{a.url}/chat", json=body) as response:
            async for item in parts(response):
                received.append(item)
                if stop is None and len(text_of(received).split()) == 3:
                    asked = time.monotonic()
                    stop = await http.post(f"{b.url}/chat/{conversation}/stop")
                    await asyncio.wait_for(fake.last.closed_early.wait(), timeout=1)
                    closed_within = time.monotonic() - asked
        messages = await stored(http, b, conversation)
        nothing = await http.post(f"{b.url}/chat/{conversation}/stop")
        fake.default = Script(reply="after the stop")
        again = await http.post(f"{b.url}/chat", json={**body, "message": "again"})

    assert stop is not None and stop.status_code == 200, stop
    message = stop.json()
    assert message["status"] == "partial" and message == messages[1]
    assert closed_within < 1 and not fake.received[0].completed
    assert 0 < len(message["content"]) < len("".join(TOKENS))
    assert text_of(received) == message["content"]  # A's client got all of it, then `finish`
    assert received[-2] == {"type": "finish", "finishReason": "stop"}
    assert received.count("[DONE]") == 1 and received[-1] == "[DONE]"
    assert nothing.status_code == 204
    assert again.status_code == 200 and text_in(again.text) == "after the stop"


@pytest.mark.parametrize("redis", [True, False])
async def test_sigkill_of_the_running_instance_leaves_a_partial_reply(
    start_server: StartServer, fake: FakeOpenAI, redis: bool
) -> None:
    """With Redis the reply is stored from its Redis Stream, which holds what the dead instance
    produced up to its last flush; without, from the checkpoint in the database."""
    more = {"REDIS_URL": REDIS_URL, "PROMPTKIT_RESUMABLE": "on"} if redis else {}
    fake.default = Script(tokens=TOKENS * 3, delay=0.05)  # 9 s
    a, b = start_server(**environ(fake, **more)), start_server(**environ(fake, **more))
    async with httpx.AsyncClient(timeout=30, headers=user()) as http:
        conversation = await new_conversation(http, a)
        received: list[Part] = []
        body = {"conversation_id": conversation, "message": "count"}
        follower = None
        try:
            async with http.stream("POST", f"{a.url}/chat", json=body) as response:
                async for item in parts(response):
                    received.append(item)
                    if len(text_of(received).split()) == 30:  # 1.5 s: checkpointed by now
                        if redis:
                            stream = f"{b.url}/chat/{conversation}/stream"
                            follower = asyncio.ensure_future(read_all(http, stream))
                            await asyncio.sleep(0.3)
                        seen_at_kill = text_of(received)
                        a.kill()  # while its client is still attached
                        killed = time.monotonic()
        except httpx.TransportError:
            pass  # the connection died with the instance
        busy = await http.post(f"{b.url}/chat", json={**body, "message": "too soon"})

        messages: list[Any] = []
        while len(messages) < 2 and time.monotonic() - killed < 10:
            await asyncio.sleep(0.1)
            messages = await stored(http, b, conversation)
        settled_after = time.monotonic() - killed
        followed = await asyncio.wait_for(follower, timeout=10) if follower else None
        fake.default = Script(reply="a new reply")
        again = await http.post(f"{b.url}/chat", json={**body, "message": "again"})

    assert busy.status_code == 409  # the lease holds until it expires
    assert len(messages) == 2, b.output()
    assert 1.0 < settled_after < 10
    reply = messages[1]
    assert reply["status"] == "partial"
    if redis:
        # The Redis Stream holds what the client had seen 0.3 s before the kill, maybe more;
        # what reached the client in the last flush period (`FLUSH_SECONDS`) may be missing.
        assert reply["content"].startswith(seen_at_kill)
    else:  # the last checkpoint, at most a checkpoint period behind the client
        assert reply["content"] and text_of(received).startswith(reply["content"])
    assert "".join(TOKENS * 3).startswith(reply["content"])
    if followed is not None:
        assert followed[-2] == {"type": "finish", "finishReason": "stop"}
        assert followed.count("[DONE]") == 1
        assert text_of(followed) == reply["content"]
    assert again.status_code == 200 and text_in(again.text) == "a new reply"


async def test_several_workers_without_redis_turn_resume_off(
    start_server: StartServer, fake: FakeOpenAI
) -> None:
    server = start_server(2, **environ(fake, PROMPTKIT_RESUMABLE="on"))
    assert "PROMPTKIT_RESUMABLE needs REDIS_URL with several workers" in server.output()
