"""``wattwerk demo``: the real edge on a simulated house.

The edge is the one ``wattwerk run`` runs (``edge.assembly``): drivers, control cycle and limiter,
the planner (the demo site plans with ``strategy.mode: planner``), store, outbox and uplink, the
maintenance client and the local page. Only the devices' far end is simulated: every
``connection: {type: sim}`` device has a simulator driver behind the same ``Driver`` interface as a
real one (``sim.drivers``), the grid meter read as DSMR telegrams through the edge's ``MeterReader``.
Edge and simulator run in lock-step on the simulated clock: each step the house advances with the
setpoints in force, then the edge reads what is due and runs one control cycle.

Prices: the planner plans over real day-ahead prices, the bundled DE-LU sample (Bundesnetzagentur |
SMARD.de, CC BY 4.0; ``market.sample``) mapped onto the simulated dates, plus the site file's grid
fees and VAT. With ``--flat-tariff``, or when the sample cannot be read, it plans over the site
file's fixed tariff instead. The page's plan says which (``prices: ...``). The PV forecast comes
from the simulator's own weather (no internet).

Interactive (no ``--for``): the house is simulated from today's local midnight up to now, then runs
on at ``--speed`` while http://127.0.0.1:8080 shows it. Beside it runs an embedded portal (SQLite in
the data folder) on http://127.0.0.1:8081; the demo edge is paired with it, uploads its readings
and plan, and takes an installer's maintenance commands from it (``--no-portal`` leaves it out).

Headless (``--for 24h``): runs as fast as it goes (or at ``--speed``) for that long in simulated
time, then prints the energy per flow as the edge measured it (from the store's counters), the
balance check and what the control did (the EV's grid share, limit violations judged on the
simulator's own values by ``control.checker``, relay switches)::

    wattwerk demo --for 24h --json --start 2025-06-21

Closed-loop scenarios (``--scenario NAME``, see ``docs/scenarios.md``) run the simulated devices
behind their protocol emulators on loopback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from wattwerk.config import ConfigError, SiteConfig, load_config, load_demo_config, parse_duration
from wattwerk.flows import balance_figures
from wattwerk.model import Setpoint
from wattwerk.progress import Progress

if TYPE_CHECKING:  # the edge and the simulator (pandas, pvlib) only when the demo runs, not for --help
    from wattwerk.control.checker import Limits
    from wattwerk.edge.assembly import Edge
    from wattwerk.sim.site import SiteSim

log = logging.getLogger("wattwerk.demo")

PORTAL_ALIAS, PORTAL_PASSWORD = "demo", "demo-password"  # the embedded portal's demo owner
EDGE_PASSWORD = "demo-password"  # the demo edge's admin password, printed at start (docs/security.md)
RELAY_COMMANDS = {"enable", "phases", "sgready", "relay"}  # a change of these moves a relay or contactor
HEADLESS_STEP_S = 10.0  # time-compressed: one control cycle per 10 simulated s
CATCH_UP_STEP_S = 10.0  # simulating from midnight up to now, likewise (and one plan an hour)
T = TypeVar("T")


def demo_prices(cfg: SiteConfig, data_dir: Path, flat: bool = False) -> Any:
    """The planner's prices: the bundled day-ahead sample plus the site's fees and VAT, or the site
    file's fixed tariff (``flat``, or when the sample cannot be read: said once in the log)."""
    from wattwerk.market.site_prices import TariffPrices

    if not flat:
        from wattwerk.market.sample import SampleDayAhead

        try:
            return TariffPrices(
                cfg.tariff, data_dir / "prices.json", tz=cfg.site.timezone, provider=SampleDayAhead()
            )
        except (OSError, ValueError) as exc:
            log.warning(
                "demo: the bundled price sample cannot be read (%s); planning over the fixed tariff", exc
            )
    return TariffPrices(
        cfg.tariff.model_copy(update={"provider": "fixed"}), data_dir / "prices.json", tz=cfg.site.timezone
    )


@dataclass
class ControlTally:
    """What the control did, judged from the simulator's own values (never the edge's)."""

    ev_wh: float = 0.0
    ev_grid_wh: float = 0.0  # the part of the cars' energy the grid supplied
    ev_battery_wh: float = 0.0  # the part the battery supplied (it serves the house first)
    relay_switches: Counter[str] = field(default_factory=Counter)
    sent: dict[str, float] = field(default_factory=dict)

    def step(self, sim: SiteSim, dt_s: float) -> None:
        h = dt_s / 3600.0
        v = sim.channels()
        ev = sum(max(e.power, 0.0) for e in sim.evs)
        if not ev:
            return
        grid_import = max(v["grid.power"], 0.0)
        others = v["house.power"] + v.get("hp.power", 0.0) + v.get("rod.power", 0.0)
        pv = sum(p.power for p in sim.pv)
        discharge = max(v.get("bat.power", 0.0), 0.0)
        to_house = min(discharge, max(others - pv, 0.0))
        self.ev_wh += ev * h
        self.ev_grid_wh += min(ev, grid_import) * h
        self.ev_battery_wh += min(ev, discharge - to_house) * h

    def setpoints(self, setpoints: list[Setpoint]) -> None:
        for sp in setpoints:
            dev, _, command = sp.channel.partition(".")
            if command in RELAY_COMMANDS:
                if self.sent.get(sp.channel, sp.value) != sp.value:
                    self.relay_switches[dev] += 1
                self.sent[sp.channel] = sp.value

    def figures(self) -> dict[str, Any]:
        share = 100.0 * self.ev_grid_wh / self.ev_wh if self.ev_wh else 0.0
        return {
            "ev_kwh": round(self.ev_wh / 1000, 3),
            "ev_grid_share_pct": round(share, 3),
            "ev_from_battery_kwh": round(self.ev_battery_wh / 1000, 3),
            "relay_switches": dict(self.relay_switches),
        }


def site_limits(cfg: SiteConfig) -> Limits:
    """The grid operator's limits of the site file, as the independent checker judges them."""
    from wattwerk.control.checker import Limits

    g = cfg.site.grid
    return Limits(import_w=g.import_limit_w, export_w=g.max_export_w, phase_w=g.phase_import_limit_w)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While running, anything written to stdout (a solver's banner from C code) goes to stderr, so
    that stdout carries only the result."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to the end from synchronous code (in a thread when a loop is already running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class DemoSite:
    """The simulated house and the real edge over it (``edge.assembly``), in lock-step.

    ``edge_options`` adds to the demo's own (its clock, the simulator's drivers, prices, weather):
    the page (``web``, ``host``, ``port``, ``auth``) for the interactive demo."""

    def __init__(
        self,
        cfg: SiteConfig,
        start: datetime,
        data_dir: Path,
        *,
        step_s: float = 1.0,
        store_every_s: float = 10.0,
        flat_tariff: bool = False,
        **edge_options: Any,
    ) -> None:
        from wattwerk.control.checker import LimitChecker
        from wattwerk.edge.assembly import EdgeOptions, assemble
        from wattwerk.sim.drivers import SimDrivers, SimWeather
        from wattwerk.sim.from_config import site_params
        from wattwerk.sim.site import SiteSim

        params, names = site_params(cfg)
        self.cfg = cfg
        self.sim = SiteSim(params, start)
        self.step_s = step_s
        self.drivers = SimDrivers(self.sim, names)
        data_dir = Path(data_dir)
        options = EdgeOptions(
            store_every_s=store_every_s,
            clock=lambda: self.sim.now,
            data_dir=data_dir,
            sim_drivers=self.drivers,
            prices=demo_prices(cfg, data_dir, flat_tariff),
            weather=SimWeather(cfg, self.sim),
            **edge_options,
        )
        self.edge: Edge = assemble(cfg, options)
        self.checker = LimitChecker(lambda t: site_limits(cfg), consumers={e.name: 1.0 for e in self.sim.evs})
        self.tally = ControlTally()
        self.page = self.edge.site_view()
        self._controlled = False

    @property
    def state(self) -> Any:
        return self.edge.runtime.state

    # ------------------------------------------------------------ time

    async def tick(self, dt_s: float, replan: bool = True) -> None:
        """The house over ``dt_s`` with the setpoints in force (judged on the simulator's own values),
        then one read round and control cycle of the edge. The first tick starts with a cycle, so the
        house never runs a step uncontrolled."""
        sim = self.sim
        if not self._controlled:
            self._controlled = True
            self.tally.setpoints(await self.edge.step(replan))
        sim.step(dt_s)
        self.checker.observe(sim.t, sim.channels())
        self.tally.step(sim, dt_s)
        self.tally.setpoints(await self.edge.step(replan))

    async def advance(self, t: float, step_s: float | None = None, hourly_plans: bool = False) -> None:
        """Simulate up to Unix time ``t`` in steps of ``step_s`` (default: the site's step);
        ``hourly_plans``: the planner re-plans once an hour instead of every slot (catching up)."""
        step = step_s or self.step_s
        while self.sim.t < t - 1e-9:
            replan = not hourly_plans or self.sim.now.minute < 15
            await self.tick(min(step, t - self.sim.t), replan)

    async def run_paced(
        self, end_t: float | None, speed: float | None, stop: asyncio.Event | None = None, tick_s: float = 0.1
    ) -> None:
        """Advance at most ``speed`` times faster than the wall clock (None: as fast as it goes)."""
        if speed is None:
            assert end_t is not None
            await self.advance(end_t)
            return
        wall0, sim0 = time.monotonic(), self.sim.t
        while (end_t is None or self.sim.t < end_t) and not (stop and stop.is_set()):
            target = sim0 + (time.monotonic() - wall0) * speed
            await self.advance(target if end_t is None else min(target, end_t))
            await asyncio.sleep(tick_s)

    def advance_to(self, t: float) -> None:
        _sync(self.advance(t))

    def store_all_now(self) -> None:
        """Read and store every channel at this instant (the first and last reading of a run)."""
        _sync(self.edge.read_all())

    def silence(self, device_id: str, silent: bool = True) -> None:
        """A device stops answering (its values go stale), or answers again."""
        self.drivers.silence(device_id, silent)

    def flush(self) -> None:
        self.edge.writer.flush()

    def close(self) -> None:
        self.edge.close()

    # ------------------------------------------------------------ what it shows

    def live(self) -> dict[str, Any]:
        return self.page.live()

    def today(self) -> dict[str, Any]:
        return self.page.today()

    def history(self, period: str, day: date) -> dict[str, Any]:
        return self.page.history(period, day)

    def sessions(self, month: date) -> list[dict[str, Any]]:
        return self.page.sessions(month)

    def plan(self) -> dict[str, Any]:
        planner = self.edge.planner
        return planner.plan_json() if planner is not None else {"currency": None, "slots": []}

    def summary(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The energy the edge measured per flow, the balance check and what the control did."""
        self.flush()
        kwh = self.edge.view.energy_kwh(start, end + timedelta(milliseconds=1))
        out: dict[str, Any] = {"energy_kwh": {k: round(v, 3) for k, v in kwh.items()}}
        out |= {k: round(v, 4) for k, v in balance_figures(kwh).items()}
        out |= self.tally.figures()
        c = self.checker
        out |= {
            "limit_violations": c.total,
            "limit_violations_by_kind": dict(c.violations),
            "max_limit_excess_w": round(c.max_excess_w, 1),
        }
        if self.edge.planner is not None:
            plan = self.edge.planner.plan_json()
            out["plan"] = {
                "status": plan["status"],
                "prices": plan.get("source"),
                "pv": plan.get("pv"),
                "failures": self.edge.planner.failures,
            }
        return out


# ---------------------------------------------------------------------------- command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="site file (default: the built-in demo site)")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated s per real s (default: 1 interactive; headless as fast as it goes)",
    )
    parser.add_argument("--for", dest="duration", help="run headless this long in simulated time (e.g. 24h)")
    parser.add_argument(
        "--start",
        help="simulated start, ISO date or time in the site's timezone (default: today's local midnight)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    parser.add_argument("--host", default="127.0.0.1", help="address of the web page (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port of the web page (default 8080)")
    parser.add_argument("--data-dir", help="keep the store here (default: a temporary folder)")
    parser.add_argument(
        "--portal-port",
        type=int,
        default=8081,
        help="port of the embedded portal the demo edge uploads to (default 8081)",
    )
    parser.add_argument("--no-portal", action="store_true", help="run without the embedded portal")
    parser.add_argument(
        "--step",
        type=float,
        default=None,
        help="simulated seconds per step, one control cycle each (default 1 live, 10 with "
        "--for or --scenario)",
    )
    parser.add_argument(
        "--scenario",
        help="run a closed-loop scenario over the real protocols: " + ", ".join(_scenario_names()),
    )
    parser.add_argument("--store-every", default="10s", help="storage interval (default 10s)")
    parser.add_argument(
        "--flat-tariff",
        action="store_true",
        help="plan over the site file's fixed tariff instead of the bundled day-ahead prices",
    )


def _scenario_names() -> list[str]:
    from wattwerk.sim.scenario_names import NAMES

    return list(NAMES)


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
    if args.speed is not None and not args.speed > 0:
        return _fail(f"--speed must be > 0, got {args.speed}")
    if args.scenario:
        return _run_scenario(args)
    if args.step is None:  # one control cycle per simulated second live, per 10 s when time-compressed
        args.step = HEADLESS_STEP_S if args.duration else 1.0
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
        try:
            if duration is not None:
                return _run_headless(cfg, start, duration, data_dir, store_every, args)
            return asyncio.run(_interactive(cfg, start, data_dir, store_every, args))
        except ConfigError as exc:
            print("\n".join(exc.lines), file=sys.stderr)
            return 1


def _run_headless(
    cfg: SiteConfig,
    start: datetime,
    duration: timedelta,
    data_dir: Path,
    store_every: float,
    args: argparse.Namespace,
) -> int:
    end = start + duration
    site = DemoSite(
        cfg, start, data_dir, step_s=args.step, store_every_s=store_every, flat_tariff=args.flat_tariff
    )
    try:

        async def go() -> None:
            await site.edge.read_all()
            t0 = site.sim.t
            line = Progress(
                f"demo {cfg.site.name}",
                end.timestamp() - t0,
                warnings=site.edge.ledger.total,
                where=lambda done: f"{site.sim.now:%Y-%m-%d %H:%M} UTC",
            )
            async with line.following(lambda: site.sim.t - t0):
                await site.run_paced(end.timestamp(), args.speed)
            await site.edge.read_all()

        for name in ("wattwerk.planner", "wattwerk.store"):  # a line per slot or hour is noise here
            logging.getLogger(name).setLevel(logging.WARNING)
        with stdout_to_stderr():
            asyncio.run(go())
        summary = site.summary(start, end)
    finally:
        site.close()
    if args.json:
        print(json.dumps(summary))
        return 0
    print(f"wattwerk demo: {cfg.site.name}, {start.isoformat()} + {duration}")
    for key, value in summary["energy_kwh"].items():
        print(f"  {key:<20} {value:10.3f} kWh")
    for key in ("self_consumption_pct", "autarky_pct", "balance_error_pct", "ev_grid_share_pct"):
        print(f"  {key:<20} {summary[key]:10.4f} %")
    for key in ("ev_from_battery_kwh", "limit_violations", "relay_switches", "plan"):
        if key in summary:
            print(f"  {key:<20} {summary[key]}")
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


async def _portal(cfg: SiteConfig, data_dir: Path, args: argparse.Namespace) -> tuple[SiteConfig, Any]:
    """The embedded portal (an uvicorn server, not started) and the site file paired with it; the
    site file unchanged and None when the portal is left out or its port is taken."""
    if args.no_portal:
        return cfg, None
    sock = _bind(args.host, args.portal_port)
    if sock is None:
        print(
            f"wattwerk demo: port {args.portal_port} is taken; running without the portal "
            "(choose another with --portal-port)",
            file=sys.stderr,
        )
        return cfg, None
    import uvicorn

    from wattwerk.config.schema import Portal
    from wattwerk.portal import embedded
    from wattwerk.portal.app import PortalConfig
    from wattwerk.portal.app import create_app as portal_app

    url = embedded.database_url(data_dir)
    app = portal_app(PortalConfig(db_url=url, migrate=False, retention_every_s=300.0))
    server = uvicorn.Server(
        uvicorn.Config(
            app, host=args.host, port=args.portal_port, log_level="warning", timeout_graceful_shutdown=2
        )
    )  # the edge's long poll ends too
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # ours stop everything
    server.sockets = [sock]  # type: ignore[attr-defined]
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per upload
    pairing = await embedded.pair_demo(url, PORTAL_ALIAS, PORTAL_PASSWORD, cfg.site.name, cfg.site.timezone)
    portal = Portal.model_validate(
        {
            "url": f"http://{args.host}:{args.portal_port}",
            "token": pairing.token,
            "site": pairing.site,
            "edge_id": "demo",
        }
    )
    return cfg.model_copy(update={"portal": portal}), server


async def _interactive(
    cfg: SiteConfig, start: datetime, data_dir: Path, store_every: float, args: argparse.Namespace
) -> int:
    from wattwerk.edge.auth import EdgeAuth

    cfg, portal = await _portal(cfg, data_dir, args)
    auth = EdgeAuth(data_dir)
    auth.set_password(EDGE_PASSWORD, replace=True)  # known and printed: the demo signs in like a real edge
    site = DemoSite(
        cfg,
        start,
        data_dir,
        step_s=args.step,
        store_every_s=store_every,
        flat_tariff=args.flat_tariff,
        web=True,
        host=args.host,
        port=args.port,
        auth=auth,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Task[Any]] = []
    try:
        await site.edge.read_all()
        now = time.time()
        if site.sim.t < now and args.start is None:
            print("wattwerk demo: simulating today up to now …", file=sys.stderr)
            await site.advance(now, max(args.step, CATCH_UP_STEP_S), hourly_plans=True)
            site.flush()
        if portal is not None:
            tasks.append(asyncio.create_task(portal.serve(sockets=portal.sockets)))
            for _ in range(200):  # the first upload waits for the portal to listen
                if portal.started:
                    break
                await asyncio.sleep(0.05)
            print(
                f"wattwerk demo: the portal is http://{args.host}:{args.portal_port}  (sign in as "
                f"{PORTAL_ALIAS} / {PORTAL_PASSWORD})",
                file=sys.stderr,
            )
        tasks += [asyncio.create_task(t) for t in site.edge.services(stop)]  # type: ignore[arg-type]
        tasks.append(asyncio.create_task(site.run_paced(None, args.speed or 1.0, stop)))
        print(
            f"wattwerk demo: open http://{args.host}:{args.port}  (password {EDGE_PASSWORD}; Ctrl-C stops)",
            file=sys.stderr,
        )
        await stop.wait()
    finally:
        stop.set()
        if portal is not None:
            portal.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        site.close()
    return 0
