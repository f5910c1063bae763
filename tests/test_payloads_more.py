"""Device payloads in the shapes their makers document, beyond the samples of the other tests.

Each payload is built here from the documented field names and layouts (SMA Energy Meter
protocol, Tasmota's energy and SML JSON, Shelly's RPC components) with realistic values.
"""

from __future__ import annotations

import asyncio
import json
import struct
from contextlib import AbstractAsyncContextManager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from loopback_http import serving as loopback
from wattwerk.protocols import shelly, tasmota
from wattwerk.protocols.meter import MeterReader
from wattwerk.protocols.speedwire import SpeedwireDecoder, parse_datagram

# ---------------------------------------------------------------- SMA Speedwire


def _shm_unicast_datagram(serial: int, channels: list[tuple[int, int, int, int, int]]) -> bytes:
    """A Sunny Home Manager 2.0 (firmware 2.07) unicast datagram: protocol 0x6081, whose header
    has two more bytes (long words, control) before the SUSy id than the 0x6069 multicast one."""
    body = b""
    for channel, index, kind, tariff, raw in channels:
        body += bytes([channel, index, kind, tariff]) + raw.to_bytes(8 if kind == 8 else 4, "big")
    length = 2 + 2 + 10 + len(body)  # protocol id, long words + control, header, channels
    data2 = struct.pack(">HBBHII", 0x6081, length // 4, 0, 372, serial, 123_456) + body
    return (
        b"SMA\x00"
        + struct.pack(">HHI", 4, 0x02A0, 1)
        + struct.pack(">HH", len(data2), 0x0010)
        + data2
        + struct.pack(">HH", 0, 0)
    )


def test_home_manager_extended_protocol_is_read() -> None:
    data = _shm_unicast_datagram(
        3004123456,
        [
            (0, 1, 4, 0, 12345),  # 1234.5 W import
            (0, 1, 8, 0, 3600 * 1_000_000),  # 1 MWh imported, in Ws
            (0, 2, 4, 0, 0),
            (0, 14, 4, 0, 50_012),  # 50.012 Hz (firmware 2.03.4 on)
            (144, 0, 0, 0, 0x02070452),  # firmware 2.7.4.R
        ],
    )
    d = parse_datagram(data)
    assert (d.susy_id, d.serial, d.firmware) == (372, 3004123456, "2.7.4.R")
    dec = SpeedwireDecoder(serial=3004123456, datagrams=True)
    (frame,) = dec.feed(data)
    v = {x.quantity: x.value for x in frame.values}
    assert v["power"] == 1234.5 and v["energy_import"] == 1_000_000.0 and v["frequency"] == 50.012
    assert dec.ignored == 0 and not frame.notes


# ---------------------------------------------------------------- Tasmota energy monitor


def test_tasmota_energy_per_phase_lists() -> None:
    """A Shelly 3EM running Tasmota: every ENERGY value but Total is a list, one per phase."""
    doc = {
        "Time": "2024-11-24T13:04:03",
        "ENERGY": {
            "TotalStartTime": "2024-11-22T13:42:58",
            "Total": 1520.431,
            "Yesterday": 9.812,
            "Today": 3.104,
            "ExportActive": [310.2, 12.5, 0.3],
            "Period": [2.1, 0.4, 0.0],
            "Power": [-812.4, 120.0, 35.6],
            "ApparentPower": [820.1, 150.2, 60.0],
            "ReactivePower": [112.3, 90.3, 48.3],
            "Factor": [-0.99, 0.8, 0.59],
            "Frequency": [50.01, 50.01, 50.01],
            "Voltage": [236.9, 235.1, 237.4],
            "Current": [3.47, 0.64, 0.25],
        },
    }
    for dec in (tasmota.energy_decoder(), tasmota.shape_decoder(), tasmota.auto_decoder(messages=True)):
        (frame,) = dec.feed(json.dumps(doc).encode())
        v = {x.quantity: x.value for x in frame.values}
        assert not frame.notes
        assert v["power"] == pytest.approx(-656.8) and v["power_l1"] == -812.4
        assert v["energy_import"] == pytest.approx(1_520_431.0)
        assert v["energy_export"] == pytest.approx(323_000.0) and v["energy_export_l2"] == 12_500.0
        assert (v["voltage_l3"], v["current_l1"], v["frequency"]) == (237.4, 3.47, 50.01)


def test_tasmota_energy_export_and_tariffs() -> None:
    """A bidirectional single-channel monitor with tariffs: ExportActive and [T1, T2] registers."""
    doc = {
        "Time": "2024-05-01T12:00:03",
        "ENERGY": {
            "Total": 845.210,
            "TotalTariff": [500.110, 345.100],
            "ExportActive": 120.500,
            "ExportTariff": [80.250, 40.250],
            "Power": -420,
            "Voltage": 231,
            "Current": 1.9,
        },
    }
    (frame,) = tasmota.energy_decoder().feed(json.dumps(doc).encode())
    v = {x.quantity: x.value for x in frame.values}
    assert v["energy_export"] == pytest.approx(120_500.0) and v["power"] == -420.0
    assert v["energy_import_t2"] == pytest.approx(345_100.0) and v["energy_export_t1"] == 80_250.0


# ---------------------------------------------------------------- Tasmota SML scripts


def _labelled(doc: object, **kwargs: object) -> dict[str, float]:
    (frame,) = tasmota.labelled_decoder(**kwargs).feed(json.dumps(doc).encode())  # type: ignore[arg-type]
    return {x.quantity: x.value for x in frame.values}


def test_tasmota_script_without_prefix_and_status10() -> None:
    """A script whose meter line leaves the JSON prefix empty publishes ``"": {...}``; the
    answer to ``Status 10`` (HTTP ``cm?cmnd=status 10``, MQTT ``stat/<t>/STATUS10``) wraps the
    sensors in ``StatusSNS``."""
    sns = {"Time": "2023-08-04T05:35:26", "": {"Total_in": 2173.5, "Total_out": 349.3, "Power_curr": -136.39}}
    for doc in (sns, {"StatusSNS": sns}):
        v = _labelled(doc)
        assert v == {"energy_import": 2_173_500.0, "energy_export": 349_300.0, "power": -136.39}
        v = {x.quantity: x.value for x in tasmota.shape_decoder().feed(json.dumps(doc).encode())[0].values}
        assert v["power"] == -136.39


def test_tasmota_labels_in_any_case_and_obis_names() -> None:
    v = _labelled(
        {"Time": "2024-05-01T12:00:03", "SML": {"total_in": 12345.678, "Power_Curr": 812, "TOTAL_OUT": 4.2}}
    )
    assert v == {"energy_import": 12_345_678.0, "power": 812.0, "energy_export": 4_200.0}
    doc = {"MT175": {"1_8_0": 5123.4, "2_8_0": 987.6, "16_7_0": -431.0, "36_7_0": -143.0, "32_7_0": 231.4}}
    v = _labelled(doc)
    assert (v["energy_import"], v["energy_export"], v["power"]) == (5_123_400.0, 987_600.0, -431.0)
    assert (v["power_l1"], v["voltage_l1"]) == (-143.0, 231.4)


def test_a_script_s_phases_make_its_total_only_when_all_three_are_there() -> None:
    """One or two labelled phases of a three-phase meter are not its total; all three are."""
    two = _labelled({"SML": {"Power_L1": 400.0, "Power_L2": -150.0, "Total_in": 1.0}})
    assert "power" not in two and two["power_l2"] == -150.0
    three = _labelled({"SML": {"Power_L1": 400.0, "Power_L2": -150.0, "Power_L3": 50.0}})
    assert three["power"] == 300.0


def test_tasmota_label_with_dots() -> None:
    """Tasmota publishes a label as written, dots included (``ELZ_PV_1.8.0``)."""
    doc = {"Time": "2024-05-01T12:00:03", "ELZ": {"ELZ_PV_1.8.0": 12.5, "ELZ_PV_2.8.0": 3012.25}}
    labels = {"ELZ_PV_1.8.0": ("energy_import", 1000.0), "ELZ_PV_2.8.0": ("energy_export", 1000.0)}
    v = _labelled(doc, labels=labels)
    assert v == {"energy_import": 12_500.0, "energy_export": 3_012_250.0}


# ---------------------------------------------------------------- Shelly Gen2+ on loopback


class ShellyGen2:
    """A Gen2+ device as far as these tests need it: ``/shelly`` and one RPC status."""

    def __init__(self, info: dict[str, object], rpc: dict[str, dict[str, object]]) -> None:
        self.info, self.rpc = info, rpc

    async def shelly(self, request: Request) -> Response:
        return JSONResponse(self.info)

    async def call(self, request: Request) -> Response:
        method = request.path_params["method"]
        if method not in self.rpc:
            return JSONResponse({"code": 404, "message": f"No handler for {method}"}, status_code=404)
        return JSONResponse(self.rpc[method])


def serving(device: ShellyGen2) -> AbstractAsyncContextManager[str]:
    return loopback(Starlette(routes=[Route("/shelly", device.shelly), Route("/rpc/{method}", device.call)]))


def _gen2_info(app: str, model: str, profile: str | None = None) -> dict[str, object]:
    info: dict[str, object] = {
        "name": None,
        "id": f"shelly-{app.lower()}-84fce63957f4",
        "mac": "84FCE63957F4",
    }
    info |= {"slot": 0, "model": model, "gen": 3, "fw_id": "20240430-105737/1.3.1-gd8534ee", "ver": "1.3.1"}
    info |= {"app": app, "auth_en": False, "auth_domain": None}
    return info | ({"profile": profile} if profile else {})


async def test_shelly_pm_mini_is_detected_and_read() -> None:
    pm1 = {
        "id": 0,
        "voltage": 237.4,
        "current": 1.152,
        "apower": -251.3,  # a balcony inverter behind the meter, feeding in
        "freq": 49.9,
        "aenergy": {"total": 1034.5, "by_minute": [0, 0, 0], "minute_ts": 1716240240},
        "ret_aenergy": {"total": 50213.75, "by_minute": [0, 0, 0], "minute_ts": 1716240240},
    }
    device = ShellyGen2(_gen2_info("MiniPMG3", "S3PM-001PCEU16"), {"PM1.GetStatus": pm1})
    async with serving(device) as url:
        name = await shelly.detect(url)
        assert name == "gen2_pm1"
        prof = shelly.profile(name)
        poller = shelly.poller_for(prof, url, interval=0.05)
        reader = MeterReader("pv", shelly.decoder_for(prof), poller)
        try:
            readings = await asyncio.wait_for(anext(aiter(reader)), 10)
        finally:
            poller.close()
    v = {r.channel: r.value for r in readings}
    assert v["pv.power"] == -251.3 and v["pv.energy_export"] == 50213.75 and v["pv.energy_import"] == 1034.5
    assert (v["pv.voltage"], v["pv.current"], v["pv.frequency"]) == (237.4, 1.152, 49.9)


async def test_shelly_profiles_change_the_components() -> None:
    """A Pro 3EM in the "monophase" profile answers EM1 (three channels), not EM; a 2PM set to
    "cover" has no Switch component."""
    async with serving(ShellyGen2(_gen2_info("Pro3EM", "SPEM-003CEBEU", "monophase"), {})) as url:
        assert await shelly.detect(url) == "gen2_em1"
    async with serving(ShellyGen2(_gen2_info("Pro3EM", "SPEM-003CEBEU", "triphase"), {})) as url:
        assert await shelly.detect(url) == "gen2_em"
    async with serving(ShellyGen2(_gen2_info("Plus2PM", "SNSW-102P16EU", "cover"), {})) as url:
        assert await shelly.detect(url) is None
    async with serving(ShellyGen2(_gen2_info("Plus2PM", "SNSW-102P16EU", "switch"), {})) as url:
        assert await shelly.detect(url) == "gen2_switch"
