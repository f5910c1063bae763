"""The edge's Modbus TCP server for limits: a real pymodbus client (an RTU or building controller as
the master) against the running edge (tests/inbound_site.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.client.mixin import ModbusClientMixin

from inbound_site import free_port, running_site, until
from wattwerk.edge.inbound.modbus_server import REGISTER_MAP, register_rows

DT = ModbusClientMixin.DATATYPE
IMPORT = "modbus_server.limit_import"
PCT = "modbus_server.limit_pct"


def inbound(port: int, extra: str = "") -> str:
    return f"    modbus_server: {{port: {port}{extra}}}\n"


def u32(value: int) -> list[int]:
    return ModbusClientMixin.convert_to_registers(value, DT.UINT32)


async def master(port: int) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=3)
    await until(lambda: True)
    for _ in range(50):
        if await client.connect():
            return client
        await asyncio.sleep(0.1)
    raise AssertionError("the edge's Modbus server does not answer")


async def test_a_master_writes_an_import_limit_and_it_holds(tmp_path):
    port = free_port()
    async with running_site(tmp_path, inbound(port), (IMPORT, "ev1.power", "ev1.state"), ev=True) as site:
        client = await master(port)
        try:
            seen = site.watched.cycles
            await until(lambda: seen and (seen[-1].seen["ev1.power"] or 0) > 10000)  # the car takes 11 kW
            rr = await client.read_holding_registers(100, count=2, device_id=1)
            assert not rr.isError()
            grid = client.convert_from_registers(rr.registers, DT.INT32)
            assert grid == pytest.approx(site.sim.grid.power, abs=600)  # the meter, one P1 telegram behind
            rr = await client.write_registers(3, u32(6000), device_id=1)  # import limit 6 kW
            assert not rr.isError()
            await until(lambda: site.watched.first(lambda c: c.seen[IMPORT] == 6000.0))
            first = site.watched.first(lambda c: c.seen[IMPORT] == 6000.0)
            assert first is not None and first.active["import:modbus_server"] == 6000.0
            # the same cycle turns the charger down: 16 A x 3 phases no longer fits under 6 kW
            amps = [s.value for s in first.setpoints if s.channel == "ev1.current_limit"]
            enabled = [s.value for s in first.setpoints if s.channel == "ev1.enable"]
            assert (amps and amps[0] * 3 * 230 <= 6000.0) or enabled == [0.0]
            await until(lambda: site.sim.evs[0].power <= 6000.0)
            await asyncio.sleep(0.5)  # the simulated site follows the charger
            assert site.sim.grid.power <= 6000.0  # the import limit holds
            rr = await client.read_holding_registers(109, count=2, device_id=1)
            assert client.convert_from_registers(rr.registers, DT.UINT32) == 6000  # in force, read back
            status = (await client.read_holding_registers(113, count=1, device_id=1)).registers[0]
            assert status & 0b10  # import limited
            rr = await client.write_registers(3, u32(0xFFFFFFFF), device_id=1)  # none: lifted
            assert not rr.isError()
            await until(lambda: site.watched.events("modbus_server")[-1].kind == "restriction_end")
        finally:
            client.close()
    kinds = [(e.kind, e.message.split(":")[0]) for e in site.watched.events("modbus_server")]
    assert kinds == [
        ("restriction_start", "modbus_server import 6000 W"),
        ("restriction_end", "modbus_server import 6000 W"),
    ]
    assert site.watched.events("modbus_server")[-1].data["curtailed_wh"] > 0.0  # the car was held back


async def test_bad_writes_are_refused_with_modbus_exceptions(tmp_path):
    port = free_port()
    async with running_site(tmp_path, inbound(port), (PCT,)) as site:
        client = await master(port)
        try:
            rr = await client.write_register(0, 1001, device_id=1)  # 100.1 %: out of range
            assert rr.isError() and rr.exception_code == 3
            rr = await client.write_register(100, 5, device_id=1)  # a measurement is read-only
            assert rr.isError() and rr.exception_code == 2
            rr = await client.write_register(3, 5, device_id=1)  # half of a 32-bit limit
            assert rr.isError() and rr.exception_code == 2
            rr = await client.read_holding_registers(50, count=1, device_id=1)  # between the blocks
            assert rr.isError() and rr.exception_code == 2
            rr = await client.write_register(0, 600, device_id=1)  # 60.0 %
            assert not rr.isError()
            await until(lambda: site.watched.first(lambda c: c.seen[PCT] == 60.0))
        finally:
            client.close()
        assert site.watched.first(lambda c: c.seen[PCT] == 60.0).active["export:modbus_server"] == 4800.0


async def test_a_silent_master_gets_the_fallback_and_a_stranger_is_refused(tmp_path):
    port = free_port()
    yaml = inbound(port, ", fallback: 0, fallback_after_s: 1.5")
    async with running_site(tmp_path, yaml, (PCT, "modbus_server.state_fallback")) as site:
        client = await master(port)
        try:
            assert not (await client.write_register(0, 700, device_id=1)).isError()  # 70 %
            await until(lambda: site.watched.first(lambda c: c.seen[PCT] == 70.0))
            # no write (not even the watchdog) for 1.5 s: 0 % feed-in, as the contract says
            await until(lambda: site.watched.first(lambda c: c.seen[PCT] == 0.0))
            fallback = site.watched.first(lambda c: c.seen[PCT] == 0.0)
            assert fallback is not None and fallback.seen["modbus_server.state_fallback"] == 1.0
            status = (await client.read_holding_registers(113, count=1, device_id=1)).registers[0]
            assert status & 0b101 == 0b101  # feed-in limited, fallback
            assert (await client.read_holding_registers(0, count=1, device_id=1)).registers[0] == 0
            assert not (await client.write_register(5, 1, device_id=1)).isError()  # the watchdog: back
            await until(lambda: site.watched.cycles[-1].seen["modbus_server.state_fallback"] == 0.0)
        finally:
            client.close()
    messages = [e.message for e in site.watched.events("modbus_server") if e.kind == "restriction_start"]
    assert messages == ["modbus_server feed-in 70%", "modbus_server feed-in 0%"]


def test_the_register_map_is_one_table_without_overlaps():
    taken: dict[int, str] = {}
    for e in REGISTER_MAP:
        for a in range(e.register.address, e.register.end):
            assert a not in taken, f"{e.register.name} overlaps {taken[a]}"
            taken[a] = e.register.name
    rows = register_rows()
    assert [r["access"] for r in rows if r["address"] < 100] == ["rw"] * 4
    assert all(r["access"] == "r" for r in rows if r["address"] >= 100)


def test_the_docs_print_the_register_map():
    docs = (Path(__file__).parent.parent / "docs" / "signals.md").read_text(encoding="utf-8")
    for r in register_rows():
        cells = [str(r["address"]), f"`{r['name']}`", r["type"], r["unit"], r["access"], r["meaning"]]
        line = "| " + " | ".join(cells) + " |"
        assert line in docs, line
