"""Messages of a conversation, oldest first."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .engine import Database
from .pagination import fetch_page
from .tables import messages

COLUMNS = (
    messages.c.id,
    messages.c.conversation_id,
    messages.c.role,
    messages.c.content,
    messages.c.status,
    messages.c.model,
    messages.c.usage,
    messages.c.created_at,
)


async def list_page(
    db: Database, owner_id: str, conversation_id: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    query = sa.select(*COLUMNS).where(
        messages.c.conversation_id == conversation_id, messages.c.owner_id == owner_id
    )
    return await fetch_page(db, query, messages, limit=limit, cursor=cursor, newest_first=False)
