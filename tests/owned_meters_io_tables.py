"""Hand-written example tables of the Modbus meters, I/O modules and SMA batteries of the first catalogue
rounds (issue 17), for ``test_catalog_owned_meters_io.py``: raw words (or bits) as each device's
documentation lays them out, with example values, the readings they stand for in our units and signs
(W + import / + discharging, Wh), and the words a command must write. Float32 words are the IEEE-754
encodings of the example values, high word first as these devices send them. Nothing here comes from
the catalogue entries.
"""

from __future__ import annotations

from owned_harness import HO, IN, Example
from owned_sunspec_tables import f32


def floats(table: str, points: dict[int, float]) -> dict[tuple[str, int], int]:
    """{(table, address): word} of float32 values, high word first."""
    out: dict[tuple[str, int], int] = {}
    for address, value in points.items():
        out[(table, address)], out[(table, address + 1)] = f32(value)
    return out


def words32(table: str, points: dict[int, int]) -> dict[tuple[str, int], int]:
    """{(table, address): word} of 32-bit integers (two's complement), high word first."""
    out: dict[tuple[str, int], int] = {}
    for address, value in points.items():
        raw = value & 0xFFFFFFFF
        out[(table, address)], out[(table, address + 1)] = raw >> 16, raw & 0xFFFF
    return out


def bits(table: str, states: list[int]) -> dict[tuple[str, int], int]:
    """Discrete inputs or coils from address 0: the MODBUS specification (6.1/6.2) packs them LSB first,
    the input addressed first in bit 0 of the first data byte; here they are given input by input."""
    return {(table, address): state for address, state in enumerate(states)}


MODBUS_METERS = [
    # EMU Professional II 3/75 (EMU TCP/IP module): registers as numbered by the vendor and read at
    # number - 1 (the public reader kirmeskiste_sync.py of the Eventenergie portal): 5000 serial (u32),
    # 7000/7020 energy import/export (u64, kWh), 9000-9006 power total, L1-L3 (float32 W), 9100-9106
    # current (four floats; the reader takes 9102-9106 as L1-L3), 9200-9204 voltage L1-L3, 9310 frequency
    Example(
        "emu-professional-2",
        {
            **words32(HO, {4999: 0x0012D687}),  # serial 1234567
            (HO, 6999): 0,
            (HO, 7000): 0,
            (HO, 7001): 0,
            (HO, 7002): 12345,  # energy import 12345 kWh (u64)
            (HO, 7019): 0,
            (HO, 7020): 0,
            (HO, 7021): 0,
            (HO, 7022): 678,  # energy export 678 kWh
            **floats(HO, {8999: 1234.5, 9001: 411.5, 9003: 412.0, 9005: 411.0}),
            **floats(HO, {9099: 5.4375, 9101: 1.875, 9103: 1.75, 9105: 1.8125}),
            **floats(HO, {9199: 230.5, 9201: 231.25, 9203: 229.75}),
            **floats(HO, {9309: 50.0}),
        },
        {
            "energy_import": 12_345_000.0,
            "energy_export": 678_000.0,
            "power": 1234.5,
            "power_l1": 411.5,
            "power_l2": 412.0,
            "power_l3": 411.0,
            "current_l1": 1.875,
            "current_l2": 1.75,
            "current_l3": 1.8125,
            "voltage_l1": 230.5,
            "voltage_l2": 231.25,
            "voltage_l3": 229.75,
            "frequency": 50.0,
        },
    ),
    # Phoenix Contact EEM-EM3xx: input registers, float32 big-endian (ioBroker/modbus-templates "Input
    # Register- Float"): 4096-4100 U L1-N..L3-N, 4102-4108 U L-L and U-SYS, 4110-4114 I L1-L3, 4116 I-N,
    # 4118 I-SYS, 4120-4126 PF, 4128-4132 P L1-L3, 4134 ΣP (+/-), 4152 F; 4352-4366 energy counters in Wh
    # (4358 ΣP+ import, 4366 ΣP- export); an exporting house
    Example(
        "phoenix-eem-em3xx",
        {
            **floats(IN, {4096: 230.5, 4098: 231.0, 4100: 229.5, 4102: 399.5, 4104: 400.0, 4106: 398.5}),
            **floats(IN, {4108: 399.25, 4110: 5.25, 4112: 4.75, 4114: 5.0, 4116: 0.5, 4118: 5.0}),
            **floats(IN, {4120: -0.98, 4122: -0.97, 4124: -0.99, 4126: -0.98}),
            **floats(IN, {4128: -1150.0, 4130: -1080.0, 4132: -1130.0, 4134: -3360.0}),
            **floats(IN, {4136: 1210.0, 4138: 1097.0, 4140: 1148.0, 4142: 3455.0}),
            **floats(IN, {4144: 0.0, 4146: 0.0, 4148: 0.0, 4150: 0.0, 4152: 50.0}),
            **floats(IN, {4352: 410_000.0, 4354: 395_000.0, 4356: 429_000.0, 4358: 1_234_000.0}),
            **floats(IN, {4360: 600_000.0, 4362: 610_000.0, 4364: 590_000.0, 4366: 1_800_000.0}),
        },
        {
            "voltage_l1": 230.5,
            "voltage_l2": 231.0,
            "voltage_l3": 229.5,
            "current_l1": 5.25,
            "current_l2": 4.75,
            "current_l3": 5.0,
            "power_l1": -1150.0,
            "power_l2": -1080.0,
            "power_l3": -1130.0,
            "power": -3360.0,
            "frequency": 50.0,
            "energy_import": 1_234_000.0,
            "energy_export": 1_800_000.0,
        },
    ),
    # Schneider Electric PM5300 (PM51xx_PM53xx register list, register number = address + 1): 2700/2702
    # active energy delivered / received (float32 kWh), 3000-3004 current A-C, 3028-3032 voltage A-N,
    # 3054-3060 active power A, B, C, total (float32 kW, + delivered to the load), 3110 frequency
    Example(
        "schneider-pm5300",
        {
            **floats(HO, {2699: 12_345.5, 2701: 678.25}),
            **floats(HO, {2999: 10.5, 3001: 9.75, 3003: 10.25}),
            **floats(HO, {3027: 230.25, 3029: 229.5, 3031: 231.0}),
            **floats(HO, {3053: 2.375, 3055: 2.25, 3057: 2.5, 3059: 7.125}),
            **floats(HO, {3109: 49.5}),
        },
        {
            "energy_import": 12_345_500.0,
            "energy_export": 678_250.0,
            "current_l1": 10.5,
            "current_l2": 9.75,
            "current_l3": 10.25,
            "voltage_l1": 230.25,
            "voltage_l2": 229.5,
            "voltage_l3": 231.0,
            "power_l1": 2375.0,
            "power_l2": 2250.0,
            "power_l3": 2500.0,
            "power": 7125.0,
            "frequency": 49.5,
        },
    ),
    # Socomec DIRIS A40 (Socomec JBUS common table, FC3, 32-bit high word first): 0xC558-0xC55C V1-V3
    # (V/100), 0xC55E F (Hz/100), 0xC560-0xC564 I1-I3 (mA), 0xC568 ΣP (kW/100, signed), 0xC570-0xC574
    # P1-P3 (kW/100, signed); 0xC652 Ea+ and 0xC658 Ea- (kWh); unit 5
    Example(
        "socomec-diris-a40",
        {
            **words32(HO, {0xC558: 23012, 0xC55A: 23105, 0xC55C: 22987, 0xC55E: 5002}),
            **words32(HO, {0xC560: 8120, 0xC562: 7005, 0xC564: 7550, 0xC566: 310}),
            **words32(HO, {0xC568: -512, 0xC56A: 0, 0xC56C: 0, 0xC56E: 0}),
            **words32(HO, {0xC570: -187, 0xC572: -160, 0xC574: -165}),
            **words32(HO, {0xC652: 98_765, 0xC654: 0, 0xC656: 0, 0xC658: 4321}),
        },
        {
            "voltage_l1": 230.12,
            "voltage_l2": 231.05,
            "voltage_l3": 229.87,
            "frequency": 50.02,
            "current_l1": 8.12,
            "current_l2": 7.005,
            "current_l3": 7.55,
            "power": -5120.0,
            "power_l1": -1870.0,
            "power_l2": -1600.0,
            "power_l3": -1650.0,
            "energy_import": 98_765_000.0,
            "energy_export": 4_321_000.0,
        },
    ),
]

IO_MODULES = [
    # MODBUS Application Protocol V1.1b3, 6.2 (FC 02): inputs 1 and 3, 4 on
    Example(
        "modbus-digital-inputs",
        bits("discrete", [1, 0, 1, 1]),
        {f"state_{i}": s for i, s in enumerate([1.0, 0.0, 1.0, 1.0], 1)},
    ),
    # 6.1 (FC 01): coils read as inputs, coil 2 on
    Example(
        "modbus-coil-inputs",
        bits("coil", [0, 1, 0, 0]),
        {f"state_{i}": s for i, s in enumerate([0.0, 1.0, 0.0, 0.0], 1)},
    ),
    # Waveshare Modbus RTU IO 8CH wiki (read input status, FC 02 from 0x0000, 8 inputs): "01 02 01 85 .." =
    # inputs 1, 3, 8 on (0x85 = 1000 0101, input 1 in bit 0)
    Example(
        "waveshare-modbus-rtu-io-8ch",
        bits("discrete", [1, 0, 1, 0, 0, 0, 0, 1]),
        {f"state_{i}": s for i, s in enumerate([1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0], 1)},
    ),
]

# SMA Modbus interface (SMA-Modbus-general-TI and the devices' parameter lists; register numbers are the
# wire addresses; unit 3): 30513 total yield / energy (U64, Wh), 30775 AC active power (S32, W; a battery
# inverter + discharging), 30845 battery state of charge (U32, %), 40149 active power setpoint (S32, W),
# 40151 "eff./reac. power control via communication" (U32 enum: 802 active, 803 inactive); evcc's
# sma-si-modbus / sma-sbs-modbus use the same registers
SMA_BATTERY = {
    (HO, 30513): 0,
    (HO, 30514): 0,
    (HO, 30515): 0x00BC,
    (HO, 30516): 0x614E,  # 12345678 Wh
    **words32(HO, {30775: 1500, 30845: 73}),  # discharging 1500 W, SoC 73 %
}
SMA_BATTERY_READ = {"energy": 12_345_678.0, "power": 1500.0, "soc": 73.0}
SMA_CONTROL = words32(HO, {40149: 0, 40151: 803})
SMA_WRITES = [
    (
        "battery_setpoint",
        2000.0,
        {40149: 0x0000, 40150: 0x07D0, 40151: 0, 40152: 802},
    ),  # discharge 2 kW, control on
    ("battery_setpoint", -3000.0, {40149: 0xFFFF, 40150: 0xF448, 40151: 0, 40152: 802}),  # charge 3 kW
    ("battery_mode", 0.0, {40151: 0, 40152: 803}),  # own control: communication control inactive
    ("battery_mode", 1.0, {40151: 0, 40152: 802}),
]
# Sunny Tripower Smart Energy (evcc sma-hybrid, SMA parameter names): 30865 power drawn from the grid,
# 30867 power fed in (Metering.GridMs.TotWIn/TotWOut, S32 W), 31393 / 31395 battery charge / discharge
# power (BatChrg.CurBatCha / BatDsch.CurBatDsch, U32 W); battery mode as CmpBMS.OpMod 40236 (2424
# default), BatChaMinW 40793, BatChaMaxW 40795, BatDschMinW 40797, BatDschMaxW 40799, GridWSpt 40801
# (evcc's "normal": 2424, 0, 4200, 0, 4200, 0; its "hold": discharging max 0)
# a sunny hour: the PV gives 5000 W, the battery charges 1500 W (BatChrg 31393), 3500 W leave the inverter
# (30775, PV and battery together); the battery's power is BatDsch 31395 minus BatChrg 31393: -1500 W
STPSE = {
    **SMA_BATTERY,
    **words32(HO, {30775: 3500, 30865: 0, 30867: 2500, 31393: 1500, 31395: 0}),
    **words32(HO, {40236: 2424, 40793: 0, 40795: 4200, 40797: 0, 40799: 4200, 40801: 0}),
}


def _bms(mode: int, cha_max: int, dsch_max: int) -> dict[int, int]:
    values = {40236: mode, 40793: 0, 40795: cha_max, 40797: 0, 40799: dsch_max, 40801: 0}
    return {a + i: (v >> 16 if i == 0 else v & 0xFFFF) for a, v in values.items() for i in (0, 1)}


SMA_BATTERIES = [
    Example("sma-sunny-island", {**SMA_BATTERY, **SMA_CONTROL}, SMA_BATTERY_READ, SMA_WRITES),
    Example("sma-sunny-boy-storage", {**SMA_BATTERY, **SMA_CONTROL}, SMA_BATTERY_READ, SMA_WRITES),
    Example("sma-tripower-storage", SMA_BATTERY, SMA_BATTERY_READ),
    Example(
        "sma-tripower-smart-energy",
        STPSE,
        {
            **SMA_BATTERY_READ,
            "power": -1500.0,
            "power_ac": 3500.0,
            "power_grid_import": 0.0,
            "power_grid_export": 2500.0,
            "power_charge": 1500.0,
        },
        [("battery_mode", 1.0, _bms(2424, 4200, 0)), ("battery_mode", 0.0, _bms(2424, 4200, 4200))],
    ),
]
