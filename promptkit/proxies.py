"""Behind a reverse proxy: the client's address and scheme as the proxy saw them.

`X-Forwarded-For` and `X-Forwarded-Proto` are believed only when the connection comes from a
peer in `PROMPTKIT_TRUSTED_PROXIES`; anyone else could write them. The reading is uvicorn's
ASGI middleware (it walks `X-Forwarded-For` from the right, past the trusted hops, to the
first address that is not one), so `request.remote_addr` and `request.scheme` are the
client's everywhere below it: the access log shows them.
"""

from __future__ import annotations

from quart import Quart


def init_app(app: Quart, trusted_proxies: tuple[str, ...]) -> None:
    if not trusted_proxies:
        return  # nothing trusted: the headers stay headers, the peer is the client
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    app.asgi_app = ProxyHeadersMiddleware(  # type: ignore[method-assign,assignment]
        app.asgi_app,  # type: ignore[arg-type]
        trusted_hosts=list(trusted_proxies),
    )
