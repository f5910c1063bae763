"""``wattwerk bench edge [--json]``: the edge's memory and CPU with N emulated devices polled every second.

This process starts N Modbus TCP emulators on loopback (pymodbus servers built from catalogue
entries, ``wattwerk.sim.emulators.modbus``) and runs the edge in a child process of its own, so the
figures are the edge's alone: the catalogue's drivers (``ModbusDevice``) polled by ``EdgeRuntime``
at ``--interval``, the control loop every second, and the recorder writing to the SQLite store (in
batches) and the durable outbox; with ``--mqtt`` also the MQTT bridge (every channel to the broker,
Home Assistant discovery) and the metrics registry. After ``--warmup`` s, CPU is measured over
``--seconds`` from ``/proc/<pid>/stat`` (user + system time / wall time); RSS (and PSS, which
splits shared pages fairly) is read from ``/proc`` at the end. The child also reports its RSS after
each import step, so a figure over target shows where the memory goes.

Targets (issue 9): RSS under 80 MB, CPU under 3 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RSS_MB = 80.0
TARGET_CPU_PCT = 3.0

# the emulated devices: catalogue entries with plain register maps, cycled up to --devices
ENTRIES = (
    "eastron-sdm630", "eastron-sdm72dm-v2", "carlo-gavazzi-em24", "janitza-umg-b", "abb-b23-b24",
    "siemens-pac2200", "carlo-gavazzi-ex300", "eastron-sdm220", "huawei-power-sensor", "siemens-pac1600",
)


# ---------------------------------------------------------------- /proc


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (peak RSS) in MB and, where the kernel offers it, Pss in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) / 1024
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    return proc_status(os.getpid())["VmRSS"]


# ---------------------------------------------------------------- the edge (child process)


def _say(**data: Any) -> None:
    print(json.dumps(data), flush=True)


def child(spec: dict[str, Any]) -> int:
    """The edge under test; prints JSON lines (import steps, ready, final stats) on stdout."""
    steps = {"python_asyncio": rss_mb()}  # the interpreter with asyncio, json and this module
    from wattwerk.edge.runtime import EdgeRuntime, Polled

    steps["runtime"] = rss_mb()
    from wattwerk.devices.catalog import find
    from wattwerk.devices.device import ModbusDevice
    from wattwerk.protocols.modbus import LinkConfig, ModbusLink

    steps["pymodbus_drivers"] = rss_mb()
    from wattwerk.edge.outbox import Outbox
    from wattwerk.edge.recorder import Recorder
    from wattwerk.store.buffer import BufferedWriter
    from wattwerk.store.sqlite import SqliteStore

    steps["store_outbox"] = rss_mb()
    if spec.get("mqtt"):
        from wattwerk.edge.metrics import edge_registry
        from wattwerk.edge.mqtt_bridge import MqttBridge
        from wattwerk.model import utcnow
        from wattwerk.protocols.mqtt import MqttSettings

        steps["mqtt_metrics"] = rss_mb()
    data = Path(spec["data_dir"])
    result: dict[str, Any] = {}

    async def main() -> None:  # pymodbus clients must be made inside the running loop
        store = SqliteStore(data / "store.sqlite")
        writer = BufferedWriter(store, max_readings=2000, max_age_s=30.0)
        outbox = Outbox(data / "outbox.sqlite")
        polled, links = [], []
        for i, (entry_id, port) in enumerate(spec["devices"]):
            link = ModbusLink(LinkConfig(kind="tcp", host="127.0.0.1", port=port, timeout=1.0, retries=1))
            links.append(link)
            driver = ModbusDevice(find(entry_id).entry, link, device_id=f"dev{i}")
            polled.append(Polled(f"dev{i}", driver, spec["interval_s"], timeout_s=2.0))
        recorder = Recorder(spec["store_every_s"], store=writer, outbox=outbox)
        runtime = EdgeRuntime(polled, recorder=recorder, cycle_s=1.0)
        steps["catalogue_devices"] = rss_mb()

        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

        async def flush_store() -> None:  # the edge's loop polls the buffer so a quiet one still flushes
            while not stop.is_set():
                writer.poll()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

        tasks = [asyncio.create_task(runtime.run(stop)), asyncio.create_task(flush_store())]
        if spec.get("mqtt"):  # the bridge publishing every channel, and a registry as /metrics would build
            edge_registry(runtime, outbox_pending=outbox.pending)
            bridge = MqttBridge("bench", lambda: runtime.state.snapshot(utcnow()), lambda cmd: None,
                                settings=MqttSettings(port=spec["mqtt"]), root=spec["mqtt_root"],
                                discovery_prefix=f"{spec['mqtt_root']}/ha")
            tasks.append(asyncio.create_task(bridge.run(stop)))
        _say(ready=True, steps_mb=steps)
        await asyncio.gather(*tasks)
        writer.close()
        result.update(reads=sum(p.reads for p in polled), readings=runtime.stats.readings,
                      cycles=runtime.stats.cycles, errors=runtime.ledger.total(),
                      error_kinds=sorted({k for (_, k) in runtime.ledger.counts}),
                      outbox_pending=outbox.pending())
        for link in links:
            link.close()
        outbox.close()
        store.close()

    asyncio.run(main())
    _say(done=True, **result)
    return 0


# ---------------------------------------------------------------- the emulators and the measurement


BASE = {"power": 1800.0, "energy": 4_200_000.0, "voltage": 231.0, "current": 7.5, "frequency": 50.0,
        "power_factor": 0.97, "reactive_power": 120.0, "apparent_power": 1900.0}


class Wobble:
    """A ``SimDevice`` for one entry: every channel moves a little, inside its plausible range."""

    def __init__(self, channels: set[str], seed: int) -> None:
        self.prefix = {name: max((k for k in BASE if name == k or name.startswith(k + "_")), key=len,
                                 default="") for name in channels}
        self.seed = seed
        self.t0 = time.monotonic()

    def values(self) -> dict[str, float]:
        t = time.monotonic() - self.t0
        wave = 1 + 0.1 * math.sin(t / 7 + self.seed)
        out = {}
        for name, prefix in self.prefix.items():
            base = BASE.get(prefix, 0.0)
            if prefix == "energy":
                out[name] = base + 0.5 * t
            elif prefix in ("frequency", "power_factor", "voltage"):
                out[name] = base
            else:
                out[name] = round(base * wave, 1)
        return out

    def apply(self, command: str, value: float) -> None:
        pass


async def measure(devices: int, seconds: float, warmup: float, interval_s: float,
                  store_every_s: float, mqtt_port: int | None = None) -> dict[str, Any]:
    from wattwerk.devices.catalog import find
    from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer

    servers = []
    spec_devices = []
    for i in range(devices):
        entry_id = ENTRIES[i % len(ENTRIES)]
        entry = find(entry_id).entry
        emulator = CatalogEmulator(entry, Wobble({r.name for r in entry.registers if r.channel}, i))
        server = await EmulatorServer([emulator.bank]).start()
        servers.append(server)
        spec_devices.append((entry_id, server.port))
    try:
        with tempfile.TemporaryDirectory(prefix="wattwerk-bench-edge-") as tmp:
            spec = {"devices": spec_devices, "interval_s": interval_s, "store_every_s": store_every_s,
                    "data_dir": tmp, "mqtt": mqtt_port, "mqtt_root": f"wattwerk-bench/{os.getpid()}"}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "wattwerk.bench.edge", "--child", json.dumps(spec),
                stdout=asyncio.subprocess.PIPE)
            assert proc.stdout is not None
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), 60)
                if not line:
                    raise RuntimeError("the edge process ended before it was ready (see its traceback above)")
                ready = json.loads(line)
                await asyncio.sleep(warmup)
                cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
                await asyncio.sleep(seconds)
                cpu1, wall1 = cpu_seconds(proc.pid), time.monotonic()
                mem = proc_status(proc.pid)
                proc.send_signal(signal.SIGTERM)
                done = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
                await asyncio.wait_for(proc.wait(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    finally:
        for server in servers:
            await server.close()
        if mqtt_port is not None:
            await clear_retained(mqtt_port, spec["mqtt_root"])
    cpu_pct = 100.0 * (cpu1 - cpu0) / (wall1 - wall0)
    steps = ready["steps_mb"]
    names = list(steps)
    return {
        "devices": devices,
        "mqtt": mqtt_port is not None,
        "interval_s": interval_s,
        "measured_s": round(wall1 - wall0, 1),
        "rss_mb": round(mem["VmRSS"], 1),
        "peak_rss_mb": round(mem["VmHWM"], 1),
        "pss_mb": round(mem["Pss"], 1) if "Pss" in mem else None,
        "cpu_pct_of_one_core": round(cpu_pct, 2),
        "cpu_s": round(cpu1 - cpu0, 2),
        "rss_after_step_mb": {k: round(v, 1) for k, v in steps.items()},
        "rss_added_by_step_mb": {k: round(steps[k] - steps[names[i - 1]], 1) if i else round(steps[k], 1)
                                 for i, k in enumerate(names)},
        "polls": done["reads"],
        "readings": done["readings"],
        "read_errors": done["errors"],
        "error_kinds": done["error_kinds"],
        "outbox_pending": done["outbox_pending"],
        "targets": {"rss_mb": TARGET_RSS_MB, "cpu_pct_of_one_core": TARGET_CPU_PCT},
    }


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=10, help="emulated Modbus devices (default 10)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured period (default 30 s)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval per device (default 1 s)")
    parser.add_argument("--store-every", type=float, default=10.0,
                        help="storage interval per channel, as site.yaml's recorder (default 10 s)")
    parser.add_argument("--mqtt", type=int, nargs="?", const=1883, default=None, metavar="PORT",
                        help="also run the MQTT bridge to the broker on 127.0.0.1:PORT (default 1883)")


def run(args: argparse.Namespace) -> int:
    logging.getLogger("pymodbus").setLevel(logging.WARNING)
    result = asyncio.run(measure(args.devices, args.seconds, args.warmup, args.interval, args.store_every,
                                 args.mqtt))
    if args.json:
        print(json.dumps(result))
        return 0
    ok = lambda v, t: "ok" if v < t else "OVER"  # noqa: E731
    mqtt = " and the MQTT bridge" if result["mqtt"] else ""
    print(f"edge{mqtt} with {result['devices']} emulated Modbus devices polled every "
          f"{result['interval_s']:g} s, measured {result['measured_s']:g} s")
    print(f"  {result['polls']} polls, {result['readings']} readings, {result['read_errors']} read errors")
    print(f"  RSS  {result['rss_mb']:6.1f} MB  (peak {result['peak_rss_mb']:.1f}, PSS {result['pss_mb']}) "
          f"target < {TARGET_RSS_MB:g} MB: {ok(result['rss_mb'], TARGET_RSS_MB)}")
    print(f"  CPU  {result['cpu_pct_of_one_core']:6.2f} % of one core  "
          f"target < {TARGET_CPU_PCT:g} %: {ok(result['cpu_pct_of_one_core'], TARGET_CPU_PCT)}")
    print("  RSS added by each import step (MB):")
    for step, mb in result["rss_added_by_step_mb"].items():
        print(f"    {step:<20} {mb:6.1f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        raise SystemExit(child(json.loads(sys.argv[2])))
    print("run it as: wattwerk bench edge [--json]", file=sys.stderr)
    raise SystemExit(2)
