"""An OpenADR 2.0b VEN (``openleadr``): registers with the aggregator's VTN, receives events and
maps them to limits, and sends telemetry reports (grid and PV power).

Events kept, by event id, until they end or are cancelled; every second the interval in force now
becomes channels: LOAD_DISPATCH (``setpoint``, kW unless the signal's item base says W) is a grid
import limit, a SIMPLE level is the import limit ``simple_levels_w`` names for it, ELECTRICITY_PRICE
is recorded as ``openadr.price``. The import limit is ``openadr.limit_import``, held by the one
limiter. An event with none of these signals is refused (optOut). Events carry their own end, so a
lost VTN does not end one early: there is no fallback here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from datetime import datetime, timedelta
from typing import Any

from openleadr import OpenADRClient

from wattwerk.config.inbound import OpenAdr
from wattwerk.control.inbound import IMPORT_W, NONE
from wattwerk.edge.inbound.common import EdgeLink, Told
from wattwerk.model import utcnow

log = logging.getLogger("wattwerk.edge.inbound")

KNOWN = ("LOAD_DISPATCH", "SIMPLE", "simple", "ELECTRICITY_PRICE")
RETRY_S = 30.0  # registration with an unreachable VTN is retried this often


class Ven:
    """The VEN of ``control.inbound.openadr``."""

    def __init__(self, cfg: OpenAdr, edge: EdgeLink, told: Told | None = None) -> None:
        self.cfg = cfg
        self.edge = edge
        self.told = told or Told("openadr", edge.accept, fallback_after_s=math.inf, quantities=(IMPORT_W,))
        self.events: dict[str, dict[str, Any]] = {}
        passphrase = cfg.passphrase.get_secret_value() if cfg.passphrase else None
        self.client = OpenADRClient(
            ven_name=cfg.ven_name,
            vtn_url=cfg.vtn_url,
            cert=cfg.cert,
            key=cfg.key,
            passphrase=passphrase,
            vtn_fingerprint=cfg.vtn_fingerprint,
            ca_file=cfg.ca_file,
            show_fingerprint=False,
        )
        self.client.add_handler("on_event", self._on_event)
        self.client.add_handler("on_update_event", self._on_event)
        every = timedelta(seconds=cfg.report_s)
        for resource, key in (("grid", "grid_w"), ("pv", "pv_w")):
            self.client.add_report(
                callback=lambda key=key: self._measure(key),
                resource_id=resource,
                measurement="RealPower",
                unit="W",
                sampling_rate=every,
                report_specifier_id=f"wattwerk-{resource}",
                r_id=f"{resource}-power",
                report_duration=timedelta(hours=1),
            )

    def _measure(self, key: str) -> float | None:
        return self.edge.measurements()[key]

    async def _on_event(self, event: dict[str, Any]) -> str:
        desc = event["event_descriptor"]
        event_id = desc["event_id"]
        names = [s.get("signal_name") for s in event.get("event_signals", [])]
        if desc.get("event_status") == "cancelled":
            self.events.pop(event_id, None)
            log.warning("openadr: event %s cancelled", event_id)
            return "optIn"
        if not any(n in KNOWN for n in names):
            log.warning(
                "openadr: event %s with signals %s: none this edge can follow, opted out", event_id, names
            )
            return "optOut"
        self.events[event_id] = event
        log.warning(
            "openadr: event %s (%s) from %s kept",
            event_id,
            ", ".join(map(str, names)),
            event["active_period"]["dtstart"].isoformat(),
        )
        return "optIn"

    def in_force(self, now: datetime) -> dict[str, float]:
        """What the events say now: ``limit_import`` (W), ``state_level``, ``price``; ended events go."""
        out: dict[str, float] = {}
        for event_id, event in list(self.events.items()):
            period = event["active_period"]
            end = period["dtstart"] + (period.get("duration") or timedelta(0))
            if period.get("duration") and end <= now:
                del self.events[event_id]
                continue
            for signal in event.get("event_signals", []):
                value = _payload_now(signal, period["dtstart"], now)
                if value is not None:
                    _apply(signal, value, self.cfg, out)
        return out

    def tick(self) -> None:
        said = self.in_force(utcnow())
        limit = said.get(IMPORT_W, NONE)
        if limit != self.told.values[IMPORT_W]:
            log.warning("openadr: import limit %s", "lifted" if limit < 0 else f"{limit:.0f} W")
        self.told.values[IMPORT_W] = limit
        for key in ("state_level", "price"):
            if key in said:
                self.told.extra[key] = said[key]
            elif key == "state_level":
                self.told.extra[key] = 0.0

    async def _register(self, stop: asyncio.Event) -> bool:
        """Register with the VTN, retried every ``RETRY_S``; False when stopped first."""
        while not stop.is_set():
            try:
                await self.client.run()
            except Exception as exc:  # unreachable, refused, bad certificate
                log.error("openadr: registration with %s failed: %s", self.cfg.vtn_url, exc)
            else:
                if self.client.registration_id:
                    log.info("openadr: registered with %s as %s", self.cfg.vtn_url, self.client.ven_id)
                    return True
                log.error("openadr: %s gave no registration", self.cfg.vtn_url)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_S)
        return False

    async def run(self, stop: asyncio.Event) -> None:
        upkeep = asyncio.create_task(self.told.run(stop, self.tick))
        try:
            if await self._register(stop):
                await stop.wait()
        finally:
            await upkeep
            with contextlib.suppress(Exception):
                await self.client.stop()


def _payload_now(signal: dict[str, Any], start: datetime, now: datetime) -> float | None:
    """The payload of the signal's interval that covers ``now`` (intervals follow each other from
    ``start`` unless they carry their own dtstart)."""
    t = start
    for interval in signal.get("intervals", []):
        begin = interval.get("dtstart") or t
        duration = interval.get("duration") or timedelta(0)
        if begin <= now < begin + duration:
            value = interval.get("signal_payload")
            return float(value) if isinstance(value, int | float) else None
        t = begin + duration
    return None


def _apply(signal: dict[str, Any], value: float, cfg: OpenAdr, out: dict[str, float]) -> None:
    name = signal.get("signal_name")
    if name == "LOAD_DISPATCH":
        base = signal.get("item_base") or {}
        scale = {"k": 1000.0, "M": 1e6, "none": 1.0}.get(base.get("si_scale_code", "k"), 1000.0)
        watts = max(value * scale, 0.0)
        out[IMPORT_W] = min(out.get(IMPORT_W, math.inf), watts)
    elif name in ("SIMPLE", "simple"):
        level = int(value)
        out["state_level"] = float(level)
        if level in cfg.simple_levels_w:
            out[IMPORT_W] = min(out.get(IMPORT_W, math.inf), cfg.simple_levels_w[level])
    elif name == "ELECTRICITY_PRICE":
        out["price"] = value
