"""The control cycle built from a site file runs on the demo site and keeps its limits."""

from __future__ import annotations

from test_control_helpers import by_channel, snap
from wattwerk.config import load_demo_config
from wattwerk.control.ev import EvCharging
from wattwerk.control.site import build_cycle


def test_demo_site_cycle() -> None:
    cfg = load_demo_config()
    cycle = build_cycle(cfg)
    assert [law.name for law in cycle.laws] == ["ev", "sgready:hp", "heating_rod:rod"]
    assert cycle.battery is not None and cycle.battery.config.reserve_soc == 10.0
    ev = cycle.laws[0]
    assert isinstance(ev, EvCharging) and ev.config.points[0].phase_switching
    assert cycle.limiter.grid.export_w == 4800.0 and cycle.limiter.grid.phase_import_w == 35 * 230
    state = cycle.initial()
    # noon: 6 kW of PV, 1 kW imported before the battery's 2 kW discharge: export limit 4.8 kW
    out = cycle.run(
        snap(
            0,
            grid__power=-6500.0,
            pv1__power=7000.0,
            bat__power=0.0,
            bat__soc=60.0,
            ev1__state=1.0,
            ev1__power=0.0,
            hp__power=0.0,
            rod__power=0.0,
        ),
        state,
    )
    sps = by_channel(out.setpoints)
    assert sps["rod.power"] == 3000.0  # surplus goes to the rod (3 kW continuous) first
    assert sps["bat.battery_setpoint"] == -3500.0  # and the rest into the battery
    assert sps["pv1.power_limit"] > 0
    assert out.surplus_w == 6500.0
