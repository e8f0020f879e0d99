"""The Clerk plugin's per-app state: the verifier, its key source and its HTTP client."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from .config import ClerkConfig
from .keys import JwksKeys, KeySource, StaticKey, parse_public_pem
from .local import load_or_create_local_key, local_key_path
from .verify import Verifier

if TYPE_CHECKING:
    from promptkit.settings import Settings

log = logging.getLogger("promptkit_clerk")


@dataclass
class ClerkState:
    verifier: Verifier
    http: aiohttp.ClientSession | None = None
    # Origins a `__session` cookie is accepted from; None: the cookie is not a credential.
    cookie_origins: frozenset[str] | None = None

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


def start(settings: Settings) -> ClerkState:
    config = ClerkConfig.from_environ(settings.environ)
    http = None
    keys: KeySource
    if config.jwt_key:
        keys = StaticKey(parse_public_pem(config.jwt_key))
    elif config.jwks_url:
        # aiohttp: the HTTP client the OpenAI provider already loads (openai[aiohttp]).
        http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=config.jwks_timeout_seconds),
            trust_env=True,  # HTTPS_PROXY and friends, as the other clients honour them
        )
        keys = JwksKeys(
            config.jwks_url,
            http,
            min_interval=config.jwks_min_refresh_seconds,
            max_age=config.jwks_max_age_seconds,
            secret_key=config.secret_key,
        )
    else:
        key, _ = load_or_create_local_key(settings.data_dir)
        keys = StaticKey(key)
        log.warning(
            "\n%s\nNO CLERK KEY IS SET: tokens are verified with the LOCAL development key %s."
            "\nAnyone who can read that file can sign in as any user. Never run this in "
            "production:\nset CLERK_JWT_KEY (or CLERK_JWKS_URL). Get a token: promptkit token "
            "<user id>\n%s",
            "!" * 78,
            local_key_path(settings.data_dir),
            "!" * 78,
        )
    cookie_origins = frozenset(settings.cors_origins) if config.accept_cookie else None
    return ClerkState(Verifier(config, keys), http, cookie_origins)
