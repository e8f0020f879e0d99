"""The Clerk plugin with CLERK_JWKS_URL, against a JWKS endpoint served by the test.

Key rotation costs one refetch; a flood of unknown kids a bounded number of fetches; an outage
is survived on cached keys; an outage with nothing cached is a 503 (see `test_jwks_down_...`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

SECRET_KEY = "sk_test_" + "s" * 24


class FakeJwks:
    """A JWKS endpoint that counts its requests and can be turned down, slow or broken."""

    def __init__(self) -> None:
        self.keys: list[RSAKey] = []
        self.mode = "ok"  # ok | down | slow | garbage | no-rsa | redirect
        self.requests = 0
        self.followed = 0  # requests that followed the redirect
        self.authorizations: list[str | None] = []
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()
        self.url = ""

    def publish(self, *keys: RSAKey) -> None:
        self.keys = list(keys)

    async def start(self) -> FakeJwks:
        app = web.Application()
        app.router.add_get("/v1/jwks", self._jwks)
        app.router.add_get("/v1/moved", self._moved)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1/jwks"
        return self

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _jwks(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.authorizations.append(request.headers.get("Authorization"))
        if self.mode == "down":
            return web.Response(status=503, text="upstream unavailable")
        if self.mode == "slow":
            await self._release.wait()  # longer than any client timeout; set on close
        if self.mode == "redirect":
            raise web.HTTPFound("/v1/moved")
        if self.mode == "garbage":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        if self.mode == "no-rsa":
            return web.json_response(
                {
                    "keys": [
                        {
                            "kty": "oct",
                            "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA",
                            "kid": "x",
                        }
                    ]
                }
            )
        jwks = [{**key.as_dict(private=False), "use": "sig", "alg": "RS256"} for key in self.keys]
        return web.json_response({"keys": jwks})

    async def _moved(self, request: web.Request) -> web.Response:
        self.followed += 1
        jwks = [{**key.as_dict(private=False), "use": "sig", "alg": "RS256"} for key in self.keys]
        return web.json_response({"keys": jwks})


def new_key() -> RSAKey:
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return key


def token_for(key: RSAKey, kid: str | None = None, **claims: Any) -> str:
    """A new token at each call (its own `jti`, as Clerk's are): a token already verified
    would be remembered, and these tests are about fetching keys."""
    now = int(time.time())
    payload = {"exp": now + 60, "iat": now, "nbf": now, "sid": "sess_1", "sub": "user_1", "v": 2}
    payload["jti"] = secrets.token_hex(8)
    header = {"alg": "RS256", "kid": kid or key.kid}
    return jwt.encode(header, {**payload, **claims}, key, algorithms=["RS256"])


@pytest.fixture
async def jwks() -> AsyncIterator[FakeJwks]:
    server = await FakeJwks().start()
    try:
        yield server
    finally:
        await server.close()


def jwks_app(make_app, server: FakeJwks, **environ: str):
    """An app whose only key source is the fake JWKS endpoint (CLERK_JWT_KEY blanked)."""
    return make_app(environ={"CLERK_JWT_KEY": "", "CLERK_JWKS_URL": server.url, **environ})


async def status(app, token: str) -> tuple[int, dict[str, Any]]:
    response = await app.test_client().get(
        "/projects", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, await response.get_json()


async def test_keys_are_fetched_once_and_reused(make_app, jwks):
    key = new_key()
    jwks.publish(key)
    app = jwks_app(make_app, jwks, CLERK_SECRET_KEY=SECRET_KEY)
    async with app.test_app():
        for _ in range(5):
            assert (await status(app, token_for(key)))[0] == 200
    assert jwks.requests == 1
    # The Backend API JWKS wants the secret key as a Bearer credential.
    assert jwks.authorizations == [f"Bearer {SECRET_KEY}"]


async def test_a_rotated_key_is_accepted_after_one_refetch(make_app, jwks):
    old, new = new_key(), new_key()
    jwks.publish(old)
    app = jwks_app(make_app, jwks, CLERK_JWKS_MIN_REFRESH_SECONDS="0.2")
    async with app.test_app():
        assert (await status(app, token_for(old)))[0] == 200
        jwks.publish(old, new)  # Clerk rotates: the new key appears beside the old one
        await asyncio.sleep(0.25)  # rotations are rarer than the refetch interval
        assert (await status(app, token_for(new)))[0] == 200
        assert (await status(app, token_for(old)))[0] == 200
    assert jwks.requests == 2


async def test_a_flood_of_unknown_kids_makes_a_bounded_number_of_fetches(make_app, jwks):
    key = new_key()
    jwks.publish(key)
    app = jwks_app(make_app, jwks)  # default interval: one refetch per 30 s at most
    async with app.test_app():
        assert (await status(app, token_for(key)))[0] == 200
        strangers = [token_for(key, kid=secrets.token_hex(8)) for _ in range(50)]
        sequential = [await status(app, token) for token in strangers[:20]]
        concurrent = await asyncio.gather(*(status(app, token) for token in strangers[20:]))
    for code, body in sequential + list(concurrent):
        assert code == 401
        assert body["error"]["message"] == "token signed by an unknown key"
    assert jwks.requests == 1


async def test_concurrent_first_requests_share_one_fetch(make_app, jwks):
    key = new_key()
    jwks.publish(key)
    app = jwks_app(make_app, jwks)
    async with app.test_app():
        results = await asyncio.gather(*(status(app, token_for(key)) for _ in range(20)))
    assert [code for code, _ in results] == [200] * 20
    assert jwks.requests == 1


@pytest.mark.parametrize("outage", ["down", "slow", "garbage", "no-rsa", "closed"])
async def test_jwks_down_with_cached_keys_keeps_working(outage, make_app, jwks):
    key = new_key()
    jwks.publish(key)
    # Keys count as stale at once, so every request tries (and fails) to refresh them.
    app = jwks_app(
        make_app,
        jwks,
        CLERK_JWKS_MAX_AGE_SECONDS="0",
        CLERK_JWKS_MIN_REFRESH_SECONDS="0",
        CLERK_JWKS_TIMEOUT_SECONDS="0.3",
    )
    async with app.test_app():
        assert (await status(app, token_for(key)))[0] == 200
        jwks.mode = outage
        if outage == "closed":
            await jwks.close()
        for _ in range(2):
            assert (await status(app, token_for(key)))[0] == 200
        # A kid the cache does not know cannot be decided while the endpoint is down.
        code, _ = await status(app, token_for(new_key()))
        assert code == 503
    assert jwks.requests == (1 if outage == "closed" else 4)


@pytest.mark.parametrize("outage", ["down", "slow", "garbage", "no-rsa", "closed"])
async def test_jwks_down_and_no_keys_is_503_never_500(outage, make_app, jwks):
    """503, not 401: the token may well be valid, and we cannot tell. A 401 would tell the
    frontend its session is bad (Clerk's SDKs sign the user out or loop on refresh) for an
    outage on our side; a 503 says "try again", which is the truth."""
    jwks.mode = outage
    if outage == "closed":
        await jwks.close()
    app = jwks_app(make_app, jwks, CLERK_JWKS_TIMEOUT_SECONDS="0.3")
    async with app.test_app():
        started = time.monotonic()
        for _ in range(3):
            code, body = await status(app, token_for(new_key()))
            assert code == 503
            assert body["error"]["code"] == "service_unavailable"
        assert time.monotonic() - started < 3  # one timed-out fetch, then no more waiting
    assert jwks.requests <= 1


@pytest.mark.parametrize("header", [{"alg": "none"}, {"alg": "HS256"}, {"alg": "ES256"}])
async def test_the_algorithm_is_refused_before_any_key_is_fetched(header, make_app, jwks):
    import base64
    import json

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    jwks.publish(new_key())
    app = jwks_app(make_app, jwks)
    token = f"{b64({**header, 'kid': 'k'})}.{b64({'sub': 'user_1', 'sid': 's'})}.c2ln"
    async with app.test_app():
        code, body = await status(app, token)
    assert code == 401
    assert "algorithm" in body["error"]["message"]
    assert jwks.requests == 0


async def test_a_redirect_is_not_followed_with_the_secret_key(make_app, jwks):
    key = new_key()
    jwks.publish(key)
    jwks.mode = "redirect"
    app = jwks_app(make_app, jwks, CLERK_SECRET_KEY=SECRET_KEY)
    async with app.test_app():
        code, _ = await status(app, token_for(key))
    assert code == 503
    assert jwks.requests == 1
    assert jwks.followed == 0
