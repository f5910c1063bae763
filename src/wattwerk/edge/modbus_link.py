"""The Modbus link to a catalogue device or I/O module: the site file's connection, with the
catalogue entry's defaults where it gives none."""

from __future__ import annotations

from wattwerk.config.connections import ModbusRtuConnection, ModbusTcpConnection
from wattwerk.devices.profile import Entry
from wattwerk.protocols.modbus import LinkConfig


def site_link(c: ModbusTcpConnection | ModbusRtuConnection, entry: Entry) -> LinkConfig:
    """The link of connection ``c``; the pause between requests is the catalogue entry's unless
    the site file gives ``pause_ms``."""
    if c.type == "modbus_tcp":  # the catalogue's port unless the site file gives one
        return LinkConfig(
            "tcp",
            host=c.host,
            port=c.port or entry.connection.port,
            timeout=c.timeout_s,
            pause=entry.connection.pause if c.pause_ms is None else c.pause_ms / 1000,
        )
    return LinkConfig(
        "rtu",
        serial=c.device,
        baudrate=c.baudrate or entry.connection.baudrate,
        parity=c.parity or entry.connection.parity,
        stopbits=c.stopbits,
        timeout=c.timeout_s,
        pause=entry.connection.pause,
    )
