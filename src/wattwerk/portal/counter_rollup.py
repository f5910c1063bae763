"""Counter validation in the portal's rollups, on the edge store's rules (``store/counters.py``).

A counter's raw readings are classified with the shared pure :func:`~wattwerk.store.counters.classify`
against the channel's anchor (the last valid reading already rolled up):

* a GLITCH (a meter briefly reporting 0, a lower total, a spike) is left out of the rollups:
  a gap, never a spike or a negative energy;
* a BASELINE after an anchor (a reset or a replaced meter, confirmed by the readings after it)
  starts a new *shift*: from then on the rollups hold ``value + shift``, with the shift chosen
  so the register continues where it was (no energy is attributed across the jump, and the
  energy after it counts). Each shift is kept in ``counter_baselines`` so raw values in series
  and late readings get the same correction.

Rollups of a counter therefore hold one continuous, validated register; the delta of any range
is still last(range) − last(before range).

This module is pure (no database): :func:`roll` works on one channel's rows, :func:`late_ok`
checks one late reading against the rolled-up neighbours.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from wattwerk.store.counters import BASELINE, GLITCH, CounterPolicy, classify, plausible

M5 = 300_000
LOOKAHEAD_MS = 30 * 60_000  # readings after the window that confirm (or refute) a reset near its end


@dataclass(frozen=True)
class Anchor:
    """The last valid reading rolled up: its time, the meter's value, the shift then in force."""

    ts_ms: int
    value: float
    shift: float = 0.0


@dataclass
class Bucket:
    """One 5-minute rollup of the continuous register (value + shift)."""

    n: int = 0
    total: float = 0.0
    min: float = float("inf")
    max: float = float("-inf")
    last: float = 0.0
    last_ts: int = -1

    def add(self, ts: int, value: float) -> None:
        self.n += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if ts >= self.last_ts:
            self.last, self.last_ts = value, ts

    def row(self, channel_id: int, bucket_ms: int) -> tuple[int, int, int, float, float, float, float, int]:
        mean = self.total / self.n
        return (channel_id, bucket_ms, self.n, mean, self.min, self.max, self.last, self.last_ts)


@dataclass
class Rolled:
    """What one channel's window gives: buckets, new baselines, the new anchor, glitches left out."""

    buckets: dict[int, Bucket] = field(default_factory=dict)
    baselines: list[tuple[int, float]] = field(default_factory=list)  # (from_ms, shift)
    anchor: Anchor | None = None
    glitches: int = 0


def registers(
    rows: Sequence[tuple[int, float]],
    anchor: Anchor | None,
    cut: int,
    policy: CounterPolicy,
    out: Rolled | None = None,
) -> list[tuple[int, float]]:
    """Validate a channel's readings (time order; those at or after ``cut`` only as look-ahead):
    the valid ones before ``cut`` as (ts, register), the register being value + shift. New
    baselines, glitches and the last valid reading (the new anchor) go into ``out``. The series
    use it for raw values not rolled up yet, so they count exactly what the rollups will."""
    out = out if out is not None else Rolled()
    ts = [t for t, _ in rows]
    values = [v for _, v in rows]
    status, _ = classify(ts, values, (anchor.ts_ms, anchor.value) if anchor else None, policy)
    prev = anchor
    shift = anchor.shift if anchor else 0.0
    kept: list[tuple[int, float]] = []
    for t, v, st in zip(ts, values, status, strict=True):
        if t >= cut:
            break
        if st == GLITCH:
            out.glitches += 1
            continue
        if st == BASELINE and prev is not None:
            new_shift = prev.value + prev.shift - v  # the register goes on from where it was
            if new_shift != shift:
                shift = new_shift
                out.baselines.append((t, shift))
        kept.append((t, v + shift))
        prev = Anchor(t, v, shift)
    out.anchor = prev
    return kept


def roll(rows: Sequence[tuple[int, float]], anchor: Anchor | None, cut: int, policy: CounterPolicy) -> Rolled:
    """Validate a channel's readings (time order; those at or after ``cut`` only as look-ahead)
    and roll those before ``cut`` into 5-minute buckets of the continuous register."""
    out = Rolled(anchor=anchor)
    for t, register in registers(rows, anchor, cut, policy, out):
        bucket = out.buckets.get(t // M5 * M5)
        if bucket is None:
            bucket = out.buckets[t // M5 * M5] = Bucket()
        bucket.add(t, register)
    return out


def shift_at(baselines: Sequence[tuple[int, float]], ts: int) -> float:
    """The shift in force at ``ts`` (baselines in time order)."""
    i = bisect_right([b[0] for b in baselines], ts)
    return baselines[i - 1][1] if i else 0.0


def late_ok(
    ts: int, register: float, before: tuple[int, float] | None, after: float | None, policy: CounterPolicy
) -> bool:
    """May a late reading (its value already shifted: ``register``) join the rollups? It must
    continue plausibly from the rolled-up value before it (``before``: time, value) and not
    exceed the first value after it (``after``); otherwise it is a glitch, left out."""
    if before is not None and not plausible(before[0], before[1], ts, register, policy.max_rate_per_h):
        return False
    return after is None or register <= after
