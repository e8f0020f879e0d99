"""CORS through `quart-cors`: only the origins in `PROMPTKIT_CORS_ORIGINS`, preflight included."""

from __future__ import annotations

from quart import Quart
from quart_cors import cors

from .observability import REQUEST_ID_HEADER

ALLOWED_HEADERS = ["Authorization", "Content-Type", REQUEST_ID_HEADER]
# What a browser script may read from our responses besides the simple headers.
EXPOSED_HEADERS = [REQUEST_ID_HEADER, "Retry-After", "x-vercel-ai-ui-message-stream"]


def init_app(app: Quart, origins: tuple[str, ...]) -> None:
    """No origins configured: no CORS headers at all, so browsers keep the same-origin rule."""
    if not origins:
        return
    wildcard = "*" in origins
    cors(
        app,
        allow_origin="*" if wildcard else list(origins),
        # Cookies may be sent only to origins named one by one, never to a wildcard.
        allow_credentials=not wildcard,
        allow_headers=ALLOWED_HEADERS,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
