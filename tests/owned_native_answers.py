"""Documented answers of the relays, heating rod and charger with an HTTP or UDP interface of their own
(issue 17), for ``test_catalog_owned_wallboxes.py``: each answer as the vendor's API documentation shows
it (keys, units, nesting), the readings it stands for worked out by hand (W, Wh, °C, A, V), and the
requests each command must send (path and query exactly as the device receives them). Nothing here
comes from the catalogue entries or the drivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpCase:
    entry: str
    answers: dict[str, Any]  # "path?query" -> the documented JSON answer (or text)
    readings: dict[str, float]
    # command, value -> the GET requests ("path?query") the device must receive, in order
    commands: list[tuple[str, float, list[str]]] = field(default_factory=list)


# Shelly Gen1 API reference: /relay/{index} (ison, has_timer, ...), /relay/{index}?turn=on|off answers the
# same object; /meter/{index}: power W, total energy in watt-minutes
def _gen1_relay(on: bool) -> dict[str, Any]:
    return {
        "ison": on,
        "has_timer": False,
        "timer_started": 0,
        "timer_duration": 0,
        "timer_remaining": 0,
        "overpower": False,
        "source": "http",
    }


GEN1_METER = {
    "power": 118.42,
    "overpower": 0.0,
    "is_valid": True,
    "timestamp": 1733486400,
    "counters": [118.6, 118.3, 118.5],
    "total": 6384,  # watt-minutes: 106.4 Wh
}


# Shelly Gen2+ API, Switch component: Switch.GetStatus?id=N -> output, apower W, voltage, current,
# aenergy.total Wh, temperature; Switch.Set?id=N&on=true|false -> {"was_on": ...}
def _gen2_status(n: int, on: bool) -> dict[str, Any]:
    return {
        "id": n,
        "source": "HTTP_in",
        "output": on,
        "apower": 118.4 if on else 0.0,
        "voltage": 230.1,
        "current": 0.52 if on else 0.0,
        "aenergy": {"total": 1234.567, "by_minute": [1.9, 2.0, 1.9], "minute_ts": 1733486400},
        "temperature": {"tC": 42.1, "tF": 107.8},
    }


# Tasmota commands over HTTP: /cm?cmnd=Power1 answers {"POWER": "ON"} on a device with one relay and
# {"POWER1": "ON"} with more (GetPowerDevice in tasmota/support.ino); Status 8 -> StatusSNS.ENERGY with
# Power in W and Total in kWh
TASMOTA_STATUS_8 = {
    "StatusSNS": {
        "Time": "2026-12-06T12:00:00",
        "ENERGY": {
            "TotalStartTime": "2025-01-01T00:00:00",
            "Total": 12.345,
            "Yesterday": 1.204,
            "Today": 0.815,
            "Power": 118,
            "ApparentPower": 120,
            "ReactivePower": 22,
            "Factor": 0.98,
            "Voltage": 230,
            "Current": 0.522,
        },
    }
}

HTTP_CASES = [
    HttpCase(
        "shelly-plug-gen1",
        {
            "/relay/0": _gen1_relay(True),
            "/meter/0": GEN1_METER,
            "/relay/0?turn=off": _gen1_relay(False),
            "/relay/0?turn=on": _gen1_relay(True),
        },
        {"relay": 1.0, "power": 118.42, "energy": 6384 / 60},
        [("relay", 0.0, ["/relay/0?turn=off"]), ("relay", 1.0, ["/relay/0?turn=on"])],
    ),
    HttpCase(
        "shelly-plug-gen2",
        {
            "/rpc/Switch.GetStatus?id=0": _gen2_status(0, True),
            "/rpc/Switch.Set?id=0&on=false": {"was_on": True},
            "/rpc/Switch.Set?id=0&on=true": {"was_on": False},
        },
        {"relay": 1.0, "power": 118.4, "energy": 1234.567},
        [("relay", 0.0, ["/rpc/Switch.Set?id=0&on=false"]), ("relay", 1.0, ["/rpc/Switch.Set?id=0&on=true"])],
    ),
    HttpCase(
        "tasmota-plug",
        {
            "/cm?cmnd=Power1": {"POWER": "ON"},  # a plug has one relay
            "/cm?cmnd=Status%208": TASMOTA_STATUS_8,
            "/cm?cmnd=Power1%20Off": {"POWER": "OFF"},
            "/cm?cmnd=Power1%20On": {"POWER": "ON"},
        },
        {"relay": 1.0, "power": 118.0, "energy": 12_345.0},
        [("relay", 0.0, ["/cm?cmnd=Power1%20Off"]), ("relay", 1.0, ["/cm?cmnd=Power1%20On"])],
    ),
    # SG Ready over two outputs (SG Ready label regulation: 1 blocked = SG1 closed, 2 normal = both open,
    # 3 recommended on = SG2 closed, 4 forced on = both closed): outputs are switched off before on
    HttpCase(
        "sgready-shelly-gen1",
        {
            "/relay/0": _gen1_relay(True),
            "/relay/1": _gen1_relay(False),
            **{f"/relay/{n}?turn={w}": _gen1_relay(w == "on") for n in (0, 1) for w in ("on", "off")},
        },
        {"relay": 1.0, "sgready": 1.0},
        [
            ("sgready", 3.0, ["/relay/0?turn=off", "/relay/1?turn=on"]),
            ("sgready", 2.0, ["/relay/0?turn=off", "/relay/1?turn=off"]),
        ],
    ),
    HttpCase(
        "sgready-shelly-gen2",
        {
            "/rpc/Switch.GetStatus?id=0": _gen2_status(0, False),
            "/rpc/Switch.GetStatus?id=1": _gen2_status(1, True),
            **{
                f"/rpc/Switch.Set?id={n}&on={w}": {"was_on": False} for n in (0, 1) for w in ("true", "false")
            },
        },
        {"relay": 0.0, "sgready": 3.0},
        [("sgready", 4.0, ["/rpc/Switch.Set?id=0&on=true", "/rpc/Switch.Set?id=1&on=true"])],
    ),
    HttpCase(
        "sgready-tasmota",
        {
            "/cm?cmnd=Power1": {"POWER1": "OFF"},  # two relays: indexed keys
            "/cm?cmnd=Power2": {"POWER2": "OFF"},
            **{f"/cm?cmnd=Power{n}%20{w}": {f"POWER{n}": w.upper()} for n in (1, 2) for w in ("On", "Off")},
        },
        {"relay": 0.0, "sgready": 2.0},
        [("sgready", 1.0, ["/cm?cmnd=Power2%20Off", "/cm?cmnd=Power1%20On"])],
    ),
    # my-PV HTTP API (AC ELWA-E / AC THOR): data.jsn power in W, temp1 in 0.1 °C; control.html?power=<W>
    HttpCase(
        "mypv-http",
        {
            "/data.jsn": {
                "device": "AC ELWA-E",
                "fwversion": "00205.02",
                "power": 1500,
                "temp1": 552,
                "boostactive": 0,
                "screen_mode_flag": 0,
                "ctrlstate": "Running",
            },
            "/control.html?power=2500": "<html><body>OK</body></html>",
        },
        {"power": 1500.0, "temperature": 55.2},
        [("power", 2500.0, ["/control.html?power=2500"])],
    ),
]

# KEBA KeContact P20/P30 UDP Programmer's Guide, "report 2" and "report 3" (currents in mA, power in mW,
# energy in 0.1 Wh; Plug 7 = cable locked at both ends, State 3 = charging)
KEBA_REPORTS: dict[str, dict[str, Any]] = {
    "report 2": {
        "ID": "2",
        "State": 3,
        "Error1": 0,
        "Error2": 0,
        "Plug": 7,
        "AuthON": 0,
        "Authreq": 0,
        "Enable sys": 1,
        "Enable user": 1,
        "Max curr": 32000,
        "Max curr %": 1000,
        "Curr HW": 32000,
        "Curr user": 16000,
        "Curr FS": 0,
        "Tmo FS": 0,
        "Curr timer": 0,
        "Tmo CT": 0,
        "Setenergy": 0,
        "Output": 0,
        "Input": 0,
        "Serial": "15017355",
        "Sec": 4294967,
    },
    "report 3": {
        "ID": "3",
        "U1": 230,
        "U2": 229,
        "U3": 232,
        "I1": 15900,
        "I2": 16100,
        "I3": 16000,
        "P": 11040000,
        "PF": 998,
        "E pres": 52345,
        "E total": 123456789,
        "Serial": "15017355",
        "Sec": 4294967,
    },
}
KEBA_READINGS = {
    "power": 11_040.0,
    "energy": 12_345_678.9,
    "state": 2.0,  # IEC 61851 C: charging
    "current_limit": 16.0,
    "relay": 1.0,
    "current_l1": 15.9,
    "current_l2": 16.1,
    "current_l3": 16.0,
    "voltage_l1": 230.0,
    "voltage_l2": 229.0,
    "voltage_l3": 232.0,
}

# Hardy Barth eCB1 API v1 (apidoc.ecb1.de, as evcc's hardybarth-ecb1 driver reads and posts it): GET
# chargecontrols/<id> -> {"chargecontrol": {id, name, mode, state (IEC 61851 letter), manualmodeamp,
# modeid, stateid, connected}}; GET meters/<id> -> {"meter": {id, name, data: OBIS -> W / kWh / A}};
# POST chargecontrols/<id>/mode (form mode=manual), .../mode/manual/ampere (form manualmodeamp=<A>),
# chargecontrols/<id>/start|stop
ECB1 = "/api/v1/chargecontrols/1"
ECB1_ANSWERS: dict[str, Any] = {
    ECB1: {
        "chargecontrol": {
            "id": 1,
            "name": "ChargeControl 1",
            "mode": "manual",
            "state": "C",
            "manualmodeamp": 16,
            "modeid": 3,
            "stateid": 5,
            "connected": True,
        }
    },
    "/api/v1/meters/1": {
        "meter": {
            "id": 1,
            "name": "Meter 1",
            "data": {"1-0:1.4.0": 11040.0, "1-0:1.8.0": 1234.567, "1-0:31.4.0": 16.0, "1-0:51.4.0": 15.9},
        }
    },
    f"{ECB1}/mode": {"result": "ok"},
    f"{ECB1}/mode/manual/ampere": {"result": "ok"},
    f"{ECB1}/start": {"result": "ok"},
    f"{ECB1}/stop": {"result": "ok"},
}
ECB1_READINGS = {"power": 11040.0, "energy": 1_234_567.0, "state": 2.0, "current_limit": 16.0}
ECB1_COMMANDS: list[tuple[str, float, list[tuple[str, str, str]]]] = [
    (
        "current_limit",
        10.0,
        [("POST", f"{ECB1}/mode", "mode=manual"), ("POST", f"{ECB1}/mode/manual/ampere", "manualmodeamp=10")],
    ),
    ("enable", 0.0, [("POST", f"{ECB1}/stop", "")]),
    ("enable", 1.0, [("POST", f"{ECB1}/start", "")]),
]
