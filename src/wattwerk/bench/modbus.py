"""``wattwerk bench modbus [--json]``: Modbus throughput and a poll round on a 9600-baud RS485 bus.

1. Registers read per second over one Modbus TCP connection to a pymodbus server on loopback
   (blocks of 125 holding registers, decoded as u16); the server runs in a process of its own.
2. One poll round over a simulated 9600-baud RTU bus with 5 Eastron SDM630 meters (the catalogue
   entry, 13 float registers each). The 9600-baud wire time is modelled in the emulator: every
   request waits for the bytes of request and response at 10 bits per byte (8N1) plus the
   3.5-character silent interval before each frame (ptys and loopback do not enforce a baud rate).
   Two transports: a pymodbus serial server and the pymodbus serial client on the two ends of a pty
   pair (the real RTU serial code path), and RTU frames over TCP (as through a serial gateway).
   Reported with block reads as planned and with one request per register.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import time
from typing import Any

from wattwerk.devices.catalog import find
from wattwerk.devices.device import ModbusDevice
from wattwerk.protocols.modbus import LinkConfig, ModbusLink, RegisterReader
from wattwerk.protocols.modbus_codec import Register
from wattwerk.sim.emulators.modbus import EmulatorServer, RegisterBank, null_modem

BAUD = 9600
BITS_PER_BYTE = 10  # start + 8 data + stop (8N1)


def wire_time(request_bytes: int, response_bytes: int, baud: int = BAUD) -> float:
    """Seconds on the wire for one RTU exchange, with the 3.5-character gap before each frame."""
    char = BITS_PER_BYTE / baud
    return (request_bytes + response_bytes + 2 * 3.5) * char


class SlowBank(RegisterBank):
    """A bank whose reads take the RTU wire time of a 9600-baud bus."""

    async def _action(self, fc, start, address, count, registers, set_values):  # type: ignore[override]
        await asyncio.sleep(wire_time(8, 5 + 2 * count))
        return await super()._action(fc, start, address, count, registers, set_values)


TABLE = [Register(f"r{i}", i, "u16") for i in range(125)]


def _serve(ports: multiprocessing.Queue, stop: Any) -> None:  # type: ignore[type-arg]
    """The emulator in a process of its own, so the client's figures are not shared with it."""

    async def main() -> None:
        bank = RegisterBank(1, TABLE, values=lambda: {f"r{i}": i for i in range(125)})
        async with EmulatorServer([bank]) as server:
            ports.put(server.port)
            while not stop.is_set():
                await asyncio.sleep(0.05)

    asyncio.run(main())


async def tcp_throughput(seconds: float) -> dict[str, float]:
    table = TABLE
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=_serve, args=(ports, stop), daemon=True)
    proc.start()
    try:
        port = await asyncio.to_thread(ports.get, True, 30)
        link = ModbusLink(LinkConfig(port=port, timeout=2.0))
        reader = RegisterReader(link, 1, table, name="bench")
        await reader.read()  # connect
        start = time.perf_counter()
        rounds = 0
        while time.perf_counter() - start < seconds:
            values = await reader.read()
            rounds += 1
        elapsed = time.perf_counter() - start
        link.close()
    finally:
        stop.set()
        proc.join(5)
    assert len(values) == 125
    return {
        "registers_per_s": rounds * 125 / elapsed,
        "requests_per_s": rounds / elapsed,
        "ms_per_request": 1000 * elapsed / rounds,
    }


async def rtu_round(
    devices: int = 5, rounds: int = 3, max_gap: int | None = None, serial: bool = False
) -> dict[str, float]:
    entry = find("eastron-sdm630").entry
    if max_gap is not None:
        connection = entry.connection.model_copy(update={"max_gap": max_gap})
        entry = entry.model_copy(update={"connection": connection})
    typical = {"voltage": 230.0, "current": 8.5, "power": 1950.0, "frequency": 50.0, "energy": 4_200_000.0}
    values = {r.name: typical[r.name.split("_")[0]] for r in entry.registers}
    banks = []
    for unit in range(1, devices + 1):
        table = entry.register_table()
        banks.append(SlowBank(unit, table, values=lambda: values))
    async with contextlib.AsyncExitStack() as stack:
        if serial:
            server_tty, client_tty = await stack.enter_async_context(null_modem())
            await stack.enter_async_context(EmulatorServer(banks, serial=server_tty, baudrate=BAUD))
            cfg = LinkConfig(
                kind="rtu", serial=client_tty, baudrate=BAUD, timeout=2.0, pause=entry.connection.pause
            )
        else:
            server = await stack.enter_async_context(EmulatorServer(banks, framer="rtu"))
            cfg = LinkConfig(kind="rtu_tcp", port=server.port, timeout=2.0, pause=entry.connection.pause)
        link = ModbusLink(cfg)
        meters = [ModbusDevice(entry, link, device_id=f"m{u}", unit=u) for u in range(1, devices + 1)]
        await meters[0].read()
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            results = await asyncio.gather(*(m.read() for m in meters))
            times.append(time.perf_counter() - start)
            assert all(len(r) == len(entry.registers) for r in results)
        requests = sum(len(m.reader.blocks) for m in meters)
        link.close()
    modelled = sum(wire_time(8, 5 + 2 * b.count) for m in meters for b in m.reader.blocks)
    return {
        "round_s": min(times),
        "requests": requests,
        "modelled_wire_s": modelled,
        "pause_s": entry.connection.pause,
        "registers": sum(len(m.reader.registers) for m in meters),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of the TCP throughput run")


def run(args: argparse.Namespace) -> int:
    tcp = asyncio.run(tcp_throughput(args.seconds))
    serial = asyncio.run(rtu_round(serial=True))
    blocks = asyncio.run(rtu_round())
    singles = asyncio.run(rtu_round(max_gap=-1_000_000))
    result = {
        "tcp": tcp,
        "rtu_9600_5_devices_serial_pty": serial,
        "rtu_9600_5_devices": blocks,
        "rtu_9600_5_devices_no_blocks": singles,
    }
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(
        f"Modbus TCP, one connection, loopback: {tcp['registers_per_s']:.0f} registers/s "
        f"({tcp['requests_per_s']:.0f} requests/s of 125 registers, {tcp['ms_per_request']:.2f} ms each)"
    )
    print(
        f"RTU 9600 baud (modelled wire time), 5 x SDM630 ({blocks['registers']} registers), "
        f"pause {blocks['pause_s']} s between requests, one poll round:"
    )
    for label, r in (
        ("serial pty pair, block reads", serial),
        ("RTU over TCP, block reads", blocks),
        ("RTU over TCP, one request per register", singles),
    ):
        wire = r["modelled_wire_s"]
        print(f"  {label}: {r['round_s']:.3f} s ({r['requests']} requests; wire time {wire:.3f} s)")
    return 0
