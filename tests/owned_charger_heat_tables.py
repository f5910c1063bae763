"""Hand-written example tables of the EV chargers, heat pumps and heating rods people own (issue 17), for
``test_catalog_owned_chargers_heat.py``: raw words as each device's documentation lays them out, with
example values, the readings those stand for (W, Wh, A, V, °C) and the words a command must write.
Float32 words are the IEEE-754 encodings of the example values (high word first unless the device says
low word first). Nothing here comes from the catalogue entries.
"""

from __future__ import annotations

from owned_harness import Example

HO, IN = "holding", "input"

CHARGER_EXAMPLES = [
    Example(
        "abb-terra-ac",
        {  # ABB Terra AC: u32 high word first
            (HO, 0x400E): 0x0000,
            (HO, 0x400F): 0x3E80,  # current limit in force 16000 mA
            (HO, 0x4010): 0x0000,
            (HO, 0x4011): 0x3DFE,  # I L1 15870 mA
            (HO, 0x4012): 0x0000,
            (HO, 0x4013): 0x3E8A,  # I L2 16010 mA
            (HO, 0x4014): 0x0000,
            (HO, 0x4015): 0x3E3A,  # I L3 15930 mA
            (HO, 0x4016): 0x0000,
            (HO, 0x4017): 0x090A,  # U L1 2314 x 0.1 V
            (HO, 0x4018): 0x0000,
            (HO, 0x4019): 0x08FA,  # U L2 2298 x 0.1 V
            (HO, 0x401A): 0x0000,
            (HO, 0x401B): 0x0916,  # U L3 2326 x 0.1 V
            (HO, 0x401C): 0x0000,
            (HO, 0x401D): 0x2B1A,  # active power 11034 W
            (HO, 0x4100): 0x0000,
            (HO, 0x4101): 0x3E80,  # set current limit (write only) 16000 mA
        },
        {
            "current_limit": 16.0,
            "current_l1": 15.87,
            "current_l2": 16.01,
            "current_l3": 15.93,
            "voltage_l1": 231.4,
            "voltage_l2": 229.8,
            "voltage_l3": 232.6,
            "power": 11034.0,
        },
        [
            ("current_limit", 10.0, {0x4100: 0x0000, 0x4101: 0x2710}),  # 10000 mA
            ("enable", 0.0, {0x4100: 0x0000, 0x4101: 0x0000}),
            ("enable", 1.0, {0x4100: 0x0000, 0x4101: 0x1770}),  # resumes at 6000 mA
        ],
    ),
    Example(
        "schneider-evlink-pro-ac",
        {  # EVlink Pro AC: float32 and u64 LOW word first
            (HO, 1): 9,  # EV state 9: charging
            (HO, 2999): 0x6666,
            (HO, 3000): 0x417E,  # I L1 15.9 A
            (HO, 3001): 0xCCCD,
            (HO, 3002): 0x4180,  # I L2 16.1 A
            (HO, 3003): 0xCCCD,
            (HO, 3004): 0x417C,  # I L3 15.8 A
            (HO, 3027): 0x3333,
            (HO, 3028): 0x4367,  # U L1 231.2 V
            (HO, 3029): 0xE666,
            (HO, 3030): 0x4365,  # U L2 229.9 V
            (HO, 3031): 0x6666,
            (HO, 3032): 0x4368,  # U L3 232.4 V
            (HO, 3059): 0xA3D7,
            (HO, 3060): 0x4130,  # total active power 11.04 kW
            (HO, 3203): 0x614E,
            (HO, 3204): 0x00BC,
            (HO, 3205): 0x0000,
            (HO, 3206): 0x0000,  # total active energy 12345678 Wh
            (HO, 4000): 0,  # life bit, cleared by the charger
            (HO, 4004): 16,  # current setpoint 16 A
        },
        {
            "state": 9.0,
            "current_l1": 15.9,
            "current_l2": 16.1,
            "current_l3": 15.8,
            "voltage_l1": 231.2,
            "voltage_l2": 229.9,
            "voltage_l3": 232.4,
            "power": 11040.0,
            "energy": 12_345_678.0,
            "current_limit": 16.0,
        },
        [
            ("current_limit", 10.0, {4004: 10, 4000: 1}),
            ("enable", 0.0, {4004: 0, 4000: 1}),
            ("enable", 1.0, {4004: 6, 4000: 1}),
        ],
    ),
    Example(
        "innogy-ebox",
        {  # innogy eBox: float32 high word first
            (IN, 301): 0x4366,
            (IN, 302): 0x8000,  # U L1 230.5 V
            (IN, 303): 0x4367,
            (IN, 304): 0x0000,  # U L2 231.0 V
            (IN, 305): 0x4365,
            (IN, 306): 0x8000,  # U L3 229.5 V
            (IN, 307): 0x44BE,
            (IN, 308): 0x7800,  # total energy 1523.75 kWh
            (IN, 1006): 0x4128,
            (IN, 1007): 0x0000,  # I L1 10.5 A
            (IN, 1008): 0x4124,
            (IN, 1009): 0x0000,  # I L2 10.25 A
            (IN, 1010): 0x412C,
            (IN, 1011): 0x0000,  # I L3 10.75 A
            (HO, 1012): 0x4180,
            (HO, 1013): 0x0000,  # max current L1 16.0 A
            (HO, 1014): 0x4180,
            (HO, 1015): 0x0000,  # L2
            (HO, 1016): 0x4180,
            (HO, 1017): 0x0000,  # L3
        },
        {
            "voltage_l1": 230.5,
            "voltage_l2": 231.0,
            "voltage_l3": 229.5,
            "energy": 1_523_750.0,
            "current_l1": 10.5,
            "current_l2": 10.25,
            "current_l3": 10.75,
            "current_limit": 16.0,
        },
        [
            ("current_limit", 10.0, {1012: 0x4120, 1013: 0, 1014: 0x4120, 1015: 0, 1016: 0x4120, 1017: 0}),
            ("enable", 0.0, {1012: 0, 1013: 0, 1014: 0, 1015: 0, 1016: 0, 1017: 0}),
            ("enable", 1.0, {1012: 0x40C0, 1013: 0, 1014: 0x40C0, 1015: 0, 1016: 0x40C0, 1017: 0}),  # 6.0 A
        ],
    ),
    Example(
        "phoenix-charx-sec",
        {  # CHARX SEC, charge controller 1 (block at 1000); s32/s64 high word first
            (HO, 1232): 0x0003,
            (HO, 1233): 0x8470,  # U L1 230512 mV
            (HO, 1234): 0x0003,
            (HO, 1235): 0x865C,  # U L2 231004 mV
            (HO, 1236): 0x0003,
            (HO, 1237): 0x8263,  # U L3 229987 mV
            (HO, 1238): 0x0000,
            (HO, 1239): 0x3DFE,  # I L1 15870 mA
            (HO, 1240): 0x0000,
            (HO, 1241): 0x3E8A,  # I L2 16010 mA
            (HO, 1242): 0x0000,
            (HO, 1243): 0x3E3A,  # I L3 15930 mA
            (HO, 1244): 0x00A7,
            (HO, 1245): 0xA886,  # power 10987654 mW
            (HO, 1250): 0x0000,
            (HO, 1251): 0x0000,
            (HO, 1252): 0x0045,
            (HO, 1253): 0xB352,  # energy 4567890 Wh (s64)
            (HO, 1264): 57,  # SoC 57 %
            (HO, 1301): 16,  # max current 16 A
        },
        {
            "voltage_l1": 230.512,
            "voltage_l2": 231.004,
            "voltage_l3": 229.987,
            "current_l1": 15.87,
            "current_l2": 16.01,
            "current_l3": 15.93,
            "power": 10_987.654,
            "energy": 4_567_890.0,
            "soc": 57.0,
            "current_limit": 16.0,
        },
        [("current_limit", 13.0, {1301: 13}), ("enable", 0.0, {1301: 0}), ("enable", 1.0, {1301: 6})],
    ),
    Example(
        "em2go-home",
        {  # EM2GO: holding registers, phase values every second register
            (HO, 0): 3,  # status 3
            (HO, 6): 160,
            (HO, 8): 159,
            (HO, 10): 161,  # currents 16.0 / 15.9 / 16.1 A
            (HO, 12): 0x0000,
            (HO, 13): 0x2B20,  # power 11040 W
            (HO, 28): 0x0000,
            (HO, 29): 0x3039,  # total energy 12345 x 0.1 kWh
            (HO, 91): 160,  # current limit 16.0 A
            (HO, 95): 1,  # charge command 1: start
            (HO, 109): 2305,
            (HO, 111): 2311,
            (HO, 113): 2298,  # voltages 0.1 V
            (HO, 200): 3,  # three phases
        },
        {
            "state": 3.0,
            "current_l1": 16.0,
            "current_l2": 15.9,
            "current_l3": 16.1,
            "power": 11040.0,
            "energy": 1_234_500.0,
            "current_limit": 16.0,
            "voltage_l1": 230.5,
            "voltage_l2": 231.1,
            "voltage_l3": 229.8,
            "phases": 3.0,
        },
        [
            ("current_limit", 8.5, {91: 85}),
            ("enable", 0.0, {95: 2}),
            ("enable", 1.0, {95: 1}),
            ("phases", 1.0, {200: 1}),
        ],
    ),
    Example(
        "kse-wallbox",
        {
            (HO, 0x03): 16,  # external current limit 16 A
            (IN, 0x10): 4,  # state machine state 4
            (IN, 0x11): 230,
            (IN, 0x12): 231,
            (IN, 0x13): 229,  # voltages V
            (IN, 0x14): 15980,
            (IN, 0x15): 16020,
            (IN, 0x16): 16110,  # currents mA
            (IN, 0x18): 11020,  # actual charging power W
            (IN, 0x60): 0x0096,
            (IN, 0x61): 0xB43F,  # energy 9876543 Wh
            (HO, 0x35): 0,  # relay mode: three phases
        },
        {
            "current_limit": 16.0,
            "state": 4.0,
            "voltage_l1": 230.0,
            "voltage_l2": 231.0,
            "voltage_l3": 229.0,
            "current_l1": 15.98,
            "current_l2": 16.02,
            "current_l3": 16.11,
            "power": 11020.0,
            "energy": 9_876_543.0,
        },
        [
            ("current_limit", 10.0, {0x03: 10}),
            ("enable", 0.0, {0x03: 0}),
            ("enable", 1.0, {0x03: 6}),
            ("phases", 1.0, {0x35: 1}),
            ("phases", 3.0, {0x35: 0}),
        ],
    ),
    Example(
        "weidmueller-ac-smart",
        {  # AC SMART: u32 LOW word first
            (HO, 318): 1,  # three phases
            (HO, 400): 0x82D4,
            (HO, 401): 0x0003,  # U L1 230100 mV
            (HO, 402): 0x8784,
            (HO, 403): 0x0003,  # U L2 231300 mV
            (HO, 404): 0x8144,
            (HO, 405): 0x0003,  # U L3 229700 mV
            (HO, 406): 0x3E94,
            (HO, 407): 0x0000,  # I L1 16020 mA
            (HO, 408): 0x3E6C,
            (HO, 409): 0x0000,  # I L2 15980 mA
            (HO, 410): 0x3EEE,
            (HO, 411): 0x0000,  # I L3 16110 mA
            (HO, 418): 0x9D3C,
            (HO, 419): 0x00A8,  # active power 11050300 mW
            (HO, 457): 0xCBB1,
            (HO, 458): 0x0074,  # consumed energy 7654321 Wh
            (HO, 11050): 0x0000,
            (HO, 11051): 0x0000,  # timeout (ms), expired
            (HO, 11052): 16,  # current limit 16 A
        },
        {
            "voltage_l1": 230.1,
            "voltage_l2": 231.3,
            "voltage_l3": 229.7,
            "current_l1": 16.02,
            "current_l2": 15.98,
            "current_l3": 16.11,
            "power": 11_050.3,
            "energy": 7_654_321.0,
            "current_limit": 16.0,
        },
        [
            ("current_limit", 12.0, {11052: 12, 11050: 0x0000, 11051: 0xEA60}),  # timeout 60000 ms
            ("enable", 0.0, {11052: 0}),
            ("enable", 1.0, {11052: 6}),
            ("phases", 1.0, {318: 0}),
            ("phases", 3.0, {318: 1}),
        ],
    ),
    Example(
        "sungrow-ac011e",
        {  # AC011E: u32 LOW word first
            (IN, 21299): 0x614E,
            (IN, 21300): 0x00BC,  # total energy 12345678 Wh
            (IN, 21307): 0x1B58,
            (IN, 21308): 0x0000,  # active power 7000 W
            (IN, 21316): 3,  # state 3: charging
            (HO, 21202): 160,  # output current 16.0 A (0.1 A)
            (HO, 21203): 0,  # three phases
            (HO, 21211): 0,  # remote control: start
        },
        {"energy": 12_345_678.0, "power": 7000.0, "state": 3.0, "current_limit": 16.0},
        [
            ("current_limit", 7.5, {21202: 75}),
            ("enable", 0.0, {21211: 1}),
            ("enable", 1.0, {21211: 0}),
            ("phases", 1.0, {21203: 1}),
            ("phases", 3.0, {21203: 0}),
        ],
    ),
    Example(
        "solax-x3-evc",
        {
            (IN, 0x0000): 23012,
            (IN, 0x0001): 23105,
            (IN, 0x0002): 22987,  # voltages 0.01 V
            (IN, 0x0004): 1598,
            (IN, 0x0005): 1602,
            (IN, 0x0006): 1611,  # currents 0.01 A
            (IN, 0x000B): 11020,  # active power 11020 W
            (IN, 0x0010): 0xA7F8,
            (IN, 0x0011): 0x0000,  # total energy 43000 x 0.1 kWh, low word first
            (IN, 0x001D): 2,  # state 2: charging
            (HO, 0x0627): 4,  # command: start
            (HO, 0x0628): 1600,  # max current 16.00 A
        },
        {
            "voltage_l1": 230.12,
            "voltage_l2": 231.05,
            "voltage_l3": 229.87,
            "current_l1": 15.98,
            "current_l2": 16.02,
            "current_l3": 16.11,
            "power": 11020.0,
            "energy": 4_300_000.0,
            "state": 2.0,
            "current_limit": 16.0,
        },
        [("current_limit", 10.0, {0x0628: 1000}), ("enable", 0.0, {0x0627: 3}), ("enable", 1.0, {0x0627: 4})],
    ),
    Example(
        "siemens-versicharge",
        {
            (HO, 1599): 3,  # EVSE status 3
            (HO, 1602): 0xFFFD,  # internal temperature -3 °C
            (HO, 1633): 1600,  # max current 16.00 A
            (HO, 1651): 231,
            (HO, 1652): 229,
            (HO, 1653): 232,  # voltages V
            (HO, 1662): 3680,
            (HO, 1663): 3650,
            (HO, 1664): 3700,  # phase powers W
            (HO, 1692): 0x05E3,
            (HO, 1693): 0x0A78,  # total energy 98765432 Wh
        },
        {
            "state": 3.0,
            "temperature": -3.0,
            "current_limit": 16.0,
            "voltage_l1": 231.0,
            "voltage_l2": 229.0,
            "voltage_l3": 232.0,
            "power_l1": 3680.0,
            "power_l2": 3650.0,
            "power_l3": 3700.0,
            "energy": 98_765_432.0,
        },
        [("current_limit", 13.0, {1633: 1300}), ("enable", 0.0, {1633: 0}), ("enable", 1.0, {1633: 600})],
    ),
    Example(
        "obo-wallbox",
        {(HO, 5): 1, (HO, 6): 16, (HO, 11): 2},  # enabled, 16 A, state C (charging)
        {"current_limit": 16.0, "state": 2.0},
        [("current_limit", 9.0, {6: 9}), ("enable", 0.0, {5: 0}), ("enable", 1.0, {5: 1})],
    ),
    Example(
        "bender-cc612",
        {  # eBee / Bender CC612: u32 high word first
            (HO, 212): 0x0000,
            (HO, 213): 0x3E94,  # I L1 16020 mA
            (HO, 214): 0x0000,
            (HO, 215): 0x3E6C,  # I L2 15980 mA
            (HO, 216): 0x0000,
            (HO, 217): 0x3EEE,  # I L3 16110 mA
            (HO, 218): 0x00BC,
            (HO, 219): 0x614E,  # total energy 12345678 Wh
            (HO, 220): 0x0000,
            (HO, 221): 0x2B0C,  # active power 11020 W
            (HO, 222): 0x0000,
            (HO, 223): 231,
            (HO, 224): 0x0000,
            (HO, 225): 229,
            (HO, 226): 0x0000,
            (HO, 227): 232,  # voltages V
            (HO, 730): 64,  # EV SoC 64 %
            (HO, 1000): 16,  # HEMS current limit 16 A
        },
        {
            "current_l1": 16.02,
            "current_l2": 15.98,
            "current_l3": 16.11,
            "energy": 12_345_678.0,
            "power": 11020.0,
            "voltage_l1": 231.0,
            "voltage_l2": 229.0,
            "voltage_l3": 232.0,
            "soc": 64.0,
            "current_limit": 16.0,
        },
        [("current_limit", 11.0, {1000: 11}), ("enable", 0.0, {1000: 0}), ("enable", 1.0, {1000: 6})],
    ),
    Example(
        "enovates-eno-one",
        {  # the values of Enovates' own library test (ENO one, Modbus API 1.2)
            (HO, 200): 4234,
            (HO, 201): 4645,
            (HO, 202): 4589,  # currents mA
            (HO, 203): 235,
            (HO, 204): 222,
            (HO, 205): 250,  # voltages V
            (HO, 206): 11000,  # active power total W
            (HO, 216): 0x300F,
            (HO, 217): 0xCAFE,  # active energy import total 806341374 Wh
            (HO, 400): 7000,  # EMS limit 7000 mA
        },
        {
            "current_l1": 4.234,
            "current_l2": 4.645,
            "current_l3": 4.589,
            "voltage_l1": 235.0,
            "voltage_l2": 222.0,
            "voltage_l3": 250.0,
            "power": 11000.0,
            "energy": 806_341_374.0,
            "current_limit": 7.0,
        },
        [("current_limit", 16.0, {400: 16000}), ("enable", 0.0, {400: 0}), ("enable", 1.0, {400: 6000})],
    ),
    Example(
        "dadapower-wallbox",
        {
            (HO, 1000): 1,  # charging allowed
            (HO, 1001): 1600,  # current limit 16.00 A
            (HO, 1002): 3,  # three phases
            (IN, 1003): 23012,
            (IN, 1004): 23105,
            (IN, 1005): 22987,  # voltages 0.01 V
            (IN, 1006): 1598,
            (IN, 1007): 1602,
            (IN, 1008): 1611,  # currents 0.01 A
            (IN, 1009): 0x0000,
            (IN, 1010): 0x2B20,  # active power 11040 W
            (IN, 1016): 0x0C,  # plug state: charging
            (IN, 1025): 0x0000,
            (IN, 1026): 0x0000,
            (IN, 1027): 0x0030,
            (IN, 1028): 0xFEEB,  # total energy 3210987 Wh (u64)
        },
        {
            "voltage_l1": 230.12,
            "voltage_l2": 231.05,
            "voltage_l3": 229.87,
            "current_l1": 15.98,
            "current_l2": 16.02,
            "current_l3": 16.11,
            "power": 11040.0,
            "state": 12.0,
            "energy": 3_210_987.0,
        },
        [
            ("current_limit", 8.0, {1001: 800}),
            ("enable", 0.0, {1000: 0}),
            ("enable", 1.0, {1000: 1}),
            ("phases", 1.0, {1002: 1}),
        ],
    ),
    Example(
        "nrgkick-gen2-modbus",
        {  # NRGkick Gen2: multi-word values LOW word first
            (HO, 194): 160,  # charging current 16.0 A
            (HO, 195): 0,  # not paused
            (HO, 198): 3,  # three phases
            (HO, 199): 0xE32D,
            (HO, 200): 0x0052,
            (HO, 201): 0x0000,
            (HO, 202): 0x0000,  # total charged energy 5432109 Wh
            (HO, 210): 0xA886,
            (HO, 211): 0x00A7,  # total active power 10987654 mW
            (HO, 217): 23012,
            (HO, 218): 23105,
            (HO, 219): 22987,  # voltages 0.01 V
            (HO, 220): 15870,
            (HO, 221): 16010,
            (HO, 222): 15930,  # currents mA
            (HO, 251): 3,  # charging
        },
        {
            "current_limit": 16.0,
            "phases": 3.0,
            "energy": 5_432_109.0,
            "power": 10_987.654,
            "voltage_l1": 230.12,
            "voltage_l2": 231.05,
            "voltage_l3": 229.87,
            "current_l1": 15.87,
            "current_l2": 16.01,
            "current_l3": 15.93,
            "state": 3.0,
        },
        [
            ("current_limit", 10.5, {194: 105}),
            ("enable", 0.0, {195: 1}),
            ("enable", 1.0, {195: 0}),
            ("phases", 1.0, {198: 1}),
        ],
    ),
]

HEAT_EXAMPLES = [
    Example(
        "stiebel-eltron-isg-wpm",
        {  # Stiebel's numbers minus one on the wire
            (IN, 517): 355,  # 518 actual buffer temperature 35.5 °C
            (IN, 521): 482,  # 522 actual DHW temperature 48.2 °C
            (IN, 5000): 2,  # 5001 SG Ready operating state 2: normal
            (HO, 4000): 0,  # 4001 SG Ready off
            (HO, 4001): 0,  # 4002 input 1
            (HO, 4002): 0,  # 4003 input 2
        },
        {"temperature_buffer": 35.5, "temperature_dhw": 48.2, "sgready": 2.0},
        [
            ("sgready", 1.0, {4000: 1, 4001: 0, 4002: 1}),
            ("sgready", 3.0, {4000: 1, 4001: 1, 4002: 0}),
            ("sgready", 4.0, {4000: 1, 4001: 1, 4002: 1}),
            ("sgready", 2.0, {4000: 1, 4001: 0, 4002: 0}),
        ],
    ),
    Example(
        "lambda-eu-l",
        {
            (HO, 102): 0,  # E-Manager actual excess power 0 W
            (HO, 103): 1850,  # actual power consumption 1850 W
            (HO, 2002): 512,  # boiler 1 high temperature 51.2 °C
        },
        {"power": 1850.0, "temperature_dhw": 51.2},
        [("power", 2500.0, {102: 2500}), ("power", 0.0, {102: 0})],
    ),
    Example(
        "idm-navigator",
        {  # Navigator: float32 LOW word first, kW and °C
            (HO, 74): 0x0000,
            (HO, 75): 0x0000,  # PV surplus 0 kW
            (HO, 1014): 0x0000,
            (HO, 1015): 0x4242,  # hot water top 48.5 °C
            (HO, 4122): 0x0000,
            (HO, 4123): 0x3FA0,  # power consumption 1.25 kW
        },
        {"temperature_dhw": 48.5, "power": 1250.0},
        [("power", 3200.0, {74: 0xCCCD, 75: 0x404C})],  # 3.2 kW
    ),
    Example(
        "glen-dimplex-wpm",
        {
            (IN, 3): 0xFFDD,  # outdoor temperature -35 x 0.1 °C
            (IN, 5170): 215,  # electrical power 215 x 10 W
            (HO, 5167): 10,  # Smart_Grid 10: yellow, normal
        },
        {"temperature_outdoor": -3.5, "power": 2150.0},
        [("sgready", 3.0, {5167: 11}), ("sgready", 1.0, {5167: 12}), ("sgready", 2.0, {5167: 10})],
    ),
    Example(
        "askoma-askoheat-plus",
        {
            (IN, 317): 1750,  # power drawn 1750 W
            (IN, 325): 0x4276,
            (IN, 326): 0x0000,  # temperature sensor 0: 61.5 °C
            (HO, 319): 0,  # load setpoint 0 W
        },
        {"power": 1750.0, "temperature": 61.5},
        [("power", 1500.0, {319: 1500}), ("power", 0.0, {319: 0})],
    ),
    Example(
        "xtherma-modbus",
        {
            (HO, 60): 0,  # SG-Ready: no intervention
            (IN, 104): 1,  # SG-Ready status 1: normal
            (IN, 123): 473,  # TW hot water 47.3 °C
            (IN, 140): 0xFF9C,  # TA outdoor -100 x 0.1 °C
            (HO, 177): 215,  # electrical input, whole system, 215 x 10 W
        },
        {"state_sgready": 1.0, "temperature_dhw": 47.3, "temperature_outdoor": -10.0, "power": 2150.0},
        [("sgready", 1.0, {60: 2}), ("sgready", 3.0, {60: 3}), ("sgready", 2.0, {60: 1})],
    ),
]
