"""Hand-written example tables of the Modbus heating rods, relay boards (SG Ready) and battery inverters of
the first catalogue rounds (issue 17), for ``test_catalog_owned_wallboxes.py``: raw words as each vendor
documents them, with example values, the readings they stand for in our units and signs (battery power
+ discharging, grid power + import) worked out by hand, and the words each command must write. Nothing
here comes from the catalogue entries; each block names its source.
"""

from __future__ import annotations

from owned_harness import Example

HO, IN, COIL = "holding", "input", "coil"

SWITCH_EXAMPLES = [
    Example(
        "mypv-ac-thor",
        {  # my-PV AC THOR Modbus TCP register list (unit 1): 1000 power W, 1001 temperature 1 in 0.1 °C,
            # 1002 target temperature in 0.1 °C
            (HO, 1000): 1500,
            (HO, 1001): 552,  # 55.2 °C
            (HO, 1002): 600,  # 60.0 °C
        },
        {"temperature": 55.2},
        [("power", 2500.0, {1000: 2500})],
    ),
    Example(
        "mypv-ac-elwa-e",
        {(HO, 1000): 800, (HO, 1001): 487},  # my-PV AC ELWA-E register list: 1000 power W, 1001 0.1 °C
        {"temperature": 48.7},
        [("power", 3000.0, {1000: 3000})],
    ),
    Example(
        "sgready-modbus-relay",
        # Waveshare Modbus RTU Relay wiki: coils 0x0000-0x0007 (FC5); SG Ready label regulation (BWP):
        # state 1 blocked = SG1 closed/SG2 open, 2 normal = both open, 3 = SG2 closed, 4 forced = both closed
        {(COIL, 0): 0, (COIL, 1): 0},
        {},
        [
            ("sgready", 1.0, {(COIL, 0): 1, (COIL, 1): 0}),
            ("sgready", 2.0, {(COIL, 0): 0, (COIL, 1): 0}),
            ("sgready", 3.0, {(COIL, 0): 0, (COIL, 1): 1}),
            ("sgready", 4.0, {(COIL, 0): 1, (COIL, 1): 1}),
        ],
    ),
    Example(
        "relay-modbus-board",
        {(COIL, 0): 1},  # Waveshare Modbus RTU Relay: relay 1 = coil 0x0000, read FC1 / write FC5
        {"relay": 1.0},
        [("relay", 0.0, {(COIL, 0): 0}), ("relay", 1.0, {(COIL, 0): 1})],
    ),
]

BATTERY_EXAMPLES = [
    Example(
        "goodwe-et-bt",
        {  # GoodWe ET/BT Modbus protocol (unit 247), as the goodwe library and OpenEMS read it: 35105 PV1
            # power u32 W, 35109 PV2 power, 35182 battery power s32 W (+ discharge), 35191 PV total energy
            # u32 0.1 kWh, 35209 battery discharge total u32 0.1 kWh, 37007 BMS SOC %; 47511 EMS power mode
            # (1 auto, 8 standby, 11 charge battery, 12 discharge battery), 47512 EMS power W
            (HO, 35105): 0x0000,
            (HO, 35106): 0x0C1C,  # 3100 W
            (HO, 35109): 0x0000,
            (HO, 35110): 0x0834,  # 2100 W
            (HO, 35182): 0xFFFF,
            (HO, 35183): 0xF830,  # -2000 W: charging
            (HO, 35191): 0x0001,
            (HO, 35192): 0xE240,  # 123456 x 0.1 kWh
            (HO, 35209): 0x0000,
            (HO, 35210): 0x3039,  # 12345 x 0.1 kWh
            (HO, 37007): 64,
            (HO, 47511): 1,
            (HO, 47512): 0,
        },
        {
            "power_pv1": 3100.0,
            "power_pv2": 2100.0,
            "power": -2000.0,
            "energy_pv": 12_345_600.0,
            "energy_discharge": 1_234_500.0,
            "soc": 64.0,
        },
        [
            ("battery_setpoint", 3000.0, {47511: 12, 47512: 3000}),
            ("battery_setpoint", -2000.0, {47511: 11, 47512: 2000}),
            ("battery_setpoint", 0.0, {47511: 8, 47512: 0}),
            ("battery_mode", 0.0, {47511: 1}),
        ],
    ),
    Example(
        "sax-power-home",
        {  # SAX Power Home Modbus TCP (unit 64; evcc template sax): 46 SOC %, 47 power as 16384 + W
            # (+ discharging), 43 discharge power limit W (4600 normal, 0 holds the charge)
            (HO, 43): 4600,
            (HO, 46): 81,
            (HO, 47): 14384,  # 14384 - 16384 = -2000 W: charging
        },
        {"soc": 81.0, "power": -2000.0},
        [("battery_mode", 1.0, {43: 0}), ("battery_mode", 0.0, {43: 4600})],
    ),
    Example(
        "solplanet-asw-h",
        {  # AISWEI MB001_ASW GEN-Modbus-en V2.1.5 (unit 3): input 1310 inner temperature s16 0.1 °C, 1367
            # grid frequency 0.01 Hz, 1370 AC power s32 W, 1618 battery power s32 W (+ discharge), 1621 SOC %;
            # holding 1103 work mode (2 self-consumption, 4 custom), 1152 charge/discharge power s16 W
            (IN, 1310): 452,  # 45.2 °C
            (IN, 1367): 5001,  # 50.01 Hz
            (IN, 1370): 0x0000,
            (IN, 1371): 0x1388,  # 5000 W
            (IN, 1618): 0xFFFF,
            (IN, 1619): 0xF63C,  # -2500 W: charging
            (IN, 1621): 76,
            (HO, 1103): 2,
            (HO, 1152): 0,
        },
        {"temperature": 45.2, "frequency": 50.01, "power_ac": 5000.0, "power": -2500.0, "soc": 76.0},
        [
            ("battery_setpoint", 3000.0, {1152: 3000, 1103: 4}),
            ("battery_setpoint", -2000.0, {1152: 0xF830, 1103: 4}),
            ("battery_mode", 0.0, {1103: 2}),
        ],
    ),
    Example(
        "sungrow-sh",
        {  # Sungrow Communication Protocol of Residential Hybrid Inverter (unit 1), 32-bit LOW word first;
            # input 5017 total DC power W, 13003 total PV generation 0.1 kWh, 13010 export power s32 W
            # (+ export), 13023 battery level 0.1 %, 13037 total import energy 0.1 kWh (zero-based -1);
            # holding 13050 EMS mode (0 self-consumption, 2 forced), 13051 charge/discharge command (0xAA
            # charge, 0xBB discharge, 0xCC stop), 13052 charge/discharge power W (zero-based -1)
            (IN, 5016): 0x1518,
            (IN, 5017): 0x0000,  # 5400 W
            (IN, 13002): 0xE240,
            (IN, 13003): 0x0001,  # 123456 x 0.1 kWh
            (IN, 13009): 0x05DC,
            (IN, 13010): 0x0000,  # exporting 1500 W
            (IN, 13022): 655,  # 65.5 %
            (IN, 13036): 0xB26E,
            (IN, 13037): 0x0000,  # 45678 x 0.1 kWh
            (HO, 13049): 0,
            (HO, 13050): 0xCC,
            (HO, 13051): 0,
        },
        {
            "power_pv": 5400.0,
            "energy_pv": 12_345_600.0,
            "power_grid": -1500.0,
            "soc": 65.5,
            "energy_import": 4_567_800.0,
        },
        [
            ("battery_setpoint", 3000.0, {13051: 3000, 13050: 0xBB, 13049: 2}),
            ("battery_setpoint", -2000.0, {13051: 2000, 13050: 0xAA, 13049: 2}),
            ("battery_setpoint", 0.0, {13051: 0, 13050: 0xCC, 13049: 2}),
            ("battery_mode", 0.0, {13049: 0, 13050: 0xCC}),
        ],
    ),
    Example(
        "victron-gx",
        {  # Victron CCGX Modbus TCP register list, com.victronenergy.system (unit 100): 808 PV on output L1
            # u16 W, 820-822 grid L1-L3 s16 W (+ import), 842 battery power s16 W (+ charging), 843 SOC %
            (HO, 808): 1200,
            (HO, 820): 350,
            (HO, 821): 0xFF88,  # -120 W
            (HO, 822): 80,
            (HO, 842): 1500,  # charging 1500 W
            (HO, 843): 72,
        },
        {
            "power_pv_l1": 1200.0,
            "power_grid_l1": 350.0,
            "power_grid_l2": -120.0,
            "power_grid_l3": 80.0,
            "power": -1500.0,
            "soc": 72.0,
        },
    ),
    Example(
        "victron-ess-vebus",
        {  # Victron CCGX register list, com.victronenergy.vebus (unit 227): 30 SoC u16 scale 10, 37
            # /Hub4/L1/AcPowerSetpoint s16 W (+ taken from the grid), 38 DisableCharge, 39 DisableFeedIn
            (HO, 30): 723,  # 72.3 %
            (HO, 37): 0,
            (HO, 38): 0,
            (HO, 39): 0,
        },
        {"soc": 72.3},
        [
            ("battery_setpoint", 2000.0, {37: 0xF830}),  # discharge 2000 W: -2000 W from the grid
            ("battery_setpoint", -1500.0, {37: 1500}),
        ],
    ),
]
