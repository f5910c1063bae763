"""The ``emhass`` strategy: the same requests as the planner's (same forecasts, prices, no peeking),
solved by EMHASS in a subprocess running another venv's Python (``emhass_driver``), its
plan executed by the same real-time laws. EMHASS models the EV as a deferrable load (hours at
nominal power before a deadline) and the battery with a final SoC equal to the current one."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from wattwerk.bench.year.emhass_driver import MARKER
from wattwerk.bench.year.laws import Planned
from wattwerk.bench.year.rules import THREE_PHASE_MAX_W
from wattwerk.control.plan_model import Plan, PlanRequest

DRIVER = Path(__file__).with_name("emhass_driver.py")


def read_answer(stream: TextIO) -> dict[str, Any]:
    """The driver's next answer: the next line after ``MARKER``; other lines (a solver's banner that
    still reached stdout) are passed on to stderr."""
    for line in iter(stream.readline, ""):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
        sys.stderr.write(line)
    raise RuntimeError("the EMHASS driver ended without an answer (see its messages above)")


@dataclass
class Emhass(Planned):
    python: str = ""
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    def _driver(self) -> subprocess.Popen:
        if self._proc is None:
            self._proc = subprocess.Popen(
                [self.python, str(DRIVER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        return self._proc

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()  # type: ignore[union-attr]
            self._proc.wait(timeout=30)
            self._proc = None

    def solve(self, req: PlanRequest) -> Plan:
        n = req.n
        b = req.batteries[0]
        hours, end = 0.0, 0
        if req.evs and req.evs[0].energy_wh > 0:
            ev = req.evs[0]
            end = ev.deadline if ev.deadline is not None else n
            hours = ev.energy_wh / ev.efficiency / THREE_PHASE_MAX_W
        q = {
            "start": req.start.isoformat(),
            "slot_minutes": req.slot_minutes,
            "load_w": np.asarray(req.load_w, float).tolist(),
            "pv_w": np.asarray(req.pv_w, float).tolist(),
            "buy": np.asarray(req.buy_eur_per_kwh, float).tolist(),
            "sell": np.broadcast_to(np.asarray(req.sell_eur_per_kwh, float), (n,)).tolist(),
            "soc": b.soc_pct / 100.0,
            "ev_hours": hours,
            "ev_end": int(end),
            "ev_max_w": THREE_PHASE_MAX_W,
            "bat": {
                "capacity_wh": b.capacity_wh,
                "max_charge_w": b.max_charge_w,
                "max_discharge_w": b.max_discharge_w,
                "eff_charge": b.eff_charge,
                "eff_discharge": b.eff_discharge,
                "soc_min": b.soc_min_pct / 100.0,
                "soc_max": b.soc_max_pct / 100.0,
            },
            "max_import_w": req.max_import_w,
            "max_export_w": req.max_export_w,
        }
        proc = self._driver()
        proc.stdin.write(json.dumps(q) + "\n")  # type: ignore[union-attr]
        a = read_answer(proc.stdout)  # type: ignore[arg-type]
        grid = np.asarray(a["grid_w"], float)
        buy = np.asarray(req.buy_eur_per_kwh, float)
        sell = np.broadcast_to(np.asarray(req.sell_eur_per_kwh, float), (n,)).copy()
        status = "optimal" if str(a["status"]).lower().startswith("optimal") else str(a["status"])[:60]
        plan = Plan(
            req.start,
            req.slot_minutes,
            status,
            "emhass",
            float(a["ms"]),
            "cost",
            buy,
            sell,
            np.asarray(req.pv_w, float),
            np.asarray(req.load_w, float),
            np.maximum(grid, 0),
            np.maximum(-grid, 0),
            np.zeros(n),
        )
        plan.devices["bat"] = {"power_w": np.asarray(a["bat_w"], float)}
        plan.devices["ev1"] = {"power_w": np.asarray(a["ev_w"], float)}
        return plan
