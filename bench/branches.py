"""Reading the current branch of a conversation that is a tree, the way every turn does.

    python bench/branches.py --database sqlite
    python bench/branches.py --database postgresql --url postgresql://postgres@127.0.0.1:5432/DB

Builds, in a fresh database (PostgreSQL: the schema of `--url` is dropped first), a
conversation of `--messages` messages with `--branches` branches: a main line, and side lines
that each start as an edit (a sibling) of one of its user messages, spread along it; a linear
conversation of 50 messages beside it. Then it times, with no HTTP, p50 and p95 over `--runs`
runs: the history read of a turn (`messages.recent`, the recursive query, `HISTORY_LIMIT`
rows at most) with the current leaf at the end of the main line and at the end of the deepest
side line, and the first page (100) of `GET .../messages` (the branch with each message's
place among its siblings) and of `GET .../tree`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from promptkit.chat.turn import HISTORY_LIMIT
from promptkit.db import messages as message_queries
from promptkit.db.engine import Database, new_id, sync_url
from promptkit.db.tables import conversations, messages, projects
from promptkit.migrate import upgrade

OWNER = "me"
TEXT = "a message of a plausible length, about as long as a short paragraph is " * 4


def build(url: str, *, total: int, branches: int) -> dict[str, Any]:
    """The tree and a linear conversation; the ids the timings start from."""
    engine = sa.create_engine(sync_url(url))
    if url.startswith("postgresql"):
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(url)
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    project, tree, linear = new_id("prj"), new_id("cnv"), new_id("cnv")
    side_length = total // (2 * branches)  # half the messages on side lines
    side_length -= side_length % 2  # user and assistant pairs
    main_length = total - branches * side_length
    rows: list[dict[str, Any]] = []

    def add(conversation: str, parent: str | None, index: int) -> str:
        message_id = new_id("msg")
        role = "user" if index % 2 == 0 else "assistant"
        rows.append(
            {
                "id": message_id,
                "conversation_id": conversation,
                "owner_id": OWNER,
                "role": role,
                "content": TEXT,
                "status": "complete",
                "parts": [{"type": "text", "text": TEXT}],
                "parent_id": parent,
                "created_at": stamp,
            }
        )
        return message_id

    main: list[str] = []
    parent = None
    for index in range(main_length):
        parent = add(tree, parent, index)
        main.append(parent)
    # Each side line edits a user message of the main line (its sibling), spread along it.
    side_ends: list[tuple[int, str]] = []
    step = main_length // branches
    for branch in range(branches):
        at = min(branch * step + step // 2, main_length - 2)
        at -= at % 2  # a user message
        parent = main[at - 1] if at > 0 else None
        for index in range(side_length):
            parent = add(tree, parent, index)
        side_ends.append((at + side_length, parent or ""))
    parent = None
    for index in range(50):
        parent = add(linear, parent, index)
    linear_leaf = parent

    with engine.begin() as connection:
        connection.execute(
            sa.insert(projects).values(
                id=project, owner_id=OWNER, name="P", created_at=stamp, updated_at=stamp
            )
        )
        for conversation in (tree, linear):
            connection.execute(
                sa.insert(conversations).values(
                    id=conversation,
                    project_id=project,
                    owner_id=OWNER,
                    title="",
                    created_at=stamp,
                    updated_at=stamp,
                )
            )
        for at in range(0, len(rows), 1000):
            connection.execute(sa.insert(messages), rows[at : at + 1000])
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()
    deepest = max(side_ends)
    return {
        "tree": tree,
        "linear": linear,
        "linear_leaf": linear_leaf,
        "main_leaf": main[-1],
        "main_depth": main_length,
        "side_leaf": deepest[1],
        "side_depth": deepest[0],
        "side_length": side_length,
    }


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float, int]:
    times, rows = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        result = await call()
        times.append((time.perf_counter() - began) * 1000)
        rows = len(result[0] if isinstance(result, tuple) else result)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], rows


async def measure(url: str, built: dict[str, Any], runs: int) -> None:
    db = Database(url)
    await db.connect()
    tree, linear = built["tree"], built["linear"]
    try:

        async def lead_to(leaf: str, conversation: str) -> None:
            await db.execute(
                sa.update(conversations)
                .where(conversations.c.id == conversation)
                .values(current_leaf_id=leaf)
            )

        async def recent(conversation: str) -> list[dict[str, Any]]:
            return await message_queries.recent(db, OWNER, conversation, limit=HISTORY_LIMIT)

        cases: list[tuple[str, str | None, Callable[[], Awaitable[Any]]]] = [
            ("turn read, linear 50", None, lambda: recent(linear)),
            (f"turn read, main line ({built['main_depth']} deep)", "main", lambda: recent(tree)),
            (f"turn read, side line ({built['side_depth']} deep)", "side", lambda: recent(tree)),
            (
                "GET messages, first 100 (side line)",
                "side",
                lambda: message_queries.list_page(db, OWNER, tree, limit=100, cursor=None),
            ),
            (
                "GET tree, first 100",
                None,
                lambda: message_queries.tree_page(db, OWNER, tree, limit=100, cursor=None),
            ),
        ]
        for name, leaf, call in cases:
            if leaf is not None:
                await lead_to(built[f"{leaf}_leaf"], tree)
            await call()  # warm
            p50, p95, rows = await timed(runs, call)
            print(f"{name:38s} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  ({rows} rows)")
    finally:
        await db.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="PostgreSQL URL (its public schema is dropped)")
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--branches", type=int, default=50)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/branches.sqlite3"
    if args.database == "postgresql" and not url.startswith("postgresql"):
        parser.error("--database postgresql needs --url postgresql://...")
    built = build(url, total=args.messages, branches=args.branches)
    print(
        f"{args.database}: a tree of {args.messages} messages, {args.branches} side lines of "
        f"{built['side_length']}, and a linear conversation of 50; {args.runs} runs each"
    )
    asyncio.run(measure(url, built, args.runs))


if __name__ == "__main__":
    main()
