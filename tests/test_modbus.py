"""Modbus layer: codec, block planning, and the link/reader against real pymodbus servers on loopback
(exception codes, timeouts, retries, back-off, shared connections, RTU framing over TCP)."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattwerk.errors import InputLedger, PermanentError
from wattwerk.protocols.modbus import LinkConfig, ModbusLink, RegisterReader
from wattwerk.protocols.modbus_blocks import MAX_REGISTERS, plan
from wattwerk.protocols.modbus_codec import Register, decode_raw, encode_raw, scaled
from wattwerk.sim.emulators.modbus import EmulatorServer, RegisterBank

# ---------------------------------------------------------------- codec


@pytest.mark.parametrize(
    ("type_", "regs", "order", "expected"),
    [
        ("u16", [0x1234], "big", 0x1234),
        ("s16", [0xFFFE], "big", -2),
        ("u32", [0x0001, 0x0002], "big", 0x00010002),
        ("u32", [0x0002, 0x0001], "little", 0x00010002),
        ("s32", [0xFFFF, 0xFFFE], "big", -2),
        ("u64", [0, 0, 1, 0], "big", 65536),
        ("s64", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], "big", -1),
        ("f32", [0x4366, 0x6666], "big", 230.39999389648438),
        ("f32", [0x6666, 0x4366], "little", 230.39999389648438),
        ("string", [0x5355, 0x4E32, 0x0000], "big", "SUN2"),
    ],
)
def test_decode_types_and_word_order(type_: str, regs: list[int], order: str, expected: object) -> None:
    assert decode_raw(regs, type_, order) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("type_", "regs"),
    [
        ("u16", [0xFFFF]),
        ("s16", [0x8000]),
        ("u32", [0xFFFF, 0xFFFF]),
        ("s32", [0x8000, 0x0000]),
        ("acc32", [0, 0]),
        ("u64", [0xFFFF] * 4),
        ("s64", [0x8000, 0, 0, 0]),
        ("f32", [0x7FC0, 0x0000]),
        ("f32", [0x7F80, 0x0000]),
        ("sf", [0x8000]),
        ("string", [0, 0]),
    ],
)
def test_sentinels_mean_absent(type_: str, regs: list[int]) -> None:
    assert decode_raw(regs, type_) is None


@given(st.integers(-0x7FFFFFFF, 0x7FFFFFFE), st.sampled_from(["big", "little"]))
def test_s32_round_trip(value: int, order: str) -> None:
    assert decode_raw(encode_raw(value, "s32", word_order=order), "s32", order) == value  # type: ignore[arg-type]


def test_scale_factor_arithmetic() -> None:
    assert scaled(2301, 1.0, -1) == 230.1
    assert scaled(15, 10.0, 2) == 15000.0
    assert scaled(-5, -1.0) == 5.0


# ---------------------------------------------------------------- block planning


def regs(*spec: tuple[str, int, str]) -> list[Register]:
    return [Register(name, addr, type_) for name, addr, type_ in spec]


def test_plan_merges_neighbours_and_respects_gaps_and_limits() -> None:
    table = regs(("a", 0, "u16"), ("b", 2, "u32"), ("c", 10, "f32"), ("d", 100, "u16"), ("e", 104, "u16"))
    blocks = plan(table, max_gap=8)
    assert [(b.address, b.count) for b in blocks] == [(0, 12), (100, 5)]
    blocks = plan(table, max_gap=8, gaps=[(5, 6)])  # never read across an unreadable range
    assert [(b.address, b.count) for b in blocks] == [(0, 4), (10, 2), (100, 5)]
    wide = [Register(f"r{i}", i * 10, "u32") for i in range(40)]
    blocks = plan(wide, max_gap=16)
    assert all(b.count <= MAX_REGISTERS for b in blocks) and len(blocks) == 4
    assert sorted(r.name for b in blocks for r in b.registers) == sorted(r.name for r in wide)


def test_plan_separates_tables() -> None:
    table = [
        Register("h", 0, "u16", "holding"),
        Register("i", 1, "u16", "input"),
        Register("c", 2, "bool", "coil"),
    ]
    assert sorted(b.table for b in plan(table)) == ["coil", "holding", "input"]


@given(
    st.lists(
        st.tuples(st.integers(0, 2000), st.sampled_from(["u16", "u32", "u64", "f32"])),
        min_size=1,
        max_size=60,
        unique_by=lambda t: t[0],
    ),
    st.integers(0, 30),
)
def test_plan_covers_every_register_once(spec: list[tuple[int, str]], gap: int) -> None:
    table = [Register(f"r{a}", a, t) for a, t in spec]
    blocks = plan(table, max_gap=gap)
    names = [r.name for b in blocks for r in b.registers]
    assert sorted(names) == sorted(r.name for r in table)
    for b in blocks:
        assert b.count <= MAX_REGISTERS
        assert all(b.address <= r.address and r.end <= b.end for r in b.registers)


# ---------------------------------------------------------------- link and reader on loopback

TABLE = [
    Register("power", 0, "s32", min=-50000, max=50000),
    Register("energy", 10, "u32", sf="energy_sf"),
    Register("energy_sf", 12, "sf"),
    Register("voltage", 50, "f32", "input", word_order="little", min=0, max=300),
    Register("temperature", 60, "s16", scale=0.1),
    Register("limit", 100, "u16", scale=10),
]


def bank(unit: int = 1, **values: float) -> RegisterBank:
    base = {"power": -1234.0, "energy": 123450.0, "energy_sf": 1, "voltage": 230.5, "temperature": 21.3}
    base.update(values)
    return RegisterBank(unit, TABLE, values=lambda: base)


def link_for(server: EmulatorServer, **kw: float) -> ModbusLink:
    cfg = {"timeout": 2.0, "retries": 1, "backoff": 0.01, **kw}
    return ModbusLink(LinkConfig(port=server.port, **cfg))  # type: ignore[arg-type]


async def test_reader_decodes_types_scale_factors_and_word_order() -> None:
    async with EmulatorServer([bank()]) as server:
        link = link_for(server)
        reader = RegisterReader(link, 1, TABLE[:5], name="dev")
        values = await reader.read()
        link.close()
    assert values == {"power": -1234.0, "energy": 123450.0, "voltage": 230.5, "temperature": 21.3}
    assert reader.ledger.total() == 0


async def test_out_of_range_and_sentinels_are_dropped_and_counted() -> None:
    async with EmulatorServer([bank(power=90000.0, voltage=math.nan, temperature=None)]) as server:  # type: ignore[arg-type]
        link = link_for(server)
        reader = RegisterReader(link, 1, TABLE[:5], name="dev")
        values = await reader.read()
        link.close()
    assert values == {"energy": 123450.0}
    assert reader.ledger.by_kind("dev") == {"range": 1, "absent": 2}


async def test_missing_scale_factor_drops_its_values() -> None:
    async with EmulatorServer([bank(energy_sf=None)]) as server:  # type: ignore[arg-type]
        link = link_for(server)
        reader = RegisterReader(link, 1, TABLE[:3], name="dev")
        values = await reader.read()
        link.close()
    assert "energy" not in values and values["power"] == -1234.0
    assert reader.ledger.by_kind("dev") == {"absent": 1}


async def test_write_goes_through_scale_and_reaches_the_device() -> None:
    b = bank()
    async with EmulatorServer([b]) as server:
        link = link_for(server)
        reader = RegisterReader(link, 1, TABLE, name="dev")
        await reader.write("limit", 4560.0)
        await reader.write("limit", 1230.0, single=True)
        values = await reader.read()
        link.close()
    assert b.writes == [{"limit": 4560.0}, {"limit": 1230.0}]
    assert values["limit"] == 1230.0


@pytest.mark.parametrize("code", [2, 4, 6])
async def test_exception_codes_are_counted_not_raised(code: int) -> None:
    b = bank()
    b.fault = code
    async with EmulatorServer([b]) as server:
        link = link_for(server, retries=2)
        reader = RegisterReader(link, 1, TABLE[:1], name="dev")
        assert await reader.read() == {}
        stats = link.stats
        link.close()
    assert reader.ledger.by_kind("dev") == {f"exception_{code}": 1}
    # only "busy" is retried; "illegal address" and "device failure" are not
    assert stats.retries == (2 if code == 6 else 0)
    assert reader.online  # a device that answers is not backed off


async def test_undeclared_hole_splits_the_block() -> None:
    table = [Register("power", 0, "s32"), Register("energy", 10, "u32")]
    b = RegisterBank(1, table, values=lambda: {"power": 5.0, "energy": 7.0}, gaps=[(4, 6)])
    async with EmulatorServer([b]) as server:
        link = link_for(server)
        reader = RegisterReader(link, 1, table, name="dev")  # the profile does not declare the hole
        first = await reader.read()
        second = await reader.read()
        link.close()
    assert first == second == {"power": 5.0, "energy": 7.0}
    assert len(reader.blocks) == 2


async def test_timeout_backs_off_the_device_without_stalling_the_others() -> None:
    slow, good = bank(unit=1), bank(unit=2, power=42.0)
    slow.delay = 5.0  # answers far too late: a timeout for the client
    clock = [0.0]
    async with EmulatorServer([slow, good]) as server:
        link = link_for(server, timeout=0.5, retries=1)
        ledger = InputLedger()
        failing = RegisterReader(link, 1, TABLE[:1], name="slow", ledger=ledger, clock=lambda: clock[0])
        healthy = RegisterReader(link, 2, TABLE[:1], name="good", ledger=ledger)
        assert await failing.read() == {}
        assert not failing.online and failing.health.failures == 1
        requests = link.stats.requests
        clock[0] = 0.5  # inside the back-off window: the failing device costs no request at all
        assert await failing.read() == {}
        assert link.stats.requests == requests
        assert await healthy.read() == {"power": 42.0}  # the shared connection still serves the others
        clock[0] = 100.0
        slow.delay = 0.0
        assert await failing.read() == {"power": -1234.0}
        assert failing.online and failing.health.failures == 0
        link.close()
    assert ledger.by_kind("slow") == {"timeout": 1}
    assert ledger.by_kind("good") == {}


async def test_devices_share_one_connection_under_a_lock_with_pause() -> None:
    banks = [bank(unit=u, power=float(u)) for u in (1, 2, 3)]
    async with EmulatorServer(banks) as server:
        link = link_for(server, pause=0.01)
        readers = [RegisterReader(link, u, TABLE[:1], name=f"d{u}") for u in (1, 2, 3)]
        results = await asyncio.gather(*(r.read() for r in readers * 3))
        link.close()
    assert [r["power"] for r in results] == [1.0, 2.0, 3.0] * 3
    assert link.stats.requests == 9 and all(b.reads == 3 for b in banks)


async def test_rtu_framing_over_tcp_gateway() -> None:
    async with EmulatorServer([bank(unit=7)], framer="rtu") as server:
        link = ModbusLink(LinkConfig(kind="rtu_tcp", port=server.port, timeout=2.0))
        reader = RegisterReader(link, 7, TABLE[:5], name="rtu")
        values = await reader.read()
        link.close()
    assert values["power"] == -1234.0 and values["voltage"] == 230.5


async def test_connection_refused_is_a_timeout_for_the_ledger() -> None:
    async with EmulatorServer([bank()]) as server:
        port = server.port
    link = ModbusLink(LinkConfig(port=port, timeout=0.2, retries=1, backoff=0.01))
    reader = RegisterReader(link, 1, TABLE[:1], name="gone")
    assert await reader.read() == {}
    link.close()
    assert reader.ledger.by_kind("gone") == {"timeout": 1}


def test_link_pool_shares_one_link_per_bus() -> None:
    from wattwerk.protocols.modbus import LinkPool

    pool = LinkPool()
    a = pool.get(LinkConfig(host="192.0.2.1", port=502, pause=0.0))
    b = pool.get(LinkConfig(host="192.0.2.1", port=502, pause=0.05, timeout=2.0))
    c = pool.get(LinkConfig(host="192.0.2.1", port=1502))
    d = pool.get(LinkConfig(kind="rtu", serial="/dev/ttyUSB0"))
    assert a is b and a is not c and len(pool) == 3 and d.cfg.kind == "rtu"
    with pytest.raises(PermanentError, match="one baud rate"):
        pool.get(LinkConfig(kind="rtu", serial="/dev/ttyUSB0", baudrate=19200))
    assert (a.cfg.pause, a.cfg.timeout) == (0.05, 2.0)  # the slowest device sets the pace
    pool.close()
    assert len(pool) == 0
