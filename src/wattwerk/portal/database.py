"""One database interface for the whole portal: PostgreSQL (production) or embedded SQLite.

    db = open_database("postgresql://host/wattwerk")   # or "sqlite:///portal.db"
    await db.open()
    async with db.connection() as conn:                  # one transaction: commit on success,
        cur = await conn.execute("SELECT id FROM sites WHERE name = %s", (name,))   # rollback
        row = await cur.fetchone()                       # on an exception

SQL is written once in psycopg's style — ``%s`` and ``%(name)s`` placeholders, ``%%`` for a
literal ``%`` — and rewritten to ``?``/``:name`` for SQLite. Write portable SQL: times are
computed in Python and passed as parameters (:func:`utcnow`) instead of ``now() + interval``;
``INSERT ... ON CONFLICT`` and ``RETURNING`` work on both (SQLite >= 3.35). Where SQL must
differ, branch on ``conn.dialect`` (:data:`POSTGRES` or :data:`SQLITE`). Values that differ in
type between the backends go through the connection: ``conn.json(v)``/``conn.unjson(v)`` for
JSON columns, ``conn.array(v)``/``conn.unarray(v)`` for text arrays, and :func:`iso` or
:func:`as_datetime` for timestamps (SQLite keeps them as ISO text in UTC, ``...T..:..:..mmmZ``,
so they sort and compare as text).

SQLite URLs follow the common convention: ``sqlite:///portal.db`` is relative to the working
directory, ``sqlite:////var/lib/wattwerk/portal.db`` absolute. One process serves an SQLite
portal: its writes go through one connection, one transaction at a time (an asyncio lock).
On both backends a ``connection()`` block nested in another of the same task joins that
task's transaction (it sees its uncommitted rows, and cannot deadlock waiting for a second
connection). On SQLite ``connection(readonly=True)`` takes one
of a few reader connections instead (WAL: readers never wait for the writer), for long reads
such as streamed series. ``synchronous=FULL``: a committed (acknowledged) batch survives a
power cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from wattwerk.portal.postgres import APPLICATION, configure_connection, with_schema

POSTGRES = "postgresql"
SQLITE = "sqlite"
SQLITE_PREFIX = "sqlite:///"
UniqueViolation = (psycopg.errors.UniqueViolation, sqlite3.IntegrityError)
"""Catch this for a unique-key conflict on either backend."""

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|%%")


class DatabaseError(ValueError):
    """A database URL or setting that cannot work, with the reason."""


class Cursor(Protocol):
    """What ``conn.execute`` answers on both backends."""

    @property
    def rowcount(self) -> int: ...

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Any: ...


def dialect_of(url: str) -> str:
    """``postgresql`` or ``sqlite`` from a database URL; DatabaseError for anything else."""
    if url.startswith(("postgresql://", "postgres://")):
        return POSTGRES
    if url.startswith(SQLITE_PREFIX):
        return SQLITE
    raise DatabaseError(
        f"database URL {url!r}: use postgresql://[user@]host[:port]/dbname or sqlite:///path/portal.db"
    )


MIN_SQLITE = (3, 35)  # RETURNING (and UPDATE ... FROM, window functions before it)


def sqlite_path(url: str) -> Path:
    """The file of an SQLite URL; DatabaseError without one, or when this SQLite is too old."""
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise DatabaseError(
            f"SQLite {sqlite3.sqlite_version} is too old for the portal: it needs "
            f"{'.'.join(map(str, MIN_SQLITE))} or newer (or use PostgreSQL)"
        )
    path = url[len(SQLITE_PREFIX) :].split("?", 1)[0]
    if not path or path == ":memory:":
        raise DatabaseError(f"database URL {url!r}: SQLite needs a file path (sqlite:///path/portal.db)")
    return Path(path)


@lru_cache(maxsize=1024)
def to_sqlite(sql: str) -> str:
    """psycopg placeholders to SQLite's: %s -> ?, %(name)s -> :name, %% -> %."""
    return _PLACEHOLDER.sub(
        lambda m: f":{m.group(1)}" if m.group(1) else "?" if m.group(0) == "%s" else "%", sql
    )


# ------------------------------------------------------------ values that differ by backend


def utcnow() -> datetime:
    """The time to pass where SQL would say ``now()`` (the same clock for both backends)."""
    return datetime.now(UTC)


def sqlite_time(value: datetime) -> str:
    """A time as SQLite keeps it: UTC ISO text with milliseconds, the same form as the
    schema's ``DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))``."""
    if value.tzinfo is None:
        raise ValueError("naive datetime passed to the database; use an aware (UTC) time")
    t = value.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def as_datetime(value: Any) -> datetime | None:
    """A timestamp column's value (datetime from PostgreSQL, ISO text from SQLite) as a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def iso(value: Any) -> str | None:
    """A timestamp column's value as ISO 8601 text (None stays None)."""
    t = as_datetime(value)
    return t.isoformat() if t is not None else None


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return sqlite_time(value)
    return value


def _sqlite_params(params: Any) -> Any:
    if params is None:
        return ()
    if isinstance(params, dict):
        return {k: _sqlite_value(v) for k, v in params.items()}
    return tuple(_sqlite_value(v) for v in params)


# ------------------------------------------------------------ connections


class Rows:
    """A finished SQLite statement's rows, with the cursor's surface."""

    __slots__ = ("_next", "_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[Any]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest


class Conn:
    """A connection inside one transaction, the same surface on both backends."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw  # psycopg.AsyncConnection or aiosqlite.Connection: for dialect-only code
        self.dialect = dialect

    @property
    def sqlite(self) -> bool:
        return self.dialect == SQLITE

    async def execute(self, sql: str, params: Any = None) -> Cursor:
        if self.dialect == SQLITE:
            # Read to the end at once: the statement is finished (an UPDATE ... RETURNING never
            # stays half-stepped at COMMIT) and rowcount is final. Long reads use chunks().
            async with self.raw.execute(to_sqlite(sql), _sqlite_params(params)) as cur:
                rows = await cur.fetchall()
                return Rows(rows, cur.rowcount)
        return await self.raw.execute(sql, params)  # type: ignore[no-any-return]

    async def executemany(self, sql: str, rows: Sequence[Any]) -> int:
        """Run a statement for each parameter row; return the rows changed in all."""
        if self.dialect == SQLITE:
            cur = await self.raw.executemany(to_sqlite(sql), [_sqlite_params(r) for r in rows])
            return int(cur.rowcount)
        async with self.raw.cursor() as cur:
            await cur.executemany(sql, rows)
            return int(cur.rowcount)

    async def fetchone(self, sql: str, params: Any = None) -> Any:
        return await (await self.execute(sql, params)).fetchone()

    async def fetchall(self, sql: str, params: Any = None) -> list[Any]:
        return list(await (await self.execute(sql, params)).fetchall())

    async def fetchval(self, sql: str, params: Any = None) -> Any:
        row = await self.fetchone(sql, params)
        return row[0] if row else None

    async def chunks(self, sql: str, params: Any = None, size: int = 2000) -> AsyncIterator[list[Any]]:
        """Rows in lists of ``size``, read as they are needed (a server-side cursor on
        PostgreSQL), so a long result never sits in memory."""
        if self.dialect == SQLITE:
            cur = await self.raw.execute(to_sqlite(sql), _sqlite_params(params))
            try:
                while batch := await cur.fetchmany(size):
                    yield list(batch)
                    if len(batch) < size:
                        break
            finally:
                await cur.close()
            return
        async with self.raw.cursor(name="chunks", binary=True) as cur:
            await cur.execute(sql, params)
            while batch := await cur.fetchmany(size):
                yield batch
                if len(batch) < size:
                    break  # the last chunk: spare the round trip that would fetch nothing

    async def bulk_insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        pg_types: Sequence[str] | None = None,
    ) -> None:
        """Insert many rows: COPY (binary when ``pg_types`` are given) on PostgreSQL, executemany on
        SQLite. ``table`` and ``columns`` are trusted names from the code, never user input."""
        cols = ", ".join(columns)
        if self.dialect == SQLITE:
            marks = ", ".join("?" * len(columns))
            await self.raw.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
            return
        fmt = " (FORMAT BINARY)" if pg_types else ""
        async with self.raw.cursor().copy(f"COPY {table} ({cols}) FROM STDIN{fmt}") as copy:
            if pg_types:
                copy.set_types(list(pg_types))
            for row in rows:
                await copy.write_row(row)

    def json(self, value: Any) -> Any:
        """A parameter for a JSON column."""
        return json.dumps(value) if self.dialect == SQLITE else Jsonb(value)

    def unjson(self, value: Any) -> Any:
        """A JSON column's value as Python data."""
        if self.dialect == SQLITE and isinstance(value, str | bytes):
            return json.loads(value)
        return value

    def array(self, values: Sequence[str]) -> Any:
        """A parameter for a text-array column (JSON text on SQLite)."""
        return json.dumps(list(values)) if self.dialect == SQLITE else list(values)

    def unarray(self, value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return list(json.loads(value))
        return list(value)


class Database:
    """A portal database: PostgreSQL through a psycopg pool, or an SQLite file."""

    dialect: str
    url: str

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def connection(self, *, readonly: bool = False) -> Any:
        """``async with db.connection() as conn``: one transaction (see the module docstring)."""
        raise NotImplementedError

    def exclusive(self, key: int) -> Any:
        """``async with db.exclusive(key)``: PostgreSQL's advisory lock ``key`` for the block."""
        raise NotImplementedError


class PostgresDatabase(Database):
    dialect = POSTGRES

    def __init__(self, url: str, *, schema: str | None = None, min_size: int = 1, max_size: int = 8) -> None:
        self.url = with_schema(url, schema)
        self.schema = schema
        self._active: dict[asyncio.Task[Any], Conn] = {}  # the task's open transaction (nesting)
        self.pool = AsyncConnectionPool(
            self.url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            configure=configure_connection,
            kwargs={"application_name": APPLICATION},
        )

    async def open(self) -> None:
        await self.pool.open(wait=True)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def exclusive(self, key: int) -> AsyncIterator[None]:
        """The advisory lock ``key`` held for the block, on a connection of its own: one holder at a
        time across processes and hosts. Taken before the block opens its transaction, so a
        REPEATABLE READ snapshot taken inside sees all a previous holder committed."""
        async with self.pool.connection() as raw:  # its transaction ends (and frees the lock) on exit
            await raw.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            yield

    @asynccontextmanager
    async def connection(self, *, readonly: bool = False) -> AsyncIterator[Conn]:
        task = asyncio.current_task()
        nested = self._active.get(task) if task is not None else None
        if nested is not None:
            yield nested  # inside this task's own transaction, as on SQLite
            return
        async with self.pool.connection() as raw:  # commits on exit, rolls back on an exception
            conn = Conn(raw, POSTGRES)
            if task is not None:
                self._active[task] = conn
            try:
                yield conn
            finally:
                if task is not None:
                    self._active.pop(task, None)


_PRAGMAS = ("PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 10000", "PRAGMA synchronous = FULL")


async def _sqlite_connect(path: Path) -> aiosqlite.Connection:
    raw = await aiosqlite.connect(path, isolation_level=None)  # we say BEGIN/COMMIT ourselves
    for pragma in _PRAGMAS:
        await raw.execute(pragma)
    return raw


class SqliteDatabase(Database):
    dialect = SQLITE

    def __init__(self, url: str, *, readers: int = 4) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.readers = readers
        self._writer: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._idle: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all: list[aiosqlite.Connection] = []

    async def open(self) -> None:
        self._lock = asyncio.Lock()  # bound to the serving loop
        self._idle = asyncio.Queue()
        self._writer = await _sqlite_connect(self.path)
        for _ in range(self.readers):
            raw = await _sqlite_connect(self.path)
            self._all.append(raw)
            self._idle.put_nowait(raw)

    async def close(self) -> None:
        for raw in [*self._all, *([self._writer] if self._writer else [])]:
            await raw.close()
        self._all.clear()
        self._writer = None

    @asynccontextmanager
    async def connection(self, *, readonly: bool = False) -> AsyncIterator[Conn]:
        if self._writer is None:
            raise RuntimeError("database not open")
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            yield Conn(self._writer, SQLITE)  # nested in this task's own transaction
            return
        if readonly:
            raw = await self._idle.get()
            done = False
            try:
                await raw.execute("BEGIN")  # one snapshot for the whole read
                yield Conn(raw, SQLITE)
                await raw.execute("COMMIT")
                done = True
            finally:  # also when a client left mid-stream and the read was cancelled
                await asyncio.shield(self._release(raw, done))
            return
        async with self._lock:
            self._owner = task
            done = False
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield Conn(self._writer, SQLITE)
                await self._writer.execute("COMMIT")
                done = True
            finally:  # an exception or a cancellation, even during BEGIN or COMMIT
                self._owner = None
                if not done:
                    await asyncio.shield(_roll_back(self._writer))

    async def _release(self, raw: aiosqlite.Connection, done: bool) -> None:
        """A reader back to the pool with no transaction open; one that cannot be rolled back is
        replaced (the next read would fail with "cannot start a transaction within a transaction")."""
        try:
            if not done:
                await _roll_back(raw)
        except Exception:
            self._all.remove(raw)
            with contextlib.suppress(Exception):
                await raw.close()
            raw = await _sqlite_connect(self.path)
            self._all.append(raw)
        self._idle.put_nowait(raw)


async def _roll_back(raw: aiosqlite.Connection) -> None:
    """Undo what a cut-short transaction left. Through the connection's own queue, so it runs
    after a BEGIN whose await was cancelled but which aiosqlite's thread still executes."""
    try:
        await raw.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "no transaction is active" not in str(exc):
            raise


def open_database(url: str, *, schema: str | None = None, pool_size: int = 8) -> Database:
    """The database for a URL (not yet opened). ``schema`` is PostgreSQL's only."""
    if dialect_of(url) == SQLITE:
        if schema:
            raise DatabaseError("--schema is for PostgreSQL; an SQLite portal is one file")
        return SqliteDatabase(url)
    return PostgresDatabase(url, schema=schema, max_size=pool_size)


# ------------------------------------------------------------ synchronous (admin tools, tests)


class SyncConn:
    """A synchronous connection in autocommit mode: each statement commits on its own."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect

    def execute(self, sql: str, params: Any = None) -> Any:
        if self.dialect == SQLITE:
            return self.raw.execute(to_sqlite(sql), _sqlite_params(params))
        return self.raw.execute(sql, params)


@contextmanager
def connect_sync(url: str, schema: str | None = None) -> Iterator[SyncConn]:
    if dialect_of(url) == SQLITE:
        raw = sqlite3.connect(sqlite_path(url), isolation_level=None)
        try:
            for pragma in _PRAGMAS:
                raw.execute(pragma)
            yield SyncConn(raw, SQLITE)
        finally:
            raw.close()
        return
    with psycopg.connect(with_schema(url, schema), autocommit=True) as pg:
        yield SyncConn(pg, POSTGRES)
