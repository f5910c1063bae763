"""``wattwerk demo``: a simulated site, the edge that reads and stores it, and the local page.

Interactive (no ``--for``): the site is simulated from today's local midnight up to now at full
speed, so today's chart has data, then runs on at ``--speed`` while http://127.0.0.1:8080 shows
the live power flows and today's chart. Beside it runs an embedded portal (SQLite in the data
folder) on http://127.0.0.1:8081: the demo edge is paired with it and uploads through its outbox,
so signing in as ``demo`` shows the same site on the portal (``--no-portal`` leaves it out).

Headless (``--for 24h``): runs time-compressed for that long in simulated time, then prints the
energy per flow as the edge measured it (from the store's counters) and the balance check::

    wattwerk demo --speed 3600 --for 24h --json

Closed-loop scenarios (``--scenario NAME``, see ``docs/scenarios.md``): the simulator's devices
behind their emulators on loopback (P1 for the grid meter, Modbus/SunSpec for PV, battery,
chargers, heat pump relay and heating rod), the edge's drivers reading them, the control cycle
deciding and writing back; the summary adds limit violations, relay switches, the EV's grid
share and fallbacks::

    wattwerk demo --scenario pv-surplus-sunny --speed 100000 --for 14h --json

Everything runs in one event loop and one thread: simulator, edge polling, store, web page.
The grid meter is read the way a P1 adapter delivers it: each poll encodes the simulated
meter as a DSMR 5 telegram (the P1 emulator's encoder) and the edge decodes it with the
same ``MeterReader`` and DSMR decoder that read a real adapter over TCP or serial.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from wattwerk.config import ConfigError, SiteConfig, load_config, load_demo_config, parse_duration
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.uplink import Uplink, UplinkConfig
from wattwerk.edge.view import StoreView
from wattwerk.flows import SiteRoles, balance_figures
from wattwerk.model import Reading, from_ms, ms
from wattwerk.protocols.dsmr import decoder as dsmr_decoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.sim.emulators.p1 import telegram
from wattwerk.sim.from_config import site_params
from wattwerk.sim.site import SiteSim
from wattwerk.snapshot import SiteState
from wattwerk.store.sqlite import SqliteStore

FLUSH_EVERY = 5000  # readings buffered before one batched write (the edge never writes per reading)
PORTAL_ALIAS, PORTAL_PASSWORD = "demo", "demo-password"  # the embedded portal's demo owner
EDGE_PASSWORD = "demo-password"  # the demo edge's admin password, printed at start (docs/security.md)


class OutboxTee:
    """The demo's store, also queueing every stored batch in the outbox (as an edge's recorder does)."""

    def __init__(self, store: SqliteStore, outbox: Outbox) -> None:
        self.store, self.outbox = store, outbox

    def write(self, readings: list[Reading]) -> Any:
        self.outbox.append(readings)
        return self.store.write(readings)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class DemoSite:
    """The simulated site plus a minimal edge: per-device polling, state, batched storage."""

    def __init__(
        self,
        cfg: SiteConfig,
        start: datetime,
        store: SqliteStore,
        step_s: float = 1.0,
        store_every_s: float = 10.0,
    ) -> None:
        params, names = site_params(cfg)
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.site.timezone)
        self.sim = SiteSim(params, start)
        self.store = store
        self.step_s = step_s
        self.store_every_ms = round(store_every_s * 1000)
        self.roles = SiteRoles.from_pairs([(d.id, d.role) for d in cfg.devices])
        slowest = max((d.interval_s for d in cfg.devices), default=1.0)
        self.state = SiteState(stale_after_s=max(30.0, 3 * slowest))
        intervals = {d.id: d.interval_s for d in cfg.devices}
        # simulator channel -> (configured channel, configured device id)
        self._rename: dict[str, tuple[str, str]] = {}
        for sim_name in self.sim.channels():
            sim_dev, quantity = sim_name.split(".", 1)
            dev = names.get(sim_dev, sim_dev)
            self._rename[sim_name] = (f"{dev}.{quantity}", dev)
        self._interval_ms = {dev: round(intervals.get(dev, 5.0) * 1000) for _, dev in self._rename.values()}
        self._next_read: dict[str, int] = dict.fromkeys(self._interval_ms, 0)
        self._next_store = 0
        self._pending: list[Reading] = []
        self.readings_stored = 0
        self.view = StoreView(
            cfg.site.name, self.tz, self.roles, lambda: self.state.snapshot(self.sim.now), store,
            lambda: self.sim.now, self.flush,
        )
        self.grid_id = names["grid"]
        self.p1 = MeterReader(self.grid_id, dsmr_decoder(), use_receive_time=True)

    # ------------------------------------------------------------ the edge's side

    def poll(self) -> None:
        """Read every device that is due, as a poll loop would; store at the storage interval."""
        now_ms = ms(self.sim.now)
        due = {dev for dev, t in self._next_read.items() if now_ms >= t}
        if not due:
            return
        for dev in due:
            self._next_read[dev] = now_ms + self._interval_ms[dev]
        now = from_ms(now_ms)
        readings = [
            Reading(name, now, value)
            for sim_name, value in self.sim.channels().items()
            for name, dev in (self._rename[sim_name],)
            if dev in due and dev != self.grid_id
        ]
        if self.grid_id in due:
            for frame in self.p1.process(telegram(self.sim.meter_state()), received=now):
                readings.extend(frame)
        self.state.update(readings)
        if now_ms >= self._next_store:
            self._next_store = now_ms + self.store_every_ms
            self._pending.extend(readings)
            if len(self._pending) >= FLUSH_EVERY:
                self.flush()

    def store_all_now(self) -> None:
        """Read and store every channel at this instant (first and last reading of a run)."""
        for dev in self._next_read:
            self._next_read[dev] = 0
        self._next_store = 0
        self.poll()
        self.flush()

    def flush(self) -> None:
        if self._pending:
            result = self.store.write(self._pending)
            self.readings_stored += result.accepted
            self._pending = []

    def advance_to(self, t: float) -> None:
        """Simulate up to Unix time ``t``, polling after every step."""
        sim = self.sim
        while sim.t < t - 1e-9:
            sim.step(min(self.step_s, t - sim.t))
            self.poll()

    # ------------------------------------------------------------ what the page shows

    def live(self) -> dict[str, Any]:
        return self.view.live()

    def today(self) -> dict[str, Any]:
        return self.view.today()

    def summary(self, start: datetime, end: datetime) -> dict[str, Any]:
        self.flush()
        kwh = self.view.energy_kwh(start, end + timedelta(milliseconds=1))
        return {"energy_kwh": {k: round(v, 3) for k, v in kwh.items()}} | {
            k: round(v, 4) for k, v in balance_figures(kwh).items()
        }


async def run_paced(site: DemoSite, end_t: float | None, speed: float, tick_s: float = 0.1) -> None:
    """Advance the simulation ``speed`` times faster than the wall clock until ``end_t``."""
    wall0, sim0 = time.monotonic(), site.sim.t
    while end_t is None or site.sim.t < end_t:
        target = sim0 + (time.monotonic() - wall0) * speed
        site.advance_to(target if end_t is None else min(target, end_t))
        await asyncio.sleep(tick_s)


# ---------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="site file (default: the built-in demo site)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated s per real s (default 1)")
    parser.add_argument("--for", dest="duration", help="run headless this long in simulated time (e.g. 24h)")
    parser.add_argument("--start", help="simulated start, ISO date or time in the site's timezone "
                        "(default: today's local midnight)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--host", default="127.0.0.1", help="address of the web page (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port of the web page (default 8080)")
    parser.add_argument("--data-dir", help="keep the store here (default: a temporary folder)")
    parser.add_argument("--portal-port", type=int, default=8081,
                        help="port of the embedded portal the demo edge uploads to (default 8081)")
    parser.add_argument("--no-portal", action="store_true", help="run without the embedded portal")
    parser.add_argument("--step", type=float, default=None,
                        help="simulation step in seconds (default 1; with --scenario the control interval, "
                        "default 10)")
    parser.add_argument("--scenario", help="run a closed-loop scenario over the real protocols: "
                        + ", ".join(_scenario_names()))
    parser.add_argument("--store-every", default="10s", help="storage interval (default 10s)")


def _scenario_names() -> list[str]:
    from wattwerk.sim.scenarios import SCENARIOS

    return list(SCENARIOS)


def _run_scenario(args: argparse.Namespace) -> int:
    """``--scenario``: headless, prints the scenario's summary (JSON with ``--json``)."""
    from wattwerk.sim.scenarios import SCENARIOS, run_scenario

    if args.scenario not in SCENARIOS:
        return _fail(f"no scenario {args.scenario!r}; known: {', '.join(SCENARIOS)}")
    step = 10.0 if args.step is None else args.step
    if not step > 0:
        return _fail(f"--step must be > 0, got {step}")
    try:
        hours = parse_duration(args.duration) / 3600 if args.duration else None
    except ValueError as exc:
        return _fail(str(exc))
    summary = asyncio.run(run_scenario(args.scenario, hours=hours, step_s=step, speed=args.speed))
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"wattwerk demo: scenario {args.scenario}, {summary['start']} + {summary['hours']} h")
    for key, value in summary.items():
        if key not in ("scenario", "start", "hours", "energy_kwh"):
            print(f"  {key:<22} {value}")
    return 0


def _fail(message: str) -> int:
    print(f"wattwerk demo: {message}", file=sys.stderr)
    return 2


def _parse_start(text: str | None, tz: ZoneInfo, now: datetime) -> datetime:
    if text is None:
        local = now.astimezone(tz)
        return datetime(local.year, local.month, local.day, tzinfo=tz)
    start = datetime.fromisoformat(text)
    return start if start.tzinfo else start.replace(tzinfo=tz)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config) if args.config else load_demo_config()
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 1
    if not args.speed > 0:
        return _fail(f"--speed must be > 0, got {args.speed}")
    if args.scenario:
        return _run_scenario(args)
    args.step = 1.0 if args.step is None else args.step
    if not args.step > 0:
        return _fail(f"--step must be > 0, got {args.step}")
    try:
        duration = timedelta(seconds=parse_duration(args.duration)) if args.duration else None
        store_every = parse_duration(args.store_every)
        tz = ZoneInfo(cfg.site.timezone)
        start = _parse_start(args.start, tz, datetime.now(tz))
    except ValueError as exc:
        return _fail(str(exc))
    if duration is None and args.json:
        return _fail("--json needs --for (the summary is printed at the end of a headless run)")

    with tempfile.TemporaryDirectory(prefix="wattwerk-demo-") as tmp:
        data_dir = Path(args.data_dir or tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(data_dir / "store.sqlite", tz=cfg.site.timezone)
        outbox = Outbox(data_dir / "outbox.sqlite") if duration is None and not args.no_portal else None
        writer = OutboxTee(store, outbox) if outbox else store
        site = DemoSite(cfg, start, writer, step_s=args.step, store_every_s=store_every)  # type: ignore[arg-type]
        site.store_all_now()
        try:
            if duration is not None:
                return _run_headless(site, start, duration, args)
            return _run_interactive(site, args, data_dir, outbox)
        finally:
            store.close()
            if outbox is not None:
                outbox.close()


def _run_headless(site: DemoSite, start: datetime, duration: timedelta, args: argparse.Namespace) -> int:
    end = start + duration
    asyncio.run(run_paced(site, end.timestamp(), args.speed))
    site.store_all_now()
    summary = site.summary(start, end)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wattwerk demo: {site.cfg.site.name}, {start.isoformat()} + {duration}")
        for key, value in summary["energy_kwh"].items():
            print(f"  {key:<18} {value:10.3f} kWh")
        for key in ("self_consumption_pct", "autarky_pct", "balance_error_pct"):
            print(f"  {key:<18} {summary[key]:10.4f} %")
    return 0


def _bind(host: str, port: int) -> socket.socket | None:
    """A listening-ready socket on (host, port), or None when the port is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        return None
    return sock


def _run_interactive(site: DemoSite, args: argparse.Namespace, data_dir: Path, outbox: Outbox | None) -> int:
    import uvicorn

    from wattwerk.edge.auth import EdgeAuth
    from wattwerk.edge.web import create_app
    from wattwerk.portal import embedded
    from wattwerk.portal.app import PortalConfig
    from wattwerk.portal.app import create_app as portal_app

    now = time.time()
    if site.sim.t < now and args.start is None:
        print("wattwerk demo: simulating today up to now …", file=sys.stderr)
        site.advance_to(now)
        site.flush()
    auth = EdgeAuth(data_dir)
    auth.set_password(EDGE_PASSWORD, replace=True)  # known and printed: the demo signs in like a real edge
    config = uvicorn.Config(create_app(site, auth=auth), host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    portal: uvicorn.Server | None = None
    portal_sock = _bind(args.host, args.portal_port) if outbox is not None else None
    if outbox is not None and portal_sock is None:
        print(f"wattwerk demo: port {args.portal_port} is taken; running without the portal "
              "(choose another with --portal-port)", file=sys.stderr)
    elif outbox is not None:
        url = embedded.database_url(data_dir)
        app = portal_app(PortalConfig(db_url=url, migrate=False, retention_every_s=300.0))
        portal = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.portal_port,
                                               log_level="warning"))
        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per upload

    async def main() -> None:
        tasks = [asyncio.create_task(run_paced(site, None, args.speed))]
        if portal is not None and outbox is not None:
            pairing = await embedded.pair_demo(url, PORTAL_ALIAS, PORTAL_PASSWORD, site.cfg.site.name)
            tasks.append(asyncio.create_task(portal.serve(sockets=[portal_sock])))
            for _ in range(200):  # the first upload waits for the portal to listen
                if portal.started:
                    break
                await asyncio.sleep(0.05)
            target = UplinkConfig(url=f"http://{args.host}:{args.portal_port}", site=pairing.site,
                                  edge_id="demo", token=pairing.token,
                                  roles={d.id: d.role for d in site.cfg.devices})
            uplink = Uplink(outbox, target)
            tasks.append(asyncio.create_task(uplink.run()))
            print(f"wattwerk demo: the portal is http://{args.host}:{args.portal_port}  (sign in as "
                  f"{PORTAL_ALIAS} / {PORTAL_PASSWORD})", file=sys.stderr)
        print(f"wattwerk demo: open http://{args.host}:{args.port}  (password {EDGE_PASSWORD}; Ctrl-C stops)",
              file=sys.stderr)
        try:
            await server.serve()
        finally:
            if portal is not None:
                portal.should_exit = True
            for task in tasks[:1] + tasks[2:]:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    return 0
