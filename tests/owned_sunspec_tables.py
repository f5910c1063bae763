"""Hand-written SunSpec chains of the SunSpec PV inverters, hybrids and meters of the catalogue (issue 17),
for ``test_catalog_owned_sunspec.py``. Nothing here comes from the catalogue entries.

Offsets are those of the SunSpec Information Model definitions (SunSpec Alliance, models 1, 101/103,
111-113, 120, 121, 123, 124, 160, 203, 213, 701, 702, 704, 802; the JSON definitions pysunspec2 ships):
an offset is counted from the model's body, the register after its ID and L. Each entry's chain is the
one its vendor documents for it (unit id, model order: SMA "SunSpec Modbus interface" TI, unit 126 and
125 for the Inverter Manager; Fronius Datamanager / GEN24 Modbus TCP & RTU, unit 1, float 111-113 by
default, int+SF 101-103 on request, WMaxLimPct_SF -2; KOSTAL "MODBUS-TCP/SunSpec" interface
description, unit 71; SolarEdge SunSpec Implementation Technical Note, unit 1, models 1, 101-103,
203 after the inverter, power control 0xF001/0xF100 from its Power Control Open Protocol; Advanced
Energy REFUsol SunSpec map, unit 1). The point values are example values of the documented ranges
(a 10 kW inverter at noon), worked out by hand into our units: W, Wh, V, A, Hz, degC, SunSpec's signs.
Unset words are "not implemented" (0x8000); a single-phase model sends 0xFFFF (uint16) or NaN (float)
for phases B and C, and those are not read.
"""

from __future__ import annotations

import struct

from owned_harness import SunSpecExample
from owned_meter_tables import text

NAN = (0x7FC0, 0x0000)  # float32 "not implemented"


def f32(value: float) -> tuple[int, int]:
    """The two registers of ``value`` as IEEE-754 float32, high word first (SunSpec)."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return hi, lo


def floats(points: dict[int, float | tuple[int, int]]) -> dict[int, int]:
    """A float model's body: {offset of the first word: value (or its raw two words)}."""
    out: dict[int, int] = {}
    for offset, value in points.items():
        out[offset], out[offset + 1] = value if isinstance(value, tuple) else f32(value)
    return out


def common(mn: str, md: str, vr: str = "1.0.0", sn: str = "1234567890") -> tuple[int, int, dict[int, int]]:
    """Model 1: Mn (0-15), Md (16-31), Opt (32-39), Vr (40-47), SN (48-63), DA (64)."""
    words = [*text(mn, 16), *text(md, 16), *text("", 8), *text(vr, 8), *text(sn, 16)]
    return 1, 66, {**dict(enumerate(words)), 64: 1}


# --- inverter models -----------------------------------------------------------------------------------

# model 103 (three-phase, int + SF) of a 10 kW inverter at noon
INT_3PH = {
    0: 1450,  # A 14.50 A
    4: 0xFFFE,  # A_SF -2
    8: 2301,  # PhVphA 230.1 V
    9: 2312,  # PhVphB 231.2 V
    10: 2295,  # PhVphC 229.5 V
    11: 0xFFFF,  # V_SF -1
    12: 987,  # W 987 x 10 = 9870 W
    13: 0x0001,  # W_SF 1
    14: 5001,  # Hz 50.01
    15: 0xFFFE,  # Hz_SF -2
    22: 0x0001,
    23: 0xE240,  # WH 123456 (acc32) x 100 = 12345600 Wh
    24: 0x0002,  # WH_SF 2
    25: 1532,  # DCA 15.32 A
    26: 0xFFFE,  # DCA_SF -2
    27: 6450,  # DCV 645.0 V
    28: 0xFFFF,  # DCV_SF -1
    29: 1015,  # DCW 1015 x 10 = 10150 W
    30: 0x0001,  # DCW_SF 1
    31: 412,  # TmpCab 41.2 degC
    35: 0xFFFF,  # Tmp_SF -1
    36: 4,  # St 4: MPPT
}
INT_3PH_READ = {
    "current": 14.5,
    "voltage_l1": 230.1,
    "voltage_l2": 231.2,
    "voltage_l3": 229.5,
    "power": 9870.0,
    "frequency": 50.01,
    "energy": 12_345_600.0,
    "current_dc": 15.32,
    "voltage_dc": 645.0,
    "power_dc": 10_150.0,
    "temperature": 41.2,
}
# model 101 (single phase, int + SF) of a 4.6 kW inverter; phases B and C not implemented (uint16 0xFFFF)
INT_1PH = {
    0: 2010,  # A 20.10 A
    4: 0xFFFE,  # A_SF -2
    8: 2298,  # PhVphA 229.8 V
    9: 0xFFFF,
    10: 0xFFFF,  # PhVphB, PhVphC: none
    11: 0xFFFF,  # V_SF -1
    12: 4620,  # W 4620 W
    13: 0x0000,  # W_SF 0
    14: 4999,  # Hz 49.99
    15: 0xFFFE,  # Hz_SF -2
    22: 0x0000,
    23: 0x3039,  # WH 12345 x 1000 = 12345000 Wh
    24: 0x0003,  # WH_SF 3
    25: 1210,  # DCA 12.10 A
    26: 0xFFFE,  # DCA_SF -2
    27: 3905,  # DCV 390.5 V
    28: 0xFFFF,  # DCV_SF -1
    29: 4725,  # DCW 4725 W
    30: 0x0000,  # DCW_SF 0
    31: 0xFFEC,  # TmpCab -20 x 0.1 = -2.0 degC (a frosty morning)
    35: 0xFFFF,  # Tmp_SF -1
    36: 4,  # St 4: MPPT
}
INT_1PH_READ = {
    "current": 20.1,
    "voltage_l1": 229.8,
    "power": 4620.0,
    "frequency": 49.99,
    "energy": 12_345_000.0,
    "current_dc": 12.1,
    "voltage_dc": 390.5,
    "power_dc": 4725.0,
    "temperature": -2.0,
}
# models 111-113 (float): A 0, PhVphA-C 14/16/18, W 20, Hz 22, WH 30, DCA 32, DCV 34, DCW 36, TmpCab 38, St 46
FLOAT_3PH = {
    **floats({0: 21.5, 14: 231.25, 16: 230.75, 18: 232.0, 20: 4950.0, 22: 50.0, 30: 9_876_543.0}),
    **floats({32: 8.25, 34: 612.5, 36: 5052.0, 38: 41.5}),
    46: 4,  # St 4: MPPT
}
FLOAT_3PH_READ = {
    "current": 21.5,
    "voltage_l1": 231.25,
    "voltage_l2": 230.75,
    "voltage_l3": 232.0,
    "power": 4950.0,
    "frequency": 50.0,
    "energy": 9_876_543.0,  # float32 carries it exactly (< 2**24)
    "current_dc": 8.25,
    "voltage_dc": 612.5,
    "power_dc": 5052.0,
    "temperature": 41.5,
}
FLOAT_1PH = {
    **floats({0: 15.25, 14: 230.5, 16: NAN, 18: NAN, 20: 3500.0, 22: 49.98, 30: 4_321_000.0}),
    **floats({32: 9.5, 34: 380.0, 36: 3610.0, 38: 38.0}),
    46: 4,
}
FLOAT_1PH_READ = {
    "current": 15.25,
    "voltage_l1": 230.5,
    "power": 3500.0,
    "frequency": 49.98,  # float32 49.98 is 49.979999542..., within 1e-6
    "energy": 4_321_000.0,
    "current_dc": 9.5,
    "voltage_dc": 380.0,
    "power_dc": 3610.0,
    "temperature": 38.0,
}


def nameplate(w: int, sf: int = 0) -> tuple[int, int, dict[int, int]]:
    """Model 120: DERTyp 4 (PV), WRtg (offset 1), WRtg_SF (2)."""
    return 120, 26, {0: 4, 1: w, 2: sf & 0xFFFF}


def settings(w: int, sf: int = 0) -> tuple[int, int, dict[int, int]]:
    """Model 121: WMax (offset 0), WMax_SF (20)."""
    return 121, 30, {0: w, 20: sf & 0xFFFF}


def controls(pct_sf: int) -> tuple[int, int, dict[int, int]]:
    """Model 123: Conn 1 (offset 2), WMaxLimPct 100 % (3), WMaxLim_Ena 0 (7), WMaxLimPct_SF (21)."""
    return 123, 24, {2: 1, 3: 100 * 10 ** (-pct_sf), 7: 0, 21: pct_sf & 0xFFFF}


MPPT = (160, 48, {0: 0xFFFE, 1: 0xFFFF, 2: 0, 3: 0, 6: 2})  # SFs, N = 2 modules of 20 registers: not read
# model 802 (battery base): SoC 9, V 32, W 45, SoC_SF 54, V_SF 57, W_SF 61; W + discharging
BATTERY = (802, 62, {9: 643, 32: 4012, 45: 0xFA24, 54: 0xFFFF, 57: 0xFFFF, 61: 0})
BATTERY_READ = {"dev_battery.soc": 64.3, "dev_battery.voltage_dc": 401.2, "dev_battery.power": -1500.0}

# model 203 (wye meter, int + SF): A 0, AphA-C 1-3, A_SF 4, PhVphA-C 6-8, V_SF 13, Hz 14, Hz_SF 15, W 16,
# WphA-C 17-19, W_SF 20, PF 31, PF_SF 35, TotWhExp 36-37, TotWhImp 44-45, TotWh_SF 52; + import
METER_INT = {
    0: 1250,
    1: 612,
    2: 238,
    3: 400,
    4: 0xFFFE,  # A_SF -2
    6: 2315,
    7: 2302,
    8: 2291,
    13: 0xFFFF,  # V_SF -1
    14: 4998,
    15: 0xFFFE,
    16: 0xF830,  # W -2000 W: exporting
    17: 0xF9C0,  # WphA -1600 W
    18: 0xFF38,  # WphB -200 W
    19: 0xFF38,  # WphC -200 W
    20: 0x0000,
    31: 0xFF9D,  # PF -99 %
    35: 0x0000,
    36: 0x0001,
    37: 0x2D69,  # TotWhExp 77161 x 100 Wh
    44: 0x0000,
    45: 0xC350,  # TotWhImp 50000 x 100 Wh
    52: 0x0002,  # TotWh_SF 2
}
METER_INT_READ = {
    "current_l1": 6.12,
    "current_l2": 2.38,
    "current_l3": 4.0,
    "voltage_l1": 231.5,
    "voltage_l2": 230.2,
    "voltage_l3": 229.1,
    "frequency": 49.98,
    "power": -2000.0,
    "power_l1": -1600.0,
    "power_l2": -200.0,
    "power_l3": -200.0,
    "power_factor": -0.99,
    "energy_export": 7_716_100.0,
    "energy_import": 5_000_000.0,
}


def as_meter(readings: dict[str, float]) -> dict[str, float]:
    """A meter model beside an inverter reports as ``dev_meter``."""
    return {f"dev_meter.{k}": v for k, v in readings.items()}


def limits(rated: float, **extra: float) -> dict[str, float]:
    return {"limit_rated": rated, **extra}


def at(chain: list[tuple[int, int, dict[int, int]]], mid: int, offset: int, base: int = 40000) -> int:
    """The address of model ``mid``'s body word ``offset`` in ``chain`` (SunS at ``base``)."""
    address = base + 2
    for m, length, _ in chain:
        if m == mid:
            return address + 2 + offset
        address += 2 + length
    raise KeyError(mid)


def limit_words(chain: list[tuple[int, int, dict[int, int]]], word: int) -> dict[int, int]:
    """Model 123's WMaxLimPct (offset 3) set to ``word`` and WMaxLim_Ena (7) switched on."""
    return {at(chain, 123, 3): word, at(chain, 123, 7): 1}


def _pv(
    entry: str,
    unit: int,
    chain: list[tuple[int, int, dict[int, int]]],
    readings: dict[str, float],
    writes: list[tuple[str, float, dict[int, int]]],
) -> SunSpecExample:
    return SunSpecExample(entry, unit, 40000, chain, readings, writes)


# AE REFUsol 008K: 103, 120-123 (WRtg = WMax = 8000 W), 160; a limit of 2 kW is 25.0 % in 0.1 % steps
REFUSOL = [common("Advanced Energy", "REFUsol 008K"), (103, 50, INT_3PH), nameplate(8000), settings(8000)]
REFUSOL += [controls(-1), MPPT]
# the generic int+SF inverter (SunSpec's own example layout): an 8 kW inverter, Conn for on/off
GENERIC_INT = [common("SunSpec", "int inverter"), (103, 50, INT_3PH), nameplate(8000), settings(8000)]
GENERIC_INT += [controls(-1), MPPT]
# SMA Sunny Tripower STP 10.0 (unit 126): WMaxLimPct in whole % (SF 0)
STP = [
    common("SMA", "STP10.0-3AV-40"),
    (103, 50, INT_3PH),
    nameplate(10000),
    settings(10000),
    controls(0),
    MPPT,
]
# Tripower Core1 STP50-40: 50 kW rated as 5000 x 10 (WRtg_SF 1, WMax_SF 1)
CORE1 = [
    common("SMA", "STP50-40"),
    (103, 50, INT_3PH),
    nameplate(5000, 1),
    settings(5000, 1),
    controls(0),
    MPPT,
]
STPX = [common("SMA", "STP25-50"), (103, 50, INT_3PH), nameplate(25000), settings(25000), controls(0)]
# Tripower Core2 STP110-60: 110 kW does not fit a uint16; 11000 x 10
CORE2 = [common("SMA", "STP110-60"), (103, 50, INT_3PH), nameplate(11000, 1), settings(11000, 1), controls(0)]
PIKO_CI = [
    common("KOSTAL", "PIKO CI 60"),
    (103, 50, INT_3PH),
    nameplate(60000),
    settings(60000),
    controls(-2),
]
# SMA Inverter Manager (unit 125): the plant's sum as one 103 model
MANAGER = [
    common("SMA", "Inverter Manager"),
    (103, 50, INT_3PH),
    nameplate(60000),
    settings(60000),
    controls(0),
]
GALVO = [
    common("Fronius", "Galvo 3.0-1"),
    (101, 50, INT_1PH),
    nameplate(3000),
    settings(3000),
    controls(-2),
    MPPT,
]
SB = [common("SMA", "SB5.0-1AV-41"), (101, 50, INT_1PH), nameplate(5000), settings(5000), controls(0), MPPT]
SB40 = [common("SMA", "SB4.0-1AV-40"), (101, 50, INT_1PH), nameplate(4000), settings(4000), controls(0), MPPT]
PRIMO = [
    common("Fronius", "Primo 5.0-1"),
    (111, 60, FLOAT_1PH),
    nameplate(5000),
    settings(5000),
    controls(-2),
]
PRIMO += [MPPT]
SYMO = [
    common("Fronius", "Symo 10.0-3-M"),
    (113, 60, FLOAT_3PH),
    nameplate(10000),
    settings(10000),
    controls(-2),
]
SYMO += [MPPT]
VERTO = [common("Fronius", "Verto Plus 30.0"), (113, 60, FLOAT_3PH), nameplate(30000), settings(30000)]
VERTO += [controls(-2), MPPT]
# the generic float inverter: split-phase model 112 (same layout as 113), nameplate and controls only
GENERIC_FLOAT = [common("SunSpec", "float inverter"), (112, 60, FLOAT_3PH), nameplate(6000), controls(-1)]
PLENTICORE = [
    common("KOSTAL", "PLENTICORE plus 10"),
    (103, 50, INT_3PH),
    nameplate(10000),
    controls(-2),
    MPPT,
]
PLENTICORE += [BATTERY]
# the Plenticore is a hybrid: at noon its strings give 11650 W, the battery (802) takes 1500 W, the DC side
# hands 10150 W (103 DCW) to the AC side, which gives 9870 W (103 W). The PV power is KOSTAL's 1066 "Total
# DC power (sum of all PV inputs)" and its energy 1056 "Total DC PV energy" (KOSTAL interface description,
# float, KOSTAL's default word order: low word first); 103 W and WH are the AC side's, battery included
PLENTICORE_PV = {1066: f32(11650.0)[1], 1067: f32(11650.0)[0], 1056: f32(15e6)[1], 1057: f32(15e6)[0]}
PLENTICORE_READ = {
    **{k: v for k, v in INT_3PH_READ.items() if k not in ("power", "energy")},
    "power": 11650.0,
    "energy": 15_000_000.0,
    "power_ac": INT_3PH_READ["power"],
    "energy_ac": INT_3PH_READ["energy"],
}
PIKO_IQ = [common("KOSTAL", "PIKO IQ 7.0"), (103, 50, INT_3PH), nameplate(7000), controls(-2), MPPT]
PIKO_12 = [common("KOSTAL", "PIKO 20"), (103, 50, INT_3PH), nameplate(20000), controls(0)]

PV_SUNSPEC = [
    _pv(
        "ae-refusol-sunspec",
        1,
        REFUSOL,
        {**INT_3PH_READ, **limits(8000.0, limit_max=8000.0)},
        [
            ("power_limit", 2000.0, limit_words(REFUSOL, 250)),
            ("power_limit", 9000.0, limit_words(REFUSOL, 1000)),
        ],
    ),
    _pv(
        "sunspec-inverter-int",
        1,
        GENERIC_INT,
        {**INT_3PH_READ, **limits(8000.0, limit_max=8000.0)},
        [
            ("power_limit", 6000.0, limit_words(GENERIC_INT, 750)),
            ("enable", 0.0, {at(GENERIC_INT, 123, 2): 0}),  # Conn 0: disconnect
            ("enable", 1.0, {at(GENERIC_INT, 123, 2): 1}),
        ],
    ),
    _pv(
        "sma-tripower",
        126,
        STP,
        {**INT_3PH_READ, **limits(10_000.0, limit_max=10_000.0)},
        [("power_limit", 4000.0, limit_words(STP, 40))],
    ),
    _pv(
        "sma-tripower-core1",
        126,
        CORE1,
        {**INT_3PH_READ, **limits(50_000.0, limit_max=50_000.0)},
        [("power_limit", 25_000.0, limit_words(CORE1, 50))],
    ),
    _pv(
        "sma-tripower-x",
        126,
        STPX,
        {**INT_3PH_READ, **limits(25_000.0, limit_max=25_000.0)},
        [("power_limit", 5000.0, limit_words(STPX, 20))],
    ),
    _pv(
        "sma-tripower-core2",
        126,
        CORE2,
        {**INT_3PH_READ, **limits(110_000.0, limit_max=110_000.0)},
        [("power_limit", 33_000.0, limit_words(CORE2, 30))],
    ),
    _pv(
        "kostal-piko-ci",
        1,
        PIKO_CI,
        {**INT_3PH_READ, **limits(60_000.0, limit_max=60_000.0)},
        [("power_limit", 15_000.0, limit_words(PIKO_CI, 2500))],
    ),
    _pv(
        "sma-inverter-manager",
        125,
        MANAGER,
        {**INT_3PH_READ, **limits(60_000.0, limit_max=60_000.0)},
        [("power_limit", 30_000.0, limit_words(MANAGER, 50))],
    ),
    _pv(
        "fronius-galvo",
        1,
        GALVO,
        {**INT_1PH_READ, **limits(3000.0, limit_max=3000.0)},
        [("power_limit", 1500.0, limit_words(GALVO, 5000))],
    ),
    _pv(
        "sma-sunny-boy",
        126,
        SB,
        {**INT_1PH_READ, **limits(5000.0, limit_max=5000.0)},
        [("power_limit", 2500.0, limit_words(SB, 50))],
    ),
    _pv(
        "sma-sunny-boy-av40",
        126,
        SB40,
        {**INT_1PH_READ, **limits(4000.0, limit_max=4000.0)},
        [("power_limit", 1000.0, limit_words(SB40, 25))],
    ),
    _pv(
        "fronius-primo",
        1,
        PRIMO,
        {**FLOAT_1PH_READ, **limits(5000.0, limit_max=5000.0)},
        [("power_limit", 3500.0, limit_words(PRIMO, 7000))],
    ),
    _pv(
        "fronius-symo",
        1,
        SYMO,
        {**FLOAT_3PH_READ, **limits(10_000.0, limit_max=10_000.0)},
        [("power_limit", 4000.0, limit_words(SYMO, 4000))],
    ),
    _pv(
        "fronius-verto",
        1,
        VERTO,
        {**FLOAT_3PH_READ, **limits(30_000.0, limit_max=30_000.0)},
        [("power_limit", 9000.0, limit_words(VERTO, 3000))],
    ),
    _pv(
        "sunspec-inverter-float",
        1,
        GENERIC_FLOAT,
        {**FLOAT_3PH_READ, **limits(6000.0)},  # no model 121: the limit is a share of WRtg
        [("power_limit", 1500.0, limit_words(GENERIC_FLOAT, 250))],
    ),
    SunSpecExample(
        "kostal-plenticore",
        71,
        40000,
        PLENTICORE,
        {**PLENTICORE_READ, **limits(10_000.0), **BATTERY_READ},
        [("power_limit", 5000.0, limit_words(PLENTICORE, 5000))],
        PLENTICORE_PV,
    ),
    _pv(
        "kostal-piko-iq",
        71,
        PIKO_IQ,
        {**INT_3PH_READ, **limits(7000.0)},
        [("power_limit", 3500.0, limit_words(PIKO_IQ, 5000))],
    ),
    _pv(
        "kostal-piko-12-20",
        1,
        PIKO_12,
        {**INT_3PH_READ, **limits(20_000.0)},
        [("power_limit", 5000.0, limit_words(PIKO_12, 25))],
    ),
]
