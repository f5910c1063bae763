"""The embedded store on a real SQLite file: counters, late data, duplicates, queries,
retention, bad input."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from wattwerk.errors import PermanentError
from wattwerk.model import Reading, ms
from wattwerk.store.counters import CounterPolicy, classify
from wattwerk.store.sqlite import SqliteStore

T0 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
E, P = "grid.energy_import", "grid.power"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def counter(values: list[tuple[float, float]]) -> list[Reading]:
    """Counter readings from (minutes after T0, Wh)."""
    return [Reading(E, at(m), v) for m, v in values]


@pytest.fixture
def store(tmp_path: Path):
    with SqliteStore(tmp_path / "store.db", policy=CounterPolicy(max_rate_per_h=50_000, confirm=4)) as s:
        yield s


def energy_by(store: SqliteStore, res: str, start: datetime = T0, end: datetime | None = None) -> list[float]:
    end = end or T0 + timedelta(days=1)
    if res == "1d":
        start = start.replace(hour=0, minute=0)
    return [r.energy for r in store.query([E], start, end, res)[E]]


def test_wal_mode_and_synchronous_normal(store: SqliteStore) -> None:
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 1  # NORMAL
    other = sqlite3.connect(store.path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persisted in the file


def test_glitch_to_zero_is_a_gap_not_a_spike(store: SqliteStore) -> None:
    result = store.write(counter([(0, 1000), (1, 1100), (2, 0), (3, 1300), (4, 1400)]))
    assert result.glitches == 1
    assert store.glitch_count(E) == 1
    per_minute = energy_by(store, "1m")
    assert per_minute == [0.0, 100.0, 200.0, 100.0]  # the 0 reading's minute has no row
    assert max(per_minute) < 1000
    assert store.energy(E, T0, at(60)) == 400.0
    assert [r.mean for r in store.query([E], T0, at(60), "raw")[E]] == [1000, 1100, 1300, 1400]


def test_two_lower_readings_are_a_gap(store: SqliteStore) -> None:
    store.write(counter([(0, 5000), (1, 5100), (2, 4000), (3, 4001), (4, 5300), (5, 5350)]))
    assert store.glitch_count(E) == 2
    assert store.energy(E, T0, at(60)) == 350.0
    assert min(energy_by(store, "1m")) >= 0


def test_impossible_power_is_a_glitch(store: SqliteStore) -> None:
    # 1 MWh within a minute (60 MW) on a channel limited to 50 kW
    store.write(counter([(0, 5000), (1, 5100), (2, 1_005_100), (3, 5200), (4, 5300)]))
    assert store.glitch_count(E) == 1
    assert store.energy(E, T0, at(60)) == 300.0


def test_meter_reset_becomes_a_new_baseline(store: SqliteStore) -> None:
    result = store.write(
        counter([(0, 5000), (1, 5100), (2, 5200), (3, 10), (4, 20), (5, 30), (6, 45), (7, 50)])
    )
    assert result.resets == 2  # the first reading and the new meter
    assert store.glitch_count(E) == 0
    assert store.energy(E, T0, at(60)) == 200.0 + 40.0
    assert energy_by(store, "1m")[3] == 0.0  # nothing attributed across the jump


def test_reset_is_confirmed_by_a_later_batch(store: SqliteStore) -> None:
    first = store.write(counter([(0, 5000), (1, 5100), (2, 5200), (3, 10)]))
    assert first.glitches == 1  # not yet known to be a reset
    second = store.write(counter([(4, 20), (5, 30), (6, 40)]))
    assert second.glitches == -1 and second.resets == 1
    assert store.glitch_count(E) == 0
    assert store.energy(E, T0, at(60)) == 200.0 + 30.0


def test_late_counter_reading_moves_energy_between_buckets(store: SqliteStore) -> None:
    store.write(counter([(0, 0), (120, 200), (180, 300)]))
    day = energy_by(store, "1d")
    assert energy_by(store, "1h") == [0.0, 200.0, 100.0]
    late = store.write(counter([(90, 150)]))  # 11:30
    assert late.accepted == 1
    assert energy_by(store, "1h") == [0.0, 150.0, 50.0, 100.0]
    assert energy_by(store, "15m") == [0.0, 150.0, 50.0, 100.0]
    assert [r.energy for r in store.query([E], at(90), at(91), "1m")[E]] == [150.0]
    assert energy_by(store, "1d") == day == [300.0]


def test_late_power_reading_updates_every_rollup(store: SqliteStore) -> None:
    store.write([Reading(P, at(m), 100.0) for m in range(0, 60) if m != 30])
    store.write([Reading(P, at(120), 100.0)])
    day = T0.replace(hour=0)
    before = {res: store.query([P], day, at(24 * 60), res)[P] for res in ("1m", "15m", "1h", "1d")}
    assert before["1h"][0].count == 59 and before["1h"][0].max == 100.0
    store.write([Reading(P, at(30.5), 6000.0)])
    after = {res: store.query([P], day, at(24 * 60), res)[P] for res in ("1m", "15m", "1h", "1d")}
    assert after["1m"][30].max == 6000.0 and after["1m"][30].count == 1
    assert after["15m"][2].max == 6000.0 and after["15m"][2].count == 15
    assert after["1h"][0].count == 60 and after["1h"][0].max == 6000.0
    assert after["1h"][0].mean == pytest.approx((59 * 100 + 6000) / 60)
    assert after["1d"][0].count == before["1d"][0].count + 1 and after["1d"][0].max == 6000.0
    assert after["1h"][0].last == 100.0  # 10:59 is still the hour's last reading


def test_duplicates_are_idempotent_and_last_write_wins(store: SqliteStore, caplog) -> None:
    store.write([Reading(P, at(0), 100.0), Reading(P, at(0.5), 300.0)])
    same = store.write([Reading(P, at(0), 100.0)])
    assert (same.duplicates, same.accepted) == (1, 0)
    assert store.query([P], T0, at(1), "1m")[P][0].mean == 200.0
    with caplog.at_level(logging.INFO, logger="wattwerk.store"):
        changed = store.write([Reading(P, at(0), 500.0)])
    assert (changed.replaced, changed.accepted) == (1, 1)
    assert "last write wins" in caplog.text
    row = store.query([P], T0, at(1), "1m")[P][0]
    assert (row.count, row.mean, row.max) == (2, 400.0, 500.0)
    assert [r.mean for r in store.query([P], T0, at(1), "raw")[P]] == [500.0, 300.0]


def test_queries_by_resolution(store: SqliteStore) -> None:
    readings = [Reading(P, T0 + timedelta(seconds=s), float(s % 100)) for s in range(2 * 3600)]
    result = store.write(readings)
    assert result.accepted == 7200
    end = T0 + timedelta(hours=2)
    rows = {res: store.query([P], T0, end, res)[P] for res in ("raw", "1m", "15m", "1h", "1d")}
    assert [len(rows[r]) for r in ("raw", "1m", "15m", "1h")] == [7200, 120, 8, 2]
    assert all(r.count == 60 for r in rows["1m"]) and all(r.count == 3600 for r in rows["1h"])
    assert [r.ts for r in rows["1h"]] == [T0, T0 + timedelta(hours=1)]
    assert rows["1h"][0].mean == pytest.approx(sum(s % 100 for s in range(3600)) / 3600)
    assert (rows["1h"][0].min, rows["1h"][0].max, rows["1h"][1].last) == (0.0, 99.0, 99.0)
    assert rows["1d"] == []  # the UTC day starts before T0
    day = store.query([P], T0.replace(hour=0), end, "1d")[P]
    assert len(day) == 1 and day[0].count == 7200 and day[0].energy is None
    assert store.query(["pv.power"], T0, end, "1h") == {"pv.power": []}
    with pytest.raises(ValueError, match="resolution"):
        store.query([P], T0, end, "5m")
    with pytest.raises(ValueError, match="no timezone"):
        store.query([P], T0.replace(tzinfo=None), end, "1h")


def test_energy_over_unaligned_ranges_matches_raw(store: SqliteStore) -> None:
    store.write(counter([(m * 7, 1000 + m * m) for m in range(400)]))  # ~2 days
    raw = store.query([E], T0, at(3 * 24 * 60), "raw")[E]
    for start, end in [(T0, at(400 * 7)), (at(13.25), at(2000.5)), (at(61), at(119)), (at(-600), at(5000))]:
        expected = sum(r.energy for r in raw if start <= r.ts < end)
        assert store.energy(E, start, end) == expected
    store.write([Reading(P, T0, 1.0)])
    with pytest.raises(ValueError, match="not a counter"):
        store.energy(P, T0, at(1))


def test_latest_per_channel(store: SqliteStore) -> None:
    store.write([*counter([(0, 100), (1, 200), (2, 0)]), Reading(P, at(5), 42.0), Reading(P, at(3), 7.0)])
    latest = store.latest()
    assert latest[E] == Reading(E, at(1), 200.0)  # the glitch is not a value
    assert latest[P] == Reading(P, at(5), 42.0)
    assert store.latest(["nothing.power"]) == {}


def test_bad_input_is_rejected_counted_and_never_stored(store: SqliteStore) -> None:
    bad = [
        ("grid.bogus", ms(T0), 1.0),
        ("Grid Power", ms(T0), 1.0),
        (P, ms(T0), float("nan")),
        (P, ms(T0), float("inf")),
        (P, T0.replace(tzinfo=None), 1.0),
        (P, ms(T0), "12"),
        "grid.power=5",
    ]
    result = store.write([*bad, Reading(P, at(1), 5.0)])
    assert [kind for _, kind, _ in result.rejected] == [
        "channel", "channel", "value", "value", "timestamp", "value", "garbage",
    ]  # fmt: skip
    assert "unknown quantity 'bogus'" in result.rejected[0][2]
    assert "not finite" in result.rejected[2][2]
    assert result.accepted == 1
    assert [c.name for c in store.channels()] == [P]
    assert [r.mean for r in store.query([P], T0, at(60), "raw")[P]] == [5.0]
    assert store.ledger.by_kind("grid") == {"channel": 1, "value": 3, "timestamp": 1}
    assert store.ledger.total() == 7


def test_reopen_with_another_timezone_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "s.db", tz="Europe/Berlin").close()
    with pytest.raises(PermanentError, match="Europe/Berlin"):
        SqliteStore(tmp_path / "s.db", tz="UTC")
    assert SqliteStore.open_existing(tmp_path / "s.db").tz == "Europe/Berlin"
    with pytest.raises(ValueError, match="timezone"):
        SqliteStore(tmp_path / "t.db", tz="Mars/Olympus")


@pytest.mark.parametrize(("day", "hours"), [(datetime(2024, 3, 31), 23), (datetime(2024, 10, 27), 25)])
def test_day_buckets_follow_local_midnight_on_dst_days(tmp_path: Path, day: datetime, hours: int) -> None:
    with SqliteStore(tmp_path / "s.db", tz="Europe/Berlin") as store:
        start = day.replace(tzinfo=UTC) - timedelta(hours=3)
        store.write([Reading(P, start + timedelta(minutes=30 * i), 1.0) for i in range(2 * 30)])
        days = store.query([P], start - timedelta(days=1), start + timedelta(days=2), "1d")[P]
        midnight = day.replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
        full = [d for d in days if d.ts == midnight]
        assert len(full) == 1 and full[0].count == 2 * hours
        nxt = full[0].ts + timedelta(hours=hours)
        assert [d.ts for d in days if d.ts > full[0].ts] == [nxt]


def test_a_second_connection_sees_channels_added_after_it_opened(store: SqliteStore) -> None:
    with SqliteStore(store.path) as reader:
        assert reader.latest() == {}
        store.write([Reading(P, T0, 5.0), *counter([(0, 10), (1, 20)])])
        assert reader.latest()[P].value == 5.0
        assert [r.count for r in reader.query([E], T0, at(60), "1h")[E]] == [2]
        assert reader.energy(E, T0, at(60)) == 10.0


def test_replacing_a_counter_value_revalidates_its_neighbours(store: SqliteStore) -> None:
    store.write(counter([(0, 100), (1, 200), (2, 300), (3, 400)]))
    changed = store.write(counter([(1, 250)]))
    assert changed.replaced == 1
    assert energy_by(store, "1m") == [0.0, 150.0, 50.0, 100.0]
    broken = store.write(counter([(2, 0)]))  # the meter's value at 10:02 corrected to garbage
    assert broken.glitches == 1
    assert energy_by(store, "1m") == [0.0, 150.0, 150.0]
    assert store.energy(E, T0, at(60)) == 300.0


def test_day_rollups_in_a_half_hour_zone_come_from_quarter_hours(tmp_path: Path) -> None:
    tz = ZoneInfo("Asia/Kolkata")
    start = datetime(2024, 5, 6, tzinfo=tz)
    with SqliteStore(tmp_path / "s.db", tz="Asia/Kolkata") as store:
        store.write([Reading(E, start + timedelta(minutes=10 * i), 1000.0 + 7 * i * i) for i in range(400)])
        end = start + timedelta(days=4)
        days = store.query([E], start, end, "1d")[E]
        raw = store.query([E], start, end, "raw")[E]
        assert [d.ts for d in days] == [start + timedelta(days=i) for i in range(3)]
        for day in days:
            inside = [r.energy for r in raw if day.ts <= r.ts < day.ts + timedelta(days=1)]
            quarters = store.query([E], day.ts, day.ts + timedelta(days=1), "15m")[E]
            assert day.energy == sum(inside) == sum(q.energy for q in quarters)
            assert day.count == len(inside)


def test_a_late_glitch_inside_a_reset_is_judged_as_if_it_came_in_order(store: SqliteStore) -> None:
    readings = [
        (0, 5000),
        (1, 5100),
        (2, 5200),
        (3, 10),
        (4, 20),
        (5, 30),
        (6, 40),
        (7, 50),
        (8, 60),
        (9, 70),
    ]
    store.write(counter(readings))
    store.write(counter([(4.5, 0)]))  # arrives late, right inside the new meter's first readings
    final = sorted([*readings, (4.5, 0)])
    stamps = [ms(at(m)) for m, _ in final]
    status, inc = classify(stamps, [float(v) for _, v in final], None, store.policy)
    assert [(r[0], r[2], r[3]) for r in store.raw_rows(E, T0, at(60))] == list(
        zip(stamps, status, inc, strict=True)
    )
    assert store.energy(E, T0, at(60)) == sum(i for i in inc if i is not None)
