"""One MCP server: a session kept open in a task of its own, reopened when it goes away.

The SDK's transports and `ClientSession` are anyio context managers that must be entered
and left in one task, so each server's session lives in `Server._run`; calls borrow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import AsyncIterator
from typing import Any

from mcp import ClientSession

log = logging.getLogger(__name__)

CONNECT_SECONDS = 15.0
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # between reconnection attempts, then the last again


class Server:
    def __init__(self, name: str, how: str) -> None:
        self.name, self.how = name, how
        self._session: ClientSession | None = None
        self._ready = asyncio.Event()  # a session is open
        self._lost = asyncio.Event()  # a call found the session broken: reopen it
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    async def start(self) -> list[Any]:
        """Connect and list the server's tools."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        session = await self._open_session()
        return list((await session.list_tools()).tools)

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """The tool's result: its structured content, else its text; raises on a tool error."""
        for attempt in (1, 2):
            session = await self._open_session()
            try:
                result = await session.call_tool(tool, arguments)
                break
            except Exception as error:
                if attempt == 2:
                    raise RuntimeError(f"the MCP server {self.name!r} failed: {error}") from None
                log.warning("MCP server %r went away (%s): reconnecting", self.name, error)
                self._reconnect(session)
        texts = [block.text for block in result.content if getattr(block, "type", "") == "text"]
        if result.is_error:
            raise RuntimeError("; ".join(texts) or "the MCP tool failed")
        if result.structured_content is not None:
            return result.structured_content
        return {"content": texts}

    async def stop(self) -> None:
        self._stopping.set()
        self._lost.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    def _reconnect(self, broken: ClientSession) -> None:
        if self._session is broken:
            self._session = None
            self._ready.clear()
            self._lost.set()

    async def _open_session(self) -> ClientSession:
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                await self._ready.wait()
        except TimeoutError:
            raise RuntimeError(
                f"no connection to the MCP server {self.name!r}: {self._failure or 'timed out'}"
            ) from None
        assert self._session is not None
        return self._session

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                async with self._streams() as (read, write), ClientSession(read, write) as session:
                    await session.initialize()
                    self._lost.clear()
                    self._session, attempt = session, 0
                    self._ready.set()
                    await self._lost.wait()
            except Exception as error:  # refused, crashed, broken pipe: try again
                self._failure = error
                log.warning("MCP server %r: %s", self.name, error)
            finally:
                self._session = None
                self._ready.clear()
            if self._stopping.is_set():
                return
            await asyncio.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)])
            attempt += 1

    @contextlib.asynccontextmanager
    async def _streams(self) -> AsyncIterator[tuple[Any, Any]]:
        if self.how.startswith(("http://", "https://")):
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            timeout = httpx2.Timeout(30.0, read=300.0)
            async with (
                httpx2.AsyncClient(timeout=timeout, follow_redirects=True) as http,
                streamable_http_client(self.how, http_client=http) as streams,
            ):
                yield streams[0], streams[1]
        else:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            command, *args = shlex.split(self.how)
            async with stdio_client(StdioServerParameters(command=command, args=args)) as streams:
                yield streams[0], streams[1]
