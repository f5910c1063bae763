"""The accumulators of a series: a ``Bucket`` assembled from rollup rows and raw values, and a
channel's ``Summary``, the sum of its buckets (see series.py for the rules)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from wattwerk.store import rollup

if TYPE_CHECKING:
    from wattwerk.portal.series import ChannelInfo


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


class Bucket:
    """One channel's bucket while it is assembled from rollup rows and raw values."""

    __slots__ = ("covered", "last", "last_ts", "mn", "mx", "n", "neg", "pos", "total")

    def __init__(self) -> None:
        self.n = 0
        self.total = 0.0
        self.mn = math.inf
        self.mx = -math.inf
        self.last = 0.0
        self.last_ts = -(2**62)
        self.pos: float | None = None
        self.neg: float | None = None
        self.covered: int | None = None

    def add_value(self, ts: int, value: float) -> None:
        self.n += 1
        self.total += value
        self.mn = min(self.mn, value)
        self.mx = max(self.mx, value)
        if ts >= self.last_ts:
            self.last, self.last_ts = value, ts

    def add_row(
        self,
        n: int,
        mean: float,
        mn: float,
        mx: float,
        last: float,
        last_ts: int,
        pos: float | None,
        neg: float | None,
        covered: int | None,
    ) -> None:
        self.n += int(n)
        self.total += float(mean) * int(n)
        self.mn = min(self.mn, mn)
        self.mx = max(self.mx, mx)
        if last_ts >= self.last_ts:
            self.last, self.last_ts = float(last), int(last_ts)
        if pos is not None:
            self.add_energy(float(pos), float(neg or 0.0), int(covered or 0))

    def add_energy(self, pos: float, neg: float, covered: int) -> None:
        self.pos = (self.pos or 0.0) + pos
        self.neg = (self.neg or 0.0) + neg
        self.covered = (self.covered or 0) + covered


class Summary:
    """A channel's summary, accumulated row by row: the sum of its buckets."""

    __slots__ = (
        "ch",
        "covered",
        "first",
        "last",
        "last_ts",
        "mn",
        "mx",
        "n",
        "neg",
        "pos",
        "prev",
        "total",
        "wh",
    )

    def __init__(self, ch: ChannelInfo) -> None:
        self.ch = ch
        self.n = 0
        self.total = 0.0
        self.mn = math.inf
        self.mx = -math.inf
        self.wh = 0.0
        self.pos = 0.0
        self.neg = 0.0
        self.covered = 0
        self.first: float | None = None
        self.last: float | None = None
        self.last_ts: int | None = None
        self.prev: float | None = None  # a counter's last value before the range

    def add_bucket(self, b: Bucket) -> tuple[float | None, float | None, float | None]:
        """Add a bucket; its (energy_wh, energy_out_wh, covered_s) as the series shows them."""
        return self.add(b.n, b.total, b.mn, b.mx, b.last, b.pos, b.neg, b.covered)

    def add(
        self,
        n: int,
        total: float,
        mn: float,
        mx: float,
        last: float,
        pos: float | None,
        neg: float | None,
        covered: int | None,
    ) -> tuple[float | None, float | None, float | None]:
        """Add a bucket by its fields (see :meth:`add_bucket`)."""
        counter = self.ch.kind == "counter"
        if n:
            if self.first is None:
                self.first = mn
            self.n += n
            self.total += total
            if mn < self.mn:
                self.mn = mn
            if mx > self.mx:
                self.mx = mx
            if not counter:
                self.last = last
        if counter:
            base = self.last if self.last is not None else self.prev if self.prev is not None else mn
            self.last = last
            if not n:
                return None, None, None
            self.wh += last - base
            return last - base, None, None
        if pos is None or not self.ch.integrated:
            return None, None, None
        self.pos += pos
        self.neg += neg or 0.0
        self.covered += covered or 0
        return pos, neg, (covered or 0) / 1000

    def add_raw(self, ts: int, value: float) -> None:
        if self.first is None:
            self.first = value
        elif (
            self.last_ts is not None and self.last is not None and 0 < ts - self.last_ts <= rollup.MAX_GAP_MS
        ):
            part = rollup.Energy()
            part.add_held(self.last, ts - self.last_ts)  # a value holds until the next one
            self.pos += part.pos_wh
            self.neg += part.neg_wh
            self.covered += part.covered_ms
        self.n += 1
        self.total += value
        self.mn = min(self.mn, value)
        self.mx = max(self.mx, value)
        self.last, self.last_ts = value, ts

    def result(self) -> dict[str, Any]:
        if not self.n:
            return {"n": 0, "min": None, "max": None, "mean": None, "energy_wh": None}
        out: dict[str, Any] = {
            "n": self.n,
            "min": _num(self.mn),
            "max": _num(self.mx),
            "mean": _num(self.total / self.n),
            "energy_wh": None,
        }
        if self.ch.kind == "counter" and self.ch.unit == "Wh" and self.last is not None:
            base = self.prev if self.prev is not None else self.first
            out["energy_wh"] = _num(self.last - base) if base is not None else None
        elif self.ch.integrated:
            out.update(
                energy_wh=_num(self.pos - self.neg),
                energy_in_wh=_num(self.pos),
                energy_out_wh=_num(self.neg),
                covered_s=_num(self.covered / 1000),
            )
        return out
