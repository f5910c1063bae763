"""The site file: ``site``, ``devices``, ``strategy``, ``store``, ``portal``, ``mqtt`` and ``tariff``."""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from datetime import time as dt_time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, PrivateAttr, SecretStr, Strict, model_validator

from wattwerk.config.base import Model
from wattwerk.config.connections import Url
from wattwerk.config.devices import Battery, Device, DeviceBase, Percent, Phases, Watts, problem
from wattwerk.config.limits import ControlLimits
from wattwerk.config.tariff import Co2Signal, FeedInSpot, Module3, TouWindow
from wattwerk.config.types import DeviceId, Keep, TimeZoneName, num


class Location(Model):
    latitude: Annotated[float, Field(ge=-90, le=90)]
    longitude: Annotated[float, Field(ge=-180, le=180)]
    altitude_m: float = 0.0


class Grid(Model):
    """The grid connection point. Limits are site totals in W; ``None`` means no limit."""

    phases: Phases = 3
    voltage_v: Annotated[float, Field(gt=0)] = 230.0
    fuse_a: Annotated[float, Field(gt=0)] | None = None  # main fuse, per phase
    max_import_w: Watts | None = None
    max_export_w: Watts | None = None  # feed-in limit; 0 = zero export
    max_phase_import_w: Watts | None = None
    max_phase_export_w: Watts | None = None

    @property
    def import_limit_w(self) -> float | None:
        """The tighter of ``max_import_w`` and what the main fuse allows: the one import limit the
        limiter, the planner and the page all use."""
        limits = [w for w in (self.max_import_w, self.fuse_limit_w) if w is not None]
        return min(limits) if limits else None

    @property
    def fuse_limit_w(self) -> float | None:
        return None if self.fuse_a is None else self.phases * self.voltage_v * self.fuse_a

    @property
    def phase_import_limit_w(self) -> float | None:
        """Per phase: the tighter of ``max_phase_import_w`` and the main fuse x voltage."""
        fuse = None if self.fuse_a is None else self.fuse_a * self.voltage_v
        limits = [w for w in (self.max_phase_import_w, fuse) if w is not None]
        return min(limits) if limits else None


class Site(Model):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    location: Location
    timezone: TimeZoneName
    grid: Grid = Grid()

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _check_clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise problem('"{v}" is not a time of day; write it as "HH:MM" in quotes, e.g. "07:30"', v=value)
    return value


ClockTime = Annotated[str, AfterValidator(_check_clock)]


class EvDeparture(Model):
    """When the car on a charger leaves and what it needs by then (the planner plans for it)."""

    charger: DeviceId
    departure: ClockTime  # local time of day, "HH:MM"
    days: Annotated[list[Weekday], Field(min_length=1)] = Field(default_factory=lambda: list(WEEKDAYS))
    energy_kwh: Annotated[float, Field(gt=0)] | None = None  # energy into the car per session (AC)
    target_soc: Percent | None = None  # needs battery_kwh and the charger's <id>.soc channel
    battery_kwh: Annotated[float, Field(gt=0)] | None = None
    car: Annotated[str, Field(min_length=1, max_length=40)] | None = None  # its name, in the sessions

    @model_validator(mode="after")
    def _one_target(self) -> EvDeparture:
        if (self.energy_kwh is None) == (self.target_soc is None):
            raise problem("give either energy_kwh or target_soc (with battery_kwh)", ("energy_kwh",))
        if self.target_soc is not None and self.battery_kwh is None:
            raise problem("target_soc needs battery_kwh (the car's usable capacity)", ("target_soc",))
        return self

    @property
    def time(self) -> dt_time:
        hh, mm = self.departure.split(":")
        return dt_time(int(hh), int(mm))


class HeatStore(Model):
    """A hot-water or buffer tank heated by a heat pump and/or heating rods: the planner heats it
    when energy is cheap (or PV is spare) within its temperature band."""

    heaters: Annotated[list[DeviceId], Field(min_length=1)]  # heat_pump / heating_rod device ids
    volume_l: Annotated[float, Field(gt=0)]
    min_c: float = 45.0  # never planned below (comfort)
    max_c: float = 60.0  # never planned above
    temperature: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")] | None = None  # channel
    heat_kwh_per_day: Annotated[float, Field(ge=0)] = 5.0  # heat drawn from the tank per day
    cop: Annotated[float, Field(gt=0)] = 3.0  # of the heat pumps heating it (rods: 1)

    @model_validator(mode="after")
    def _band(self) -> HeatStore:
        if self.min_c >= self.max_c:
            raise problem(
                "min_c ({lo} °C) must be below max_c ({hi} °C)",
                ("min_c",),
                lo=num(self.min_c),
                hi=num(self.max_c),
            )
        return self


class Strategy(Model):
    mode: Literal["self_consumption", "planner", "off"] = "self_consumption"
    battery_reserve_soc: Percent = 0.0  # the owner's reserve, on top of each battery's reserve_soc
    ev_default_mode: Literal["off", "now", "minpv", "pv"] = "pv"
    grid_friendly_charging: bool = False  # charge the battery from the midday peak, not the morning
    peak_shaving: bool = False  # discharge the battery to keep import below the grid limit
    ev_departures: list[EvDeparture] = Field(default_factory=list)  # planner: energy by departure
    heat_stores: list[HeatStore] = Field(default_factory=list)  # planner: tanks as thermal storage
    co2: Co2Signal | None = None  # planner: the grid's CO₂ signal as a weighted term or tie-breaker


Resolution = Literal["raw", "1m", "15m", "1h", "1d"]
RESOLUTIONS: tuple[str, ...] = ("raw", "1m", "15m", "1h", "1d")


class RetentionTier(Model):
    resolution: Resolution
    keep: Keep  # None: forever


DEFAULT_RETENTION = tuple(
    RetentionTier(resolution=r, keep=k)  # type: ignore[arg-type]  # Keep parses the strings
    for r, k in (("raw", "7d"), ("1m", "90d"), ("15m", "forever"), ("1h", "forever"), ("1d", "forever"))
)


class Store(Model):
    data_dir: Annotated[Path, Strict(False)] = Path("./var")
    retention: list[RetentionTier] = Field(default_factory=lambda: list(DEFAULT_RETENTION))

    @model_validator(mode="after")
    def _one_tier_each(self) -> Store:
        seen: set[str] = set()
        for i, tier in enumerate(self.retention):
            if tier.resolution in seen:
                raise problem(
                    'resolution "{r}" is listed twice', ("retention", i, "resolution"), r=tier.resolution
                )
            seen.add(tier.resolution)
        return self

    def keep(self, resolution: str) -> timedelta | None:
        """How long a resolution is kept; a resolution not listed is kept forever."""
        for tier in self.retention:
            if tier.resolution == resolution:
                return tier.keep
        return None


class Portal(Model):
    url: Url
    token: Annotated[SecretStr, Field(min_length=1)]
    site: Annotated[str, Field(min_length=1)]  # the site's id on the portal (given when pairing)
    label: Annotated[str, Field(max_length=100)] | None = None  # the owner's name for it on the portal
    edge_id: Annotated[str, Field(min_length=1)] = "edge"
    ca_file: Annotated[Path, Strict(False)] | None = None  # private CA of a self-hosted portal
    pin_sha256: Annotated[str, Field(pattern=r"^[0-9A-Fa-f:]{64,95}$")] | None = None  # certificate pin
    allow_insecure: bool = False  # plain http:// to another machine: the token travels in clear

    @model_validator(mode="after")
    def _tls_beyond_this_machine(self) -> Portal:
        parts = urlsplit(self.url)
        if parts.scheme == "http" and not _loopback(parts.hostname or "") and not self.allow_insecure:
            raise problem(
                "plain http:// to {host}: the edge's token and every reading would travel in clear; "
                "use https:// (or set allow_insecure: true on a network you trust)",
                ("url",),
                host=parts.hostname or "?",
            )
        return self


def _loopback(host: str) -> bool:
    """This machine: ``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Mqtt(Model):
    """Publish every channel to an MQTT broker and take commands from it (Home Assistant)."""

    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1883
    username: str | None = None
    password: SecretStr | None = None
    root: str | None = None  # topic root; default wattwerk/<site name>
    discovery_prefix: str | None = "homeassistant"  # Home Assistant discovery; null: none
    tls: bool = False  # TLS to the broker (system CAs, or ca_file); usually port 8883
    ca_file: Annotated[Path, Strict(False)] | None = None  # a private CA for the broker's certificate


_HOST = re.compile(r"^[A-Za-z0-9._-]{1,253}$|^\[?[0-9A-Fa-f:.]{2,45}\]?$")


def _check_host(value: str) -> str:
    if not _HOST.match(value):
        raise problem(
            '"{v}" is not a host name or IP address (e.g. energy.example.org, 192.168.1.9)', v=value[:80]
        )
    return value


class Web(Model):
    """The local page: which names it answers to, and whether the live view needs a login."""

    # names and addresses beyond localhost, <hostname>(.local), wattwerk.local and the box's IPs
    hosts: list[Annotated[str, AfterValidator(_check_host)]] = Field(default_factory=list)
    public_live: bool = False  # the read-only live view without login on the LAN (setup never)


SWISS_PROVIDERS = ("ekz", "groupe_e")
SPOT_PROVIDERS = ("awattar", "entsoe", "energy_charts")  # prices that are the day-ahead spot price


class Tariff(Model):
    """What energy costs: a fixed price, time-of-use windows or a provider's day-ahead prices, plus
    fees (with §14a module 3 time-variable grid fees) and VAT; and what feed-in earns (a fixed
    rate or the spot price x factor + offset). ``market.site_tariff`` prices each slot with it."""

    provider: Literal["fixed", "awattar", "tibber", "entsoe", "energy_charts", "ekz", "groupe_e"] = "fixed"
    zone: str = "DE-LU"  # bidding zone (entsoe, energy_charts; the spot feed-in of a fixed tariff)
    country: Literal["de", "at"] = "de"  # awattar
    token: SecretStr | None = None  # tibber, entsoe
    tariff_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] | None = None  # ekz, groupe_e
    time_of_use: list[TouWindow] = Field(default_factory=list)  # provider fixed: first match wins
    module3: Module3 | None = None  # §14a EnWG module 3 grid fee in place of the standard grid fee
    feed_in_spot: FeedInSpot | None = None  # feed-in at the spot price instead of feed_in_eur_per_kwh
    fixed_eur_per_kwh: Annotated[float, Field(ge=0)] = 0.15  # energy price, net (provider fixed)
    grid_fees_eur_per_kwh: Annotated[float, Field(ge=0)] = 0.158  # grid fee, levies, tax, margin; net
    vat: Annotated[float, Field(ge=0, le=1)] = 0.19
    feed_in_eur_per_kwh: Annotated[float, Field(ge=0)] = 0.0811
    # no feed-in tariff while the day-ahead spot price is negative (German PV since 2025, §51 EEG):
    # the planner then stores, shifts consumption into those hours and curtails instead of exporting
    no_feed_in_at_negative_prices: bool = False

    @model_validator(mode="after")
    def _token_when_needed(self) -> Tariff:
        if self.provider in ("tibber", "entsoe") and self.token is None:
            raise problem("provider {p} needs a token", ("token",), p=self.provider)
        if self.time_of_use and self.provider != "fixed":
            raise problem(
                "time_of_use windows price the energy of provider fixed; provider {p} has its own prices",
                ("time_of_use",),
                p=self.provider,
            )
        if self.feed_in_spot is not None and self.provider not in ("fixed", *SPOT_PROVIDERS):
            raise problem(
                "feed_in_spot needs the day-ahead spot price: provider {p} does not give it "
                "(use awattar, entsoe, energy_charts, or fixed with zone)",
                ("feed_in_spot",),
                p=self.provider,
            )
        if self.provider in SWISS_PROVIDERS and self.module3 is not None:
            raise problem(
                "module3 is a German grid fee (§14a EnWG); {p} prices include the grid",
                ("module3",),
                p=self.provider,
            )
        return self

    @property
    def swiss(self) -> bool:
        return self.provider in SWISS_PROVIDERS

    @property
    def currency(self) -> str:
        return "CHF" if self.swiss else "EUR"

    @property
    def fees_per_kwh(self) -> float:
        """Fees added to the energy price: ``grid_fees_eur_per_kwh``, which a Swiss tariff's
        integrated price already holds (counted only when the site file sets it)."""
        if self.swiss and "grid_fees_eur_per_kwh" not in self.model_fields_set:
            return 0.0
        return self.grid_fees_eur_per_kwh

    @property
    def vat_rate(self) -> float:
        """``vat``; a Swiss tariff without one set uses the Swiss standard rate (8.1 % since 2024)."""
        if self.swiss and "vat" not in self.model_fields_set:
            return 0.081
        return self.vat


class SiteConfig(Model):
    """A whole site file, validated. Build it with ``load_config`` or ``parse_config``."""

    version: Literal[1] = 1
    site: Site
    devices: list[Device] = Field(default_factory=list)
    strategy: Strategy = Strategy()
    store: Store = Store()
    portal: Portal | None = None
    mqtt: Mqtt | None = None
    control: ControlLimits = ControlLimits()
    tariff: Tariff = Tariff()
    web: Web = Web()
    # folders of user catalogue files (docs/custom-devices.md); relative ones start at the site file's folder
    catalog_dirs: list[Annotated[Path, Strict(False)]] = Field(default_factory=list)
    _folder: Path | None = PrivateAttr(default=None)  # the site file's folder, set by the loader

    @property
    def folder(self) -> Path:
        """Where relative ``catalog_dirs`` start: the site file's folder (the working folder when the
        configuration did not come from a file)."""
        return self._folder or Path(".")

    def located(self, folder: Path) -> SiteConfig:
        """This configuration, read from a file in ``folder`` (kept only where relative ``catalog_dirs``
        need it, so two copies of one file elsewhere stay equal)."""
        if any(not p.is_absolute() for p in self.catalog_dirs):
            self._folder = folder
        return self

    @model_validator(mode="after")
    def _devices_consistent(self) -> SiteConfig:
        first: dict[str, int] = {}
        for i, dev in enumerate(self.devices):
            if dev.id in first:
                raise problem(
                    'duplicate device id "{id}" (first used by devices[{j}])',
                    ("devices", i, "id"),
                    id=dev.id,
                    j=first[dev.id],
                )
            first[dev.id] = i
        taken = set(self.control.inbound.names()) & set(first) if self.control.inbound else set()
        if taken:  # control.inbound writes channels <interface>.*
            name = min(taken)
            raise problem(
                'device id "{id}" is taken by control.inbound.{id} (its channels are {id}.*)',
                ("devices", first[name], "id"),
                id=name,
            )
        self._strategy_refs()
        meters = [i for i, dev in enumerate(self.devices) if dev.role == "grid_meter"]
        if len(meters) > 1:
            raise problem(
                'only one device may have role grid_meter; devices[{j}] ("{a}") already has it',
                ("devices", meters[1], "role"),
                j=meters[0],
                a=self.devices[meters[0]].id,
            )
        return self

    def _strategy_refs(self) -> None:
        """The planner's EV departures and heat stores name devices of the right role."""
        roles = {d.id: d.role for d in self.devices}
        seen: set[str] = set()
        for i, ev in enumerate(self.strategy.ev_departures):
            at = ("strategy", "ev_departures", i, "charger")
            if roles.get(ev.charger) != "ev_charger":
                raise problem('"{id}" is not an ev_charger device', at, id=ev.charger)
            if ev.charger in seen:
                raise problem('charger "{id}" has a departure already', at, id=ev.charger)
            seen.add(ev.charger)
        for i, store in enumerate(self.strategy.heat_stores):
            for j, dev in enumerate(store.heaters):
                at = ("strategy", "heat_stores", i, "heaters", j)
                if roles.get(dev) not in ("heat_pump", "heating_rod"):
                    raise problem('"{id}" is not a heat_pump or heating_rod device', at, id=dev)
                if dev in seen:
                    raise problem('"{id}" is named twice in the planner\'s settings', at, id=dev)
                seen.add(dev)
                device = self.device(dev)
                if device.role == "heat_pump" and device.limits.max_power_w is None:
                    raise problem(
                        'heat pump "{id}" needs limits.max_power_w (its electric power) to be planned',
                        at,
                        id=dev,
                    )

    def device(self, device_id: str) -> DeviceBase:
        """The device with this id; KeyError if there is none."""
        for dev in self.devices:
            if dev.id == device_id:
                return dev
        raise KeyError(device_id)

    def by_role(self, role: str) -> list[DeviceBase]:
        return [dev for dev in self.devices if dev.role == role]

    def reserve_soc(self, battery: Battery) -> float:
        """The SoC a battery is never discharged below: its own reserve or the owner's, the higher."""
        return max(battery.reserve_soc, self.strategy.battery_reserve_soc)

    @property
    def grid_meter(self) -> DeviceBase | None:
        meters = self.by_role("grid_meter")
        return meters[0] if meters else None
