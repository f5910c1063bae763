"""Hand-written example tables of the electricity meters people own (issue 17), for
``test_catalog_owned_meters_pv.py``: each meter's raw words (16-bit, as its documentation lays them out,
with example values) and the readings those stand for, worked out by hand in our units and signs
(W + import, Wh). Float32 words are the IEEE-754 encodings of the example values. Nothing here comes
from the catalogue entries.
"""

from __future__ import annotations

from owned_harness import HO, IN, NI, Example, SunSpecExample

__all__ = ["HO", "IN", "NI", "SunSpecExample", "text"]  # the other tables import them from here


def text(value: str, words: int) -> list[int]:
    """A string as registers (Modbus, SunSpec): two ASCII characters a register, NUL-padded."""
    raw = value.encode("ascii").ljust(2 * words, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 2 * words, 2)]


METER_EXAMPLES = [
    Example(
        "orno-or-we-516",
        {
            (HO, 0x000E): 0x4367,
            (HO, 0x000F): 0x8000,  # U L1 231.5 V
            (HO, 0x0010): 0x4366,
            (HO, 0x0011): 0x4000,  # U L2 230.25 V
            (HO, 0x0012): 0x4365,
            (HO, 0x0013): 0xC000,  # U L3 229.75 V
            (HO, 0x0014): 0x4248,
            (HO, 0x0015): 0x0000,  # f 50.0 Hz
            (HO, 0x0016): 0x410C,
            (HO, 0x0017): 0x0000,  # I L1 8.75 A
            (HO, 0x0018): 0x3FA0,
            (HO, 0x0019): 0x0000,  # I L2 1.25 A
            (HO, 0x001A): 0x3FC0,
            (HO, 0x001B): 0x0000,  # I L3 1.5 A
            (HO, 0x001C): 0xBFC0,
            (HO, 0x001D): 0x0000,  # P total -1.5 kW: exporting
            (HO, 0x001E): 0xC000,
            (HO, 0x001F): 0x0000,  # P L1 -2.0 kW
            (HO, 0x0020): 0x3E80,
            (HO, 0x0021): 0x0000,  # P L2 0.25 kW
            (HO, 0x0022): 0x3E80,
            (HO, 0x0023): 0x0000,  # P L3 0.25 kW
            (HO, 0x0108): 0x4640,
            (HO, 0x0109): 0xE600,  # forward active energy 12345.5 kWh
            (HO, 0x0110): 0x4512,
            (HO, 0x0111): 0x9400,  # reverse active energy 2345.25 kWh
        },
        {
            "voltage_l1": 231.5,
            "voltage_l2": 230.25,
            "voltage_l3": 229.75,
            "frequency": 50.0,
            "current_l1": 8.75,
            "current_l2": 1.25,
            "current_l3": 1.5,
            "power": -1500.0,
            "power_l1": -2000.0,
            "power_l2": 250.0,
            "power_l3": 250.0,
            "energy_import": 12_345_500.0,
            "energy_export": 2_345_250.0,
        },
    ),
    Example(
        "orno-or-we-514",
        {
            (HO, 0x0130): 0x138A,  # f 50.02 Hz
            (HO, 0x0131): 0x5A69,  # U 231.45 V
            (HO, 0x0139): 0x0000,
            (HO, 0x013A): 0x17ED,  # I 6.125 A
            (HO, 0x0140): 0x0000,
            (HO, 0x0141): 0x056E,  # P 1390 W
            (HO, 0xA000): 0x0012,
            (HO, 0xA001): 0xD687,  # total active energy 12345.67 kWh
        },
        {"frequency": 50.02, "voltage": 231.45, "current": 6.125, "power": 1390.0, "energy": 12_345_670.0},
    ),
    Example(
        "orno-or-we-525",
        {
            (IN, 0x0100): 0x0003,
            (IN, 0x0101): 0x85DB,  # U 230875 x 0.001 V
            (IN, 0x0102): 0xFFFF,
            (IN, 0x0103): 0xE3AE,  # I -7250 x 0.001 A
            (IN, 0x0104): 0xFFFF,
            (IN, 0x0105): 0xF9AC,  # P -1620 W: exporting
            (IN, 0x010A): 0x01F3,  # f 499 x 0.1 Hz
            (IN, 0x010E): 0x0006,
            (IN, 0x010F): 0xF855,  # import 456789 x 0.01 kWh
            (IN, 0x0118): 0x0001,
            (IN, 0x0119): 0x81CD,  # export 98765 x 0.01 kWh
        },
        {
            "voltage": 230.875,
            "current": -7.25,
            "power": -1620.0,
            "frequency": 49.9,
            "energy_import": 4_567_890.0,
            "energy_export": 987_650.0,
        },
    ),
    Example(
        "orno-or-we-504",
        {
            (HO, 0x0000): 0x090D,  # U 2317 x 0.1 V
            (HO, 0x0001): 0x002B,  # I 43 x 0.1 A
            (HO, 0x0002): 0x01F4,  # f 500 x 0.1 Hz
            (HO, 0x0003): 0x03DB,  # P 987 W
            (HO, 0x0007): 0x0052,
            (HO, 0x0008): 0xE32D,  # total active energy 5432109 Wh
        },
        {"voltage": 231.7, "current": 4.3, "frequency": 50.0, "power": 987.0, "energy": 5_432_109.0},
    ),
    Example(
        "inepro-pro380",
        {
            (HO, 0x5002): 0x4368,
            (HO, 0x5003): 0x8000,  # U L1 232.5 V
            (HO, 0x5004): 0x4367,
            (HO, 0x5005): 0x0000,  # U L2 231.0 V
            (HO, 0x5006): 0x4365,
            (HO, 0x5007): 0x8000,  # U L3 229.5 V
            (HO, 0x5008): 0x4247,
            (HO, 0x5009): 0x0000,  # f 49.75 Hz
            (HO, 0x500C): 0x4128,
            (HO, 0x500D): 0x0000,  # I L1 10.5 A
            (HO, 0x500E): 0x4088,
            (HO, 0x500F): 0x0000,  # I L2 4.25 A
            (HO, 0x5010): 0x3F00,
            (HO, 0x5011): 0x0000,  # I L3 0.5 A
            (HO, 0x5012): 0x4058,
            (HO, 0x5013): 0x0000,  # P total 3.375 kW: importing
            (HO, 0x5014): 0x4020,
            (HO, 0x5015): 0x0000,  # P L1 2.5 kW
            (HO, 0x5016): 0x3F40,
            (HO, 0x5017): 0x0000,  # P L2 0.75 kW
            (HO, 0x5018): 0x3E00,
            (HO, 0x5019): 0x0000,  # P L3 0.125 kW
            (HO, 0x600C): 0x4593,
            (HO, 0x600D): 0x3C00,  # import 4711.5 kWh
            (HO, 0x6018): 0x444B,
            (HO, 0x6019): 0xD000,  # export 815.25 kWh
        },
        {
            "voltage_l1": 232.5,
            "voltage_l2": 231.0,
            "voltage_l3": 229.5,
            "frequency": 49.75,
            "current_l1": 10.5,
            "current_l2": 4.25,
            "current_l3": 0.5,
            "power": 3375.0,
            "power_l1": 2500.0,
            "power_l2": 750.0,
            "power_l3": 125.0,
            "energy_import": 4_711_500.0,
            "energy_export": 815_250.0,
        },
    ),
    Example(
        "wago-879-30x0",
        {
            (HO, 0x5002): 0x4366,
            (HO, 0x5003): 0x8000,  # U L1 230.5 V
            (HO, 0x5008): 0x4248,
            (HO, 0x5009): 0x8000,  # f 50.125 Hz
            (HO, 0x500C): 0xC0D0,
            (HO, 0x500D): 0x0000,  # I L1 -6.5 A
            (HO, 0x5012): 0xBFB8,
            (HO, 0x5013): 0x0000,  # P total -1.4375 kW: exporting
            (HO, 0x600C): 0x4479,
            (HO, 0x600D): 0xE000,  # import 999.5 kWh
            (HO, 0x6018): 0x4548,
            (HO, 0x6019): 0xAC00,  # export 3210.75 kWh
        },
        {
            "voltage_l1": 230.5,
            "frequency": 50.125,
            "current_l1": -6.5,
            "power": -1437.5,
            "energy_import": 999_500.0,
            "energy_export": 3_210_750.0,
        },
    ),
    Example(
        "saia-ale3",
        {
            (HO, 27): 0x0023,
            (HO, 28): 0xCACE,  # register 28-29: total import 23456.78 kWh
            (HO, 31): 0x0001,
            (HO, 32): 0xE240,  # register 32-33: total export 1234.56 kWh
            (HO, 35): 0x00E7,  # register 36: U L1 231 V
            (HO, 36): 0x0057,  # register 37: I L1 8.7 A
            (HO, 37): 0x00C8,  # register 38: P L1 2.00 kW
            (HO, 40): 0x00E6,  # register 41: U L2 230 V
            (HO, 41): 0x000C,  # register 42: I L2 1.2 A
            (HO, 42): 0xFFE7,  # register 43: P L2 -0.25 kW
            (HO, 45): 0x00E5,  # register 46: U L3 229 V
            (HO, 46): 0x0005,  # register 47: I L3 0.5 A
            (HO, 47): 0x000A,  # register 48: P L3 0.10 kW
            (HO, 50): 0x00B9,  # register 51: P total 1.85 kW
        },
        {
            "energy_import": 23_456_780.0,
            "energy_export": 1_234_560.0,
            "voltage_l1": 231.0,
            "current_l1": 8.7,
            "power_l1": 2000.0,
            "voltage_l2": 230.0,
            "current_l2": 1.2,
            "power_l2": -250.0,
            "voltage_l3": 229.0,
            "current_l3": 0.5,
            "power_l3": 100.0,
            "power": 1850.0,
        },
    ),
    Example(
        "finder-7m38",
        {
            (IN, 2500): 0x4367,
            (IN, 2501): 0x4000,  # U L1 231.25 V
            (IN, 2502): 0x4366,
            (IN, 2503): 0x8000,  # U L2 230.5 V
            (IN, 2504): 0x4368,
            (IN, 2505): 0x0000,  # U L3 232.0 V
            (IN, 2516): 0x4090,
            (IN, 2517): 0x0000,  # I L1 4.5 A
            (IN, 2518): 0x4010,
            (IN, 2519): 0x0000,  # I L2 2.25 A
            (IN, 2520): 0x4110,
            (IN, 2521): 0x0000,  # I L3 9.0 A
            (IN, 2530): 0x4482,
            (IN, 2531): 0x1000,  # P L1 1040.5 W
            (IN, 2532): 0xC401,
            (IN, 2533): 0xA000,  # P L2 -518.5 W
            (IN, 2534): 0x4502,
            (IN, 2535): 0x8000,  # P L3 2088.0 W
            (IN, 2536): 0x4523,
            (IN, 2537): 0x2000,  # P total 2610.0 W
            (IN, 2584): 0x4247,
            (IN, 2585): 0xE000,  # f 49.96875 Hz
            (IN, 2752): 0x4996,
            (IN, 2753): 0xB438,  # imported active energy 1234567 Wh
            (IN, 2756): 0x493A,
            (IN, 2757): 0xDF80,  # exported active energy 765432 Wh
        },
        {
            "voltage_l1": 231.25,
            "voltage_l2": 230.5,
            "voltage_l3": 232.0,
            "current_l1": 4.5,
            "current_l2": 2.25,
            "current_l3": 9.0,
            "power_l1": 1040.5,
            "power_l2": -518.5,
            "power_l3": 2088.0,
            "power": 2610.0,
            "frequency": 49.96875,
            "energy_import": 1_234_567.0,
            "energy_export": 765_432.0,
        },
    ),
    Example(
        "finder-7m24",
        {
            (IN, 2500): 0x4365,
            (IN, 2501): 0x8000,  # U 229.5 V
            (IN, 2516): 0xC050,
            (IN, 2517): 0x0000,  # I -3.25 A
            (IN, 2536): 0xC43A,
            (IN, 2537): 0x6000,  # P -745.5 W: exporting
            (IN, 2584): 0x4248,
            (IN, 2585): 0x0000,  # f 50.0 Hz
            (IN, 2752): 0x47C0,
            (IN, 2753): 0xE680,  # imported 98765 Wh
            (IN, 2756): 0x4728,
            (IN, 2757): 0xCA00,  # exported 43210 Wh
        },
        {
            "voltage": 229.5,
            "current": -3.25,
            "power": -745.5,
            "frequency": 50.0,
            "energy_import": 98765.0,
            "energy_export": 43210.0,
        },
    ),
    Example(
        "schneider-iem3000",
        {
            (HO, 2999): 0x4148,
            (HO, 3000): 0x0000,  # register 3000: I L1 12.5 A
            (HO, 3001): 0x413C,
            (HO, 3002): 0x0000,  # register 3002: I L2 11.75 A
            (HO, 3003): 0x3E80,
            (HO, 3004): 0x0000,  # register 3004: I L3 0.25 A
            (HO, 3027): 0x4369,
            (HO, 3028): 0x8000,  # register 3028: U L1-N 233.5 V
            (HO, 3029): 0x4368,
            (HO, 3030): 0x4000,  # register 3030: U L2-N 232.25 V
            (HO, 3031): 0x4367,
            (HO, 3032): 0x0000,  # register 3032: U L3-N 231.0 V
            (HO, 3059): 0x40B4,
            (HO, 3060): 0x0000,  # register 3060: total active power 5.625 kW
            (HO, 3109): 0x4248,
            (HO, 3110): 0x2000,  # register 3110: f 50.03125 Hz
            (HO, 3203): 0x0000,
            (HO, 3204): 0x0000,
            (HO, 3205): 0x0539,
            (HO, 3206): 0x7FB1,  # register 3204: active energy import 87654321 Wh
            (HO, 3207): 0x0000,
            (HO, 3208): 0x0000,
            (HO, 3209): 0x0012,
            (HO, 3210): 0xD687,  # register 3208: active energy export 1234567 Wh
        },
        {
            "current_l1": 12.5,
            "current_l2": 11.75,
            "current_l3": 0.25,
            "voltage_l1": 233.5,
            "voltage_l2": 232.25,
            "voltage_l3": 231.0,
            "power": 5625.0,
            "frequency": 50.03125,
            "energy_import": 87_654_321.0,
            "energy_export": 1_234_567.0,
        },
    ),
    Example(
        "chint-dtsu666",
        {
            (HO, 0x2006): 0x4510,
            (HO, 0x2007): 0x8000,  # Ua 2312 x 0.1 V
            (HO, 0x2008): 0x4510,
            (HO, 0x2009): 0x1000,  # Ub 2305 x 0.1 V
            (HO, 0x200A): 0x450F,
            (HO, 0x200B): 0xA000,  # Uc 2298 x 0.1 V
            (HO, 0x200C): 0x45A0,
            (HO, 0x200D): 0x2800,  # Ia 5125 x 0.001 A
            (HO, 0x200E): 0x437A,
            (HO, 0x200F): 0x0000,  # Ib 250 x 0.001 A
            (HO, 0x2010): 0x447A,
            (HO, 0x2011): 0x0000,  # Ic 1000 x 0.001 A
            (HO, 0x2012): 0xC640,
            (HO, 0x2013): 0xE400,  # Pt -12345 x 0.1 W: exporting
            (HO, 0x2014): 0xC64B,
            (HO, 0x2015): 0x2000,  # Pa -13000 x 0.1 W
            (HO, 0x2016): 0x43C8,
            (HO, 0x2017): 0x0000,  # Pb 400 x 0.1 W
            (HO, 0x2018): 0x437F,
            (HO, 0x2019): 0x0000,  # Pc 255 x 0.1 W
            (HO, 0x2044): 0x459C,
            (HO, 0x2045): 0x4800,  # Freq 5001 x 0.01 Hz
            (HO, 0x101E): 0x4558,
            (HO, 0x101F): 0x0800,  # ImpEp 3456.5 kWh
            (HO, 0x1028): 0x45CC,
            (HO, 0x1029): 0x7A00,  # ExpEp 6543.25 kWh
        },
        {
            "voltage_l1": 231.2,
            "voltage_l2": 230.5,
            "voltage_l3": 229.8,
            "current_l1": 5.125,
            "current_l2": 0.25,
            "current_l3": 1.0,
            "power": -1234.5,
            "power_l1": -1300.0,
            "power_l2": 40.0,
            "power_l3": 25.5,
            "frequency": 50.01,
            "energy_import": 3_456_500.0,
            "energy_export": 6_543_250.0,
        },
    ),
    Example(
        "bg-etech-ds100",
        {
            (HO, 0x0400): 0x0003,
            (HO, 0x0401): 0x8820,  # U L1 231.456 V
            (HO, 0x0402): 0x0003,
            (HO, 0x0403): 0x8271,  # U L2 230.001 V
            (HO, 0x0404): 0x0003,
            (HO, 0x0405): 0x826F,  # U L3 229.999 V
            (HO, 0x0410): 0xFFFF,
            (HO, 0x0411): 0xEF1F,  # I L1 -4.321 A
            (HO, 0x0412): 0x0000,
            (HO, 0x0413): 0x03E8,  # I L2 1.000 A
            (HO, 0x0414): 0x0000,
            (HO, 0x0415): 0x000C,  # I L3 0.012 A
            (HO, 0x0420): 0xFFFF,
            (HO, 0x0421): 0xFD12,  # P total -750 W: exporting
            (HO, 0x0435): 0x01F4,  # f 50.0 Hz
            (HO, 0x010E): 0x000F,
            (HO, 0x010F): 0x1206,  # total forward energy 9876.54 kWh
            (HO, 0x118A): 0x0000,
            (HO, 0x118B): 0x3039,  # total reverse energy 123.45 kWh
        },
        {
            "voltage_l1": 231.456,
            "voltage_l2": 230.001,
            "voltage_l3": 229.999,
            "current_l1": -4.321,
            "current_l2": 1.0,
            "current_l3": 0.012,
            "power": -750.0,
            "frequency": 50.0,
            "energy_import": 9_876_540.0,
            "energy_export": 123_450.0,
        },
    ),
    Example(
        "eastron-sdm630",
        {
            (IN, 0x0000): 0x4367,
            (IN, 0x0001): 0x8000,  # 30001 U L1 231.5 V
            (IN, 0x0002): 0x4366,
            (IN, 0x0003): 0x4000,  # 30003 U L2
            (IN, 0x0004): 0x4365,
            (IN, 0x0005): 0xC000,  # 30005 U L3
            (IN, 0x0006): 0x40B0,
            (IN, 0x0007): 0x0000,  # 30007 I L1 5.5 A
            (IN, 0x0008): 0xBFA0,
            (IN, 0x0009): 0x0000,  # 30009 I L2 -1.25 A
            (IN, 0x000A): 0x3F40,
            (IN, 0x000B): 0x0000,  # 30011 I L3 0.75 A
            (IN, 0x000C): 0x449C,
            (IN, 0x000D): 0x5000,  # 30013 P L1 1250.5 W
            (IN, 0x000E): 0xC38F,
            (IN, 0x000F): 0xE000,  # 30015 P L2 -287.75 W
            (IN, 0x0010): 0x432C,
            (IN, 0x0011): 0x4000,  # 30017 P L3 172.25 W
            (IN, 0x0034): 0x448D,
            (IN, 0x0035): 0xE000,  # 30053 total system power 1135 W
            (IN, 0x0046): 0x4248,
            (IN, 0x0047): 0x2000,  # 30071 f 50.03125 Hz
            (IN, 0x0048): 0x46B7,
            (IN, 0x0049): 0x4180,  # 30073 import 23456.75 kWh
            (IN, 0x004A): 0x449A,
            (IN, 0x004B): 0x5000,  # 30075 export 1234.5 kWh
        },
        {
            "voltage_l1": 231.5,
            "voltage_l2": 230.25,
            "voltage_l3": 229.75,
            "current_l1": 5.5,
            "current_l2": -1.25,
            "current_l3": 0.75,
            "power_l1": 1250.5,
            "power_l2": -287.75,
            "power_l3": 172.25,
            "power": 1135.0,
            "frequency": 50.03125,
            "energy_import": 23_456_750.0,
            "energy_export": 1_234_500.0,
        },
    ),
    Example(
        "eastron-sdm72dm-v1",
        {
            (IN, 0x0034): 0xC51C,
            (IN, 0x0035): 0x4800,  # 30053 total power -2500.5 W
            (IN, 0x0048): 0x42C8,
            (IN, 0x0049): 0x8000,  # 30073 import 100.25 kWh
            (IN, 0x004A): 0x40E4,
            (IN, 0x004B): 0x0000,  # 30075 export 7.125 kWh
        },
        {"power": -2500.5, "energy_import": 100_250.0, "energy_export": 7125.0},
    ),
    Example(
        "eastron-sdm72dm-v2",
        {
            (IN, 0x0000): 0x4368,
            (IN, 0x0001): 0x0000,  # U L1
            (IN, 0x0002): 0x4367,
            (IN, 0x0003): 0x8000,  # U L2
            (IN, 0x0004): 0x4366,
            (IN, 0x0005): 0x8000,  # U L3
            (IN, 0x0006): 0x4124,
            (IN, 0x0007): 0x0000,  # I L1
            (IN, 0x0008): 0x411C,
            (IN, 0x0009): 0x0000,  # I L2
            (IN, 0x000A): 0x4128,
            (IN, 0x000B): 0x0000,  # I L3
            (IN, 0x000C): 0x4514,
            (IN, 0x000D): 0xA000,  # P L1
            (IN, 0x000E): 0x450D,
            (IN, 0x000F): 0x1000,  # P L2
            (IN, 0x0010): 0x4517,
            (IN, 0x0011): 0x4400,  # P L3
            (IN, 0x0034): 0x45DC,
            (IN, 0x0035): 0x7A00,  # total power W
            (IN, 0x0046): 0x4247,
            (IN, 0x0047): 0xC000,  # f Hz
            (IN, 0x0048): 0x477F,
            (IN, 0x0049): 0x9880,  # import kWh
            (IN, 0x004A): 0x0000,
            (IN, 0x004B): 0x0000,  # export kWh
        },
        {
            "voltage_l1": 232.0,
            "voltage_l2": 231.5,
            "voltage_l3": 230.5,
            "current_l1": 10.25,
            "current_l2": 9.75,
            "current_l3": 10.5,
            "power_l1": 2378.0,
            "power_l2": 2257.0,
            "power_l3": 2420.25,
            "power": 7055.25,
            "frequency": 49.9375,
            "energy_import": 65_432_500.0,
            "energy_export": 0.0,
        },
    ),
    Example(
        "eastron-sdm220",
        {
            (IN, 0x0000): 0x4365,
            (IN, 0x0001): 0x8000,  # 30001 U 229.5 V
            (IN, 0x0006): 0x40E8,
            (IN, 0x0007): 0x0000,  # 30007 I 7.25 A
            (IN, 0x000C): 0x44CF,
            (IN, 0x000D): 0xF000,  # 30013 P 1663.5 W
            (IN, 0x0046): 0x4247,
            (IN, 0x0047): 0xE000,  # 30071 f Hz
            (IN, 0x0048): 0x45A9,
            (IN, 0x0049): 0xC200,  # 30073 import kWh
            (IN, 0x004A): 0x3F00,
            (IN, 0x004B): 0x0000,  # 30075 export kWh
        },
        {
            "voltage": 229.5,
            "current": 7.25,
            "power": 1663.5,
            "frequency": 49.96875,
            "energy_import": 5_432_250.0,
            "energy_export": 500.0,
        },
    ),
    # Eastron SDM120-Modbus protocol: the SDM220's input registers, float32 high word first; a PV plug
    # behind it feeds back (power below zero)
    Example(
        "eastron-sdm120",
        {
            (IN, 0x0000): 0x4367,
            (IN, 0x0001): 0x4000,  # 30001 U 231.25 V
            (IN, 0x0006): 0x4060,
            (IN, 0x0007): 0x0000,  # 30007 I 3.5 A
            (IN, 0x000C): 0xC449,
            (IN, 0x000D): 0x6000,  # 30013 P -805.5 W (exporting)
            (IN, 0x0046): 0x4248,
            (IN, 0x0047): 0x4000,  # 30071 f 50.0625 Hz
            (IN, 0x0048): 0x449A,
            (IN, 0x0049): 0x5000,  # 30073 import 1234.5 kWh
            (IN, 0x004A): 0x42AF,
            (IN, 0x004B): 0x8000,  # 30075 export 87.75 kWh
        },
        {
            "voltage": 231.25,
            "current": 3.5,
            "power": -805.5,
            "frequency": 50.0625,
            "energy_import": 1_234_500.0,
            "energy_export": 87_750.0,
        },
    ),
    Example(
        "abb-b23-b24",
        {
            (HO, 0x5000): 0x0000,
            (HO, 0x5001): 0x0000,
            (HO, 0x5002): 0x0012,
            (HO, 0x5003): 0xD687,  # active import 1234567 x 0.01 kWh
            (HO, 0x5004): 0x0000,
            (HO, 0x5005): 0x0000,
            (HO, 0x5006): 0x0001,
            (HO, 0x5007): 0x81CD,  # active export 98765 x 0.01 kWh
            (HO, 0x5B00): 0x0000,
            (HO, 0x5B01): 0x0900,  # U L1 0.1 V
            (HO, 0x5B02): 0x0000,
            (HO, 0x5B03): 0x0907,  # U L2
            (HO, 0x5B04): 0x0000,
            (HO, 0x5B05): 0x08FB,  # U L3
            (HO, 0x5B0C): 0x0000,
            (HO, 0x5B0D): 0x05FE,  # I L1 0.01 A
            (HO, 0x5B0E): 0x0000,
            (HO, 0x5B0F): 0x000C,  # I L2
            (HO, 0x5B10): 0x0000,
            (HO, 0x5B11): 0x0000,  # I L3
            (HO, 0x5B14): 0xFFFE,
            (HO, 0x5B15): 0x1DC0,  # P total -123456 x 0.01 W
            (HO, 0x5B16): 0xFFFD,
            (HO, 0x5B17): 0xB610,  # P L1
            (HO, 0x5B18): 0x0000,
            (HO, 0x5B19): 0x4E20,  # P L2
            (HO, 0x5B1A): 0x0000,
            (HO, 0x5B1B): 0x1990,  # P L3
            (HO, 0x5B2C): 0x1387,  # f 0.01 Hz
        },
        {
            "energy_import": 12_345_670.0,
            "energy_export": 987_650.0,
            "voltage_l1": 230.4,
            "voltage_l2": 231.1,
            "voltage_l3": 229.9,
            "current_l1": 15.34,
            "current_l2": 0.12,
            "current_l3": 0.0,
            "power": -1234.56,
            "power_l1": -1500.0,
            "power_l2": 200.0,
            "power_l3": 65.44,
            "frequency": 49.99,
        },
    ),
    Example(
        "carlo-gavazzi-em24",
        {
            (IN, 0x0000): 0x090B,
            (IN, 0x0001): 0x0000,  # V L1-N 0.1 V, low word first
            (IN, 0x0002): 0x08FE,
            (IN, 0x0003): 0x0000,  # V L2-N
            (IN, 0x0004): 0x08FA,
            (IN, 0x0005): 0x0000,  # V L3-N
            (IN, 0x000C): 0x1403,
            (IN, 0x000D): 0x0000,  # A L1 0.001 A
            (IN, 0x000E): 0xFF06,
            (IN, 0x000F): 0xFFFF,  # A L2
            (IN, 0x0010): 0x03E8,
            (IN, 0x0011): 0x0000,  # A L3
            (IN, 0x0012): 0x2E31,
            (IN, 0x0013): 0x0000,  # W L1 0.1 W
            (IN, 0x0014): 0xFDC0,
            (IN, 0x0015): 0xFFFF,  # W L2
            (IN, 0x0016): 0x08FD,
            (IN, 0x0017): 0x0000,  # W L3
            (IN, 0x0028): 0x34EE,
            (IN, 0x0029): 0x0000,  # W sys 0.1 W
            (IN, 0x0037): 0x01F4,  # Hz 0.1 Hz
            (IN, 0x0042): 0xE240,
            (IN, 0x0043): 0x0001,  # kWh (+) TOT 0.1 kWh
            (IN, 0x005C): 0x0315,
            (IN, 0x005D): 0x0000,  # kWh (-) TOT 0.1 kWh
        },
        {
            "voltage_l1": 231.5,
            "voltage_l2": 230.2,
            "voltage_l3": 229.8,
            "current_l1": 5.123,
            "current_l2": -0.25,
            "current_l3": 1.0,
            "power_l1": 1182.5,
            "power_l2": -57.6,
            "power_l3": 230.1,
            "power": 1355.0,
            "frequency": 50.0,
            "energy_import": 12_345_600.0,
            "energy_export": 78900.0,
        },
    ),
    Example(
        "carlo-gavazzi-ex300",
        {
            (IN, 0x0000): 0x090B,
            (IN, 0x0001): 0x0000,  # V L1-N 0.1 V, low word first
            (IN, 0x0002): 0x08FE,
            (IN, 0x0003): 0x0000,  # V L2-N
            (IN, 0x0004): 0x08FA,
            (IN, 0x0005): 0x0000,  # V L3-N
            (IN, 0x000C): 0x1403,
            (IN, 0x000D): 0x0000,  # A L1 0.001 A
            (IN, 0x000E): 0xFF06,
            (IN, 0x000F): 0xFFFF,  # A L2
            (IN, 0x0010): 0x03E8,
            (IN, 0x0011): 0x0000,  # A L3
            (IN, 0x0012): 0x2E31,
            (IN, 0x0013): 0x0000,  # W L1 0.1 W
            (IN, 0x0014): 0xFDC0,
            (IN, 0x0015): 0xFFFF,  # W L2
            (IN, 0x0016): 0x08FD,
            (IN, 0x0017): 0x0000,  # W L3
            (IN, 0x0028): 0x34EE,
            (IN, 0x0029): 0x0000,  # W sys 0.1 W
            (IN, 0x0033): 0x01F3,  # Hz 0.1 Hz
            (IN, 0x0034): 0xFBF1,
            (IN, 0x0035): 0x0009,  # kWh (+) TOT 0.1 kWh
            (IN, 0x004E): 0x10E1,
            (IN, 0x004F): 0x0000,  # kWh (-) TOT 0.1 kWh
        },
        {
            "voltage_l1": 231.5,
            "voltage_l2": 230.2,
            "voltage_l3": 229.8,
            "current_l1": 5.123,
            "current_l2": -0.25,
            "current_l3": 1.0,
            "power_l1": 1182.5,
            "power_l2": -57.6,
            "power_l3": 230.1,
            "power": 1355.0,
            "frequency": 49.9,
            "energy_import": 65_432_100.0,
            "energy_export": 432_100.0,
        },
    ),
    Example(
        "janitza-umg-b",
        {
            (HO, 19000): 0x4367,
            (HO, 19001): 0x2000,  # U L1-N V
            (HO, 19002): 0x4366,
            (HO, 19003): 0xE000,  # U L2-N
            (HO, 19004): 0x4365,
            (HO, 19005): 0x8000,  # U L3-N
            (HO, 19012): 0x4148,
            (HO, 19013): 0x0000,  # I L1 A
            (HO, 19014): 0xC070,
            (HO, 19015): 0x0000,  # I L2
            (HO, 19016): 0x3E80,
            (HO, 19017): 0x0000,  # I L3
            (HO, 19020): 0x4533,
            (HO, 19021): 0xB800,  # P L1 W
            (HO, 19022): 0xC457,
            (HO, 19023): 0x1000,  # P L2
            (HO, 19024): 0x425C,
            (HO, 19025): 0x0000,  # P L3
            (HO, 19026): 0x4501,
            (HO, 19027): 0x6400,  # P sum W
            (HO, 19050): 0x4248,
            (HO, 19051): 0x0000,  # f Hz
            (HO, 19068): 0x4996,
            (HO, 19069): 0xB438,  # active energy consumed Wh
            (HO, 19076): 0x4AE9,
            (HO, 19077): 0x9762,  # active energy delivered Wh
        },
        {
            "voltage_l1": 231.125,
            "voltage_l2": 230.875,
            "voltage_l3": 229.5,
            "current_l1": 12.5,
            "current_l2": -3.75,
            "current_l3": 0.25,
            "power_l1": 2875.5,
            "power_l2": -860.25,
            "power_l3": 55.0,
            "power": 2070.25,
            "frequency": 50.0,
            "energy_import": 1_234_567.0,
            "energy_export": 7_654_321.0,
        },
    ),
    Example(
        "siemens-pac2200",
        {
            (IN, 1): 0x4367,
            (IN, 2): 0xC000,  # U a-n V
            (IN, 3): 0x4366,
            (IN, 4): 0x8000,  # U b-n
            (IN, 5): 0x4365,
            (IN, 6): 0x4000,  # U c-n
            (IN, 13): 0x4184,
            (IN, 14): 0x0000,  # I a A
            (IN, 15): 0xC010,
            (IN, 16): 0x0000,  # I b
            (IN, 17): 0x3F00,
            (IN, 18): 0x0000,  # I c
            (IN, 25): 0x456D,
            (IN, 26): 0x8800,  # P a W
            (IN, 27): 0xC400,
            (IN, 28): 0x3000,  # P b
            (IN, 29): 0x42E4,
            (IN, 30): 0x8000,  # P c
            (IN, 65): 0x4554,
            (IN, 66): 0xA000,  # total active power W
            (IN, 801): 0x419D,
            (IN, 802): 0x6F34,
            (IN, 803): 0x5600,
            (IN, 804): 0x0000,  # active energy import tariff 1 Wh (double)
            (IN, 809): 0x412E,
            (IN, 810): 0x240C,
            (IN, 811): 0x8000,
            (IN, 812): 0x0000,  # active energy export tariff 1 Wh (double)
        },
        {
            "voltage_l1": 231.75,
            "voltage_l2": 230.5,
            "voltage_l3": 229.25,
            "current_l1": 16.5,
            "current_l2": -2.25,
            "current_l3": 0.5,
            "power_l1": 3800.5,
            "power_l2": -512.75,
            "power_l3": 114.25,
            "power": 3402.0,
            "energy_import": 123_456_789.5,
            "energy_export": 987_654.25,
        },
    ),
    Example(
        "carlo-gavazzi-ex100",
        {
            (IN, 0x0000): 0x08F9,
            (IN, 0x0001): 0x0000,  # V 2297 x 0.1 V, LSW first
            (IN, 0x0002): 0xE719,
            (IN, 0x0003): 0xFFFF,  # A -6375 x 0.001 A
            (IN, 0x0004): 0xC6C6,
            (IN, 0x0005): 0xFFFF,  # W -14650 x 0.1 W: exporting
            (IN, 0x0010): 0xB26E,
            (IN, 0x0011): 0x0000,  # kWh (+) TOT 45678 x 0.1 kWh
            (IN, 0x0020): 0x2AFF,
            (IN, 0x0021): 0x0001,  # kWh (-) TOT 76543 x 0.1 kWh
        },
        {
            "voltage": 229.7,
            "current": -6.375,
            "power": -1465.0,
            "energy_import": 4_567_800.0,
            "energy_export": 7_654_300.0,
        },
    ),
    Example(
        "siemens-pac1600",
        {
            (IN, 1): 0x0000,
            (IN, 2): 0x5A69,  # U L1-N 23145 x 0.01 V
            (IN, 3): 0x0000,
            (IN, 4): 0x59E2,  # U L2-N 23010
            (IN, 5): 0x0000,
            (IN, 6): 0x59CB,  # U L3-N 22987
            (IN, 7): 0x0000,
            (IN, 8): 0xC822,  # I L1 51234 x 0.0001 A
            (IN, 9): 0x0000,
            (IN, 10): 0x03E8,  # I L2 1000
            (IN, 11): 0x0000,
            (IN, 12): 0x0000,  # I L3 0
            (IN, 57): 0xFFFC,
            (IN, 58): 0x2F25,  # total active power -250075 x 0.01 W: exporting
            (IN, 6687): 0x0096,
            (IN, 6688): 0xB43F,  # active energy import 9876543 Wh
        },
        {
            "voltage_l1": 231.45,
            "voltage_l2": 230.1,
            "voltage_l3": 229.87,
            "current_l1": 5.1234,
            "current_l2": 0.1,
            "current_l3": 0.0,
            "power": -2500.75,
            "energy_import": 9_876_543.0,
        },
    ),
    Example(
        "huawei-power-sensor",
        {
            (HO, 37101): 0x0000,
            (HO, 37102): 0x0908,  # phase A voltage 2312 x 0.1 V
            (HO, 37103): 0x0000,
            (HO, 37104): 0x0901,  # phase B 2305
            (HO, 37105): 0x0000,
            (HO, 37106): 0x08FA,  # phase C 2298
            (HO, 37113): 0x0000,
            (HO, 37114): 0x05DC,  # active power +1500 W: Huawei's sign, + feeding the grid
            (HO, 37119): 0x0012,
            (HO, 37120): 0xD687,  # grid exported energy 1234567 x 0.01 kWh
            (HO, 37121): 0x0074,
            (HO, 37122): 0xCBB1,  # grid accumulated (imported) energy 7654321 x 0.01 kWh
        },
        {
            "voltage_l1": 231.2,
            "voltage_l2": 230.5,
            "voltage_l3": 229.8,
            "power": -1500.0,
            "energy_export": 12_345_670.0,
            "energy_import": 76_543_210.0,
        },
    ),
]

COMMON_KSEM = dict(enumerate([*text("KOSTAL", 16), *text("KSEM", 16), *text("", 8), *text("2.6.1", 8)]))
METER_SUNSPEC_EXAMPLES = [
    SunSpecExample(
        "kostal-ksem",
        71,
        40000,
        [
            (1, 66, COMMON_KSEM),
            (
                203,  # wye-connect three-phase meter, int + SF; offsets as in the SunSpec meter model
                105,
                {
                    0: 1742,  # A: 17.42 A total
                    1: 512,  # AphA 5.12 A
                    2: 230,  # AphB 2.30 A
                    3: 1000,  # AphC 10.00 A
                    4: 0xFFFE,  # A_SF -2
                    5: 2305,  # PhV 230.5 V average
                    6: 2312,  # PhVphA 231.2 V
                    7: 2305,  # PhVphB 230.5 V
                    8: 2298,  # PhVphC 229.8 V
                    13: 0xFFFF,  # V_SF -1
                    14: 5002,  # Hz 50.02
                    15: 0xFFFE,  # Hz_SF -2
                    16: 0xFB2E,  # W -1234: exporting
                    17: 0xFA24,  # WphA -1500 W
                    18: 0x0096,  # WphB 150 W
                    19: 0x0074,  # WphC 116 W
                    20: 0x0000,  # W_SF 0
                    31: 0xFFA1,  # PF -95 %
                    35: 0x0000,  # PF_SF 0
                    36: 0x0012,
                    37: 0xD687,  # TotWhExp 1234567 Wh
                    44: 0x0074,
                    45: 0xCBB1,  # TotWhImp 7654321 Wh
                    52: 0x0000,  # TotWh_SF 0
                },
            ),
        ],
        {
            "current_l1": 5.12,
            "current_l2": 2.3,
            "current_l3": 10.0,
            "voltage_l1": 231.2,
            "voltage_l2": 230.5,
            "voltage_l3": 229.8,
            "frequency": 50.02,
            "power": -1234.0,
            "power_l1": -1500.0,
            "power_l2": 150.0,
            "power_l3": 116.0,
            "power_factor": -0.95,
            "energy_export": 1_234_567.0,
            "energy_import": 7_654_321.0,
        },
    )
]

# The serial settings a meter leaves the factory with (entry id -> baud rate, parity), as its manual
# states them: an entry's connection is the default a site file falls back to, so a wrong one is a
# meter that never answers until the installer guesses.
SERIAL_DEFAULTS = {
    # Eastron SDM120-Modbus manual, "RS485 set-up": 2400 baud default (1200/2400/4800/9600), parity none
    "eastron-sdm120": (2400, "N")
}
