"""The Clerk plugin with a PEM key (CLERK_JWT_KEY): good tokens pass, every hostile one is a 401.

Tokens are signed with real RSA keys; the hostile ones that no library will sign (`alg: none`,
HS256 keyed with the public PEM) are put together by hand here, as an attacker would.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from joserfc import jws, jwt
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry
from promptkit_clerk import STATE
from promptkit_clerk.config import ClerkConfig
from promptkit_clerk.keys import StaticKey
from promptkit_clerk.local import mint_session_token
from promptkit_clerk.verify import Verifier
from quart.testing.app import LifespanError

from promptkit import AuthenticationError
from promptkit.app import create_app
from promptkit.settings import Settings

ORIGIN = "https://app.example.com"
ISSUER = "https://clerk.example.com"
# A public key for the property test (hypothesis runs outside fixtures); any RSA key will do.
PROPERTY_KEY_PEM = RSAKey.generate_key(2048, private=True).as_pem(private=False)


@pytest.fixture(scope="module")
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


def claims(**changes: Any) -> dict[str, Any]:
    """A v2 session token's claims as Clerk issues them; a value of None drops that claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "azp": ORIGIN,
        "exp": now + 60,
        "fva": [0, -1],
        "iat": now,
        "iss": ISSUER,
        "jti": "jti_1",
        "nbf": now - 5,
        "sid": "sess_1",
        "sub": "user_1",
        "v": 2,
    }
    base.update(changes)
    return {name: value for name, value in base.items() if value is not None}


def sign(
    key: RSAKey, payload: dict[str, Any] | list[Any], alg: str = "RS256", **header: Any
) -> str:
    header = {"alg": alg, "kid": "ins_1", "typ": "JWT", **header}
    if isinstance(payload, dict):
        return jwt.encode(
            header, payload, key, registry=JWSRegistry(strict_check_header=False, algorithms=[alg])
        )
    # A signed payload that is not a JSON object: only the raw JWS layer will make one.
    return jws.serialize_compact(header, json.dumps(payload), key, algorithms=[alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: Any, secret: bytes | None) -> str:
    """A compact JWS assembled by hand: HS256 with `secret`, or unsigned when it is None."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if secret is None:
        return signing_input + "."
    return signing_input + "." + b64(hmac.new(secret, signing_input.encode(), "sha256").digest())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def strict_app(make_app):
    """CLERK_AUTHORIZED_PARTIES and CLERK_ISSUER set, beside the suite's CLERK_JWT_KEY."""
    app = make_app(environ={"CLERK_AUTHORIZED_PARTIES": ORIGIN, "CLERK_ISSUER": ISSUER})
    async with app.test_app():
        yield app


async def test_a_good_token_is_accepted_by_header(strict_app, clerk_signing_key):
    token = sign(clerk_signing_key, claims())
    client = strict_app.test_client()
    assert (await client.get("/projects", headers=bearer(token))).status_code == 200
    assert (
        await client.get("/projects", headers={"Authorization": f"bearer {token}"})
    ).status_code == 200


async def test_the_header_wins_over_the_cookie(strict_app, clerk_signing_key, other_key):
    client = strict_app.test_client()
    client.set_cookie("localhost", "__session", sign(clerk_signing_key, claims()))
    response = await client.get("/projects", headers=bearer(sign(other_key, claims())))
    assert response.status_code == 401


async def test_unknown_headers_and_claims_are_ignored(strict_app, clerk_signing_key):
    token = sign(
        clerk_signing_key,
        claims(pla="u:free", fea="o:dashboard", custom={"anything": [1, 2]}),
        oiat=1700000000,
        cat="cl_B7d4PD111AAA",
        kid="a-kid-the-pem-does-not-name",
    )
    response = await strict_app.test_client().get("/projects", headers=bearer(token))
    assert response.status_code == 200


async def test_the_clock_skew_is_five_seconds_and_configurable(make_app, clerk_signing_key):
    now = int(time.time())
    slightly_late = sign(clerk_signing_key, claims(exp=now - 2, nbf=now + 2, iat=now - 60))
    default = make_app()
    async with default.test_app():
        assert (
            await default.test_client().get("/projects", headers=bearer(slightly_late))
        ).status_code == 200
    strict = make_app(environ={"CLERK_CLOCK_SKEW_SECONDS": "0"})
    async with strict.test_app():
        response = await strict.test_client().get("/projects", headers=bearer(slightly_late))
    assert response.status_code == 401


def hostile_tokens(key: RSAKey, other: RSAKey) -> dict[str, tuple[str, str]]:
    """name -> (token, a word the 401 message must hold)."""
    now = int(time.time())
    public_pem = key.as_pem(private=False)
    good = sign(key, claims())
    header = {"alg": "RS256", "kid": "ins_1", "typ": "JWT"}
    return {
        "expired": (sign(key, claims(exp=now - 30, iat=now - 90, nbf=now - 90)), "expired"),
        "not yet valid": (sign(key, claims(nbf=now + 60)), "not yet valid"),
        "issued in the future": (sign(key, claims(iat=now + 60)), "future"),
        "signed by another key": (sign(other, claims()), "signature"),
        "alg none": (forge({**header, "alg": "none"}, claims(), None), "algorithm"),
        "HS256 keyed with the public PEM": (
            forge({**header, "alg": "HS256"}, claims(), public_pem),
            "algorithm",
        ),
        "RS512": (sign(key, claims(), alg="RS512"), "algorithm"),
        "PS256": (sign(key, claims(), alg="PS256"), "algorithm"),
        "no exp": (sign(key, claims(exp=None)), "exp"),
        "no sub": (sign(key, claims(sub=None)), "sub"),
        "no sid": (sign(key, claims(sid=None)), "sid"),
        "empty sub": (sign(key, claims(sub="")), "sub"),
        "sid not a string": (sign(key, claims(sid=42)), "sid"),
        "exp not a number": (sign(key, claims(exp="tomorrow")), "exp"),
        "wrong azp": (sign(key, claims(azp="https://evil.example")), "azp"),
        "no azp": (sign(key, claims(azp=None)), "azp"),
        "wrong iss": (sign(key, claims(iss="https://evil.clerk.accounts.dev")), "issuer"),
        "no iss": (sign(key, claims(iss=None)), "iss"),
        "an audience": (sign(key, claims(aud="another-api")), "audience"),
        "payload not an object": (sign(key, ["sub", "user_1"]), "malformed"),
        "truncated signature": (good[: len(good) - 20], "signature"),
        "truncated to two parts": (good.rsplit(".", 1)[0] + ".", "signature"),
        "garbage": ("abc.def.ghi", "malformed"),
        "100 KB header": (
            forge({**header, "pad": "x" * 100_000}, claims(), b"unused"),
            "too large",
        ),
    }


HOSTILE = [
    "expired",
    "not yet valid",
    "issued in the future",
    "signed by another key",
    "alg none",
    "HS256 keyed with the public PEM",
    "RS512",
    "PS256",
    "no exp",
    "no sub",
    "no sid",
    "empty sub",
    "sid not a string",
    "exp not a number",
    "wrong azp",
    "no azp",
    "wrong iss",
    "no iss",
    "an audience",
    "payload not an object",
    "truncated signature",
    "truncated to two parts",
    "garbage",
    "100 KB header",
]


def test_the_hostile_list_is_complete(clerk_signing_key, other_key):
    assert list(hostile_tokens(clerk_signing_key, other_key)) == HOSTILE


@pytest.mark.parametrize("name", HOSTILE)
async def test_every_hostile_token_is_a_401_that_says_why(
    name, strict_app, clerk_signing_key, other_key, caplog
):
    caplog.set_level(logging.DEBUG)
    token, reason = hostile_tokens(clerk_signing_key, other_key)[name]
    response = await strict_app.test_client().get("/projects", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    body = await response.get_json()
    assert body["error"]["code"] == "unauthenticated"
    assert reason in body["error"]["message"]
    # The token (its signature, when it has a real one) appears nowhere.
    signature = token.rsplit(".", 1)[-1]
    secret_part = signature if len(signature) > 40 else token
    assert secret_part not in json.dumps(body) + str(response.headers)
    assert secret_part not in caplog.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
headers = st.fixed_dictionaries(
    {},
    optional={
        name: st.sampled_from(["RS256", "none", "HS256", "RS512"]) | json_values
        for name in ("alg", "kid", "crit", "b64", "typ", "jwk")
    },
)


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(headers | json_values, st.binary(max_size=60), st.binary(max_size=300))
def test_any_malformed_token_is_an_authentication_error_never_a_crash(header, payload, signature):
    key = RSAKey.import_key(PROPERTY_KEY_PEM)
    verifier = Verifier(ClerkConfig(jwt_key="unused"), StaticKey(key))
    token = ".".join([b64(json.dumps(header).encode()), b64(payload), b64(signature)])
    with pytest.raises(AuthenticationError):
        asyncio.run(verifier.verify(token))


async def test_credentials_that_are_not_jwts_are_left_to_other_plugins(strict_app):
    client = strict_app.test_client()
    for headers in (
        {"Authorization": "Bearer sk_test_not_a_jwt"},
        {"Authorization": "Basic dTpw"},
        {},
    ):
        response = await client.get("/projects", headers=headers)
        assert response.status_code == 401
        assert (await response.get_json())["error"][
            "message"
        ] == "missing or unrecognised credential"


async def test_a_pending_session_is_refused_only_when_asked(make_app, clerk_signing_key):
    token = sign(clerk_signing_key, claims(sts="pending"))
    lenient = make_app()
    async with lenient.test_app():
        assert (
            await lenient.test_client().get("/projects", headers=bearer(token))
        ).status_code == 200
    strict = make_app(environ={"CLERK_REJECT_PENDING": "true"})
    async with strict.test_app():
        response = await strict.test_client().get("/projects", headers=bearer(token))
    assert response.status_code == 401
    assert "pending" in (await response.get_json())["error"]["message"]


async def test_the_principal_carries_user_session_and_organization(app, clerk_signing_key):
    verifier = app.plugins.host("clerk").state[STATE].verifier
    v2 = sign(
        clerk_signing_key,
        claims(
            sub="user_2",
            sid="sess_2",
            o={"id": "org_9", "slg": "acme", "rol": "admin", "per": "read"},
        ),
    )
    principal = await verifier.verify(v2)
    assert (principal.user_id, principal.session_id) == ("user_2", "sess_2")
    assert (principal.org_id, principal.org_slug, principal.org_role) == (
        "org_9",
        "acme",
        "org:admin",
    )

    v1 = sign(
        clerk_signing_key,
        claims(v=None, org_id="org_8", org_slug="beta", org_role="org:member", org_permissions=[]),
    )
    principal = await verifier.verify(v1)
    assert (principal.org_id, principal.org_slug, principal.org_role) == (
        "org_8",
        "beta",
        "org:member",
    )

    no_org = await verifier.verify(sign(clerk_signing_key, claims()))
    assert (no_org.org_id, no_org.org_slug, no_org.org_role) == (None, None, None)


async def test_rows_belong_to_the_tokens_subject(app, auth):
    client = app.test_client()
    created = await client.post("/projects", json={"name": "mine"}, headers=auth("user_alice"))
    assert created.status_code == 201
    theirs = await client.get("/projects", headers=auth("user_bob"))
    assert (await theirs.get_json())["data"] == []


@pytest.mark.parametrize("layout", ["newlines", "one line", "escaped newlines", "CRLF"])
async def test_the_pem_is_accepted_as_env_files_hold_it(layout, settings, clerk_signing_key):
    pem = clerk_signing_key.as_pem(private=False).decode()
    value = {
        "newlines": pem,
        "one line": pem.replace("\n", ""),
        "escaped newlines": pem.strip().replace("\n", "\\n"),
        "CRLF": pem.replace("\n", "\r\n"),
    }[layout]
    app = create_app(Settings(**{**settings.__dict__, "environ": {"CLERK_JWT_KEY": value}}))
    async with app.test_app():
        token = sign(clerk_signing_key, claims())
        assert (await app.test_client().get("/projects", headers=bearer(token))).status_code == 200


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        (
            {"CLERK_JWT_KEY": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"},
            "CLERK_JWT_KEY",
        ),
        ({"CLERK_ISSUER": ISSUER}, "CLERK_ISSUER"),
        ({"CLERK_AUTHORIZED_PARTIES": ORIGIN}, "CLERK_AUTHORIZED_PARTIES"),
        (
            {"CLERK_JWKS_URL": "http://127.0.0.1:9/jwks", "CLERK_CLOCK_SKEW_SECONDS": "soon"},
            "CLERK_CLOCK_SKEW_SECONDS",
        ),
    ],
)
async def test_a_bad_configuration_stops_start_up_naming_the_variable(environ, named, settings):
    app = create_app(Settings(**{**settings.__dict__, "environ": environ}))
    with pytest.raises(LifespanError, match=named):
        async with app.test_app():
            pass
    assert not app.db.connected  # the failed start closed what it had opened


async def test_without_any_clerk_setting_the_local_key_is_used_and_announced(settings, caplog):
    from promptkit_clerk.local import load_or_create_local_key, local_key_path

    caplog.set_level(logging.WARNING)
    app = create_app(Settings(**{**settings.__dict__, "environ": {}}))
    async with app.test_app():
        assert local_key_path(settings.data_dir).exists()
        key, created = load_or_create_local_key(settings.data_dir)
        assert not created
        response = await app.test_client().get(
            "/projects", headers=bearer(mint_session_token(key, "alice"))
        )
        assert response.status_code == 200
    assert "LOCAL development key" in caplog.text


async def test_the_local_key_is_never_used_once_a_clerk_key_is_set(make_app, settings):
    from promptkit_clerk.local import load_or_create_local_key

    local_key, _ = load_or_create_local_key(settings.data_dir)
    app = make_app()  # CLERK_JWT_KEY is set by the suite
    async with app.test_app():
        response = await app.test_client().get(
            "/projects", headers=bearer(mint_session_token(local_key, "alice"))
        )
    assert response.status_code == 401


def test_the_local_key_file_is_private(tmp_path):
    from promptkit_clerk.local import load_or_create_local_key, local_key_path

    _, created = load_or_create_local_key(tmp_path)
    assert created
    assert local_key_path(tmp_path).stat().st_mode & 0o077 == 0
    digest = hashlib.sha256(local_key_path(tmp_path).read_bytes()).hexdigest()
    _, created_again = load_or_create_local_key(tmp_path)
    assert not created_again
    assert hashlib.sha256(local_key_path(tmp_path).read_bytes()).hexdigest() == digest
