"""Cross-check: promptkit and Clerk's own Python SDK (`clerk-backend-api`, networkless with the
PEM as `jwt_key`) judge the same tokens alike, except where promptkit is stricter on purpose.

Stricter on purpose (Clerk's SDK accepts these, promptkit answers 401):
- no `exp`: PyJWT does not require it, so such a token would never expire;
- no `sub` or no `sid`: not a session token (a JWT template token, or not Clerk's at all);
- `iss` missing or not CLERK_ISSUER, when that is set: Clerk's SDK never checks `iss`.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from clerk_backend_api.security import authenticate_request
from clerk_backend_api.security.types import AuthenticateRequestOptions
from joserfc import jwt
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

ORIGIN = "https://app.example.com"
ISSUER = "https://clerk.example.com"
STRICTER_ON_PURPOSE = {"no exp", "no sub", "no sid", "wrong iss", "no iss"}


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "azp": ORIGIN,
        "exp": now + 60,
        "iat": now,
        "iss": ISSUER,
        "nbf": now - 5,
        "sid": "sess_1",
        "sub": "user_1",
        "v": 2,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def sign(key: RSAKey, payload: dict[str, Any], alg: str = "RS256", **header: Any) -> str:
    registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
    return jwt.encode({"alg": alg, "kid": "ins_1", **header}, payload, key, registry=registry)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


def forge_hs256(payload: dict[str, Any], secret: bytes) -> str:
    unsigned = forge({"alg": "HS256", "typ": "JWT"}, payload, b"").rsplit(".", 1)[0]
    return f"{unsigned}.{b64(hmac.new(secret, unsigned.encode(), 'sha256').digest())}"


def token_set(key: RSAKey, other: RSAKey) -> dict[str, str]:
    now = int(time.time())
    good = sign(key, claims())
    return {
        "good v2": good,
        "good v2 with an organization": sign(
            key, claims(o={"id": "org_1", "slg": "acme", "rol": "admin"})
        ),
        "good v1 with an organization": sign(
            key, claims(v=None, org_id="org_2", org_slug="beta", org_role="org:member")
        ),
        "good with Clerk's extra headers": sign(key, claims(), oiat=now, cat="cl_1", typ="JWT"),
        "good, pending session": sign(key, claims(sts="pending")),
        "expired 3 s ago (inside the skew)": sign(key, claims(exp=now - 3)),
        "expired 30 s ago": sign(key, claims(exp=now - 30, nbf=now - 90, iat=now - 90)),
        "nbf in 3 s (inside the skew)": sign(key, claims(nbf=now + 3)),
        "nbf in 60 s": sign(key, claims(nbf=now + 60)),
        "iat in 60 s": sign(key, claims(iat=now + 60)),
        "signed by another key": sign(other, claims()),
        "alg none": forge({"alg": "none", "typ": "JWT"}, claims(), b""),
        "HS256 keyed with the public PEM": forge_hs256(claims(), key.as_pem(private=False)),
        "RS512": sign(key, claims(), alg="RS512"),
        "no exp": sign(key, claims(exp=None)),
        "no sub": sign(key, claims(sub=None)),
        "no sid": sign(key, claims(sid=None)),
        "sub not a string": sign(key, claims(sub=42)),
        "wrong azp": sign(key, claims(azp="https://evil.example")),
        "no azp": sign(key, claims(azp=None)),
        "wrong iss": sign(key, claims(iss="https://evil.clerk.accounts.dev")),
        "no iss": sign(key, claims(iss=None)),
        "an audience": sign(key, claims(aud="another-api")),
        "truncated": good[:-25],
        "garbage": "abc.def.ghi",
    }


def clerk_says(token: str, pem: str) -> tuple[bool, dict[str, Any] | None]:
    request = httpx.Request(
        "GET", "http://api.test/projects", headers={"Authorization": f"Bearer {token}"}
    )
    options = AuthenticateRequestOptions(jwt_key=pem, authorized_parties=[ORIGIN])
    state = authenticate_request(request, options)
    return state.is_signed_in, state.payload


@pytest.fixture(scope="module")
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


async def test_promptkit_and_clerks_sdk_agree_except_where_stricter_on_purpose(
    make_app, clerk_signing_key, other_key
):
    pem = clerk_signing_key.as_pem(private=False).decode()
    tokens = token_set(clerk_signing_key, other_key)
    app = make_app(environ={"CLERK_AUTHORIZED_PARTIES": ORIGIN, "CLERK_ISSUER": ISSUER})
    verdicts: dict[str, tuple[bool, bool]] = {}
    async with app.test_app():
        client = app.test_client()
        for name, token in tokens.items():
            response = await client.get("/projects", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code in (200, 401), name
            verdicts[name] = (response.status_code == 200, clerk_says(token, pem)[0])

    disagreements = {name for name, (ours, clerks) in verdicts.items() if ours != clerks}
    assert disagreements == STRICTER_ON_PURPOSE, verdicts
    for name in STRICTER_ON_PURPOSE:
        assert verdicts[name] == (False, True), name
    accepted = {name for name, (ours, _) in verdicts.items() if ours}
    assert accepted == {
        name for name in tokens if name.startswith("good") or "inside the skew" in name
    }


async def test_the_principal_matches_what_clerks_sdk_reads(app, clerk_signing_key):
    from promptkit_clerk import STATE

    pem = clerk_signing_key.as_pem(private=False).decode()
    verifier = app.plugins.host("clerk").state[STATE].verifier
    for token in (
        sign(clerk_signing_key, claims(o={"id": "org_1", "slg": "acme", "rol": "admin"})),
        sign(
            clerk_signing_key,
            claims(v=None, org_id="org_2", org_slug="beta", org_role="org:member"),
        ),
    ):
        signed_in, payload = clerk_says(token, pem)
        assert signed_in and payload is not None
        principal = await verifier.verify(token)
        assert principal.user_id == payload["sub"]
        assert principal.session_id == payload["sid"]
        assert principal.org_id == payload["org_id"]
        assert principal.org_slug == payload["org_slug"]
        # Clerk's Python SDK leaves v2's role bare ("admin"); its JavaScript SDK, and promptkit,
        # read it as "org:admin", the form v1 tokens carry.
        role = payload["org_role"]
        assert principal.org_role == (role if role.startswith("org:") else f"org:{role}")
