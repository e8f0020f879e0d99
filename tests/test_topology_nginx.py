"""The production topology on real processes: Debian's nginx (with deploy/nginx/proxy.conf)
in front of two `promptkit serve` instances, which reach PostgreSQL through a PgBouncer in
transaction mode and share one Redis.

A chat through nginx arrives token by token; the Redis rate limit and a token budget hold across
the two; a reply started on one is resumed and stopped on the other; an instance killed
mid-stream leaves the other serving through the same nginx.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from nginx import PROXY_CONF, Nginx, nginx_binary
from pgbouncer import PgBouncer
from pgbouncer import installed as pgbouncer_installed
from test_production_support import Server

from promptkit import ChatMessage
from promptkit.budget import estimate_prompt
from promptkit.chat.stream import PING_SECONDS

REDIS_URL = "redis://127.0.0.1:6379/1"
TOKENS, TOKEN_DELAY = 12, 0.15  # each reply: 12 tokens over about 1.8 s


@dataclass
class Topology:
    nginx: Nginx
    instances: list[Server]


StartTopology = Callable[..., Topology]


@pytest.fixture
def start_topology(database_url: str, tmp_path: Path) -> Iterator[StartTopology]:
    """Starts PgBouncer, two instances and nginx in front, with these settings on top of the
    defaults below; everything is stopped at the end of the test."""
    if not database_url.startswith("postgres"):
        pytest.skip("the topology runs on PostgreSQL: set DATABASE_URL=postgresql://...")
    if pgbouncer_installed() is None or nginx_binary() is None:
        pytest.skip("pgbouncer and nginx are not installed (apt-get install pgbouncer nginx)")
    started: list[Nginx | Server | PgBouncer] = []

    def start(**settings: str) -> Topology:
        pooler = PgBouncer(database_url, pool_size=6).start()
        started.append(pooler)
        environ = {
            "DATABASE_URL": pooler.pooled_url(flag=False),
            "PROMPTKIT_DB_PGBOUNCER": "true",
            "PROMPTKIT_DB_POOL_SIZE": "5",
            "REDIS_URL": REDIS_URL,
            "PROMPTKIT_API_RATE_LIMIT": "20/minute",
            "PROMPTKIT_TRUSTED_PROXIES": "127.0.0.1/32",
            "TEST_TOKEN_COUNT": str(TOKENS),
            "TEST_TOKEN_DELAY": str(TOKEN_DELAY),
            **settings,
        }
        instances: list[Server] = []
        for index in range(2):
            folder = tmp_path / f"instance-{index}"
            folder.mkdir()
            instances.append(Server(folder, environ))
            started.append(instances[-1])
        for instance in instances:
            instance.wait_ready()
        nginx = Nginx([instance.port for instance in instances])
        started.append(nginx)
        nginx.wait_ready()
        return Topology(nginx, instances)

    try:
        yield start
    finally:
        for part in reversed(started):  # nginx, the instances, then PgBouncer
            if isinstance(part, Server):
                part.kill()
            else:
                part.stop()


@pytest.fixture
def topology(start_topology: StartTopology) -> Topology:
    return start_topology()


def on(index: int, headers: dict[str, str]) -> dict[str, str]:
    """`headers`, plus the one that makes the test's nginx send the request to that instance."""
    return {**headers, "X-Test-Instance": str(index)}


def user(name: str) -> dict[str, str]:
    """A fresh user each run: Redis keeps its counts across runs."""
    return {"Authorization": f"Bearer test:{name}-{secrets.token_hex(6)}"}


async def new_conversation(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    project = (await client.post("/projects", json={"name": "T"}, headers=headers)).json()["id"]
    created = await client.post(f"/projects/{project}/conversations", json={}, headers=headers)
    conversation: str = created.json()["id"]
    return conversation


async def timed_parts(response: httpx.Response) -> AsyncIterator[tuple[float, Any]]:
    """Each `data:` payload of the stream with the moment it reached this client."""
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            yield time.monotonic(), payload if payload == "[DONE]" else json.loads(payload)


def served_by(instance: Server, user_id: str, path: str) -> int:
    """How many requests of `user_id` on `path` the instance's access log shows."""
    count = 0
    for line in instance.output().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("user_id") == user_id and entry.get("path") == path:
                count += 1
    return count


def test_nginx_reads_longer_than_the_heartbeat() -> None:
    """The stream's only keep-alive is the `: ping` comment: nginx must wait longer."""
    match = re.search(r"^proxy_read_timeout (\d+)s;", PROXY_CONF.read_text(), re.MULTILINE)
    assert match is not None and int(match.group(1)) > 2 * PING_SECONDS
    assert re.search(r"^proxy_buffering off;", PROXY_CONF.read_text(), re.MULTILINE)


async def test_a_chat_through_nginx_arrives_token_by_token(topology: Topology) -> None:
    headers = user("streamer")
    async with httpx.AsyncClient(base_url=topology.nginx.url, timeout=30) as client:
        conversation = await new_conversation(client, headers)
        body = {"conversation_id": conversation, "message": "hello"}
        started = time.monotonic()
        async with client.stream("POST", "/chat", json=body, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            parts = [part async for part in timed_parts(response)]
    deltas = [at for at, part in parts if isinstance(part, dict) and part["type"] == "text-delta"]
    assert len(deltas) == TOKENS
    assert parts[-1][1] == "[DONE]"
    # Buffered anywhere on the way, every token would arrive at once at the end.
    spread = deltas[-1] - deltas[0]
    assert spread > 0.6 * (TOKENS - 1) * TOKEN_DELAY, spread
    assert deltas[0] - started < spread / 2


async def test_the_redis_rate_limit_holds_across_both_instances(topology: Topology) -> None:
    headers = user("limited")
    user_id = headers["Authorization"].removeprefix("Bearer test:")
    async with httpx.AsyncClient(base_url=topology.nginx.url, timeout=30) as client:
        responses = await asyncio.gather(
            *(client.get("/projects", headers=headers) for _ in range(50))
        )
    assert Counter(r.status_code for r in responses) == {200: 20, 429: 30}
    assert all(r.headers["Retry-After"] for r in responses if r.status_code == 429)
    # nginx spread them: both instances counted against the one limit.
    assert all(served_by(instance, user_id, "/projects") > 0 for instance in topology.instances)
    # The access log has the client that nginx saw (a trusted proxy), not nginx itself.
    forwarded = {"X-Forwarded-For": "203.0.113.9", **headers}
    async with httpx.AsyncClient(base_url=topology.nginx.url, timeout=30) as client:
        await client.get("/health/ready", headers=forwarded)
    logged = [
        json.loads(line)
        for instance in topology.instances
        for line in instance.output().splitlines()
        if line.startswith("{") and '"/health/ready"' in line
    ]
    assert any(entry["client"] == "203.0.113.9" for entry in logged)


async def test_an_instance_killed_mid_stream_leaves_the_other_serving(
    topology: Topology,
) -> None:
    headers = user("survivor")
    user_id = headers["Authorization"].removeprefix("Bearer test:")
    async with httpx.AsyncClient(base_url=topology.nginx.url, timeout=30) as client:
        conversation = await new_conversation(client, headers)
        body = {"conversation_id": conversation, "message": "hello"}
        received: list[Any] = []
        with pytest.raises(httpx.HTTPError):  # the stream is cut, not ended
            async with client.stream("POST", "/chat", json=body, headers=headers) as response:
                async for _, part in timed_parts(response):
                    received.append(part)
                    if len(received) == 4:  # start, text-start, two deltas
                        (streaming,) = [
                            i for i in topology.instances if served_by(i, user_id, "/chat")
                        ]
                        os.killpg(streaming.process.pid, signal.SIGKILL)
        assert "[DONE]" not in received
        survivor = next(i for i in topology.instances if i is not streaming)

        # Through the same nginx: reads, and a whole new chat, all served by the survivor.
        for _ in range(6):
            assert (await client.get("/projects", headers=headers)).status_code == 200
        other = await new_conversation(client, headers)
        body = {"conversation_id": other, "message": "again"}
        async with client.stream("POST", "/chat", json=body, headers=headers) as response:
            assert response.status_code == 200
            parts = [part async for _, part in timed_parts(response)]
        assert parts[-1] == "[DONE]"
        assert streaming.process.poll() is not None
        assert served_by(survivor, user_id, "/chat") == 1
        # The user message of the cut stream was stored before the provider was called.
        listed = await client.get(f"/conversations/{conversation}/messages", headers=headers)
        assert [m["content"] for m in listed.json()["data"] if m["role"] == "user"] == ["hello"]


# The budget test's replies: 30 tokens over 3 s each, capped at 30. A reply reserves its worst
# case and settles to its reported usage (1 prompt token, as the test plugin counts, plus 30),
# so that four of them leave less than a fifth's worst case.
BUDGET_TOKENS = 30
BUDGET_WORST = estimate_prompt([ChatMessage("user", "hello")]) + BUDGET_TOKENS
BUDGET = 4 * BUDGET_WORST


async def test_a_token_budget_holds_across_both_instances(
    start_topology: StartTopology,
) -> None:
    topology = start_topology(
        PROMPTKIT_TOKEN_BUDGET=f"{BUDGET}/day",
        PROMPTKIT_MAX_REPLY_TOKENS=str(BUDGET_TOKENS),
        PROMPTKIT_RATE_LIMIT="off",
        PROMPTKIT_API_RATE_LIMIT="off",
        TEST_TOKEN_COUNT=str(BUDGET_TOKENS),
        TEST_TOKEN_DELAY="0.1",
    )
    headers = user("budgeted")
    user_id = headers["Authorization"].removeprefix("Bearer test:")
    async with httpx.AsyncClient(base_url=topology.nginx.url, timeout=30) as client:
        conversations = [await new_conversation(client, headers) for _ in range(12)]

        async def usage(index: int) -> dict[str, Any]:
            response = await client.get("/usage", headers=on(index, headers))
            assert response.status_code == 200
            answer: dict[str, Any] = response.json()
            return answer

        async def chat(conversation: str, index: int | None = None) -> httpx.Response:
            body = {"conversation_id": conversation, "message": "hello"}
            sent = headers if index is None else on(index, headers)
            return await client.send(
                client.build_request("POST", "/chat", json=body, headers=sent), stream=True
            )

        # Twelve at once through nginx's round robin: four fit in the budget.
        responses = await asyncio.gather(*(chat(c) for c in conversations))
        try:
            # Read while the four replies stream: both instances see the same four holds.
            during = [await usage(0), await usage(1)]
        finally:
            bodies = await asyncio.gather(*(r.aread() for r in responses))
            await asyncio.gather(*(r.aclose() for r in responses))
        after = [await usage(0), await usage(1)]
        # Each instance in turn: what the other settled counts here too.
        late = [await chat(conversations[0], 0), await chat(conversations[1], 1)]
        for response in late:
            await response.aread()

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 4, 429: 8}, statuses
    for response, body in zip(responses, bodies, strict=True):
        if response.status_code == 429:
            assert json.loads(body)["error"]["code"] == "budget_exhausted"
            assert int(response.headers["Retry-After"]) >= 1
        else:
            assert body.rstrip().endswith(b"data: [DONE]")
    assert all(served_by(instance, user_id, "/chat") > 0 for instance in topology.instances)
    assert during[0]["reserved"] == during[1]["reserved"] == 4 * BUDGET_WORST
    assert during[0]["remaining"] == during[1]["remaining"] == 0
    assert after[0] == after[1] and after[0]["reserved"] == 0
    assert 0 < after[0]["remaining"] < BUDGET_WORST
    assert [r.status_code for r in late] == [429, 429]
    assert [json.loads(r.content)["error"]["code"] for r in late] == ["budget_exhausted"] * 2


async def test_a_reply_started_on_one_is_resumed_and_stopped_on_the_other(
    start_topology: StartTopology,
) -> None:
    """Started through nginx on instance 0, followed again and stopped through nginx on
    instance 1: the follower is fed from the Redis Stream, the stop reaches instance 0 through
    Redis pub/sub."""
    topology = start_topology(
        PROMPTKIT_RESUMABLE="on",
        PROMPTKIT_API_RATE_LIMIT="off",
        TEST_TOKEN_COUNT="60",
        TEST_TOKEN_DELAY="0.1",  # 6 s, stopped long before
    )
    first, second = topology.instances
    headers = user("resumer")
    user_id = headers["Authorization"].removeprefix("Bearer test:")
    async with httpx.AsyncClient(base_url=topology.nginx.url, timeout=30) as client:
        conversation = await new_conversation(client, headers)
        body = {"conversation_id": conversation, "message": "hello"}
        seen: list[Any] = []
        async with client.stream("POST", "/chat", json=body, headers=on(0, headers)) as response:
            assert response.status_code == 200
            async for _, part in timed_parts(response):
                seen.append(part)
                if sum(isinstance(p, dict) and p["type"] == "text-delta" for p in seen) == 3:
                    break  # the browser reloads: the reply goes on without it

        resumed: list[Any] = []
        stop: httpx.Response | None = None
        stream = f"/chat/{conversation}/stream"
        async with client.stream("GET", stream, headers=on(1, headers)) as response:
            assert response.status_code == 200
            async for _, part in timed_parts(response):
                resumed.append(part)
                deltas = sum(isinstance(p, dict) and p["type"] == "text-delta" for p in resumed)
                if stop is None and deltas == 6:
                    stop = await client.post(f"/chat/{conversation}/stop", headers=on(1, headers))
        listed = await client.get(f"/conversations/{conversation}/messages", headers=headers)
        after = await client.get(stream, headers=on(1, headers))

    assert served_by(first, user_id, "/chat") == 1 and served_by(second, user_id, "/chat") == 0
    assert served_by(second, user_id, stream) == 2 and served_by(first, user_id, stream) == 0
    assert served_by(second, user_id, f"/chat/{conversation}/stop") == 1
    assert stop is not None and stop.status_code == 200, stop
    message = stop.json()
    assert message["status"] == "partial" and message == listed.json()["data"][1]
    assert resumed[: len(seen)] == seen  # replayed from `start`, then live
    text = "".join(p["delta"] for p in resumed if isinstance(p, dict) and "delta" in p)
    assert text == message["content"] and 6 <= len(text.split()) < 60
    assert resumed[-2] == {"type": "finish", "finishReason": "stop"}
    assert resumed.count("[DONE]") == 1 and resumed[-1] == "[DONE]"
    assert after.status_code == 204  # stored: nothing in flight
