"""Per-user token budgets: reserved before the provider is called, settled to what it reported,
held across instances in Redis and in-process without it, through real HTTP and real Redis."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import coredis
import httpx
import pytest
from fake_openai import FakeOpenAI, Script
from test_chat import history, new_conversation, send, text_of, upstream_env
from test_production_support import StartServer

from promptkit import ChatMessage
from promptkit import budget as budget_module
from promptkit.budget import Budgets, estimate_prompt, estimate_tokens, parse_budget

REDIS_URL = "redis://127.0.0.1:6379/4"
DOWN_REDIS_URL = "redis://127.0.0.1:1/4"  # nothing listens there
MAX_REPLY = 100
# Every chat below sends one user message "hi" and no history: its worst case is this.
WORST = estimate_prompt([ChatMessage("user", "hi")]) + MAX_REPLY
# The fake reports exactly the worst case, so ten answered replies use the budget up whatever
# the timing: an eleventh answer could only come from a reserve that was not atomic.
USED_UP = Script(
    reply="ok",
    usage={
        "prompt_tokens": WORST - MAX_REPLY,
        "completion_tokens": MAX_REPLY,
        "total_tokens": WORST,
    },
    delay=0.01,
)
REPORTED = {"prompt_tokens": WORST - MAX_REPLY, "completion_tokens": MAX_REPLY}


@pytest.fixture
async def redis() -> Any:
    client = coredis.Redis.from_url(REDIS_URL, decode_responses=True)
    await client.flushdb()  # DB 4 is this suite's own
    yield client
    client.connection_pool.disconnect()


def budget_settings(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "environ": upstream_env(fake),
        "token_budget": f"{10 * WORST}/day",
        "max_reply_tokens": MAX_REPLY,
        "rate_limit": None,
        **extra,
    }


async def chat_many(client: Any, headers: dict[str, str], conversations: list[str]) -> list[Any]:
    async def one(conversation: str) -> Any:
        body = {"conversation_id": conversation, "message": "hi"}
        response = await client.post("/chat", json=body, headers=headers)
        await response.get_data()
        return response

    return list(await asyncio.gather(*(one(c) for c in conversations)))


async def test_forty_concurrent_chats_in_one_process_answer_ten(make_app, auth, fake):
    fake.default = USED_UP
    app = make_app(**budget_settings(fake))
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        conversations = [await new_conversation(client, alice) for _ in range(40)]
        responses = await chat_many(client, alice, conversations)
        usage = await (await client.get("/usage", headers=alice)).get_json()
        stored = [await history(client, alice, c) for c in conversations]
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 10 + [429] * 30
    assert len(fake.received) == 10  # nothing was sent for a refused chat
    answered = [messages for messages in stored if messages]
    assert len(answered) == 10 and all(len(m) == 2 for m in answered)  # refused: nothing stored
    assert [m[1]["usage"] for m in answered] == [REPORTED] * 10
    assert usage["used"] == 10 * WORST and usage["remaining"] == 0 and usage["reserved"] == 0
    assert usage["by_model"] == {"gpt-4.1-mini": 10 * WORST}


async def test_over_budget_is_429_with_retry_after_at_the_window_end(make_app, auth, fake):
    fake.default = USED_UP
    app = make_app(**budget_settings(fake, token_budget=f"{WORST}/hour"))
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        first = await new_conversation(client, alice)
        ok, _ = await send(client, alice, {"conversation_id": first, "message": "hi"})
        second = await new_conversation(client, alice)
        refused = await client.post(
            "/chat", json={"conversation_id": second, "message": "hi"}, headers=alice
        )
        other_user = await new_conversation(client, auth("bob"))
        bob, _ = await send(client, auth("bob"), {"conversation_id": other_user, "message": "hi"})
        stored = await history(client, alice, second)
        usage = await (await client.get("/usage", headers=alice)).get_json()
    assert ok.status_code == 200 and bob.status_code == 200  # a budget is per user
    assert refused.status_code == 429
    assert (await refused.get_json())["error"]["code"] == "budget_exhausted"
    to_window_end = 3600 - time.time() % 3600
    assert abs(int(refused.headers["Retry-After"]) - to_window_end) <= 2
    assert stored == [] and len(fake.received) == 2
    assert usage["window"] == "1 hour" and usage["limit"] == WORST
    resets = usage["resets_at"]
    assert resets.endswith(("Z", "+00:00")) and resets[14:19] == "00:00"


async def test_a_reply_cut_short_settles_an_estimate_of_what_was_produced(make_app, auth, fake):
    fake.default = Script(tokens=["one", " two", " three", " four"], drop_after=2)
    app = make_app(**budget_settings(fake))
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        conversation = await new_conversation(client, alice)
        _, events = await send(client, alice, {"conversation_id": conversation, "message": "hi"})
        stored = await history(client, alice, conversation)
        usage = await (await client.get("/usage", headers=alice)).get_json()
    assert text_of(events) == "one two" and stored[1]["status"] == "error"
    expected = {
        "prompt_tokens": WORST - MAX_REPLY,
        "completion_tokens": estimate_tokens("one two"),
        "estimated": True,
    }
    assert stored[1]["usage"] == expected
    assert usage["used"] == expected["prompt_tokens"] + expected["completion_tokens"]
    assert usage["reserved"] == 0


async def test_a_client_gone_mid_reply_settles_what_was_produced(make_app, auth, fake):
    fake.default = Script(tokens=[f" w{i}" for i in range(40)], delay=0.05)
    app = make_app(**budget_settings(fake))
    alice = auth("alice")
    async with app.test_app():
        client = app.test_client()
        conversation = await new_conversation(client, alice)
        headers = {**alice, "Content-Type": "application/json"}
        async with client.request("/chat", method="POST", headers=headers) as connection:
            await connection.send(
                b'{"conversation_id": "%s", "message": "hi"}' % conversation.encode()
            )
            await connection.send_complete()
            seen = b""
            while seen.count(b"text-delta") < 3:
                seen += await asyncio.wait_for(connection.receive(), timeout=5)
            await connection.disconnect()
        await asyncio.wait_for(fake.last.closed_early.wait(), timeout=5)
        for _ in range(200):  # the partial reply is stored by a task of its own
            stored = await history(client, alice, conversation)
            if len(stored) == 2:
                break
            await asyncio.sleep(0.01)
        usage = await (await client.get("/usage", headers=alice)).get_json()
    reply = stored[1]
    assert reply["status"] == "partial"
    assert reply["usage"] == {
        "prompt_tokens": WORST - MAX_REPLY,
        "completion_tokens": estimate_tokens(reply["content"]),
        "estimated": True,
    }
    assert usage["used"] == reply["usage"]["prompt_tokens"] + reply["usage"]["completion_tokens"]
    assert usage["reserved"] == 0 and usage["used"] < WORST


async def test_no_budget_answers_usage_without_a_window(client, auth):
    usage = await (await client.get("/usage", headers=auth("alice"))).get_json()
    assert usage["limit"] is None and usage["window"] is None and usage["remaining"] is None


async def test_redis_down_keeps_chats_going_on_an_in_process_budget(make_app, auth, fake, caplog):
    fake.default = USED_UP
    app = make_app(
        **budget_settings(fake, token_budget=f"{2 * WORST}/day", redis_url=DOWN_REDIS_URL)
    )
    alice = auth("alice")
    caplog.set_level(logging.WARNING, logger="promptkit.budget")
    async with app.test_app():
        client = app.test_client()
        statuses = []
        for _ in range(3):
            conversation = await new_conversation(client, alice)
            response, _ = await send(
                client, alice, {"conversation_id": conversation, "message": "hi"}
            )
            statuses.append(response.status_code)
    assert statuses == [200, 200, 429]  # the budget still holds, in this process
    said = [r for r in caplog.records if "budget storage unreachable" in r.getMessage()]
    assert len(said) == 1
    assert "127.0.0.1:1" not in caplog.text  # the URL (and any password in it) is not logged


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
async def test_a_reservation_whose_process_died_expires(redis, monkeypatch, shared):
    monkeypatch.setattr(budget_module, "RESERVATION_SECONDS", 0.3)
    url = REDIS_URL if shared else None
    limit = parse_budget("100/day")
    dead, alive = Budgets(limit, url), Budgets(limit, url)
    user = f"dead-{secrets.token_hex(4)}"
    await dead.reserve(user, 100)  # never settled: its process "died"
    other = alive if shared else dead  # without Redis only one process shares a budget
    with pytest.raises(budget_module.BudgetExhausted):
        await other.reserve(user, 1)
    await asyncio.sleep(0.4)
    reservation = await other.reserve(user, 100)
    assert reservation is not None
    await reservation.settle(60, "m")
    assert (await other.usage(user))["used"] == 60
    dead.close()
    alive.close()


async def test_two_servers_sharing_redis_answer_ten_of_forty(
    start_server: StartServer, fake: FakeOpenAI, redis: Any
) -> None:
    fake.default = USED_UP
    environ = {
        "PROMPTKIT_DISABLED_PLUGINS": "clerk",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "sk-test",
        "PROMPTKIT_OPENAI_MODELS": "gpt-4.1-mini",
        "PROMPTKIT_MODEL": "gpt-4.1-mini",
        "PROMPTKIT_TOKEN_BUDGET": f"{10 * WORST}/day",
        "PROMPTKIT_MAX_REPLY_TOKENS": str(MAX_REPLY),
        "PROMPTKIT_RATE_LIMIT": "off",
        "REDIS_URL": REDIS_URL,
    }
    servers = [start_server(**environ), start_server(**environ)]
    headers = {"Authorization": f"Bearer test:shared-{secrets.token_hex(4)}"}
    async with httpx.AsyncClient(timeout=60) as client:
        conversations = []
        for index in range(40):
            base = servers[index % 2].url
            project = await client.post(f"{base}/projects", json={"name": "P"}, headers=headers)
            created = await client.post(
                f"{base}/projects/{project.json()['id']}/conversations", json={}, headers=headers
            )
            conversations.append((base, created.json()["id"]))

        async def one(base: str, conversation: str) -> httpx.Response:
            body = {"conversation_id": conversation, "message": "hi"}
            return await client.post(f"{base}/chat", json=body, headers=headers)

        responses = await asyncio.gather(*(one(b, c) for b, c in conversations))
        stored = [
            (await client.get(f"{b}/conversations/{c}/messages", headers=headers)).json()["data"]
            for b, c in conversations
        ]
        usage = [(await client.get(f"{s.url}/usage", headers=headers)).json() for s in servers]
    statuses = [r.status_code for r in responses]
    logs = [line for s in servers for line in s.output().splitlines() if "ERROR" in line]
    # A shared PostgreSQL may run out of connections under 40 chats at once: such a chat is a
    # 503 before any budget is held (or with its hold given back), so ten are still answered.
    refused = [r.json()["error"]["code"] for r in responses if r.status_code != 200]
    assert statuses.count(200) == 10, (statuses, logs[:3])
    assert set(refused) <= {"budget_exhausted", "service_unavailable"}, (refused, logs[:3])
    assert refused.count("budget_exhausted") >= 20
    # A 503 whose user message could not be stored had started its upstream request (it is
    # cancelled then, and settles nothing): no other chat reached the upstream.
    assert len(fake.received) - 10 in range(refused.count("service_unavailable") + 1)
    answered = [messages for messages in stored if messages]
    assert len(answered) == 10
    assert [m[1]["usage"] for m in answered] == [REPORTED] * 10
    assert usage[0] == usage[1] and usage[0]["used"] == 10 * WORST
