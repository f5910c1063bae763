"""Drivers for ``connection: {type: sim}`` devices: the simulator behind the edge's ``Driver``
interface (``read(ts) -> readings``, ``command(cmd, value)``), so that ``wattwerk demo`` runs the
very edge ``wattwerk run`` runs (``edge.assembly``), with the simulator at the devices' far end.

The grid meter is read the way a P1 adapter delivers it: each read encodes the simulated meter as
a DSMR 5 telegram (the P1 emulator's encoder) and decodes it with the same ``MeterReader`` and DSMR
decoder that read a real adapter over TCP or serial. Every other device hands over its simulated
channels, renamed to the site file's ids; a command goes to the simulated device, and one it
refuses is a write error, as on a real device.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from wattwerk.config import DeviceBase, SiteConfig
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.forecast.futures import FUTURE_DAYS
from wattwerk.forecast.site import weather_site
from wattwerk.forecast.weather import complete
from wattwerk.model import Reading
from wattwerk.protocols.dsmr import decoder as dsmr_decoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.sim.emulators.p1 import telegram
from wattwerk.sim.site import SiteSim
from wattwerk.sim.weather import weather_at


class SimDriver:
    """One simulated device; ``silent`` makes it stop answering (its values go stale)."""

    def __init__(self, sim: SiteSim, sim_name: str, device_id: str) -> None:
        self.sim, self.sim_name, self.device_id = sim, sim_name, device_id
        self.prefix = f"{sim_name}."
        self.silent = False

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        if self.silent:
            raise TimeoutError(f"{self.device_id} does not answer")
        now = ts or self.sim.now
        return [
            Reading(f"{self.device_id}.{name[len(self.prefix) :]}", now, value)
            for name, value in self.sim.channels().items()
            if name.startswith(self.prefix)
        ]

    async def command(self, command: str, value: float) -> None:
        if self.silent:
            raise TimeoutError(f"{self.device_id} does not answer")
        if not self.sim.command(self.sim_name, command, value):
            raise ValueError(f"{self.device_id} refused {command}={value:g}")


class SimMeter(SimDriver):
    """The grid meter: one DSMR telegram per read, decoded by the edge's own ``MeterReader``."""

    def __init__(self, sim: SiteSim, device_id: str, ledger: InputLedger) -> None:
        super().__init__(sim, "grid", device_id)
        self.reader = MeterReader(device_id, dsmr_decoder(), ledger=ledger, use_receive_time=True)

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        if self.silent:
            raise TimeoutError(f"{self.device_id} does not answer")
        out: list[Reading] = []
        for frame in self.reader.process(telegram(self.sim.meter_state()), received=ts or self.sim.now):
            out.extend(frame)
        return out


class SimDrivers:
    """The ``EdgeOptions.sim_drivers`` hook of one simulated site: the driver of each ``sim`` device.

    ``names`` maps the simulator's device names to the site file's ids (``sim.from_config``)."""

    def __init__(self, sim: SiteSim, names: dict[str, str]) -> None:
        self.sim = sim
        self.sim_name = {dev: name for name, dev in names.items()}
        self.drivers: dict[str, SimDriver] = {}

    def __call__(self, dev: DeviceBase, ledger: InputLedger) -> SimDriver:
        name = self.sim_name.get(dev.id)
        if name is None:
            raise PermanentError(
                f"{dev.id}: the simulated site has no device for it "
                "(it simulates one battery, heat pump and heating rod)"
            )
        driver = SimMeter(self.sim, dev.id, ledger) if name == "grid" else SimDriver(self.sim, name, dev.id)
        self.drivers[dev.id] = driver
        return driver

    def silence(self, device_id: str, silent: bool = True) -> None:
        """The device stops (or starts again) answering, as a broken cable would have it."""
        self.drivers[device_id].silent = silent


class SimWeather:
    """The demo planner's weather forecast: the simulator's own weather (TRY) around the simulated
    now, in the columns of a weather service (``ghi``, ``dni``, ``dhi``, ``temp_air``, ``wind_speed``),
    so PV is forecast from the weather the simulated plant will see; no internet."""

    def __init__(
        self, cfg: SiteConfig, sim: SiteSim, past_days: int = FUTURE_DAYS, ahead_days: int = 2
    ) -> None:
        self.site = weather_site(cfg)
        self.sim, self.region = sim, sim.params.location.try_region
        self.past, self.ahead = timedelta(days=past_days), timedelta(days=ahead_days)
        self._last: tuple[pd.Timestamp, pd.DataFrame] | None = None

    async def __call__(self) -> pd.DataFrame:
        hour = pd.Timestamp(self.sim.now).floor("1h")
        if self._last is not None and self._last[0] == hour:
            return self._last[1]
        index = pd.date_range(hour.floor("D") - self.past, hour + self.ahead, freq="1h")
        frame = complete(self.site, weather_at(self.region, index))
        self._last = (hour, frame)
        return frame
