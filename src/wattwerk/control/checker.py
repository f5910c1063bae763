"""An independent judge of limits: it reads only what the site itself shows (the simulator's
own values, or a real site's meters) and the limits as the grid operator set them, never the
limiter's state or output. Used by the closed-loop tests and ``wattwerk demo`` scenarios.

A violation is a cycle in which a limit is exceeded by more than ``tolerance_w`` and was already
exceeded the cycle before: a change of load, weather or limit may show for one cycle (the
controller can only react to what it has seen), never longer.

An import-side violation is *unavoidable* when the site could not have shed the excess at all:
``flexible(values)`` says how many W of import the controllable devices could have given up at
that moment (chargers' draw, a battery's unused discharge, a rod that follows its setpoint); what
uncontrollable loads draw above the limit beyond that is counted apart (``unavoidable``), so a
scenario is judged on the control's own (avoidable) violations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    """The limits in force at a time (W, A). None: no such limit."""

    import_w: float | None = None
    export_w: float | None = None
    phase_w: float | None = None
    para14a_w: float | None = None  # grid draw of the controllable consumers together
    circuits: Sequence[tuple[Sequence[str], float]] = ()  # (charger ids, max A per phase)


@dataclass
class LimitChecker:
    """``observe(t, values)`` after every cycle, values by channel name in our units and signs.

    ``consumers`` are the §14a devices with the sign that makes their draw positive (+1 for a
    load, -1 for a battery, whose power is + discharging); a charger's phases come from ``<id>.phases``."""

    limits_at: Callable[[float], Limits]
    consumers: Mapping[str, float] = field(default_factory=dict)
    tolerance_w: float = 1.0
    flexible: Callable[[Mapping[str, float]], float] | None = None  # W of import the site could shed
    violations: Counter[str] = field(default_factory=Counter)
    unavoidable: Counter[str] = field(default_factory=Counter)  # of ``violations``: beyond all flexibility
    max_excess_w: float = 0.0
    max_avoidable_w: float = 0.0
    cycles: int = 0
    _over: set[str] = field(default_factory=set)

    def excesses(self, t: float, v: Mapping[str, float]) -> dict[str, float]:
        lim = self.limits_at(t)
        grid = v["grid.power"]
        out: dict[str, float] = {}
        if lim.import_w is not None:
            out["import"] = grid - lim.import_w
        if lim.export_w is not None:
            out["export"] = -grid - lim.export_w
        if lim.phase_w is not None:
            for i in (1, 2, 3):
                out[f"phase_l{i}"] = v[f"grid.power_l{i}"] - lim.phase_w
        if lim.para14a_w is not None:
            draw = sum(max(v.get(f"{d}.power", 0.0) * sign, 0.0) for d, sign in self.consumers.items())
            out["para14a"] = min(draw, max(grid, 0.0)) - lim.para14a_w
        for k, (ids, max_a) in enumerate(lim.circuits):
            amps = [0.0, 0.0, 0.0]
            for d in ids:
                current = v.get(f"{d}.current", 0.0)
                if v.get(f"{d}.phases", 3.0) == 1.0:
                    amps[0] += current
                else:
                    amps = [a + current for a in amps]
            out[f"circuit{k}"] = (max(amps) - max_a) * 230.0
        return out

    def observe(self, t: float, values: Mapping[str, float]) -> None:
        self.cycles += 1
        over = set()
        for name, excess in self.excesses(t, values).items():
            if excess > self.tolerance_w:
                over.add(name)
                if name in self._over:
                    self.violations[name] += 1
                    self.max_excess_w = max(self.max_excess_w, excess)
                    avoidable = self._avoidable_w(name, excess, values)
                    self.max_avoidable_w = max(self.max_avoidable_w, avoidable)
                    if avoidable <= self.tolerance_w:
                        self.unavoidable[name] += 1
        self._over = over

    def _avoidable_w(self, name: str, excess: float, values: Mapping[str, float]) -> float:
        """The part of an excess the site could have shed (all of it without ``flexible`` or for
        limits other than the grid import)."""
        if self.flexible is None or name != "import":
            return excess
        return min(excess, max(self.flexible(values), 0.0))

    @property
    def total(self) -> int:
        return sum(self.violations.values())

    @property
    def avoidable(self) -> int:
        """Violations the control could have prevented."""
        return self.total - sum(self.unavoidable.values())
