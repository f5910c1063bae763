"""The export limiter of ``wattwerk bench control``: PV curtailment at the grid connection.

Every strategy runs behind the same limiter, as every strategy on the real edge runs behind the one
limiter (``control/limiter.py``): the edge holds an export limit by curtailing PV only after the
battery and the flexible loads have taken what they take (PV is cut last), and it reads the meter
every second. The simulator steps every 5 minutes, so the limiter acts inside the step on that
step's loads (``SiteSim.pv_limiter``): it writes each inverter's ``power_limit`` so the export the
battery does not absorb stays at the limit (and, when the PV is already at 0, lowers a discharging
battery's setpoint, as the edge's limiter does), and lifts it (to the rating) when nothing needs cutting.

The curtailed energy is counted (what the arrays could have produced minus what they did).
"""

from __future__ import annotations

from dataclasses import dataclass

from wattwerk.sim.site import SiteSim


@dataclass
class ExportLimiter:
    """Caps export at ``limit_w`` (W) by PV power limits; ``curtailed_wh`` is the PV held back."""

    limit_w: float
    curtailed_wh: float = 0.0
    steps_curtailed: int = 0
    battery_lowered: int = 0  # steps where cutting PV was not enough and the battery's discharge was lowered

    def __call__(self, sim: SiteSim, load_w: float, mid: float, dt_s: float) -> None:
        avail = [a.available.at(mid) for a in sim.pv]
        total = sum(avail)
        residual = load_w - total
        bat = sim.battery.response(residual, dt_s) if sim.battery is not None else 0.0
        if sim.battery is not None and sim.battery.rule is not None:  # the fast loop saw the uncut PV
            sim.command(sim.battery.name, "battery_setpoint", bat)
        export = -(residual - bat)
        cut = max(export - self.limit_w, 0.0)
        cut = min(cut, total)
        for a, w in zip(sim.pv, avail, strict=True):
            if cut > 0 and total > 0:  # each array gives up its share
                sim.command(a.name, "power_limit", max(w - cut * w / total, 0.0))
            elif a.power_limit < w:  # lifted: back to the inverter's rating (or what it offers, if more)
                sim.command(a.name, "power_limit", max(a.rating_w, w))
        if cut > 0:
            self.curtailed_wh += cut * dt_s / 3600.0
            self.steps_curtailed += 1
        left = export - cut - self.limit_w  # with the PV at 0: a discharging battery is lowered at once
        if left > 0 and bat > 0 and sim.battery is not None:
            sim.command(sim.battery.name, "battery_setpoint", max(bat - left, 0.0))
            self.battery_lowered += 1
