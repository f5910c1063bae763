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
from owned_native_answers import HTTP_CASES, KEBA_READINGS, KEBA_REPORTS, HttpCase
from owned_sunspec_tables import BATTERY_READ, INT_3PH_READ, PLENTICORE, limit_words, limits
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
    {**INT_3PH_READ, **limits(10_000.0), **BATTERY_READ},
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
    "keba-p30-udp",  # the UDP tests below
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
