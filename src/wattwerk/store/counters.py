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
(see ``context_before``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

VALID, BASELINE, GLITCH = 0, 1, 2
STATUS_NAMES = {VALID: "valid", BASELINE: "baseline", GLITCH: "glitch"}


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
    ts: Sequence[int],
    values: Sequence[float],
    anchor: tuple[int, float] | None,
    policy: CounterPolicy,
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
