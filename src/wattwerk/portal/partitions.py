"""Monthly partitions of raw readings and 5-minute rollups on PostgreSQL (issue 19).

Migration 0200 partitions ``readings`` (by ``ts_ms``) and ``rollup_5m`` (by ``bucket_ms``) by
UTC month with PostgreSQL's native declarative partitioning. This job keeps them: it creates
this month's and the next ``AHEAD`` months' partitions before any row needs them, and DROPs a
past month's partition once nothing in it may stay, instead of deleting its rows one by one.

Why the portal's own job and not pg_partman: no extension to install (pg_partman is not on
every managed PostgreSQL, and not on this box), it works on any PostgreSQL >= 13, and it is a
few dozen lines over one SQL function of the migration (``ww_ensure_partition``), which also
moves rows out of the DEFAULT partition when their month is created.

What is dropped when:

* ``rollup_5m``: a past month whose every row is past its site's ``m5_keep_s`` (a site that
  keeps 5-minute values forever, or has no policy yet, keeps the month). Per-site retention is
  finer than a month, so the retention job's DELETE stays for sites whose keep ends inside a
  month; the DROP takes whole months of rows off it.
* ``readings``: raw values are kept one hour by default and per site (``raw_keep_s``,
  ``archive``), far finer than a month, and a late value must be merged into its rollup
  before it goes: the retention job's DELETE stays. A past month is dropped once empty, which
  frees its space at once instead of waiting for VACUUM.

Every step is its own short transaction under ``lock_timeout``: a step that cannot get its
locks while long queries run gives up and is tried at the next run; ingest and queries never
fail because of it. Runs of several portal hosts are serialised by an advisory lock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from wattwerk.portal.database import SQLITE, Conn, Database

log = logging.getLogger(__name__)

TABLES = {"readings": "ts_ms", "rollup_5m": "bucket_ms"}
AHEAD = 2  # months created ahead of the current one
LOCK_TIMEOUT = "2s"
_LOCK = 0x70617274  # "part": advisory lock of the job

_ENSURE = "SELECT ww_ensure_partition(%s, %s, %s, %s, %s)"  # migration 0200
_KEEPERS = {  # a row of a past month that must stay (the month's partition is kept)
    "readings": "SELECT 1 FROM {part} LIMIT 1",
    "rollup_5m": (
        "SELECT 1 FROM {part} x LEFT JOIN site_retention s ON s.site_id = x.site_id "
        "WHERE s.m5_keep_s IS NULL OR x.bucket_ms >= %(now)s - s.m5_keep_s * 1000 LIMIT 1"
    ),
}


def month_lo(ms: int) -> int:
    """The first millisecond of the UTC month holding ``ms``."""
    t = datetime.fromtimestamp(ms / 1000, UTC)
    return int(datetime(t.year, t.month, 1, tzinfo=UTC).timestamp() * 1000)


def month_hi(ms: int) -> int:
    """The first millisecond of the UTC month after the one holding ``ms``."""
    t = datetime.fromtimestamp(month_lo(ms) / 1000, UTC)
    y, m = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return int(datetime(y, m, 1, tzinfo=UTC).timestamp() * 1000)


def part_name(table: str, ms: int) -> str:
    """``readings_p202612``: the partition of ``table`` for the month holding ``ms``."""
    return f"{table}_p{datetime.fromtimestamp(ms / 1000, UTC):%Y%m}"


def part_month(name: str) -> int | None:
    """The first millisecond of a partition's month from its name (None: not a month's)."""
    tail = name.rsplit("_p", 1)[-1]
    if len(tail) != 6 or not tail.isdigit():
        return None
    return int(datetime(int(tail[:4]), int(tail[4:]), 1, tzinfo=UTC).timestamp() * 1000)


async def _step(db: Database, what: str, work: Callable[[Conn], Awaitable[Any]]) -> Any:
    """``work`` in its own transaction under the job's lock and ``lock_timeout``; its result,
    or None when the locks were not to be had now (tried again at the next run)."""
    import psycopg

    try:
        async with db.connection() as conn:
            await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            return await work(conn)
    except psycopg.errors.LockNotAvailable:
        log.info("partitions: %s: locks not available now, trying at the next run", what)
        return None


async def ensure(db: Database, now_ms: int, ahead: int = AHEAD) -> list[str]:
    """Create this month's and the next ``ahead`` months' partitions; return those created."""
    created = []
    for table, col in TABLES.items():
        lo = month_lo(now_ms)
        for _ in range(ahead + 1):
            hi = month_hi(lo)
            name = part_name(table, lo)
            args = (table, name, lo, hi, col)
            if await _step(db, name, lambda c, a=args: c.fetchval(_ENSURE, a)):  # type: ignore[misc]
                created.append(name)
            lo = hi
    return created


async def months(db: Database, table: str) -> list[tuple[str, int]]:
    """(name, first millisecond) of each month partition of ``table``, oldest first."""
    async with db.connection(readonly=True) as conn:
        rows = await conn.fetchall(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            (table,),
        )
    out = [(name, part_month(name)) for (name,) in rows]
    return sorted((n, m) for n, m in out if m is not None)


async def _drop_if_expired(db: Database, table: str, part: str, now_ms: int) -> bool:
    """DROP ``part`` when nothing in it may stay, checked under the parent's lock (taken
    first, as queries do, so no row arrives between the check and the drop)."""

    async def work(conn: Conn) -> bool:
        await conn.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        if await conn.fetchone(_KEEPERS[table].format(part=f'"{part}"'), {"now": now_ms}):
            return False
        await conn.execute(f'DROP TABLE "{part}"')
        return True

    return bool(await _step(db, part, work))


async def drop_expired(db: Database, now_ms: int) -> list[str]:
    """DROP every past month's partition nothing in which may stay; return those dropped."""
    dropped = []
    current = month_lo(now_ms)
    for table in TABLES:
        for name, lo in await months(db, table):
            if lo >= current:
                break
            if await _drop_if_expired(db, table, name, now_ms):
                dropped.append(name)
    return dropped


async def maintain(db: Database, now_ms: int) -> dict[str, list[str]]:
    """The job: create the months ahead, drop the expired ones (PostgreSQL; SQLite: nothing)."""
    if db.dialect == SQLITE:
        return {"created": [], "dropped": []}
    out = {"created": await ensure(db, now_ms), "dropped": await drop_expired(db, now_ms)}
    if out["created"] or out["dropped"]:
        log.info("partitions: %s", out)
    return out
