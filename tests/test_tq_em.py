"""TQ Energy Manager EM 300 over HTTP/JSON: login, an expired session, wrong credentials, phase values,
bad answers, and the simulated grid point read through the emulator."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from wattwerk.devices.catalog import find
from wattwerk.devices.factory import create_for
from wattwerk.devices.tq_em import TqEmDevice
from wattwerk.sim.emulators.tq_em import TqEmEmulator

ENTRY = find("tq-em300").entry


class FakeGrid:
    def __init__(self, power: float) -> None:
        self.v = {"power": power, "energy_import": 4_321_987.0, "energy_export": 1_234_876.0}

    def values(self) -> dict[str, float]:
        return self.v

    def apply(self, command: str, value: float) -> None:
        raise AssertionError("a meter takes no commands")


def _device(emulator: TqEmEmulator, password: str | None = None) -> TqEmDevice:
    secret = emulator.password if password is None else password
    url = f"http://:{secret}@127.0.0.1:{emulator.port}"
    device = create_for(ENTRY, host=url, device_id="grid", timeout=2.0)
    assert isinstance(device, TqEmDevice)
    return device


async def test_export_is_negative_and_phases_add_up() -> None:
    async with TqEmEmulator(FakeGrid(-2750.0)) as emulator:
        device = _device(emulator)
        try:
            r = {x.channel: x.value for x in await device.read()}
        finally:
            await device.aclose()
    assert r["grid.power"] == -2750.0
    assert r["grid.energy_import"] == 4_321_987.0 and r["grid.energy_export"] == 1_234_876.0
    assert math.isclose(r["grid.power_l1"] + r["grid.power_l2"] + r["grid.power_l3"], -2750.0)
    assert {"grid.voltage_l1", "grid.current_l3"} <= r.keys()
    assert device.ledger.total() == 0


async def test_logs_in_once_and_again_after_the_session_expired() -> None:
    async with TqEmEmulator(FakeGrid(800.0)) as emulator:
        emulator.currents = False
        device = _device(emulator)
        try:
            first = {x.channel for x in await device.read()}
            assert len(await device.read()) == len(first)
            assert emulator.logins == 1
            emulator.expire()
            assert len(await device.read()) == len(first)
            assert emulator.logins == 2
        finally:
            await device.aclose()
    assert "grid.current_l1" not in first  # optional currents absent on this firmware
    assert device.ledger.total() == 0


async def test_wrong_password_and_bad_answers_are_counted_not_raised() -> None:
    async with TqEmEmulator(FakeGrid(100.0)) as emulator:
        wrong = _device(emulator, password="guess")
        good = _device(emulator)
        try:
            assert await wrong.read() == []
            assert wrong.ledger.by_kind("grid") == {"device": 1}
            assert await wrong.read() == []  # backed off: no second login attempt yet
            assert emulator.logins == 1
            emulator.fail_next = 1
            assert await good.read() == []
            good.health.ok()
            emulator.garbage = True
            assert await good.read() == []
            good.health.ok()
            assert len(await good.read()) > 0
        finally:
            await wrong.aclose()
            await good.aclose()
    assert good.ledger.by_kind("grid") == {"timeout": 1, "http": 1}


async def test_simulated_grid_point_read_through_the_emulator() -> None:
    from wattwerk.sim import SiteSim

    site = SiteSim(start=datetime(2025, 6, 2, 12, 0, tzinfo=UTC))
    site.step(900)
    async with TqEmEmulator(site.grid) as emulator:
        device = _device(emulator)
        try:
            r = {x.channel: x.value for x in await device.read()}
        finally:
            await device.aclose()
    v = site.grid.values()
    assert math.isclose(r["grid.power"], v["power"], abs_tol=1e-6)
    assert r["grid.energy_import"] == v["energy_import"] and r["grid.energy_export"] == v["energy_export"]


async def test_a_site_file_reaches_the_tq_driver_with_its_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from wattwerk.config import parse_config
    from wattwerk.edge.assembly import EdgeOptions, assemble

    async with TqEmEmulator(FakeGrid(-400.0)) as emulator:
        text = (
            "site:\n  name: TQ test\n  location: {latitude: 48.0, longitude: 7.8}\n"
            "  timezone: Europe/Berlin\n"
            "devices:\n  - id: grid\n    role: grid_meter\n    catalog: tq-em300\n"
            f"    connection: {{type: http, url: 'http://:{emulator.password}@127.0.0.1:{emulator.port}'}}\n"
            f"store:\n  data_dir: {tmp_path}\n"
        )
        edge = assemble(parse_config(text), EdgeOptions(read_only=True))
        try:
            driver = edge.devices.polled[0].driver
            assert isinstance(driver, TqEmDevice)
            readings = {r.channel: r.value for r in await driver.read()}
            await driver.aclose()
        finally:
            edge.close()
    assert readings["grid.power"] == -400.0 and emulator.logins == 1
