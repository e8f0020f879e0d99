"""Behaviour that is about processes, shown on real `promptkit serve` processes."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx
from prometheus_client.parser import text_string_to_metric_families
from test_production_support import Server, StartServer

REDIS_URL = "redis://127.0.0.1:6379/0"
METRICS_TOKEN = "scrape-secret-for-tests"


async def _hammer(servers: list[Server], user_id: str, count: int) -> list[httpx.Response]:
    """`count` concurrent requests of one user, spread over the servers in turn."""
    headers = {"Authorization": f"Bearer test:{user_id}"}
    async with httpx.AsyncClient(timeout=30) as client:
        return await asyncio.gather(
            *(
                client.get(f"{servers[index % len(servers)].url}/projects", headers=headers)
                for index in range(count)
            )
        )


async def test_two_servers_sharing_redis_enforce_one_limit(start_server: StartServer) -> None:
    limit = {"PROMPTKIT_API_RATE_LIMIT": "10/minute", "REDIS_URL": REDIS_URL}
    servers = [start_server(**limit), start_server(**limit)]
    user_id = f"shared-{secrets.token_hex(6)}"  # Redis outlives test runs: a fresh user each time

    responses = await _hammer(servers, user_id, 30)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 10 + [429] * 20
    for response in responses:
        if response.status_code == 429:
            assert 1 <= int(response.headers["Retry-After"]) <= 60
            assert response.json()["error"]["code"] == "rate_limited"
    # Another user has a budget of their own.
    assert [r.status_code for r in await _hammer(servers, user_id + "-other", 2)] == [200, 200]


async def test_without_redis_each_server_counts_alone(start_server: StartServer) -> None:
    """The control for the test above: in-process counts are per process."""
    limit = {"PROMPTKIT_API_RATE_LIMIT": "10/minute"}
    servers = [start_server(**limit), start_server(**limit)]

    responses = await _hammer(servers, f"alone-{secrets.token_hex(6)}", 30)

    assert sorted(r.status_code for r in responses) == [200] * 20 + [429] * 10


def _sample(exposition: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_metrics_add_up_across_workers(start_server: StartServer) -> None:
    server = start_server(workers=2, PROMPTKIT_METRICS_TOKEN=METRICS_TOKEN)
    headers = {"Authorization": f"Bearer test:workers-{secrets.token_hex(6)}"}
    sent = 0
    # A new connection each time, whichever worker accepts it answers; until both have.
    while sent < 40 or (len(_pids_that_served(server, "/projects")) < 2 and sent < 400):
        async with httpx.AsyncClient(timeout=30) as client:
            assert (await client.get(f"{server.url}/projects", headers=headers)).is_success
        sent += 1
    scrapes = []
    for _ in range(6):
        async with httpx.AsyncClient(timeout=30) as client:
            scrape = await client.get(
                f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
            assert scrape.status_code == 200
            scrapes.append(scrape.text)

    for exposition in scrapes:
        total = _sample(
            exposition,
            "promptkit_http_requests_total",
            method="GET",
            route="/projects",
            status="200",
        )
        assert total == sent
    # The sums above mean something only because both workers served.
    assert len(_pids_that_served(server, "/projects")) == 2


def _pids_that_served(server: Server, path: str) -> set[int]:
    """From the server's JSON log lines: which processes answered `path`."""
    lines = [line for line in server.output().splitlines() if line.startswith("{")]
    return {entry["pid"] for entry in map(json.loads, lines) if entry.get("path") == path}
