"""What a command imports is what it needs: ``wattwerk X --help`` and a plain ``wattwerk run`` (no
planner) never load pandas, pvlib, HiGHS, the portal or Playwright. Each check runs in a fresh
interpreter and looks at ``sys.modules``; no timing is asserted (``wattwerk bench edge`` measures)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from wattwerk.cli import COMMANDS
from wattwerk.sim.scenario_names import NAMES

HEAVY = ("pandas", "pvlib", "scipy", "highspy", "playwright", "wattwerk.portal")
# what each command's --help may not load; a command's own package is allowed (portal, bench)
ALLOWED = {"portal": ("wattwerk.portal",)}


def _modules_after(code: str) -> set[str]:
    """The modules loaded after running ``code`` in a new interpreter (its last stdout line)."""
    program = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_loads_nothing_heavy(command: str) -> None:
    loaded = _modules_after(f"""
        import contextlib, io
        from wattwerk import cli
        with contextlib.redirect_stdout(io.StringIO()) as text, contextlib.suppress(SystemExit):
            cli.main([{command!r}, "--help"])
        assert "usage: wattwerk {command}" in text.getvalue(), text.getvalue()
    """)
    heavy = {m for m in loaded if m.split(".")[0] in HEAVY or m.startswith("wattwerk.portal")}
    allowed = ALLOWED.get(command, ())
    assert not {m for m in heavy if not m.startswith(allowed)} if allowed else not heavy, sorted(heavy)


def test_the_run_command_module_loads_nothing_heavy() -> None:
    loaded = _modules_after("import wattwerk.edge.run")
    assert not {m for m in loaded if m.split(".")[0] in (*HEAVY, "numpy") or m.startswith("wattwerk.portal")}


def test_a_plain_edge_assembled_with_its_page_loads_no_planner_stack(tmp_path) -> None:
    """What ``wattwerk run`` holds at steady state without ``strategy.mode: planner``."""
    site = tmp_path / "site.yaml"
    site.write_text(
        textwrap.dedent(f"""\
        site: {{name: Lazy, location: {{latitude: 48.0, longitude: 7.8}}, timezone: Europe/Berlin}}
        devices:
          - {{id: grid, role: grid_meter, catalog: sunspec-meter-int,
              connection: {{type: modbus_tcp, host: 127.0.0.1, port: 1502}}}}
          - {{id: pv1, role: pv, kwp: 8, catalog: sunspec-inverter-int,
              connection: {{type: modbus_tcp, host: 127.0.0.1, port: 1503}}}}
        store: {{data_dir: '{tmp_path / "var"}'}}
        """)
    )
    loaded = _modules_after(f"""
        from pathlib import Path
        from wattwerk.config import load_config
        from wattwerk.edge.assembly import EdgeOptions, assemble
        edge = assemble(load_config({str(site)!r}), EdgeOptions(web=True, site_path=Path({str(site)!r})))
        edge.web_app()
        edge.close()
    """)
    assert "wattwerk.edge.assembly" in loaded and "fastapi" in loaded  # it did build the edge and page
    assert not {m for m in loaded if m.split(".")[0] in HEAVY or m.startswith("wattwerk.portal")}


def test_the_scenario_names_for_help_are_the_scenarios() -> None:
    from wattwerk.sim.scenarios import SCENARIOS

    assert tuple(SCENARIOS) == NAMES
