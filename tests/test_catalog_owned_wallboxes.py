"""The chargers, heat devices, relays and batteries of the first catalogue rounds (issue 17), read and
commanded through their catalogue entries from peers that do NOT come from the entries: Modbus devices
are hand-written tables of the raw words their documentation describes (``owned_wallbox_tables.py``,
``owned_switch_battery_tables.py``), run through the one harness (``owned_harness.py``); HTTP and UDP
devices (Shelly, Tasmota, KMTronic, my-PV HTTP, KEBA UDP) are peers answering the vendor's documented
answers and recording each request exactly as the device receives it. A wrong address, type, word
order, scale, JSON key or command in an entry fails here; ``test_catalog_entries.py`` and
``test_devices_native.py`` (whose emulators follow the entry or the driver) would agree with themselves.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from owned_harness import Example, SunSpecExample, assert_readings, check_modbus_example, check_sunspec
from owned_native_answers import (
    ECB1_ANSWERS,
    ECB1_COMMANDS,
    ECB1_READINGS,
    HTTP_CASES,
    KEBA_READINGS,
    KEBA_REPORTS,
    HttpCase,
)
from owned_sunspec_more_tables import HYBRID_AC_READ
from owned_sunspec_tables import BATTERY_READ, PLENTICORE, limit_words, limits
from owned_switch_battery_tables import BATTERY_EXAMPLES, SWITCH_EXAMPLES
from owned_wallbox_tables import WALLBOX_EXAMPLES
from wattwerk.devices.catalog import find
from wattwerk.devices.factory import create_for
from wattwerk.sim.emulators.http_server import HttpServerEmulator

MODBUS_EXAMPLES = [*WALLBOX_EXAMPLES, *SWITCH_EXAMPLES, *BATTERY_EXAMPLES]

# KOSTAL Interface description MODBUS (TCP) & SunSpec, PLENTICORE plus: the SunSpec chain at 40000 (unit 71;
# the one of kostal-plenticore, with model 802) and register 1034 "battery charge power (DC) setpoint,
# absolute", float32 in W, negative charges, positive discharges; the device's default word order is
# little-endian (low word first): 3000.0 = 0x453B8000, -2000.0 = 0xC4FA0000
PLENTICORE_BATTERY = SunSpecExample(
    "kostal-plenticore-battery",
    71,
    40000,
    PLENTICORE,
    # at noon the battery takes 1500 W (802 W, + discharging) while the AC side gives 9870 W (103 W): the
    # battery's power is -1500 W, its SoC 802's (no model 124 in the chain)
    {**HYBRID_AC_READ, **limits(10_000.0), **BATTERY_READ, "power": -1500.0, "soc": 64.3},
    [
        ("battery_setpoint", 3000.0, {1034: 0x8000, 1035: 0x453B}),
        ("battery_setpoint", -2000.0, {1034: 0x0000, 1035: 0xC4FA}),
        ("power_limit", 5000.0, limit_words(PLENTICORE, 5000)),
    ],
    extra={1034: 0, 1035: 0},
)


# every entry read here from an independent table (owned_harness.TABLE_MODULES counts them)
EXAMPLES: list[Any] = [
    *MODBUS_EXAMPLES,
    PLENTICORE_BATTERY,
    *HTTP_CASES,
    "hardy-barth-ecb1",  # its test below
    "keba-p30-udp",  # the UDP and TCP tests below
    "rct-power-storage",
    "kmtronic-udp-relay",
    "sgready-kmtronic-udp",
]


@pytest.mark.parametrize("example", MODBUS_EXAMPLES, ids=[e.entry for e in MODBUS_EXAMPLES])
async def test_entry_reads_the_documented_example_and_writes_its_commands(example: Example) -> None:
    await check_modbus_example(example)


async def test_plenticore_battery_reads_its_chain_and_writes_the_dc_setpoint_in_1034() -> None:
    await check_sunspec(PLENTICORE_BATTERY)


class RecordingPeer(HttpServerEmulator):
    """Answers each ``path?query`` with the vendor's documented answer; records every request as
    (method, path?query, body) the way the device receives it."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, str]] = []

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            key = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            self.requests.append((request.method, key, (await request.body()).decode()))
            if key not in self.answers:
                return PlainTextResponse("not found", status_code=404)
            doc = self.answers[key]
            return PlainTextResponse(doc) if isinstance(doc, str) else JSONResponse(doc)

        return Starlette(routes=[Route("/{rest:path}", answer, methods=["GET", "POST"])])


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c.entry for c in HTTP_CASES])
async def test_http_entry_reads_the_documented_answers_and_sends_its_requests(case: HttpCase) -> None:
    async with RecordingPeer(case.answers) as peer:
        device = create_for(
            find(case.entry).entry, host="127.0.0.1", port=peer.port, device_id="dev", timeout=2.0
        )
        try:
            readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
            assert device.ledger.total() == 0, device.ledger.counts
            assert_readings(readings, case.readings, 1e-9)
            for command, value, want in case.commands:
                peer.requests.clear()
                await device.command(command, value)
                assert peer.requests == [("GET", path, "") for path in want], (command, value, peer.requests)
        finally:
            await device.aclose()


async def test_hardy_barth_ecb1_reads_its_charge_control_and_meter_and_posts_mode_ampere_start_stop() -> None:
    async with RecordingPeer(ECB1_ANSWERS) as peer:
        entry = find("hardy-barth-ecb1").entry
        device = create_for(entry, host="127.0.0.1", port=peer.port, device_id="dev", timeout=2.0)
        try:
            readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
            assert device.ledger.total() == 0, device.ledger.counts
            assert_readings(readings, ECB1_READINGS, 1e-9)
            for command, value, want in ECB1_COMMANDS:
                peer.requests.clear()
                await device.command(command, value)
                assert peer.requests == want, (command, value, peer.requests)
        finally:
            await device.aclose()


class UdpPeer(asyncio.DatagramProtocol):
    """Answers each datagram to its sender from ``answer`` (text in, text out or None); records them."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.received: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("ascii")
        self.received.append(text)
        reply = self.answer(text)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply.encode("ascii"), addr)


async def _udp_peer(answer: Any) -> tuple[asyncio.DatagramTransport, UdpPeer, int]:
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(
        lambda: UdpPeer(answer), local_addr=("127.0.0.1", 0)
    )
    return transport, peer, transport.get_extra_info("sockname")[1]  # type: ignore[return-value]


async def test_keba_udp_reads_reports_2_and_3_and_sends_curr_and_ena() -> None:
    """KEBA UDP Programmer's Guide: ``report 2``/``report 3`` answer JSON, commands ``TCH-OK :done``."""

    def answer(text: str) -> str:
        return json.dumps(KEBA_REPORTS[text]) if text in KEBA_REPORTS else "TCH-OK :done"

    transport, peer, port = await _udp_peer(answer)
    entry = find("keba-p30-udp").entry
    device = create_for(entry, host="127.0.0.1", port=port, local_port=0, device_id="dev", timeout=2.0)
    try:
        readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
        assert device.ledger.total() == 0, device.ledger.counts
        assert_readings(readings, KEBA_READINGS, 1e-9)
        peer.received.clear()
        await device.command("current_limit", 10.0)
        await device.command("enable", 0.0)
        await device.command("enable", 1.0)
        assert peer.received == ["curr 10000", "ena 0", "ena 1"]
    finally:
        await device.aclose()
        transport.close()


@pytest.mark.parametrize(
    ("entry_id", "readings", "command", "value", "sent", "relays"),
    [
        # KMTronic LAN UDP relay board manual: FF0000 asks the states ('0'/'1' per relay, relay 1 first),
        # FFnn01 / FFnn00 switch relay nn (not acknowledged)
        ("kmtronic-udp-relay", {"relay": 1.0}, "relay", 0.0, ["FF0100", "FF0000"], "00000000"),
        (
            "sgready-kmtronic-udp",
            {"relay": 1.0, "sgready": 1.0},
            "sgready",
            3.0,
            ["FF0100", "FF0201", "FF0000"],
            "01000000",
        ),
    ],
)
async def test_kmtronic_udp_reads_the_states_and_switches_relays_by_their_commands(
    entry_id: str, readings: dict[str, float], command: str, value: float, sent: list[str], relays: str
) -> None:
    states = list("10000000")  # relay 1 on: SG Ready 1 (blocked) for the two-relay entry

    def answer(text: str) -> str | None:
        if text == "FF0000":
            return "".join(states)
        states[int(text[2:4], 16) - 1] = "1" if text[4:6] == "01" else "0"
        return None

    transport, peer, port = await _udp_peer(answer)
    device = create_for(find(entry_id).entry, host="127.0.0.1", port=port, device_id="dev", timeout=2.0)
    try:
        got = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
        assert device.ledger.total() == 0, device.ledger.counts
        assert_readings(got, readings, 1e-9)
        peer.received.clear()
        await device.command(command, value)
        assert peer.received == sent
        assert "".join(states) == relays
    finally:
        await device.aclose()
        transport.close()


# --- RCT Power: the serial protocol on TCP, frames as rctclient's protocol documentation dissects them ---
# ("Frame by example": read battery.soc = 2b 01 04 959930bf 0d65, answer 00 2b 05 08 959930bf 3e97b191 9c86;
# '+' starts a frame, '-' escapes '+'/'-' after it, CRC16 polynomial 0x1021 over command..payload with a
# NUL appended to an odd length; big endian). Object ids and types from the documentation's registry.
RCT_SOC = 0x959930BF  # battery.soc, float, a fraction
RCT_OBJECTS: dict[int, bytes] = {
    RCT_SOC: bytes.fromhex("3e97b191"),  # the documented answer: about 0.296
    0x400F015B: bytes.fromhex("c4bb8000"),  # g_sync.p_acc_lp: battery -1500.0 W (+ discharge): charging
    0x91617C58: bytes.fromhex("43d24000"),  # g_sync.p_ac_grid_sum_lp: grid 420.5 W (+ import)
    0x62FBE7DC: bytes.fromhex("4996b438"),  # energy.e_grid_load_total: 1234567.0 Wh
    0x44D4C533: bytes.fromhex("4ae99762"),  # energy.e_grid_feed_total: 7654321.0 Wh
    0xDB11855B: bytes.fromhex("45034000"),  # dc_conv.dc_conv_struct[0].p_dc_lp: 2100.0 W
    0x0CB5D21B: bytes.fromhex("44af0000"),  # dc_conv.dc_conv_struct[1].p_dc_lp: 1400.0 W
    0xFC724A9E: bytes.fromhex("4a989680"),  # energy.e_dc_total[0]: 5000000.0 Wh
    0x68EEFD3D: bytes.fromhex("4a371b00"),  # energy.e_dc_total[1]: 3000000.0 Wh
    0x70A2AF4F: bytes.fromhex("00000000"),  # battery.bat_status: int32 0 (no calibration)
    0xF168B748: bytes.fromhex("04"),  # power_mng.soc_strategy: enum, 4 internal
    0xBD008E29: bytes.fromhex("00000000"),  # power_mng.battery_power_extern: 0.0 W (+ discharge)
}
RCT_READINGS = {
    "power": -1500.0,
    "soc": 29.62766,  # 0x3E97B191 = 0.2962766 as a fraction
    "power_grid": 420.5,
    "energy_import": 1_234_567.0,
    "energy_export": 7_654_321.0,
    "power_pv": 3500.0,
    "energy_pv": 8_000_000.0,
}


def rct_crc(data: bytes) -> int:
    """CRC16, polynomial 0x1021, start 0xFFFF, over the data with a NUL appended to an odd length."""
    crc = 0xFFFF
    for byte in data + (b"\0" if len(data) % 2 else b""):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021 if crc & 0x8000 else crc << 1) & 0xFFFF
    return crc


def rct_frame(command: int, oid: int, payload: bytes = b"") -> bytes:
    body = bytes([command, 4 + len(payload)]) + oid.to_bytes(4, "big") + payload
    body += rct_crc(body).to_bytes(2, "big")
    return b"+" + b"".join(b"-" + bytes([b]) if b in b"+-" else bytes([b]) for b in body)


def test_rct_frames_as_the_protocol_documentation_dissects_them() -> None:
    """The peer's own framing reproduces the documented example byte for byte (so it is no copy of ours)."""
    assert rct_frame(0x01, RCT_SOC) == bytes.fromhex("2b0104959930bf0d65")
    assert rct_frame(0x05, RCT_SOC, RCT_OBJECTS[RCT_SOC]) == bytes.fromhex("2b0508959930bf3e97b1919c86")


class RctPeer:
    """An RCT device on loopback: answers READ (0x01) with RESPONSE (0x05) frames of its objects, keeps
    what a WRITE (0x02) sends (no answer, as the device) and records the writes."""

    def __init__(self, objects: dict[int, bytes]) -> None:
        self.objects = dict(objects)
        self.writes: list[tuple[int, bytes]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raw = b""
        while data := await reader.read(4096):
            raw += data
            while (start := raw.find(b"+")) >= 0:
                body, i = bytearray(), start + 1
                while i < len(raw) and (len(body) < 2 or len(body) < 2 + body[1] + 2):
                    if raw[i : i + 1] == b"-":
                        i += 1
                    if i < len(raw):
                        body.append(raw[i])
                    i += 1
                if len(body) < 2 or len(body) < 2 + body[1] + 2:
                    break  # incomplete: wait for more
                raw = raw[i:]
                command, length = body[0], body[1]
                assert int.from_bytes(body[2 + length :], "big") == rct_crc(bytes(body[: 2 + length]))
                oid, payload = int.from_bytes(body[2:6], "big"), bytes(body[6 : 2 + length])
                if command == 0x02:
                    self.writes.append((oid, payload))
                    self.objects[oid] = payload
                elif command == 0x01 and oid in self.objects:
                    writer.write(rct_frame(0x05, oid, self.objects[oid]))
                    await writer.drain()
        writer.close()


async def test_rct_reads_its_objects_and_sets_the_external_battery_power() -> None:
    peer = RctPeer(RCT_OBJECTS)
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    device = create_for(
        find("rct-power-storage").entry, host="127.0.0.1", port=port, device_id="dev", timeout=2.0
    )
    try:
        readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
        assert device.ledger.total() == 0, device.ledger.counts
        assert_readings(readings, RCT_READINGS, 1e-6)
        await device.command("battery_setpoint", 2000.0)  # discharge 2 kW: 2000.0 W, strategy 2 (external)
        assert peer.writes == [(0xBD008E29, bytes.fromhex("44fa0000")), (0xF168B748, b"\x02")]
        peer.writes.clear()
        await device.command("battery_mode", 0.0)  # back to the device: strategy 4, then 0 W
        assert peer.writes == [(0xF168B748, b"\x04"), (0xBD008E29, bytes.fromhex("00000000"))]
    finally:
        await device.aclose()
        server.close()
        await server.wait_closed()
