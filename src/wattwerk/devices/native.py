"""Devices that speak their own protocol instead of Modbus: KEBA UDP, Hardy Barth eCB1 and my-PV HTTP.

Each driver turns its device's answers into our quantities (``values()``) and its commands into the
device's requests. ``NativeDevice.read`` is shared: values out of their physical range, answers that
are not what the protocol promises and devices that do not answer are counted in the ledger and
dropped (a failing device is backed off), so a read never raises and nothing bad reaches the store.
Relay switches (Shelly, Tasmota, KMTronic) are in ``devices/relay.py``, RCT Power (its serial protocol over
TCP) in ``devices/rct.py`` and the TQ Energy Manager (HTTP login and OBIS-keyed JSON) in ``devices/tq_em.py``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import datetime
from html.parser import HTMLParser

from wattwerk.devices.device import _Commands
from wattwerk.devices.profile import Entry
from wattwerk.errors import BadInput, InputLedger, PermanentError, RetryableError
from wattwerk.model import Reading, utcnow
from wattwerk.protocols.http_device import JsonHttp
from wattwerk.protocols.keba import KebaUdp
from wattwerk.protocols.modbus import Health
from wattwerk.vocabulary import Command

log = logging.getLogger("wattwerk.devices")

# physical ranges of what these devices report (anything outside is a bad value, dropped)
RANGES: dict[str, tuple[float, float]] = {
    "power": (-1e6, 1e6),
    "energy": (0.0, 1e12),
    "current": (-1000.0, 1000.0),
    "voltage": (0.0, 1000.0),
    "temperature": (-50.0, 150.0),
    "state": (0.0, 10.0),
    "relay": (0.0, 1.0),
    "sgready": (1.0, 4.0),
    "soc": (0.0, 100.0),
    "phases": (1.0, 3.0),
}


def _range(quantity: str) -> tuple[float, float]:
    best = max((k for k in RANGES if quantity == k or quantity.startswith(k + "_")), key=len, default="power")
    return RANGES[best]


class NativeDevice(_Commands):
    """Shared reading and error handling; subclasses implement ``fetch`` and ``command``."""

    def __init__(
        self,
        entry: Entry,
        *,
        device_id: str,
        ledger: InputLedger | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.entry = entry
        self.device_id = device_id
        self.capabilities = frozenset(entry.capabilities)
        self.ledger = ledger or InputLedger()
        self.clock = clock
        self.health = Health()

    async def fetch(self) -> dict[str, float]:
        """One round of the device's answers as quantity -> value (our units and signs)."""
        raise NotImplementedError

    async def values(self) -> dict[str, float]:
        """``fetch`` with the bad values dropped and counted; {} when the device fails (backed off)."""
        if not self.health.ready(time.monotonic()):
            return {}
        try:
            raw = await self.fetch()
        except (RetryableError, PermanentError, BadInput) as exc:
            wait = self.health.failed(time.monotonic())
            kind = (
                exc.kind
                if isinstance(exc, BadInput)
                else ("timeout" if isinstance(exc, RetryableError) else "device")
            )
            self.ledger.record(self.device_id, kind, f"{exc}; retry in {wait:.0f} s")
            return {}
        self.health.ok()
        out = {}
        for quantity, value in raw.items():
            lo, hi = _range(quantity)
            if not math.isfinite(value) or not lo <= value <= hi:
                self.ledger.record(self.device_id, "range", f"{quantity} = {value} outside [{lo}, {hi}]")
                continue
            out[quantity] = value
        return out

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        values = await self.values()
        when = ts or self.clock()
        return [Reading(f"{self.device_id}.{q}", when, v) for q, v in values.items()]

    def _limit(self, command: str, value: float, lo: float, hi: float) -> float:
        if not math.isfinite(value):
            raise PermanentError(f"{self.device_id}: {command} {value} is not a number")
        if value < lo or value > hi:
            log.info("%s: %s %s clamped to [%s, %s]", self.device_id, command, value, lo, hi)
        return min(max(value, lo), hi)

    async def aclose(self) -> None:
        """Release sockets and clients."""


def _number(doc: dict, key: str, device: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput("field", f"{device}: {key!r} missing or not a number: {value!r}")
    return float(value)


class KebaUdpDevice(NativeDevice):
    """KEBA KeContact P20/P30 over UDP (``protocols/keba.py``). ``state`` as IEC 61851: 0 no car,
    1 plugged, 2 charging; currents per phase in A, ``current_limit`` the box's user limit."""

    def __init__(self, entry: Entry, client: KebaUdp, **kw: object) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        self.client = client

    async def fetch(self) -> dict[str, float]:
        r2 = await self.client.report(2)
        r3 = await self.client.report(3)
        d = self.device_id
        plug, state = _number(r2, "Plug", d), _number(r2, "State", d)
        out = {
            "power": _number(r3, "P", d) / 1000.0,  # mW
            "energy": _number(r3, "E total", d) / 10.0,  # 0.1 Wh
            "state": 0.0 if plug < 5 else (2.0 if state == 3 else 1.0),  # 5/7: plugged on the car side
            "current_limit": _number(r2, "Curr user", d) / 1000.0,
            "relay": 1.0 if _number(r2, "Enable sys", d) else 0.0,
        }
        for i in (1, 2, 3):
            out[f"current_l{i}"] = _number(r3, f"I{i}", d) / 1000.0
            out[f"voltage_l{i}"] = _number(r3, f"U{i}", d)
        return out

    async def command(self, command: str, value: float) -> None:
        if command == Command.CURRENT_LIMIT:
            amps = 0.0 if value <= 0 else self._limit(command, value, 6.0, 63.0)
            await self.client.command(f"curr {round(amps * 1000)}")
        elif command == Command.ENABLE:
            await self.client.command(f"ena {1 if value else 0}")
        else:
            raise PermanentError(f"{self.device_id}: KEBA UDP has no {command} command")

    async def aclose(self) -> None:
        self.client.close()


# eCB1 meter data keys (OBIS, as the eCB1 API names them): W and kWh
_OBIS = {
    "power_import": "1-0:1.4.0",
    "power_export": "1-0:2.4.0",
    "energy_import": "1-0:1.8.0",
    "energy_export": "1-0:2.8.0",
}
_IEC_STATE = {"A": 0.0, "B": 1.0, "C": 2.0, "D": 2.0}


class HardyBarthDevice(NativeDevice):
    """Hardy Barth eCB1 controller (cPH1 built in, cPμ1 behind an external one): JSON API under
    ``/api/v1``. Charger entries read ``chargecontrols/<id>`` and its meter, set the current with
    ``chargecontrols/<id>/mode`` (``mode=manual``) and ``.../mode/manual/ampere``; the meter entry
    (``meter_only``) reads ``meters/<id>`` as a grid meter (+ import)."""

    def __init__(
        self,
        entry: Entry,
        http: JsonHttp,
        *,
        charge_control: int = 1,
        meter: int | None = None,
        meter_only: bool = False,
        **kw: object,
    ) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        self.http = http
        self.charge_control = charge_control
        self.meter = meter
        self.meter_only = meter_only

    async def _meter(self, meter_id: int) -> dict[str, float]:
        doc = await self.http.get(f"/api/v1/meters/{meter_id}")
        data = (doc.get("meter") or {}).get("data") if isinstance(doc.get("meter"), dict) else None
        if not isinstance(data, dict):
            raise BadInput("field", f"{self.device_id}: meters/{meter_id} has no meter.data")
        required = ("power_import", "energy_import")
        return {
            q: _number(data, key, self.device_id) for q, key in _OBIS.items() if q in required or key in data
        }

    async def fetch(self) -> dict[str, float]:
        if self.meter_only:
            m = await self._meter(self.meter if self.meter is not None else 1)
            out = {
                "power": m["power_import"] - m.get("power_export", 0.0),
                "energy_import": m["energy_import"] * 1000.0,
            }
            if "energy_export" in m:
                out["energy_export"] = m["energy_export"] * 1000.0
            return out
        doc = await self.http.get(f"/api/v1/chargecontrols/{self.charge_control}")
        cc = doc.get("chargecontrol")
        if not isinstance(cc, dict):
            raise BadInput(
                "field", f"{self.device_id}: chargecontrols/{self.charge_control}: no chargecontrol"
            )
        state = _IEC_STATE.get(str(cc.get("state", "")))
        if state is None:
            raise BadInput("field", f"{self.device_id}: unknown charge state {cc.get('state')!r}")
        meter_id = self.meter  # else the charge control's meterid where it names one, else meter 1 (as evcc)
        if meter_id is None:
            meter_id = int(_number(cc, "meterid", self.device_id)) if "meterid" in cc else 1
        m = await self._meter(meter_id)
        return {
            "power": m["power_import"],
            "energy": m["energy_import"] * 1000.0,
            "state": state,
            "current_limit": _number(cc, "manualmodeamp", self.device_id),
        }

    async def command(self, command: str, value: float) -> None:
        if self.meter_only:
            raise PermanentError(f"{self.device_id}: the eCB1 meter is read-only")
        if command == Command.ENABLE:
            action = "start" if value else "stop"
            await self.http.post(f"/api/v1/chargecontrols/{self.charge_control}/{action}")
        elif command == Command.CURRENT_LIMIT:
            amps = self._limit(command, value, 6.0, 32.0)
            base = f"/api/v1/chargecontrols/{self.charge_control}/mode"
            await self.http.post(base, {"mode": "manual"})
            await self.http.post(f"{base}/manual/ampere", {"manualmodeamp": str(round(amps))})
        else:
            raise PermanentError(f"{self.device_id}: Hardy Barth has no {command} command")

    async def aclose(self) -> None:
        await self.http.aclose()


class MyPvHttpDevice(NativeDevice):
    """my-PV AC THOR / AC ELWA-E over HTTP: ``/data.jsn`` (``power`` W, ``temp1`` 0.1 °C) and
    ``/control.html?power=<W>`` (control type "HTTP"; re-send within the device's power timeout)."""

    def __init__(self, entry: Entry, http: JsonHttp, *, max_w: float = 3000.0, **kw: object) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        self.http = http
        self.max_w = max_w

    async def fetch(self) -> dict[str, float]:
        doc = await self.http.get("/data.jsn")
        return {
            "power": _number(doc, "power", self.device_id),
            "temperature": _number(doc, "temp1", self.device_id) / 10.0,
        }

    async def command(self, command: str, value: float) -> None:
        if command != "power":
            raise PermanentError(f"{self.device_id}: my-PV has no {command} command")
        watts = self._limit(command, value, 0.0, self.max_w)
        await self.http.request(
            "GET", "/control.html", params={"power": str(round(watts))}, expect_json=False
        )

    async def aclose(self) -> None:
        await self.http.aclose()


class PulseCounterDevice(NativeDevice):
    """An S0 pulse meter on a Tasmota counter input: ``/cm?cmnd=Status%2010`` -> ``StatusSNS.COUNTER.C<n>``.

    ``energy`` (Wh) is the count over the impulse constant, kept monotonic across counter resets (a
    reboot without a saved counter): a count lower than the last is counted as ``counter_reset`` and
    continues from there. ``power`` is the mean over the time since the previous read (none on the first).
    """

    def __init__(self, entry: Entry, http: JsonHttp, **kw: object) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        assert entry.pulse is not None
        self.spec = entry.pulse
        self.http = http
        self.offset = 0.0  # counts before the last reset
        self.last: tuple[datetime, float] | None = None  # (time, total count)

    async def fetch(self) -> dict[str, float]:
        doc = await self.http.get("/cm", {"cmnd": "Status 10"})
        counters = (
            (doc.get("StatusSNS") or {}).get("COUNTER") if isinstance(doc.get("StatusSNS"), dict) else None
        )
        if not isinstance(counters, dict):
            raise BadInput("field", f"{self.device_id}: no StatusSNS.COUNTER (counter input not configured?)")
        count = _number(counters, f"C{self.spec.counter}", self.device_id)
        if count < 0:
            raise BadInput("range", f"{self.device_id}: counter C{self.spec.counter} = {count}")
        now = self.clock()
        if self.last is not None and count + self.offset < self.last[1]:
            self.ledger.record(
                self.device_id,
                "counter_reset",
                f"counter C{self.spec.counter} went back to {count}; continuing from there",
            )
            self.offset = self.last[1]
            self.last = None
        total = count + self.offset
        wh_per_count = 1000.0 / self.spec.per_kwh
        out = {"energy": total * wh_per_count}
        if self.last is not None and (now - self.last[0]).total_seconds() > 0:
            seconds = (now - self.last[0]).total_seconds()
            out["power"] = (total - self.last[1]) * wh_per_count * 3600.0 / seconds
        self.last = (now, total)
        return out

    async def command(self, command: str, value: float) -> None:
        raise PermanentError(f"{self.device_id}: a pulse meter is read-only")

    async def aclose(self) -> None:
        await self.http.aclose()


# KOSTAL PIKO (older generation): DXS JSON API ids (value in the unit named)
DXS_IDS = {"power": (67109120, 1.0), "energy": (251658753, 1000.0)}  # AC output W; total yield kWh -> Wh


class KostalDxsDevice(NativeDevice):
    """KOSTAL PIKO / PIKO BA with the JSON API ``/api/dxs.json?dxsEntries=<id>&dxsEntries=<id>``, answering
    ``{"dxsEntries": [{"dxsId": id, "value": v}], "status": {"code": 0}}``. A null AC power is an inverter
    that is off (night): 0 W."""

    def __init__(self, entry: Entry, http: JsonHttp, **kw: object) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        self.http = http

    async def fetch(self) -> dict[str, float]:
        ids = [str(i) for i, _ in DXS_IDS.values()]
        doc = await self.http.request("GET", "/api/dxs.json", params=[("dxsEntries", i) for i in ids])
        status = doc.get("status")
        if isinstance(status, dict) and status.get("code", 0) != 0:
            raise BadInput("device", f"{self.device_id}: DXS status {status}")
        entries = doc.get("dxsEntries")
        if not isinstance(entries, list):
            raise BadInput("field", f"{self.device_id}: no dxsEntries in the answer")
        by_id = {e.get("dxsId"): e.get("value") for e in entries if isinstance(e, dict)}
        out = {}
        for quantity, (dxs, scale) in DXS_IDS.items():
            value = by_id.get(dxs)
            if value is None and quantity == "power" and dxs in by_id:
                value = 0.0
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadInput("field", f"{self.device_id}: dxsId {dxs} ({quantity}) missing or {value!r}")
            out[quantity] = float(value) * scale
        return out

    async def command(self, command: str, value: float) -> None:
        raise PermanentError(f"{self.device_id}: the PIKO is read-only here")

    async def aclose(self) -> None:
        await self.http.aclose()


class _Cells(HTMLParser):
    """The text of every table cell of a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self._open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "td":
            self.cells.append("")
            self._open = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._open = False

    def handle_data(self, data: str) -> None:
        if self._open and self.cells:
            self.cells[-1] += data


# the legacy PIKO status page: label cell -> (quantity, scale); the value is the next cell
PIKO_HTML = {"aktuell": ("power", 1.0), "Gesamtenergie": ("energy", 1000.0)}


class KostalHtmlDevice(NativeDevice):
    """The legacy KOSTAL PIKO: its status page ``/`` (HTTP basic auth) as a table of label and value
    cells: ``aktuell`` (W, ``x x x`` while the inverter is off: 0 W) and ``Gesamtenergie`` (kWh)."""

    def __init__(self, entry: Entry, http: JsonHttp, **kw: object) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        self.http = http

    async def fetch(self) -> dict[str, float]:
        parser = _Cells()
        parser.feed(await self.http.text("/"))
        cells = [c.replace("\xa0", " ").strip() for c in parser.cells]
        out: dict[str, float] = {}
        for i, label in enumerate(cells[:-1]):
            if label in PIKO_HTML:
                quantity, scale = PIKO_HTML[label]
                text = cells[i + 1]
                if quantity == "power" and text.replace(" ", "") == "xxx":
                    out[quantity] = 0.0
                    continue
                try:
                    out[quantity] = float(text) * scale
                except ValueError:
                    raise BadInput("field", f"{self.device_id}: {label} = {text!r} is not a number") from None
        missing = {q for q, _ in PIKO_HTML.values()} - set(out)
        if missing:
            raise BadInput("field", f"{self.device_id}: no {', '.join(sorted(missing))} on the status page")
        return out

    async def command(self, command: str, value: float) -> None:
        raise PermanentError(f"{self.device_id}: the PIKO is read-only here")

    async def aclose(self) -> None:
        await self.http.aclose()
