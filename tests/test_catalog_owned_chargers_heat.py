"""EV chargers, heat pumps and heating rods people own (issue 17), read and commanded through their
catalogue entries from peers that do NOT come from the entries: each device is a hand-written table of
the raw words its documentation describes, with example values (``owned_charger_heat_tables.py``), the
readings those stand for worked out by hand in our units, and the raw words each command must write. A
wrong address, type, word order, scale or command map in an entry fails here; ``test_catalog_entries.py``
(which builds its emulator from the entry) would agree with itself. The harness is the one of
``test_catalog_owned.py``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from owned_charger_heat_tables import CHARGER_EXAMPLES, HEAT_EXAMPLES
from owned_harness import Example, check_modbus_example, raw_bank
from wattwerk.devices.catalog import find, load_catalog
from wattwerk.devices.custom import HttpJsonDevice
from wattwerk.devices.device import create
from wattwerk.devices.factory import create_for
from wattwerk.devices.status import native
from wattwerk.errors import PermanentError
from wattwerk.protocols.modbus import LinkConfig, ModbusLink
from wattwerk.sim.emulators.http_server import HttpServerEmulator
from wattwerk.sim.emulators.modbus import EmulatorServer

# the catalogue files of these devices: every entry in them needs an example table
FILES = {
    *(
        f"ev_charger/{v}.yaml"
        for v in (
            "abb",
            "schneider_electric",
            "innogy",
            "phoenix_contact",
            "em2go",
            "kse",
            "weidmueller",
            "sungrow",
            "solax",
            "siemens",
            "obo",
            "bender",
            "enovates",
            "dadapower",
            "tinkerforge",
            "nrgkick",
        )
    ),
    *(f"heat_pump/{v}.yaml" for v in ("stiebel_eltron", "lambda", "idm", "glen_dimplex", "xtherma")),
    "heating_rod/askoma.yaml",
}
EXAMPLES = [*CHARGER_EXAMPLES, *HEAT_EXAMPLES]
TEMPLATED = {"tinkerforge-warp"}  # the JSON entries of these files, read below from their documented answers


async def _check(example: Example) -> None:
    await check_modbus_example(example)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.entry for e in EXAMPLES])
async def test_entry_reads_the_documented_example_and_writes_its_commands(example: Example) -> None:
    await _check(example)


async def test_a_state_the_device_has_no_code_for_is_refused_before_anything_is_written() -> None:
    """Glen Dimplex's Smart_Grid register has no code for SG Ready 4 (forced on): refused, 5167 unchanged."""
    example = next(e for e in HEAT_EXAMPLES if e.entry == "glen-dimplex-wpm")
    entry = find(example.entry).entry
    bank = raw_bank(example, entry.connection.unit)
    async with EmulatorServer([bank]) as server:
        link = ModbusLink(LinkConfig(port=server.port, timeout=2.0))
        try:
            device = create(entry, link, device_id="dev")
            with pytest.raises(PermanentError):
                await device.command("sgready", 4.0)
            assert bank.current()["holding_5167"] == 10.0
        finally:
            link.close()


# Tinkerforge WARP2 (firmware 2.x) answers, keys and units as its API reference gives them
WARP_ANSWERS: dict[str, Any] = {
    "/meter/values": {"power": 11034.5, "energy_rel": 12.345, "energy_abs": 2345.678},
    "/evse/state": {"iec61851_state": 2, "charger_state": 3, "contactor_state": 3, "contactor_error": 0},
    "/evse/external_current": {"current": 16000},
}
WARP_READINGS = {"power": 11034.5, "energy": 2_345_678.0, "state": 2.0, "current_limit": 16.0}


class JsonDevicePeer(HttpServerEmulator):
    """A charger answering its documented JSON on GET and recording each PUT's path and JSON body."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.puts: list[tuple[str, Any]] = []

    def app(self) -> Starlette:
        async def get(request: Request) -> JSONResponse:
            return JSONResponse(self.answers[request.url.path])

        async def put(request: Request) -> JSONResponse:
            self.puts.append((request.url.path, json.loads(await request.body())))
            return JSONResponse(None)

        routes = [Route(path, get, methods=["GET"]) for path in self.answers]
        return Starlette(routes=[*routes, Route("/evse/external_current_update", put, methods=["PUT"])])


async def test_warp_reads_its_documented_answers_and_puts_the_external_current_in_ma() -> None:
    entry = find("tinkerforge-warp").entry
    async with JsonDevicePeer(WARP_ANSWERS) as peer:
        device = create_for(entry, host="127.0.0.1", port=peer.port, device_id="dev", timeout=2.0)
        assert isinstance(device, HttpJsonDevice)
        try:
            readings = {r.channel.split(".", 1)[1]: r.value for r in await device.read()}
            assert device.ledger.total() == 0, device.ledger.counts
            assert set(readings) == set(WARP_READINGS), readings
            for name, want in WARP_READINGS.items():
                assert math.isclose(readings[name], want, rel_tol=1e-12), (name, readings[name])
            await device.set_current_limit(10.0)
            await device.enable(False)
            await device.enable(True)
            path = "/evse/external_current_update"
            assert peer.puts == [
                (path, {"current": 10000}),
                (path, {"current": 0}),
                (path, {"current": 6000}),
            ]
        finally:
            await device.aclose()


def test_every_entry_of_these_files_has_an_example() -> None:
    mine = [i for i in load_catalog() if f"{i.path.parent.name}/{i.path.name}" in FILES]
    assert {f"{i.path.parent.name}/{i.path.name}" for i in mine} == FILES  # each file exists
    templated = {i.entry.id for i in native(mine)}
    assert templated == TEMPLATED
    assert {i.entry.id for i in mine} - templated == {e.entry for e in EXAMPLES}
