"""What the local page shows besides the power flows, as JSON: devices, charge points, battery,
heat pump, grid restrictions; and the websocket that pushes live values every second.

Everything here is a pure function of the site configuration and a state ``Snapshot`` (plus the
runtime's counters when there is a runtime), so the demo and a real edge share it.

JSON shapes (all optional in ``/api/live``; the page shows a section only when its key is there)::

    devices:      [{id, name, role, catalog, connection, state: ok|stale|failing|waiting,
                    reads, failures, errors: {kind: n}, last_error: {kind, message, at} | null,
                    values: {quantity: number}, status: ok|stale|error, kind, cause, check}]
                  (status, cause and what to check: ``wattwerk.edge.status``)
    health:       {level: ok|warn|bad, text, devices}: the header (bad: the grid meter is not ok)
    chargers:     [{id, name, power_w, mode, current_a, target_a, phases, vehicle_soc}]
    battery:      {ids, power_w, soc_pct, reserve_pct, capacity_wh} | null
    heat_pump:    [{id, name, power_w, sgready, temperature_c}]
    restrictions: [{kind, limit_w, source}]
    plan:         {currency, slots: [{start, end, price, grid_w, battery_w, ev_w}]} (from the view)
    timezone:     the site's IANA zone; the page shows times in it
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from fastapi import WebSocket, WebSocketDisconnect

from wattwerk.config import DeviceBase, SiteConfig
from wattwerk.config.site_limits import site_limits
from wattwerk.devices.catalog import find
from wattwerk.edge import history
from wattwerk.edge.status import device_status, site_health
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.flows import SiteRoles, power_flows
from wattwerk.model import utcnow
from wattwerk.snapshot import Snapshot

log = logging.getLogger("wattwerk.web")

SGREADY = {1: "blocked", 2: "normal", 3: "recommended on", 4: "forced on"}


@dataclass
class NotingLedger(InputLedger):
    """An ``InputLedger`` that also remembers each device's last error, for the page."""

    last: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)

    def record(self, device: str, kind: str, message: str) -> None:
        super().record(device, kind, message)
        self.last[device] = (kind, message, utcnow())


class PolledLike(Protocol):
    device_id: str
    failures: int
    reads: int


def _round(v: float | None, digits: int = 1) -> float | None:
    return None if v is None else round(v, digits)


def device_rows(
    cfg: SiteConfig, snap: Snapshot, *, ledger: InputLedger | None = None, polled: Iterable[PolledLike] = ()
) -> list[dict[str, Any]]:
    """One row per configured device: its state, counters, last error and current values."""
    by_id = {p.device_id: p for p in polled}
    rows = []
    for dev in cfg.devices:
        prefix = f"{dev.id}."
        values = {ch[len(prefix) :]: _round(snap.get(ch), 2) for ch in snap.values if ch.startswith(prefix)}
        values = {k: v for k, v in values.items() if v is not None}
        p = by_id.get(dev.id)
        errors = ledger.by_kind(dev.id) if ledger is not None else {}
        last = getattr(ledger, "last", {}).get(dev.id)
        seen = any(ch.startswith(prefix) for ch in snap.values)
        if p is not None and p.failures:
            state = "failing"
        elif values:
            state = "ok"
        elif seen:
            state = "stale"
        else:
            state = "waiting"
        conn = dev.connection
        port = _port(dev)
        where = getattr(conn, "device", None) or ":".join(
            str(x) for x in (getattr(conn, "host", None), port) if x
        )
        last_error = (
            None if last is None else {"kind": last[0], "message": last[1], "at": last[2].isoformat()}
        )
        rows.append(
            {
                "id": dev.id,
                "name": dev.label,
                "role": dev.role,
                "catalog": dev.catalog,
                "connection": f"{conn.type} {where}".strip(),
                "state": state,
                "reads": p.reads if p is not None else None,
                "failures": p.failures if p is not None else 0,
                "errors": errors,
                "last_error": last_error,
                "values": values,
            }
            | device_status(state, last_error, where, port, dev.catalog)
        )
    return rows


def _port(dev: DeviceBase) -> int | None:
    """The port the driver uses: the site file's, else (Modbus TCP) the catalogue entry's, else 502;
    a UDP device with a catalogue entry (KEBA: 7090) always uses the entry's (``edge.drivers``)."""
    c = dev.connection
    port = getattr(c, "port", None)
    if c.type == "udp" and dev.catalog and getattr(c, "host", None):
        try:
            return find(dev.catalog.rsplit("/", 1)[-1]).entry.connection.port or port
        except PermanentError:
            return port
    if port is not None or c.type != "modbus_tcp":
        return port
    try:
        return find((dev.catalog or "").rsplit("/", 1)[-1]).entry.connection.port
    except PermanentError:
        return 502


def site_details(
    cfg: SiteConfig,
    snap: Snapshot,
    *,
    targets: dict[str, float] | None = None,
    modes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Charge points, battery, heat pumps and grid restrictions; ``targets``: last setpoints by
    channel; ``modes``: each charge point's mode as the control runs it (the owner's choice)."""
    targets = targets or {}
    modes = modes or {}
    get = snap.get
    chargers = []
    for dev in cfg.by_role("ev_charger"):
        mode = get(f"{dev.id}.mode")
        chargers.append(
            {
                "id": dev.id,
                "name": dev.label,
                "power_w": _round(get(f"{dev.id}.power")),
                "mode": modes.get(dev.id)
                or (cfg.strategy.ev_default_mode if mode is None else str(int(mode))),
                "current_a": _round(get(f"{dev.id}.current")),
                "target_a": targets.get(
                    f"{dev.id}.current_limit", getattr(dev.limits, "max_current_a", None)
                ),
                "phases": _round(get(f"{dev.id}.phases"), 0),
                "vehicle_soc": _round(get(f"{dev.id}.soc")),
            }
        )
    bats = cfg.by_role("battery")
    battery = None
    if bats:
        powers = [get(f"{b.id}.power") for b in bats]
        socs = [get(f"{b.id}.soc") for b in bats]
        caps = [float(getattr(b, "capacity_wh", 0.0)) for b in bats]
        soc = None
        if all(s is not None for s in socs) and sum(caps) > 0:
            soc = sum(s * c for s, c in zip(socs, caps, strict=True)) / sum(caps)  # type: ignore[operator]
        battery = {
            "ids": [b.id for b in bats],
            "power_w": None if any(p is None for p in powers) else round(sum(powers), 1),  # type: ignore[arg-type]
            "soc_pct": _round(soc),
            "capacity_wh": sum(caps),
            "reserve_pct": max(cfg.reserve_soc(b) for b in bats),  # type: ignore[arg-type]
        }
    heat = []
    for dev in cfg.by_role("heat_pump"):
        sg = get(f"{dev.id}.sgready")
        heat.append(
            {
                "id": dev.id,
                "name": dev.label,
                "power_w": _round(get(f"{dev.id}.power")),
                "sgready": None if sg is None else SGREADY.get(int(sg), str(int(sg))),
                "temperature_c": _round(get(f"{dev.id}.temperature")),
            }
        )
    restrictions: list[dict[str, Any]] = [  # the fixed limits, as the limiter and the planner see them
        {"kind": LIMIT_KINDS[name][0], "limit_w": round(watts), "source": "site file"}
        for name, watts in sorted(site_limits(cfg).items())
    ]
    rcr = get("grid.rcr_limit_pct")  # a ripple-control receiver's level, when one is read
    if rcr is not None and rcr < 100:
        restrictions.append({"kind": "ripple_control", "limit_pct": rcr, "source": "ripple-control receiver"})
    return {"chargers": chargers, "battery": battery, "heat_pump": heat, "restrictions": restrictions}


# the limiter's active limits (``LimiterOutput.active``: name -> W) as the page names them
LIMIT_KINDS: dict[str, tuple[str, str]] = {
    "import:grid": ("import_limit", "grid connection"),
    "export:grid": ("feed_in_limit", "grid connection"),
    "export:feed_in": ("feed_in_limit", "fixed feed-in limit"),
    "import:peak_shaving": ("peak_shaving", "peak shaving"),
    "import:ripple": ("ripple_control", "ripple-control receiver"),
    "export:ripple": ("ripple_control", "ripple-control receiver"),
    "export:direct_marketer": ("direct_marketer", "direct marketer"),
    "export:iec104": ("feed_in_limit", "direct marketer (IEC 60870-5-104)"),  # control.inbound
    "export:modbus_server": ("feed_in_limit", "Modbus master"),
    "import:modbus_server": ("import_limit", "Modbus master"),
    "import:openadr": ("import_limit", "OpenADR event"),
    "para14a": ("para14a", "§14a EnWG dimming"),
}


def restriction_rows(active: Mapping[str, float]) -> list[dict[str, Any]]:
    """Rows for the page from the limits the limiter holds this cycle."""
    rows = []
    for name, watts in sorted(active.items()):
        kind, source = LIMIT_KINDS.get(name, (name.replace(":", "_"), "limiter"))
        rows.append(
            {
                "kind": kind,
                "limit_w": round(watts),
                "source": source,
                "direction": name.split(":", 1)[0] if ":" in name else "import",
            }
        )
    return rows


class RuntimeLike(Protocol):
    ledger: InputLedger

    @property
    def polled(self) -> list[Any]: ...


class RuntimeView:
    """A ``SiteView`` over a running ``EdgeRuntime`` and its site configuration.

    ``cfg`` is replaced when the site file changes (setup in the UI); ``today`` comes from
    ``today_fn`` when the edge has a store, else it is empty.
    """

    def __init__(
        self,
        runtime: Any,
        cfg: SiteConfig,
        *,
        today_fn: Callable[[], dict[str, Any]] | None = None,
        plan_fn: Callable[[], dict[str, Any]] | None = None,
        limits_fn: Callable[[], Mapping[str, float]] | None = None,
        modes_fn: Callable[[], Mapping[str, str]] | None = None,
        cars_fn: Callable[[], Mapping[str, str]] | None = None,
        store_view: Any = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.runtime = runtime
        self.cfg = cfg
        self.today_fn = today_fn
        self.plan_fn = plan_fn
        self.limits_fn = limits_fn  # e.g. lambda: last_limiter_output.active
        self.modes_fn = modes_fn  # charge point -> mode, as the control runs it
        self.cars_fn = cars_fn  # charge point -> the car named on the owner's plan
        self.store_view = store_view  # edge.view.StoreView: history and sessions (None: no store)
        self.clock = clock

    def _snap(self) -> Snapshot:
        snap: Snapshot = self.runtime.state.snapshot(self.clock())
        return snap

    def live(self) -> dict[str, Any]:
        now = self.clock()
        snap = self._snap()
        roles = SiteRoles.from_pairs([(d.id, d.role) for d in self.cfg.devices])
        flows = power_flows(roles, snap.get)
        targets = {ch: sp.value for ch, sp in self.runtime.stats.last_setpoints.items()}
        out = {
            "site": self.cfg.site.name,
            "timezone": self.cfg.site.timezone,
            "ts": now.isoformat(),
            "local_time": now.astimezone(ZoneInfo(self.cfg.site.timezone)).strftime("%a %d %b %Y %H:%M"),
            "flows": {k: _round(v) for k, v in flows.items()},
            "stale": [d for d in snap.stale_devices() if d != "edge"],
            "devices": (rows := self.devices(snap)),
            "health": site_health(rows),
        } | site_details(self.cfg, snap, targets=targets, modes=self.modes_fn() if self.modes_fn else None)
        if self.plan_fn is not None:
            out["plan"] = self.plan_fn()
        if self.limits_fn is not None:
            out["restrictions"] = restriction_rows(self.limits_fn())
        return out

    def devices(self, snap: Snapshot | None = None) -> list[dict[str, Any]]:
        return device_rows(
            self.cfg, snap or self._snap(), ledger=self.runtime.ledger, polled=self.runtime.polled
        )

    def today(self) -> dict[str, Any]:
        if self.today_fn is not None:
            return self.today_fn()
        tz = ZoneInfo(self.cfg.site.timezone)
        local = self.clock().astimezone(tz)
        start = datetime(local.year, local.month, local.day, tzinfo=tz)
        end = (start + timedelta(days=1, hours=2)).replace(hour=0)
        return {"start": start.isoformat(), "end": end.isoformat(), "series": {}, "energy_kwh": {}}

    def history(self, period: str, day: date) -> dict[str, Any]:
        """The store's local ``period`` containing ``day`` (``edge.history``)."""
        if self.store_view is None:
            raise PermanentError("this edge keeps no store: no history")
        self.store_view.flush()
        return history.history(self.store_view, self.cfg, period, day)

    def sessions(self, month: date) -> list[dict[str, Any]]:
        """The charging sessions starting in the local ``month`` (``edge.history``)."""
        if self.store_view is None:
            raise PermanentError("this edge keeps no store: no charging sessions")
        self.store_view.flush()
        modes = dict(self.modes_fn()) if self.modes_fn else None
        cars = self.cars_fn() if self.cars_fn else None
        return history.sessions(self.store_view.store, self.cfg, month, self.clock(), modes, cars)


def enrich(view: Any, live: dict[str, Any]) -> dict[str, Any]:
    """Add devices and details to a view's ``live()`` when the view has a config and a state but
    does not provide them itself (the demo)."""
    if "devices" in live:
        return live
    cfg, state = getattr(view, "cfg", None), getattr(view, "state", None)
    if not isinstance(cfg, SiteConfig) or state is None:
        return live
    try:
        now = datetime.fromisoformat(live["ts"])
    except (KeyError, TypeError, ValueError):
        now = utcnow()
    snap = state.snapshot(now)
    rows = device_rows(cfg, snap)
    shown = {"timezone": cfg.site.timezone, "devices": rows, "health": site_health(rows)}
    return live | shown | site_details(cfg, snap)


async def push_live(ws: WebSocket, live: Callable[[], dict[str, Any]], every_s: float = 1.0) -> None:
    """Send ``live()`` as JSON every ``every_s`` until the client goes away."""
    await ws.accept()
    try:
        while True:
            await ws.send_json(live())
            await asyncio.sleep(every_s)
    except (WebSocketDisconnect, RuntimeError, ConnectionError):  # the page closed or the LAN dropped
        log.debug("live socket closed")
    finally:
        with contextlib.suppress(RuntimeError):
            await ws.close()
