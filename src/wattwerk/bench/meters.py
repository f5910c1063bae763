"""``wattwerk bench meters``: frames per second per meter reader, CPU cost of a 1-s P1 stream.

Each reader is measured the way it runs: bytes in 4 KiB chunks through its decoder and a
``MeterReader`` (range check, Readings). Add a reader by adding one line to ``SAMPLES``:
the ``wattwerk decode`` format name and its sample (bytes, or a path under the shared
sample data; ``.hex`` files are hex text).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path

from wattwerk.protocols.decode import make_decoder
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.speedwire import EmeterDatagram, build_datagram
from wattwerk.sim.emulators import MeterState, PhaseState
from wattwerk.sim.emulators.p1 import telegram
from wattwerk.sim.emulators.speedwire import datagram_values
from wattwerk.sim.emulators.tasmota import sensor_document

_P1_STATE = MeterState(
    datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
    -1234.0,
    5_000_123.0,
    2_000_456.0,
    (PhaseState(231.2, 3.0, 500.0), PhaseState(229.9, 8.0, -1734.0), PhaseState(230.0, 0.0, 0.0)),
)

# (format, sample): one line per reader.
SAMPLES: list[tuple[str, bytes | str]] = [
    ("dsmr", telegram(_P1_STATE)),  # the emulator's DSMR 5 telegram: the 1-s P1 stream below
    ("dsmr", "dsmr/fluvius_v171.txt"),
    ("dsmr", "dsmr/v2_2.txt"),
    ("dlms", "dlms/lg_e450_unencrypted_valid_data_cfg2026.hex"),
    ("dlms", "dlms/iskra_am550_unencrypted_valid_data_cfg2026.hex"),
    ("sml", "sml/smllib_frame2.hex"),
    ("sml", "sml/dnt_stream_ttyUSB0-3.bin"),
    ("speedwire", build_datagram(EmeterDatagram(349, 3_001_234_567, 0, datagram_values(_P1_STATE)))),
    ("tasmota", json.dumps(sensor_document(_P1_STATE)).encode() + b"\n"),
]

DEFAULT_DATA = Path(
    os.environ.get("WATTWERK_SAMPLES", Path(__file__).resolve().parents[4] / "shared" / "data")
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared sample data folder")
    parser.add_argument("--seconds", type=float, default=1.0, help="time to spend per reader")


def load(sample: bytes | str, data: Path) -> bytes | None:
    if isinstance(sample, bytes):
        return sample
    path = data / sample
    if not path.is_file():
        return None
    raw = path.read_bytes()
    if path.suffix != ".hex":
        return raw
    lines = (line.split("#", 1)[0] for line in raw.decode("ascii", "replace").splitlines())
    return bytes.fromhex("".join(ch for line in lines for ch in line if ch in "0123456789abcdefABCDEF"))


def measure(fmt: str, sample: bytes, seconds: float) -> dict[str, float]:
    """Frames per second and CPU microseconds per frame of decoder + MeterReader."""
    reader = MeterReader("grid", make_decoder(fmt))
    per_round = len(reader.process(sample))
    if per_round == 0:
        raise ValueError(f"{fmt}: the sample decodes to no frame")
    stream = sample * max(1, 4096 // len(sample) + 1)
    frames = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall0 < seconds:
        for i in range(0, len(stream), 4096):
            frames += len(reader.process(stream[i : i + 4096]))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {
        "frames": frames,
        "frames_per_s": frames / wall,  # wall clock: lower on a busy machine
        "frames_per_cpu_s": frames / cpu,  # what one core sustains
        "cpu_us_per_frame": cpu / frames * 1e6,
    }


def run(args: argparse.Namespace) -> int:
    results = []
    logging.getLogger("wattwerk.input").setLevel(logging.ERROR)  # samples' known bad frames: figures only
    for fmt, sample in SAMPLES:
        data = load(sample, args.data)
        name = sample if isinstance(sample, str) else f"built-in {fmt} sample"
        if data is None:
            results.append({"format": fmt, "sample": name, "skipped": "sample not found"})
            continue
        results.append({"format": fmt, "sample": name, **measure(fmt, data, args.seconds)})
    p1 = results[0]  # SAMPLES[0]: the emulator's DSMR 5 telegram
    cpu_per_hour = p1["cpu_us_per_frame"] * 1e-6 * 3600
    if args.json:
        print(json.dumps({"readers": results, "p1_cpu_s_per_hour": cpu_per_hour}))
        return 0
    for r in results:
        if "skipped" in r:
            print(f"{r['format']:<10} {r['sample']:<50} skipped: {r['skipped']}")
        else:
            print(
                f"{r['format']:<10} {r['sample']:<50} {r['frames_per_cpu_s']:>7.0f} frames per CPU second"
                f"  ({r['cpu_us_per_frame']:>5.0f} µs/frame, {r['frames_per_s']:>6.0f} frames/s wall)"
            )
    print(f"1-s P1 stream (DSMR 5, decoder + reader): {cpu_per_hour:.2f} CPU seconds per hour")
    return 0
