"""Monotonic validation of energy counters: a pure function every backend shares.

Each reading of a counter is classified against the previous *valid* reading:

* VALID — the counter did not go down and the increment implies a plausible rate
  (at most ``max_rate_per_h`` units per hour, 1 MW for Wh counters by default). It carries
  its increment; a bucket's energy is the sum of the increments of its readings.
* BASELINE — the first reading, or a genuine reset / meter replacement: the counter jumped
  (down, or implausibly up) and then continued from the new level for ``confirm`` readings
  in a row without the old level coming back. Its increment is 0: no energy is attributed
  across the jump.
* GLITCH — a reading that is neither (a meter briefly reporting 0, a lower total, or a
  spike). It is kept on disk but dropped from the sequence: a gap, never a spike.

A reading's class depends on the state before it and on at most ``confirm - 1`` readings
after it, which bounds how far back a late reading forces re-validation
(see ``context_before``). ``split_context`` and ``revalidate`` are the windowing a backend
runs around each batch of new readings; the backend only loads and stores rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

VALID, BASELINE, GLITCH = 0, 1, 2
STATUS_NAMES = {VALID: "valid", BASELINE: "baseline", GLITCH: "glitch"}

# A stored raw row: (ts_ms, value, status, increment)
RawRow = tuple[int, float, int, float | None]


@dataclass(frozen=True, slots=True)
class CounterPolicy:
    """How strict counter validation is.

    ``max_rate_per_h``: the largest believable increase per hour (W for a Wh counter).
    ``confirm``: readings at a new level (the jump included) that make it a reset.
    """

    max_rate_per_h: float = 1_000_000.0
    confirm: int = 4

    def __post_init__(self) -> None:
        if self.confirm < 2:
            raise ValueError("confirm must be at least 2 readings")
        if not self.max_rate_per_h > 0:
            raise ValueError("max_rate_per_h must be positive")

    @property
    def context_before(self) -> int:
        """Readings before a change whose class may change with it."""
        return self.confirm - 1


def plausible(t0: int, v0: float, t1: int, v1: float, max_rate_per_h: float) -> bool:
    """Does going from (t0, v0) to (t1, v1) (ms, units) look like a working counter?"""
    d = v1 - v0
    return d >= 0 and d * 3_600_000 <= max_rate_per_h * (t1 - t0)


def classify(
    ts: Sequence[int], values: Sequence[float], anchor: tuple[int, float] | None, policy: CounterPolicy
) -> tuple[list[int], list[float | None]]:
    """Status and increment of each reading of a time-ordered series.

    ``anchor`` is the last valid (ts, value) before the series, None at the start of data.
    Glitches get increment None, baselines 0.
    """
    n = len(ts)
    rate = policy.max_rate_per_h
    status: list[int] = [GLITCH] * n
    inc: list[float | None] = [None] * n
    prev = anchor
    for i in range(n):
        t, v = ts[i], values[i]
        if prev is None:
            status[i], inc[i], prev = BASELINE, 0.0, (t, v)
        elif plausible(prev[0], prev[1], t, v, rate):
            status[i], inc[i], prev = VALID, v - prev[1], (t, v)
        elif _new_level(ts, values, i, prev, policy):
            status[i], inc[i], prev = BASELINE, 0.0, (t, v)
    return status, inc


def _new_level(
    ts: Sequence[int], values: Sequence[float], i: int, prev: tuple[int, float], policy: CounterPolicy
) -> bool:
    """Does the series continue from reading i's level for ``confirm`` readings, without the
    old level (``prev``) coming back and without another jump?"""
    last = i
    count = 1
    j = i + 1
    rate = policy.max_rate_per_h
    while count < policy.confirm and j < len(ts):
        if plausible(prev[0], prev[1], ts[j], values[j], rate):
            return False  # the old sequence resumes: reading i was a glitch
        if not plausible(ts[last], values[last], ts[j], values[j], rate):
            return False
        last, count, j = j, count + 1, j + 1
    return count >= policy.confirm


@dataclass(frozen=True, slots=True)
class Change:
    """A row to write: a new reading, or a stored one whose class or increment changed.
    ``was`` is the stored status (None for a new reading)."""

    ts: int
    value: float
    status: int
    inc: float | None
    was: int | None


def split_context(
    before: Sequence[RawRow], policy: CounterPolicy, settled: int, complete: bool
) -> tuple[list[RawRow], tuple[int, float] | None] | None:
    """From the stored rows before the first new reading (newest first): the rows to re-classify
    (oldest first) and the anchor, the valid row before them. Rows older than ``settled`` (the
    raw horizon) are never re-classified and a valid one anchors at once. ``complete``: there
    are no older rows than those given. None when more rows are needed."""
    skip = policy.context_before
    for i, row in enumerate(before):
        if row[2] != GLITCH and (i >= skip or row[0] < settled):
            return [r for r in before[:i][::-1] if r[0] >= settled], (row[0], row[1])
    if complete:
        return [r for r in before[::-1] if r[0] >= settled], None
    return None


def revalidate(
    anchor: tuple[int, float] | None,
    back: Sequence[RawRow],
    fwd: Sequence[RawRow],
    new: Mapping[int, float],
    at_end: bool,
    policy: CounterPolicy,
) -> list[Change] | None:
    """Classify the stored rows around new readings (``back`` before the first new one,
    ``fwd`` from it on, in time order) with the new readings merged in, and return what
    changed. Past the last new reading the first row that keeps its stored non-glitch class
    ends the ripple; if ``fwd`` ends before that (and ``at_end`` is false) the caller must load
    more rows: None."""
    seq: dict[int, tuple[float, tuple[int, float | None] | None]] = {
        r[0]: (r[1], (r[2], r[3])) for r in (*back, *fwd)
    }
    for ts, value in new.items():
        seq[ts] = (value, None)
    stamps = sorted(seq)
    values = [seq[ts][0] for ts in stamps]
    status, inc = classify(stamps, values, anchor, policy)
    tmax = max(new)
    n = len(stamps)
    last_trusted = n if at_end else n - policy.confirm  # later rows lack their look-ahead
    cut = n if at_end else None
    for i in range(n):
        if stamps[i] <= tmax:
            continue
        if i > last_trusted:
            break
        if status[i] != GLITCH and seq[stamps[i]][1] == (status[i], inc[i]):
            cut = i
            break
    if cut is None:
        return None
    changes = []
    for i in range(cut):
        old = seq[stamps[i]][1]
        if old != (status[i], inc[i]):
            changes.append(Change(stamps[i], values[i], status[i], inc[i], None if old is None else old[0]))
    return changes
