"""The limiter, cycle by cycle: envelopes, grid limits, ripple control, §14a, circuits, timing,
fail-safe and episodes."""

from __future__ import annotations

import math

import pytest

from test_control_helpers import by_channel, snap
from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.limiter import GridSpec, Limiter
from wattwerk.control.para14a import aggregate_minimum_w, device_minimum_w
from wattwerk.model import Setpoint

DEVICES = [
    DeviceSpec("pv1", "pv", rated_w=8000.0, ac_w=7300.0),
    DeviceSpec("bat", "battery", max_charge_w=5000.0, max_discharge_w=5000.0, reserve_soc=10.0),
    DeviceSpec("ev1", "ev", phase_switching=True),
    DeviceSpec("ev2", "ev", phases=1, max_a=32.0, priority=1),
    DeviceSpec("hp", "heat_pump", max_w=3000.0, min_on_s=600, min_off_s=600, max_switches_per_hour=3),
    DeviceSpec("rod", "rod", max_w=3000.0),
    DeviceSpec("plug", "load", max_w=1000.0, min_on_s=300, min_off_s=300),
]
GRID = GridSpec(import_w=3 * 230 * 35, phase_import_w=230 * 35)
FRESH = dict(
    grid__power=0.0,
    grid__power_l1=0.0,
    grid__power_l2=0.0,
    grid__power_l3=0.0,
    pv1__power=0.0,
    bat__power=0.0,
    bat__soc=50.0,
    ev1__power=0.0,
    ev1__state=1.0,
    ev2__power=0.0,
    ev2__state=1.0,
    hp__power=0.0,
    rod__power=0.0,
    plug__power=0.0,
)


def req(t: float = 0.0, **values: float) -> list[Setpoint]:
    return [Setpoint(k.replace("__", "."), v, snap(t).now) for k, v in values.items()]


def apply(limiter: Limiter, requests, state=None, t: float = 0.0, ages=None, **values: float):
    channels = {**FRESH, **values}
    out = limiter.apply(requests, snap(t, ages=ages, **channels), state or limiter.initial())
    return by_channel(out.setpoints), out


@pytest.mark.parametrize(
    ("channel", "asked", "sent"),
    [
        ("ev1.current_limit", 40.0, 16.0),
        ("ev1.current_limit", 2.0, 6.0),
        ("ev1.current_limit", math.nan, 6.0),
        ("ev2.phases", 3.0, 1.0),  # a one-phase charger stays one-phase
        ("ev1.phases", 2.0, 3.0),
        ("bat.battery_setpoint", 1e9, 5000.0),
        ("bat.battery_setpoint", -math.inf, 0.0),
        ("rod.power", 5000.0, 3000.0),
        ("rod.power", -5.0, 0.0),
        ("hp.sgready", 7.0, 4.0),
        ("pv1.power_limit", 1e6, 7300.0),
        ("plug.relay", 0.7, 1.0),
    ],
)
def test_device_envelopes(channel: str, asked: float, sent: float) -> None:
    sps, _ = apply(Limiter(GRID, DEVICES), [Setpoint(channel, asked, snap(0).now)])
    assert sps[channel] == sent


def test_unknown_device_dropped_and_reported() -> None:
    sps, out = apply(Limiter(GRID, DEVICES), req(boiler__relay=1.0))
    assert "boiler.relay" not in sps
    assert [e.kind for e in out.events] == ["dropped"]


def test_import_limit_lowers_chargers_battery_first() -> None:
    limiter = Limiter(GridSpec(import_w=15000), DEVICES)
    # 10 kW imported; both chargers want full power (11 kW + 7.4 kW): the battery helps first
    sps, out = apply(
        limiter,
        req(
            ev1__enable=1,
            ev1__current_limit=16,
            ev1__phases=3,
            ev2__enable=1,
            ev2__current_limit=32,
            bat__battery_setpoint=0,
        ),
        grid__power=10000.0,
    )
    assert sps["bat.battery_setpoint"] == 5000.0
    ev = sum(
        sps[f"{e}.current_limit"] * (3 if e == "ev1" else 1) * 230
        for e in ("ev1", "ev2")
        if sps[f"{e}.enable"]
    )
    assert 10000 - 5000 + ev <= 15000 - 100 + 1e-6
    assert sps["ev2.enable"] == 1  # the higher priority keeps charging
    assert out.active["import:grid"] == 15000


def test_fuse_per_phase_with_a_one_phase_charger() -> None:
    limiter = Limiter(GridSpec(phase_import_w=230 * 35), DEVICES)
    sps, _ = apply(
        limiter,
        req(ev2__enable=1, ev2__current_limit=32),
        grid__power=9000.0,
        grid__power_l1=5000.0,
        grid__power_l2=2000.0,
        grid__power_l3=2000.0,
        bat__soc=10.0,
    )
    # L1 has 8050 - 5000 - 33 W margin left: about 13 A for the one-phase charger
    assert sps["ev2.enable"] == 1
    assert 5000 + sps["ev2.current_limit"] * 230 <= 230 * 35 - 100 / 3 + 1e-6


def test_export_limit_stores_before_curtailing() -> None:
    limiter = Limiter(GRID, DEVICES, ControlLimits(feed_in_limit_pct=50.0))  # 4000 W
    sps, _ = apply(limiter, req(bat__battery_setpoint=0.0), grid__power=-7000.0, pv1__power=7300.0)
    assert sps["bat.battery_setpoint"] == -3100.0  # 3000 W over plus 100 W margin: into the battery
    assert sps["pv1.power_limit"] == pytest.approx(7300.0)  # nothing to curtail
    sps, _ = apply(
        limiter, req(bat__battery_setpoint=0.0), grid__power=-7000.0, pv1__power=7300.0, bat__soc=100.0
    )
    assert sps["pv1.power_limit"] == pytest.approx(7300.0 - 3100.0)  # full battery: curtail PV


def test_ripple_levels_and_episode_log() -> None:
    limits = ControlLimits.model_validate(
        {
            "ripple": {
                "contacts": ["rcr.state_1", "rcr.state_2"],
                "levels": [
                    {"pattern": "10", "feed_in_pct": 0},
                    {"pattern": "01", "feed_in_pct": 60, "consumption_pct": 50},
                ],
            }
        }
    )
    limiter = Limiter(GRID, DEVICES, limits)
    state = limiter.initial()
    seen = []
    for t, pattern in ((0, "00"), (10, "10"), (20, "10"), (30, "01"), (40, "00")):
        _, out = apply(
            limiter,
            [],
            state,
            t=t,
            rcr__state_1=float(pattern[0]),
            rcr__state_2=float(pattern[1]),
            grid__power=-2000.0,
            pv1__power=2000.0,
            pv1__power_available=5000.0,
        )
        state = out.state
        seen.append((dict(out.active), [(e.kind, e.subject) for e in out.events]))
    assert "export:ripple" not in seen[0][0]
    assert seen[1][0]["export:ripple"] == 0.0 and seen[1][1] == [("restriction_start", "ripple")]
    assert seen[3][0]["export:ripple"] == 4800.0 and seen[3][0]["import:ripple"] == GRID.import_w / 2
    assert seen[3][1] == [("restriction_end", "ripple"), ("restriction_start", "ripple")]
    assert seen[4][1] == [("restriction_end", "ripple")]


def test_ripple_receiver_silent_keeps_the_last_level() -> None:
    limits = ControlLimits.model_validate(
        {"ripple": {"contacts": ["rcr.state_1"], "levels": [{"pattern": "1", "feed_in_pct": 0}]}}
    )
    limiter = Limiter(GRID, DEVICES, limits)
    _, out = apply(limiter, [], rcr__state_1=1.0)
    _, out = apply(limiter, [], out.state, t=60, ages={"rcr.state_1": 600.0}, rcr__state_1=1.0)
    assert out.active["export:ripple"] == 0.0


def test_para14a_rules() -> None:
    assert device_minimum_w("ev") == 4200.0
    assert device_minimum_w("heat_pump", 15000.0) == 6000.0  # 0.4 x rated above 11 kW
    assert device_minimum_w("heat_pump", 9000.0) == 4200.0
    assert device_minimum_w("ev", 22000.0) == 4200.0  # the 0.4 rule is for heat pumps and A/C only


@pytest.mark.parametrize(
    ("consumers", "expected"),
    [
        ([("ev", None)], 4200.0),
        # BK6-22-300 Anlage 1, 4.5.2: 4.2 kW + (n - 1) x GZF x 4.2 kW
        ([("ev", None), ("battery", None)], 4200.0 + 1 * 0.8 * 4200.0),  # 7.56 kW
        ([("ev", None), ("battery", None), ("heat_pump", None)], 4200.0 + 2 * 0.75 * 4200.0),  # 10.5 kW
        ([("ev", None)] * 4, 4200.0 + 3 * 0.7 * 4200.0),
        ([("ev", None)] * 9, 4200.0 + 8 * 0.45 * 4200.0),
        ([("ev", None)] * 12, 4200.0 + 11 * 0.45 * 4200.0),
        # two heat pumps are one SteuVE; together above 11 kW: 0.4 x their sum replaces the first 4.2 kW
        ([("heat_pump", 7000.0), ("heat_pump", 6000.0), ("ev", None)], 0.4 * 13000.0 + 0.8 * 4200.0),
        ([("heat_pump", 7000.0), ("heat_pump", 3000.0), ("ev", None)], 4200.0 + 0.8 * 4200.0),
        ([("heat_pump", 20000.0)], 8000.0),
    ],
)
def test_para14a_ems_minimum(consumers: list[tuple[str, float | None]], expected: float) -> None:
    assert aggregate_minimum_w(consumers) == pytest.approx(expected)


def test_para14a_per_device_caps_each_consumer() -> None:
    limits = ControlLimits.model_validate({"para14a": {"signal": "sb.state", "mode": "per_device"}})
    limiter = Limiter(GRID, DEVICES, limits)
    sps, _ = apply(
        limiter,
        req(ev1__enable=1, ev1__current_limit=16, ev1__phases=3, bat__battery_setpoint=-5000),
        **{"sb__state": 1.0},
    )
    assert sps["ev1.current_limit"] == 6.0  # 4200 W / 690 V = 6.08 A, floored to 6.0
    assert sps["bat.battery_setpoint"] == -4200.0
    sps, _ = apply(limiter, req(ev1__enable=1, ev1__current_limit=16, ev1__phases=3), **{"sb__state": 0.0})
    assert sps["ev1.current_limit"] == 16.0


def test_min_on_time_holds_unless_a_limit_needs_the_power() -> None:
    limiter = Limiter(GRID, DEVICES)
    sps, out = apply(limiter, req(plug__relay=1.0))
    sps, out = apply(limiter, req(t=60, plug__relay=0.0), out.state, t=60)
    assert sps["plug.relay"] == 1.0  # 300 s minimum run
    sps, out = apply(limiter, req(t=300, plug__relay=0.0), out.state, t=300)
    assert sps["plug.relay"] == 0.0
    sps, out = apply(limiter, req(t=400, plug__relay=1.0), out.state, t=400)
    assert sps["plug.relay"] == 0.0  # 300 s minimum pause
    tight = Limiter(GridSpec(import_w=5000), DEVICES)
    sps, out = apply(tight, req(plug__relay=1.0))
    sps, out = apply(
        tight,
        req(t=10, plug__relay=1.0),
        out.state,
        t=10,
        grid__power=5500.0,
        plug__power=1000.0,
        bat__soc=5.0,
    )
    assert sps["plug.relay"] == 0.0  # the grid limit wins over the minimum run time, and says so
    assert "min_time_override" in [e.kind for e in out.events]


def test_fail_safe_when_the_grid_meter_goes_stale_and_recovery() -> None:
    limiter = Limiter(GRID, DEVICES, ControlLimits(feed_in_limit_pct=50.0, fallback_after_s=10.0))
    asked = req(
        ev1__enable=1,
        ev1__current_limit=16,
        bat__battery_setpoint=-3000,
        rod__power=2000,
        plug__relay=1,
        hp__sgready=4,
    )
    sps, out = apply(limiter, asked, ages={"grid.power": 5.0})
    assert sps["ev1.current_limit"] == 16.0 and not out.state.fallback
    sps, out = apply(limiter, asked, out.state, t=20, ages={"grid.power": 12.0})
    assert (sps["ev1.current_limit"], sps["bat.battery_setpoint"], sps["rod.power"], sps["hp.sgready"]) == (
        6.0,
        0.0,
        0.0,
        2.0,
    )
    assert sps["pv1.power_limit"] == 4000.0  # generation at most the feed-in limit
    assert [e.kind for e in out.events] == ["fallback_start"] and out.state.fallbacks == 1
    sps, out = apply(limiter, asked, out.state, t=30)
    assert sps["ev1.current_limit"] == 16.0 and sps["bat.battery_setpoint"] == -3000.0
    assert [e.kind for e in out.events] == ["fallback_end"]


def test_stale_charger_alone_falls_back() -> None:
    limiter = Limiter(GRID, DEVICES, ControlLimits(ev_fallback="off"))
    sps, out = apply(
        limiter,
        req(ev1__enable=1, ev1__current_limit=16, ev2__enable=1, ev2__current_limit=16),
        ages={"ev1.power": 60.0},
    )
    assert sps["ev1.enable"] == 0 and sps["ev2.enable"] == 1 and out.state.fallback == {"ev1"}


def test_direct_marketer_signal_limits_feed_in_like_ripple_control() -> None:
    limits = ControlLimits.model_validate({"direct_marketer": {"signal": "dm.state"}})
    limiter = Limiter(GRID, DEVICES, limits)
    sps, out = apply(limiter, [], grid__power=-5000.0, pv1__power=6000.0, bat__soc=100.0, dm__state=25.0)
    assert out.active["export:direct_marketer"] == 2000.0  # 25 % of 8 kWp
    assert sps["pv1.power_limit"] == pytest.approx(6000.0 - 3000.0 - 100.0)
    assert [e.kind for e in out.events] == ["restriction_start"]
    _, out = apply(limiter, [], grid__power=-5000.0, pv1__power=6000.0, dm__state=100.0)
    assert "export:direct_marketer" not in out.active


def test_para14a_aggregate_keeps_consumers_grid_draw_within_the_rule() -> None:
    limits = ControlLimits.model_validate({"para14a": {"signal": "sb.state"}})
    limiter = Limiter(GRID, DEVICES, limits)
    # ev1, ev2, hp and the battery: 4.2 kW + 3 x 0.7 x 4.2 kW (BK6-22-300 Anlage 1, 4.5.2)
    assert limiter.p14_total == pytest.approx(4200 + 3 * 0.7 * 4200)
    asked = req(ev1__enable=1, ev1__current_limit=16, ev1__phases=3, ev2__enable=1, ev2__current_limit=16)
    sps, _ = apply(limiter, asked, sb__state=1.0, grid__power=500.0, bat__soc=5.0)
    phases = {"ev1": 3, "ev2": 1}
    draw = sum(sps[f"{e}.current_limit"] * n * 230 for e, n in phases.items() if sps[f"{e}.enable"])
    assert draw <= limiter.p14_total - 100.0  # the consumers' draw, with margin; the house is not dimmed
    assert sps["ev2.enable"] == 1  # the higher priority charger keeps going
    sps, _ = apply(limiter, asked, sb__state=0.0, grid__power=500.0, bat__soc=5.0)
    assert sps["ev1.current_limit"] == 16.0 and sps["ev2.current_limit"] == 16.0  # within the fuse


def test_pv_limit_rises_only_beyond_a_deadband_and_falls_at_once() -> None:
    limiter = Limiter(GRID, DEVICES, ControlLimits(feed_in_limit_pct=50.0, pv_deadband_w=100.0))
    state = limiter.initial()
    sent = []
    # a full battery, 4 kW feed-in allowed; the house takes a little more, then less
    for t, grid, pv in (
        (0, -4000.0, 6000.0),
        (10, -3850.0, 5900.0),
        (20, -4000.0, 5900.0),
        (30, -3600.0, 5800.0),
        (40, -4300.0, 6100.0),
    ):
        sps, out = apply(limiter, [], state, t=t, grid__power=grid, pv1__power=pv, bat__soc=100.0)
        state = out.state
        sent.append(sps["pv1.power_limit"])
    assert sent == pytest.approx([5900.0, 5900.0, 5800.0, 6100.0, 5700.0])
    # 6000 - 100 over the limit; 50 W more room is within the deadband (not rewritten); lower at
    # once; 300 W more room is raised; lower again


ZERO_EXPORT = GridSpec(import_w=3 * 230 * 35, export_w=0.0, phase_import_w=230 * 35)


@pytest.mark.parametrize("soc", [100.0, 99.7, 60.0, None])
@pytest.mark.parametrize(
    ("grid_w", "bat_w", "asked_w"),
    [
        (-4140.0, 4240.0, 4240.0),  # discharging into a car that draws nothing: 4.1 kW exported
        (99.0, 0.0, 4239.0),  # the law asks for that discharge while the grid is still balanced
    ],
)
def test_export_over_limit_from_battery_discharge_capped_in_one_cycle(
    soc: float | None, grid_w: float, bat_w: float, asked_w: float
) -> None:
    """Whatever SoC the battery reports (full, none at all), its discharge is lowered at once to
    what keeps the export within the limit; PV has nothing left to curtail."""
    limiter = Limiter(ZERO_EXPORT, DEVICES)
    channels = {**FRESH, "grid__power": grid_w, "bat__power": bat_w, "pv1__power": 0.0}
    if soc is None:
        del channels["bat__soc"]
    else:
        channels["bat__soc"] = soc
    out = limiter.apply(req(bat__battery_setpoint=asked_w), snap(0.0, **channels), limiter.initial())
    sent = by_channel(out.setpoints)["bat.battery_setpoint"]
    grid_after = grid_w + (bat_w - sent)  # the battery's change moves the grid one for one
    assert grid_after >= 0.0  # the export limit holds after this one cycle
    # and with the margin, as far as the battery alone can reach it (idle: grid + bat_w)
    assert grid_after >= min(limiter.limits.margin_w, grid_w + bat_w) - 1e-6
    assert sent < asked_w
    if soc is None or soc >= 99.5:
        assert sent >= 0.0  # no charging asked of a battery that is (or may be) full


def test_full_battery_not_discharging_is_left_alone_under_export_limit() -> None:
    """Export from PV alone with a full battery: PV is curtailed, the battery is not told to charge."""
    limiter = Limiter(ZERO_EXPORT, DEVICES)
    sps, _ = apply(
        limiter, req(bat__battery_setpoint=0.0), grid__power=-2000.0, pv1__power=3000.0, bat__soc=100.0
    )
    assert sps["bat.battery_setpoint"] == 0.0
    assert sps["pv1.power_limit"] == pytest.approx(3000.0 - 2100.0)


RAMP_GRID = GridSpec(import_w=11_000.0)
RAMP_EV = [DeviceSpec("ev1", "ev", min_a=6.0, max_a=16.0)]  # 3 x 230 V: 690 W per A


def _ramp_cycle(limiter: Limiter, state, t: float, grid_w: float, ev_w: float):
    channels = dict(grid__power=grid_w, ev1__power=ev_w, ev1__state=2.0)
    out = limiter.apply(
        req(t, ev1__enable=1.0, ev1__current_limit=16.0), snap(t, **channels), state or limiter.initial()
    )
    return by_channel(out.setpoints)["ev1.current_limit"], out.state


@pytest.mark.parametrize(
    ("first", "second", "most_a"),
    [
        # house +6 kW: cut to 6.3 A; the pushed meter shows the cut, the polled charger not yet
        ((16_887.0, 10_350.0), (10_884.0, 10_350.0), 6.3),
        # house -6 kW: raised to 15 A; the charger's poll shows the ramp, the meter not yet
        ((4_884.0, 4_347.0), (4_884.0, 10_350.0), 15.0),
    ],
)
def test_charger_ramping_is_not_raised_on_a_meter_and_poll_that_disagree(first, second, most_a) -> None:
    """The grid meter (pushed) and the charger's power (polled) see a ramp at different
    instants; predicting from the two would raise the car past the import limit (or flip it back
    and forth). While the charger ramps, the limiter does not raise it."""
    limiter = Limiter(RAMP_GRID, RAMP_EV)
    sent, state = _ramp_cycle(limiter, None, 0.0, *first)
    assert sent == most_a  # the first, consistent cycle: (11000 - 100 - house) / 690 W
    again, _ = _ramp_cycle(limiter, state, 0.2, *second)
    assert again <= most_a


def test_charger_settled_is_raised_at_once() -> None:
    limiter = Limiter(RAMP_GRID, RAMP_EV)
    sent, state = _ramp_cycle(limiter, None, 0.0, 10_884.0, 4_347.0)
    assert sent == 6.3
    raised, _ = _ramp_cycle(limiter, state, 0.2, 4_884.0, 4_347.0)  # house -6 kW, charger steady
    assert raised == 15.0


def test_silent_ripple_contacts_fall_back_to_the_configured_pattern_and_recover() -> None:
    limits = ControlLimits.model_validate(
        {
            "ripple": {
                "contacts": ["rcr.state_1", "rcr.state_2"],
                "on_stale": "11",
                "levels": [{"pattern": "10", "feed_in_pct": 60}, {"pattern": "11", "feed_in_pct": 0}],
            },
            "fallback_after_s": 10.0,
        }
    )
    limiter = Limiter(GRID, DEVICES, limits)
    _, out = apply(limiter, [], rcr__state_1=1.0, rcr__state_2=0.0)
    assert out.active["export:ripple"] == 0.6 * 8000
    # the input module stops answering: within fallback_after_s nothing changes ...
    _, out = apply(
        limiter,
        [],
        out.state,
        t=5,
        ages={"rcr.state_1": 5.0, "rcr.state_2": 5.0},
        rcr__state_1=1.0,
        rcr__state_2=0.0,
    )
    assert out.active["export:ripple"] == 0.6 * 8000 and not out.events
    # ... after it, the fail-safe pattern "11" (0 % feed-in), said once in the log
    _, out = apply(
        limiter,
        [],
        out.state,
        t=12,
        ages={"rcr.state_1": 12.0, "rcr.state_2": 12.0},
        rcr__state_1=1.0,
        rcr__state_2=0.0,
    )
    assert out.active["export:ripple"] == 0.0
    assert [(e.kind, e.subject) for e in out.events if e.kind.startswith("fallback")] == [
        ("fallback_start", "ripple")
    ]
    assert out.state.fallbacks == 1
    _, out = apply(
        limiter,
        [],
        out.state,
        t=13,
        ages={"rcr.state_1": 13.0, "rcr.state_2": 13.0},
        rcr__state_1=1.0,
        rcr__state_2=0.0,
    )
    assert not [e for e in out.events if e.kind.startswith("fallback")]
    # the contacts answer again: their own level, and the fail-safe ends
    _, out = apply(limiter, [], out.state, t=14, rcr__state_1=0.0, rcr__state_2=0.0)
    assert "export:ripple" not in out.active
    assert ("fallback_end", "ripple") in [(e.kind, e.subject) for e in out.events]


@pytest.mark.parametrize(("on_stale", "dimmed"), [("on", True), ("off", False), ("keep", True)])
def test_silent_para14a_signal_follows_on_stale(on_stale: str, dimmed: bool) -> None:
    limits = ControlLimits.model_validate({"para14a": {"signal": "sb.state_1", "on_stale": on_stale}})
    limiter = Limiter(GRID, DEVICES, limits)
    _, out = apply(limiter, [], sb__state_1=1.0)
    assert "para14a" in out.active
    _, out = apply(limiter, [], out.state, t=60, ages={"sb.state_1": 60.0}, sb__state_1=0.0)
    assert ("para14a" in out.active) is dimmed
    assert ("fallback_start", "para14a") in [(e.kind, e.subject) for e in out.events]


def test_a_running_heat_pump_is_not_counted_on_under_an_export_limit() -> None:
    """Its own thermostat may stop it between two cycles: the PV limit must hold without its draw."""
    limiter = Limiter(
        GRID,
        DEVICES,
        ControlLimits.model_validate(
            {"ripple": {"contacts": ["rcr.state_1"], "levels": [{"pattern": "1", "feed_in_pct": 0}]}}
        ),
    )
    house, hp, pv = 1500.0, 2500.0, 4000.0
    sps, out = apply(
        limiter,
        req(hp__sgready=2),
        rcr__state_1=1.0,
        pv1__power=pv,
        hp__power=hp,
        grid__power=house + hp - pv,
        bat__soc=100.0,
    )
    assert out.active["export:ripple"] == 0.0
    limit = sps["pv1.power_limit"]
    assert house + hp - limit >= 0.0  # the heat pump runs: no export
    assert house - limit >= 0.0  # its thermostat stops it before the next cycle: still no export


def test_a_car_drawing_below_the_charger_minimum_is_not_counted_on_under_an_export_limit() -> None:
    """A car that tapers off below the minimum current (full) may stop before the next cycle: the
    battery takes the export as if it drew nothing (the pv-oversized-60pct day at 10 s: 183 W gone
    between two cycles left 82.6 W over the cap for a second cycle)."""
    limiter = Limiter(GRID, DEVICES, ControlLimits(feed_in_limit_pct=50.0))  # 4000 W
    house, ev, pv = 500.0, 183.0, 7300.0
    sps, _ = apply(
        limiter,
        req(bat__battery_setpoint=0.0, ev1__enable=1.0, ev1__current_limit=6.0),
        grid__power=house + ev - pv,
        pv1__power=pv,
        ev1__power=ev,
        ev1__state=2.0,
    )
    stored = -sps["bat.battery_setpoint"]
    limit = sps.get("pv1.power_limit", pv)
    assert house - min(limit, pv) + stored >= -4000.0 + 100.0 - 1e-6  # within the cap when the car stops


def test_a_charger_the_limiter_switched_off_stays_off_for_ev_restart_s() -> None:
    limiter = Limiter(GRID, DEVICES, ControlLimits(ev_restart_s=60.0))
    asked = req(ev1__enable=1, ev1__current_limit=16, ev1__phases=3)
    sps, out = apply(limiter, asked, grid__power=2000.0)
    assert sps["ev1.enable"] == 1.0
    # the meter shows the car's ramp before the charger's poll does (or a real load step): shed off
    sps, out = apply(limiter, asked, out.state, t=1, grid__power=30_000.0, ev1__power=0.0)
    assert sps["ev1.enable"] == 0.0
    for t in (2, 30, 59):  # the law asks again and it would fit: held off, no chatter
        sps, out = apply(limiter, asked, out.state, t=t, grid__power=2000.0)
        assert sps["ev1.enable"] == 0.0
    sps, out = apply(limiter, asked, out.state, t=62, grid__power=2000.0)
    assert sps["ev1.enable"] == 1.0


@pytest.mark.parametrize(
    ("seen", "now_w", "asked", "sent"),
    [
        (0.0, 1500.0, 3000.0, 1500.0),  # still ramping up to the 1500 W sent: the raise waits
        (1500.0, 1500.0, 3000.0, 3000.0),  # settled: raised at once
        (1500.0, 2400.0, 1000.0, 1000.0),  # ramping, but lowering is always allowed
    ],
)
def test_continuous_rod_ramping_is_not_raised(seen: float, now_w: float, asked: float, sent: float) -> None:
    limiter = Limiter(GRID, DEVICES)
    _, out = apply(limiter, req(rod__power=1500.0), rod__power=seen)
    sps, _ = apply(limiter, req(t=1, rod__power=asked), out.state, t=1, rod__power=now_w)
    assert sps["rod.power"] == sent


@pytest.mark.parametrize(
    ("sent_before", "ev_enabled"),
    [
        (0.0, 0.0),  # told 0 W, draws 3 kW: its own thermostat; the charger is what can give way
        (3000.0, 1.0),  # told 3 kW last cycle and 0 W now: it follows, the charger may go on
    ],
)
def test_a_rod_on_its_own_thermostat_is_not_counted_on_to_drop(sent_before: float, ev_enabled: float) -> None:
    """Peak shaving at night: the rod's law sends 0 W, but its own thermostat keeps it at 3 kW."""
    limiter = Limiter(GRID, DEVICES, ControlLimits(peak_shaving_w=8000.0))
    asked = req(ev1__enable=1, ev1__current_limit=8, ev1__phases=3, rod__power=0.0)
    _, out = apply(limiter, req(rod__power=sent_before), rod__power=sent_before)
    sps, _ = apply(
        limiter,
        asked,
        out.state,
        t=1,
        grid__power=2300.0 + 3000.0 + 5520.0,
        rod__power=3000.0,
        ev1__power=5520.0,
        bat__soc=10.0,
    )
    assert sps["ev1.enable"] == ev_enabled
