"""Property: whatever order counter and power readings arrive in (several batches, late,
duplicated, with glitches, gaps and resets), the store's rollups agree with its raw data and
with the true consumption, across DST days in Europe/Berlin."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattwerk.model import from_ms, ms
from wattwerk.store import aggregate, buckets
from wattwerk.store.counters import GLITCH, CounterPolicy, classify
from wattwerk.store.sqlite import SqliteStore

TZ = "Europe/Berlin"
POLICY = CounterPolicy(max_rate_per_h=20_000, confirm=4)
COUNTER, POWER = "grid.energy_import", "grid.power"
STARTS = [
    datetime(2024, 3, 30, 14, tzinfo=UTC),  # spring forward: a 23 h day
    datetime(2024, 10, 26, 14, tzinfo=UTC),  # fall back: a 25 h day
    datetime(2024, 6, 1, 20, tzinfo=UTC),
]
EVENTS = ["ok"] * 12 + ["glitch_zero", "glitch_low", "glitch_two", "spike", "reset"]
SPACING = POLICY.confirm + 2  # steps between events, so each one is recognisable

step = st.tuples(
    st.one_of(st.integers(1_000, 2 * 3_600_000), st.integers(4 * 3_600_000, 12 * 3_600_000)),  # dt in ms
    st.floats(0, 1),  # fraction of 10 kW average power
    st.sampled_from(EVENTS),
    st.integers(-3000, 8000),  # power reading in W
)


def glitch_value(kind: str, level: int) -> int:
    """What a misbehaving meter reports instead of ``level``."""
    return {"glitch_zero": 0, "spike": level + 10**9}.get(kind, level // 2)


def build(start: datetime, offset: int, level: int, steps: list) -> tuple[list, list, int]:
    """Counter readings as the meter reports them, power readings, and the true energy (Wh)
    the store can know: the first reading has no predecessor, and the interval of a meter
    replacement is lost."""
    t = ms(start) + offset
    counter, power = [], []
    energy = 0
    glitch_left, glitch_kind = 0, ""
    last_event = 0
    for i, (dt, frac, event, watts) in enumerate(steps, start=1):
        t += dt
        power.append((t, float(watts)))
        inc = int(frac * 10_000 * dt / 3_600_000)
        if event != "ok" and i - last_event >= SPACING and len(steps) - i >= SPACING:
            last_event = i
            if event == "reset":
                level -= 1_000_000 + inc * 7
                counter.append((t, level))
                continue
            glitch_kind, glitch_left = event, (2 if event == "glitch_two" else 1)
        level += inc
        if i > 1:
            energy += inc
        reported = level
        if glitch_left:
            glitch_left -= 1
            reported = glitch_value(glitch_kind, level)
        counter.append((t, reported))
    return counter, power, energy


scenario = st.tuples(
    st.sampled_from(STARTS),
    st.integers(0, 3_600_000),
    st.integers(50_000_000, 60_000_000),
    st.lists(step, min_size=SPACING * 2, max_size=90),
    st.randoms(use_true_random=False),
    st.integers(1, 6),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
def test_day_equals_hours_equals_raw_increments(case: tuple) -> None:
    start, offset, level, steps, rnd, nbatches = case
    counter, power, true_energy = build(start, offset, level, steps)
    readings = [(COUNTER, t, float(v)) for t, v in counter] + [(POWER, t, v) for t, v in power]
    readings += rnd.sample(readings, k=len(readings) // 10)  # duplicates, same values
    rnd.shuffle(readings)  # out of order, late arrivals across batches
    cuts = sorted(rnd.randrange(len(readings) + 1) for _ in range(nbatches - 1))
    with tempfile.TemporaryDirectory() as tmp, SqliteStore(Path(tmp) / "s.db", tz=TZ, policy=POLICY) as store:
        for lo, hi in zip([0, *cuts], [*cuts, len(readings)], strict=True):
            result = store.write(readings[lo:hi])
            assert not result.rejected
        raw = store.raw_rows(COUNTER, from_ms(0), from_ms(2**42))
        check_counter(store, counter, raw, true_energy)
        check_power(store, power)


def check_counter(store: SqliteStore, counter: list, raw: list, true_energy: int | None) -> None:
    # Built up batch by batch, the validation equals one pass over the final data.
    stamps = [t for t, _ in counter]
    status, inc = classify(stamps, [float(v) for _, v in counter], None, POLICY)
    assert [(r[0], r[2], r[3]) for r in raw] == list(zip(stamps, status, inc, strict=True))
    valid_incs = [(t, i) for t, s, i in zip(stamps, status, inc, strict=True) if s != GLITCH]
    total = sum(i for _, i in valid_incs)
    if true_energy is not None:
        assert total == true_energy  # glitches are gaps, resets add nothing

    first, last = buckets.day_range(stamps[0], TZ)[0], buckets.day_range(stamps[-1], TZ)[1]
    span = (from_ms(first), from_ms(last))
    rows = {res: store.query([COUNTER], *span, res)[COUNTER] for res in ("1m", "15m", "1h", "1d")}
    days = rows["1d"]
    assert days, "no day rollup"
    for day in days:
        d0, d1 = buckets.day_range(ms(day.ts), TZ)
        in_day = [i for t, i in valid_incs if d0 <= t < d1]
        for res in ("1h", "15m", "1m"):
            parts = [r.energy for r in rows[res] if d0 <= ms(r.ts) < d1]
            assert sum(parts) == day.energy, (res, from_ms(d0))
        assert sum(in_day) == day.energy
        hours = {ms(r.ts) for r in rows["1h"] if d0 <= ms(r.ts) < d1}
        assert len(hours) <= (d1 - d0) // 3_600_000
    assert sum(d.energy for d in days) == total
    assert store.energy(COUNTER, *span) == total


def check_power(store: SqliteStore, power: list) -> None:
    points = [(t, v, None) for t, v in power]
    first, last = buckets.day_range(power[0][0], TZ)[0], buckets.day_range(power[-1][0], TZ)[1]
    for res in ("15m", "1h", "1d"):
        expected = aggregate.rollup(points, lambda t, res=res: buckets.floor(t, res, TZ))
        got = {ms(r.ts): r for r in store.query([POWER], from_ms(first), from_ms(last), res)[POWER]}
        assert set(got) == set(expected)
        for b, agg in expected.items():
            row = got[b]
            assert (row.count, row.min, row.max, row.last) == (agg.n, agg.min, agg.max, agg.last)
            assert abs(row.mean - agg.mean) <= 1e-9 * max(1.0, abs(agg.mean))
            assert row.energy is None


chaotic_step = st.tuples(
    st.integers(1_000, 3 * 3_600_000),  # dt in ms
    st.integers(0, 5_000),  # Wh the meter really counted
    st.sampled_from(["ok"] * 6 + ["zero", "lower", "spike", "reset"]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(STARTS),
    st.lists(chaotic_step, min_size=1, max_size=80),
    st.randoms(use_true_random=False),
    st.integers(1, 8),
)
def test_any_arrival_order_gives_the_in_order_result(
    start: datetime, steps: list, rnd, nbatches: int
) -> None:
    """Glitches and jumps anywhere, even inside a reset's first readings: batch by batch and out
    of order, the store ends where one in-order pass over the final data ends, and day = hours
    = raw increments still holds."""
    t, level = ms(start), 1_000_000
    counter = []
    for dt, inc, kind in steps:
        t += dt
        level += inc
        if kind == "reset":
            level //= 3
        glitch = {"zero": 0, "lower": level // 2, "spike": level + 10**8}
        counter.append((t, glitch.get(kind, level)))
    readings = [(COUNTER, ts, float(v)) for ts, v in counter]
    rnd.shuffle(readings)
    cuts = sorted(rnd.randrange(len(readings) + 1) for _ in range(nbatches - 1))
    with tempfile.TemporaryDirectory() as tmp, SqliteStore(Path(tmp) / "s.db", tz=TZ, policy=POLICY) as store:
        for lo, hi in zip([0, *cuts], [*cuts, len(readings)], strict=True):
            store.write(readings[lo:hi])
        check_counter(store, counter, store.raw_rows(COUNTER, from_ms(0), from_ms(2**42)), None)
