"""``wattwerk run site.yaml``: the edge for a real site.

Reads every device of the site file, keeps the site state, records history in the local store
(``store.data_dir``), queues every reading durably in the outbox and uploads it when a portal is
configured, and serves the local page. Stops cleanly on Ctrl-C or SIGTERM (systemd).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from wattwerk.config import ConfigError, SiteConfig, load_config
from wattwerk.control.site import build_cycle
from wattwerk.edge.control_step import CycleStep
from wattwerk.edge.drivers import SiteDevices, build_devices
from wattwerk.edge.live import NotingLedger, RuntimeView
from wattwerk.edge.metrics import oldest_pending_age_s
from wattwerk.edge.mqtt_bridge import Command, MqttBridge, devices_from_config
from wattwerk.edge.outbox import Outbox
from wattwerk.edge.plan_upload import plan_uploader
from wattwerk.edge.planning import PlanService
from wattwerk.forecast.site import OpenMeteoWeather
from wattwerk.market.site_prices import TariffPrices
from wattwerk.edge.recorder import Recorder
from wattwerk.edge.runtime import EdgeRuntime
from wattwerk.edge.setup import Setup
from wattwerk.edge.uplink import Uplink, UplinkConfig
from wattwerk.edge.view import StoreView
from wattwerk.edge.web import create_app
from wattwerk.errors import PermanentError
from wattwerk.flows import SiteRoles
from wattwerk.model import utcnow
from wattwerk.protocols.mqtt import MqttSettings
from wattwerk.store.buffer import BufferedWriter
from wattwerk.store.sqlite import SqliteStore

log = logging.getLogger("wattwerk.edge")


@dataclass
class Edge:
    """Everything one running edge holds; ``close()`` flushes and releases it."""

    cfg: SiteConfig
    runtime: EdgeRuntime
    devices: SiteDevices
    store: SqliteStore
    writer: BufferedWriter
    outbox: Outbox | None
    view: StoreView
    control: CycleStep | None = None
    path: Path | None = None  # the site file, for setup in the UI
    overrides: dict[str, dict[str, float | str]] = field(default_factory=dict)  # user commands (MQTT, UI)
    planner: PlanService | None = None  # with ``strategy.mode: planner``

    def close(self) -> None:
        self.devices.close()
        self.writer.flush()
        self.store.close()
        if self.outbox is not None:
            self.outbox.close()


def build_edge(
    cfg: SiteConfig, *, store_every_s: float = 10.0, control: bool = True, path: Path | None = None
) -> Edge:
    """Everything for one site; ``control=False`` only reads and records (no setpoints)."""
    data_dir = Path(cfg.store.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    tiers = {tier.resolution: tier.keep for tier in cfg.store.retention}
    store = SqliteStore(data_dir / "store.sqlite", tz=cfg.site.timezone, tiers=tiers)
    writer = BufferedWriter(store, max_readings=2000, max_age_s=30.0)
    outbox = Outbox(data_dir / "outbox.sqlite") if cfg.portal is not None else None
    ledger = NotingLedger()  # keeps each device's last error for the page
    slowest = max((d.interval_s for d in cfg.devices), default=1.0)
    stale_after = max(10.0, 3 * slowest)
    devices = build_devices(cfg, ledger, stale_after_s=stale_after)
    planner = None
    if control and cfg.strategy.mode == "planner":
        prices = TariffPrices(cfg.tariff, data_dir / "prices.json")
        planner = PlanService(cfg, lambda: runtime.state.snapshot(utcnow()), prices, store=store,
                              weather=OpenMeteoWeather(cfg))
    step = None
    if control:
        cycle = build_cycle(cfg, cfg.control)
        step = CycleStep(cycle, planner.signals) if planner else CycleStep(cycle)
    runtime = EdgeRuntime(
        devices.polled,
        push=devices.push,
        recorder=Recorder(store_every_s, store=writer, outbox=outbox),
        control=step,
        stale_after_s=stale_after,
        ledger=ledger,
        resend_s=cfg.control.resend_s,
    )
    roles = SiteRoles.from_pairs([(d.id, d.role) for d in cfg.devices])
    snapshot = lambda: runtime.state.snapshot(utcnow())  # noqa: E731
    view = StoreView(cfg.site.name, cfg.site.tz, roles, snapshot, store, utcnow, writer.flush)
    return Edge(cfg, runtime, devices, store, writer, outbox, view, step, path, planner=planner)


async def _every(seconds: float, stop: asyncio.Event, job: Callable[[], object]) -> None:
    """Run ``job`` every ``seconds`` until stopped; a failing job is logged, never fatal."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        try:
            job()
        except Exception:
            log.exception("periodic job %s failed", getattr(job, "__name__", job))


async def run_edge(edge: Edge, stop: asyncio.Event, extra: list[Awaitable[None]] | None = None) -> None:
    """Run the edge until ``stop`` is set."""
    tasks = [
        asyncio.create_task(edge.runtime.run(stop)),
        asyncio.create_task(_every(1.0, stop, edge.writer.poll)),
        asyncio.create_task(_every(3600.0, stop, lambda: edge.store.apply_retention(utcnow()))),
    ]
    if edge.outbox is not None and edge.cfg.portal is not None:
        portal = edge.cfg.portal
        uplink = Uplink(edge.outbox, UplinkConfig(
            url=portal.url, site=portal.site, edge_id=portal.edge_id, token=portal.token.get_secret_value(),
            ca_file=portal.ca_file, pin_sha256=portal.pin_sha256,
            roles={d.id: d.role for d in edge.cfg.devices},
        ))
        tasks.append(asyncio.create_task(uplink.run(stop)))
    if edge.cfg.mqtt is not None:
        tasks.append(asyncio.create_task(mqtt_bridge(edge).run(stop)))
    if edge.planner is not None:
        tasks.append(asyncio.create_task(edge.planner.run(stop)))
        uploader = plan_uploader(edge.cfg, edge.planner)  # the plan to the portal, ahead of time
        if uploader is not None:
            tasks.append(asyncio.create_task(uploader.run(stop)))
    tasks += [asyncio.create_task(job) for job in extra or []]  # type: ignore[arg-type]
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)


def mqtt_bridge(edge: Edge) -> MqttBridge:
    """The MQTT/Home Assistant bridge of the site file's ``mqtt`` section.

    The owner may set a charge point's ``mode`` and ``current_limit`` (a cap within its maximum)
    and the battery's ``battery_setpoint``; they go into the control cycle (``CycleStep``) and are
    kept in ``edge.overrides``. Nothing bypasses the limiter; other commands are refused.
    """
    m = edge.cfg.mqtt
    assert m is not None
    settings = MqttSettings(m.host, m.port, m.username, m.password.get_secret_value() if m.password else None)

    def on_command(cmd: Command) -> None:
        control = edge.control
        if control is None:
            raise ValueError("this edge runs --read-only: it takes no commands")
        if cmd.command == "mode":
            ok = control.set_ev_mode(cmd.device, str(cmd.value))
        elif cmd.command == "current_limit":
            ok = control.set_ev_current(cmd.device, float(cmd.value))
        elif cmd.command == "battery_setpoint":
            ok = edge.cfg.device(cmd.device).role == "battery"
            if ok:
                control.set_battery(float(cmd.value))
        else:
            raise ValueError(f"{cmd.command} is decided by wattwerk's controllers, not settable")
        if not ok:
            raise ValueError(f"{cmd.device} does not take {cmd.command}")
        edge.overrides.setdefault(cmd.device, {})[cmd.command] = cmd.value
        log.info("user command %s.%s = %s (from %s)", cmd.device, cmd.command, cmd.value, cmd.source)

    return MqttBridge(
        edge.cfg.site.name, lambda: edge.runtime.state.snapshot(utcnow()), on_command,
        devices_from_config(edge.cfg), settings=settings, root=m.root, discovery_prefix=m.discovery_prefix,
    )


def web_app(edge: Edge) -> FastAPI:
    """The local page (live values, today, devices, restrictions), setup in the UI when the
    site file is known, and ``/metrics`` for Prometheus."""
    limits = edge.control.active_limits if edge.control is not None else None
    modes = edge.control.modes if edge.control is not None else None
    plan = edge.planner.plan_json if edge.planner is not None else None
    view = RuntimeView(edge.runtime, edge.cfg, today_fn=edge.view.today, limits_fn=limits, modes_fn=modes,
                       plan_fn=plan)
    setup = None
    if edge.path is not None:
        setup = Setup(edge.path, runtime=edge.runtime, on_config=lambda cfg: setattr(view, "cfg", cfg))
    outbox = edge.outbox
    sources = {} if outbox is None else {
        "outbox_pending": outbox.pending,
        "outbox_bytes": outbox.used_bytes,
        "upload_lag_s": lambda: oldest_pending_age_s(outbox),
    }
    return create_app(view, setup=setup, runtime=edge.runtime, metrics=sources)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="the site file (see `wattwerk check`)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address of the local page (default 127.0.0.1; 0.0.0.0 for the LAN)")
    parser.add_argument("--port", type=int, default=8080, help="port of the local page (default 8080)")
    parser.add_argument("--no-web", action="store_true", help="do not serve the local page")
    parser.add_argument("--store-every", type=float, default=10.0, help="storage interval in s (default 10)")
    parser.add_argument("--read-only", action="store_true", help="read and record only; write no setpoints")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
        edge = build_edge(cfg, store_every_s=args.store_every, control=not args.read_only,
                          path=Path(args.config))
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 1
    except PermanentError as exc:
        print(f"wattwerk run: {exc}", file=sys.stderr)
        return 1
    try:
        asyncio.run(_main(edge, args))
    finally:
        edge.close()
    return 0


async def _main(edge: Edge, args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    extra: list[Awaitable[None]] = []
    if not args.no_web:
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(web_app(edge), host=args.host, port=args.port,
                                               log_level="warning"))
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # ours stop everything

        async def serve() -> None:
            task = asyncio.create_task(server.serve())
            await stop.wait()
            server.should_exit = True
            await task

        extra.append(serve())
        log.info("local page on http://%s:%d", args.host, args.port)
    log.info("%s: %d polled devices, %d meter streams", edge.cfg.site.name, len(edge.devices.polled),
             len(edge.devices.push))
    await run_edge(edge, stop, extra)
