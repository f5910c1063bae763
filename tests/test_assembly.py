"""The one assembly (``edge.assembly``): its dry mode refuses what ``assemble`` refuses without opening
anything; lock-step ``step()`` reads what is due on the injected clock and re-plans on it; the
maintenance commands act on the edge and its site file; the demo's bundled prices map onto any date."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from wattwerk.config import load_demo_config, parse_config
from wattwerk.demo import DemoSite, demo_prices
from wattwerk.edge.assembly import EdgeOptions, assemble, check
from wattwerk.edge.maintenance_client import EdgeCommands, LogTail
from wattwerk.edge.outbox import Row
from wattwerk.errors import PermanentError
from wattwerk.market.sample import SampleDayAhead, sample_day
from wattwerk.model import Reading

SITE = """\
site:
  name: Dry house
  location: {latitude: 48.0, longitude: 7.8}
  timezone: Europe/Berlin
devices:
  - id: grid
    role: grid_meter
    connection: {type: tcp, host: 127.0.0.1, port: 1, format: dsmr}
  - id: pv1
    role: pv
    kwp: 8
    catalog: CATALOG
    connection: {type: modbus_tcp, host: 127.0.0.1, port: 2, unit: 1}
store:
  data_dir: DATADIR
"""


def site(tmp_path: Path, catalog: str = "sunspec-inverter-int") -> str:
    return SITE.replace("CATALOG", catalog).replace("DATADIR", str(tmp_path / "var"))


def test_dry_mode_refuses_what_assemble_refuses_and_opens_nothing(tmp_path: Path) -> None:
    good = parse_config(site(tmp_path))
    assert check(good) == []
    bad = parse_config(site(tmp_path, "sunspec-inverter-itn"))
    problems = check(bad)
    assert len(problems) == 1
    where, message = problems[0]
    assert where[:2] == ("devices", 1) and 'did you mean "sunspec-inverter-int"' in message
    with pytest.raises(PermanentError, match="sunspec-inverter-itn"):
        assemble(bad)
    assert not (tmp_path / "var").exists()  # neither check nor the refused build left a file behind
    demo = load_demo_config()
    assert any("sim" in msg for _, msg in check(demo))  # `wattwerk run` cannot simulate devices ...
    assert check(demo, EdgeOptions(sim_drivers=lambda dev, ledger: None)) == []  # ... the demo's hook can


def test_lock_step_reads_what_is_due_and_plans_on_the_injected_clock(tmp_path: Path) -> None:
    """The demo's edge on the simulated clock: the grid meter (1 s) is read every step, the PV (5 s)
    every fifth; the planner plans for the simulated slot, not the wall clock's."""
    cfg = load_demo_config()
    start = datetime(2025, 6, 15, 10, tzinfo=UTC)
    demo = DemoSite(cfg, start, tmp_path / "edge", step_s=1.0, flat_tariff=True)
    try:
        demo.advance_to((start + timedelta(seconds=10)).timestamp())
        reads = {p.device_id: p.reads for p in demo.edge.runtime.polled}
        assert reads["grid"] == 11 and reads["pv1"] == 3  # at 0, 1 … 10 s; at 0, 5, 10 s
        plan = demo.plan()
        assert plan["status"] == "optimal" and plan["source"] == "fixed"  # --flat-tariff
        assert plan["slots"][0]["start"] == start.isoformat()
        assert demo.edge.runtime.stats.cycles == 11
    finally:
        demo.close()


def test_maintenance_commands_act_on_the_edge_and_its_site_file(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("# the owner's comment stays\n" + site(tmp_path))
    edge = assemble(parse_config(path.read_text()), EdgeOptions(site_path=path))
    try:
        commands = edge.commands
        status = asyncio.run(commands("status", {}))
        assert status["site"] == "Dry house" and set(status["devices"]) == {"grid", "pv1"}
        done = asyncio.run(commands("set_config", {"control.peak_shaving_w": 7000}))
        assert done == {"changed": ["control.peak_shaving_w"], "file": str(path), "restart_needed": True}
        text = path.read_text()
        assert "peak_shaving_w: 7000" in text and "# the owner's comment stays" in text
        for payload, why in (
            ({"portal.url": "http://evil"}, "cannot be set remotely"),
            ({"control.peak_shaving_w": -5}, "peak_shaving_w"),
        ):
            with pytest.raises(ValueError, match=why):
                asyncio.run(commands("set_config", payload))
        assert path.read_text() == text  # a refused change leaves the file as it was
        with pytest.raises(ValueError, match="unknown command kind"):
            asyncio.run(commands("reboot", {}))
    finally:
        edge.close()
    no_file = EdgeCommands(dict, lambda: None, None, LogTail())
    with pytest.raises(ValueError, match="without a site file"):
        asyncio.run(no_file("set_config", {"control.peak_shaving_w": 1}))


def test_the_bundled_prices_map_onto_any_date_keeping_the_weekday() -> None:
    p = SampleDayAhead()
    assert (p.first, p.last) == (date(2025, 1, 1), date(2025, 9, 13))
    assert sample_day(date(2025, 6, 21), p.first, p.last) == date(2025, 6, 21)  # inside: itself
    for day in (date(2026, 12, 1), date(2024, 11, 3), date(2027, 6, 21), date(2028, 2, 29)):
        mapped = sample_day(day, p.first, p.last)
        assert p.first <= mapped <= p.last and mapped.weekday() == day.weekday()
    assert sample_day(date(2026, 12, 1), p.first, p.last).month == 1  # December takes January's prices
    # published as the auction does: before 13:00 Berlin only today, after it tomorrow too
    until = datetime(2025, 6, 24, tzinfo=UTC)
    morning = asyncio.run(p.fetch(None, datetime(2025, 6, 21, 8, tzinfo=UTC), until))
    afternoon = asyncio.run(p.fetch(None, datetime(2025, 6, 21, 12, tzinfo=UTC), until))
    assert len(morning.values) == 14 and len(afternoon.values) == 34  # to 22:00 UTC today / tomorrow
    assert "SMARD.de" in morning.source


def test_demo_prices_fall_back_to_the_fixed_tariff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_demo_config()
    assert demo_prices(cfg, tmp_path).provider.name == "sample"

    def unreadable(*_: object) -> None:
        raise OSError("no such file")

    monkeypatch.setattr("wattwerk.market.sample.sample_series", unreadable)
    assert demo_prices(cfg, tmp_path).provider is None  # the site file's fixed tariff


def test_pairing_uploads_where_every_counter_stood(tmp_path: Path) -> None:
    """The wizard pairs a running edge: before the first new reading, its outbox holds the latest
    stored reading of every channel, so the portal's counters start where the meter stood and the
    energy after pairing counts in full (the test journey lost a minute when the meter moved first)."""
    edge = assemble(parse_config(site(tmp_path)), EdgeOptions())
    t0 = datetime(2026, 12, 6, 12, tzinfo=UTC)
    for s, wh in ((0, 1000.0), (60, 1095.0)):
        edge.recorder.record(
            [Reading("grid.energy_import", t0 + timedelta(seconds=s), wh), Reading("pv1.power", t0, 300.0)]
        )
    paired = parse_config(site(tmp_path) + "portal: {url: 'http://127.0.0.1:1', token: t, site: s1}\n")

    async def pair() -> list[Row]:
        edge._stop = stop = asyncio.Event()
        edge.attach_portal(paired)
        stop.set()
        await asyncio.gather(*edge._paired, return_exceptions=True)
        assert edge.outbox is not None
        return edge.outbox.peek(10)

    try:
        rows = asyncio.run(pair())
    finally:
        edge.close()
    sent = {(ch, ts, v) for _, ch, ts, v in rows}
    at = round(t0.timestamp() * 1000)
    assert sent == {("grid.energy_import", at + 60_000, 1095.0), ("pv1.power", at, 300.0)}
