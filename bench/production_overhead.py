"""What the production layer costs per request: rate limits (memory, Redis), metrics, JSON logs.

Drives `GET /projects` through the app in this process (Quart's test client, SQLite in a
temporary directory, so no sockets between client and app) and prints the CPU time per request
in each configuration, then the cost of one rate-limit hit on its own. CPU time, not wall time,
is the figure to compare: on a shared machine wall time also counts other processes. Redis
round trips are wall time, so for Redis both are shown.

    .venv/bin/python bench/production_overhead.py [--requests 2000] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import logging.config
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from promptkit import Principal, hookimpl
from promptkit.app import create_app
from promptkit.migrate import upgrade
from promptkit.observability import logging_config
from promptkit.ratelimit import RateLimits, make_storage, parse_limit
from promptkit.settings import Settings


class HeaderAuth:
    @hookimpl
    def authenticate(self, request: Any) -> Principal | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return Principal(user_id=token.removeprefix("test:")) if token.startswith("test:") else None


async def per_request(settings: Settings, requests: int) -> tuple[float, float]:
    """CPU and wall microseconds per `GET /projects`."""
    app = create_app(settings, plugins=[HeaderAuth()])
    headers = {"Authorization": f"Bearer test:bench-{secrets.token_hex(4)}"}
    async with app.test_app():
        client = app.test_client()
        for _ in range(100):  # warm up
            await client.get("/projects", headers=headers)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(requests):
            response = await client.get("/projects", headers=headers)
            assert response.status_code == 200, response.status_code
        return (
            (time.process_time() - cpu) / requests * 1e6,
            (time.perf_counter() - wall) / requests * 1e6,
        )


async def per_hit(redis_url: str | None, hits: int) -> tuple[float, float]:
    limits = RateLimits(make_storage(redis_url), chat=None, api=parse_limit("1000000/hour", "x"))
    user = f"bench-{secrets.token_hex(4)}"
    for _ in range(100):
        await limits.hit(user, is_chat=False)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(hits):
        await limits.hit(user, is_chat=False)
    return (time.process_time() - cpu) / hits * 1e6, (time.perf_counter() - wall) / hits * 1e6


def json_logs_to_nowhere() -> None:
    logging.config.dictConfig(logging_config("INFO"))
    for handler in logging.getLogger().handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(io.StringIO())  # formatted, then dropped: the cost without the I/O


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="promptkit-bench-"))
    url = f"sqlite:///{directory / 'bench.sqlite3'}"
    upgrade(url)
    base = Settings(
        database_url=url,
        data_dir=directory / "data",
        disabled_plugins=("clerk", "openai", "files"),  # the bench authenticates by header
    )
    rows = [
        ("limits off", {"api_rate_limit": "off"}),
        ("limit in memory", {"api_rate_limit": "1000000/hour"}),
        ("limit in Redis", {"api_rate_limit": "1000000/hour", "redis_url": args.redis_url}),
    ]
    print(f"GET /projects, {args.requests} requests each, one user, SQLite, test client")
    print(f"{'configuration':<34}{'CPU us/req':>12}{'wall us/req':>13}")
    for logs in (False, True):
        if logs:
            json_logs_to_nowhere()
        for name, overrides in rows:
            settings = Settings(**{**base.__dict__, **overrides})
            cpu, wall = await per_request(settings, args.requests)
            label = name + (" + JSON logs" if logs else "")
            print(f"{label:<34}{cpu:>12.0f}{wall:>13.0f}")
    logging.getLogger().handlers.clear()
    print()
    print("one rate-limit hit on its own (moving window)")
    for name, redis_url in (("memory", None), ("Redis", args.redis_url)):
        cpu, wall = await per_hit(redis_url, args.requests)
        print(f"{name:<34}{cpu:>12.1f}{wall:>13.1f}")


if __name__ == "__main__":
    asyncio.run(main())
