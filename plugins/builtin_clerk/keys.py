"""Where the public keys come from: a PEM (CLERK_JWT_KEY or the local key) or a JWKS endpoint.

Both sources answer `key_for(kid)` synchronously from memory, so verification never waits on
the network; only `refresh()` does, and the JWKS source bounds how often it really fetches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

import aiohttp
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from .config import ConfigError

log = logging.getLogger(__name__)


class UnknownKey(Exception):
    """No key with the token's `kid` is known (yet)."""


class KeySource(Protocol):
    def key_for(self, kid: str | None) -> RSAKey:
        """The key that verifies a token with this `kid`, or raise UnknownKey."""

    def is_stale(self) -> bool:
        """True when the keys should be refreshed before use."""

    async def refresh(self) -> bool:
        """Try to load newer keys; return False when the source could not be reached."""


def parse_public_pem(value: str, name: str = "CLERK_JWT_KEY") -> RSAKey:
    """Read an RSA public key PEM as env files hold it: real newlines, none, or literal `\\n`."""
    pem = value.strip().strip('"').replace("\\r", "").replace("\\n", "\n")
    try:
        key = RSAKey.import_key(pem)
    except (ValueError, TypeError, JoseError):
        raise ConfigError(f"{name} is not an RSA public key in PEM form") from None
    return key


class StaticKey:
    """One known key (a PEM): it verifies every token whatever its `kid`, as Clerk's SDKs do."""

    def __init__(self, key: RSAKey) -> None:
        self.key = key

    def key_for(self, kid: str | None) -> RSAKey:
        return self.key

    def is_stale(self) -> bool:
        return False

    async def refresh(self) -> bool:
        return True


class JwksKeys:
    """Keys fetched from a JWKS endpoint and kept in memory.

    A fetch happens on first use, when the keys are older than `max_age`, and when a token
    names an unknown `kid` (a key rotation); never more than once per `min_interval`, failed
    attempts included, so a flood of made-up kids or an outage cannot hammer the endpoint.
    When a fetch fails, the last good keys stay in use.
    """

    def __init__(
        self,
        url: str,
        client: aiohttp.ClientSession,
        *,
        timeout: float,
        min_interval: float,
        max_age: float,
        secret_key: str | None = None,
    ) -> None:
        self.url = url
        self.client = client
        self.timeout = aiohttp.ClientTimeout(total=timeout)  # the whole request, each time
        self.min_interval = min_interval
        self.max_age = max_age
        self._headers = {"Authorization": f"Bearer {secret_key}"} if secret_key else {}
        self._keys: dict[str | None, RSAKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    def key_for(self, kid: str | None) -> RSAKey:
        try:
            return self._keys[kid]
        except KeyError:
            raise UnknownKey() from None

    def is_stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at > self.max_age

    async def refresh(self) -> bool:
        async with self._lock:
            now = time.monotonic()
            if self._attempted_at is not None and now - self._attempted_at < self.min_interval:
                # Someone fetched (or tried) moments ago: answer from what that attempt left.
                return self._fetched_at == self._attempted_at
            self._attempted_at = now
            keys = await self._fetch()
            if keys is None:
                return False
            self._keys = keys
            self._fetched_at = now
            return True

    async def _fetch(self) -> dict[str | None, RSAKey] | None:
        try:
            # No redirects: the secret key must not follow one elsewhere.
            async with self.client.get(
                self.url, headers=self._headers, allow_redirects=False, timeout=self.timeout
            ) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
            key_set = KeySet.import_key_set(document)
        except (
            aiohttp.ClientError,
            TimeoutError,
            ValueError,
            TypeError,
            KeyError,
            JoseError,
        ) as error:
            # The URL and the error kind only: the secret key is in the request headers.
            log.warning("could not fetch Clerk JWKS from %s: %s", self.url, type(error).__name__)
            return None
        keys = {
            key.kid: key
            for key in key_set
            if isinstance(key, RSAKey)
            and key.get("use") in (None, "sig")
            and key.get("alg") in (None, "RS256")
        }
        if not keys:
            log.warning("Clerk JWKS at %s holds no RS256 signing key", self.url)
            return None
        return keys
