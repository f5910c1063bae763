"""The site file's ``control.inbound`` section: interfaces through which a direct marketer, an
aggregator or the grid operator sends limits to the edge (docs/signals.md).

* ``iec104``: an IEC 60870-5-104 outstation (the marketer's station is the client);
* ``modbus_server``: a Modbus TCP server with a documented register map (an RTU or building
  controller is the master);
* ``openadr``: an OpenADR 2.0b VEN that registers with the aggregator's VTN.

The two listening interfaces bind to loopback unless told otherwise; one that listens beyond
loopback needs an ``allow`` list of client addresses (an IP allow-list: these protocols have no
credentials of their own here).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, FilePath, SecretStr, Strict, model_validator
from pydantic_core import PydanticCustomError

from wattwerk.config.base import Model
from wattwerk.config.connections import Port
from wattwerk.config.devices import problem
from wattwerk.config.types import Seconds


def _network(text: str) -> str:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "config",
            "expected an IP address or network such as 192.168.1.20 or 10.0.0.0/24, got {got}",
            {"got": repr(text)},
        ) from None
    return text


Network = Annotated[str, AfterValidator(_network)]
Ioa = Annotated[int, Field(ge=1, le=16777215)]  # 3-octet information object address
File = Annotated[FilePath, Strict(False)]  # a file that exists (a path in the site file)


def is_loopback(host: str) -> bool:
    """``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed(ip: str, allow: tuple[str, ...] | list[str]) -> bool:
    """May a client at ``ip`` connect: in one of ``allow``'s networks, or on loopback when the list
    is empty."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.version == 6 and addr.ipv4_mapped is not None:  # type: ignore[union-attr]
        addr = addr.ipv4_mapped  # type: ignore[union-attr]
    if not allow:
        return addr.is_loopback
    return any(addr in ipaddress.ip_network(n, strict=False) for n in allow)


class _Listener(Model):
    """What the listening interfaces share: where they listen, who may connect, what happens when
    the peer goes silent."""

    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    allow: list[Network] = Field(default_factory=list)  # client IPs/networks; empty: loopback only
    # the peer silent this long (no connection, or the watchdog register not written): fallback
    fallback_after_s: Annotated[Seconds, Field(gt=0)] = 60.0
    # the contract's fallback for the feed-in limit: keep the last value, 0 % or 100 % of the PV power
    fallback: Literal["keep", 0, 100] = "keep"

    @model_validator(mode="after")
    def _guarded(self) -> _Listener:
        if not is_loopback(self.host) and not self.allow:
            raise problem(
                "listening on {host} lets other machines change the site's limits: list the clients "
                "that may connect in allow (IP addresses or networks)",
                ("allow",),
                host=self.host,
            )
        return self


class Iec104Points(Model):
    """Information object addresses of the outstation (docs/signals.md)."""

    setpoint: Ioa = 100  # C_SE_NC_1: the active-power limit (% of rated PV power, or kW)
    limit: Ioa = 200  # M_ME_NC_1: the feed-in limit in force (same unit as the setpoint)
    pv_power: Ioa = 201  # M_ME_NC_1: PV power, kW
    grid_power: Ioa = 202  # M_ME_NC_1: grid power, kW (+ import, - export)
    limited: Ioa = 300  # M_SP_NA_1: a feed-in limit is in force

    @model_validator(mode="after")
    def _distinct(self) -> Iec104Points:
        seen: dict[int, str] = {}
        for name, ioa in self.model_dump().items():
            if ioa in seen:
                raise problem("IOA {ioa} is used for {a} and {b}", (name,), ioa=ioa, a=seen[ioa], b=name)
            seen[ioa] = name
        return self


class Iec104Tls(Model):
    """IEC 60870-5-104 over TLS as IEC 62351-3 profiles it (``c104.TransportSecurity``): the
    outstation shows ``cert`` and demands the station's certificate, which ``ca_file`` must have
    signed (mutual authentication: c104's outstation always asks for it, it cannot be switched
    off); ``peers`` narrows that to exactly these station certificates."""

    cert: File  # the outstation's certificate (PEM)
    key: File  # its private key (PEM)
    passphrase: SecretStr | None = None  # of an encrypted key
    ca_file: File  # the CA that signed the marketer's station certificate
    peers: list[File] = Field(default_factory=list)  # only these station certificates (pinned)
    min_version: Literal["1.2", "1.3"] = "1.2"  # IEC 62351-3 Ed. 2: TLS 1.2 at least


class Iec104(_Listener):
    """The direct marketer's IEC 60870-5-104 station connects here."""

    port: Port = 2404
    common_address: Annotated[int, Field(ge=1, le=65534)] = 1
    unit: Literal["pct", "kw"] = "pct"  # the setpoint: % of the rated PV power, or kW
    points: Iec104Points = Iec104Points()
    report_s: Annotated[Seconds, Field(ge=0)] = 10.0  # measurements sent spontaneously this often (0: never)
    tls: Iec104Tls | None = None  # IEC 62351-3: TLS with the station's certificate required


class ModbusServer(_Listener):
    """A Modbus TCP server: a master writes limits and reads measurements (docs/signals.md)."""

    port: Port = 5020
    unit: Annotated[int, Field(ge=0, le=247)] = 1  # 0: answer every unit id


class OpenAdr(Model):
    """An OpenADR 2.0b VEN: the aggregator's VTN sends events, the edge sends telemetry reports."""

    vtn_url: Annotated[str, Field(pattern=r"^https?://")]
    ven_name: Annotated[str, Field(min_length=1)]
    # SIMPLE signal level (1 moderate, 2 high, 3 special) -> the grid import limit it means, W
    simple_levels_w: dict[Annotated[int, Field(ge=1, le=3)], Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict
    )
    report_s: Annotated[Seconds, Field(gt=0)] = 60.0  # telemetry: grid and PV power
    cert: str | None = None  # client certificate and key (PEM) for TLS and signed messages
    key: str | None = None
    passphrase: SecretStr | None = None
    ca_file: str | None = None
    vtn_fingerprint: str | None = None  # the VTN's certificate fingerprint (openleadr checks signatures)

    @model_validator(mode="after")
    def _secured(self) -> OpenAdr:
        host = self.vtn_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        if self.vtn_url.startswith("http://") and not is_loopback(host):
            raise problem(
                "an OpenADR VTN beyond loopback must be reached over https (with cert, key and "
                "vtn_fingerprint), got {url}",
                ("vtn_url",),
                url=self.vtn_url,
            )
        if (self.cert is None) != (self.key is None):
            raise problem("cert and key go together", ("cert" if self.cert is None else "key",))
        if self.cert is not None and self.ca_file is None:
            raise problem(
                "a client certificate needs ca_file: the CA that signed the VTN's certificate", ("ca_file",)
            )
        return self


class Inbound(Model):
    """``control.inbound``: at most one block per protocol."""

    iec104: Iec104 | None = None
    modbus_server: ModbusServer | None = None
    openadr: OpenAdr | None = None

    @model_validator(mode="after")
    def _ports(self) -> Inbound:
        if (
            self.iec104 is not None
            and self.modbus_server is not None
            and (self.iec104.port == self.modbus_server.port)
        ):
            raise problem("port {port} is also iec104's", ("modbus_server", "port"), port=self.iec104.port)
        return self

    def names(self) -> tuple[str, ...]:
        """The interfaces configured; each writes channels ``<name>.*`` (control/inbound.py)."""
        return tuple(n for n in ("iec104", "modbus_server", "openadr") if getattr(self, n) is not None)
