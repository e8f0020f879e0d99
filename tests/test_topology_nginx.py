"""The production topology on real processes: Debian's nginx (with deploy/nginx/proxy.conf)
in front of two `promptkit serve` instances, which reach PostgreSQL through a PgBouncer in
transaction mode and share one Redis.

A chat through nginx arrives token by token; the Redis rate limit holds across the two; an
instance killed mid-stream leaves the other serving through the same nginx.
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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from nginx import PROXY_CONF, Nginx, nginx_binary
from pgbouncer import PgBouncer
from pgbouncer import installed as pgbouncer_installed
from test_production_support import Server

from promptkit.chat_stream import PING_SECONDS

REDIS_URL = "redis://127.0.0.1:6379/1"
TOKENS, TOKEN_DELAY = 12, 0.15  # each reply: 12 tokens over about 1.8 s


@dataclass
class Topology:
    nginx: Nginx
    instances: list[Server]


@pytest.fixture
def topology(database_url: str, tmp_path: Path) -> Iterator[Topology]:
    if not database_url.startswith("postgres"):
        pytest.skip("the topology runs on PostgreSQL: set DATABASE_URL=postgresql://...")
    if pgbouncer_installed() is None or nginx_binary() is None:
        pytest.skip("pgbouncer and nginx are not installed (apt-get install pgbouncer nginx)")
    pooler = PgBouncer(database_url, pool_size=6).start()
    environ = {
        "DATABASE_URL": pooler.pooled_url(flag=False),
        "PROMPTKIT_DB_PGBOUNCER": "true",
        "PROMPTKIT_DB_POOL_SIZE": "5",
        "REDIS_URL": REDIS_URL,
        "PROMPTKIT_API_RATE_LIMIT": "20/minute",
        "PROMPTKIT_TRUSTED_PROXIES": "127.0.0.1/32",
        "TEST_TOKEN_COUNT": str(TOKENS),
        "TEST_TOKEN_DELAY": str(TOKEN_DELAY),
    }
    instances: list[Server] = []
    nginx: Nginx | None = None
    try:
        for index in range(2):
            folder = tmp_path / f"instance-{index}"
            folder.mkdir()
            instances.append(Server(folder, environ))
        for instance in instances:
            instance.wait_ready()
        nginx = Nginx([instance.port for instance in instances])
        nginx.wait_ready()
        yield Topology(nginx, instances)
    finally:
        if nginx is not None:
            nginx.stop()
        for instance in instances:
            instance.kill()
        pooler.stop()


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
