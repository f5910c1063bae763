"""One site file, one running edge: the only place where a validated ``SiteConfig`` becomes an edge.

``assemble(cfg, options)`` builds drivers (``edge.drivers``), the ``EdgeRuntime``, the control cycle
(``control.site.build_cycle`` in a ``CycleStep``), the planner (``strategy.mode: planner`` only; its
module, with pandas, pvlib and HiGHS, is imported only then), recorder, store (``SqliteStore`` behind
a ``BufferedWriter``), outbox and uplink, the maintenance client, the MQTT bridge, metrics and the
local page. ``wattwerk run``, ``wattwerk demo`` and the scenarios all call it; the simulator only
stands at the devices' far end (``EdgeOptions.sim_drivers`` for ``connection: {type: sim}``).

Two ways to run the result:

* ``await edge.run(stop)``: wall clock, every task (polling, control, planner, uplink, maintenance,
  MQTT, web) until ``stop`` is set;
* lock-step with an injected clock (``EdgeOptions.clock``): ``await edge.step()`` is one read round
  (every device whose interval is due on that clock) and one control cycle; the planner re-plans
  when the clock enters a new slot; recorder, store and outbox run on the same clock.

``check(cfg)`` is the dry mode: it builds everything that can be refused (drivers, catalogue
look-ups, decoders, the control cycle, the planner's settings) without opening a file, socket or
serial port, and returns the problems as ``(where, message)`` pairs; ``[]`` means ``run`` builds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattwerk.config import DeviceBase, SiteConfig
from wattwerk.control.site import build_cycle
from wattwerk.edge.control_step import CycleStep
from wattwerk.edge.drivers import SiteDevices, build_devices
from wattwerk.edge.episode_journal import EpisodeJournal
from wattwerk.edge.live import NotingLedger, RuntimeView
from wattwerk.edge.maintenance_client import EX_RESTART, EdgeCommands, LogTail
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.owner import OwnerControls
from wattwerk.edge.recorder import Recorder
from wattwerk.edge.runtime import Driver, EdgeRuntime, Polled
from wattwerk.edge.view import StoreView
from wattwerk.errors import InputLedger, PermanentError
from wattwerk.flows import SiteRoles
from wattwerk.model import Reading, Setpoint, utcnow
from wattwerk.store.buffer import BufferedWriter
from wattwerk.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from wattwerk.edge.mqtt_bridge import MqttBridge
    from wattwerk.edge.planning import PlanService

log = logging.getLogger("wattwerk.edge")

SimHook = Callable[[DeviceBase, InputLedger], Driver]  # a ``connection: {type: sim}`` device -> driver
Problem = tuple[tuple[str | int, ...], str]  # (where in the site file, message)


@dataclass(frozen=True)
class EdgeOptions:
    """How to run a site file. ``clock`` set: lock-step on that clock (``Edge.step``)."""

    store_every_s: float = 10.0
    read_only: bool = False  # read and record only; no control cycle, no planner, no setpoints
    clock: Callable[[], datetime] | None = None
    data_dir: Path | None = None  # default: the site file's store.data_dir
    site_path: Path | None = None  # the site file: setup in the UI, set_config by maintenance
    web: bool = False  # serve the local page in run() (wattwerk run: on)
    host: str = "127.0.0.1"
    port: int = 8080
    auth: Any = None  # the page's EdgeAuth; default from the site file (edge.auth)
    sim_drivers: SimHook | None = None  # drivers for ``connection: {type: sim}`` devices (demo)
    prices: Any = None  # a planner PriceSource instead of the tariff section's (demo: bundled sample)
    weather: Callable[[], Awaitable[Any]] | None = None  # instead of Open-Meteo (demo: the simulator)
    maintenance_wait_s: float = 25.0  # long poll for the installer's commands
    cycle_s: float = 1.0  # control interval on the wall clock (``run``); lock-step: one per ``step``
    # lock-step: awaited after the read round, before the control cycle (a stepped meter's telegram
    # has reached the push reader); its argument is the step's time on the injected clock
    before_control: Callable[[datetime], Awaitable[None]] | None = None


def _stale_after(cfg: SiteConfig) -> float:
    slowest = max((d.interval_s for d in cfg.devices), default=1.0)
    return max(10.0, 3 * slowest)


async def _no_wall_wait(_seconds: float) -> None:
    """A lock-stepped edge's retry back-off: the same attempts, no wall time (nothing on the injected
    clock moves while a step waits; the closed-loop scenarios spent most of their time here)."""
    await asyncio.sleep(0)


def _devices(cfg: SiteConfig, options: EdgeOptions, ledger: InputLedger, *, dry: bool = False) -> SiteDevices:
    """Drivers for every device: simulated ones from ``options.sim_drivers``, the rest from
    ``edge.drivers`` (which refuses ``sim`` without a hook, with where it is in the file)."""
    hook = options.sim_drivers
    stale = _stale_after(cfg)
    clock = options.clock  # lock-step: a device's back-off runs on the injected clock too
    mono = time.monotonic if clock is None else (lambda: clock().timestamp())
    # and a retry's wait: the injected clock stands still within a step, so none in wall time
    sleep = asyncio.sleep if clock is None else _no_wall_wait
    sims = [(i, d) for i, d in enumerate(cfg.devices) if d.connection.type == "sim"] if hook else []
    if not sims:
        return build_devices(cfg, ledger, stale_after_s=stale, dry=dry, monotonic=mono, retry_sleep=sleep)
    real = [i for i, d in enumerate(cfg.devices) if d.connection.type != "sim"]
    try:
        out = build_devices(
            cfg.model_copy(update={"devices": [cfg.devices[i] for i in real]}),
            ledger,
            stale_after_s=stale,
            dry=dry,
            monotonic=mono,
            retry_sleep=sleep,
        )
    except PermanentError as exc:  # where a problem is: the index in the whole file
        problems = getattr(exc, "problems", None)
        if problems is None:
            raise
        moved = [
            (("devices", real[loc[1]], *loc[2:]) if loc[:1] == ("devices",) else loc, msg)
            for loc, msg in problems
        ]
        raise type(exc)(moved) from None
    assert hook is not None
    for _, dev in sims:
        timeout = max(1.0, 2 * dev.interval_s)
        out.polled.append(Polled(dev.id, hook(dev, ledger), dev.interval_s, timeout_s=timeout))
    return out


def check(cfg: SiteConfig, options: EdgeOptions | None = None) -> list[Problem]:
    """Dry mode: everything ``assemble`` would refuse, nothing opened. ``[]`` when it builds."""
    options = options or EdgeOptions()
    problems: list[Problem] = []
    try:
        _devices(cfg, options, InputLedger(), dry=True).close()
    except PermanentError as exc:
        found = getattr(exc, "problems", None)
        problems += list(found) if found is not None else [((), str(exc))]
    if options.read_only:
        return problems
    try:
        build_cycle(cfg, cfg.control)
    except (PermanentError, ValueError) as exc:
        problems.append((("control",), str(exc)))
    if cfg.strategy.mode == "planner":
        problems += _planner_problems(cfg, options)
    return problems


def _planner_problems(cfg: SiteConfig, options: EdgeOptions) -> list[Problem]:
    try:
        import wattwerk.edge.planning  # noqa: F401  # pandas, pvlib, highspy
        from wattwerk.market.site_prices import provider_of
    except ImportError as exc:
        return [(("strategy", "mode"), f"the planner needs {exc.name}: pip install 'wattwerk[planner]'")]
    if options.prices is None and cfg.tariff.provider != "fixed" and provider_of(cfg.tariff) is None:
        return [(("tariff", "provider"), f"no price source for provider {cfg.tariff.provider!r}")]
    return []


class Edge:
    """Everything one running edge holds; ``close()`` flushes and releases it."""

    def __init__(self, cfg: SiteConfig, options: EdgeOptions) -> None:
        self.cfg, self.options = cfg, options
        self.path = options.site_path
        self.clock = options.clock or utcnow
        self.started = time.monotonic()
        self.overrides: dict[str, dict[str, float | str]] = {}  # user commands (MQTT, UI)
        self.ledger = NotingLedger()  # keeps each device's last error for the page
        self.devices = _devices(cfg, options, self.ledger)  # what can be refused first: nothing is open yet
        data_dir = Path(cfg.store.data_dir)
        try:
            cycle = None if options.read_only else build_cycle(cfg, cfg.control)
            data_dir.mkdir(parents=True, exist_ok=True)
            tiers = {tier.resolution: tier.keep for tier in cfg.store.retention}
            self.store = SqliteStore(data_dir / "store.sqlite", tz=cfg.site.timezone, tiers=tiers)
        except BaseException:
            self.devices.close()
            raise
        # batches by wall time on any clock: fewer, larger writes (flash wear); the outbox is the durable part
        self.writer = BufferedWriter(self.store, max_readings=2000, max_age_s=30.0)
        self.outbox = Outbox(data_dir / "outbox.sqlite") if cfg.portal is not None else None
        self.planner: PlanService | None = None
        self.control: CycleStep | None = None
        self.episodes: EpisodeJournal | None = None
        if cycle is not None:
            if cfg.strategy.mode == "planner":
                self.planner = self._planner(data_dir)
            self.control = CycleStep(cycle, tz=cfg.site.timezone)
            self.episodes = EpisodeJournal(data_dir / "episodes.sqlite")  # for the portal
            self.control.on_events = self.episodes.record
            if self.planner is not None:
                self.control.signals = self.planner.signals
        self.owner = self._owner(data_dir)  # the owner's settings (page, MQTT, portal), restored
        self.recorder = Recorder(options.store_every_s, store=self.writer, outbox=self.outbox)
        self.runtime = EdgeRuntime(
            self.devices.polled,
            push=self.devices.push,
            recorder=self.recorder,
            control=self.control,
            stale_after_s=_stale_after(cfg),
            clock=self.clock,
            ledger=self.ledger,
            cycle_s=options.cycle_s,
        )
        self.owner.record = self.runtime.accept  # the import price in force, kept for session costs
        roles = SiteRoles.from_pairs([(d.id, d.role) for d in cfg.devices])
        self.view = StoreView(
            cfg.site.name, cfg.site.tz, roles, self.snapshot, self.store, self.clock, self.writer.flush
        )
        self.log_tail = LogTail()
        logging.getLogger("wattwerk").addHandler(self.log_tail)
        self._web: FastAPI | None = None  # the local page, built once: the socket and the tunnel share it
        self.web_auth: Any = None  # its EdgeAuth (sessions), once built
        self.exit_code = 0  # EX_RESTART after a maintenance ``restart``
        self.commands = EdgeCommands.of(self)  # the installer's commands, the page through the tunnel
        self._due: dict[int, float] = {}  # lock-step: id(Polled) -> next read (s on the clock)
        self._slot: datetime | None = None  # lock-step: the slot the planner last planned
        self._retention_at: datetime | None = None
        self._push: list[asyncio.Task[None]] = []
        self._stop: asyncio.Event | None = None  # run()'s: the uplink that a pairing starts stops with it
        self._paired: list[asyncio.Task[None]] = []
        self.pushed = asyncio.Event()  # lock-step: a push source's readings were taken (start_push)

    def _owner(self, data_dir: Path) -> OwnerControls:
        """The owner's settings store on this edge's control, with what ``owner.json`` kept applied."""
        controlled = {d.id: d.role for d in self.cfg.devices}
        owner = OwnerControls(
            data_dir, self.control, self.planner, controlled, self.cfg.site.timezone, self.clock
        )
        if self.control is not None:
            self.control.on_cycle = owner.tick
            owner.restore({d.id: bool(getattr(d, "phase_switching", False)) for d in self.cfg.devices})
        return owner

    def _planner(self, data_dir: Path) -> PlanService:
        from wattwerk.edge.planning import PlanService  # pandas, pvlib, highspy: only with a planner
        from wattwerk.forecast.site import OpenMeteoWeather
        from wattwerk.market.site_prices import TariffPrices

        o = self.options
        prices = o.prices or TariffPrices(
            self.cfg.tariff, data_dir / "prices.json", tz=self.cfg.site.timezone
        )
        return PlanService(
            self.cfg,
            self.snapshot,
            prices,
            store=self.store,
            clock=self.clock,
            weather=o.weather or OpenMeteoWeather(self.cfg),
        )

    def snapshot(self) -> Any:
        return self.runtime.state.snapshot(self.clock())

    # ------------------------------------------------------------ what the edge tells

    def status(self) -> dict[str, Any]:
        """The ``status`` maintenance command: devices, runtime, outbox, planner."""
        snap = self.snapshot()
        stale = set(snap.stale_devices())
        failing = {p.device_id: p.failures for p in self.runtime.polled if p.failures}
        devices = {
            d.id: "stale" if d.id in stale else "failing" if d.id in failing else "ok"
            for d in self.cfg.devices
        }
        st = self.runtime.stats
        out: dict[str, Any] = {
            "site": self.cfg.site.name,
            "time": self.clock().isoformat(),
            "uptime_s": round(time.monotonic() - self.started, 1),
            "devices": devices,
            "readings": st.readings,
            "cycles": st.cycles,
            "setpoints_written": st.setpoints_written,
            "write_errors": st.write_errors,
            "read_only": self.control is None,
            "errors": {dev: msg for dev, (_, msg, _) in self.ledger.last.items()},
        }
        if self.outbox is not None:
            out["outbox_pending"] = self.outbox.pending()
        if self.planner is not None:
            plan = self.planner.plan_json()
            out["planner"] = {k: plan.get(k) for k in ("status", "message", "source", "cost_eur")}
        return out

    def device_health(self) -> dict[str, str]:
        """Each device's status as the local page shows it (ok, stale, error): the uplink tells the
        portal when it changes (owner notifications, portal/notify.py)."""
        return {row["id"]: row["status"] for row in self.site_view().devices()}

    def site_view(self) -> RuntimeView:
        """What the page shows: live values, today, restrictions, charge point modes, the plan."""
        c, p = self.control, self.planner
        return RuntimeView(
            self.runtime,
            self.cfg,
            today_fn=self.view.today,
            limits_fn=c.active_limits if c else None,
            modes_fn=c.modes if c else None,
            cars_fn=self.owner.cars,
            plan_fn=p.plan_json if p else None,
            store_view=self.view,
            clock=self.clock,
        )

    def web_app(self) -> FastAPI:
        """The local page (live values, today, devices, restrictions, plan), setup in the UI when the
        site file is known, and ``/metrics`` for Prometheus. Built once: the tunnel shares its sessions."""
        if self._web is not None:
            return self._web
        from wattwerk.edge.auth import EdgeAuth
        from wattwerk.edge.metrics import oldest_pending_age_s
        from wattwerk.edge.setup import Setup
        from wattwerk.edge.web import create_app

        view = self.site_view()
        setup = None
        if self.path is not None:

            def changed(cfg: SiteConfig) -> None:
                view.cfg = cfg
                self.attach_portal(cfg)

            setup = Setup(self.path, runtime=self.runtime, on_config=changed)
        outbox = self.outbox
        sources = (
            {}
            if outbox is None
            else {
                "outbox_pending": outbox.pending,
                "outbox_bytes": outbox.used_bytes,
                "upload_lag_s": lambda: oldest_pending_age_s(outbox),
            }
        )
        auth = self.web_auth = self.options.auth or EdgeAuth.for_site(self.cfg)  # password, sessions, names
        self._web = create_app(
            view, auth=auth, setup=setup, runtime=self.runtime, metrics=sources, owner=self.owner
        )
        return self._web

    def restart(self) -> None:
        """The maintenance ``restart`` (after its answer): stop, ``wattwerk run`` exits with EX_RESTART."""
        log.warning("restarting on the installer's request (exit code %d)", EX_RESTART)
        self.exit_code = EX_RESTART
        if self._stop is not None:
            self._stop.set()

    def mqtt_bridge(self) -> MqttBridge:
        """The MQTT/Home Assistant bridge of the ``mqtt`` section (see ``on_command``)."""
        from wattwerk.edge.mqtt_bridge import MqttBridge, devices_from_config
        from wattwerk.protocols.mqtt import MqttSettings

        m = self.cfg.mqtt
        assert m is not None
        password = m.password.get_secret_value() if m.password else None
        settings = MqttSettings(
            m.host, m.port, m.username, password, tls=m.tls, ca_file=str(m.ca_file) if m.ca_file else None
        )
        return MqttBridge(
            self.cfg.site.name,
            self.snapshot,
            self.on_command,
            devices_from_config(self.cfg),
            settings=settings,
            root=m.root,
            discovery_prefix=m.discovery_prefix,
            reasons=self._reasons,
        )

    def _reasons(self) -> dict[str, str]:
        """The control's decision per device, in English (MQTT's ``<device>/reason``)."""
        return dict(self.control.reasons) if self.control is not None else {}

    def on_command(self, cmd: Any) -> None:
        """An owner's command (MQTT): the owner settings of ``owner.COMMANDS`` through the one
        ``OwnerControls.apply`` (stored, restored at start), the battery's ``battery_setpoint`` into
        the cycle; kept in ``overrides``. Nothing bypasses the limiter; others are refused (ValueError)."""
        control = self.control
        if control is None:
            raise ValueError("this edge runs --read-only: it takes no commands")
        if cmd.command == "battery_setpoint":
            if self.cfg.device(cmd.device).role != "battery":
                raise ValueError(f"{cmd.device} does not take {cmd.command}")
            control.set_battery(float(cmd.value))
        else:
            self.owner.command(cmd.device, cmd.command, cmd.value, source=cmd.source)
        self.overrides.setdefault(cmd.device, {})[cmd.command] = cmd.value
        log.info("user command %s.%s = %s (from %s)", cmd.device, cmd.command, cmd.value, cmd.source)

    # ------------------------------------------------------------ wall clock

    async def run(self, stop: asyncio.Event, extra: Sequence[Awaitable[None]] = ()) -> None:
        """Run every task until ``stop`` is set (the page too, when ``options.web``)."""
        tasks = [
            self.runtime.run(stop),
            _every(1.0, stop, self.writer.poll),
            _every(3600.0, stop, lambda: self.store.apply_retention(utcnow())),
        ]
        if self.planner is not None:
            tasks.append(self.planner.run(stop))
        if self.control is not None:  # control.inbound: 104 outstation, Modbus server, OpenADR VEN
            from wattwerk.edge.inbound import start_inbound

            tasks += start_inbound(self.cfg, self.runtime, stop, self.control.active_limits)
        self._stop = stop
        running = [asyncio.create_task(t) for t in [*tasks, *self.services(stop), *extra]]  # type: ignore[arg-type]
        await stop.wait()
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.gather(*self._paired, return_exceptions=True)

    def attach_portal(self, cfg: SiteConfig) -> None:
        """The wizard paired this edge: open the outbox and start the uplink (and maintenance
        client) now, no restart. The latest stored reading of every channel goes up first, so the
        portal's counters start where the meter stood at pairing (the energy after it counts in
        full; older history stays in the edge's store). Only the first pairing; a new portal for a
        paired edge counts from the next start."""
        if cfg.portal is None or self.outbox is not None or self._stop is None or self._stop.is_set():
            return
        self.cfg = self.cfg.model_copy(update={"portal": cfg.portal})
        self.outbox = Outbox(Path(self.cfg.store.data_dir) / "outbox.sqlite")
        self.writer.flush()
        self.outbox.append(self.store.latest().values())  # where every counter stood at pairing
        self.recorder.outbox = self.outbox
        self._paired = [asyncio.create_task(t) for t in self._portal_tasks(self._stop)]  # type: ignore[arg-type]
        log.info("paired with %s as site %s: uploading", cfg.portal.url, cfg.portal.site)

    def services(self, stop: asyncio.Event) -> list[Awaitable[None]]:
        """What runs beside reading and control, on any clock: uplink, plan upload and maintenance
        client (with a portal), the MQTT bridge (with ``mqtt``), the page (``options.web``)."""
        tasks = self._portal_tasks(stop)
        if self.cfg.mqtt is not None:
            tasks.append(self.mqtt_bridge().run(stop))
        if self.options.web:
            tasks.append(self._serve(stop))
        return tasks

    def _portal_tasks(self, stop: asyncio.Event) -> list[Awaitable[None]]:
        """Uplink, the plan upload and the maintenance client, when the site file names a portal."""
        portal = self.cfg.portal
        if portal is None or self.outbox is None:
            return []
        from wattwerk.edge import maintenance_client
        from wattwerk.edge.plan_upload import plan_uploader
        from wattwerk.edge.uplink import Uplink, UplinkConfig, make_client

        target = UplinkConfig(
            url=str(portal.url).rstrip("/"),
            site=portal.site,
            edge_id=portal.edge_id,
            token=portal.token.get_secret_value(),
            ca_file=portal.ca_file,
            pin_sha256=portal.pin_sha256,
            roles={d.id: d.role for d in self.cfg.devices},
            labels={d.id: d.name for d in self.cfg.devices if d.name},  # the pages show these names
            tz=self.cfg.site.timezone,
            health=self.device_health,
            read_errors=self.ledger.total,  # the edge's report for the portal operator
            episodes=self.episodes,
        )
        tasks: list[Awaitable[None]] = [Uplink(self.outbox, target).run(stop)]
        if self.planner is not None and (uploader := plan_uploader(self.cfg, self.planner)) is not None:
            uploader.clock = self.clock  # the plan's time is the edge's (the demo's is simulated)
            tasks.append(uploader.run(stop))

        async def maintenance() -> None:
            async with make_client(target) as client:
                wait_s = self.options.maintenance_wait_s
                polling = asyncio.create_task(
                    maintenance_client.serve(
                        client, target.url, target.token, self.commands, stop, wait_s=wait_s
                    )
                )
                await stop.wait()
                polling.cancel()  # a long poll in flight ends now, not when the portal answers
                await asyncio.gather(polling, return_exceptions=True)

        tasks.append(maintenance())
        return tasks

    async def _serve(self, stop: asyncio.Event) -> None:
        import uvicorn

        o = self.options
        server = uvicorn.Server(
            uvicorn.Config(
                self.web_app(), host=o.host, port=o.port, log_level="warning", timeout_graceful_shutdown=2
            )
        )  # open live sockets end too
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # ours stop everything
        task = asyncio.create_task(server.serve())
        log.info("local page on http://%s:%d", o.host, o.port)
        await stop.wait()
        server.should_exit = True
        await task

    # ------------------------------------------------------------ lock-step

    async def step(self, replan: bool = True) -> list[Setpoint]:
        """One read round (devices due on the clock) and one control cycle; re-plans in a new slot
        (``replan=False``: not this time, e.g. while catching up; the next step that may will)."""
        now = self.clock()
        t = now.timestamp()
        due = [p for p in self.runtime.polled if self._due.get(id(p), -1.0) <= t + 1e-3]  # datetimes: µs
        for p in due:
            self._due[id(p)] = t + p.interval_s
        await asyncio.gather(*(self.runtime.read_once(p) for p in due))
        if self.options.before_control is not None:
            await self.options.before_control(now)
        if self.planner is not None and replan:
            slot = self.planner.slot_start(now)
            if slot != self._slot:
                self._slot = slot
                await self.planner.refresh()
        setpoints = await self.runtime.control_cycle() if self.control is not None else []
        self.writer.poll()
        if self._retention_at is None or now - self._retention_at >= timedelta(hours=1):
            self._retention_at = now
            self.store.apply_retention(now)
        return setpoints

    async def read_all(self) -> None:
        """Read every device now and keep every reading (the first and last reading of a run)."""
        self._due.clear()
        self.recorder.keep_next()
        now = self.clock().timestamp()
        for p in self.runtime.polled:
            self._due[id(p)] = now + p.interval_s
        await asyncio.gather(*(self.runtime.read_once(p) for p in self.runtime.polled))
        self.writer.flush()

    def start_push(self, stop: asyncio.Event) -> None:
        """Lock-step with push sources (a P1 stream): consume them in the background until ``stop``;
        ``pushed`` is set whenever their readings have entered the state (``before_control`` waits on it)."""
        self._push = [asyncio.create_task(self._consume(s, stop)) for s in self.runtime.push]

    async def _consume(self, source: AsyncIterable[list[Reading]], stop: asyncio.Event) -> None:
        async for readings in source:
            self.runtime.accept(readings)
            self.pushed.set()
            if stop.is_set():
                return

    # ------------------------------------------------------------ the end

    def _close_files(self) -> None:
        self.writer.flush()
        self.store.close()
        if self.outbox is not None:
            self.outbox.close()
        if self.episodes is not None:
            self.episodes.close()

    def close(self) -> None:
        for task in self._push:
            task.cancel()
        logging.getLogger("wattwerk").removeHandler(self.log_tail)
        self.devices.close()
        self._close_files()


def assemble(cfg: SiteConfig, options: EdgeOptions | None = None) -> Edge:
    """The edge of a validated site file; a ``PermanentError`` (``SiteProblems``) names what it cannot
    build. ``options.data_dir`` replaces the site file's ``store.data_dir``."""
    options = options or EdgeOptions()
    if options.data_dir is not None:
        cfg = cfg.model_copy(update={"store": cfg.store.model_copy(update={"data_dir": options.data_dir})})
    return Edge(cfg, options)


async def _every(seconds: float, stop: asyncio.Event, job: Callable[[], object]) -> None:
    """Run ``job`` every ``seconds`` until stopped; a failing job is logged, never fatal."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        try:
            job()
        except Exception:
            log.exception("periodic job %s failed", getattr(job, "__name__", job))
