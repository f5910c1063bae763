"""Pure store helpers (buckets, counters), the buffered writer and `wattwerk export`."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from wattwerk.cli import main
from wattwerk.errors import RetryableError
from wattwerk.model import Reading, ms
from wattwerk.store import buckets
from wattwerk.store.buffer import BufferedWriter
from wattwerk.store.counters import (
    BASELINE,
    GLITCH,
    VALID,
    Change,
    CounterPolicy,
    classify,
    revalidate,
    split_context,
)
from wattwerk.store.sqlite import SqliteStore

BERLIN = ZoneInfo("Europe/Berlin")


def local_ms(*args: int, tz: ZoneInfo = BERLIN) -> int:
    return ms(datetime(*args, tzinfo=tz))


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        ("Europe/Berlin", (2024, 3, 31), 23),
        ("Europe/Berlin", (2024, 10, 27), 25),
        ("Europe/Berlin", (2024, 6, 1), 24),
        ("America/Santiago", (2024, 9, 8), 23),  # the clocks jump at midnight: day starts at 01:00
        ("Asia/Kolkata", (2024, 6, 1), 24),
    ],
)
def test_day_range_is_local_midnight_to_midnight(tz: str, day: tuple[int, int, int], hours: int) -> None:
    zi = ZoneInfo(tz)
    noon = local_ms(*day, 12, tz=zi)
    start, end = buckets.day_range(noon, tz)
    assert end - start == hours * 3_600_000
    assert datetime.fromtimestamp(start / 1000, zi).date() == datetime(*day).date()
    assert buckets.day_range(start, tz) == (start, end)
    assert buckets.day_range(end - 1, tz) == (start, end)
    assert buckets.day_range(end, tz)[0] == end


def test_fixed_buckets_are_utc_aligned() -> None:
    ts = ms(datetime(2024, 5, 6, 10, 37, 42, 123000, tzinfo=UTC))
    assert buckets.floor(ts, "1m") == ms(datetime(2024, 5, 6, 10, 37, tzinfo=UTC))
    assert buckets.floor(ts, "15m") == ms(datetime(2024, 5, 6, 10, 30, tzinfo=UTC))
    assert buckets.bucket(ts, "1h") == (
        ms(datetime(2024, 5, 6, 10, tzinfo=UTC)),
        ms(datetime(2024, 5, 6, 11, tzinfo=UTC)),
    )
    assert buckets.ceil(ts, "1h") == ms(datetime(2024, 5, 6, 11, tzinfo=UTC))
    assert buckets.child_of(*buckets.day_range(ts, "Asia/Kolkata"), "1d") == "15m"
    assert buckets.child_of(*buckets.day_range(ts, "Europe/Berlin"), "1d") == "1h"


def test_cover_tiles_a_range_with_the_coarsest_whole_buckets() -> None:
    start = local_ms(2024, 10, 25, 22, 7) + 42
    end = local_ms(2024, 10, 29, 1, 30)
    pieces = buckets.cover(start, end, "Europe/Berlin")
    assert [p[1] for p in pieces[1:]] == [p[2] for p in pieces[:-1]]  # contiguous
    assert pieces[0][1] == start and pieces[-1][2] == end
    levels = [p[0] for p in pieces]
    assert levels == ["raw", "1m", "15m", "1h", "1d", "1h", "15m"]
    assert (pieces[4][1], pieces[4][2]) == (local_ms(2024, 10, 26), local_ms(2024, 10, 29))


def test_classify_counter_sequences() -> None:
    policy = CounterPolicy(max_rate_per_h=10_000, confirm=3)
    minute = 60_000
    ts = [i * minute for i in range(9)]
    values = [100.0, 150, 0, 250, 10, 20, 30, 40, 1_000_000]
    status, inc = classify(ts, values, None, policy)
    assert status == [BASELINE, VALID, GLITCH, VALID, BASELINE, VALID, VALID, VALID, GLITCH]
    assert inc == [0.0, 50.0, None, 100.0, 0.0, 10.0, 10.0, 10.0, None]
    # with an anchor, the first reading is judged against it
    assert classify([10 * minute], [95.0], (9 * minute, 100.0), policy) == ([GLITCH], [None])
    with pytest.raises(ValueError):
        CounterPolicy(confirm=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_buffered_writer_flushes_on_size_age_and_close(tmp_path: Path) -> None:
    t0 = datetime(2024, 5, 6, tzinfo=UTC)
    clock = FakeClock()
    with SqliteStore(tmp_path / "s.db") as store:
        buf = BufferedWriter(store, max_readings=10, max_age_s=30, clock=clock)
        for i in range(25):
            buf.add(Reading("pv.power", t0 + timedelta(seconds=i), float(i)))
        assert buf.flushes == 2 and len(buf) == 5
        clock.now = 29.0
        assert buf.poll() is None and len(buf) == 5
        clock.now = 30.0
        assert buf.poll().accepted == 5 and len(buf) == 0
        buf.add(Reading("pv.power", t0 + timedelta(seconds=99), 1.0))
        buf.add(("pv.power", ms(t0), float("nan")))
        result = buf.close()
        assert result.accepted == 1 and [k for _, k, _ in result.rejected] == ["value"]
        assert buf.totals.accepted == 26 and buf.flushes == 4
        assert len(store.query(["pv.power"], t0, t0 + timedelta(hours=1), "raw")["pv.power"]) == 26


def test_locked_database_is_retryable_and_the_buffer_keeps_its_readings(tmp_path: Path) -> None:
    t0 = datetime(2024, 5, 6, tzinfo=UTC)
    with SqliteStore(tmp_path / "s.db", busy_timeout_s=0.05) as store:
        buf = BufferedWriter(store, max_readings=100)
        buf.extend(Reading("pv.power", t0 + timedelta(seconds=i), 1.0) for i in range(3))
        other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        with pytest.raises(RetryableError, match="locked"):
            buf.flush()
        assert len(buf) == 3
        other.execute("ROLLBACK")
        assert buf.flush().accepted == 3
        assert len(store.raw_rows("pv.power", t0, t0 + timedelta(minutes=1))) == 3


def test_export_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    t0 = datetime(2024, 5, 5, 22, tzinfo=UTC)  # local midnight in Berlin
    with SqliteStore(db, tz="Europe/Berlin") as store:
        store.write(
            [
                Reading("grid.energy_import", t0 + timedelta(minutes=15 * i), 1000.0 + 25 * i)
                for i in range(12)
            ]
        )
        store.write([Reading("grid.power", t0 + timedelta(minutes=15 * i), 100.0 * i) for i in range(12)])
    code = main(["export", str(db), "--channels", "grid.energy_import,grid.power",
                 "--from", "2024-05-06", "--to", "2024-05-06T03:00", "--resolution", "1h"])  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    energy = [r for r in rows if r["channel"] == "grid.energy_import"]
    power = [r for r in rows if r["channel"] == "grid.power"]
    assert [r["ts"] for r in energy] == [
        "2024-05-05T22:00:00Z",
        "2024-05-05T23:00:00Z",
        "2024-05-06T00:00:00Z",
    ]
    assert [float(r["energy"]) for r in energy] == [75.0, 100.0, 100.0]
    assert [float(r["mean"]) for r in power] == [150.0, 550.0, 950.0]
    assert power[0]["energy"] == "" and power[0]["count"] == "4"

    assert main(["export", str(tmp_path / "missing.db")]) == 2
    assert "no such store" in capsys.readouterr().err
    assert main(["export", str(db), "--channels", "grid.nothing"]) == 2
    assert main(["export", str(db), "--from", "yesterday"]) == 2
    assert "bad time" in capsys.readouterr().err


def test_a_failed_write_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t0 = datetime(2024, 5, 6, tzinfo=UTC)
    with SqliteStore(tmp_path / "s.db") as store:
        store.write([Reading("pv.power", t0, 1.0)])

        def disk_full(dirty: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(store, "_refresh", disk_full)
        with pytest.raises(RetryableError, match="disk is full"):
            store.write([Reading("bat.soc", t0, 50.0)])
        monkeypatch.undo()
        other = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        # a channel created by another writer meanwhile takes the next id
        other.execute("INSERT INTO channels (name, unit, kind) VALUES ('ev1.power', 'W', 'power')")
        store.write([Reading("bat.soc", t0, 55.0), Reading("ev1.power", t0, 7.0)])
        assert store.latest() == {
            "pv.power": Reading("pv.power", t0, 1.0),
            "bat.soc": Reading("bat.soc", t0, 55.0),
            "ev1.power": Reading("ev1.power", t0, 7.0),
        }


def test_revalidate_asks_for_more_rows_until_the_ripple_ends() -> None:
    policy = CounterPolicy(max_rate_per_h=10_000, confirm=3)
    minute = 60_000
    stored = [(i * minute, 100.0 + 10 * i, VALID, 10.0) for i in range(1, 12)]
    # a late reading at 0:30 between the anchor (0) and the first stored row
    new = {30_000: 102.0}
    assert revalidate((0, 100.0), [], stored[:3], new, at_end=False, policy=policy) is None
    changes = revalidate((0, 100.0), [], stored[:8], new, at_end=False, policy=policy)
    assert changes == [Change(30_000, 102.0, VALID, 2.0, None), Change(minute, 110.0, VALID, 8.0, VALID)]
    before = [(-minute * i, 50.0, GLITCH, None) for i in range(1, 4)]
    assert split_context(before, policy, settled=-(2**63), complete=False) is None
    assert split_context(before, policy, settled=-(2**63), complete=True) == (before[::-1], None)
    assert split_context([*before, (-9 * minute, 40.0, VALID, 1.0)], policy, -(2**63), True) == (
        before[::-1],
        (-9 * minute, 40.0),
    )
