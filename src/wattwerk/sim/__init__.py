"""Physical model of one site stepping in simulated time, and (in ``emulators``) the servers that
expose it over the real protocols. Only tests, benchmarks and ``wattwerk demo`` import this."""

from wattwerk.sim.params import (
    BatteryParams,
    EVParams,
    HeatPumpParams,
    HouseParams,
    Location,
    PVParams,
    RodParams,
    SiteParams,
)
from wattwerk.sim.site import SiteSim

__all__ = [
    "BatteryParams",
    "EVParams",
    "HeatPumpParams",
    "HouseParams",
    "Location",
    "PVParams",
    "RodParams",
    "SiteParams",
    "SiteSim",
]
