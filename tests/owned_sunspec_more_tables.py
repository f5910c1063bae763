"""Hand-written SunSpec chains of SolarEdge, the generic SunSpec storage, DER and meter entries (issue
17), for ``test_catalog_owned_sunspec.py``; the model bodies and the sources are those of
``owned_sunspec_tables.py``. Nothing here comes from the catalogue entries.
"""

from __future__ import annotations

from owned_harness import SunSpecExample
from owned_sunspec_tables import (
    BATTERY,
    BATTERY_READ,
    INT_1PH,
    INT_1PH_READ,
    INT_3PH,
    INT_3PH_READ,
    METER_INT,
    METER_INT_READ,
    as_meter,
    at,
    common,
    controls,
    f32,
    floats,
    limit_words,
    limits,
    nameplate,
)

# SolarEdge SE6000H / SE10K: inverter 101 or 103, the SolarEdge meter (203) after it; the power limit is
# SolarEdge's Active Power Limit 0xF001 (0-100 % of the rating) committed by 1 in 0xF100; the rating is
# the installer's (SE6000H: 6000 W), there is no 120/121 in the chain
# SolarEdge's E+I meter counts 203 W (and WphA-C) + export (evcc's solaredge-hybrid grid reads 203:W with
# scale -1; solaredge-modbus-multi issue 69: "on an E+I meter negative means importing"), so the meter's raw
# W -2000 below is an import of 2000 W: wattwerk reads +2000 (+ import), unlike a generic SunSpec meter's
SE_CONTROL = {0xF001: 100, 0xF100: 0}
SE_METER_READ = {
    **METER_INT_READ,
    **{k: -METER_INT_READ[k] for k in ("power", "power_l1", "power_l2", "power_l3")},
}
SE_1PH = [common("SolarEdge", "SE6000H"), (101, 50, INT_1PH), (203, 105, METER_INT)]
SE_3PH = [common("SolarEdge", "SE10K"), (103, 50, INT_3PH), (203, 105, METER_INT)]
# a SolarEdge hybrid (StorEdge) at night: no sun, the battery discharges 1500 W, which 0xE174 (battery 1
# instantaneous power, float32 low word first, + charging: StorEdge Modbus technical note) gives as -1500;
# the inverter's DC power 103 DCW is those 1500 W (150 x 10), its AC power 103 W 1450 W (145 x 10). The PV
# power is DCW minus the battery's flow (+ discharging): 0 W, as evcc's solaredge-hybrid pv reads it (DC
# power plus the battery's power + charging)
SE_HYBRID = [common("SolarEdge", "SE10K-RWS"), (103, 50, INT_3PH | {12: 145, 29: 150}), (203, 105, METER_INT)]
SE_HYBRID_READ = {
    **{k: v for k, v in INT_3PH_READ.items() if k not in ("power", "energy")},
    "power": 0.0,
    "power_ac": 1450.0,
    "power_dc": 1500.0,
    "energy_ac": INT_3PH_READ["energy"],
    "power_battery": 1500.0,
}
SOLAREDGE = [
    SunSpecExample(
        "solaredge-1ph",
        1,
        40000,
        SE_1PH,
        {**INT_1PH_READ, **as_meter(SE_METER_READ)},
        [("power_limit", 3000.0, {0xF001: 50, 0xF100: 1})],
        SE_CONTROL,
    ),
    SunSpecExample(
        "solaredge-3ph",
        1,
        40000,
        SE_3PH,
        {**INT_3PH_READ, **as_meter(SE_METER_READ)},
        [("power_limit", 2500.0, {0xF001: 25, 0xF100: 1})],
        SE_CONTROL,
    ),
    SunSpecExample(
        "solaredge-hybrid",
        1,
        40000,
        SE_HYBRID,
        {**SE_HYBRID_READ, **as_meter(SE_METER_READ)},
        [],
        {0xE174: f32(-1500.0)[1], 0xE175: f32(-1500.0)[0]},
    ),
]
SE_RATING = {"solaredge-1ph": 6000.0, "solaredge-3ph": 10_000.0, "solaredge-hybrid": 10_000.0}

# a hybrid inverter with model 124 (WChaMax 5000 W, ChaState 64.30 %, rates in 0.01 %) and the 802 battery
# at noon: the AC side (103 W) gives 9870 W while the battery (802 W, + discharging) takes 1500 W of the PV.
# Read as a battery, the device's power is the battery's -1500 W, not the AC power (9870 W "discharging")
STORAGE_124 = (124, 24, {0: 5000, 3: 0, 6: 6430, 10: 10000, 11: 10000, 16: 0, 20: 0xFFFE, 23: 0xFFFE})
HYBRID_AC_READ = {  # a hybrid's inverter model read as a battery's: W and WH are the AC side's
    **{k: v for k, v in INT_3PH_READ.items() if k not in ("power", "energy")},
    "power_ac": INT_3PH_READ["power"],
    "energy_ac": INT_3PH_READ["energy"],
}
STORAGE = [
    common("SunSpec", "hybrid"),
    (103, 50, INT_3PH),
    nameplate(5000),
    controls(-1),
    STORAGE_124,
    BATTERY,
]
# the DER models (IEEE 1547-2018): 701 measurements, 702 capacity, 704 controls
DER_701 = {
    8: 7250,  # W 7250 W
    12: 1052,  # A 10.52 A
    14: 2304,  # LNV 230.4 V
    15: 0x0000,
    16: 0xC35A,  # Hz 50010 x 0.001 (uint32)
    17: 0x0000,
    18: 0x0000,
    19: 0x00BC,
    20: 0x614E,  # TotWhInj 12345678 Wh (uint64)
    34: 395,  # TmpCab 39.5 degC
    111: 0xFFFE,  # A_SF -2
    112: 0xFFFF,  # V_SF -1
    113: 0xFFFD,  # Hz_SF -3
    114: 0x0000,  # W_SF 0
    118: 0x0000,  # TotWh_SF 0
    120: 0xFFFF,  # Tmp_SF -1
}
DER = [common("SunSpec", "DER"), (701, 153, DER_701), (702, 50, {24: 10000, 43: 0})]
DER += [(704, 65, {12: 0, 13: 1000, 52: 0xFFFF})]  # WMaxLimPctEna 0, WMaxLimPct 100.0 %, SF -1
STORAGE_AND_DER = [
    SunSpecExample(
        "sunspec-storage",
        1,
        40000,
        STORAGE,
        {**HYBRID_AC_READ, **limits(5000.0, soc=64.3, limit_charge=5000.0), **BATTERY_READ, "power": -1500.0},
        [
            # discharge 2500 W = 50.00 % of WChaMax: OutWRte 5000, InWRte -5000, both limits on
            (
                "battery_setpoint",
                2500.0,
                {at(STORAGE, 124, 10): 5000, at(STORAGE, 124, 11): 0xEC78, at(STORAGE, 124, 3): 3},
            ),
            ("power_limit", 2000.0, limit_words(STORAGE, 400)),  # 40.0 % of WRtg
        ],
    ),
    SunSpecExample(
        "sunspec-der",
        1,
        40000,
        DER,
        {
            "power": 7250.0,
            "current": 10.52,
            "voltage": 230.4,
            "frequency": 50.01,
            "energy": 12_345_678.0,
            "temperature": 39.5,
            "limit_max": 10_000.0,
        },
        [("power_limit", 2500.0, {at(DER, 704, 13): 250, at(DER, 704, 12): 1})],
    ),
]

# the meters alone: model 203 (int + SF) at unit 1, model 213 (float) at unit 200 (Fronius Smart Meter)
METER_FLOAT = floats(
    {2: 6.125, 4: 2.375, 6: 4.0, 10: 231.5, 12: 230.25, 14: 229.0, 24: 49.98, 26: -2000.0}
) | floats({28: -1600.0, 30: -200.0, 32: -200.0, 50: -0.875, 58: 7_716_100.0, 66: 5_000_000.0})
METERS = [
    SunSpecExample(
        "sunspec-meter-int", 1, 40000, [common("SunSpec", "meter"), (203, 105, METER_INT)], METER_INT_READ
    ),
    SunSpecExample(
        "sunspec-meter-float",
        200,
        40000,
        [common("Fronius", "Smart Meter TS 65A-3"), (213, 124, METER_FLOAT)],
        {
            "current_l1": 6.125,
            "current_l2": 2.375,
            "current_l3": 4.0,
            "voltage_l1": 231.5,
            "voltage_l2": 230.25,
            "voltage_l3": 229.0,
            "frequency": 49.98,
            "power": -2000.0,
            "power_l1": -1600.0,
            "power_l2": -200.0,
            "power_l3": -200.0,
            "power_factor": -0.875,  # model 213's PF is a ratio (units PF), 203's a percentage
            "energy_export": 7_716_100.0,
            "energy_import": 5_000_000.0,
        },
    ),
]
