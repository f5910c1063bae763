"""From the site file to the things the runtime reads: polled drivers and push readers.

* ``modbus_tcp`` / ``modbus_rtu`` devices name a catalogue entry (``catalog: sma-tripower``,
  see ``wattwerk devices``); SunSpec entries discover their model chain on first read.
  Devices on the same TCP address or serial bus share one ``ModbusLink`` from the
  ``LinkPool`` (one connection, one lock, the longest pause any of them needs).
* ``serial`` / ``tcp`` meters are byte streams in the ``format`` the connection names
  (dsmr, dlms, sml), read by a ``MeterReader``.
* ``speedwire`` / ``udp`` is the SMA Energy Meter multicast; ``mqtt`` takes Tasmota or JSON
  payloads (DSMR telegrams too) from a topic.
* ``ocpp`` chargers connect to the site's OCPP central system (one per port).
* ``http`` / ``udp`` devices naming a catalogue entry (KEBA, Hardy Barth, my-PV, Shelly/Tasmota/
  KMTronic relays) are polled through the catalogue's native drivers.

Anything the edge cannot run is a ``PermanentError`` naming the device and what to change.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from difflib import get_close_matches

from wattwerk.config import DeviceBase, SiteConfig
from wattwerk.devices.catalog import load_catalog
from wattwerk.devices.device import create
from wattwerk.devices.factory import create_for
from wattwerk.devices.native import NativeDevice
from wattwerk.devices.ocpp_charger import OcppSite
from wattwerk.devices.profile import Entry
from wattwerk.edge.inputs import input_sources
from wattwerk.edge.runtime import Polled
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.model import Reading
from wattwerk.protocols.base import Decoder
from wattwerk.protocols.decode import make_decoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.modbus import LinkConfig, LinkPool
from wattwerk.protocols.mqtt import MqttSettings, MqttSource
from wattwerk.protocols.speedwire import SpeedwireDecoder, SpeedwireReceiver
from wattwerk.protocols.tasmota import auto_decoder
from wattwerk.protocols.transport import SerialSettings, SerialSource, TcpSource


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


def catalogue_entry(dev: DeviceBase) -> Entry:
    """The catalogue entry a Modbus device names, or a PermanentError that helps fix it."""
    if not dev.catalog:
        raise PermanentError(f"{dev.id}: a Modbus device needs `catalog:`, an entry of `wattwerk devices`")
    items = {item.entry.id: item for item in load_catalog()}
    key = dev.catalog.rsplit("/", 1)[-1]  # "pv_inverter/sma-tripower" works as well as "sma-tripower"
    item = items.get(key)
    if item is None:
        hint = get_close_matches(key, list(items), n=1)
        more = f' (did you mean "{hint[0]}"?)' if hint else ""
        raise PermanentError(f"{dev.id}: no catalogue entry {dev.catalog!r}{more}")
    return item.entry


def _link_config(dev: DeviceBase, entry: Entry) -> LinkConfig:
    """The site file's connection, with the catalogue entry's pause when it asks for a longer one."""
    c = dev.connection
    if c.type == "modbus_tcp":
        return LinkConfig("tcp", host=c.host, port=c.port, timeout=c.timeout_s,
                          pause=max(c.pause_ms / 1000, entry.connection.pause))
    return LinkConfig("rtu", serial=c.device, baudrate=c.baudrate, parity=c.parity, stopbits=c.stopbits,
                      timeout=c.timeout_s, pause=entry.connection.pause)


def _native(dev: DeviceBase, ledger: InputLedger) -> NativeDevice:
    """A catalogue device spoken to over HTTP, UDP or its own TCP protocol (KEBA, Hardy Barth,
    my-PV, relays, RCT Power ...)."""
    entry = catalogue_entry(dev)
    c = dev.connection
    if not entry.native:
        raise PermanentError(f"{dev.id}: catalogue entry {entry.id!r} is not an HTTP/UDP/TCP device")
    if c.type == "http":
        host = c.url
    elif c.type == "tcp":
        host = f"tcp://{c.host}:{c.port}"
    elif c.host:
        host = f"udp://{c.host}"
    else:
        raise PermanentError(f"{dev.id}: connection.host is needed for {entry.id!r} over UDP")
    return create_for(entry, host=host, device_id=dev.id, ledger=ledger)


def _stream_decoder(fmt: str, key: str | None, dev_id: str) -> Decoder:
    try:
        return make_decoder(fmt, bytes.fromhex(key) if key else None)
    except ValueError as exc:
        raise PermanentError(f"{dev_id}: connection.key must be hex: {exc}") from None


def build_devices(cfg: SiteConfig, ledger: InputLedger, stale_after_s: float = 30.0) -> SiteDevices:
    """Drivers and readers for every device of the site file."""
    out = SiteDevices()
    for dev in cfg.devices:
        c = dev.connection
        timeout = max(1.0, 2 * dev.interval_s)
        if c.type == "ocpp":
            out.ocpp = out.ocpp or OcppSite(ledger=ledger)
            lim = dev.limits
            charger = out.ocpp.charger(
                dev.id, c.charge_point_id, connector=c.connector, port=c.port,
                password=c.password.get_secret_value() if c.password else None,
                phases=lim.phases or 3, max_current=lim.max_current_a or 16.0, stale_after_s=stale_after_s,
                security_profile=c.security_profile,
            )
            out.polled.append(Polled(dev.id, charger, dev.interval_s, timeout_s=max(timeout, 12.0)))
            continue
        if c.type in ("http", "udp", "tcp") and dev.catalog:
            out.polled.append(Polled(dev.id, _native(dev, ledger), dev.interval_s, timeout_s=timeout))
            continue
        if c.type in ("modbus_tcp", "modbus_rtu"):
            entry = catalogue_entry(dev)
            link = out.links.get(_link_config(dev, entry))
            try:
                driver = create(entry, link, device_id=dev.id, unit=c.unit, ledger=ledger)
            except PermanentError as exc:
                raise PermanentError(f"{dev.id}: {exc}") from None
            out.polled.append(Polled(dev.id, driver, dev.interval_s, timeout_s=timeout))
            continue
        if c.type in ("serial", "tcp"):
            key = c.key.get_secret_value() if c.key else None
            decoder = _stream_decoder(c.format, key, dev.id)
            if c.type == "tcp":
                source: AsyncIterable[bytes] = TcpSource(c.host, c.port)
            else:
                settings = SerialSettings(c.baudrate, c.bytesize, c.parity, c.stopbits)
                source = SerialSource(c.device, settings)
            reader = MeterReader(dev.id, decoder, source, ledger=ledger, stale_after=stale_after_s,
                                 use_receive_time=c.format != "dsmr")
        elif c.type in ("speedwire", "udp"):
            reader = MeterReader(dev.id, SpeedwireDecoder(c.serial, datagrams=True),
                                 SpeedwireReceiver(c.group, c.port), ledger=ledger, stale_after=stale_after_s,
                                 use_receive_time=True)
        elif c.type == "mqtt":
            password = c.password.get_secret_value() if c.password else None
            settings_mqtt = MqttSettings(c.host, c.port, c.username, password)
            reader = MeterReader(dev.id, auto_decoder(messages=True), MqttSource(c.topic, settings_mqtt),
                                 ledger=ledger, stale_after=stale_after_s, use_receive_time=True)
        elif c.type == "sim":
            raise PermanentError(f"{dev.id}: connection type sim runs only in `wattwerk demo`")
        else:
            raise PermanentError(f"{dev.id}: connection type {c.type} is not supported by `wattwerk run` yet")
        out.readers.append(reader)
        out.push.append(reader)
    polled, push = input_sources(cfg.control, ledger, out.links)  # control.inputs: contacts, S0 meters
    out.polled += polled
    out.push += push
    return out
