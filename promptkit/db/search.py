"""Full-text search over the owner's conversation titles and messages.

The only module with engine-specific SQL: FTS5 on SQLite, tsvector/GIN on PostgreSQL (both
built and kept up to date by migrations 0003 and 0008). The engine's query language is never
exposed: the query is cut into words here and each word is quoted before it reaches the engine.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, TypedDict

import sqlalchemy as sa

from .conversations import ConversationRow
from .engine import Database
from .owners import Owner
from .pagination import decode_cursor, encode_cursor, issuable_id

_WORD = re.compile(r"[^\W_]+")
_PART = re.compile(r'"([^"]*)"|([^"]+)')
SNIPPET_CHARS = 160


@dataclass(frozen=True)
class Query:
    """The words of a query: each matches as a word prefix; a phrase's words in order."""

    words: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Query:
        words: list[str] = []
        phrases: list[tuple[str, ...]] = []
        for quoted, loose in _PART.findall(text):
            if quoted:
                phrase = tuple(_WORD.findall(quoted))
                if len(phrase) == 1:
                    words.extend(phrase)
                elif phrase:
                    phrases.append(phrase)
            else:
                words.extend(_WORD.findall(loose))  # an unbalanced quote is plain text
        return cls(tuple(words), tuple(phrases))

    def __bool__(self) -> bool:
        return bool(self.words or self.phrases)

    def fts5(self) -> str:
        terms = [f'"{word}"*' for word in self.words]
        terms += ['"' + " ".join(phrase) + '"' for phrase in self.phrases]
        return " AND ".join(terms)

    def tsquery(self) -> str:
        terms = [f"'{word}':*" for word in self.words]
        terms += [
            "(" + " <-> ".join(f"'{word}'" for word in phrase) + ")" for phrase in self.phrases
        ]
        return " & ".join(terms)


def fold(text: str) -> str:
    """Case and accents removed, as both engines index."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def snippet(text: str, query: Query) -> tuple[str, list[list[int]]]:
    """Plain text around the first match and the [start, end) offsets (in code points) of
    every matching word in it."""
    terms = {fold(word) for word in query.words}
    terms |= {fold(word) for phrase in query.phrases for word in phrase}
    matches = [
        (m.start(), m.end())
        for m in _WORD.finditer(text)
        if any(fold(m.group()).startswith(term) for term in terms)
    ]
    start = 0
    if matches and matches[0][0] > SNIPPET_CHARS // 3:
        start = text.rfind(" ", 0, matches[0][0] - SNIPPET_CHARS // 3) + 1
    end = min(len(text), start + SNIPPET_CHARS)
    if end < len(text) and (cut := text.rfind(" ", start, end)) > start:
        end = cut
    prefix, suffix = ("…" if start else ""), ("…" if end < len(text) else "")
    shift = len(prefix) - start
    highlights = [[a + shift, b + shift] for a, b in matches if a >= start and b <= end]
    return prefix + text[start:end] + suffix, highlights


# One row per matching title and message, then the best one per conversation: a message
# before the title, the best score first. `score` is higher for better matches.
_HITS = {
    # CROSS JOIN: SQLite then reads the full-text index first (it would rather walk the
    # owner's rows and probe the index for each, 10 times slower).
    "sqlite": """
        SELECT m.conversation_id, m.id AS message_id, m.content AS text,
               -bm25(messages_search) AS score
        FROM messages_search CROSS JOIN messages m ON m.rowid = messages_search.rowid
        WHERE messages_search MATCH :match AND m.owner_id = :owner_id
        UNION ALL
        SELECT c.id, NULL, c.title, -bm25(conversations_search)
        FROM conversations_search CROSS JOIN conversations c ON c.rowid = conversations_search.rowid
        WHERE conversations_search MATCH :match AND c.owner_id = :owner_id
    """,
    "postgresql": """
        SELECT m.conversation_id, m.id AS message_id, m.content AS text,
               ts_rank(m.search_vector, q.query)::float8 AS score
        FROM messages m, (SELECT promptkit_search_query(:match) AS query) q
        WHERE m.search_vector @@ q.query AND m.owner_id = :owner_id
        UNION ALL
        SELECT c.id, NULL, c.title, ts_rank(c.search_vector, q.query)::float8
        FROM conversations c, (SELECT promptkit_search_query(:match) AS query) q
        WHERE c.search_vector @@ q.query AND c.owner_id = :owner_id
    """,
}
_SEARCH = """
    SELECT * FROM (
        SELECT c.id, c.project_id, c.title, c.created_at, c.updated_at,
               best.message_id, best.text, best.score
        FROM (
            SELECT hits.*,
                   MAX(score) OVER (PARTITION BY conversation_id) AS best_score,
                   ROW_NUMBER() OVER (
                       PARTITION BY conversation_id
                       ORDER BY CASE WHEN message_id IS NULL THEN 1 ELSE 0 END, score DESC,
                                message_id
                   ) AS place
            FROM ({hits}) hits
        ) best
        JOIN conversations c ON c.id = best.conversation_id
        JOIN projects p ON p.id = c.project_id
        WHERE best.place = 1 {project}
          AND c.owner_id = :owner_id
          AND p.owner_kind = :tenant_kind AND p.owner_id = :tenant_id
    ) ranked
    {after}
    ORDER BY score DESC, created_at DESC, id DESC
    LIMIT :limit
"""
_AFTER = """WHERE score < :score OR (score = :score AND (created_at < :created_at
    OR (created_at = :created_at AND id < :id)))"""


def _encode_cursor(row: dict[str, Any]) -> str:
    # The list's cursor, its id carrying the score too: repr() gives the float back exactly.
    return encode_cursor({"created_at": row["created_at"], "id": f"{row['score']!r} {row['id']}"})


def _score_and_id(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    score, _, row_id = key.partition(" ")
    try:
        return math.isfinite(float(score)) and issuable_id(row_id)
    except ValueError:
        return False


def _decode_cursor(cursor: str) -> dict[str, Any]:
    position, key = decode_cursor(cursor, key_ok=_score_and_id)
    score, _, row_id = key.partition(" ")
    return {"score": float(score), "created_at": position, "id": row_id}


async def search(
    db: Database,
    owner: Owner,
    text: str,
    *,
    project_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[SearchHitRow], str | None]:
    """One page of hits, best first, and the cursor of the next page (None on the last one)."""
    query = Query.parse(text)
    if not query:
        return [], None
    # Scoped as `owners` says: the caller's conversations, in projects they see now.
    values: dict[str, Any] = {**owner.params(), "limit": limit + 1}
    if db.dialect == "sqlite":
        values["match"] = query.fts5()
    else:
        values["match"] = query.tsquery()
    if project_id is not None:
        values["project_id"] = project_id
    if cursor is not None:
        values.update(_decode_cursor(cursor))
    sql = _SEARCH.format(
        hits=_HITS[db.dialect],
        project="AND c.project_id = :project_id" if project_id is not None else "",
        after=_AFTER if cursor is not None else "",
    )
    statement = (
        sa.text(sql)
        .bindparams(*(sa.bindparam(name, type_=_TYPES.get(name, sa.String)) for name in values))
        .columns(*_COLUMNS)
    )
    rows = await db.fetch_all(statement.bindparams(**values))
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return [_hit(row, query) for row in rows[:limit]], next_cursor


_COLUMNS: tuple[sa.ColumnClause[Any], ...] = (
    sa.column("id", sa.String),
    sa.column("project_id", sa.String),
    sa.column("title", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("message_id", sa.String),
    sa.column("text", sa.Text),
    # Untyped: the numeric result types want a type code that this driver path skips.
    sa.column("score"),
)
_TYPES: dict[str, Any] = {
    "limit": sa.Integer,
    "score": sa.Double,
    "created_at": sa.DateTime(timezone=True),
}


class SearchHitRow(TypedDict):
    """A hit as the API shows it (`schemas.SearchHit`); a test keeps the two in step."""

    conversation: ConversationRow
    message_id: str | None  # None when only the title matched
    snippet: str
    highlights: list[list[int]]


def _hit(row: dict[str, Any], query: Query) -> SearchHitRow:
    text, highlights = snippet(row["text"], query)
    conversation = ConversationRow(
        id=row["id"],
        project_id=row["project_id"],
        title=row["title"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
    return SearchHitRow(
        conversation=conversation,
        message_id=row["message_id"],
        snippet=text,
        highlights=highlights,
    )
