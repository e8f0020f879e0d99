"""builtin_clerk: the `authenticate` plugin that verifies Clerk session tokens.

Keys come from CLERK_JWT_KEY (a PEM: no network) or CLERK_JWKS_URL; with no CLERK_* setting at
all, from a local key pair under the data directory (`promptkit keygen`, `promptkit token`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import aiohttp
import click
from quart import Quart, Request

from promptkit import AuthenticationError, Principal, ServiceUnavailable, hookimpl

from . import commands
from .config import ClerkConfig
from .keys import JwksKeys, KeySource, StaticKey, parse_public_pem
from .local import load_or_create_local_key, local_key_path
from .verify import Verifier

if TYPE_CHECKING:
    from promptkit.app import PromptkitApp

log = logging.getLogger(__name__)

EXTENSION = "promptkit_clerk"
SESSION_COOKIE = "__session"


@dataclass
class ClerkState:
    verifier: Verifier
    http: aiohttp.ClientSession | None = None
    # Origins a `__session` cookie is accepted from; None: the cookie is not a credential.
    cookie_origins: frozenset[str] | None = None

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


@hookimpl
async def startup(app: Quart) -> None:
    settings = cast("PromptkitApp", app).settings
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
    app.extensions[EXTENSION] = ClerkState(Verifier(config, keys), http, cookie_origins)


@hookimpl
async def shutdown(app: Quart) -> None:
    state = app.extensions.pop(EXTENSION, None)
    if state is not None:
        await state.close()


@hookimpl(trylast=True)
async def authenticate(request: Request, app: Quart) -> Principal | None:
    state: ClerkState | None = app.extensions.get(EXTENSION)
    token = session_token(request, state.cookie_origins if state else None)
    if token is None:
        return None
    if state is None:
        raise ServiceUnavailable("authentication is not ready")
    return await state.verifier.verify(token)


def session_token(request: Request, cookie_origins: frozenset[str] | None) -> str | None:
    """The bearer token, else (when CLERK_ACCEPT_COOKIE is on) the `__session` cookie; None
    when neither looks like a JWT.

    A credential that is not a compact JWS (three dot-separated parts) is not ours: passing
    lets another `authenticate` plugin claim it, and the kernel answers 401 if none does.
    """
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        token = credential.strip()
    elif cookie_origins is not None:
        token = request.cookies.get(SESSION_COOKIE, "").strip()
        if token.count(".") == 2:
            _check_cookie_origin(request, cookie_origins)
    else:
        return None
    return token if token.count(".") == 2 else None


def _check_cookie_origin(request: Request, allowed: frozenset[str]) -> None:
    """A browser sends the cookie with requests other sites start (CSRF): accept it only from
    an allowed `Origin`, or, with no `Origin`, when the browser says the request is same-origin.
    """
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin.rstrip("/") in allowed:
            return
    elif request.headers.get("Sec-Fetch-Site") == "same-origin":
        return
    raise AuthenticationError(
        "a session cookie is accepted only from an origin in PROMPTKIT_CORS_ORIGINS"
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    commands.register(cli)
