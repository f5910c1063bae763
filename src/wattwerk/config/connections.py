"""How the edge reaches a device: one model per transport, chosen by ``type``."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, model_validator
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
            "address",
            'expected an IPv4 address such as "{example}", got {got}',
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
    # pause between requests; default: the catalogue entry's (what the device's firmware needs); a
    # value given is used as it is (a gateway that needs more, an emulator that needs none)
    pause_ms: Annotated[int, Field(ge=0, le=10_000)] | None = None


class ModbusRtuConnection(Model):
    type: Literal["modbus_rtu"]
    device: Annotated[str, Field(min_length=1)]
    # None: the catalogue entry's serial settings (connection baudrate/parity; 9600 8N1 where it gives none)
    baudrate: Annotated[int, Field(gt=0)] | None = None
    parity: Parity | None = None
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


Scale = Annotated[float, Field(allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1)]


def _nonzero(value: float) -> float:
    if value == 0:
        raise PydanticCustomError("config", "a scale of 0 would make every value 0", {})
    return value


class LabelMap(Model):
    """What one label of a Tasmota script's JSON is: our quantity and the factor to our unit."""

    quantity: Name  # e.g. energy_import, power, power_l1, voltage_l1 (checked when the edge is built)
    scale: Annotated[Scale, AfterValidator(_nonzero)] = 1.0  # kWh -> Wh: 1000; export counted +: -1


class ValueMap(LabelMap):
    """One number of a message: at ``path`` in a JSON document, or the payload of ``topic`` (plain)."""

    path: Name | None = None  # json: a.b[0].c
    topic: Name | None = None  # plain: the topic whose whole payload is the number


def _problem(message: str, at: str) -> PydanticCustomError:
    """A connection's fields that do not fit together; ``at``: the field the message points to."""
    return PydanticCustomError("config", message, {"at": (at,)})


class MqttConnection(Model):
    """A meter publishing over MQTT. ``format``: ``json`` (``fields``: path -> quantity; without
    ``fields``, Tasmota documents found by their shape), ``tasmota`` (a script's labels: ``preset``
    and/or ``labels``), ``plain`` (each message one number; ``fields``: topic -> quantity) or
    ``dsmr`` (raw telegrams)."""

    type: Literal["mqtt"]
    host: Host = "127.0.0.1"
    port: Port = 1883
    topic: Annotated[str, Field(min_length=1)]
    username: str | None = None
    password: SecretStr | None = None
    format: Literal["json", "tasmota", "plain", "dsmr"] = "json"
    preset: Name | None = None  # tasmota: a label set (tasmota, gplug, german ...; docs/meters.md)
    prefix: Name | None = None  # tasmota: the script's key in the document (default: found by labels)
    labels: dict[str, LabelMap] | None = None  # tasmota: label -> quantity, over the preset's
    fields: Annotated[list[ValueMap], Field(min_length=1)] | None = None  # json, plain
    key: SecretStr | None = None  # dsmr: hex key of encrypted telegrams (Luxembourg)

    @model_validator(mode="after")
    def _fits_format(self) -> MqttConnection:
        fmt = self.format
        if fmt != "tasmota":
            for name in ("preset", "prefix", "labels"):
                if getattr(self, name):
                    raise _problem(f"{name} is for format: tasmota, not {fmt}", name)
        if fmt not in ("json", "plain") and self.fields:
            raise _problem(f"fields are for format: json or plain, not {fmt}", "fields")
        if fmt != "dsmr" and self.key:
            raise _problem(f"key is for format: dsmr, not {fmt}", "key")
        if fmt == "plain":
            if not self.fields:
                raise _problem(
                    "format: plain needs fields: [{topic: ..., quantity: ...}] (one per topic)", "format"
                )
            if len(self.fields) > 1 and any(f.topic is None for f in self.fields):
                raise _problem("format: plain with several fields needs a topic in each", "fields")
        if fmt == "json" and self.fields and any(f.path is None for f in self.fields):
            raise _problem("format: json needs a path in each field (e.g. ENERGY.Power)", "fields")
        return self


class HttpConnection(Model):
    """A device polled over HTTP: a catalogue entry (``catalog:``), or a meter by ``format``:
    ``shelly`` (``profile``: em, 3em, pro3em, pro_em, plug ...; ``channel`` of an EM) or ``json``
    (``fields``: path -> quantity in the document at ``url``)."""

    type: Literal["http"]
    url: Url
    interval_s: Annotated[Seconds, Field(gt=0)] | None = None  # None: the device's interval_s
    format: Literal["shelly", "json"] | None = None
    profile: Name | None = None  # shelly
    channel: Annotated[int, Field(ge=0, le=3)] = 0  # shelly EM / plug channel
    password: SecretStr | None = None  # shelly: Gen2 digest auth, Gen1 basic auth (user admin)
    fields: Annotated[list[ValueMap], Field(min_length=1)] | None = None  # json

    @model_validator(mode="after")
    def _fits_format(self) -> HttpConnection:
        if self.format == "shelly" and not self.profile:
            raise _problem(
                "format: shelly needs profile: (em, 3em, pro3em, pro_em, plug, plus_plug)", "format"
            )
        if self.format != "shelly" and self.profile:
            raise _problem("profile is for format: shelly", "profile")
        if self.format == "json" and (not self.fields or any(f.path is None for f in self.fields)):
            raise _problem("format: json needs fields: [{path: ..., quantity: ...}]", "format")
        if self.format != "json" and self.fields:
            raise _problem("fields are for format: json", "fields")
        return self


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
