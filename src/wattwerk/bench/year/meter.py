"""An independent meter for ``wattwerk bench control``: reads the simulator's values after every
step, keeps per-slot grid energy from its counters, EV sessions, and checks every limit.

It never trusts a strategy: limits are checked on what the simulator did, not on what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from wattwerk.sim.site import SiteSim

TOL_W = 1.0  # W of float noise tolerated on a power limit


@dataclass
class Session:
    """One plug-in: AC energy requested (to the car's target) at arrival and delivered until departure."""

    arrival: float
    requested_wh: float
    start_energy_wh: float
    delivered_wh: float = 0.0
    departure: float | None = None


@dataclass
class Meter:
    sim: SiteSim
    n_slots: int
    start_t: float
    slot_s: int
    import_limit_w: float
    export_limit_w: float
    slot_import_wh: np.ndarray = field(init=False)
    slot_export_wh: np.ndarray = field(init=False)
    violations: dict[str, int] = field(default_factory=dict)
    sessions: list[Session] = field(default_factory=list)
    peak_import_w: float = 0.0
    _open: Session | None = None
    _last: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        self.slot_import_wh = np.zeros(self.n_slots)
        self.slot_export_wh = np.zeros(self.n_slots)
        g = self.sim.grid
        self._last = (g.energy_import, g.energy_export)
        ev = self.sim.evs[0] if self.sim.evs else None
        if ev is not None:  # the car is home at the start: that is a session too
            self._open = Session(self.sim.t, ev.energy_needed_wh, ev.energy)

    def _count(self, kind: str) -> None:
        self.violations[kind] = self.violations.get(kind, 0) + 1

    def after_step(self, dt_s: float) -> None:
        """Call after every ``sim.step``: books grid energy into its slot, checks limits, sessions."""
        sim = self.sim
        g = sim.grid
        i = int((sim.t - dt_s / 2 - self.start_t) // self.slot_s)
        imp, exp_ = g.energy_import, g.energy_export
        if 0 <= i < self.n_slots:
            self.slot_import_wh[i] += imp - self._last[0]
            self.slot_export_wh[i] += exp_ - self._last[1]
        self._last = (imp, exp_)
        if g.power > self.peak_import_w:
            self.peak_import_w = g.power
        if g.power > self.import_limit_w + TOL_W:
            self._count("grid_import")
        if -g.power > self.export_limit_w + TOL_W:
            self._count("grid_export")
        bat = sim.battery
        if bat is not None:
            p = bat.params
            if bat.power > p.max_discharge_w + TOL_W or -bat.power > p.max_charge_w + TOL_W:
                self._count("battery_power")
            if not p.soc_min - 1e-6 <= bat.soc <= p.soc_max + 1e-6:
                self._count("battery_soc")
        for ev in sim.evs:
            e = ev.params
            if ev.power < -TOL_W or ev.power > e.max_current_a * ev.phases * e.voltage_v + TOL_W:
                self._count("ev_power")
            if ev.power > TOL_W and not ev.plugged:
                self._count("ev_unplugged")
        hp = sim.heat_pump
        if hp is not None and hp.temperature > hp.params.max_store_c + 0.01:
            self._count("heat_pump_store")
        self._sessions(dt_s)

    def _sessions(self, dt_s: float) -> None:
        if not self.sim.evs:
            return
        ev = self.sim.evs[0]
        h = dt_s / 3600.0
        if self._open is not None and not ev.plugged:  # left at the start of this step
            s = self._open
            s.departure = self.sim.t - dt_s
            self.sessions.append(s)
            self._open = None
        elif self._open is None and ev.plugged:  # arrived at the start of this step
            charged = ev.power * h
            self._open = Session(self.sim.t - dt_s, ev.energy_needed_wh + charged, ev.energy - charged)
        if self._open is not None:
            self._open.delivered_wh = ev.energy - self._open.start_energy_wh

    def ev_delivered_pct(self) -> tuple[float, int, int]:
        """(% of requested energy delivered by departure, sessions, sessions short by more than 1 Wh);
        only sessions that ended (the car left) within the run count."""
        req = sum(s.requested_wh for s in self.sessions)
        got = sum(min(s.delivered_wh, s.requested_wh) for s in self.sessions)
        short = sum(1 for s in self.sessions if s.delivered_wh < s.requested_wh - 1.0)
        return (100.0 * got / req if req > 0 else 100.0), len(self.sessions), short


def cost_eur(import_wh: np.ndarray, export_wh: np.ndarray, buy: np.ndarray, sell: np.ndarray) -> float:
    """Energy bill (€) of per-slot grid energies (Wh) at per-slot prices (€/kWh)."""
    n = len(import_wh)
    return float((import_wh @ buy[:n] - export_wh @ sell[:n]) / 1000.0)
