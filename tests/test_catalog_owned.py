"""The devices people own (issue 17), read through their catalogue entries from emulators that do NOT
come from the entries: each device is a hand-written table of raw registers (16-bit words as the vendor
documents them, with example values) and the readings those words stand for, worked out by hand in
our units and signs (W + import / + discharging, Wh). A wrong address, type, word order, scale or sign
in an entry fails here, where ``test_catalog_entries.py`` (which builds the emulator from the entry)
would agree with itself. Writes are checked as the raw words the device receives.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymodbus.constants import ExcCodes

from owned_harness import Example, check_modbus_example, raw_bank
from wattwerk.devices.catalog import find, load_catalog
from wattwerk.devices.device import create
from wattwerk.devices.status import emulated
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.sim.emulators.modbus import EmulatorServer

HO, IN = "holding", "input"
# the catalogue files of the devices people own (issue 17): their Modbus entries all need an example below
OWNED_FILES = {
    *(
        f"hybrid_battery_inverter/{v}.yaml"
        for v in ("growatt", "solis", "solax", "deye", "solaredge", "alpha_ess", "e3dc")
    ),
    *(f"ev_charger/{v}.yaml" for v in ("wallbox", "go_e", "peblar", "vestel", "cfos", "etrel")),
}


EXAMPLES = [
    Example(
        "growatt-sph",
        {
            (IN, 1): 0x0000,
            (IN, 2): 0xC350,  # Ppv 50000 * 0.1 W
            (IN, 91): 0x0000,
            (IN, 92): 0x3039,  # Epv_total 12345 * 0.1 kWh
            (IN, 1009): 0x0000,
            (IN, 1010): 0x0000,  # Pdischarge1 0
            (IN, 1011): 0x0000,
            (IN, 1012): 0x4E20,  # Pcharge1 20000 * 0.1 W
            (IN, 1014): 0x0047,  # SOC 71 %
            (IN, 1021): 0x0000,
            (IN, 1022): 0x0BB8,  # Pactouser total 3000 * 0.1 W
            (IN, 1029): 0x0000,
            (IN, 1030): 0x0000,  # Pactogrid total 0
            (IN, 1046): 0x0001,
            (IN, 1047): 0x0000,  # Etouser_total 65536 * 0.1 kWh
            (IN, 1054): 0x0000,
            (IN, 1055): 0x2710,  # Edischarge1_total 10000 * 0.1 kWh
        },
        {
            "power_pv": 5000.0,
            "energy_pv": 1_234_500.0,
            "power_discharge": 0.0,
            "power_charge": 2000.0,
            "soc": 71.0,
            "power_import": 300.0,
            "power_export": 0.0,
            "energy_import": 6_553_600.0,
            "energy_discharge": 1_000_000.0,
        },
    ),
    Example(
        "growatt-tl-xh",
        {
            (IN, 3005): 0x0000,
            (IN, 3006): 0x7530,  # PV1 power 30000 * 0.1 W
            (IN, 3009): 0x0000,
            (IN, 3010): 0x4E20,  # PV2 power 20000 * 0.1 W
            (IN, 3041): 0x0000,
            (IN, 3042): 0x0000,  # Pactouser total 0
            (IN, 3043): 0x0000,
            (IN, 3044): 0x1388,  # Pactogrid total 5000 * 0.1 W: exporting
            (IN, 3053): 0x0002,
            (IN, 3054): 0x0000,  # Epv total 131072 * 0.1 kWh
            (IN, 3069): 0x0000,
            (IN, 3070): 0x1F40,  # Etouser total 8000 * 0.1 kWh
            (IN, 3127): 0x0000,
            (IN, 3128): 0x0FA0,  # Edischarge total 4000 * 0.1 kWh
            (IN, 3171): 0x005A,  # SOC 90 %
            (IN, 3178): 0x0000,
            (IN, 3179): 0x0000,  # Pdischarge 0
            (IN, 3180): 0x0000,
            (IN, 3181): 0x2EE0,  # Pcharge 12000 * 0.1 W
        },
        {
            "power_pv1": 3000.0,
            "power_pv2": 2000.0,
            "power_import": 0.0,
            "power_export": 500.0,
            "energy_pv": 13_107_200.0,
            "energy_import": 800_000.0,
            "energy_discharge": 400_000.0,
            "soc": 90.0,
            "power_discharge": 0.0,
            "power_charge": 1200.0,
        },
    ),
    Example(
        "solis-hybrid",
        {
            (IN, 33057): 0x0000,
            (IN, 33058): 0x0FA0,  # PV power 4000 W
            (IN, 33139): 0x0050,  # battery SOC 80 %
            (IN, 33149): 0x0000,
            (IN, 33150): 0x05DC,  # battery power 1500 W, + charging
            (IN, 33263): 0xFFFF,
            (IN, 33264): 0xFC18,  # meter total power -1000 W (+ export): importing
            (IN, 33283): 0x0001,
            (IN, 33284): 0x86A0,  # energy from grid 100000 * 0.01 kWh
        },
        {
            "power_pv": 4000.0,
            "soc": 80.0,
            "power": -1500.0,
            "power_grid": 1000.0,
            "energy_import": 1_000_000.0,
        },
    ),
    Example(
        "solax-hybrid",
        {
            (IN, 0x000A): 0x0898,
            (IN, 0x000B): 0x0320,  # Powerdc1 2200 W, Powerdc2 800 W
            (IN, 0x0016): 0xFC18,  # Batpower_Charge1 -1000 W: discharging
            (IN, 0x001C): 0x0041,  # battery capacity 65 %
            (IN, 0x0046): 0x05DC,
            (IN, 0x0047): 0x0000,  # feedin_power 1500 W (low word first), exporting
            (IN, 0x004A): 0xE240,
            (IN, 0x004B): 0x0001,  # consum_energy_total 123456 * 0.01 kWh
            (IN, 0x0094): 0xD431,
            (IN, 0x0095): 0x0000,  # SolarEnergyTotal 54321 * 0.1 kWh
        },
        {
            "power_pv1": 2200.0,
            "power_pv2": 800.0,
            "power": 1000.0,
            "soc": 65.0,
            "power_grid": -1500.0,
            "energy_import": 1_234_560.0,
            "energy_pv": 5_432_100.0,
        },
    ),
    Example(
        "deye-hybrid-3p",
        {
            (HO, 518): 0x09C4,
            (HO, 519): 0x0000,  # total battery discharge 2500 * 0.1 kWh (low word first)
            (HO, 522): 0x1170,
            (HO, 523): 0x0001,  # total grid buy 70000 * 0.1 kWh
            (HO, 534): 0x49F0,
            (HO, 535): 0x0002,  # total PV 150000 * 0.1 kWh
            (HO, 588): 0x0032,  # battery SOC 50 %
            (HO, 590): 0xF830,  # battery output power -2000 W: charging
            (HO, 625): 0x01F4,  # grid side total power 500 W, importing
            (HO, 672): 0x0BB8,
            (HO, 673): 0x07D0,  # PV1 3000 W, PV2 2000 W
        },
        {
            "energy_discharge": 250_000.0,
            "energy_import": 7_000_000.0,
            "energy_pv": 15_000_000.0,
            "soc": 50.0,
            "power": -2000.0,
            "power_grid": 500.0,
            "power_pv1": 3000.0,
            "power_pv2": 2000.0,
        },
    ),
    Example(
        "solaredge-storedge",
        {
            (HO, 0xE00D): 0x0007,  # remote control command mode 7: maximize self-consumption
            (HO, 0xE010): 0x4000,
            (HO, 0xE011): 0x459C,  # discharge limit 5000.0 W (float32, low word first)
            (HO, 0xE174): 0x8000,
            (HO, 0xE175): 0x44BB,  # battery 1 instantaneous power 1500.0 W: charging
            (HO, 0xE176): 0x4240,
            (HO, 0xE177): 0x000F,
            (HO, 0xE178): 0,
            (HO, 0xE179): 0,  # out 1e6 Wh
            (HO, 0xE17A): 0x8480,
            (HO, 0xE17B): 0x001E,
            (HO, 0xE17C): 0,
            (HO, 0xE17D): 0,  # in 2e6 Wh
            (HO, 0xE184): 0x0000,
            (HO, 0xE185): 0x42AF,  # state of energy 87.5 %
        },
        {"power": -1500.0, "energy_discharge": 1_000_000.0, "energy_charge": 2_000_000.0, "soc": 87.5},
        [
            ("battery_mode", 1, {0xE00D: 7, 0xE010: 0x0000, 0xE011: 0x0000}),
            ("battery_mode", 0, {0xE00D: 7, 0xE010: 0x4000, 0xE011: 0x459C}),
        ],
    ),
    Example(
        "alpha-ess-smile",
        {
            (HO, 0x0010): 0x0000,
            (HO, 0x0011): 0x2710,  # total energy fed to grid 10000 * 0.01 kWh
            (HO, 0x0012): 0x0001,
            (HO, 0x0013): 0x0000,  # total energy consumed from grid 65536 * 0.01 kWh
            (HO, 0x0021): 0xFFFF,
            (HO, 0x0022): 0xFE0C,  # grid total active power -500 W: exporting
            (HO, 0x0102): 0x0280,  # battery SOC 640 * 0.1 %
            (HO, 0x0120): 0x0000,
            (HO, 0x0121): 0x1388,  # battery charge energy 5000 * 0.1 kWh
            (HO, 0x0122): 0x0000,
            (HO, 0x0123): 0x0FA0,  # battery discharge energy 4000 * 0.1 kWh
            (HO, 0x0126): 0x05DC,  # battery power 1500 W: discharging
            (HO, 0x041F): 0x0000,
            (HO, 0x0420): 0x0BB8,  # PV1 power 3000 W
            (HO, 0x0423): 0x0000,
            (HO, 0x0424): 0x07D0,  # PV2 power 2000 W
            (HO, 0x043E): 0x0001,
            (HO, 0x043F): 0x86A0,  # total PV energy 100000 * 0.1 kWh
        },
        {
            "energy_export": 100_000.0,
            "energy_import": 655_360.0,
            "power_grid": -500.0,
            "soc": 64.0,
            "energy_charge": 500_000.0,
            "energy_discharge": 400_000.0,
            "power": 1500.0,
            "power_pv1": 3000.0,
            "power_pv2": 2000.0,
            "energy_pv": 10_000_000.0,
        },
    ),
    Example(
        "e3dc-s10",
        {
            (HO, 40067): 0x1388,
            (HO, 40068): 0x0000,  # PV power 5000 W (low word first)
            (HO, 40069): 0xF830,
            (HO, 40070): 0xFFFF,  # battery power -2000 W: discharging
            (HO, 40071): 0x04B0,
            (HO, 40072): 0x0000,  # house consumption 1200 W
            (HO, 40073): 0xF8F8,
            (HO, 40074): 0xFFFF,  # grid power -1800 W: exporting
            (HO, 40082): 0x004B,  # battery SOC 75 %
        },
        {"power_pv": 5000.0, "power": 2000.0, "power_house": 1200.0, "power_grid": -1800.0, "soc": 75.0},
    ),
    Example(
        "go-e-modbus",
        {
            (IN, 100): 0x0002,  # CAR_STATE 2: car is charging
            (IN, 108): 0,
            (IN, 109): 231,
            (IN, 110): 0,
            (IN, 111): 229,
            (IN, 112): 0,
            (IN, 113): 232,  # V
            (IN, 114): 0,
            (IN, 115): 160,
            (IN, 116): 0,
            (IN, 117): 159,
            (IN, 118): 0,
            (IN, 119): 161,  # 0.1 A
            (IN, 120): 0x0000,
            (IN, 121): 0x0460,  # POWER_TOTAL 1120 * 0.01 kW
            (IN, 128): 0x0000,
            (IN, 129): 0x4DA8,  # ENERGY_TOTAL 19880 * 0.1 kWh
            (HO, 200): 0x0001,  # ALLOW yes
            (HO, 299): 0x0010,  # AMPERE_VOLATILE 16 A
        },
        {
            "state": 2.0,
            "voltage_l1": 231.0,
            "voltage_l2": 229.0,
            "voltage_l3": 232.0,
            "current_l1": 16.0,
            "current_l2": 15.9,
            "current_l3": 16.1,
            "power": 11_200.0,
            "energy": 1_988_000.0,
        },
        [("current_limit", 10, {299: 10}), ("enable", 0, {200: 0}), ("enable", 1, {200: 1})],
    ),
    Example(
        "go-e-modbus-v2",
        {  # go-eCharger API v2 modbus-en.md: input registers as in v1; holding 299 AMPERE_VOLATILE, 332
            # PHASE_SWITCH_MODE (psm: 1 single, 2 three phases), 337 FORCE_STATE (frc: 0 neutral, 1 off, 2 on)
            (IN, 100): 0x0002,  # CAR_STATE 2: car is charging
            (IN, 108): 0,
            (IN, 109): 230,
            (IN, 110): 0,
            (IN, 111): 231,
            (IN, 112): 0,
            (IN, 113): 229,  # V
            (IN, 114): 0,
            (IN, 115): 158,
            (IN, 116): 0,
            (IN, 117): 160,
            (IN, 118): 0,
            (IN, 119): 159,  # 0.1 A
            (IN, 120): 0x0000,
            (IN, 121): 0x044C,  # POWER_TOTAL 1100 * 0.01 kW
            (IN, 128): 0x0000,
            (IN, 129): 0x1E61,  # ENERGY_TOTAL 7777 * 0.1 kWh
            (HO, 299): 0x0010,  # AMPERE_VOLATILE 16 A
            (HO, 332): 0x0000,  # PHASE_SWITCH_MODE auto
            (HO, 337): 0x0000,  # FORCE_STATE neutral
        },
        {
            "state": 2.0,
            "voltage_l1": 230.0,
            "voltage_l2": 231.0,
            "voltage_l3": 229.0,
            "current_l1": 15.8,
            "current_l2": 16.0,
            "current_l3": 15.9,
            "power": 11_000.0,
            "energy": 777_700.0,
        },
        [
            ("current_limit", 10, {299: 10}),
            ("enable", 0, {337: 1}),
            ("enable", 1, {337: 2}),
            ("phases", 1, {332: 1}),
            ("phases", 3, {332: 2}),
        ],
    ),
    Example(
        "cfos-power-brain",
        {
            (HO, 8058): 0,
            (HO, 8059): 0,
            (HO, 8060): 0x0012,
            (HO, 8061): 0xD687,  # active import 1234567 Wh
            (HO, 8062): 0x0000,
            (HO, 8063): 0x0E10,  # active power 3600 W
            (HO, 8064): 0,
            (HO, 8065): 0x009F,
            (HO, 8066): 0,
            (HO, 8067): 0x00A0,  # 15.9 A, 16.0 A
            (HO, 8068): 0,
            (HO, 8069): 0x00A1,  # 16.1 A
            (HO, 8092): 0x0002,  # state 2: charging
            (HO, 8093): 0x00A0,  # max current 160 * 0.1 A
            (HO, 8094): 0x0001,  # charging enabled
        },
        {
            "energy": 1_234_567.0,
            "power": 3600.0,
            "current_l1": 15.9,
            "current_l2": 16.0,
            "current_l3": 16.1,
            "state": 2.0,
        },
        [("current_limit", 10, {8093: 100}), ("enable", 0, {8094: 0}), ("enable", 1, {8094: 1})],
    ),
    Example(
        "etrel-inch",
        {
            (IN, 0): 0x0002,  # connector status 2
            (IN, 4): 0x4180,
            (IN, 5): 0x0000,  # target current 16.0 A (float32)
            (IN, 14): 0x417E,
            (IN, 15): 0x6666,
            (IN, 16): 0x4180,
            (IN, 17): 0x0000,  # 15.9 A, 16.0 A
            (IN, 18): 0x4180,
            (IN, 19): 0xCCCD,  # 16.1 A
            (IN, 26): 0x4130,
            (IN, 27): 0xA3D7,  # active power 11.04 kW
            (HO, 8): 0x4180,
            (HO, 9): 0x0000,  # set max current 16.0 A
        },
        {
            "state": 2.0,
            "current_limit": 16.0,
            "current_l1": 15.9,
            "current_l2": 16.0,
            "current_l3": 16.1,
            "power": 11_040.0,
        },
        [
            ("current_limit", 10, {8: 0x4120, 9: 0}),
            ("enable", 0, {8: 0, 9: 0}),
            ("enable", 1, {8: 0x40C0, 9: 0}),
        ],
    ),
    Example(
        "peblar",
        {
            (IN, 30000): 0,
            (IN, 30001): 0,
            (IN, 30002): 0x00BC,
            (IN, 30003): 0x614E,  # energy 12345678 Wh
            (IN, 30014): 0x0000,
            (IN, 30015): 0x1B58,  # total power 7000 W
            (IN, 30016): 0,
            (IN, 30017): 230,
            (IN, 30018): 0,
            (IN, 30019): 231,  # V
            (IN, 30020): 0,
            (IN, 30021): 229,
            (IN, 30022): 0,
            (IN, 30023): 0x2710,
            (IN, 30024): 0,
            (IN, 30025): 0x2706,  # 10000, 9990 mA
            (IN, 30026): 0,
            (IN, 30027): 0x271A,  # 10010 mA
            (HO, 40000): 0x0000,
            (HO, 40001): 0x3E80,  # Modbus current limit 16000 mA
            (HO, 40002): 0x0000,  # force single phase: no
        },
        {
            "energy": 12_345_678.0,
            "power": 7000.0,
            "voltage_l1": 230.0,
            "voltage_l2": 231.0,
            "voltage_l3": 229.0,
            "current_l1": 10.0,
            "current_l2": 9.99,
            "current_l3": 10.01,
        },
        [
            ("current_limit", 10, {40000: 0, 40001: 0x2710}),
            ("enable", 0, {40000: 0, 40001: 0}),
            ("enable", 1, {40001: 0x1770}),
            ("phases", 1, {40002: 1}),
            ("phases", 3, {40002: 0}),
        ],
    ),
    Example(
        "vestel-evc04",
        {
            (IN, 1008): 0x3E80,
            (IN, 1010): 0x3E6C,
            (IN, 1012): 0x3E94,  # 16000, 15980, 16020 mA
            (IN, 1014): 230,
            (IN, 1016): 231,
            (IN, 1018): 229,  # V
            (IN, 1020): 0x0000,
            (IN, 1021): 0x2B20,  # active power 11040 W
            (IN, 1036): 0x0001,
            (IN, 1037): 0x0F2C,  # total energy 69420 * 0.1 kWh
            (HO, 405): 0x0001,  # phase switch: three phases
            (HO, 5004): 0x0010,  # charging current 16 A
            (HO, 6000): 0x0000,  # alive: cleared by the charger, set to 1 within the failsafe timeout 2002
        },
        {
            "current_l1": 16.0,
            "current_l2": 15.98,
            "current_l3": 16.02,
            "voltage_l1": 230.0,
            "voltage_l2": 231.0,
            "voltage_l3": 229.0,
            "power": 11_040.0,
            "energy": 6_942_000.0,
        },
        [
            ("current_limit", 10, {5004: 10, 6000: 1}),
            ("enable", 0, {5004: 0, 6000: 1}),
            ("enable", 1, {5004: 6, 6000: 1}),
            ("phases", 1, {405: 0}),
            ("phases", 3, {405: 1}),
        ],
    ),
    Example(
        "wallbox-quasar",
        {
            (HO, 81): 0x0000,  # control: user (the app)
            (HO, 257): 0x0001,  # action: start
            (HO, 258): 0x0010,  # current setpoint 16 A
            (HO, 526): 0xEC78,  # actual power -5000 W: discharging
            (HO, 537): 0x000B,  # state 11: discharging
            (HO, 538): 0x003E,  # car SOC 62 %
        },
        {"power": -5000.0, "state": 11.0, "soc": 62.0},
        [
            ("current_limit", 10, {258: 10, 81: 1}),
            ("enable", 0, {257: 2, 81: 1}),
            ("enable", 1, {257: 1, 81: 1}),
        ],
    ),
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.entry for e in EXAMPLES])
async def test_entry_reads_the_documented_example(example: Example) -> None:
    await check_modbus_example(example)


def test_the_unite_is_a_vestel() -> None:
    """The Webasto / Ampure Unite is built by Vestel (evcc's vestel template lists it; webasto-next covers the
    Next): input registers and energy in 0.1 kWh (the table above), not the TQ holding registers in Wh."""
    assert {"Webasto Unite", "Ampure Unite"} <= set(find("vestel-evc04").entry.models)
    assert not any("Unite" in m for m in find("webasto-tq").entry.models)


async def test_go_e_api_v2_writes_with_function_16() -> None:
    """go-eCharger API v2 modbus-en.md: writes with function 16 only; function 6 ("Preset Single Register")
    is not supported, so a charger with the v2 firmware answers it with an exception."""
    example = next(e for e in EXAMPLES if e.entry == "go-e-modbus-v2")
    entry = find(example.entry).entry
    bank = raw_bank(example, entry.connection.unit)
    action = bank._action

    async def v2_firmware(fc: int, *args: Any) -> ExcCodes | None:
        return ExcCodes.ILLEGAL_FUNCTION if fc == 6 else await action(fc, *args)

    bank._action = v2_firmware  # type: ignore[method-assign]
    async with EmulatorServer([bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0, pause=entry.connection.pause))
        try:
            device = create(entry, link, device_id="dev")
            for command, value, words in example.writes:
                await device.command(command, value)
                assert {a: int(bank.current()[f"holding_{a}"] or 0) for a in words} == words, (command, value)
        finally:
            link.close()


def test_every_owned_modbus_entry_has_an_example() -> None:
    """Every Modbus entry in the owned-devices vendor files comes with its example table."""
    owned = [i for i in emulated(load_catalog()) if f"{i.path.parent.name}/{i.path.name}" in OWNED_FILES]
    modbus = {i.entry.id for i in owned}
    assert modbus == {e.entry for e in EXAMPLES}
