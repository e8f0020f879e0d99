"""Database trouble: a TCP proxy between promptkit and PostgreSQL that the test cuts and restores.

While the proxy is cut, readiness and the API answer 503 in the error shape; once it is
restored the same app serves normally again, with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from promptkit.app import PromptkitApp


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops all connections and refuses more."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._forward, "127.0.0.1", self.port, reuse_address=True
        )

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.connections):
            writer.transport.abort()  # a reset, as when the network drops
        self.connections.clear()

    async def _forward(self, client_reader: Any, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self.connections |= {client_writer, server_writer}
        await asyncio.gather(
            _pipe(client_reader, server_writer),
            _pipe(server_reader, client_writer),
            return_exceptions=True,
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.transport.abort()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[CuttableProxy]:
    if not database_url.startswith("postgres"):
        pytest.skip("a network database is needed: set DATABASE_URL=postgresql://...")
    url = make_url(database_url)
    proxy = CuttableProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    with contextlib.suppress(AssertionError):
        await proxy.cut()


async def test_503_while_the_database_is_cut_then_recovers_without_restart(
    proxy: CuttableProxy,
    database_url: str,
    make_app: Callable[..., PromptkitApp],
    auth: Callable[[str], dict[str, str]],
) -> None:
    through_proxy = make_url(database_url).set(port=proxy.port).render_as_string(False)
    app = make_app(database_url=through_proxy)
    headers = auth("db-trouble-user")
    async with app.test_app():
        client = app.test_client()
        created = await client.post("/projects", json={"name": "before"}, headers=headers)
        assert created.status_code == 201
        assert (await client.get("/health/ready")).status_code == 200

        await proxy.cut()

        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert (await ready.get_json())["checks"]["database"] == "unreachable"
        for method, path, body in [
            ("get", "/projects", None),
            ("post", "/projects", {"name": "during"}),
            ("get", f"/projects/{(await created.get_json())['id']}", None),
        ]:
            response = await getattr(client, method)(path, json=body, headers=headers)
            assert response.status_code == 503, (method, path)
            error = (await response.get_json())["error"]
            assert error["code"] == "service_unavailable"
            assert "127.0.0.1" not in error["message"] and "asyncpg" not in error["message"]

        await proxy.start()  # the same port again

        assert (await client.get("/health/ready")).status_code == 200
        listed = await client.get("/projects", headers=headers)
        assert listed.status_code == 200
        names = [project["name"] for project in (await listed.get_json())["data"]]
        assert names == ["before"]  # the write tried while cut left nothing behind
        again = await client.post("/projects", json={"name": "after"}, headers=headers)
        assert again.status_code == 201
