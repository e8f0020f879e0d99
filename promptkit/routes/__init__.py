"""HTTP routes, one blueprint per area."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Generic, TypedDict, TypeVar

from quart import Request
from werkzeug.exceptions import RequestTimeout
from werkzeug.routing import BaseConverter

from ..errors import NotFound

Row = TypeVar("Row")


class IdConverter(BaseConverter):
    """`<id:name>`: what our ids look like. Anything else is no route at all (404), so odd bytes
    such as NUL never reach a query."""

    regex = r"[A-Za-z0-9_-]{1,64}"


class PageOf(TypedDict, Generic[Row]):
    """`schemas.Page` as a view returns it: mypy checks the rows' shape."""

    data: list[Row]
    next_cursor: str | None


class ListOf(TypedDict, Generic[Row]):
    """A whole list, as `schemas.ModelList` and `tools.ToolList` answer it."""

    data: list[Row]


def page(rows: list[Row], next_cursor: str | None) -> PageOf[Row]:
    return {"data": rows, "next_cursor": next_cursor}


def found(row: Row | None, what: str) -> Row:
    """The row, or the 404 that a missing row and another user's row both get."""
    if row is None:
        raise NotFound(f"{what} not found")
    return row


def request_class(body_limits: dict[re.Pattern[str], int]) -> type[Request]:
    """The app's request class: POSTs to the paths in `body_limits` get their own body limit,
    every other request keeps `MAX_CONTENT_LENGTH`.

    Quart fixes a request's body limit when it builds the request, before routing, and cuts off
    a body over it as it arrives: by the time a view runs it is too late to raise the limit.
    """

    class PromptkitRequest(Request):
        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any):
            if method == "POST":
                for pattern, limit in body_limits.items():
                    if pattern.fullmatch(path):
                        kwargs["max_content_length"] = limit
            super().__init__(method, scheme, path, *args, **kwargs)

        async def get_data(  # type: ignore[override]
            self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
        ) -> str | bytes:
            """Quart's, waiting with `asyncio.timeout` where Quart uses `asyncio.wait_for`.

            On Python 3.11, `wait_for` swallows a cancellation that arrives just as what it
            waits for completes (CPython gh-86296, fixed in 3.12). A client that closes its
            connection right after sending its request is exactly that: its body completes and
            its disconnect arrives together, Quart cancels the view, and the cancellation was
            lost, so the view ran on, streaming a whole reply to nobody and storing it
            `complete`. `asyncio.timeout` never swallows one.
            """
            if parse_form_data:
                await self._load_form_data()
            try:
                async with asyncio.timeout(self.body_timeout):
                    raw_data: bytes = await self.body
            except TimeoutError as error:
                raise RequestTimeout() from error
            if not cache:
                self.body.clear()
            return raw_data.decode() if as_text else raw_data

    return PromptkitRequest
