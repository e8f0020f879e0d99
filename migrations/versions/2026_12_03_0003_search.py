"""Full-text search over conversation titles and message contents.

SQLite: two FTS5 external-content tables (the text stays in its own table; FTS5 keeps only the
index), written by triggers in the statement's own transaction, so the chat code is unchanged.
PostgreSQL: expression GIN indexes over `promptkit_search_text(...)`, which the database keeps
itself on every insert, update and delete.

Both fold case and accents: FTS5's `unicode61 remove_diacritics 2`; on PostgreSQL a function
built on `translate()`, because `unaccent` is an extension (not always installable on managed
PostgreSQL) whose function is not IMMUTABLE and so cannot appear in an index.

Revision ID: 0003
Revises: 0001
Create Date: 2026-12-03
"""

import unicodedata
from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (FTS5 table, content table, indexed column)
SQLITE_INDEXES = (
    ("messages_search", "messages", "content"),
    ("conversations_search", "conversations", "title"),
)
# Letters that keep no accent once decomposed, as FTS5's remove_diacritics folds them too.
UNDECOMPOSED = {"Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "Ł": "L", "ł": "l", "Ħ": "H", "ħ": "h"}
# Longer texts are indexed by their beginning: a tsvector holds at most 1 MB.
INDEXED_CHARS = 200_000


def _accent_map() -> tuple[str, str]:
    """Latin letters with diacritics (U+00C0 to U+024F) and their bare letters, for translate()."""
    accented, bare = [], []
    for code in range(0xC0, 0x250):
        letter = chr(code)
        base = UNDECOMPOSED.get(letter) or unicodedata.normalize("NFKD", letter)[:1]
        if base != letter and base.isascii() and base.isalpha():
            accented.append(letter)
            bare.append(base)
    return "".join(accented), "".join(bare)


def _sqlite_upgrade() -> None:
    for search, table, column in SQLITE_INDEXES:
        op.execute(
            f"CREATE VIRTUAL TABLE {search} USING fts5({column}, content='{table}', "
            "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')"
        )
        add = f"INSERT INTO {search}(rowid, {column}) VALUES (new.rowid, new.{column});"
        remove = (
            f"INSERT INTO {search}({search}, rowid, {column}) "
            f"VALUES ('delete', old.rowid, old.{column});"
        )
        op.execute(f"CREATE TRIGGER {search}_insert AFTER INSERT ON {table} BEGIN {add} END")
        op.execute(f"CREATE TRIGGER {search}_delete AFTER DELETE ON {table} BEGIN {remove} END")
        op.execute(
            f"CREATE TRIGGER {search}_update AFTER UPDATE OF {column} ON {table} "
            f"BEGIN {remove} {add} END"
        )
        op.execute(f"INSERT INTO {search}({search}) VALUES ('rebuild')")  # the rows already there


def _postgresql_upgrade() -> None:
    accented, bare = _accent_map()
    op.execute(
        "CREATE FUNCTION promptkit_search_text(text) RETURNS tsvector "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
        f"$$ SELECT to_tsvector('simple', translate(left($1, {INDEXED_CHARS}), "
        f"'{accented}', '{bare}')) $$"
    )
    op.execute(
        "CREATE FUNCTION promptkit_search_query(text) RETURNS tsquery "
        "LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
        f"$$ SELECT to_tsquery('simple', translate($1, '{accented}', '{bare}')) $$"
    )
    # Building each index reads the rows already there.
    op.execute(
        "CREATE INDEX ix_messages_search ON messages USING gin (promptkit_search_text(content))"
    )
    op.execute(
        "CREATE INDEX ix_conversations_search ON conversations "
        "USING gin (promptkit_search_text(title))"
    )


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        _sqlite_upgrade()
    else:
        _postgresql_upgrade()


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        for search, _, _ in SQLITE_INDEXES:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {search}_{event}")
            op.execute(f"DROP TABLE {search}")
        return
    op.execute("DROP INDEX ix_conversations_search")
    op.execute("DROP INDEX ix_messages_search")
    op.execute("DROP FUNCTION promptkit_search_query(text)")
    op.execute("DROP FUNCTION promptkit_search_text(text)")
