"""Keyset pagination: stable order by (created_at, id), or by a database-assigned sequence
(messages), with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..errors import ValidationFailed
from .engine import Database
from .tables import ID

ID_LENGTH = ID.length or 0
SEQUENCE_MAX = 2**63 - 1  # a BIGINT: a larger number in a cursor was not issued


def encode_cursor(row: dict[str, Any]) -> str:
    raw = json.dumps([row["created_at"].isoformat(), row["id"]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor() -> ValidationFailed:
    """The 422 for a cursor that this API did not issue (forged, stale, or from another list)."""
    return ValidationFailed(
        "cursor is not one this API issued",
        details=[{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
    )


def issuable_id(row_id: object) -> bool:
    """Could this be one of our ids? They are short URL-safe ASCII (see `engine.new_id`)."""
    return (
        isinstance(row_id, str)
        and 0 < len(row_id) <= ID_LENGTH
        and row_id.isascii()
        and (row_id.replace("_", "").replace("-", "").isalnum())
    )


def decode_cursor(cursor: str, key_ok: Callable[[Any], bool] = issuable_id) -> tuple[datetime, str]:
    """The (created_at, key) position a cursor holds; `key_ok` checks the key (an id here)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        position = datetime.fromisoformat(created_at)
        if position.tzinfo is None or not key_ok(row_id):
            raise ValueError
        # Issued cursors hold UTC; another offset near year 1 or 9999 leaves the range a
        # database can compare (PostgreSQL raises, SQLite compares text), so it was not issued.
        position = position.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError) as error:
        raise invalid_cursor() from error
    return position, row_id


async def fetch_page(
    db: Database,
    query: sa.Select[Any],
    table: sa.Table,
    *,
    limit: int,
    cursor: str | None,
    newest_first: bool = True,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `query` and the cursor of the next page (None on the last one)."""
    created, row_id = table.c.created_at, table.c.id
    if cursor is not None:
        position, last_id = decode_cursor(cursor)
        if newest_first:
            after = sa.or_(created < position, sa.and_(created == position, row_id < last_id))
        else:
            after = sa.or_(created > position, sa.and_(created == position, row_id > last_id))
        query = query.where(after)
    order = (created.desc(), row_id.desc()) if newest_first else (created.asc(), row_id.asc())
    rows = await db.fetch_all(query.order_by(*order).limit(limit + 1))
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1])
    return rows, None


async def fetch_sequence_page(
    db: Database,
    query: sa.Select[Any],
    sequence: sa.Column[int],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `query` in the order of `sequence` (lowest first) and the next cursor.

    The cursor holds the last row's sequence number, which `query` does not return.
    """
    if cursor is not None:
        query = query.where(sequence > decode_sequence(cursor))
    rows = await db.fetch_all(query.add_columns(sequence).order_by(sequence).limit(limit + 1))
    positions = [row.pop(sequence.key) for row in rows]
    if len(rows) > limit:
        return rows[:limit], encode_sequence(positions[limit - 1])
    return rows, None


def encode_sequence(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["seq", position]).encode()).decode().rstrip("=")


def decode_sequence(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, position = json.loads(raw)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise invalid_cursor() from error
    # bool is an int too; a float or a huge number was not issued either.
    if kind != "seq" or type(position) is not int or not 0 <= position <= SEQUENCE_MAX:
        raise invalid_cursor()
    return position
