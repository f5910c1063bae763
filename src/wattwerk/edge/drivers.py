"""From the site file to the things the runtime reads: polled drivers and push readers.

* ``modbus_tcp`` / ``modbus_rtu`` devices name a catalogue entry (``catalog: sma-tripower``,
  see ``wattwerk devices``); SunSpec entries discover their model chain on first read.
  Devices on the same TCP address or serial bus share one ``ModbusLink`` from the
  ``LinkPool`` (one connection, one lock, the longest pause any of them needs).
* ``serial`` / ``tcp`` meters are byte streams in the ``format`` the connection names
  (dsmr, dlms, sml), read by a ``MeterReader``.
* ``speedwire`` / ``udp`` is the SMA Energy Meter multicast; ``mqtt`` takes a topic's payloads in
  the ``format`` the connection names: JSON (``fields``, or Tasmota documents by shape), a Tasmota
  script's labels, plain numbers per topic, or DSMR telegrams (``edge/meter_inputs.py``).
* ``http`` meters without a catalogue entry are polled by ``format``: Shelly EM / 3EM / Pro 3EM
  profiles or a JSON document with ``fields``.
* Every meter reader drops a power beyond the connection (``site.grid`` fuse x voltage x phases)
  or contradicted by the meter's own counters (``protocols/plausibility.py``).
* ``ocpp`` chargers connect to the site's OCPP central system (one per port).
* ``http`` / ``udp`` devices naming a catalogue entry (KEBA, Hardy Barth, my-PV, Shelly/Tasmota/
  KMTronic relays) are polled through the catalogue's native drivers.

Anything the edge cannot run is collected, with where it is in the site file, into one
``SiteProblems`` (every device is tried, not only up to the first problem). ``dry=True`` builds the
same objects without opening anything (no sockets, serial ports or GPIO lines): ``wattwerk check``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import TYPE_CHECKING

from wattwerk.config import DeviceBase, SiteConfig
from wattwerk.config.messages import Loc, render
from wattwerk.config.types import show
from wattwerk.devices.catalog import Item, load_catalog
from wattwerk.devices.device import create
from wattwerk.devices.profile import Entry
from wattwerk.devices.user_catalog import site_catalog
from wattwerk.edge.inputs import input_sources, unopened_lines
from wattwerk.edge.modbus_link import site_link
from wattwerk.edge.runtime import Polled
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.model import Reading
from wattwerk.protocols.base import Decoder
from wattwerk.protocols.decode import make_decoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.modbus import LinkPool
from wattwerk.protocols.plausibility import PowerBounds
from wattwerk.protocols.speedwire import SpeedwireDecoder, SpeedwireReceiver
from wattwerk.protocols.transport import SerialSettings, SerialSource, TcpSource
from wattwerk.vocabulary import EV_DEFAULTS

if TYPE_CHECKING:  # imported where a site has such a device: `check` and `run` start faster without
    from wattwerk.devices.native import NativeDevice
    from wattwerk.devices.ocpp_charger import OcppSite


@dataclass
class SiteDevices:
    """What the runtime needs: polled drivers, push readers, and what to close at the end."""

    polled: list[Polled] = field(default_factory=list)
    push: list[AsyncIterable[list[Reading]]] = field(default_factory=list)
    readers: list[MeterReader] = field(default_factory=list)
    links: LinkPool = field(default_factory=LinkPool)
    ocpp: OcppSite | None = None  # the central system OCPP chargers connect to

    def close(self) -> None:
        self.links.close()
        if self.ocpp is not None:
            self.ocpp.close()
        for reader in self.readers:
            close = getattr(reader.source, "close", None)
            if close is not None:
                close()


class DeviceError(PermanentError):
    """What keeps the edge from building one device; ``at``: the field inside its entry."""

    def __init__(self, message: str, at: Loc = ()) -> None:
        super().__init__(message)
        self.at = at


class UnknownEntry(DeviceError):
    """A ``catalog:`` name that no entry has."""


class SiteProblems(PermanentError):
    """Everything the edge cannot build from a validated site file, as (where, message) pairs:
    ``(("devices", 2, "catalog"), 'no catalogue entry ...')``; the loader turns ``where`` into a line."""

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        super().__init__("\n".join(f"{render(loc)}: {message}" for loc, message in problems))
        self.problems = problems


def named_entry(name: str, catalog: list[Item] | None = None) -> Entry:
    """The entry ``name`` names (``pv_inverter/sma-tripower`` or ``sma-tripower``) in ``catalog`` (the
    packaged one by default; a site's adds its user entries), or an UnknownEntry with the closest id."""
    items = {item.entry.id: item for item in (load_catalog() if catalog is None else catalog)}
    key = name.rsplit("/", 1)[-1]
    item = items.get(key)
    if item is None:
        hint = get_close_matches(key, list(items), n=1)
        more = f' (did you mean "{hint[0]}"?)' if hint else " (`wattwerk devices` lists them)"
        raise UnknownEntry(f"no catalogue entry {show(name)}{more}", ("catalog",))
    return item.entry


def catalogue_entry(dev: DeviceBase, catalog: list[Item] | None = None) -> Entry:
    """The catalogue entry a device names, if it speaks the device's connection; else a DeviceError."""
    if not dev.catalog:
        raise DeviceError(
            f"a {dev.connection.type} device needs `catalog:`, an entry of `wattwerk devices`",
            ("connection", "type"),
        )
    entry = named_entry(dev.catalog, catalog)
    if entry.untested is not None:
        hint = "with the vendor's register map it runs from your own catalogue file (docs/custom-devices.md)"
        raise DeviceError(f"{entry.id} is not supported yet: {entry.untested}; {hint}", ("catalog",))
    if dev.connection.type not in entry.protocols:
        raise DeviceError(
            f"{entry.id} speaks {', '.join(entry.protocols)}, not {dev.connection.type}",
            ("connection", "type"),
        )
    return entry


def _native(dev: DeviceBase, ledger: InputLedger, catalog: list[Item] | None = None) -> NativeDevice:
    """A catalogue device spoken to over HTTP, UDP or its own TCP protocol (KEBA, Hardy Barth,
    my-PV, relays, RCT Power, user HTTP/JSON templates ...)."""
    from wattwerk.devices.factory import create_for

    entry = catalogue_entry(dev, catalog)
    c = dev.connection
    if not entry.native:
        raise DeviceError(f"catalogue entry {show(entry.id)} is not an HTTP/UDP/TCP device", ("catalog",))
    if c.type == "http":
        host = c.url
    elif c.type == "tcp":
        host = f"tcp://{c.host}:{c.port}"
    elif c.host:
        host = f"udp://{c.host}"
    else:
        raise DeviceError(f"connection.host is needed for {show(entry.id)} over UDP", ("connection",))
    return create_for(entry, host=host, device_id=dev.id, ledger=ledger)


def stream_decoder(fmt: str, key: str | None) -> Decoder:
    """The decoder of a meter's message stream (``fmt``: dsmr, sml, dlms, ...) with its hex ``key``;
    a bad key or format is a DeviceError on the site file's ``connection.key``."""
    at = ("connection", "key")
    try:
        raw = bytes.fromhex(key) if key else None
    except ValueError:  # the message names no digit of the key: it is a secret
        raise DeviceError("must be hex digits (0-9, a-f), e.g. 32 for a DSMR key", at) from None
    try:
        return make_decoder(fmt, raw)
    except ValueError as exc:
        raise DeviceError(str(exc), at) from None


def build_devices(
    cfg: SiteConfig,
    ledger: InputLedger,
    stale_after_s: float = 30.0,
    *,
    dry: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
    retry_sleep: Callable[[float], object] = asyncio.sleep,
) -> SiteDevices:
    """Drivers and readers for every device of the site file; SiteProblems lists all that cannot be
    built. ``dry``: nothing is opened (GPIO lines are the only inputs opened while building).
    ``monotonic``: the clock of the Modbus devices' back-off (a lock-stepped edge's simulated one);
    ``retry_sleep``: the Modbus links' wait between retries (default ``asyncio.sleep``)."""
    out = SiteDevices(links=LinkPool(monotonic, retry_sleep))
    problems: list[tuple[Loc, str]] = []
    grid = cfg.site.grid
    bounds = PowerBounds.of_grid(grid.fuse_a, grid.voltage_v, grid.phases)
    catalog, user_problems = site_catalog(cfg.catalog_dirs, cfg.folder)
    for index, lines in user_problems:  # each line names the user file and its line
        at: Loc = ("catalog_dirs", index) if index < len(cfg.catalog_dirs) else ("catalog_dirs",)
        problems += [(at, line) for line in lines]
    for i, dev in enumerate(cfg.devices):
        try:
            _add_device(out, dev, ledger, stale_after_s, bounds, catalog=catalog)
        except UnknownEntry as exc:  # while a user file is wrong its entries are missing: said once
            if not user_problems:
                problems.append((("devices", i, *exc.at), str(exc)))
        except DeviceError as exc:
            problems.append((("devices", i, *exc.at), str(exc)))
        except PermanentError as exc:
            problems.append((("devices", i), str(exc)))
    problems += _shared_addresses(cfg) + _measured(cfg)
    opener = {"open_lines": unopened_lines} if dry else {}
    polled, push = input_sources(cfg.control, ledger, out.links, problems=problems, **opener)
    out.polled += polled
    out.push += push
    if problems:
        out.close()
        raise SiteProblems(problems)
    return out


def _shared_addresses(cfg: SiteConfig) -> list[tuple[Loc, str]]:
    """Two devices on one serial port as byte streams, or one OCPP charger id twice on a port."""
    problems: list[tuple[Loc, str]] = []
    first: dict[tuple[str, ...], int] = {}
    for i, dev in enumerate(cfg.devices):
        c = dev.connection
        if c.type == "serial":
            key, at, what = ("serial", c.device), "device", f"serial port {c.device}"
        elif c.type == "ocpp":
            key, at, what = (
                ("ocpp", str(c.port), c.charge_point_id),
                "charge_point_id",
                f"charge point id {c.charge_point_id!r} on port {c.port}",
            )
        else:
            continue
        if key in first:
            problems.append(
                (("devices", i, "connection", at), f"{what} is used by devices[{first[key]}] too")
            )
        first.setdefault(key, i)
    return problems


def _measured(cfg: SiteConfig) -> list[tuple[Loc, str]]:
    """A submeter's ``measures:`` names a device of the file that is not a meter itself."""
    problems: list[tuple[Loc, str]] = []
    roles = {d.id: d.role for d in cfg.devices}
    for i, dev in enumerate(cfg.devices):
        target = getattr(dev, "measures", None)
        if target is None:
            continue
        if target not in roles:
            hint = get_close_matches(target, list(roles), n=1)
            more = f' (did you mean "{hint[0]}"?)' if hint else ""
            problems.append((("devices", i, "measures"), f"no device {show(target)} in this file{more}"))
        elif roles[target] in ("grid_meter", "submeter"):
            problems.append((("devices", i, "measures"), f"{target} is a meter itself ({roles[target]})"))
    return problems


def _add_device(
    out: SiteDevices,
    dev: DeviceBase,
    ledger: InputLedger,
    stale_after_s: float,
    bounds: PowerBounds | None = None,
    *,
    catalog: list[Item] | None = None,
) -> None:
    """Build one device's driver or reader into ``out`` (DeviceError when it cannot be)."""
    c = dev.connection
    timeout = max(1.0, 2 * dev.interval_s)
    channels = getattr(dev, "measures", None) or dev.id  # a submeter's readings are the device's it meters
    if c.type == "ocpp":
        from wattwerk.devices.ocpp_charger import OcppSite

        out.ocpp = out.ocpp or OcppSite(ledger=ledger)
        lim = dev.limits
        charger = out.ocpp.charger(
            dev.id,
            c.charge_point_id,
            connector=c.connector,
            port=c.port,
            password=c.password.get_secret_value() if c.password else None,
            phases=lim.phases or EV_DEFAULTS.phases,
            max_current=lim.max_current_a or EV_DEFAULTS.max_a,
            stale_after_s=stale_after_s,
            security_profile=c.security_profile,
        )
        out.polled.append(Polled(dev.id, charger, dev.interval_s, timeout_s=max(timeout, 12.0)))
        return
    if c.type in ("http", "udp", "tcp") and dev.catalog and not (c.type == "http" and c.format):
        out.polled.append(Polled(dev.id, _native(dev, ledger, catalog), dev.interval_s, timeout_s=timeout))
        return
    if c.type == "mqtt" and dev.catalog and named_entry(dev.catalog, catalog).native == "mqtt_json":
        out.polled.append(
            Polled(dev.id, _mqtt_template(dev, ledger, catalog), dev.interval_s, timeout_s=timeout)
        )
        return
    if c.type in ("modbus_tcp", "modbus_rtu"):
        entry = catalogue_entry(dev, catalog)
        link = out.links.get(site_link(c, entry))
        try:  # unit None: the catalogue entry's unit
            driver = create(entry, link, device_id=channels, unit=c.unit, ledger=ledger)
        except PermanentError as exc:
            raise DeviceError(str(exc), ("catalog",)) from None
        out.polled.append(Polled(dev.id, driver, dev.interval_s, timeout_s=timeout))
        return
    if dev.catalog:  # a pushing meter is read by its format, but a name given must exist
        named_entry(dev.catalog, catalog)
    reader = _stream_reader(dev, ledger, stale_after_s, bounds)
    out.readers.append(reader)
    out.push.append(reader)


def _mqtt_template(dev: DeviceBase, ledger: InputLedger, catalog: list[Item] | None) -> NativeDevice:
    """A user entry's MQTT template: topics under the site file's ``topic``, on its broker."""
    from wattwerk.devices.custom import MqttJsonDevice
    from wattwerk.protocols.mqtt import MqttSettings

    entry = catalogue_entry(dev, catalog)
    c = dev.connection
    password = c.password.get_secret_value() if c.password else None
    settings = MqttSettings(c.host, c.port, c.username, password)
    return MqttJsonDevice(entry, settings, base_topic=c.topic, device_id=dev.id, ledger=ledger)


def format_reader(
    dev: DeviceBase,
    decoder: Decoder,
    source: AsyncIterable[bytes],
    ledger: InputLedger,
    stale_after_s: float,
    bounds: PowerBounds | None,
) -> MeterReader:
    """The reader of a meter's messages in its connection's ``format``: a DSMR telegram carries its
    own time, other formats' values are timed on receipt."""
    return MeterReader(
        dev.id,
        decoder,
        source,
        ledger=ledger,
        stale_after=stale_after_s,
        use_receive_time=dev.connection.format != "dsmr",
        bounds=bounds,
    )


def _stream_reader(
    dev: DeviceBase, ledger: InputLedger, stale_after_s: float, bounds: PowerBounds | None = None
) -> MeterReader:
    """The reader of a meter that pushes (a byte stream, Speedwire multicast, MQTT messages) or
    that is polled over HTTP without a catalogue entry."""
    c = dev.connection
    if c.type in ("mqtt", "http"):
        from wattwerk.edge.meter_inputs import message_reader

        return message_reader(dev, ledger, stale_after_s, bounds)
    if c.type in ("serial", "tcp"):
        key = c.key.get_secret_value() if c.key else None
        decoder = stream_decoder(c.format, key)
        if c.format == "sml" and bounds is not None and bounds.total_w is not None:
            decoder.options.max_power_w = bounds.total_w  # type: ignore[attr-defined]
        if c.type == "tcp":
            source: AsyncIterable[bytes] = TcpSource(c.host, c.port)
        else:
            settings = SerialSettings(c.baudrate, c.bytesize, c.parity, c.stopbits)
            source = SerialSource(c.device, settings)
        return format_reader(dev, decoder, source, ledger, stale_after_s, bounds)
    if c.type in ("speedwire", "udp"):
        return MeterReader(
            dev.id,
            SpeedwireDecoder(c.serial, datagrams=True),
            SpeedwireReceiver(c.group, c.port),
            ledger=ledger,
            stale_after=stale_after_s,
            use_receive_time=True,
            bounds=bounds,
        )
    if c.type == "sim":
        raise DeviceError("connection type sim runs only in `wattwerk demo`", ("connection", "type"))
    raise DeviceError(
        f"connection type {c.type} is not supported by `wattwerk run` yet", ("connection", "type")
    )
