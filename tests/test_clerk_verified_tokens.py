"""The Clerk plugin remembers the tokens it has verified, until they expire: a remembered token
skips the signature check, and nothing else changes about what is accepted."""

from __future__ import annotations

import asyncio
import time

import pytest
from joserfc.jwk import RSAKey
from promptkit_clerk.config import ClerkConfig
from promptkit_clerk.keys import StaticKey, parse_public_pem
from promptkit_clerk.verify import Verifier
from test_clerk_verify import claims, sign

from promptkit import AuthenticationError


@pytest.fixture
def key_a(clerk_signing_key: RSAKey) -> RSAKey:
    return clerk_signing_key


@pytest.fixture(scope="module")
def key_b() -> RSAKey:
    return RSAKey.generate_key(2048, private=True)


def static_key(key: RSAKey) -> StaticKey:
    """The key as the plugin loads CLERK_JWT_KEY: from its public PEM."""
    return StaticKey(parse_public_pem(key.as_pem(private=False).decode()))


def verifier(key: RSAKey, clock_skew_seconds: int = 5) -> Verifier:
    config = ClerkConfig(jwt_key="set", clock_skew_seconds=clock_skew_seconds)
    return Verifier(config, static_key(key))


async def test_a_verified_token_is_not_checked_again_until_it_expires(key_a, key_b):
    check = verifier(key_a)
    seen = sign(key_a, claims(sub="user_seen"))
    assert (await check.verify(seen)).user_id == "user_seen"
    check.keys = static_key(key_b)  # key A is gone
    # The token already verified is remembered: its signature is not checked again...
    assert (await check.verify(seen)).user_id == "user_seen"
    # ...but a token signed by key A that was never seen is checked, and refused.
    with pytest.raises(AuthenticationError, match="signature"):
        await check.verify(sign(key_a, claims(sub="user_unseen")))


async def test_a_remembered_token_still_expires(key_a):
    check = verifier(key_a, clock_skew_seconds=0)
    token = sign(key_a, claims(exp=int(time.time()) + 1))
    assert (await check.verify(token)).user_id == "user_1"
    await asyncio.sleep(max(0.0, (int(time.time()) + 1) - time.time()) + 1.05)  # past `exp`
    with pytest.raises(AuthenticationError, match="expired"):
        await check.verify(token)


async def test_the_skew_extends_a_remembered_token_as_it_does_a_new_one(key_a):
    check = verifier(key_a, clock_skew_seconds=3)
    token = sign(key_a, claims(exp=int(time.time())))  # expired, but within the skew
    assert (await check.verify(token)).user_id == "user_1"
    assert (await check.verify(token)).user_id == "user_1"


async def test_only_the_exact_token_is_remembered(key_a):
    check = verifier(key_a)
    token = sign(key_a, claims())
    await check.verify(token)
    header, payload, signature = token.split(".")
    flipped = "A" if signature[10] != "A" else "B"
    with pytest.raises(AuthenticationError, match="signature"):
        await check.verify(f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}")
    other_payload = sign(key_a, claims(sub="user_2")).split(".")[1]
    with pytest.raises(AuthenticationError, match="signature"):
        await check.verify(f"{header}.{other_payload}.{signature}")  # a seen signature, reused


async def test_a_refusal_is_not_remembered(key_a, key_b):
    check = verifier(key_b)
    token = sign(key_a, claims())
    with pytest.raises(AuthenticationError, match="signature"):
        await check.verify(token)
    check.keys = static_key(key_a)
    assert (await check.verify(token)).user_id == "user_1"
