"""``wattwerk bench retention [--db URL] [--sites N] [--json]``: one run of the retention job.

The job (portal/retention.py) rolls each site's raw window up into 5-minute buckets; power
channels' energy is the covered-time integral of store/rollup.py, computed in Python reading
by reading, and counters are validated in Python too. This measures what one run costs at
``--sites`` sites in PostgreSQL: each site has ``--power`` power channels and one import
counter, reporting every ``--every-s`` seconds, and ``--minutes`` of raw values have become
old enough to roll up since the last run (the job's steady state when it runs that often).
The rest of the raw window (an hour) is there too, as in production.

Figures: the run's wall seconds, the readings it rolled up, readings/s, the seconds spent in
the Python passes (power integrals, counters), and the rate the sites upload at, so whether
the job keeps up is plain to see; and how long an edge's uploads took to commit while the run
went (a run that held them back would show its own length there). A fresh schema is created and
dropped. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from wattwerk.portal import retention
from wattwerk.portal.database import open_database
from wattwerk.portal.migrations import migrate
from wattwerk.portal.postgres import with_schema

M5, H1 = 300_000, 3_600_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=os.environ.get("WATTWERK_BENCH_PG", "postgresql://postgres@127.0.0.1/test")
    )
    parser.add_argument("--sites", type=int, default=10_000, help="sites in the database")
    parser.add_argument("--power", type=int, default=3, help="power channels per site (plus one counter)")
    parser.add_argument("--every-s", type=int, default=10, help="seconds between a channel's readings")
    parser.add_argument("--minutes", type=int, default=5, help="minutes of raw values each run rolls up")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark schema")


def _say(args: argparse.Namespace, text: str) -> None:
    print(text, flush=True, file=sys.stderr if args.json else sys.stdout)


def build(args: argparse.Namespace, url: str, now_ms: int) -> tuple[int, int]:
    """Sites, channels and raw values; returns (raw rows, rows due in this run)."""
    cut = (now_ms - H1) // M5 * M5  # the run's cut with the default raw window of an hour
    done = cut - args.minutes * 60_000
    step = args.every_s * 1000
    names = [(f"p{i}.power", "W", "power") for i in range(args.power)] + [
        ("grid.energy_import", "Wh", "counter")
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (name, tz, tz_source) SELECT 'bench_' || i, 'Europe/Berlin', 'edge' "
            "FROM generate_series(1, %s) i",
            (args.sites,),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO channels (site_id, name, unit, kind) SELECT id, %s, %s, %s FROM sites", names
            )
        conn.execute("INSERT INTO edges (site_id, name) SELECT id, 'edge' FROM sites")
        conn.execute(
            "INSERT INTO site_retention (site_id, done_ms, rolled_ms, days_tz) "
            "SELECT id, %s, %s, 'Europe/Berlin' FROM sites",
            (done, done),
        )
        lo_id, hi_id = conn.execute("SELECT min(id), max(id) FROM sites").fetchone()  # type: ignore[misc]
        rows = 0
        t0 = time.perf_counter()
        for lo in range(lo_id, hi_id + 1, 1000):
            hi = min(lo + 999, hi_id)
            cur = conn.execute(
                "INSERT INTO readings (edge_id, seq, channel_id, ts_ms, value) "
                "SELECT e.id, (c.id::bigint << 24) + (t - %(a)s) / %(step)s, c.id, t, "
                "CASE WHEN c.kind = 'counter' THEN 1e6 + (t - %(a)s) / 3600.0 "
                "ELSE 800 * sin(t / 1.2e6 + c.id) END FROM channels c JOIN edges e ON e.site_id = c.site_id "
                "CROSS JOIN generate_series(%(a)s::bigint, %(z)s::bigint, %(step)s::bigint) t "
                "WHERE c.site_id BETWEEN %(lo)s AND %(hi)s",
                {"a": done, "z": now_ms, "step": step, "lo": lo, "hi": hi},
            )
            rows += cur.rowcount
            _say(
                args,
                f"  sites {lo - lo_id + 1}..{hi - lo_id + 1}: {rows:,} raw rows, "
                f"{time.perf_counter() - t0:.0f} s",
            )
        conn.execute("VACUUM (ANALYZE) readings")
        due = conn.execute("SELECT count(*) FROM readings WHERE ts_ms < %s", (cut,)).fetchone()[0]  # type: ignore[index]
    return rows, int(due)


def _timed(fn: Callable[..., Awaitable[Any]], spent: dict[str, float], name: str) -> Callable[..., Any]:
    async def wrapper(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return await fn(*a, **kw)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t

    return wrapper


UPLOAD_EVERY_S = 0.2


async def _upload_while(url: str, running: asyncio.Event, ready: asyncio.Event) -> list[float]:
    """An edge uploading while the run goes: a reading of each of the first site's channels every
    ``UPLOAD_EVERY_S``, each batch its own transaction as ingest's are; the commit times (ms) of
    the batches begun while the run was going (a run that held uploads back shows here)."""
    took: list[float] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:  # each batch commits
        cur = await conn.execute(
            "SELECT e.id, c.id FROM edges e JOIN channels c ON c.site_id = e.site_id "
            "WHERE e.site_id = (SELECT min(id) FROM sites)"
        )
        pairs = await cur.fetchall()
        seq = 1 << 40  # past the benchmark's own seqs
        ready.set()
        while running.is_set():
            ts, t = int(time.time() * 1000), time.perf_counter()
            async with conn.transaction(), conn.cursor() as c:
                await c.executemany(
                    "INSERT INTO readings (edge_id, seq, channel_id, ts_ms, value) "
                    "VALUES (%s, %s, %s, %s, 1.0)",
                    [(edge, seq + k, ch, ts) for k, (edge, ch) in enumerate(pairs)],
                )
            took.append((time.perf_counter() - t) * 1000.0)
            seq += len(pairs)
            await asyncio.sleep(UPLOAD_EVERY_S)
    return took


async def measure(args: argparse.Namespace, schema: str, now_ms: int) -> dict[str, Any]:
    """One run of the job in one transaction, its Python passes timed apart, with an edge
    uploading meanwhile."""
    spent: dict[str, float] = {}
    passes = {"power_s": "_window_power", "counters_s": "_window_counters"}
    real = {name: getattr(retention, fn) for name, fn in passes.items()}
    for name, fn in passes.items():
        setattr(retention, fn, _timed(real[name], spent, name))
    db = open_database(args.db, schema=schema, pool_size=2)  # the run and its lock
    await db.open()
    running, ready = asyncio.Event(), asyncio.Event()
    running.set()
    uploads = asyncio.create_task(_upload_while(with_schema(args.db, schema), running, ready))
    await ready.wait()  # the edge is connected: its first batch goes with the run's start
    try:
        t = time.perf_counter()
        c = time.process_time()
        counts = await retention.run(db, now_ms)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        running.clear()
        took = await uploads
        await db.close()
        for name, fn in passes.items():
            setattr(retention, fn, real[name])
    return {
        "run_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        **{k: round(v, 2) for k, v in spent.items()},
        "uploads_during_run": len(took),
        "upload_commit_ms_max": round(max(took), 1) if took else None,
        "counts": counts,
    }


def run(args: argparse.Namespace) -> int:
    schema = f"bench_retention_{uuid.uuid4().hex[:8]}"
    migrate(args.db, schema)
    now_ms = int(time.time() * 1000)
    try:
        _say(args, f"building {args.sites:,} sites in schema {schema} ...")
        t = time.perf_counter()
        raw, due = build(args, with_schema(args.db, schema), now_ms)
        build_s = time.perf_counter() - t
        _say(args, f"  built in {build_s:.0f} s; one run of the retention job ...")
        figures = asyncio.run(measure(args, schema, now_ms))
    finally:
        if not args.keep:
            with psycopg.connect(args.db, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    channels = args.sites * (args.power + 1)
    result = {
        "sites": args.sites,
        "channels": channels,
        "raw_rows": raw,
        "rolled_readings": due,
        "readings_per_s": round(due / figures["run_s"]) if figures["run_s"] else None,
        # through the two per-reading passes alone (their SQL reads and writes included)
        "passes_readings_per_s": round(due / (figures.get("power_s", 0) + figures.get("counters_s", 0) or 1)),
        "upload_rate_per_s": round(channels / args.every_s),  # what the sites send, for comparison
        "minutes_per_run": args.minutes,
        "build_s": round(build_s, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        **figures,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"retention at {args.sites:,} sites: one run over {args.minutes} min of raw values "
            f"({due:,} readings) took {figures['run_s']} s "
            f"(power integrals {figures.get('power_s')} s, counters {figures.get('counters_s')} s); "
            f"{result['readings_per_s']:,} readings/s against {result['upload_rate_per_s']:,}/s uploaded"
        )
    return 0
