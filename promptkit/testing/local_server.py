"""Serving a fake provider's aiohttp app on 127.0.0.1, for the tests' fake servers."""

from __future__ import annotations

from aiohttp import web


class LocalServer:
    """An aiohttp app on a loopback port (a free one unless one is given)."""

    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self.port = 0

    async def start(self, port: int = 0) -> int:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def close(self) -> None:
        await self._runner.cleanup()
