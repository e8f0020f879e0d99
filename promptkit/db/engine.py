"""The connection to the database. The only module of promptkit that imports `databases`."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import aiosqlite
import databases
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite.pysqlite import dialect as sqlite_dialect
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from ..errors import ServiceUnavailable

log = logging.getLogger(__name__)

POOLER_SETTING = "PROMPTKIT_DB_PGBOUNCER"
POOLER_ADVICE = (
    f"set {POOLER_SETTING}=true (or add ?pgbouncer=true to DATABASE_URL) when DATABASE_URL "
    "goes through a pooler in transaction mode (PgBouncer, Supabase's or Neon's pooled URLs)"
)


class TransactionPoolerError(RuntimeError):
    """The database is reached through a transaction-mode pooler, and the setting that makes
    promptkit work there is off: start-up stops rather than answer 500s."""


class PoolExhausted(ServiceUnavailable):
    """No connection of this process's pool came free in time: the database may be fine, this
    process has every connection busy."""

    def __init__(self) -> None:
        super().__init__("every database connection is busy; retry shortly", retry_after=1)


class _SQLiteConnection(sqlite3.Connection):
    """Every SQLite connection enforces foreign keys: without it cascades silently do nothing.

    (`databases` opens one for each transaction. WAL mode is kept in the database file, so
    `Database.connect` sets it once: asking on every connection takes a lock each time.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA foreign_keys = ON")
        self.execute("PRAGMA synchronous = NORMAL")


def now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """An opaque, unguessable id: a type prefix and 128 random bits."""
    return f"{prefix}_{secrets.token_urlsafe(16)}"


def async_url(url: str) -> str:
    """The URL `databases` wants: plain `postgresql://` and `sqlite:///` forms both accepted,
    without the `pgbouncer` flag, which no driver knows (see `says_pgbouncer`)."""
    for prefix in ("postgres://", "postgresql+asyncpg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            url = "postgresql://" + url.removeprefix(prefix)
    if url.startswith("postgresql://"):
        return _without_pgbouncer_flag(url)
    return url.replace("sqlite+aiosqlite://", "sqlite://", 1)


def says_pgbouncer(url: str) -> bool:
    """Does the URL carry `?pgbouncer=true`, the flag that Prisma and others read as "this is a
    transaction-mode pooler"? Any value but true or false is an error that names it."""
    if "pgbouncer=" not in url:
        return False
    values = make_url(url).query.get("pgbouncer", ())
    value = (values if isinstance(values, str) else ",".join(values)).strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"DATABASE_URL has pgbouncer={value!r}: it takes true or false")
    return value == "true"


def _without_pgbouncer_flag(url: str) -> str:
    if "pgbouncer=" not in url:
        return url
    stripped = make_url(url).difference_update_query(["pgbouncer"])
    return stripped.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The URL Alembic migrates over (a synchronous driver)."""
    url = async_url(url)
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def _normalise(value: Any, column_type: Any) -> Any:
    # PostgreSQL gives aware datetimes and JSON as text; SQLite gives naive ones and dicts.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(column_type, sa.JSON) and isinstance(value, str):
        return json.loads(value)
    return value


def _is_pooler_error(error: BaseException) -> bool:
    """Is `error` what a transaction-mode pooler does to prepared statements? A statement
    prepared on one server session is missing on the next one, or one of the same name is
    there already, left by another client."""
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError:
        return False
    return isinstance(
        error,
        asyncpg.exceptions.DuplicatePreparedStatementError
        | asyncpg.exceptions.InvalidSQLStatementNameError,
    )


def _is_unreachable(error: BaseException) -> bool:
    """Does `error` say the database cannot be reached now (rather than a statement is wrong)?"""
    if isinstance(error, ConnectionError | TimeoutError):  # refused, reset, broken pipe
        return True
    if isinstance(error, OSError):
        return error.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT)
    if isinstance(error, sqlite3.OperationalError):
        return "locked" in str(error) or "unable to open" in str(error)
    try:
        import asyncpg
    except ImportError:
        return False
    return isinstance(
        error,
        asyncpg.PostgresConnectionError  # the connection broke mid-way
        | asyncpg.exceptions.OperatorInterventionError  # the server shuts down or starts up
        | asyncpg.exceptions.TooManyConnectionsError  # its max_connections are all taken
        | asyncpg.InterfaceError,  # "connection is closed"
    )


@contextmanager
def _unavailable_when_unreachable() -> Iterator[None]:
    """Answer 503 while the database is away; the pool reconnects by itself once it is back."""
    try:
        yield
    except Exception as error:
        if _is_unreachable(error):
            raise ServiceUnavailable("the database is unreachable; retry shortly") from error
        if _is_pooler_error(error):
            # Start-up checks for this; a pooler put in front later still gets no 500.
            log.error("a prepared statement failed (%s): %s", type(error).__name__, POOLER_ADVICE)
            raise ServiceUnavailable("the database is unavailable") from error
        raise


async def _keep_session(connection: Any) -> None:
    """Skip asyncpg's session reset (`RESET ALL`, `UNLISTEN *`...) each time a connection goes
    back to the pool: one round trip per statement run outside a transaction, for session
    state promptkit never sets. asyncpg still rolls back a transaction left open."""


class Prepared:
    """A statement written once, with `sa.bindparam` placeholders, and compiled once per dialect.

    Compiling costs 0.15-0.25 ms of CPU: the statements that every chat reply runs are built
    once as `Prepared` at import time. Every other statement is compiled where it runs
    (`Database.fetch_one`, `fetch_all`, `execute`), its values bound in it.
    """

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        # The columns a SELECT or a RETURNING gives back, in order.
        self.columns: tuple[Any, ...] = tuple(getattr(statement, "exported_columns", ()))
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _Compiled.of(self, dialect)
        return compiled


Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    compiled: SQLCompiler
    binds: tuple[tuple[str, Processor], ...]  # in placeholder order
    results: tuple[tuple[str, Any, Processor], ...]  # key, type, processor per column

    @classmethod
    def of(cls, prepared: Prepared, dialect: Dialect) -> _Compiled:
        compiled = cast(SQLCompiler, prepared.statement.compile(dialect=dialect))
        if "POSTCOMPILE" in compiled.string:
            # Rendered only at execution, which this path skips: write `IN (...)` another way.
            raise ValueError("expanding parameters (IN lists) are not supported")
        binds = tuple(
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in compiled.positiontup or ()
        )
        results = tuple(
            (
                column.key,
                column.type,
                column.type.dialect_impl(dialect).result_processor(dialect, None),
            )
            for column in prepared.columns
        )
        return cls(compiled.string, compiled, binds, results)

    def args(self, values: dict[str, Any]) -> list[Any]:
        params = self.compiled.construct_params(values)  # raises if a placeholder has no value
        return [
            params[name] if process is None else process(params[name])
            for name, process in self.binds
        ]

    def row(self, record: Any) -> dict[str, Any]:
        return {
            key: _normalise(record[index] if process is None else process(record[index]), type_)
            for index, (key, type_, process) in enumerate(self.results)
        }


# Set inside `Database.transaction()`: statements must then use the transaction's connection.
_in_transaction: ContextVar[bool] = ContextVar("promptkit_in_transaction", default=False)


DEFAULT_POOL_SIZE = 20
DEFAULT_POOL_TIMEOUT = 5.0


class Database:
    """A pool of connections and the few calls the query modules need.

    PostgreSQL: at most `pool_size` connections, opened as needed and closed again after five
    idle minutes (asyncpg's pool); a statement that finds none free within `pool_timeout`
    seconds answers 503 with `Retry-After`. `pgbouncer` (or `?pgbouncer=true` in the URL)
    runs every statement unprepared, for a pooler in transaction mode.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULT_POOL_SIZE,
        pool_timeout: float = DEFAULT_POOL_TIMEOUT,
        pgbouncer: bool = False,
    ) -> None:
        self.pgbouncer = pgbouncer or says_pgbouncer(url)
        self.url = async_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        self.pool_size = pool_size
        self.pool_timeout = pool_timeout
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            options = {"factory": _SQLiteConnection, "timeout": 30}
        else:
            options = {"min_size": 1, "max_size": pool_size, "command_timeout": 30, "timeout": 10}
            options["reset"] = _keep_session
            if self.pgbouncer:
                # A transaction-mode pooler gives each transaction, and each statement run
                # outside one, whichever server session is free. With no statement cache
                # asyncpg prepares unnamed statements and parses them again in the same round
                # trip as their execution, so nothing outlives the server session it ran on.
                options["statement_cache_size"] = 0
        self._db = databases.Database(self.url, **options)
        # SQLite: `databases` would open a connection (and a thread) for every statement run
        # outside a transaction. They share this one instead, kept open from `connect` to
        # `disconnect`; transactions still get a connection of their own from `databases`.
        self._kept: aiosqlite.Connection | None = None
        # What statements compile for: the placeholders each driver takes.
        self._dialect: Dialect = sqlite_dialect()
        if self.dialect == "postgresql":
            self._dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]

    async def connect(self) -> None:
        await self._db.connect()
        if self.dialect == "postgresql":
            try:
                await self._check_for_transaction_pooler()
            except BaseException:
                await self._db.disconnect()
                raise
        if self.dialect == "sqlite":
            kept = await aiosqlite.connect(
                databases.DatabaseURL(self.url).database,
                isolation_level=None,  # autocommit: each lone statement commits at once
                factory=_SQLiteConnection,
                timeout=30,
            )
            try:
                # Readers and the writer no longer block each other; kept in the file from now on.
                await kept.execute_fetchall("PRAGMA journal_mode = WAL")
            except BaseException:
                await kept.close()  # its thread would keep the process alive
                raise
            self._kept = kept

    async def disconnect(self) -> None:
        if self._kept is not None:
            await self._kept.close()
            self._kept = None
        await self._db.disconnect()

    @property
    def connected(self) -> bool:
        return self._db.is_connected

    async def _check_for_transaction_pooler(self) -> None:
        """Stop here, naming the setting, when prepared statements meet a transaction pooler.

        Two connections held open side by side never share a server session, directly or
        through a pooler in session mode. A pooler in transaction mode hands an idle server
        session to whichever client asks next (PgBouncer the one released last), so the same
        backend shows up on both; or a prepared statement fails the way it would in traffic.
        """
        if self.pgbouncer or self.pool_size < 2:
            return  # nothing to check, or no second connection to check with
        try:
            first, second = await self._backend_pids_side_by_side()
        except Exception as error:
            if _is_pooler_error(error):
                raise TransactionPoolerError(f"prepared statements fail: {POOLER_ADVICE}") from None
            raise
        if first & second:
            raise TransactionPoolerError(
                f"two connections were given the same server session: {POOLER_ADVICE}"
            )

    async def _backend_pids_side_by_side(self, rounds: int = 3) -> tuple[set[int], set[int]]:
        """The server backends that two connections, both held open, see in turn."""
        loop = asyncio.get_running_loop()
        release = asyncio.Event()

        async def hold(raw: asyncio.Future[Any]) -> None:
            # `databases` keeps one connection per task: a second one needs a task of its own.
            try:
                async with self._connection() as connection:
                    raw.set_result(connection.raw_connection)
                    await release.wait()
            except BaseException as error:
                if not raw.done():
                    raw.set_exception(error)
                raise

        wanted = [loop.create_future(), loop.create_future()]
        holders = [asyncio.create_task(hold(raw)) for raw in wanted]
        try:
            connections = await asyncio.gather(*wanted)
            seen: tuple[set[int], set[int]] = (set(), set())
            for _ in range(rounds):
                for pids, connection in zip(seen, connections, strict=True):
                    pids.add(await connection.fetchval("SELECT pg_backend_pid()"))
            return seen
        finally:
            release.set()
            await asyncio.gather(*holders, return_exceptions=True)

    @asynccontextmanager
    async def _connection(self, wait: float | None = None) -> AsyncIterator[Any]:
        """This task's connection (`databases` keeps one per task). When none comes free
        within `wait` seconds (`pool_timeout` by default): `PoolExhausted`, a 503 with
        `Retry-After`, never an endless wait."""
        wait = self.pool_timeout if wait is None else wait
        async with AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(wait) as waiting:
                    connection = await stack.enter_async_context(self._db.connection())
            except TimeoutError:
                if not waiting.expired():
                    raise  # the server did not answer in time: not a busy pool
                log.warning("no database connection came free in %s s", wait)
                raise PoolExhausted() from None
            yield connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """All statements of this task inside the block commit together or not at all."""
        with _unavailable_when_unreachable():
            async with self._connection(), self._db.transaction():
                inside = _in_transaction.set(True)
                try:
                    yield
                finally:
                    _in_transaction.reset(inside)

    async def fetch_one(self, query: ClauseElement) -> dict[str, Any] | None:
        rows = await self.run(Prepared(query))
        return rows[0] if rows else None

    async def fetch_all(self, query: ClauseElement) -> list[dict[str, Any]]:
        return await self.run(Prepared(query))

    async def execute(self, query: ClauseElement) -> None:
        await self.run(Prepared(query))

    async def run(self, prepared: Prepared, **values: Any) -> list[dict[str, Any]]:
        """Run a statement; the rows it selects or returns (none for the others)."""
        compiled = prepared.compiled(self._dialect)
        args = compiled.args(values)
        with _unavailable_when_unreachable():
            if self._kept is not None and not _in_transaction.get():
                records = await self._fetch(self._kept, compiled.sql, args)
            else:
                # Inside `transaction()` this is the transaction's connection.
                async with self._connection() as connection:
                    records = await self._fetch(connection.raw_connection, compiled.sql, args)
        return [compiled.row(record) for record in records]

    async def _fetch(self, driver: Any, sql: str, args: list[Any]) -> Any:
        """The records from an asyncpg or an aiosqlite connection."""
        if self.dialect == "postgresql":
            return await driver.fetch(sql, *args)
        return await driver.execute_fetchall(sql, args)

    async def ping(self, *, wait: float | None = None) -> None:
        """One round trip, waiting at most `wait` seconds for a pooled connection
        (`PoolExhausted` after that)."""
        compiled = _PING.compiled(self._dialect)
        with _unavailable_when_unreachable():
            if self._kept is not None:
                await self._fetch(self._kept, compiled.sql, [])
                return
            async with self._connection(wait) as connection:
                await self._fetch(connection.raw_connection, compiled.sql, [])

    async def ping_outside_the_pool(self) -> None:
        """One round trip on a connection of its own, closed again: does the server answer
        while every pooled connection is busy? The caller bounds the wait. (SQLite has no
        pool: an ordinary ping.)"""
        if self.dialect != "postgresql":
            await self.ping()
            return
        import asyncpg

        with _unavailable_when_unreachable():
            # No statement cache and the simple query protocol: fine through any pooler.
            connection = await asyncpg.connect(self.url, statement_cache_size=0)
            try:
                await connection.execute("SELECT 1")
            finally:
                connection.terminate()  # at once, also when the caller gave up waiting

    async def schema_revisions(self) -> set[str]:
        """The Alembic revisions applied to this database (empty before the first migrate)."""
        try:
            rows = await self.run(_REVISIONS)
        except Exception:
            return set()
        return {row["version_num"] for row in rows}


_PING = Prepared(sa.select(sa.literal_column("1")))
_REVISIONS = Prepared(sa.select(sa.column("version_num")).select_from(sa.table("alembic_version")))
