"""How the edge reaches a device: one model per transport, chosen by ``type``."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from wattwerk.config.base import Model
from wattwerk.config.types import Seconds, show

Port = Annotated[int, Field(ge=1, le=65535)]
Host = Annotated[str, Field(min_length=1)]
Parity = Literal["N", "E", "O"]
MeterFormat = Literal["dsmr", "dlms", "sml"]  # what a meter sends on a byte stream
SPEEDWIRE_GROUP = "239.12.255.254"


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PydanticCustomError(
            "url", "expected an http:// or https:// URL, got {got}", {"got": show(value)}
        )
    return value


def _check_group(value: str) -> str:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise PydanticCustomError(
            "address", "expected an IPv4 address such as \"{example}\", got {got}",
            {"example": SPEEDWIRE_GROUP, "got": show(value)},
        ) from None
    return value


Url = Annotated[str, AfterValidator(_check_url)]


class SimConnection(Model):
    """The built-in site simulator (``wattwerk demo``); no address needed."""

    type: Literal["sim"]


class ModbusTcpConnection(Model):
    """``port`` and ``unit`` default to the catalogue entry's (SMA: unit 126; Kostal: port 1502)."""

    type: Literal["modbus_tcp"]
    host: Host
    port: Port | None = None
    unit: Annotated[int, Field(ge=0, le=255)] | None = None
    timeout_s: Annotated[Seconds, Field(gt=0)] = 3.0
    pause_ms: Annotated[int, Field(ge=0, le=10_000)] = 0  # pause between requests; some devices need it


class ModbusRtuConnection(Model):
    type: Literal["modbus_rtu"]
    device: Annotated[str, Field(min_length=1)]
    baudrate: Annotated[int, Field(gt=0)] = 9600
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    unit: Annotated[int, Field(ge=0, le=255)] | None = None  # None: the catalogue entry's
    timeout_s: Annotated[Seconds, Field(gt=0)] = 1.0


class SerialConnection(Model):
    """A plain serial line, e.g. a P1 port (115200 8N1) or an optical SML head (9600 8N1)."""

    type: Literal["serial"]
    device: Annotated[str, Field(min_length=1)]
    baudrate: Annotated[int, Field(gt=0)] = 115200
    bytesize: Literal[7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    format: MeterFormat = "dsmr"
    key: SecretStr | None = None  # hex key for encrypted DSMR (Luxembourg) or DLMS pushes


class TcpConnection(Model):
    """A raw TCP byte stream, e.g. a P1 or SML reader behind ser2net."""

    type: Literal["tcp"]
    host: Host
    port: Port
    format: MeterFormat = "dsmr"
    key: SecretStr | None = None  # hex key for encrypted DSMR (Luxembourg) or DLMS pushes


class UdpConnection(Model):
    """UDP datagrams; ``speedwire`` is SMA's multicast protocol (energy meters, inverters).
    With ``host``, a device that answers UDP requests (KEBA chargers, KMTronic relay boards)."""

    type: Literal["udp", "speedwire"]
    host: Host | None = None
    group: Annotated[str, AfterValidator(_check_group)] = SPEEDWIRE_GROUP
    port: Port = 9522
    serial: Annotated[int, Field(ge=0)] | None = None  # only accept packets from this device serial


class MqttConnection(Model):
    type: Literal["mqtt"]
    host: Host = "127.0.0.1"
    port: Port = 1883
    topic: Annotated[str, Field(min_length=1)]
    username: str | None = None
    password: SecretStr | None = None
    format: Literal["json", "plain"] = "json"


class HttpConnection(Model):
    type: Literal["http"]
    url: Url
    interval_s: Annotated[Seconds, Field(gt=0)] | None = None  # None: the device's interval_s


class OcppConnection(Model):
    """An OCPP 1.6J / 2.0.1 charger that connects to the edge's central system (one port for all)."""

    type: Literal["ocpp"]
    charge_point_id: Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[^/?#\s]+$")]
    connector: Annotated[int, Field(ge=1, le=32)] = 1  # connector (1.6) or EVSE id (2.0.1)
    port: Port = 9000  # where the edge listens: ws://<edge>:<port>/<charge_point_id>
    password: SecretStr | None = None  # security profile 1: HTTP Basic auth, user = charge_point_id
    # None: profile 1 (a password) is required when the central system listens beyond loopback;
    # 0 accepts this charger without a password there too (a trusted, separate charger network)
    security_profile: Literal[0, 1] | None = None


Connection = Annotated[
    SimConnection
    | ModbusTcpConnection
    | ModbusRtuConnection
    | SerialConnection
    | TcpConnection
    | UdpConnection
    | MqttConnection
    | HttpConnection
    | OcppConnection,
    Field(discriminator="type"),
]
