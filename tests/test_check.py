"""``wattwerk check`` refuses everything ``wattwerk run`` refuses, with the same lines (issue 13).

* a table of broken site files (tests/data/broken_sites.yaml): the real CLI as subprocesses,
  ``check`` and ``run`` print the same ``FILE:LINE: FIELD: MESSAGE`` lines, ``run`` exits with 78
  (EX_CONFIG) before it opens anything;
* every site-file example in docs/*.md, README.md and examples/*.yaml builds in the dry mode;
* the Modbus unit and port default to the catalogue entry's (SMA: unit 126), against a pymodbus server.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from wattwerk.config import parse_config
from wattwerk.config.loader import parse_document, problem_lines, validate_document
from wattwerk.edge.check import EX_CONFIG, dry_check
from wattwerk.edge.drivers import SiteProblems, build_devices
from wattwerk.errors import InputLedger

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("wattwerk")
CASES = YAML(typ="safe").load((ROOT / "tests" / "data" / "broken_sites.yaml").read_text(encoding="utf-8"))
GRID = "  - id: grid\n    role: grid_meter\n    connection: {type: tcp, host: 127.0.0.1, port: 2000}"
HEAD = "site: {name: H, location: {latitude: 48, longitude: 8}, timezone: Europe/Berlin}\n"


def _deep() -> bytes:
    return ("site: " + "[" * 200 + "]" * 200 + "\n").encode()


def _sparse(size: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as fh:
            fh.truncate(size)  # sparse: no disk, but `run` would have to read it all

    return write


MAKERS: dict[str, bytes | Callable[[Path], None]] = {
    "long_name": f"site: {{name: {'H' * 1000}, location: {{latitude: 48, longitude: 8}}, "
    "timezone: Europe/Berlin}\n".encode(),
    "long_value": (HEAD + "x-note: " + "n" * 51200 + "\n").encode(),
    "deep": _deep(),
    "many_values": ("x-list: [" + ", ".join(["1"] * 25000) + "]\n" + HEAD).encode(),
    "big": (
        HEAD
        + "".join(
            f"# padding line {i:07d} ......................................\n"
            for i in range(2 * 1024 * 1024 // 60 + 1)
        )
    ).encode(),
    "huge": _sparse(192 * 1000 * 1000),
    "latin1": "site: {name: Hä".encode("latin-1") + b"user, location: {latitude: 48}}\n",
}


def _write(case: dict, path: Path) -> None:
    if "make" in case:
        made = MAKERS[case["make"]]
        if callable(made):
            made(path)
        else:
            path.write_bytes(made)
    else:
        path.write_text(case["text"].replace("GRID", GRID), encoding="utf-8")
    for name, text in case.get("files", {}).items():  # user catalogue files beside the site file
        (path.parent / name).parent.mkdir(parents=True, exist_ok=True)
        (path.parent / name).write_text(text, encoding="utf-8")


def _matches(case: dict, lines: list[str], name: str) -> bool:
    """``lines`` are what the case expects, ``NAME:LINE: ...`` (``NAME: ...`` for the whole file)."""

    def full(e: str) -> str:
        return f"{name}:{e}" if e[:1].isdigit() else name + e

    if "expect" in case:
        return lines == [full(e) for e in case["expect"]]
    starts = case["expect_start"]
    return len(lines) == len(starts) and all(
        line.startswith(full(start)) for line, start in zip(lines, starts, strict=True)
    )


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict, Path]]:
    """Every case in its own directory (``run`` would create ./var there), as ``NN.yaml``."""
    out = []
    for i, case in enumerate(CASES):
        folder = tmp_path_factory.mktemp(f"case{i:02d}")
        _write(case, folder / f"{i:02d}.yaml")
        out.append((case, folder))
    return out


def test_the_table_is_large_and_each_case_names_what_it_expects():
    assert len(CASES) >= 30
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names)
    assert all(("expect" in c) != ("expect_start" in c) and ("text" in c) != ("make" in c) for c in CASES)


def test_check_and_run_refuse_every_broken_file_with_the_same_lines(broken):
    files = [str(folder / f"{i:02d}.yaml") for i, (_, folder) in enumerate(broken)]
    # one `check` for all files: each file's lines, in order, on stderr
    check = subprocess.run([str(EXE), "check", *files], capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and check.stdout == ""
    assert "Traceback" not in check.stderr
    by_file: dict[str, list[str]] = {f: [] for f in files}
    for line in check.stderr.splitlines():
        by_file[next(f for f in files if line.startswith(f + ":"))].append(line)
    # `run` on each, two at a time (two cores), in the case's folder
    procs: list[tuple[int, subprocess.Popen[str]]] = []
    results: dict[int, tuple[int, str]] = {}
    for i, (_, folder) in enumerate(broken):
        procs.append(
            (
                i,
                subprocess.Popen(
                    [str(EXE), "run", f"{i:02d}.yaml", "--no-web"],
                    cwd=folder,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
        while len(procs) >= 2 or (i == len(broken) - 1 and procs):
            j, proc = procs.pop(0)
            _, err = proc.communicate(timeout=120)
            results[j] = (proc.returncode, err)
    wrong = []
    for i, (case, folder) in enumerate(broken):
        code, err = results[i]
        checked = by_file[files[i]]
        run_lines = [line.replace(f"{i:02d}.yaml", files[i], 1) for line in err.splitlines()]
        if code != EX_CONFIG or run_lines != checked or not _matches(case, checked, files[i]):
            wrong.append(f"{case['name']}: run {code} {err!r}, check {checked!r}")
        if (folder / "var").exists():
            wrong.append(f"{case['name']}: run created its store before refusing the file")
    assert wrong == []


def test_every_line_is_file_colon_line_unless_the_whole_file_is_wrong(broken):
    whole = re.compile(r"^: (the file is empty|more than \d+ values once|larger than|not UTF-8)")
    for case in CASES:
        for expected in case.get("expect", []) + case.get("expect_start", []):
            assert re.match(r"^\d+: ", expected) or whole.match(expected), (case["name"], expected)


# ------------------------------------------------------------------ docs and examples

ROD = {
    "id": "rod",
    "role": "heating_rod",
    "catalog": "mypv-http",
    "limits": {"max_power_w": 3000},
    "connection": {"type": "http", "url": "http://192.168.1.62/"},
}
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?:yaml|yml)[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.S | re.M)
SKIP = ("<!-- fragment -->", "<!-- not a site file -->")  # on the line before the fence


def doc_examples() -> list[tuple[str, str]]:
    """(where, YAML text) of every ```yaml block in docs/*.md and README.md not marked as a fragment
    or as not a site file (``SKIP`` on the line before the fence), and of examples/*.yaml."""
    found = []
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        text = path.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
            if before in SKIP:
                continue
            indent = len(m.group("indent"))
            body = "".join(line[indent:] + "\n" for line in m.group("body").splitlines())
            found.append((f"{path.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}", body))
    found += [
        (str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"))
        for p in sorted(ROOT.glob("examples/*.yaml"))
    ]
    return found


def _complete(text: str) -> str:
    """A block with ``site:`` as it is; a partial one (some top-level sections) on the example site
    (examples/site.yaml and a heating rod): its sections replace the site's, its devices join them."""
    import io

    yaml = YAML(typ="rt")
    doc = yaml.load(text)
    assert isinstance(doc, dict), "not a mapping of site-file sections: mark it (see SKIP)"
    if "site" in doc:
        return text
    base = yaml.load((ROOT / "examples" / "site.yaml").read_text(encoding="utf-8"))
    base["devices"].append(ROD)
    for key, value in doc.items():
        if key == "devices":
            ids = {d.get("id") for d in value}
            meter = any(d.get("role") == "grid_meter" for d in value)
            kept = [d for d in base["devices"] if d["id"] not in ids]
            base["devices"] = [d for d in kept if not (meter and d["role"] == "grid_meter")] + list(value)
        else:
            base[key] = value
    out = io.StringIO()
    yaml.dump(base, out)
    return out.getvalue()


@pytest.mark.parametrize(("where", "text"), doc_examples(), ids=[w for w, _ in doc_examples()])
def test_every_documented_site_file_builds(where: str, text: str):
    complete = _complete(text)
    doc = parse_document(complete, where)
    cfg = validate_document(doc, where)
    demo = any(d.connection.type == "sim" for d in cfg.devices) and where.startswith("examples/demo")
    assert problem_lines(doc, where, dry_check(cfg, demo=demo)) == []


def test_docs_name_only_catalogue_ids_that_exist():
    from wattwerk.devices.catalog import load_catalog

    ids = {item.entry.id for item in load_catalog()} | {item.key for item in load_catalog()}
    # and the user entries docs/custom-devices.md defines in its example user files
    ids |= set(re.findall(r"(?m)^  - id: ([\w-]+)$", (ROOT / "docs" / "custom-devices.md").read_text()))
    named = []
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md", *ROOT.glob("examples/*.yaml")]:
        text = path.read_text(encoding="utf-8")
        named += [(path.name, m) for m in re.findall(r"(?m)(?:^[ \t-]*|[{,] *)catalog: *([\w./-]+)", text)]
    assert named and [(f, n) for f, n in named if n not in ids] == []


# ------------------------------------------------------------------ defaults from the catalogue

SMA = """\
site: {name: H, location: {latitude: 48, longitude: 8}, timezone: Europe/Berlin}
devices:
  - {id: grid, role: grid_meter, connection: {type: tcp, host: 127.0.0.1, port: 2000}}
  - {id: pv1, role: pv, kwp: 10, catalog: sma-tripower, interval_s: 0.2,
     connection: {type: modbus_tcp, host: 127.0.0.1, port: PORT UNIT}}
"""


async def _read_pv(port: int, unit: str) -> tuple[int, list[str]]:
    cfg = parse_config(SMA.replace("PORT", str(port)).replace("UNIT", unit))
    devices = build_devices(cfg, InputLedger())
    try:
        driver = next(p for p in devices.polled if p.device_id == "pv1").driver
        readings = await asyncio.wait_for(driver.read(), 20)
        return driver.unit, sorted({r.channel for r in readings})
    finally:
        devices.close()


async def test_sma_without_unit_is_read_on_the_catalogue_unit_126_and_an_explicit_unit_wins():
    from wattwerk.sim.emulators.modbus import EmulatorServer
    from wattwerk.sim.emulators.sunspec import SunSpecEmulator
    from wattwerk.sim.site import SiteSim

    sim = SiteSim(start=datetime(2025, 6, 21, 10, tzinfo=UTC))
    sim.step(60)
    sma = SunSpecEmulator([103, 123], sim.pv[0], unit=126, rated_power=10000)
    other = SunSpecEmulator([103], sim.pv[0], unit=3, rated_power=10000)
    async with EmulatorServer([sma.bank, other.bank]) as server:
        unit, channels = await _read_pv(server.port, "")
        assert unit == 126 and "pv1.power" in channels
        unit, channels = await _read_pv(server.port, ", unit: 3")
        assert unit == 3 and "pv1.power" in channels


def test_kostal_without_port_gets_the_catalogue_port_1502():
    text = SMA.replace("sma-tripower", "kostal-plenticore").replace("port: PORT UNIT", "unit: 71")
    devices = build_devices(parse_config(text), InputLedger(), dry=True)
    try:
        ports = {link.cfg.port for link in devices.links._links.values()}
    finally:
        devices.close()
    assert ports == {1502}


def test_the_dry_build_opens_no_gpio_line_where_the_real_one_does():
    text = (
        HEAD + "devices:\n" + GRID + "\ncontrol:\n  inputs:\n"
        "    - {id: box, type: gpio, chip: /dev/gpiochip-that-does-not-exist, lines: [5]}\n"
    )
    cfg = parse_config(text)
    assert dry_check(cfg) == []  # nothing opened, so nothing to fail on
    with pytest.raises(SiteProblems) as caught:  # the real build opens the chip (or finds no libgpiod)
        build_devices(cfg, InputLedger())
    assert [loc for loc, _ in caught.value.problems] == [("control", "inputs", 0)]


# ------------------------------------------------------------------ the setup wizard uses the same check


def test_a_device_added_in_the_ui_is_checked_like_run_and_an_unfinished_file_is_fine(tmp_path):
    from wattwerk.config.loader import ConfigError
    from wattwerk.config.writer import add_device
    from wattwerk.edge.setup import _new_device_problems

    site = tmp_path / "site.yaml"
    site.write_text(HEAD, encoding="utf-8")
    bad = {
        "id": "pv1",
        "role": "pv",
        "kwp": 5,
        "catalog": "sma-tripowr",
        "connection": {"type": "modbus_tcp", "host": "10.0.0.2"},
    }
    with pytest.raises(ConfigError) as caught:
        add_device(site, bad, check=_new_device_problems)
    assert caught.value.lines == [
        f'{site}:6: devices[0].catalog: no catalogue entry "sma-tripowr" (did you mean "sma-tripower"?)'
    ]
    assert site.read_text(encoding="utf-8") == HEAD  # untouched
    battery = {
        "id": "bat",
        "role": "battery",
        "capacity_wh": 10000,
        "max_charge_w": 5000,
        "max_discharge_w": 5000,
        "catalog": "sunspec-storage",
        "connection": {"type": "modbus_tcp", "host": "10.0.0.4"},
    }
    cfg = add_device(site, battery, check=_new_device_problems)  # no grid meter yet: fine while setting up
    assert [d.id for d in cfg.devices] == ["bat"]
    assert dry_check(cfg) != [] and dry_check(cfg, read_only=True) == []  # `run` would want the meter


def test_read_only_runs_need_no_grid_meter_and_demo_files_may_simulate():
    text = (
        HEAD + "devices:\n  - {id: bat, role: battery, capacity_wh: 1, max_charge_w: 1,\n"
        "     max_discharge_w: 1, connection: {type: sim}}\n"
    )
    cfg = parse_config(text)
    sim, meter = ("devices", 0, "connection", "type"), ("devices", 0, "role")
    assert [loc for loc, _ in dry_check(cfg)] == [sim, meter]
    assert [loc for loc, _ in dry_check(cfg, demo=True)] == [meter]
    assert dry_check(cfg, demo=True, read_only=True) == []


def test_the_page_shows_the_port_the_driver_uses():
    from wattwerk.edge.live import device_rows
    from wattwerk.model import utcnow
    from wattwerk.snapshot import Snapshot

    text = (
        HEAD + "devices:\n" + GRID + "\n  - {id: pv1, role: pv, kwp: 8, catalog: kostal-plenticore,\n"
        "     connection: {type: modbus_tcp, host: 10.0.0.8}}\n"
    )
    rows = device_rows(parse_config(text), Snapshot(utcnow(), {}, 30.0))
    assert [r["connection"] for r in rows] == ["tcp 127.0.0.1:2000", "modbus_tcp 10.0.0.8:1502"]
