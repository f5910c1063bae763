"""What the limiter knows about each controllable device: its envelope and switching rules,
built from the site file (``from_site``) or directly in tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wattwerk.config import SiteConfig

Kind = Literal["ev", "battery", "pv", "heat_pump", "rod", "load", "generator"]


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """Powers in W, currents in A per phase, times in s. ``max_w`` is nominal consumption
    (loads) or generation (generators); ``rated_w`` is a PV array's installed power (kWp x 1000)."""

    id: str
    kind: Kind
    max_w: float = 0.0
    min_a: float = 6.0
    max_a: float = 16.0
    phases: int = 3
    phase_switching: bool = False
    voltage_v: float = 230.0
    phase: int = 1  # the phase a one-phase load hangs on
    priority: int = 0  # higher is shed later
    min_on_s: float = 0.0
    min_off_s: float = 0.0
    max_switches_per_hour: int | None = None
    max_charge_w: float = 0.0
    max_discharge_w: float = 0.0
    reserve_soc: float = 0.0
    rated_w: float = 0.0
    ac_w: float | None = None  # PV inverter's AC rating
    command: Literal["relay", "power"] = "relay"  # loads and generators
    stages_w: tuple[float, ...] = ()  # heating rod relay stages

    def ev_power(self, current_a: float, phases: int) -> float:
        return current_a * phases * self.voltage_v


def from_site(cfg: SiteConfig) -> list[DeviceSpec]:
    """Specs of the controllable devices of a site file."""
    v = cfg.site.grid.voltage_v
    out: list[DeviceSpec] = []
    for dev in cfg.devices:
        lim = dev.limits
        timing = dict(
            min_on_s=lim.min_on_s or 0.0,
            min_off_s=lim.min_off_s or 0.0,
            max_switches_per_hour=lim.max_switches_per_hour,
        )
        if dev.role == "ev_charger":
            out.append(
                DeviceSpec(
                    dev.id,
                    "ev",
                    min_a=lim.min_current_a or 6.0,
                    max_a=lim.max_current_a or 16.0,
                    phases=lim.phases or 3,
                    phase_switching=dev.phase_switching,  # type: ignore[attr-defined]
                    voltage_v=v,
                    **timing,
                )
            )
        elif dev.role == "battery":
            out.append(
                DeviceSpec(
                    dev.id,
                    "battery",
                    max_charge_w=dev.max_charge_w,  # type: ignore[attr-defined]
                    max_discharge_w=dev.max_discharge_w,  # type: ignore[attr-defined]
                    reserve_soc=cfg.reserve_soc(dev),
                )
            )  # type: ignore[arg-type]
        elif dev.role == "pv":
            out.append(DeviceSpec(dev.id, "pv", rated_w=dev.kwp * 1000.0, ac_w=lim.max_power_w))  # type: ignore[attr-defined]
        elif dev.role == "heat_pump":
            out.append(DeviceSpec(dev.id, "heat_pump", max_w=lim.max_power_w or 3000.0, **timing))
        elif dev.role == "heating_rod":
            out.append(
                DeviceSpec(
                    dev.id,
                    "rod",
                    max_w=dev.max_power_w,  # type: ignore[attr-defined]
                    stages_w=tuple(dev.stages or ()),
                    **timing,
                )
            )  # type: ignore[attr-defined]
        elif dev.role in ("switch", "electrolyser"):
            out.append(
                DeviceSpec(
                    dev.id,
                    "load",
                    max_w=lim.max_power_w or 0.0,
                    command="power" if dev.role == "electrolyser" else "relay",
                    **timing,
                )
            )
        elif dev.role in ("chp", "fuel_cell"):
            out.append(DeviceSpec(dev.id, "generator", max_w=lim.max_power_w or 0.0, **timing))
    return out
