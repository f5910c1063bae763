"""``wattwerk bench edge [--json]``: memory and CPU of ``wattwerk run`` on a ten-device site.

What a user runs is measured: ``wattwerk run site.yaml`` (as docs/install.md and the systemd unit
start it, local page and ``/metrics`` on) in a process of its own, on a site file whose ten devices
are Modbus emulators on loopback, each polled every ``--interval`` s (``bench/_edge_site.py``: grid
meter, house submeter, two SunSpec inverters, battery, two chargers, SG-Ready relay board with the
heat pump's meter, heating rod). Three variants:

* ``plain``: reading, control, store and outbox, the local page;
* ``mqtt_metrics``: plus the MQTT bridge to the broker on 127.0.0.1 (Home Assistant discovery),
  and ``/metrics`` scraped every ``SCRAPE_S`` s as Prometheus would;
* ``planner``: ``strategy.mode: planner`` over a fixed tariff (no price server needed) and the
  Open-Meteo forecast, which falls back to clear sky when there is no internet.

After the edge has read every device and ``--warmup`` s passed, RSS is sampled every second for
``--seconds``: ``rss_mb`` is the median (steady state), ``peak_rss_mb`` the kernel's high-water
mark since start; CPU is user + system time over wall time from ``/proc/<pid>/stat``. The counts
of Modbus requests each emulator answered prove the process really read the devices.

Targets (issue 13): plain < 80 MB and < 3 % of one core; with the planner < 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wattwerk.bench._edge_site import BenchSite
from wattwerk.progress import Progress

TARGETS = {
    "plain": {"rss_mb": 80.0, "cpu_pct_of_one_core": 3.0},
    "mqtt_metrics": {},
    "planner": {"rss_mb": 150.0},
}
VARIANTS = tuple(TARGETS)
SCRAPE_S = 5.0  # /metrics scrape interval of the mqtt_metrics variant
READY_TIMEOUT_S = 120.0
PLAN_LINE = re.compile(r"wattwerk\.planner: plan (\w+) from \S+ (\d+) slots")


# ---------------------------------------------------------------- /proc


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (peak RSS), RssAnon (the heap: objects, caches) and RssFile (mapped code and
    libraries, shared with other processes) in MB, Threads; where the kernel offers it, Pss in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(rest.split()[0]) / 1024
        elif key == "Threads":
            out[key] = int(rest)
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    return proc_status(os.getpid())["VmRSS"]


# ---------------------------------------------------------------- the edge process


def wattwerk_command() -> list[str]:
    """The ``wattwerk`` script of this environment, as a user starts it (else ``python -m``)."""
    script = Path(sys.executable).with_name("wattwerk")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wattwerk"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric_sums(text: str) -> dict[str, float]:
    """Sum of each sample name over its labels, from a Prometheus text page; read errors also
    per ``device:kind``."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + float(s.value)
            if s.name == "wattwerk_edge_read_errors_total" and s.value:
                key = f"read_errors:{s.labels.get('device')}:{s.labels.get('kind')}"
                out[key] = float(s.value)
    return out


@dataclass
class EdgeProcess:
    """``wattwerk run`` on a site file, its log in ``log``; ``stop()`` sends SIGTERM like systemd."""

    proc: asyncio.subprocess.Process
    port: int
    log: Path

    @classmethod
    async def start(cls, site_file: Path, workdir: Path) -> EdgeProcess:
        port = free_port()
        log = workdir / "edge.log"
        with log.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *wattwerk_command(),
                "run",
                str(site_file),
                "--port",
                str(port),
                stdout=out,
                stderr=out,
                cwd=workdir,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return cls(proc, port, log)

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def get(self, client: Any, path: str) -> Any:
        """GET from the local page; ``/metrics`` with the bearer token the edge wrote (as Prometheus)."""
        token = self.log.parent / "var" / "metrics.token"
        headers = {"Authorization": f"Bearer {token.read_text().strip()}"} if token.exists() else {}
        return await client.get(f"http://127.0.0.1:{self.port}{path}", headers=headers, timeout=10.0)

    async def stop(self) -> tuple[int | None, bool]:
        """(exit code, whether the log is free of tracebacks)."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 30)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        return self.proc.returncode, "Traceback" not in self.log.read_text(errors="replace")


async def wait_ready(edge: EdgeProcess, site: BenchSite, client: Any) -> float:
    """Seconds until the page answers and every polled device's emulator has been read."""
    import httpx

    t0 = time.monotonic()
    base = site.reads()
    while time.monotonic() - t0 < READY_TIMEOUT_S:
        if edge.proc.returncode is not None:
            raise RuntimeError(f"wattwerk run ended with {edge.proc.returncode}:\n{edge.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if (await edge.get(client, "/metrics")).status_code == 200:
                reads = site.reads()
                if all(reads[u.device_id] > base[u.device_id] for u in site.units if u.polled):
                    return time.monotonic() - t0
        await asyncio.sleep(0.5)
    raise RuntimeError(f"wattwerk run did not read every device within {READY_TIMEOUT_S:g} s:\n{edge.tail()}")


# ---------------------------------------------------------------- one variant


async def measure(
    site: BenchSite, variant: str, seconds: float, warmup: float, mqtt_port: int = 1883
) -> dict[str, Any]:
    """Start ``wattwerk run`` for one variant, measure it, stop it; the figures as a dict."""
    import httpx

    root = f"wattwerk-bench/{os.getpid()}-{variant}"
    mqtt = (
        {"port": mqtt_port, "root": root, "discovery_prefix": f"{root}/ha"}
        if variant == "mqtt_metrics"
        else None
    )
    with tempfile.TemporaryDirectory(prefix="wattwerk-bench-edge-") as tmp:
        workdir = Path(tmp)
        site_file = workdir / "site.yaml"
        site_file.write_text(site.site_yaml(workdir / "var", planner=variant == "planner", mqtt=mqtt))
        edge = await EdgeProcess.start(site_file, workdir)
        counter = MessageCounter(mqtt_port, root) if mqtt else None
        try:
            async with httpx.AsyncClient() as client:
                startup_s = await wait_ready(edge, site, client)
                if counter is not None:
                    await counter.start()
                t0 = time.monotonic()
                line = Progress(
                    f"bench edge {variant}",
                    warmup + seconds,
                    where=lambda done: "warm-up" if done < warmup else "measuring",
                )
                async with line.following(lambda: time.monotonic() - t0):
                    figures = await _sample(edge, site, client, seconds, warmup, scrape=mqtt is not None)
                page = (await edge.get(client, "/metrics")).text
        finally:
            code, clean = await edge.stop()
            log = edge.log.read_text(errors="replace")
            messages = await counter.stop() if counter is not None else None
            if mqtt is not None:
                await clear_retained(mqtt_port, root)
    sums = metric_sums(page)
    out = {
        "variant": variant,
        "startup_s": round(startup_s, 1),
        **figures,
        "readings_accepted": int(sums.get("wattwerk_edge_readings_accepted_total", 0)),
        "read_errors": int(sums.get("wattwerk_edge_read_errors_total", 0)),
        "read_errors_by_kind": {
            k.split(":", 1)[1]: int(v) for k, v in sums.items() if k.startswith("read_errors:")
        },
        "exit_code": code,
        "clean_exit": clean,
    }
    if messages is not None:
        out["mqtt_messages"] = messages
    if variant == "planner":  # the planner's own log line per plan: "plan optimal from ...: 144 slots"
        plans = PLAN_LINE.findall(log)
        out["plans"] = len(plans)
        out["plan_status"], out["plan_slots"] = (plans[-1][0], int(plans[-1][1])) if plans else (None, 0)
    out["targets"] = TARGETS[variant]
    return out


async def _sample(
    edge: EdgeProcess, site: BenchSite, client: Any, seconds: float, warmup: float, *, scrape: bool
) -> dict[str, Any]:
    pid = edge.proc.pid
    await asyncio.sleep(warmup)
    reads0 = site.reads()
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    samples: list[float] = []
    next_scrape = wall0
    while (now := time.monotonic()) < wall0 + seconds:
        if edge.proc.returncode is not None:
            raise RuntimeError(f"wattwerk run ended with {edge.proc.returncode}:\n{edge.tail()}")
        samples.append(proc_status(pid)["VmRSS"])
        if scrape and now >= next_scrape:
            await edge.get(client, "/metrics")
            next_scrape += SCRAPE_S
        await asyncio.sleep(min(1.0, max(wall0 + seconds - time.monotonic(), 0.0)))
    cpu1, wall1 = cpu_seconds(pid), time.monotonic()
    mem = proc_status(pid)
    samples.append(mem["VmRSS"])
    reads = {d: n - reads0[d] for d, n in site.reads().items()}
    return {
        "measured_s": round(wall1 - wall0, 1),
        "rss_mb": round(statistics.median(samples), 1),
        "rss_max_mb": round(max(samples), 1),
        "rss_growth_mb": round(samples[-1] - samples[0], 1),  # over the measured period (a leak grows)
        "peak_rss_mb": round(mem["VmHWM"], 1),
        "pss_mb": round(mem["Pss"], 1) if "Pss" in mem else None,
        "rss_anon_mb": round(mem.get("RssAnon", 0.0), 1),  # heap: Python objects, caches
        "rss_file_mb": round(mem.get("RssFile", 0.0), 1),  # code and shared libraries
        "threads": int(mem.get("Threads", 0)),
        "cpu_pct_of_one_core": round(100.0 * (cpu1 - cpu0) / (wall1 - wall0), 2),
        "cpu_s": round(cpu1 - cpu0, 2),
        "modbus_requests": reads,
    }


class MessageCounter:
    """Counts what the edge publishes under ``root`` (proof the bridge ran)."""

    def __init__(self, port: int, root: str) -> None:
        self.port, self.root, self.count = port, root, 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        from wattwerk.protocols.mqtt import MqttSettings

        async with MqttSettings(port=self.port).client() as client:
            await client.subscribe(f"{self.root}/#")
            async for _ in client.messages:
                self.count += 1

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        return self.count


async def clear_retained(port: int, root: str) -> None:
    """Leave the broker as we found it: empty the retained topics the bridge left under ``root``."""
    import aiomqtt

    from wattwerk.protocols.mqtt import MqttSettings

    sentinel = f"{root}-end"
    topics: list[str] = []
    with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
        async with MqttSettings(port=port).client() as client:
            await client.subscribe(f"{root}/#", qos=1)
            await client.subscribe(sentinel, qos=1)
            await client.publish(sentinel, b"end", qos=1)
            async with asyncio.timeout(10):
                async for m in client.messages:  # retained ones arrive first, then our sentinel
                    if m.topic.value == sentinel:
                        break
                    if m.retain:
                        topics.append(m.topic.value)
            for topic in topics:
                await client.publish(topic, b"", qos=1, retain=True)


# ---------------------------------------------------------------- command line


async def measure_all(
    variants: list[str], seconds: float, warmup: float, interval_s: float, mqtt_port: int
) -> dict[str, Any]:
    async with BenchSite(interval_s=interval_s) as site:
        results = {}
        for variant in variants:
            results[variant] = await measure(site, variant, seconds, warmup, mqtt_port)
        return {
            "command": " ".join([Path(wattwerk_command()[0]).name, "run", "site.yaml"]),
            "devices": len(site.units),
            "interval_s": interval_s,
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "variants": results,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        action="append",
        help="measure only this variant (repeatable; default all three)",
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="measured period per variant (default 60 s)"
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=20.0,
        help="seconds after every device was read before measuring (default 20)",
    )
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval per device (default 1 s)")
    parser.add_argument("--mqtt-port", type=int, default=1883, help="MQTT broker on 127.0.0.1 (default 1883)")


def run(args: argparse.Namespace) -> int:
    for name in ("pymodbus", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
    variants = args.variant or list(VARIANTS)
    result = asyncio.run(measure_all(variants, args.seconds, args.warmup, args.interval, args.mqtt_port))
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"`{result['command']}` with {result['devices']} emulated Modbus devices polled every "
        f"{result['interval_s']:g} s (load average {result['load_average'][0]:g})"
    )
    for name, r in result["variants"].items():
        verdicts = [f"{k} < {t:g}: {'ok' if r[k] < t else 'OVER'}" for k, t in r["targets"].items()]
        print(
            f"  {name:<13} RSS {r['rss_mb']:6.1f} MB (peak {r['peak_rss_mb']:.1f}, PSS {r['pss_mb']})  "
            f"CPU {r['cpu_pct_of_one_core']:5.2f} % of one core  {'; '.join(verdicts)}"
        )
        print(
            f"  {'':<13} {sum(r['modbus_requests'].values())} Modbus requests in {r['measured_s']:g} s, "
            f"{r['readings_accepted']} readings, {r['read_errors']} read errors, ready after "
            f"{r['startup_s']:g} s"
        )
    return 0
