"""The assembly in lock-step over emulators on loopback, as the scenarios and benchmarks run it:

* a ``submeter`` with ``measures: hp`` (a meter fitted in the feed of an SG-Ready relay board, which
  reports no power) gives the relay board's device its power, under the device's own id;
* a Modbus device that stops answering is backed off on the injected clock, so after it answers
  again the edge reads it within simulated, not wall, seconds;
* ``EdgeOptions.before_control`` runs after the read round and before the control cycle."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wattwerk.config import SiteConfig
from wattwerk.devices.catalog import find
from wattwerk.edge.assembly import EdgeOptions, assemble, check
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer

T0 = datetime(2025, 6, 15, 10, 0, tzinfo=UTC)
METER = "carlo-gavazzi-em24"
RELAY = "sgready-modbus-relay"


class Values:
    """What an emulated device shows; the commands written to it."""

    def __init__(self, **v: float) -> None:
        self.v = dict(v)
        self.applied: list[tuple[str, float]] = []

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        self.applied.append((command, value))


def site(tmp_path: Path, port: int, *, measures: str = "hp") -> SiteConfig:
    def modbus(unit: int) -> dict[str, Any]:
        return {
            "type": "modbus_tcp",
            "host": "127.0.0.1",
            "port": port,
            "unit": unit,
            "pause_ms": 0,
            "timeout_s": 0.5,
        }

    return SiteConfig.model_validate(
        {
            "site": {
                "name": "Lock-step",
                "location": {"latitude": 48.0, "longitude": 7.8},
                "timezone": "Europe/Berlin",
                "grid": {"max_import_w": 11000},
            },
            "devices": [
                {
                    "id": "hp",
                    "role": "heat_pump",
                    "catalog": RELAY,
                    "sg_ready": True,
                    "interval_s": 1,
                    "connection": modbus(1),
                },
                {
                    "id": "hp_meter",
                    "role": "submeter",
                    "catalog": METER,
                    "measures": measures,
                    "interval_s": 1,
                    "connection": modbus(2),
                },
            ],
            "store": {"data_dir": str(tmp_path / "var")},
        }
    )


def test_a_submeter_measures_the_device_it_names(tmp_path: Path) -> None:
    meter = Values(power=2345.6, energy_import=120_000.0)
    relay = Values()

    async def main() -> tuple[float | None, float | None, list[str]]:
        banks = [
            CatalogEmulator(find(RELAY).entry, relay).bank,
            CatalogEmulator(find(METER).entry, meter, unit=2).bank,
        ]
        async with EmulatorServer(banks) as server:
            now = [T0]
            edge = assemble(site(tmp_path, server.port), EdgeOptions(clock=lambda: now[0]))
            try:
                await edge.step()
                snap = edge.snapshot()
                return snap.get("hp.power"), snap.get("hp_meter.power"), sorted(snap.values)
            finally:
                edge.close()

    hp, own, channels = asyncio.run(main())
    assert hp is not None and abs(hp - 2345.6) < 0.2
    assert own is None  # the meter's readings are the heat pump's, not its own
    assert "hp.energy_import" in channels


def test_measures_must_name_a_device_of_the_file(tmp_path: Path) -> None:
    problems = check(site(tmp_path, 1502, measures="hpp"))
    assert [(where, msg) for where, msg in problems] == [
        (("devices", 1, "measures"), 'no device "hpp" in this file (did you mean "hp"?)')
    ]
    problems = check(site(tmp_path, 1502, measures="hp_meter"))
    assert problems and "is a meter itself" in problems[0][1]


def test_a_device_that_answers_again_is_read_after_simulated_seconds(tmp_path: Path) -> None:
    """Six failed reads, 70 simulated seconds apart, back the meter off for 32 s of the injected
    clock (not of the wall clock): answering again, it is not read 10 s later, but 40 s later."""
    meter = Values(power=500.0, energy_import=1000.0)
    order: list[str] = []

    async def main() -> tuple[int, float | None, float | None]:
        banks = [
            CatalogEmulator(find(RELAY).entry, Values()).bank,
            CatalogEmulator(find(METER).entry, meter, unit=2).bank,
        ]
        server = await EmulatorServer(banks).start()
        port = server.port
        now = [T0]

        async def hook(at: datetime) -> None:
            order.append(f"hook {at:%H:%M:%S}")

        edge = assemble(site(tmp_path, port), EdgeOptions(clock=lambda: now[0], before_control=hook))
        try:
            await edge.step()
            await server.close()
            for _ in range(6):
                now[0] += timedelta(seconds=70)
                await edge.step()
            failed = edge.ledger.total()
            server = await EmulatorServer(banks, port=port).start()
            meter.v["power"] = 750.0
            seen = []
            for wait in (10, 30):
                now[0] += timedelta(seconds=wait)
                await edge.step()
                seen.append(edge.snapshot().get("hp.power"))
            return failed, seen[0], seen[1]
        finally:
            edge.close()
            await server.close()

    failed, backed_off, again = asyncio.run(main())
    assert failed >= 6
    assert backed_off is None  # still backed off (and its last reading is stale)
    assert again is not None and abs(again - 750.0) < 0.2
    assert order[0] == "hook 10:00:00" and order[-1] == "hook 10:07:40" and len(order) == 9
