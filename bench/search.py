"""Search latency and the cost the full-text index adds to storing a message.

    python bench/search.py --database sqlite
    python bench/search.py --database postgresql --url postgresql://postgres@127.0.0.1:5432/DB

Builds, in a fresh database (PostgreSQL: the schema of `--url` is dropped first), one user's
`--mine` messages over `--conversations` conversations among `--others` messages of 1,000
other users, then times `promptkit.db.search.search` (the route's own query, no HTTP) for a
one-word, a prefix and a phrase query: p50 and p95 of `--runs` runs each. Then it times
storing a message the way the chat does (`messages.INSERT`), with the index and after
dropping it (SQLite: the triggers; PostgreSQL: the stored tsvector and its GIN index), side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from promptkit.db import messages as message_queries
from promptkit.db import search
from promptkit.db.engine import Database, new_id, now, sync_url
from promptkit.db.owners import Owner
from promptkit.db.tables import conversations, messages, projects
from promptkit.migrate import upgrade

VOCABULARY = [f"w{n:04d}" for n in range(20_000)] + ["harbour", "database", "migration"]
QUERIES = {"word": "harbour", "prefix": "harb", "phrase": '"database migration"'}
WORDS_PER_MESSAGE = 24


def _text(rng: random.Random) -> str:
    words = rng.choices(VOCABULARY[:20_000], k=WORDS_PER_MESSAGE)
    if rng.random() < 0.01:
        words[rng.randrange(WORDS_PER_MESSAGE)] = "harbour"
    if rng.random() < 0.01:
        at = rng.randrange(WORDS_PER_MESSAGE - 1)
        words[at : at + 2] = ["database", "migration"]
    return " ".join(words)


def build(url: str, *, mine: int, conversations_: int, others: int) -> None:
    engine = sa.create_engine(sync_url(url))
    if url.startswith("postgresql"):
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(url)
    rng = random.Random(26)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    owners = [("me", mine, conversations_)] + [
        (f"user{n}", others // 1000, max(1, conversations_ // 1000 * 20)) for n in range(1000)
    ]
    with engine.begin() as connection:
        for owner, count, chats in owners:
            project_id = new_id("prj")
            connection.execute(
                sa.insert(projects).values(
                    id=project_id, owner_id=owner, name="P", created_at=start, updated_at=start
                )
            )
            ids = [new_id("cnv") for _ in range(chats)]
            connection.execute(
                sa.insert(conversations),
                [
                    {
                        "id": i,
                        "project_id": project_id,
                        "owner_id": owner,
                        "title": _text(rng)[:60],
                        "created_at": start,
                        "updated_at": start,
                    }
                    for i in ids
                ],
            )
            rows = [
                {
                    "id": new_id("msg"),
                    "conversation_id": ids[n % chats],
                    "owner_id": owner,
                    "role": "user" if n % 2 else "assistant",
                    "content": _text(rng),
                    "status": "complete",
                    "model": None,
                    "usage": None,
                    "created_at": start + timedelta(seconds=n),
                }
                for n in range(count)
            ]
            for at in range(0, len(rows), 5000):
                connection.execute(sa.insert(messages), rows[at : at + 5000])
    # Statistics as a database in use has them: without, PostgreSQL's planner takes the owner
    # index and computes the text search vector of every row of the user.
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()


async def latencies(db: Database, runs: int) -> dict[str, tuple[float, float, int]]:
    figures = {}
    for name, q in QUERIES.items():
        times = []
        for _ in range(runs):
            began = time.perf_counter()
            hits, _ = await search.search(
                db, Owner("me"), q, project_id=None, limit=20, cursor=None
            )
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        figures[name] = (statistics.median(times), times[int(len(times) * 0.95) - 1], len(hits))
    return figures


async def insert_ms(db: Database, conversation_id: str, count: int) -> float:
    rng = random.Random(3)
    began = time.perf_counter()
    for _ in range(count):
        await db.run(
            message_queries.INSERT,
            id=new_id("msg"),
            conversation_id=conversation_id,
            owner_id="me",
            role="user",
            content=_text(rng),
            status="complete",
            model=None,
            usage=None,
            prompt_id=None,
            prompt_version=None,
            prompt_variables=None,
            created_at=now(),
        )
    return (time.perf_counter() - began) * 1000 / count


DROP_INDEX = {
    "sqlite": [f"DROP TRIGGER messages_search_{event}" for event in ("insert", "delete", "update")],
    "postgresql": ["ALTER TABLE messages DROP COLUMN search_vector"],  # and its GIN index
}


async def measure(url: str, runs: int, inserts: int) -> None:
    db = Database(url)
    await db.connect()
    try:
        for name, (p50, p95, hits) in (await latencies(db, runs)).items():
            print(f"{name:7s} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({hits} hits on the page)")
        row: Any = await db.fetch_one(
            sa.select(conversations.c.id).where(conversations.c.owner_id == "me").limit(1)
        )
        with_index = await insert_ms(db, row["id"], inserts)
        for statement in DROP_INDEX[db.dialect]:
            await db.execute(sa.text(statement))
        without = await insert_ms(db, row["id"], inserts)
        print(
            f"insert  {with_index:.3f} ms with the index, {without:.3f} ms without "
            f"({(with_index / without - 1) * 100:+.0f} %)"
        )
    finally:
        await db.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="PostgreSQL URL (its public schema is dropped)")
    parser.add_argument("--mine", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=2_000)
    parser.add_argument("--others", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--inserts", type=int, default=1_000)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/search.sqlite3"
    if args.database == "postgresql" and not url.startswith("postgresql"):
        parser.error("--database postgresql needs --url postgresql://...")
    began = time.perf_counter()
    build(url, mine=args.mine, conversations_=args.conversations, others=args.others)
    print(
        f"{args.database}: {args.mine} messages of mine over {args.conversations} conversations"
        f" among {args.others} of others, built in {time.perf_counter() - began:.0f} s"
    )
    asyncio.run(measure(url, args.runs, args.inserts))


if __name__ == "__main__":
    main()
