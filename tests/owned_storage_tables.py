"""Hand-written example tables of the batteries and hybrid systems people own (issue 17), and of heat
meters, for
``test_catalog_owned_storage.py``: each device's raw words (16-bit, as its documentation lays them out,
with example values) and the readings those stand for, worked out by hand in our units and signs
(W, battery + discharging, grid + import, PV + producing; Wh). Float words are the IEEE-754 encodings
of the example values, high word first. Nothing here comes from the catalogue entries.
"""

from __future__ import annotations

from owned_harness import Example
from owned_meter_tables import SunSpecExample, text

HO, IN = "holding", "input"

STORAGE_EXAMPLES = [
    Example(
        "varta-element",
        {
            (HO, 1066): 0xFA24,  # active power -1500 W (+ charge): discharging 1500 W
            (HO, 1068): 0x0048,  # SOC 72 %
            (HO, 1069): 0x86A0,  # total charged energy, LOW word first ...
            (HO, 1070): 0x0001,  # ... 0x000186A0 = 100000 Wh
            (HO, 1078): 0xFE0C,  # grid power -500 W (+ feed-in): importing 500 W
            (HO, 1102): 0x0BB8,  # PV sensor 3000 W
        },
        {"power": 1500.0, "soc": 72.0, "energy_charge": 100_000.0, "power_grid": 500.0, "power_pv": 3000.0},
    ),
    Example(
        "fenecon-home-modbus",
        {
            (IN, 302): 0x0047,  # _sum/EssSoc 71 %
            (IN, 315): 0xC49C,
            (IN, 316): 0x5000,  # _sum/GridActivePower -1250.5 W: selling to the grid
            (IN, 327): 0x4583,
            (IN, 328): 0x4000,  # _sum/ProductionActivePower 4200.0 W
            (IN, 351): 0x4143,
            (IN, 352): 0x12D0,
            (IN, 353): 0x0000,
            (IN, 354): 0x0000,  # _sum/EssActiveChargeEnergy 2500000.0 Wh (float64)
            (IN, 355): 0x4141,
            (IN, 356): 0x8C30,
            (IN, 357): 0x0000,
            (IN, 358): 0x0000,  # _sum/EssActiveDischargeEnergy 2300000.0 Wh
            (IN, 359): 0x4132,
            (IN, 360): 0xD687,
            (IN, 361): 0x0000,
            (IN, 362): 0x0000,  # _sum/GridBuyActiveEnergy 1234567.0 Wh
            (IN, 363): 0x415D,
            (IN, 364): 0x32EC,
            (IN, 365): 0x4000,
            (IN, 366): 0x0000,  # _sum/GridSellActiveEnergy 7654321.0 Wh
            (IN, 367): 0x4162,
            (IN, 368): 0xD687,
            (IN, 369): 0xE000,
            (IN, 370): 0x0000,  # _sum/ProductionActiveEnergy 9876543.0 Wh
            (IN, 415): 0xC4E1,
            (IN, 416): 0x0000,  # _sum/EssDischargePower -1800.0 W: charging
        },
        {
            "soc": 71.0,
            "power_grid": -1250.5,
            "power_pv": 4200.0,
            "energy_charge": 2_500_000.0,
            "energy_discharge": 2_300_000.0,
            "energy_import": 1_234_567.0,
            "energy_export": 7_654_321.0,
            "energy_pv": 9_876_543.0,
            "power": -1800.0,
        },
    ),
    Example(
        "sofar-hyd-3ph",
        {
            (HO, 0x0488): 0xFF38,  # PCC total active power -200 x 0.01 kW (+ feed-in): importing 2 kW
            (HO, 0x0586): 0x012C,  # PV1 power 300 x 0.01 kW
            (HO, 0x0589): 0x00C8,  # PV2 power 200 x 0.01 kW
            (HO, 0x0606): 0x0096,  # battery 1 power 150 x 0.01 kW (+ charge): charging 1.5 kW
            (HO, 0x0608): 0x0037,  # battery 1 SOC 55 %
            (HO, 0x0686): 0x0001,
            (HO, 0x0687): 0x1170,  # PV generation total 70000 x 0.1 kWh
            (HO, 0x068E): 0x0000,
            (HO, 0x068F): 0x3039,  # energy purchase total 12345 x 0.1 kWh
        },
        {
            "power_grid": 2000.0,
            "power_pv1": 3000.0,
            "power_pv2": 2000.0,
            "power": -1500.0,
            "soc": 55.0,
            "energy_pv": 7_000_000.0,
            "energy_import": 1_234_500.0,
        },
    ),
    Example(
        "mtec-energybutler",
        {
            (HO, 11000): 0x0000,
            (HO, 11001): 0x05DC,  # grid power +1500 W (+ feed-in): exporting
            (HO, 11028): 0x0000,
            (HO, 11029): 0x1770,  # PV power 6000 W
            (HO, 30258): 0xFFFF,
            (HO, 30259): 0xFC18,  # battery power -1000 W (+ discharge): charging
            (HO, 31102): 0x0000,
            (HO, 31103): 0x2710,  # grid energy injected 10000 x 0.1 kWh
            (HO, 31104): 0x0000,
            (HO, 31105): 0x1388,  # grid energy purchased 5000 x 0.1 kWh
            (HO, 31108): 0x0000,
            (HO, 31109): 0x0BB8,  # battery charged 3000 x 0.1 kWh
            (HO, 31110): 0x0000,
            (HO, 31111): 0x0AF0,  # battery discharged 2800 x 0.1 kWh
            (HO, 31112): 0x0001,
            (HO, 31113): 0x86A0,  # PV generated 100000 x 0.1 kWh
            (HO, 33000): 0x1A0A,  # SOC 6666 x 0.01 %
        },
        {
            "power_grid": -1500.0,
            "power_pv": 6000.0,
            "power": -1000.0,
            "energy_export": 1_000_000.0,
            "energy_import": 500_000.0,
            "energy_charge": 300_000.0,
            "energy_discharge": 280_000.0,
            "energy_pv": 10_000_000.0,
            "soc": 66.66,
        },
    ),
    Example(
        "solinteg-mht",
        {
            (HO, 11000): 0xFFFF,
            (HO, 11001): 0xF448,  # meter total power -3000 W (+ feed-in): importing 3000 W
            (HO, 11028): 0x0000,
            (HO, 11029): 0x0000,  # PV power 0 W (night)
            (HO, 30258): 0x0000,
            (HO, 30259): 0x0BB8,  # battery power +3000 W: discharging
            (HO, 31102): 0x0000,
            (HO, 31103): 0x4E20,  # grid energy injected 20000 x 0.1 kWh
            (HO, 31104): 0x0000,
            (HO, 31105): 0x2EE0,  # grid energy purchased 12000 x 0.1 kWh
            (HO, 31108): 0x0000,
            (HO, 31109): 0x1F40,  # battery charged 8000 x 0.1 kWh
            (HO, 31110): 0x0000,
            (HO, 31111): 0x1D4C,  # battery discharged 7500 x 0.1 kWh
            (HO, 31112): 0x0000,
            (HO, 31113): 0xEA60,  # PV generated 60000 x 0.1 kWh
            (HO, 33000): 0x0DAC,  # SOC 3500 x 0.01 %
        },
        {
            "power_grid": 3000.0,
            "power_pv": 0.0,
            "power": 3000.0,
            "energy_export": 2_000_000.0,
            "energy_import": 1_200_000.0,
            "energy_charge": 800_000.0,
            "energy_discharge": 750_000.0,
            "energy_pv": 6_000_000.0,
            "soc": 35.0,
        },
    ),
    Example(
        "marstek-venus-e",
        {
            (HO, 32104): 0x0050,  # SOC 80 %
            (HO, 32202): 0xFFFF,
            (HO, 32203): 0xF9C0,  # AC power -1600 W (+ discharge): charging
            (HO, 33000): 0x0001,
            (HO, 33001): 0x0F2C,  # total charged 69420 x 0.01 kWh
            (HO, 33002): 0x0000,
            (HO, 33003): 0xD431,  # total discharged 54321 x 0.01 kWh
            (HO, 42000): 21947,  # RS-485 control off (the battery decides)
            (HO, 42010): 0,  # force mode: stop
            (HO, 42020): 0,  # forcible charge power W
            (HO, 42021): 0,  # forcible discharge power W
        },
        {"soc": 80.0, "power": -1600.0, "energy_charge": 694_200.0, "energy_discharge": 543_210.0},
        [
            ("battery_setpoint", 1200.0, {42020: 1200, 42021: 1200, 42000: 21930, 42010: 2}),  # discharge
            ("battery_setpoint", -800.0, {42020: 800, 42021: 800, 42000: 21930, 42010: 1}),  # charge
            ("battery_setpoint", -4000.0, {42020: 2500, 42021: 2500, 42010: 1}),  # held at 2500 W
            ("battery_setpoint", 0.0, {42020: 0, 42021: 0, 42010: 0}),  # stop
        ],
    ),
    Example(
        "sigenergy-sigenstor",
        {
            (IN, 30005): 0xFFFF,
            (IN, 30006): 0xFB50,  # grid active power -1200 W (> 0 buying): selling 1200 W
            (IN, 30014): 0x0307,  # ESS SOC 775 x 0.1 %
            (IN, 30035): 0x0000,
            (IN, 30036): 0x1F40,  # PV power 8000 W
            (IN, 30037): 0x0000,
            (IN, 30038): 0x0DAC,  # ESS power +3500 W (> 0 charging)
            (IN, 30200): 0x0000,
            (IN, 30201): 0x0000,
            (IN, 30202): 0x0001,
            (IN, 30203): 0xE240,  # accumulated charge 123456 x 0.01 kWh (u64)
            (IN, 30204): 0x0000,
            (IN, 30205): 0x0000,
            (IN, 30206): 0x0001,
            (IN, 30207): 0x5F90,  # accumulated discharge 90000 x 0.01 kWh
        },
        {
            "power_grid": -1200.0,
            "soc": 77.5,
            "power_pv": 8000.0,
            "power": -3500.0,
            "energy_charge": 1_234_560.0,
            "energy_discharge": 900_000.0,
        },
    ),
    Example(
        "foxess-h1",
        {
            (HO, 31002): 0x0A8C,  # PV1 power 2700 W
            (HO, 31005): 0x05DC,  # PV2 power 1500 W
            (HO, 31014): 0xFC18,  # grid CT -1000 W (+ feed-in): importing 1000 W
            (HO, 31022): 0xF448,  # battery power -3000 W: charging
            (HO, 31024): 0x003C,  # SOC 60 %
        },
        {"power_pv1": 2700.0, "power_pv2": 1500.0, "power_grid": 1000.0, "power": -3000.0, "soc": 60.0},
    ),
    Example(
        "foxess-h3",
        {
            (HO, 31002): 0x1194,  # PV1 power 4500 W
            (HO, 31005): 0x0FA0,  # PV2 power 4000 W
            (HO, 31026): 0x00C8,  # grid CT R +200 W (+ feed-in): exporting
            (HO, 31027): 0x0064,  # grid CT S +100 W: exporting
            (HO, 31028): 0xFF9C,  # grid CT T -100 W: importing
            (HO, 31036): 0x07D0,  # battery power +2000 W: discharging
            (HO, 31038): 0x0050,  # SOC 80 %
        },
        {
            "power_pv1": 4500.0,
            "power_pv2": 4000.0,
            "power_grid_l1": -200.0,
            "power_grid_l2": -100.0,
            "power_grid_l3": 100.0,
            "power": 2000.0,
            "soc": 80.0,
        },
    ),
    Example(
        "huawei-luna2000",
        {
            (HO, 37001): 0xFFFF,
            (HO, 37002): 0xF63C,  # charge/discharge power -2500 W (> 0 charging): discharging
            (HO, 37004): 0x0226,  # SOC 550 x 0.1 %
            (HO, 37068): 0x0001,
            (HO, 37069): 0x86A0,  # total discharge 100000 x 0.01 kWh
            (HO, 47083): 0,  # forcible charge/discharge period, min
            (HO, 47100): 0,  # forcible command: stop
            (HO, 47246): 0,  # forcible setting mode: by duration
            (HO, 47247): 0,
            (HO, 47248): 0,  # forcible charge power W (u32)
            (HO, 47249): 0,
            (HO, 47250): 0,  # forcible discharge power W (u32)
        },
        {"power": 2500.0, "soc": 55.0, "energy_discharge": 1_000_000.0},
        [
            # discharge 3000 W: both powers (u32, high word first), mode 0 (by duration), 30 min, then 2
            (
                "battery_setpoint",
                3000.0,
                {47247: 0, 47248: 3000, 47249: 0, 47250: 3000, 47246: 0, 47083: 30, 47100: 2},
            ),
            ("battery_setpoint", -70000.0, {47248: 10000, 47250: 10000, 47100: 1}),  # charge, held at 10 kW
            ("battery_setpoint", 0.0, {47248: 0, 47250: 0, 47100: 0}),  # stop: back to the working mode
        ],
    ),
]


def _multical(e1: tuple[int, int]) -> dict[tuple[str, int], int]:
    """The MULTICAL 403/603/803 default datagram (holding registers, float32 high word first) with E1 as
    given; the other values are the same example: flow 0.85 m³/h, power 12.5 kW, t1 70.25 °C, t2 40.5 °C,
    V1 456.78 m³."""
    return {
        (HO, 0): 0x3F59,
        (HO, 1): 0x999A,  # flow V1 0.85 m³/h (not a channel)
        (HO, 4): 0x4148,
        (HO, 5): 0x0000,  # actual power 12.5 kW
        (HO, 6): 0x428C,
        (HO, 7): 0x8000,  # t1 (flow) 70.25 °C
        (HO, 8): 0x4222,
        (HO, 9): 0x0000,  # t2 (return) 40.5 °C
        (HO, 20): e1[0],
        (HO, 21): e1[1],  # E1, heat energy, in the meter's energy unit
        (HO, 52): 0x43E4,
        (HO, 53): 0x63D7,  # volume V1 456.78 m³
    }


MULTICAL = {
    "power_thermal": 12_500.0,
    "temperature_flow": 70.25,
    "temperature_return": 40.5,
    "water_volume": 456.78,
}

HEAT_METER_EXAMPLES = [
    # E1 12345.0 kWh
    Example("kamstrup-multical-603", _multical((0x4640, 0xE400)), {**MULTICAL, "heat_energy": 12_345_000.0}),
    # E1 123.456 MWh
    Example(
        "kamstrup-multical-603-mwh", _multical((0x42F6, 0xE979)), {**MULTICAL, "heat_energy": 123_456_000.0}
    ),
    # E1 444.5 GJ = 444.5e9 J / 3600 J/Wh
    Example(
        "kamstrup-multical-603-gj", _multical((0x43DE, 0x4000)), {**MULTICAL, "heat_energy": 444.5e9 / 3600}
    ),
]


def _mppt(modules: list[tuple[str, int, int]]) -> dict[int, int]:
    """Model 160's body: DCA_SF, DCV_SF -2, DCW_SF, DCWH_SF 0 (offsets 0-3), N (6), then per module of 20
    registers ID (0), IDStr (1-8), DCW (11, uint16 W) and DCWH (12-13, acc32 Wh); modules: (IDStr, W, Wh)."""
    out = {0: 0xFFFE, 1: 0xFFFE, 2: 0, 3: 0, 6: len(modules)}
    for i, (label, watts, wh) in enumerate(modules):
        at = 8 + 20 * i
        out |= {at: i + 1, **{at + 1 + k: w for k, w in enumerate(text(label, 8))}}
        out |= {at + 11: watts, at + 12: wh >> 16, at + 13: wh & 0xFFFF}
    return out


# Fronius Symo GEN24 10.0 Plus with a BYD HVS 10.2 on the SunSpec "float" model set (Fronius GEN24 Modbus
# TCP & RTU documentation): 113 values float32 high word first, 124 storage with scale factors, 160
# MPPT with four modules (PV 1, PV 2, battery charge, battery discharge), unit 1, base 40000. At noon the
# strings give 4000 + 2300 W, the battery takes 1250 W of it (module 3), the AC side gives 4950 W: the PV
# power is the two strings' 6300 W (evcc's fronius-gen24 pv: 160:1:DCW + 160:2:DCW), not the AC power
GEN24_NOON_MPPT = _mppt(
    [
        ("MPPT 1", 4000, 6_543_210),
        ("MPPT 2", 2300, 3_210_000),
        ("StCha 3", 1250, 2_000_000),
        ("StDisCha 4", 0, 1_800_000),
    ]
)
GEN24_STORAGE = SunSpecExample(
    "fronius-gen24",
    1,
    40000,
    [
        (1, 66, dict(enumerate([*text("Fronius", 16), *text("Symo GEN24 10.0 Plus", 16)]))),
        (
            113,
            60,
            {
                0: 0x41AC,
                1: 0x0000,  # A 21.5 A
                14: 0x4367,
                15: 0x3333,  # PhVphA 231.2 V
                16: 0x4366,
                17: 0xCCCD,  # PhVphB 230.8 V
                18: 0x4368,
                19: 0x199A,  # PhVphC 232.1 V
                20: 0x459A,
                21: 0xB000,  # W 4950.0 W (AC: the PV less what charges the battery)
                22: 0x4248,
                23: 0x147B,  # Hz 50.02
                30: 0x4B16,
                31: 0xB43F,  # WH 9876543 Wh
                32: 0x4104,
                33: 0x0000,  # DCA 8.25 A
                34: 0x4419,
                35: 0x199A,  # DCV 612.4 V
                36: 0x459D,
                37: 0xE266,  # DCW 5052.3 W
                38: 0x4226,
                39: 0x0000,  # TmpCab 41.5 °C
                46: 4,  # St 4: MPPT
            },
        ),
        (120, 26, {0: 4, 1: 10000, 2: 0}),  # DERTyp 4, WRtg 10000 W, WRtg_SF 0
        (121, 30, {0: 10000, 20: 0}),  # WMax 10000 W, WMax_SF 0
        (123, 24, {2: 1, 3: 10000, 7: 0, 21: 0xFFFE}),  # Conn 1, WMaxLimPct 100.00 % off, SF -2
        (
            124,
            24,
            {
                0: 10240,  # WChaMax 10240 W (the battery's rated power)
                3: 0,  # StorCtl_Mod: no limit active
                6: 5720,  # ChaState 57.20 %
                10: 10000,  # OutWRte 100.00 %
                11: 10000,  # InWRte 100.00 %
                16: 0,  # WChaMax_SF 0
                20: 0xFFFE,  # ChaState_SF -2
                23: 0xFFFE,  # InOutWRte_SF -2
            },
        ),
        (160, 88, GEN24_NOON_MPPT),  # SFs, N = 4 modules of 20 registers
    ],
    {
        "current": 21.5,
        "voltage_l1": 231.2,
        "voltage_l2": 230.8,
        "voltage_l3": 232.1,
        "power": 6300.0,  # PV 1 + PV 2
        "energy": 9_753_210.0,  # their DCWH
        "power_ac": 4950.0,
        "frequency": 50.02,
        "energy_ac": 9_876_543.0,
        "current_dc": 8.25,
        "voltage_dc": 612.4,
        "power_dc": 5052.3,
        "temperature": 41.5,
        "limit_rated": 10_000.0,
        "limit_max": 10_000.0,
        "soc": 57.2,
        "limit_charge": 10_240.0,
    },
    [
        # discharge 2560 W = 25.00 % of WChaMax: OutWRte 2500, InWRte -2500, both limits on (StorCtl_Mod 3);
        # model 124's body starts at 40220 (40000 SunS, 1 at 40002, 113 at 40070, 120 at 40132, 121 at 40160,
        # 123 at 40192, 124 at 40218)
        ("battery_setpoint", 2560.0, {40230: 2500, 40231: 0xF63C, 40223: 3}),
        ("battery_setpoint", -5120.0, {40230: 0xEC78, 40231: 5000, 40223: 3}),  # charge 5120 W = 50.00 %
        ("power_limit", 5000.0, {40197: 5000, 40201: 1}),  # 50.00 % of WMax, limit switched on
    ],
)

# the same GEN24 at night: no sun, the battery discharges 1500 W (module 4) and the AC side gives 1450 W
# to the house; the PV power is 0 W (the AC power, read as PV, would count the battery twice)
_NIGHT_113 = {20: 0x44B5, 21: 0x4000, 36: 0x44BB, 37: 0x8000}  # W 1450.0 W, DCW 1500.0 W
GEN24_NIGHT = SunSpecExample(
    "fronius-gen24",
    1,
    40000,
    [
        (mid, length, body | _NIGHT_113)
        if mid == 113
        else (
            mid,
            length,
            _mppt(
                [
                    ("MPPT 1", 0, 6_543_210),
                    ("MPPT 2", 0, 3_210_000),
                    ("StCha 3", 0, 2_000_000),
                    ("StDisCha 4", 1500, 1_800_000),
                ]
            ),
        )
        if mid == 160
        else (mid, length, body)
        for mid, length, body in GEN24_STORAGE.models
    ],
    GEN24_STORAGE.readings | {"power": 0.0, "power_ac": 1450.0, "power_dc": 1500.0},
)

# the same GEN24 read as a battery (fronius-gen24-battery): its power is the storage's own flow, module 4
# (discharge) DCW minus module 3 (charge) DCW, + discharging (evcc's fronius-gen24 battery: 160:4:DCW minus
# 160:3:DCW), their DCWH the lifetime discharge and charge energies. At noon the battery takes 1250 W:
# -1250 W, not the AC power (4950 W, PV and battery together, which read as the battery's would be 4950 W
# "discharging"); at night it gives 1500 W
_AS_BATTERY = {k: v for k, v in GEN24_STORAGE.readings.items() if k not in ("power", "energy")}
_BATTERY_ENERGY = {"energy_charge": 2_000_000.0, "energy_discharge": 1_800_000.0}
GEN24_BATTERY = [
    SunSpecExample(
        "fronius-gen24-battery",
        1,
        40000,
        GEN24_STORAGE.models,
        _AS_BATTERY | _BATTERY_ENERGY | {"power": -1250.0},
        [w for w in GEN24_STORAGE.writes if w[0] == "battery_setpoint"],
    ),
    SunSpecExample(
        "fronius-gen24-battery",
        1,
        40000,
        GEN24_NIGHT.models,
        _AS_BATTERY | _BATTERY_ENERGY | {"power": 1500.0, "power_ac": 1450.0, "power_dc": 1500.0},
    ),
]
