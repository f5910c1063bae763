"""Physical model of one site stepping in simulated time, and (in ``emulators``) the servers that
expose it over the real protocols. Only tests, benchmarks and ``wattwerk demo`` import this.

    sim = SiteSim(SiteParams(), datetime(2025, 6, 1, tzinfo=UTC))
    sim.step(60)                       # or sim.run(86400, dt_s=60)
    sim.channels()["grid.power"]       # W, + import; see SiteSim.channels for every name
    sim.command("ev1", "current_limit", 10)   # bad commands are counted in sim.ledger
    sim.devices()["bat"]               # a SimDevice for an emulator: values(), apply()
    sim.meter_state()                  # MeterState for meter emulators

Defaults: BDEW H25 load (4000 kWh/yr), 8 kWp south 30° on DWD TRY region 12 weather,
10 kWh/5 kW battery, 11 kW wallbox with a 60 kWh commuter EV, 9 kW heat pump, 3 kW heating rod.
"""

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


def __getattr__(name: str) -> object:
    # SiteSim pulls in pvlib and pandas; emulators and tests that only need ``sim.emulators``
    # should not pay for them, so it is imported on first use.
    if name == "SiteSim":
        from wattwerk.sim.site import SiteSim

        return SiteSim
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
