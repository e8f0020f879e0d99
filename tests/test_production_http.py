"""CORS, rate limits, request ids, JSON logs and `/metrics`, through the app in this process."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from promptkit.app import PromptkitApp
from promptkit.observability import logging_config
from promptkit.ratelimit import STORAGE_TIMEOUT_SECONDS

ALLOWED = "https://app.example.com"
Auth = Callable[[str], dict[str, str]]


@pytest.fixture
def serving(make_app: Callable[..., PromptkitApp]) -> Callable[..., Any]:
    """`async with serving(**settings) as client:` an app with its lifespan running."""

    class Serving:
        def __init__(self, **overrides: Any) -> None:
            self.app = make_app(**overrides)

        async def __aenter__(self) -> Any:
            self.context = self.app.test_app()
            await self.context.__aenter__()
            return self.app.test_client()

        async def __aexit__(self, *exc: object) -> None:
            await self.context.__aexit__(*exc)

    return Serving


# CORS


async def test_preflight_from_an_allowed_origin_gets_the_headers(serving: Any) -> None:
    async with serving(cors_origins=(ALLOWED,)) as client:
        response = await client.options(
            "/projects",
            headers={
                "Origin": ALLOWED,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
    assert response.status_code == 200  # a preflight carries no credential: never a 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]


async def test_preflight_from_another_origin_gets_no_cors_headers(serving: Any) -> None:
    async with serving(cors_origins=(ALLOWED,)) as client:
        response = await client.options(
            "/projects",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_actual_request_from_an_allowed_origin_can_read_the_request_id(
    serving: Any, auth: Auth
) -> None:
    async with serving(cors_origins=(ALLOWED,)) as client:
        response = await client.get("/projects", headers={"Origin": ALLOWED, **auth("cors")})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "x-request-id" in response.headers["Access-Control-Expose-Headers"].lower()


async def test_no_origins_configured_means_no_cors_headers(serving: Any) -> None:
    async with serving() as client:
        response = await client.options(
            "/projects", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
        )
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_a_wildcard_origin_never_allows_credentials(serving: Any) -> None:
    async with serving(cors_origins=("*",)) as client:
        response = await client.options(
            "/projects", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
        )
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers.get("Access-Control-Allow-Credentials") != "true"


# Rate limits (in this process; the Redis-backed limit is shown across real servers)


async def test_api_limit_answers_429_with_retry_after(serving: Any, auth: Auth) -> None:
    async with serving(api_rate_limit="3/minute") as client:
        statuses = [
            (await client.get("/projects", headers=auth("busy"))).status_code for _ in range(3)
        ]
        limited = await client.post("/projects", json={"name": "x"}, headers=auth("busy"))
        other_user = await client.get("/projects", headers=auth("calm"))
        health = [(await client.get("/health")).status_code for _ in range(5)]
        listed = await client.get("/projects", headers=auth("busy"))
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    error = (await limited.get_json())["error"]
    assert error["code"] == "rate_limited" and "3 per 1 minute" in error["message"]
    assert other_user.status_code == 200
    assert health == [200] * 5  # public routes are not limited
    assert listed.status_code == 429


async def test_refused_requests_write_nothing(serving: Any, auth: Auth) -> None:
    async with serving(api_rate_limit="1/minute") as client:
        assert (await client.get("/projects", headers=auth("w"))).status_code == 200
        refused = await client.post("/projects", json={"name": "x"}, headers=auth("w"))
        assert refused.status_code == 429
    async with serving(api_rate_limit="off") as client:
        listed = await (await client.get("/projects", headers=auth("w"))).get_json()
    assert listed["data"] == []


async def test_preflights_and_unauthenticated_requests_are_not_counted(
    serving: Any, auth: Auth
) -> None:
    async with serving(api_rate_limit="1/minute", cors_origins=(ALLOWED,)) as client:
        for _ in range(3):
            await client.options(
                "/projects", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"}
            )
            assert (await client.get("/projects")).status_code == 401
        assert (await client.get("/projects", headers=auth("u"))).status_code == 200


def test_a_malformed_limit_stops_start_up_naming_the_variable(
    make_app: Callable[..., PromptkitApp],
) -> None:
    with pytest.raises(ValueError, match="PROMPTKIT_API_RATE_LIMIT"):
        make_app(api_rate_limit="twenty a minute")


async def test_an_unreachable_redis_lets_requests_through(serving: Any, auth: Auth) -> None:
    # Nothing listens on port 1: every hit fails to reach the storage.
    async with serving(api_rate_limit="1/minute", redis_url="redis://127.0.0.1:1/0") as client:
        statuses = [
            (await client.get("/projects", headers=auth("r"))).status_code for _ in range(3)
        ]
    assert statuses == [200, 200, 200]


async def test_a_silent_redis_does_not_stall_requests(serving: Any, auth: Auth) -> None:
    # A listener on loopback that accepts connections and never answers.
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        redis_url = f"redis://127.0.0.1:{port}/0"
        async with serving(api_rate_limit="1/minute", redis_url=redis_url) as client:
            started = time.perf_counter()
            statuses = [
                (await client.get("/projects", headers=auth("s"))).status_code for _ in range(2)
            ]
            elapsed = time.perf_counter() - started
    finally:
        silent.close()
    assert statuses == [200, 200]
    assert elapsed < 2 * STORAGE_TIMEOUT_SECONDS + 1


# Request ids and JSON logs


async def test_request_id_is_honoured_or_made(serving: Any, auth: Auth) -> None:
    async with serving() as client:
        given = await client.get("/projects", headers={"X-Request-ID": "req-42", **auth("a")})
        made = await client.get("/projects", headers=auth("a"))
        unauthenticated = await client.get("/projects")
        hostile = await client.get("/health", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert given.headers["X-Request-ID"] == "req-42"
    assert len(made.headers["X-Request-ID"]) == 32
    assert unauthenticated.status_code == 401 and unauthenticated.headers["X-Request-ID"]
    assert hostile.headers["X-Request-ID"] != "a b\tc" + "x" * 200


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Apply the production logging config, writing into a buffer; restore logging after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logging.config.dictConfig(logging_config("INFO"))
    buffer = io.StringIO()
    for handler in root.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
    yield buffer
    root.handlers, root.level = saved


async def test_log_lines_are_json_with_the_request_id(
    serving: Any, auth: Auth, json_log: io.StringIO
) -> None:
    async with serving() as client:
        await client.get("/projects", headers={"X-Request-ID": "trace-7", **auth("logged")})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "promptkit.access"]
    assert access[-1]["request_id"] == "trace-7"
    assert access[-1]["path"] == "/projects" and access[-1]["status"] == 200
    assert access[-1]["user_id"] == "logged" and access[-1]["level"] == "INFO"
    assert "test:logged" not in json_log.getvalue()  # the credential is never logged


# /metrics


async def test_metrics_are_off_without_a_token(serving: Any) -> None:
    async with serving() as client:
        response = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 404


async def test_metrics_need_the_token(serving: Any, auth: Auth) -> None:
    async with serving(metrics_token="s3cret") as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        user = await client.get("/metrics", headers=auth("someone"))
    for response in (missing, wrong, user):
        assert response.status_code == 401
        assert (await response.get_json())["error"]["code"] == "unauthenticated"
        assert "s3cret" not in await response.get_data(as_text=True)


async def test_metrics_count_requests_by_route_template(serving: Any, auth: Auth) -> None:
    async with serving(metrics_token="s3cret") as client:
        for project_id in ("prj_one", "prj_two"):
            await client.get(f"/projects/{project_id}", headers=auth("m"))
        await client.get("/projects", headers=auth("m"))
        await client.get("/no/such/route")
        scrape = await client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        openapi = await (await client.get("/openapi.json")).get_json()
    assert scrape.status_code == 200
    assert scrape.content_type.startswith("text/plain")
    counts = {
        (sample.labels["route"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(await scrape.get_data(as_text=True))
        for sample in family.samples
        if sample.name == "promptkit_http_requests_total"
    }
    not_found = [key for key in counts if key[0].startswith("/projects/") and key[1] == "404"]
    assert len(not_found) == 1 and counts[not_found[0]] == 2  # one series, not one per id
    assert counts[("/projects", "200")] == 1
    assert counts[("unmatched", "404")] == 1
    assert not any("prj_one" in route for route, _ in counts)
    assert "/metrics" not in openapi["paths"]
