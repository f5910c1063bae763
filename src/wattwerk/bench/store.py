"""``wattwerk bench store [--json]``: store inserts per second (batched, rollups maintained in the
same transaction) and rollup queries per second. Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wattwerk.model import ms
from wattwerk.store.sqlite import SqliteStore

START = datetime(2024, 1, 1, tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channels", type=int, default=20, help="channels written at 1 reading/s")
    parser.add_argument("--hours", type=float, default=24.0, help="hours of 1 s data to insert")
    parser.add_argument("--batch", type=int, default=200, help="readings per write (one transaction)")
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--dir", default=None, help="where to put the store files (default: a temp dir)")


def channel_names(count: int) -> list[str]:
    """A site's mix: a third power, a third energy counters, a third gauges."""
    kinds = ("power", "energy_import", "temperature")
    return [f"dev{i // 3}.{kinds[i % 3]}" for i in range(count)]


def batches(names: list[str], start_ms: int, seconds: int, step_ms: int, size: int) -> Iterator[list]:
    """Readings (channel, ts_ms, value) in time order, ``size`` per batch."""
    batch: list[tuple[str, int, float]] = []
    counters = dict.fromkeys(names, 1_000_000.0)
    for s in range(seconds):
        ts = start_ms + s * step_ms
        for i, name in enumerate(names):
            if name.endswith("energy_import"):
                counters[name] += 0.5 + (s % 7) * 0.1
                value = counters[name]
            else:
                value = 1000.0 + 800.0 * math.sin(s / 600 + i) + (s % 13)
            batch.append((name, ts, value))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def timed_writes(store: SqliteStore, gen: Iterator[list]) -> tuple[int, float, float]:
    """Readings written, wall seconds and CPU seconds spent in ``write`` (the CPU figure is the
    one to compare on a shared machine)."""
    count, wall, cpu = 0, 0.0, 0.0
    for batch in gen:
        w0, c0 = time.perf_counter(), time.process_time()
        store.write(batch)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        count += len(batch)
    return count, wall, cpu


def rate(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """Calls per wall second and per CPU second."""
    w0, c0 = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - w0), n / max(time.process_time() - c0, 1e-9)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        names = channel_names(args.channels)
        path = Path(tmp) / "day.db"
        seconds = int(args.hours * 3600)
        with SqliteStore(path, tz="Europe/Berlin") as store:
            n, spent, cpu = timed_writes(store, batches(names, ms(START), seconds, 1000, args.batch))
        size = os.path.getsize(path) + (os.path.getsize(f"{path}-wal") if Path(f"{path}-wal").exists() else 0)

        # A year of 10-minute data for two channels, for the month/year queries.
        year_path = Path(tmp) / "year.db"
        year_names = ["grid.power", "grid.energy_import"]
        with SqliteStore(year_path, tz="Europe/Berlin") as year:
            timed_writes(year, batches(year_names, ms(START), 366 * 144, 600_000, 1000))
            with SqliteStore(path, tz="Europe/Berlin") as day:
                day_q = rate(
                    lambda i: day.query([names[i % len(names)]], START, START + timedelta(days=1), "1m"),
                    args.queries,
                )
            month_q = rate(
                lambda i: year.query(
                    ["grid.power"],
                    START + timedelta(days=i % 300),
                    START + timedelta(days=i % 300 + 30),
                    "1h",
                ),
                args.queries,
            )
            year_q = rate(
                lambda i: year.query(["grid.energy_import"], START, START + timedelta(days=365), "1d"),
                args.queries,
            )
            energy_q = rate(
                lambda i: year.energy(
                    "grid.energy_import",
                    START + timedelta(hours=i % 24, minutes=7),
                    START + timedelta(days=200, minutes=3),
                ),
                args.queries,
            )
    figures = {
        "inserts_per_s": round(n / spent),
        "inserts_per_cpu_s": round(n / cpu),
        "load_avg": round(os.getloadavg()[0], 2),
        "readings": n,
        "channels": len(names),
        "batch": args.batch,
        "bytes_per_reading": round(size / n, 1),
        "queries_per_s": {
            "day_1m": round(day_q[0], 1),
            "month_1h": round(month_q[0], 1),
            "year_1d": round(year_q[0], 1),
            "energy_200d_mixed": round(energy_q[0], 1),
        },
        "queries_per_cpu_s": {
            "day_1m": round(day_q[1], 1),
            "month_1h": round(month_q[1], 1),
            "year_1d": round(year_q[1], 1),
            "energy_200d_mixed": round(energy_q[1], 1),
        },
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"store inserts: {figures['inserts_per_s']:,} readings/s "
            f"({figures['inserts_per_cpu_s']:,} per CPU second, load average {figures['load_avg']})\n"
            f"({n:,} readings, {len(names)} channels "
            f"at 1 s, batches of {args.batch}, rollups 1m/15m/1h/1d kept in the same transaction)"
        )
        print(f"disk: {figures['bytes_per_reading']} bytes per reading (raw + rollups)")
        for key, value in figures["queries_per_s"].items():
            print(f"query {key}: {value:,} queries/s ({figures['queries_per_cpu_s'][key]:,} per CPU second)")
    return 0
