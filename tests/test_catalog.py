"""The catalogue as data: every file validates, ids are unique, the generated list is current,
``wattwerk devices`` prints what it promises, and ``wattwerk probe`` finds emulated devices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wattwerk.devices import listing
from wattwerk.devices.catalog import CATALOG_DIR, load_catalog, load_file
from wattwerk.devices.probe import probe
from wattwerk.devices.profile import CAPABILITIES
from wattwerk.devices.status import status
from wattwerk.errors import PermanentError
from wattwerk.protocols.modbus import LinkConfig
from wattwerk.sim.emulators.modbus import CatalogEmulator, EmulatorServer
from wattwerk.sim.emulators.sunspec import SunSpecEmulator

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(CATALOG_DIR.glob("*/*.yaml"))


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_catalog_file_validates(path: Path) -> None:
    parsed = load_file(path)
    assert parsed.category == path.parent.name
    for entry in parsed.entries:
        assert entry.source, entry.id
        channels = [r.name for r in entry.registers if r.channel]
        if entry.sunspec is None and entry.untested is None and entry.native is None:
            for cap, quantities in (
                ("read_power", ("power",)),
                ("read_energy", ("energy", "heat_energy")),
                ("read_soc", ("soc",)),
                ("read_temperature", ("temperature",)),
            ):
                if cap in entry.capabilities:  # a channel of the quantity (or its _l1, _import ... forms)
                    assert any(c == q or c.startswith(q + "_") for c in channels for q in quantities), (
                        entry.id,
                        cap,
                    )


def test_ids_unique_and_catalog_large_enough() -> None:
    items = load_catalog()
    ids = [i.entry.id for i in items]
    assert len(ids) == len(set(ids))
    assert {i.category for i in items} >= {
        "pv_inverter",
        "hybrid_battery_inverter",
        "ev_charger",
        "electricity_meter",
        "heat_pump",
    }


def test_a_sunspec_battery_reads_its_battery_flow_not_the_hybrids_ac_power() -> None:
    """A site battery's power is its own flow (+ discharging): a battery entry whose SunSpec chain has an
    inverter model (W: PV and battery together on a hybrid) says where the battery's flow comes from."""
    inverters = {101, 102, 103, 111, 112, 113, 701}
    batteries = [i.entry for i in load_catalog() if i.category == "hybrid_battery_inverter"]
    hybrids = {e.id: e.sunspec for e in batteries if e.sunspec and inverters & set(e.sunspec.models)}
    # SMA's Inverter Manager: a gateway whose 103 is the plant's AC power (of Sunny Tripower Storage 60
    # battery inverters, AC-coupled, no PV, when it is a battery plant); no battery model in its chain
    hybrids.pop("sma-inverter-manager")
    assert set(hybrids) >= {"sunspec-storage", "kostal-plenticore-battery", "fronius-gen24-battery"}
    assert [i for i, spec in hybrids.items() if spec.battery_power == "inverter"] == []


def test_bad_catalog_file_is_rejected_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "ev_charger" / "acme.yaml"
    bad.parent.mkdir()
    bad.write_text(
        "category: ev_charger\nvendor: ACME\nentries:\n  - id: acme-1\n    models: [X]\n"
        "    protocols: [modbus_tcp]\n    registers:\n"
        "      - {name: power, address: 1, type: q99}\n    source: [{title: t}]\n"
    )
    with pytest.raises(PermanentError, match=r"(?s)acme\.yaml.*registers.0.type.*unknown type 'q99'"):
        load_file(bad)
    bad.write_text(
        bad.read_text()
        .replace("type: q99", "type: u16")
        .replace("models: [X]", "models: [X]\n    capabilities: [charge_current]")
    )
    with pytest.raises(PermanentError, match="charge_current needs a write of current_limit"):
        load_file(bad)


def test_compatibility_doc_is_current(shared_data: Path) -> None:
    target = shared_data.parent / "devices-target.csv"
    expected = listing.markdown(list(load_catalog()), target)
    doc = ROOT / "docs" / "compatibility.md"
    assert doc.exists() and doc.read_text(encoding="utf-8") == expected, (
        f"docs/compatibility.md is stale: regenerate with `{listing.REGENERATE}`"
    )


def test_devices_json_rows(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    listing.add_arguments(parser)
    assert listing.run(parser.parse_args(["--format", "json", "--category", "ev_charger"])) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["category"] == "ev_charger" for r in rows)
    for r in rows:
        assert {"category", "vendor", "models", "protocols", "capabilities", "status"} <= set(r)
        assert r["status"] in ("tested", "untested")
        assert (r["status"] == "untested") == bool(r["reason"])
    assert listing.run(parser.parse_args(["--category", "nope"])) == 2


def test_status_rule() -> None:
    for item in load_catalog():
        state, reason = status(item)
        if item.entry.untested:
            assert (state, reason) == ("untested", item.entry.untested)
        if state == "tested":
            assert item.entry.registers or item.entry.sunspec or item.entry.native
            assert all(c in CAPABILITIES for c in item.entry.capabilities)


def test_csv_format_has_one_line_per_entry() -> None:
    text = listing.render("csv", list(load_catalog()))
    assert len(text.strip().splitlines()) == len(load_catalog()) + 1


class Idle:
    def values(self) -> dict[str, float]:
        return {"power": 1200.0, "energy": 5_000_000.0}

    def apply(self, command: str, value: float) -> None:
        pass


async def test_probe_finds_sunspec_and_identified_entries() -> None:
    huawei = next(i for i in load_catalog() if i.entry.id == "huawei-sun2000")
    sunspec = SunSpecEmulator([1, 103, 120, 121, 123], Idle(), unit=126, common={"Mn": "SMA"})
    vendor = CatalogEmulator(huawei.entry, Idle(), unit=1)
    async with EmulatorServer([sunspec.bank, vendor.bank]) as server:
        reports = await probe(LinkConfig(port=server.port, timeout=2.0, retries=0), [126, 1])
    by_unit = {r.unit: r for r in reports}
    assert [m["id"] for m in by_unit[126].sunspec_models] == [1, 103, 120, 121, 123]
    assert by_unit[126].info["manufacturer"] == "SMA"
    assert "sma-tripower-x" in by_unit[126].matches and "fronius-symo" not in by_unit[126].matches
    assert by_unit[1].answered and not by_unit[1].sunspec_models
    assert by_unit[1].matches == ["huawei-sun2000"]


async def test_probe_command_line_prints_what_answers(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import asyncio

    from wattwerk.devices import probe as probe_cmd

    emu = SunSpecEmulator([1, 113, 120, 123], Idle(), unit=1, common={"Mn": "Fronius"})
    async with EmulatorServer([emu.bank]) as server:
        parser = argparse.ArgumentParser()
        probe_cmd.add_arguments(parser)
        args = parser.parse_args([f"127.0.0.1:{server.port}", "--unit", "1", "--timeout", "2"])
        code = await asyncio.to_thread(probe_cmd.run, args)
        text = capsys.readouterr().out
        args = parser.parse_args([f"127.0.0.1:{server.port}", "--unit", "1", "--json"])
        assert await asyncio.to_thread(probe_cmd.run, args) == 0
        data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "unit 1: answers" in text and "manufacturer Fronius" in text and "model   113" in text
    assert "fronius-symo" in text
    assert [m["id"] for m in data["units"][0]["sunspec"]] == [1, 113, 120, 123]
    assert probe_cmd.run(parser.parse_args([])) == 2  # neither host nor serial


def test_cli_dispatch_lists_devices(capsys: pytest.CaptureFixture[str]) -> None:
    from wattwerk.cli import main

    assert main(["devices", "--format", "csv", "--category", "heat_pump"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("category,vendor,models")
    assert any("sgready-modbus-relay" in line and ",tested," in line for line in lines[1:])
