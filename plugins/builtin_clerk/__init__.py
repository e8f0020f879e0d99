"""builtin_clerk: the `authenticate` plugin that verifies Clerk session tokens.

Keys come from CLERK_JWT_KEY (a PEM: no network) or CLERK_JWKS_URL; with no CLERK_* setting at
all, from a local key pair under the data directory (`promptkit keygen`, `promptkit token`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit import AuthenticationError, Host, Principal, ServiceUnavailable, hookimpl

from . import commands

if TYPE_CHECKING:
    import click
    from quart import Request

    from .state import ClerkState

STATE = "clerk"  # the key of this plugin's ClerkState in `host.state`
SESSION_COOKIE = "__session"


@hookimpl
async def startup(host: Host) -> None:
    # The verifier is imported here, not above: `promptkit --help` and `promptkit token` load
    # this plugin and should not pay for aiohttp and joserfc.
    from .state import start

    host.state[STATE] = start(host)


@hookimpl
def shutdown(host: Host) -> None:
    # The JWKS client's session is the app's shared one: the kernel closes it after this.
    host.state.pop(STATE, None)


@hookimpl(trylast=True)
async def authenticate(request: Request, host: Host) -> Principal | None:
    state: ClerkState | None = host.state.get(STATE)
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
