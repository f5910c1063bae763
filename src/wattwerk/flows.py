"""The site's power flows and energy balance, from channels and device roles.

Signs as everywhere: grid + import, battery + discharging, PV + producing, loads + consuming.
``house`` is the household meter (a submeter named by role) when the site has one, else the
residual that the balance leaves; heat is heat pump plus heating rod.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

FLOW_ROLES: dict[str, tuple[str, ...]] = {
    "grid": ("grid_meter",),
    "pv": ("pv",),
    "battery": ("battery",),
    "house": ("submeter",),
    "ev": ("ev_charger",),
    "heat": ("heat_pump", "heating_rod"),
}


@dataclass(frozen=True)
class SiteRoles:
    """Which device ids play which flow."""

    devices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # flow -> device ids

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, str]]) -> SiteRoles:
        """From (device_id, role) pairs as in the site configuration."""
        out: dict[str, list[str]] = {flow: [] for flow in FLOW_ROLES}
        for device_id, role in pairs:
            for flow, roles in FLOW_ROLES.items():
                if role in roles:
                    out[flow].append(device_id)
        return cls({k: tuple(v) for k, v in out.items()})

    def ids(self, flow: str) -> tuple[str, ...]:
        return self.devices.get(flow, ())


def power_flows(roles: SiteRoles, get: Callable[[str], float | None]) -> dict[str, float | None]:
    """Power per flow in W from ``get(channel)``; None where a needed channel is unknown."""

    def total(flow: str) -> float | None:
        ids = roles.ids(flow)
        values = [get(f"{d}.power") for d in ids]
        if any(v is None for v in values):
            return None
        return float(sum(values))  # type: ignore[arg-type]

    flows = {flow: total(flow) for flow in FLOW_ROLES if roles.ids(flow)}
    if "house" not in flows and flows.get("grid") is not None:
        parts = [flows.get(f, 0.0) for f in ("pv", "battery", "ev", "heat")]
        if all(p is not None for p in parts):
            pv, bat, ev, heat = parts
            flows["house"] = flows["grid"] + pv + bat - ev - heat  # type: ignore[operator]
    return flows


# flow key -> (flow whose devices count, counter quantity)
ENERGY_COUNTERS: dict[str, tuple[str, str]] = {
    "grid_import": ("grid", "energy_import"),
    "grid_export": ("grid", "energy_export"),
    "pv": ("pv", "energy"),
    "battery_charge": ("battery", "energy_charge"),
    "battery_discharge": ("battery", "energy_discharge"),
    "house": ("house", "energy"),
    "ev": ("ev", "energy"),
    "heat": ("heat", "energy"),
}


# flow key -> the part of the devices' power that counts where a device has no counter:
# +1 the positive part (import, production, discharge, consumption), -1 the negative (export, charge)
POWER_SIGN: dict[str, int] = {
    "grid_import": 1,
    "grid_export": -1,
    "pv": 1,
    "battery_charge": -1,
    "battery_discharge": 1,
    "house": 1,
    "ev": 1,
    "heat": 1,
}


def flow_energy(
    roles: SiteRoles,
    counter_wh: Callable[[str], float | None],
    power_wh: Callable[[str], tuple[float, float] | None],
) -> dict[str, float]:
    """Energy per flow in kWh: each device's counter where it has one (``counter_wh`` gives None
    where not), else the covered-time integral of its power (``power_wh``: positive and negative
    Wh, None without a power channel; store/rollup.py). The edge's today and the portal use it."""
    kwh: dict[str, float] = {}
    for key, (flow, quantity) in ENERGY_COUNTERS.items():
        total = 0.0
        for d in roles.ids(flow):
            wh = counter_wh(f"{d}.{quantity}")
            if wh is None:
                parts = power_wh(f"{d}.power")
                wh = 0.0 if parts is None else parts[0] if POWER_SIGN[key] > 0 else parts[1]
            total += wh
        kwh[key] = total / 1000.0
    return kwh


def energy_balance(roles: SiteRoles, energy_wh: Callable[[str], float]) -> dict[str, float]:
    """Energy per flow in kWh from ``energy_wh(counter_channel)``, plus the balance figures.

    The keys are those of ``ENERGY_COUNTERS``; ``balance_figures`` then tells how
    consistent the meters are.
    """
    kwh: dict[str, float] = {}
    for key, (flow, quantity) in ENERGY_COUNTERS.items():
        kwh[key] = sum(energy_wh(f"{d}.{quantity}") for d in roles.ids(flow)) / 1000.0
    return kwh


def balance_figures(kwh: Mapping[str, float]) -> dict[str, float]:
    """Self-consumption, autarky and the balance error, all in %; the two shares within 0-100 as the
    portal shows them (an hour the battery charges from the grid imports more than the site uses)."""
    sources = kwh["grid_import"] + kwh["pv"] + kwh["battery_discharge"]
    sinks = kwh["grid_export"] + kwh["battery_charge"] + kwh["house"] + kwh["ev"] + kwh["heat"]
    consumption = kwh["house"] + kwh["ev"] + kwh["heat"]
    pv = kwh["pv"]
    share = lambda x: 100.0 * min(max(x, 0.0), 1.0)  # noqa: E731  (a grid-charged battery: import > use)
    return {
        "self_consumption_pct": share((pv - kwh["grid_export"]) / pv) if pv > 0 else 0.0,
        "autarky_pct": share(1.0 - kwh["grid_import"] / consumption) if consumption > 0 else 0.0,
        "balance_error_pct": 100.0 * abs(sources - sinks) / sources if sources > 0 else 0.0,
    }
