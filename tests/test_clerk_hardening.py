"""The Clerk plugin against hostile deployments: a remembered token is forgotten within a
minute, the JWKS (fetched with the secret key) never goes out over plain HTTP to another host,
and the `__session` cookie is a credential only when turned on, and then only from an allowed
origin (a cookie rides along on cross-site requests)."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import RSAKey
from promptkit_clerk.config import ClerkConfig, ConfigError
from test_clerk_verified_tokens import static_key
from test_clerk_verify import ORIGIN, claims, sign

from promptkit import AuthenticationError


async def test_a_verified_token_is_remembered_a_minute_at_most(
    clerk_signing_key: RSAKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = {"offset": 0.0}
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + clock["offset"])
    from promptkit_clerk.verify import Verifier

    check = Verifier(ClerkConfig(jwt_key="set"), static_key(clerk_signing_key))
    token = sign(clerk_signing_key, claims(exp=int(real_time()) + 3600))  # an hour-long token
    assert (await check.verify(token)).user_id == "user_1"
    check.keys = static_key(RSAKey.generate_key(2048, private=True))  # the key was removed
    clock["offset"] = 30.0
    assert (await check.verify(token)).user_id == "user_1"  # still remembered
    clock["offset"] = 61.0
    with pytest.raises(AuthenticationError, match="signature"):
        await check.verify(token)  # forgotten after a minute, so checked again, and refused


@pytest.mark.parametrize(
    "url",
    ["http://clerk.example.com/jwks", "http://10.0.0.5/jwks", "ftp://127.0.0.1/jwks", "jwks"],
)
def test_a_jwks_url_over_plain_http_to_another_host_stops_start_up(url: str) -> None:
    with pytest.raises(ConfigError, match="CLERK_JWKS_URL"):
        ClerkConfig.from_environ({"CLERK_JWKS_URL": url, "CLERK_SECRET_KEY": "sk_live_x"})


@pytest.mark.parametrize(
    "url",
    [
        "https://api.clerk.com/v1/jwks",
        "http://127.0.0.1:9/jwks",
        "http://localhost:9/jwks",
        "http://[::1]:9/jwks",
    ],
)
def test_a_jwks_url_over_https_or_to_loopback_is_accepted(url: str) -> None:
    assert ClerkConfig.from_environ({"CLERK_JWKS_URL": url}).jwks_url == url


async def cookie_status(app, token: str, headers: dict[str, str]) -> tuple[int, object]:
    async with app.test_app():
        client = app.test_client()
        client.set_cookie("localhost", "__session", token)
        response = await client.get("/projects", headers=headers)
        return response.status_code, await response.get_json()


async def test_the_session_cookie_is_not_a_credential_by_default(make_app, clerk_signing_key):
    app = make_app(cors_origins=(ORIGIN,))
    status, body = await cookie_status(app, sign(clerk_signing_key, claims()), {"Origin": ORIGIN})
    assert status == 401
    assert set(body["error"]) == {"code", "message"}


@pytest.mark.parametrize(
    "headers",
    [{"Origin": ORIGIN}, {"Origin": ORIGIN + "/"}, {"Sec-Fetch-Site": "same-origin"}],
)
async def test_with_the_setting_a_cookie_from_an_allowed_origin_is_accepted(
    make_app, clerk_signing_key, headers
):
    app = make_app(cors_origins=(ORIGIN,), environ={"CLERK_ACCEPT_COOKIE": "true"})
    status, _ = await cookie_status(app, sign(clerk_signing_key, claims()), headers)
    assert status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},  # a form posted from another site by an old browser: no Origin, no Sec-Fetch-Site
        {"Origin": "https://evil.example.com"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example.com", "Sec-Fetch-Site": "same-origin"},
    ],
)
async def test_with_the_setting_a_cookie_from_any_other_origin_is_refused(
    make_app, clerk_signing_key, headers
):
    app = make_app(cors_origins=(ORIGIN,), environ={"CLERK_ACCEPT_COOKIE": "true"})
    status, body = await cookie_status(app, sign(clerk_signing_key, claims()), headers)
    assert status == 401
    assert "PROMPTKIT_CORS_ORIGINS" in body["error"]["message"]


async def test_the_bearer_header_needs_no_origin_check(make_app, clerk_signing_key):
    app = make_app(environ={"CLERK_ACCEPT_COOKIE": "true"})
    token = sign(clerk_signing_key, claims())
    async with app.test_app():
        response = await app.test_client().get(
            "/projects", headers={"Authorization": f"Bearer {token}", "Origin": "https://x.test"}
        )
    assert response.status_code == 200
