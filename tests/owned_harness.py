"""The shared harness of the independent example tables (issue 17): a device's documented example as
raw words, a Modbus unit serving exactly those words (nothing taken from the catalogue entry), the
read-and-write check every table runs, and the guard that every ``tested`` catalogue entry appears in
some independent table.

``test_catalog_entries.py`` and ``test_devices_native.py`` build their emulators FROM the entries, so a
wrong register map agrees with itself there; the tables that use this harness are hand-written from the
vendors' documentation, and an entry counts as proven only when it reads (and writes) them right.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field

from wattwerk.devices.catalog import find, load_catalog
from wattwerk.devices.device import ModbusDevice, SunSpecDevice, create
from wattwerk.devices.status import status
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.protocols.modbus_codec import Register
from wattwerk.sim.emulators.modbus import EmulatorServer, RegisterBank

HO, IN = "holding", "input"
NI = 0x8000  # SunSpec "not implemented" for int16 values and scale factors


@dataclass(frozen=True)
class Example:
    """A device's documented example: raw words by (table, address), and what they mean."""

    entry: str
    words: dict[tuple[str, int], int]
    readings: dict[str, float]
    # command, value -> the raw words the device must receive: {(table, address): word}
    writes: list[tuple[str, float, dict[int, int]]] = field(default_factory=list)


@dataclass(frozen=True)
class SunSpecExample:
    """A SunSpec device's chain as raw words: the models (id, length, {offset: word}, unset words NI)
    as its documentation lays them out from the base, and the readings they stand for."""

    entry: str
    unit: int  # the documented default unit id
    base: int
    models: list[tuple[int, int, dict[int, int]]]
    readings: dict[str, float]
    # command, value -> the raw words the device must receive: {address: word}
    writes: list[tuple[str, float, dict[int, int]]] = field(default_factory=list)
    extra: dict[int, int] = field(default_factory=dict)  # vendor registers beside the chain: {address: word}

    def words(self) -> dict[tuple[str, int], int]:
        out = {(HO, a): w for a, w in self.extra.items()}
        out |= {(HO, self.base): 0x5375, (HO, self.base + 1): 0x6E53}  # "SunS"
        address = self.base + 2
        for mid, length, body in self.models:
            out[(HO, address)], out[(HO, address + 1)] = mid, length
            for offset in range(length):
                out[(HO, address + 2 + offset)] = body.get(offset, NI)
            address += 2 + length
        out[(HO, address)], out[(HO, address + 1)] = 0xFFFF, 0  # end of the chain
        return out

    def body_address(self, mid: int) -> int:
        """Where model ``mid``'s body (the register after its ID and L) starts in this chain."""
        address = self.base + 2
        for m, length, _ in self.models:
            if m == mid:
                return address + 2
            address += 2 + length
        raise KeyError(mid)


def raw_bank(example: Example, unit: int) -> RegisterBank:
    """A unit serving exactly the example's words, each a plain u16 (nothing taken from the entry)."""
    regs = [
        Register(f"{table}_{addr}", addr, "bool" if table in ("coil", "discrete") else "u16", table)
        for table, addr in example.words
    ]
    words: dict[str, float | str | None] = {f"{t}_{a}": float(w) for (t, a), w in example.words.items()}
    bank = RegisterBank(unit, regs, values=lambda: words)
    # a written word is kept as it came: 0xFFFF (a negative s32's high word) is a word, not "absent"
    bank.decode = lambda reg, raw, current: float(raw[0])  # type: ignore[method-assign]
    bank.on_write = words.update  # the device keeps what it is sent, as real ones do
    return bank


def assert_readings(got: dict[str, float], want: dict[str, float], rel_tol: float) -> None:
    assert set(got) == set(want), got
    for name, value in want.items():  # float32 registers carry 7 digits
        assert math.isclose(got[name], value, rel_tol=rel_tol, abs_tol=1e-6), (name, got[name], value)


def _key(target: int | tuple[str, int]) -> str:
    """A write target: a holding register's address, or (table, address), e.g. ("coil", 3)."""
    return f"holding_{target}" if isinstance(target, int) else f"{target[0]}_{target[1]}"


async def _check_writes(device: ModbusDevice | SunSpecDevice, bank: RegisterBank, writes: list) -> None:
    for command, value, want_words in writes:
        await device.command(command, value)
        got = {a: int(bank.current()[_key(a)] or 0) for a in want_words}  # type: ignore[arg-type]
        assert got == want_words, (command, value, got)


async def check_modbus(example: Example, *, rel_tol: float = 1e-6) -> None:
    """The entry reads the example's words as its readings and writes each command's words."""
    entry = find(example.entry).entry
    bank = raw_bank(example, entry.connection.unit)
    async with EmulatorServer([bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0, pause=entry.connection.pause))
        try:
            device = create(entry, link, device_id="dev")
            assert isinstance(device, ModbusDevice)
            readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
            assert device.ledger.total() == 0, device.ledger.counts
            assert_readings(readings, example.readings, rel_tol)
            await _check_writes(device, bank, example.writes)
        finally:
            link.close()


check_modbus_example = check_modbus  # the name the tables' test modules use


async def check_sunspec(
    example: SunSpecExample, *, rated_power: float | None = None, rel_tol: float = 1e-9, absent: int = 0
) -> None:
    """The entry discovers the example's chain at its unit, reads its readings (an inverter's own as
    ``power``, a meter or battery model beside an inverter as ``dev_meter.power`` / ``dev_battery.soc``)
    and writes each command's words. ``absent``: the "not implemented" points the chain sends for a
    mapped point (a single-phase model's phases B and C), counted by the ledger and not read."""
    entry = find(example.entry).entry
    assert entry.sunspec is not None and entry.sunspec.base == example.base
    assert entry.connection.unit == example.unit, (entry.connection.unit, example.unit)
    bank = raw_bank(Example(example.entry, example.words(), example.readings), example.unit)
    async with EmulatorServer([bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="dev", rated_power=rated_power)
            assert isinstance(device, SunSpecDevice)
            assert [m.mid for m in await device.setup()] == [mid for mid, _, _ in example.models]
            readings = {r.channel.removeprefix("dev."): r.value for r in await device.read()}
            assert device.ledger.counts == ({("dev", "absent"): absent} if absent else {}), (
                device.ledger.counts
            )
            assert_readings(readings, example.readings, rel_tol)
            await _check_writes(device, bank, example.writes)
        finally:
            link.close()


# --- the guard: every tested entry has an independent table ---------------------------------------

# each test module with independent tables and the names in it that list entries (objects with an
# ``entry`` attribute, or sets of entry ids)
TABLE_MODULES: dict[str, tuple[str, ...]] = {
    "test_catalog_owned": ("EXAMPLES",),
    "test_catalog_owned_meters_pv": ("EXAMPLES", "SUNSPEC_EXAMPLES", "TEMPLATED"),
    "test_catalog_owned_storage": ("EXAMPLES", "JSON_CASES", "GEN24_STORAGE"),
    "test_catalog_owned_chargers_heat": ("EXAMPLES", "TEMPLATED"),
    "test_catalog_owned_native": ("PACKAGED",),
    "test_catalog_owned_wallboxes": ("EXAMPLES",),
    "test_catalog_owned_sunspec": ("COVERED",),
    "test_catalog_owned_meters_io": ("COVERED",),
    "test_catalog_owned_native_meters": ("COVERED",),
}

# tested entries whose independent table is still to be written (issue 17, helpers F4/F5): this set
# may only shrink; an entry leaves it in the commit that adds its table
PENDING: frozenset[str] = frozenset()


def _ids(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if hasattr(value, "entry"):
        return {value.entry}  # type: ignore[attr-defined]
    return {i for v in value for i in _ids(v)}  # type: ignore[attr-defined]


def covered_entries() -> set[str]:
    """The entry ids that some independent table reads."""
    out: set[str] = set()
    for module, names in TABLE_MODULES.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for name in names:
            out |= _ids(getattr(mod, name))
    return out


def catalogue_tested() -> set[str]:
    return {i.entry.id for i in load_catalog() if status(i)[0] == "tested"}
