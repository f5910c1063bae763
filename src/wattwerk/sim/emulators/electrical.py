"""A simulated device as a real meter or inverter shows it.

The simulator's devices know their power and energy; the registers of a real meter or inverter
also hold voltages, currents per phase, frequency, the DC side of an inverter, a hybrid inverter's
PV strings. An emulator serving a register the simulator has no value for answers with the
"not available" sentinel, and the edge then counts an ``absent`` read error, correctly, for a
value a real device would have. ``Electrical`` wraps a ``SimDevice`` and fills those quantities in
consistently with its power (230 V, its phases, 50 Hz), so emulated devices read clean.
"""

from __future__ import annotations

from typing import Any

VOLTS = 230.0


class Electrical:
    """``values()`` of ``sim`` plus what its meter shows; ``apply`` goes to ``sim`` unchanged.

    ``energy_base_wh`` is added to every energy counter, as on a device with a history (a counter
    at 0 reads as "not accumulated" on SunSpec)."""

    def __init__(self, sim: Any, *, phases: int = 3, energy_base_wh: float = 0.0) -> None:
        self.sim = sim
        self.phases = phases
        self.energy_base_wh = energy_base_wh

    def values(self) -> dict[str, float]:
        own = self.sim.values()
        power = float(own.get("power", 0.0))
        energy = float(own.get("energy", own.get("energy_import", 0.0)))
        out = {
            "voltage": VOLTS,
            "current": abs(power) / VOLTS,
            "frequency": 50.0,
            "power_factor": 0.98,
            "energy_import": energy,
            "energy_export": 0.0,
            "temperature": 35.0,
            "power_dc": power / 0.96,
            "voltage_dc": 600.0,
            "current_dc": power / 0.96 / 600.0,
            "power_pv1": 0.0,
            "power_pv2": 0.0,
            "energy_pv": 0.0,
        }
        for i in range(1, 4):
            share = power / self.phases if i <= self.phases else 0.0
            out |= {f"power_l{i}": share, f"voltage_l{i}": VOLTS, f"current_l{i}": abs(share) / VOLTS}
        out |= own
        if self.energy_base_wh:
            for name in out:
                if "energy" in name:
                    out[name] += self.energy_base_wh
        return out

    def apply(self, command: str, value: float) -> None:
        self.sim.apply(command, value)
