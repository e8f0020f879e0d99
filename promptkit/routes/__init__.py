"""HTTP routes, one blueprint per area."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter

from ..errors import NotFound


class IdConverter(BaseConverter):
    """`<id:name>`: what our ids look like. Anything else is no route at all (404), so odd bytes
    such as NUL never reach a query."""

    regex = r"[A-Za-z0-9_-]{1,64}"


def page(rows: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"data": rows, "next_cursor": next_cursor}


def found(row: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """The row, or the 404 that a missing row and another user's row both get."""
    if row is None:
        raise NotFound(f"{what} not found")
    return row
