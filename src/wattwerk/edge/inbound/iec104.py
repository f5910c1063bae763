"""The direct marketer's IEC 60870-5-104 link: the edge is the outstation (``c104`` server).

The marketer's station sends an active-power setpoint (C_SE_NC_1, % of the installed PV power or
kW, ``unit``) and reads back the feed-in limit in force, PV and grid power (M_ME_NC_1: on
interrogation, spontaneously on change, every ``report_s``) and whether a limit holds (M_SP_NA_1).
The setpoint becomes ``iec104.limit_pct`` (or ``iec104.limit_export`` in W), which the limiter
holds like any other limit. No started connection (STARTDT) for ``fallback_after_s``: the
contract's fallback. Clients outside ``allow`` (loopback when empty) are refused. With ``tls``
the link runs over TLS as IEC 62351-3 profiles it: the station must show a certificate that
``ca_file`` signed (``transport_security``). The IOAs are in docs/signals.md.
"""

# no ``from __future__ import annotations``: c104 checks its callbacks' annotations as objects

import asyncio
import logging
import math

import c104

from wattwerk.config.inbound import Iec104, Iec104Tls, allowed
from wattwerk.control.inbound import FEED_IN_PCT, FEED_IN_W
from wattwerk.edge.inbound.common import EdgeLink, Told

log = logging.getLogger("wattwerk.edge.inbound")


class Iec104Outstation:
    """One 104 server with one station (``common_address``); ``start()``/``stop()`` around ``run``."""

    def __init__(self, cfg: Iec104, edge: EdgeLink, told: Told | None = None) -> None:
        self.cfg = cfg
        self.edge = edge
        quantity = FEED_IN_PCT if cfg.unit == "pct" else FEED_IN_W
        self.quantity = quantity
        self.told = told or Told(
            "iec104",
            edge.accept,
            fallback=cfg.fallback,
            fallback_after_s=cfg.fallback_after_s,
            quantities=(quantity,),
            state_file=edge.state_file("iec104"),
        )
        self.refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        tls, self.tls_problem = None, ""
        if cfg.tls is not None:
            try:
                tls = transport_security(cfg.tls)
            except ValueError as exc:  # a key that does not load, a wrong passphrase: never plain
                self.tls_problem = str(exc) or type(exc).__name__
        self.server = c104.Server(ip=cfg.host, port=cfg.port, tick_rate_ms=50, transport_security=tls)
        self.server.on_connect(callable=self._on_connect)
        station = self.server.add_station(common_address=cfg.common_address)
        p = cfg.points
        report_ms = int(cfg.report_s * 1000)
        self.limit = station.add_point(io_address=p.limit, type=c104.Type.M_ME_NC_1, report_ms=report_ms)
        self.pv = station.add_point(io_address=p.pv_power, type=c104.Type.M_ME_NC_1, report_ms=report_ms)
        self.grid = station.add_point(io_address=p.grid_power, type=c104.Type.M_ME_NC_1, report_ms=report_ms)
        self.limited = station.add_point(io_address=p.limited, type=c104.Type.M_SP_NA_1, report_ms=report_ms)
        self.setpoint = station.add_point(io_address=p.setpoint, type=c104.Type.C_SE_NC_1)
        self.setpoint.on_receive(callable=self._on_setpoint)

    # ------------------------------------------------------------ c104's thread

    def _on_connect(self, server: c104.Server, ip: str) -> bool:
        ok = allowed(ip, self.cfg.allow)
        if not ok:
            self.refused += 1
            log.warning("iec104: connection from %s refused (not in allow)", ip)
        return ok

    def _on_setpoint(
        self, point: c104.Point, previous_info: c104.Information, message: c104.IncomingMessage
    ) -> c104.ResponseState:
        value = point.value
        top = 100.0 if self.cfg.unit == "pct" else math.inf
        if not isinstance(value, float) or not 0.0 <= value <= top:
            log.warning("iec104: setpoint %r out of range (0..%g %s): refused", value, top, self.cfg.unit)
            return c104.ResponseState.FAILURE
        watts = value if self.cfg.unit == "pct" else value * 1000.0
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.told.set, self.quantity, watts)
        return c104.ResponseState.SUCCESS

    # ------------------------------------------------------------ the edge's loop

    def tick(self) -> None:
        """Contact while a connection has started data transfer; the read-back points from the site
        now, sent spontaneously when they change."""
        if self.server.active_connection_count > 0:
            self.told.heard()
        m = self.edge.measurements()
        limit_w = self.edge.limit_w("export")
        rated = self.edge.pv_rated_w
        if limit_w is None:
            limit = 100.0 if self.cfg.unit == "pct" else _kw(rated)
        elif self.cfg.unit == "pct":
            limit = min(100.0, round(100.0 * limit_w / rated, 2)) if rated else 0.0
        else:
            limit = _kw(limit_w)
        for point, value in (
            (self.pv, _kw(m["pv_w"])),
            (self.grid, _kw(m["grid_w"])),
            (self.limit, limit),
            (self.limited, limit_w is not None),
        ):
            if point.value != value:
                point.value = value
                if self.server.active_connection_count > 0:
                    point.transmit(cause=c104.Cot.SPONTANEOUS)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.server.start()
        log.info(
            "iec104 outstation on %s:%d, common address %d",
            self.cfg.host,
            self.cfg.port,
            self.cfg.common_address,
        )

    def stop(self) -> None:
        self.server.stop()

    async def run(self, stop: asyncio.Event) -> None:
        if self.tls_problem:
            log.error("iec104: TLS not set up (%s): the outstation does not listen", self.tls_problem)
            return
        try:
            self.start()
        except Exception as exc:  # c104 raises when the port is taken
            log.error("iec104: cannot listen on %s:%d: %s", self.cfg.host, self.cfg.port, exc)
            return
        try:
            await self.told.run(stop, self.tick)
        finally:
            self.stop()


def transport_security(cfg: Iec104Tls) -> c104.TransportSecurity:
    """c104's TLS settings from the site file's ``tls``: chain and time validated against
    ``ca_file``, the station's certificate required (and, with ``peers``, pinned)."""
    tls = c104.TransportSecurity(validate=True, only_known=bool(cfg.peers))
    passphrase = cfg.passphrase.get_secret_value() if cfg.passphrase else ""
    tls.set_certificate(cert=str(cfg.cert), key=str(cfg.key), passphrase=passphrase)
    tls.set_ca_certificate(cert=str(cfg.ca_file))
    for peer in cfg.peers:
        tls.add_allowed_remote_certificate(cert=str(peer))
    low = c104.TlsVersion.TLS_1_3 if cfg.min_version == "1.3" else c104.TlsVersion.TLS_1_2
    tls.set_version(min=low, max=c104.TlsVersion.TLS_1_3)
    return tls


def _kw(watts: float | None) -> float:
    return 0.0 if watts is None else round(watts / 1000.0, 3)
