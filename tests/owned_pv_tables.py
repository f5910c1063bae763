"""Hand-written example tables of the PV inverters people own (issue 17), for
``test_catalog_owned_meters_pv.py``: raw words as each inverter's documentation lays them out, with
example values, the readings they stand for (W + producing, Wh) and the words a command must write.
Nothing here comes from the catalogue entries.
"""

from __future__ import annotations

from owned_harness import Example
from owned_meter_tables import HO, IN, SunSpecExample, text

PV_EXAMPLES = [
    Example(
        "growatt-min-tl-x",
        {
            (IN, 1): 0x0000,
            (IN, 2): 0xCC79,  # Ppv 52345 x 0.1 W
            (IN, 35): 0x0000,
            (IN, 36): 0xC351,  # Pac 50001 x 0.1 W
            (IN, 55): 0x0001,
            (IN, 56): 0xE240,  # Eac total 123456 x 0.1 kWh
        },
        {"power_pv": 5234.5, "power": 5000.1, "energy": 12_345_600.0},
    ),
    Example(
        "solis-string",
        {
            (IN, 3004): 0x0000,
            (IN, 3005): 0x10E1,  # 3005-3006 active power 4321 W
            (IN, 3006): 0x0000,
            (IN, 3007): 0x1194,  # 3007-3008 DC power 4500 W
            (IN, 3008): 0x0000,
            (IN, 3009): 0x5BA0,  # 3009-3010 total energy 23456 kWh
        },
        {"power": 4321.0, "power_pv": 4500.0, "energy": 23_456_000.0},
    ),
    Example(
        "solax-x1-boost",
        {
            (IN, 0x0404): 2318,  # grid voltage 231.8 V
            (IN, 0x0407): 4998,  # frequency 49.98 Hz
            (IN, 0x040A): 152,  # output current 15.2 A
            (IN, 0x040D): 47,  # temperature 47 °C
            (IN, 0x040E): 3512,  # inverter power 3512 W
            (IN, 0x0414): 1840,  # PV1 1840 W
            (IN, 0x0415): 1795,  # PV2 1795 W
            (IN, 0x0423): 0xE240,
            (IN, 0x0424): 0x0001,  # total yield 123456 x 0.1 kWh, low word first
        },
        {
            "voltage": 231.8,
            "frequency": 49.98,
            "current": 15.2,
            "temperature": 47.0,
            "power": 3512.0,
            "power_pv1": 1840.0,
            "power_pv2": 1795.0,
            "energy": 12_345_600.0,
        },
    ),
    Example(
        "solax-x3-mic-g2",
        {
            (IN, 0x0404): 2301,
            (IN, 0x0405): 2315,
            (IN, 0x0406): 2298,  # U L1-L3 0.1 V
            (IN, 0x040D): 0xFFFB,  # temperature -5 °C (a winter morning)
            (IN, 0x040E): 8040,  # inverter power 8040 W
            (IN, 0x0414): 4100,
            (IN, 0x0415): 4150,  # PV1, PV2 W
            (IN, 0x0423): 0x81CD,
            (IN, 0x0424): 0x0001,  # total yield 98765 x 0.1 kWh, low word first
            (HO, 0x0638): 30000,  # active power limit 30000 W: none
        },
        {
            "voltage_l1": 230.1,
            "voltage_l2": 231.5,
            "voltage_l3": 229.8,
            "temperature": -5.0,
            "power": 8040.0,
            "power_pv1": 4100.0,
            "power_pv2": 4150.0,
            "energy": 9_876_500.0,
        },
        [("power_limit", 6000.0, {0x0638: 6000}), ("power_limit", 45_000.0, {0x0638: 30000})],
    ),
    Example(
        "goodwe-dt-ms",
        {
            (HO, 30127): 0x0000,
            (HO, 30128): 0x1A2B,  # total inverter power 6699 W
            (HO, 30141): 0x01C7,  # inverter temperature 455 x 0.1 °C
            (HO, 30145): 0x0001,
            (HO, 30146): 0x86A0,  # total PV generation 100000 x 0.1 kWh
        },
        {"power": 6699.0, "temperature": 45.5, "energy": 10_000_000.0},
    ),
    Example(
        "sungrow-sg",
        {
            (IN, 4999): 0x0E0F,  # device type code (SG10RT)
            (IN, 5000): 100,  # nominal output power 100 x 0.1 kW
            (IN, 5003): 0x3039,
            (IN, 5004): 0x0000,  # total yield 12345 kWh, low word first
            (IN, 5007): 0x01C2,  # internal temperature 450 x 0.1 °C
            (IN, 5030): 0x1F40,
            (IN, 5031): 0x0000,  # total active power 8000 W, low word first
            (HO, 5006): 0x0055,  # power limitation switch: 0x55 off
            (HO, 5007): 1000,  # power limitation 100.0 %
        },
        {"energy": 12_345_000.0, "temperature": 45.0, "power": 8000.0},
        # 4 kW of the nominal 10 kW: 40.0 % in 0.1 % steps, then the switch on (0xAA)
        [("power_limit", 4000.0, {5007: 400, 5006: 0xAA})],
    ),
    Example(
        "huawei-sun2000",
        {
            **dict(zip([(HO, 30000 + i) for i in range(15)], text("SUN2000-10KTL-M1", 15), strict=True)),
            (HO, 30073): 0x0000,
            (HO, 30074): 0x2710,  # rated power 10000 W
            # Huawei SUN2000 Modbus Interface Definitions: 32064 input power (I32, kW x 1000 = W), the PV
            # before the inverter; 32080 active power (I32, W) is the AC side, which on a hybrid with a
            # LUNA2000 carries the battery too: here a battery discharging 2500 W at night, no PV
            (HO, 32064): 0x0000,
            (HO, 32065): 0x0000,  # input power 0 W
            (HO, 32080): 0x0000,
            (HO, 32081): 0x09C4,  # active power 2500 W (the battery's)
            (HO, 32087): 0x0172,  # internal temperature 370 x 0.1 °C
            # accumulated energy yield 1234567 x 0.01 kWh: the AC side's, which counts the battery's discharge
            # (it grows tonight with no PV; huawei_solar issues 1, 34): energy_ac, not the PV energy
            (HO, 32106): 0x0012,
            (HO, 32107): 0xD687,
            (HO, 40126): 0x0000,
            (HO, 40127): 0x2710,  # fixed active power derating 10000 W
        },
        {"power": 0.0, "power_ac": 2500.0, "temperature": 37.0, "energy_ac": 12_345_670.0},
        [("power_limit", 4000.0, {40126: 0, 40127: 4000})],
    ),
    Example(
        "huawei-smartlogger",
        {
            (HO, 40446): 0x0000,
            (HO, 40447): 0x0000,
            (HO, 40448): 0x075B,
            (HO, 40449): 0xCD15,  # accumulated PV yield 123456789 x 0.01 kWh (int64)
            (HO, 40521): 0x0001,
            (HO, 40522): 0x86A0,  # plant input power 100000 W
        },
        {"energy": 1_234_567_890.0, "power": 100_000.0},
    ),
    Example(
        "deye-string",
        {
            (HO, 63): 0x49F0,
            (HO, 64): 0x0002,  # total production 150000 x 0.1 kWh, low word first
            (HO, 86): 0x4C08,
            (HO, 87): 0x0001,  # output active power 85000 x 0.1 W, low word first
        },
        {"energy": 15_000_000.0, "power": 8500.0},
    ),
]

PV_SUNSPEC_EXAMPLES = [
    SunSpecExample(
        "kaco-blueplanet-nx3",
        3,
        40000,
        [
            (1, 66, dict(enumerate([*text("KACO new energy", 16), *text("blueplanet 10.0 NX3 M2", 16)]))),
            (
                103,  # ID at 40070, body from 40072
                50,
                {
                    0: 1850,  # A 18.50 A (40072)
                    4: 0xFFFE,  # A_SF -2
                    8: 2301,  # PhVphA 230.1 V
                    9: 2312,  # PhVphB 231.2 V
                    10: 2295,  # PhVphC 229.5 V
                    11: 0xFFFF,  # V_SF -1
                    12: 4321,  # W 4321 W (40084)
                    13: 0x0000,  # W_SF 0 (40085)
                    14: 5001,  # Hz 50.01
                    15: 0xFFFE,  # Hz_SF -2
                    22: 0x00BC,
                    23: 0x614E,  # WH 12345678 Wh (40094-40095)
                    24: 0x0000,  # WH_SF 0 (40096)
                    25: 725,  # DCA 7.25 A
                    26: 0xFFFE,  # DCA_SF -2
                    27: 6203,  # DCV 620.3 V
                    28: 0xFFFF,  # DCV_SF -1
                    29: 4500,  # DCW 4500 W
                    30: 0x0000,  # DCW_SF 0
                    31: 452,  # TmpCab 45.2 °C
                    35: 0xFFFF,  # Tmp_SF -1
                    36: 4,  # St 4: MPPT (40108)
                },
            ),
            (120, 26, {0: 4, 1: 10000, 2: 0}),  # DERTyp 4 (PV), WRtg 10000 W, WRtg_SF 0
            (121, 30, {0: 10000, 20: 0}),  # WMax 10000 W (40152), WMax_SF 0 (40172)
            (
                123,
                24,
                {2: 1, 3: 1000, 7: 0, 21: 0xFFFF},
            ),  # Conn 1, WMaxLimPct 100.0 % (40187), Ena 0 (40191), SF -1
        ],
        {
            "current": 18.5,
            "voltage_l1": 230.1,
            "voltage_l2": 231.2,
            "voltage_l3": 229.5,
            "power": 4321.0,
            "frequency": 50.01,
            "energy": 12_345_678.0,
            "current_dc": 7.25,
            "voltage_dc": 620.3,
            "power_dc": 4500.0,
            "temperature": 45.2,
            "limit_rated": 10_000.0,
            "limit_max": 10_000.0,
        },
        # 4 kW of WMax 10 kW: 40.0 % in 0.1 % steps, then the limit switched on
        [("power_limit", 4000.0, {40187: 400, 40191: 1}), ("power_limit", 12_000.0, {40187: 1000, 40191: 1})],
    )
]
