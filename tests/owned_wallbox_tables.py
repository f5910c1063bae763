"""Hand-written example tables of the Modbus EV chargers of the first catalogue rounds (issue 17), for
``test_catalog_owned_wallboxes.py``: raw words as each vendor's register description lays them out,
with example values, the readings those stand for (W, Wh, A, V, °C, %) worked out by hand, and the
words each command must write. Float32/float64 words are the IEEE-754 encodings of the example values,
high word first. Nothing here comes from the catalogue entries; each block names its source (the
vendor's register description as the evcc / OpenEMS / nymea drivers cite and implement it).
"""

from __future__ import annotations

from owned_harness import Example

HO, IN = "holding", "input"

# Heidelberg Energy Control register table (EC_ModBus_register_table_20210222.pdf, as evcc heidelberg-ec.go
# reads it): input 5 charging state (7 = C2 charging), 6-8 currents in 0.1 A, 9 PCB temperature s16 in
# 0.1 °C, 10-12 voltages in V, 14 power in W, 17-18 energy u32 in Wh (high word first); holding 257
# watchdog timeout (ms), 261 maximal current in 0.1 A (0 pauses). Walther-Werke basicEVO PRO manual,
# "5. Bus protocol", and the Heidelberg connect.home protocol PDF give the same layout.
HEIDELBERG_WORDS = {
    (IN, 5): 7,  # C2: charging
    (IN, 6): 159,  # I L1 15.9 A
    (IN, 7): 160,  # I L2 16.0 A
    (IN, 8): 158,  # I L3 15.8 A
    (IN, 9): 325,  # PCB temperature 32.5 °C
    (IN, 10): 231,  # U L1 V
    (IN, 11): 229,
    (IN, 12): 232,
    (IN, 14): 11034,  # power W
    (IN, 17): 0x0012,
    (IN, 18): 0xD687,  # energy 1234567 Wh
    (HO, 261): 160,  # max current 16.0 A
}
HEIDELBERG_READINGS = {
    "state": 7.0,
    "current_l1": 15.9,
    "current_l2": 16.0,
    "current_l3": 15.8,
    "temperature": 32.5,
    "voltage_l1": 231.0,
    "voltage_l2": 229.0,
    "voltage_l3": 232.0,
    "power": 11034.0,
    "energy": 1_234_567.0,
}
HEIDELBERG_WRITES: list[tuple[str, float, dict[object, int]]] = [
    ("current_limit", 10.0, {261: 100}),  # 0.1 A steps
    ("enable", 0.0, {261: 0}),
    ("enable", 1.0, {261: 60}),  # resumes at 6.0 A
]

WALLBOX_EXAMPLES = [
    Example(
        "abl-em4",
        {  # ABL eM4 Modbus TCP, connector 1 (evcc abl-em4.go): u32 high word first
            (HO, 0x3001): 0,
            (HO, 0x3002): 159,  # I L1 15.9 A (0.1 A)
            (HO, 0x3003): 0,
            (HO, 0x3004): 160,  # I L2 16.0 A
            (HO, 0x3005): 0,
            (HO, 0x3006): 158,  # I L3 15.8 A
            (HO, 0x300D): 0,
            (HO, 0x300E): 0x2B1A,  # power 11034 W
            (HO, 0x300F): 0x0001,
            (HO, 0x3010): 0xE240,  # energy 123456 x 0.01 kWh
            (HO, 0x3031): 0x00C2,  # state C2 (charging)
            (HO, 0x3032): 160,  # max current 16.0 A (0.1 A)
        },
        {
            "current_l1": 15.9,
            "current_l2": 16.0,
            "current_l3": 15.8,
            "power": 11034.0,
            "energy": 1_234_560.0,
            "state": 194.0,
        },
        [("current_limit", 10.0, {0x3032: 100}), ("enable", 0.0, {0x3032: 0}), ("enable", 1.0, {0x3032: 60})],
    ),
    Example(
        "alfen-eve",
        {  # Alfen NG9xx Modbus Slave TCP/IP guide v2.3, socket 1 (unit 1): float32/float64 high word first
            (HO, 306): 0x4366,
            (HO, 307): 0x199A,  # U L1 230.1 V
            (HO, 308): 0x4365,
            (HO, 309): 0xCCCD,  # U L2 229.8 V
            (HO, 310): 0x4367,
            (HO, 311): 0x8000,  # U L3 231.5 V
            (HO, 320): 0x417E,
            (HO, 321): 0x6666,  # I L1 15.9 A
            (HO, 322): 0x4180,
            (HO, 323): 0xCCCD,  # I L2 16.1 A
            (HO, 324): 0x4180,
            (HO, 325): 0x0000,  # I L3 16.0 A
            (HO, 344): 0x462C,
            (HO, 345): 0x8000,  # real power sum 11040.0 W
            (HO, 374): 0x4132,
            (HO, 375): 0xD687,
            (HO, 376): 0x8000,
            (HO, 377): 0x0000,  # real energy delivered sum 1234567.5 Wh (float64)
            (HO, 1210): 0x4180,
            (HO, 1211): 0x0000,  # modbus slave max current 16.0 A
            (HO, 1215): 3,  # charge using 3 phases
        },
        {
            "voltage_l1": 230.1,
            "voltage_l2": 229.8,
            "voltage_l3": 231.5,
            "current_l1": 15.9,
            "current_l2": 16.1,
            "current_l3": 16.0,
            "power": 11040.0,
            "energy": 1_234_567.5,
            "phases": 3.0,
        },
        [
            ("current_limit", 10.0, {1210: 0x4120, 1211: 0}),
            ("enable", 0.0, {1210: 0, 1211: 0}),
            ("enable", 1.0, {1210: 0x40C0, 1211: 0}),  # 6.0 A
            ("phases", 1.0, {1215: 1}),
        ],
    ),
    Example(
        "alpitronic-hyc",
        {  # alpitronic hypercharger Modbus TCP, connector 1 = registers 1xx (evcc alpitronic.go, OpenEMS
            # evcs.hypercharger: input 0 state, 4 power u32 W, 8 EV SoC in 0.01 %, 32 total energy s64 Wh;
            # holding 0 max AC power u32 W)
            (IN, 100): 3,  # charging
            (IN, 104): 0x0000,
            (IN, 105): 0xC350,  # 50000 W
            (IN, 108): 6543,  # SoC 65.43 %
            (IN, 132): 0x0000,
            (IN, 133): 0x0000,
            (IN, 134): 0x00BC,
            (IN, 135): 0x614E,  # 12345678 Wh
            (HO, 100): 0x0001,
            (HO, 101): 0x86A0,  # max power 100000 W
        },
        {"state": 3.0, "power": 50_000.0, "soc": 65.43, "energy": 12_345_678.0},
        [("power", 22000.0, {100: 0x0000, 101: 0x55F0})],
    ),
    Example(
        "compleo-duo",
        {  # Compleo Modbus TCP, connector 1 block at 0x0100 (evcc compleo.go): holding 0x100 max power in
            # 100 W steps; input 0x101 status bits (1 vehicle connected, 2 charging), 0x102 power in 100 W
            (HO, 0x0100): 110,  # 11000 W
            (IN, 0x0101): 3,  # connected and charging
            (IN, 0x0102): 110,  # 11000 W
        },
        {"state": 3.0, "power": 11_000.0},
        [("power", 7400.0, {0x0100: 74})],
    ),
    *(
        Example(entry, dict(words), HEIDELBERG_READINGS, HEIDELBERG_WRITES)
        for entry, words in (
            ("heidelberg-energy-control", {**HEIDELBERG_WORDS, (HO, 257): 15000}),  # watchdog 15 s
            ("heidelberg-connect-home", HEIDELBERG_WORDS),
            ("walther-werke-basic-evo-pro", {**HEIDELBERG_WORDS, (HO, 257): 15000}),
        )
    ),
    Example(
        "hesotec-esat",
        {  # hesotec eSat Modbus TCP table (evcc hesotec.go): holding 0x1002 B_Pause, 0x1003 I_Strom_Max_Last
            # in A, 0x4000 N_Temperatur i16 °C, 0x4001-3 voltages V, 0x400A active power u32 W
            (HO, 0x1002): 0,
            (HO, 0x1003): 16,
            (HO, 0x4000): 28,
            (HO, 0x4001): 230,
            (HO, 0x4002): 231,
            (HO, 0x4003): 229,
            (HO, 0x400A): 0x0000,
            (HO, 0x400B): 0x2B20,  # 11040 W
        },
        {"temperature": 28.0, "voltage_l1": 230.0, "voltage_l2": 231.0, "voltage_l3": 229.0, "power": 11040},
        [
            ("current_limit", 10.0, {0x1003: 10}),
            ("enable", 0.0, {0x1002: 1}),  # pause
            ("enable", 1.0, {0x1002: 0}),
        ],
    ),
    Example(
        "keba-p30-modbus",
        {  # KEBA KeContact P30 Modbus TCP Programmer's Guide: 32-bit registers, high word first
            (HO, 1000): 0,
            (HO, 1001): 3,  # charging state 3: charging
            (HO, 1016): 0x0004,
            (HO, 1017): 0xBEE2,  # product type 311010
            (HO, 1020): 0x00A8,
            (HO, 1021): 0x7500,  # active power 11040000 mW
            (HO, 1036): 0x075B,
            (HO, 1037): 0xCD15,  # total energy 123456789 x 0.1 Wh
            (HO, 5004): 16000,  # set charging current (mA)
            (HO, 5014): 1,  # enable/disable charging station
        },
        {"state": 3.0, "power": 11_040.0, "energy": 12_345_678.9},
        [("current_limit", 10.0, {5004: 10000}), ("enable", 0.0, {5014: 0}), ("enable", 1.0, {5014: 1})],
    ),
    Example(
        "mennekes-amtron-hcc3",
        {  # MENNEKES AMTRON HCC3 Modbus description v01 2021-06-25 (unit 255): input 0x0302 CP state
            # (5 = C1), 0x030D energy u32 and 0x030F power u32 LOW word first; holding 0x0400 current in A
            (IN, 0x0302): 5,
            (IN, 0x030D): 0xD687,
            (IN, 0x030E): 0x0012,  # 1234567 Wh
            (IN, 0x030F): 0x2B20,
            (IN, 0x0310): 0x0000,  # 11040 W
            (HO, 0x0400): 16,
        },
        {"state": 5.0, "energy": 1_234_567.0, "power": 11_040.0},
        [("current_limit", 10.0, {0x0400: 10}), ("enable", 0.0, {0x0400: 0}), ("enable", 1.0, {0x0400: 6})],
    ),
    Example(
        "mennekes-amtron-compact",
        {  # MENNEKES AMTRON Professional / Compact 2.0s Modbus (unit 50, evcc mennekes-compact.go): holding
            # 0x0100 EVSE state (5 = charging), 0x0302 EM charging current f32, 0x0500 currents f32[3],
            # 0x0512 power f32 W, 0x0D05 charging release (1 allowed), 0x1000 total energy f32 kWh; 0x0D00
            # heartbeat: the EM writes the token 0x55AA, else 0x0302 and 0x0D05 fall back
            (HO, 0x0100): 5,
            (HO, 0x0302): 0x4180,
            (HO, 0x0303): 0x0000,  # 16.0 A
            (HO, 0x0500): 0x417E,
            (HO, 0x0501): 0x6666,  # 15.9 A
            (HO, 0x0502): 0x4180,
            (HO, 0x0503): 0xCCCD,  # 16.1 A
            (HO, 0x0504): 0x4180,
            (HO, 0x0505): 0x0000,  # 16.0 A
            (HO, 0x0512): 0x462C,
            (HO, 0x0513): 0x8000,  # 11040.0 W
            (HO, 0x0D00): 0,
            (HO, 0x0D05): 1,
            (HO, 0x1000): 0x449A,
            (HO, 0x1001): 0x5000,  # 1234.5 kWh
        },
        {
            "state": 5.0,
            "current_l1": 15.9,
            "current_l2": 16.1,
            "current_l3": 16.0,
            "power": 11_040.0,
            "energy": 1_234_500.0,
        },
        [
            ("current_limit", 10.0, {0x0302: 0x4120, 0x0303: 0, 0x0D00: 0x55AA}),
            ("enable", 0.0, {0x0D05: 0, 0x0D00: 0x55AA}),
            ("enable", 1.0, {0x0D05: 1, 0x0D00: 0x55AA}),
        ],
    ),
    Example(
        "pracht-alpha-xt",
        {  # Pracht Alpha XT Modbus RTU (evcc pracht-alpha.go): 40003 total current of all connectors,
            # 40004 connector 1 current (A), 30104 enclosure temperature (°C); zero-based 2, 3, 103
            (HO, 2): 16,
            (HO, 3): 16,
            (HO, 103): 31,
        },
        {"temperature": 31.0},
        [("current_limit", 10.0, {3: 10, 2: 10})],
    ),
    Example(
        "wallbe-phoenix",
        {  # Phoenix Contact EV-CC-AC1-M3 (wallbe), unit 255 (evcc phoenix-ev-eth.go): input 100 state as an
            # ASCII letter, 108 U L1 and 120 power s32 LOW word first; coil 400 enable; holding 528 current A
            (IN, 100): 0x0043,  # 'C': charging
            (IN, 108): 230,
            (IN, 109): 0,  # 230 V
            (IN, 120): 0x2B20,
            (IN, 121): 0x0000,  # 11040 W
            ("coil", 400): 1,
            (HO, 528): 16,
        },
        {"state": 67.0, "voltage_l1": 230.0, "power": 11_040.0},
        [
            ("enable", 0.0, {("coil", 400): 0}),
            ("enable", 1.0, {("coil", 400): 1}),
            ("current_limit", 10.0, {528: 10}),
        ],
    ),
    Example(
        "webasto-tq",
        {  # Webasto Next Modbus TCP (TQ platform; evcc webasto-next.go), holding: 1000 charge point
            # state (3 = charging), 1020 active power u32 W, 1036 meter reading u32 Wh, 5004 current A,
            # 6000 life bit (the charger clears it; the controller sets it to 1 within the timeout 2002, or
            # the charger falls back to its safe current 2000)
            (HO, 1000): 3,
            (HO, 1020): 0x0000,
            (HO, 1021): 0x2B20,  # 11040 W
            (HO, 1036): 0x0012,
            (HO, 1037): 0xD687,  # 1234567 Wh
            (HO, 5004): 16,
            (HO, 6000): 0,
        },
        {"state": 3.0, "power": 11_040.0, "energy": 1_234_567.0},
        [
            ("current_limit", 10.0, {5004: 10, 6000: 1}),
            ("enable", 0.0, {5004: 0, 6000: 1}),
            ("enable", 1.0, {5004: 6, 6000: 1}),
        ],
    ),
]
