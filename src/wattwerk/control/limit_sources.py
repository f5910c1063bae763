"""The limiter's first stage: every limit source read once per cycle.

Sources: the site file's fixed limits (``config.site_limits``: the connection point's import and
export, a fixed feed-in limit in % of kWp, peak shaving), the ripple-control receiver's contacts, a
direct marketer's signal, limits from outside (``control.inbound``) and the §14a signal. A silent
signal (its channels missing or older than ``fallback_after_s``) gives its fail-safe: the last
level (``keep``) or the level the site file names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from wattwerk.config.limits import ControlLimits
from wattwerk.config.site_limits import fixed_limits
from wattwerk.control.inbound import inbound_limits
from wattwerk.control.limit_types import GridSpec, LimiterState
from wattwerk.control.prediction import CycleView
from wattwerk.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class Limits:
    """What is in force this cycle. ``active``: import limits (``import:*``), export limits
    (``export:*``) and the §14a aggregate (``para14a``), W; ``sources``: the restriction sources
    active now with their level, for the episode log; ``silent``: signals whose contacts went quiet."""

    active: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    ripple_pattern: str | None = None
    para14a_on: bool = False
    silent: frozenset[str] = frozenset()

    @property
    def exports(self) -> list[float]:
        return [w for k, w in self.active.items() if k.startswith("export:")]


@dataclass(frozen=True, slots=True)
class LimitSources:
    grid: GridSpec
    limits: ControlLimits
    pv_rated_w: float
    para14a_total_w: float = 0.0

    def read(self, snap: Snapshot | CycleView, state: LimiterState) -> Limits:
        silent = self._silent_signals(snap)
        pattern = self._ripple_pattern(snap, state, "ripple" in silent)
        p14_on = self._para14a_on(snap, state, "para14a" in silent)
        active = fixed_limits(self.grid.import_w, self.grid.export_w, self.limits, self.pv_rated_w)
        sources: dict[str, str] = {}
        self._ripple(pattern, active, sources)
        self._direct_marketer(snap, active, sources)
        if self.limits.inbound is not None:  # control.inbound: limits over 104, the Modbus server, OpenADR
            more, why = inbound_limits(snap, self.limits.inbound.names(), self.pv_rated_w)
            active.update(more)
            sources.update(why)
        p14 = self.limits.para14a
        if p14 is not None and p14_on:
            sources["para14a"] = p14.mode
            if p14.mode == "aggregate":
                active["para14a"] = self.para14a_total_w
        return Limits(active, sources, pattern, p14_on, silent)

    def _silent(self, snap: Snapshot | CycleView, channels: Iterable[str]) -> bool:
        """A signal's channels are missing or older than ``fallback_after_s``."""
        limit = self.limits.fallback_after_s
        for ch in channels:
            age = snap.age(ch)
            if snap.get(ch) is None or age is None or age > limit:
                return True
        return False

    def _silent_signals(self, snap: Snapshot | CycleView) -> frozenset[str]:
        lim = self.limits
        out = set()
        if lim.ripple is not None and self._silent(snap, lim.ripple.contacts):
            out.add("ripple")
        if lim.para14a is not None and self._silent(snap, [lim.para14a.signal]):
            out.add("para14a")
        return frozenset(out)

    def _ripple_pattern(self, snap: Snapshot | CycleView, state: LimiterState, silent: bool) -> str | None:
        r = self.limits.ripple
        if r is None:
            return None
        if silent:  # receiver silent: its fail-safe, or the last level it signalled
            return state.ripple_pattern if r.on_stale == "keep" else r.on_stale
        return "".join("1" if snap.get(c) else "0" for c in r.contacts)

    def _para14a_on(self, snap: Snapshot | CycleView, state: LimiterState, silent: bool) -> bool:
        p14 = self.limits.para14a
        if p14 is None:
            return False
        if silent:
            return state.para14a_on if p14.on_stale == "keep" else p14.on_stale == "on"
        return (snap.get(p14.signal) or 0.0) != 0.0

    def _ripple(self, pattern: str | None, active: dict[str, float], sources: dict[str, str]) -> None:
        r = self.limits.ripple
        if r is None or pattern is None:
            return
        for level in r.levels:
            if level.pattern != pattern:
                continue
            if level.feed_in_pct < 100:
                active["export:ripple"] = level.feed_in_pct / 100.0 * self.pv_rated_w
            if level.consumption_pct < 100 and self.grid.import_w is not None:
                active["import:ripple"] = level.consumption_pct / 100.0 * self.grid.import_w
            if level.feed_in_pct < 100 or level.consumption_pct < 100:
                sources["ripple"] = f"{pattern}:{level.feed_in_pct:g}%/{level.consumption_pct:g}%"

    def _direct_marketer(
        self, snap: Snapshot | CycleView, active: dict[str, float], sources: dict[str, str]
    ) -> None:
        dm = self.limits.direct_marketer
        value = None if dm is None else snap.get(dm.signal)
        if dm is None or value is None:
            return
        watts = value / 100.0 * self.pv_rated_w if dm.unit == "pct" else value
        if watts < self.pv_rated_w or dm.unit == "w":
            active["export:direct_marketer"] = max(watts, 0.0)
            sources["direct_marketer"] = f"{value:g}{'%' if dm.unit == 'pct' else ' W'}"
