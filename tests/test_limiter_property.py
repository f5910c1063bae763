"""Property: whatever the controllers ask and whatever the site shows (stale values included),
what leaves the limiter keeps every active limit, or everything that could give way has.

The check predicts the site after the setpoints with its own simple worst-case rules (written
here, not taken from the limiter): consumers draw all they are allowed, PV does not rise (for
imports) or rises to its limit (for exports), batteries do what their SoC permits.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from test_control_helpers import snap
from wattwerk.config.limits import ControlLimits
from wattwerk.control.devices import DeviceSpec
from wattwerk.control.limiter import GridSpec, Limiter
from wattwerk.model import Setpoint

V = 230.0
SPECS = {
    d.id: d
    for d in [
        DeviceSpec("pv1", "pv", rated_w=8000.0, ac_w=7300.0),
        DeviceSpec("bat", "battery", max_charge_w=5000.0, max_discharge_w=5000.0, reserve_soc=10.0),
        DeviceSpec("ev1", "ev", phase_switching=True),
        DeviceSpec("ev2", "ev", phases=1, max_a=32.0, priority=1),
        DeviceSpec("hp", "heat_pump", max_w=3000.0),
        DeviceSpec("rod", "rod", max_w=3000.0),
        DeviceSpec("plug", "load", max_w=1000.0, min_on_s=300, min_off_s=300),
    ]
}
IMPORT_W, PHASE_W, MARGIN, CIRCUIT_A = 3 * V * 35, V * 35, 100.0, 40.0
COMMANDS = {
    "ev1": ("enable", "current_limit", "phases"),
    "ev2": ("enable", "current_limit"),
    "bat": ("battery_setpoint",),
    "pv1": ("power_limit",),
    "hp": ("sgready",),
    "rod": ("power",),
    "plug": ("relay",),
}
wild = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-50, 50), st.sampled_from([0.0, 1.0, 3.0, 16.0])
)


@st.composite
def cases(draw):
    requests = []
    for dev, cmds in COMMANDS.items():
        for cmd in cmds:
            if draw(st.booleans()):
                scale = 10000.0 if cmd in ("battery_setpoint", "power_limit", "power") else 1.0
                requests.append((f"{dev}.{cmd}", draw(wild) * scale))
    values = {"grid.power": draw(st.floats(-15000, 30000))}
    for i in (1, 2, 3):
        values[f"grid.power_l{i}"] = values["grid.power"] / 3 + draw(st.floats(-2000, 2000))
    values["pv1.power"] = draw(st.floats(0, 7300))
    values["bat.power"] = draw(st.floats(-5000, 5000))
    values["bat.soc"] = draw(st.floats(0, 100))
    for ev, top in (("ev1", 11040.0), ("ev2", 7360.0)):
        values[f"{ev}.power"] = draw(st.floats(0, top))
        values[f"{ev}.state"] = float(draw(st.sampled_from([0, 1, 2])))
    values["ev1.phases"] = float(draw(st.sampled_from([1, 3])))
    for dev in ("hp", "rod", "plug"):
        values[f"{dev}.power"] = draw(st.floats(0, 3000))
    ages = {ch: draw(st.sampled_from([0.0, 0.0, 0.0, 5.0, 60.0])) for ch in values}
    values["rcr.state_1"] = float(draw(st.booleans()))
    values["sb.state"] = float(draw(st.booleans()))
    values["dm.state"] = draw(st.sampled_from([100.0, 50.0, 0.0]))
    peak = draw(st.sampled_from([None, 6000.0, 12000.0]))
    feed = draw(st.sampled_from([None, 60.0, 70.0]))
    return requests, values, ages, peak, feed


def limiter_for(peak, feed) -> Limiter:
    limits = ControlLimits.model_validate(
        {
            "ripple": {
                "contacts": ["rcr.state_1"],
                "levels": [{"pattern": "1", "feed_in_pct": 0, "consumption_pct": 60}],
            },
            "para14a": {"signal": "sb.state"},
            "direct_marketer": {"signal": "dm.state"},
            "feed_in_limit_pct": feed,
            "peak_shaving_w": peak,
            "margin_w": MARGIN,
            "fallback_after_s": 10.0,
            "circuits": [{"name": "garage", "devices": ["ev1", "ev2"], "max_current_a": CIRCUIT_A}],
        }
    )
    return Limiter(GridSpec(import_w=IMPORT_W, phase_import_w=PHASE_W), SPECS.values(), limits)


def fresh(values, ages, ch) -> float | None:
    return values[ch] if ch in values and ages.get(ch, 0.0) <= 10.0 else None


# Found by this test (a fixed feed-in limit of 4.8 kW, the battery already charging at its
# 5 kW maximum, a charger drawing 4.8 kW that the controller switches off): shedding the charger
# would export 4.802 kW; the limiter left the battery without a command. It now pins a battery that
# already charges at its maximum there, and this case stays as a regression example.
KNOWN_EXPORT_CASE = (
    [("ev1.current_limit", 0.0)],
    {
        "grid.power": 0.0,
        "grid.power_l1": 0.0,
        "grid.power_l2": 0.0,
        "grid.power_l3": 0.0,
        "pv1.power": 0.0,
        "bat.power": -5000.0,
        "bat.soc": 0.0,
        "ev1.power": 4802.0,
        "ev1.state": 0.0,
        "ev2.power": 0.0,
        "ev2.state": 0.0,
        "ev1.phases": 1.0,
        "hp.power": 0.0,
        "rod.power": 0.0,
        "plug.power": 0.0,
        "rcr.state_1": 0.0,
        "sb.state": 0.0,
        "dm.state": 100.0,
    },
    {
        "grid.power": 0.0,
        "grid.power_l1": 0.0,
        "grid.power_l2": 0.0,
        "grid.power_l3": 0.0,
        "pv1.power": 0.0,
        "bat.power": 0.0,
        "bat.soc": 0.0,
        "ev1.power": 0.0,
        "ev1.state": 0.0,
        "ev2.power": 0.0,
        "ev2.state": 0.0,
        "ev1.phases": 0.0,
        "hp.power": 0.0,
        "rod.power": 0.0,
        "plug.power": 0.0,
    },
    None,
    60.0,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
@example(KNOWN_EXPORT_CASE)
def test_limiter_output_never_exceeds_an_active_limit(case) -> None:
    requests, values, ages, peak, feed = case
    note(repr(case))
    limiter = limiter_for(peak, feed)
    s = snap(0, stale_after_s=10.0)
    s = type(s)(s.now, {ch: (v, ages.get(ch, 0.0)) for ch, v in values.items()}, 10.0)
    out = limiter.apply([Setpoint(ch, v, s.now) for ch, v in requests], s, limiter.initial())
    o = {sp.channel: sp.value for sp in out.setpoints}
    assert all(math.isfinite(v) for v in o.values()), o

    # device envelopes
    for ev in ("ev1", "ev2"):
        if f"{ev}.current_limit" in o:
            assert SPECS[ev].min_a <= o[f"{ev}.current_limit"] <= SPECS[ev].max_a
        assert o.get(f"{ev}.enable", 0.0) in (0.0, 1.0)
    assert o.get("ev1.phases", 3.0) in (1.0, 3.0) and o.get("ev2.phases", 1.0) == 1.0
    assert -5000 <= o.get("bat.battery_setpoint", 0.0) <= 5000
    assert 0 <= o.get("rod.power", 0.0) <= 3000 and 0 <= o.get("pv1.power_limit", 0.0) <= 7300
    assert o.get("hp.sgready", 2.0) in (1.0, 2.0, 3.0, 4.0) and o.get("plug.relay", 0.0) in (0.0, 1.0)

    dm = values["dm.state"]
    exports = [
        w
        for w in (
            feed and feed / 100 * 8000,
            0.0 if values["rcr.state_1"] else None,
            dm / 100 * 8000 if dm < 100 else None,
        )
        if w is not None
    ]
    grid = fresh(values, ages, "grid.power")
    if grid is None:  # fail-safe: nothing that could overload or export, no charging from the grid
        for ev in ("ev1", "ev2"):
            assert o.get(f"{ev}.current_limit", 6.0) == SPECS[ev].min_a
        assert o.get("bat.battery_setpoint", 0.0) == 0.0 and o.get("rod.power", 0.0) == 0.0
        assert o.get("plug.relay", 0.0) == 0.0 and o.get("hp.sgready", 2.0) <= 2.0
        if exports:
            assert o["pv1.power_limit"] <= min(exports) + 1e-6
        return
    stale = {d for d in SPECS if fresh(values, ages, f"{d}.power") is None}

    def now_w(d):
        return fresh(values, ages, f"{d}.power") or 0.0

    # worst case for imports: (delta W, per-phase delta)
    hi = lo = grid
    phase = [fresh(values, ages, f"grid.power_l{i}") for i in (1, 2, 3)]
    phase = [grid / 3 if p is None else p for p in phase]  # unknown phases: the balanced share
    c14 = 0.0
    amps = [0.0, 0.0, 0.0]
    for ev in ("ev1", "ev2"):
        spec = SPECS[ev]
        if f"{ev}.enable" not in o and f"{ev}.current_limit" not in o:
            continue  # not commanded: it keeps drawing what it draws
        # the contract: a current without enable means enabled, enable without a current the maximum
        ph = int(o.get(f"{ev}.phases", spec.phases))
        on = o.get(f"{ev}.enable", 1.0) == 1.0
        amp = o.get(f"{ev}.current_limit", spec.max_a)
        plugged = fresh(values, ages, f"{ev}.state")
        new = amp * ph * V if on and (plugged is None or plugged >= 1) else 0.0
        if on:
            for i in range(3):
                amps[i] += amp if ph == 3 or i == 0 else 0.0
        if ev in stale:
            continue
        seen_ph = fresh(values, ages, "ev1.phases") if ev == "ev1" else 1
        was_ph = int(seen_ph) if seen_ph is not None else ph  # unknown: as it is told now
        hi += new - now_w(ev)
        lo += min(new, now_w(ev)) - now_w(ev)
        for i in range(3):
            phase[i] += (new / 3 if ph == 3 else new * (i == 0)) - (
                now_w(ev) / 3 if was_ph == 3 else now_w(ev) * (i == 0)
            )
        c14 += new
    deltas = {}
    if "rod" not in stale and "rod.power" in o:
        deltas["rod"] = (o["rod.power"], min(o["rod.power"], now_w("rod")))
    if "plug" not in stale and "plug.relay" in o:
        deltas["plug"] = (1000.0 * o["plug.relay"], min(1000.0 * o["plug.relay"], now_w("plug")))
    if "hp" not in stale and "hp.sgready" in o:
        sg = o["hp.sgready"]
        deltas["hp"] = (max(now_w("hp"), 3000.0) if sg >= 3 else now_w("hp"), now_w("hp") if sg > 1 else 0.0)
        c14 += deltas["hp"][0]
    soc = fresh(values, ages, "bat.soc")
    if "bat" not in stale and "bat.battery_setpoint" in o:
        b = o["bat.battery_setpoint"]
        if soc is not None and ((b > 0 and soc <= 10.5) or (b < 0 and soc >= 99.5)):
            b = 0.0
        deltas["bat"] = (-b, -b)
        c14 += max(-b, 0.0)
    for d, (h, l_) in deltas.items():
        was = -now_w(d) if d == "bat" else now_w(d)
        hi += h - was
        lo += l_ - was
        for i in range(3):
            phase[i] += (h - was) / 3
    if "pv1" not in stale and "pv1.power_limit" in o:
        hi -= min(now_w("pv1"), o["pv1.power_limit"]) - now_w("pv1")
        lo -= o["pv1.power_limit"] - now_w("pv1")
        for i in range(3):
            phase[i] -= (min(now_w("pv1"), o["pv1.power_limit"]) - now_w("pv1")) / 3

    evs_off = all(
        o.get(f"{ev}.enable", 1.0 if f"{ev}.current_limit" in o else 0.0) == 0.0 or ev in stale
        for ev in ("ev1", "ev2")
    )
    bat_gave = "bat" in stale or soc is None or soc <= 10.5 or o.get("bat.battery_setpoint") == 5000.0
    all_shed = evs_off and bat_gave and o.get("rod.power", 0.0) == 0.0 and o.get("plug.relay", 0.0) == 0.0
    tol = 1.0
    imports = [IMPORT_W] + [w for w in (peak, 0.6 * IMPORT_W if values["rcr.state_1"] else None) if w]
    assert hi <= min(imports) + tol or all_shed, (hi, min(imports))
    assert max(phase) <= PHASE_W + tol or all_shed, phase
    assert max(amps) <= CIRCUIT_A + 1e-6 or evs_off, amps
    if values["sb.state"]:
        p14 = limiter.p14_total
        bat_not_charging = "bat" in stale or o.get("bat.battery_setpoint", 0.0) >= 0 or (soc or 0) >= 99.5
        assert min(c14, hi) <= p14 + tol or (evs_off and bat_not_charging), (c14, hi, p14)
    if exports and "pv1" not in stale:
        bat_full = "bat" in stale or soc is None or soc >= 99.5 or o.get("bat.battery_setpoint") == -5000.0
        # where both cannot hold (loads drop while the import limit is reached) the import limit wins
        import_bound = hi >= min(imports) - MARGIN - tol or max(phase) >= PHASE_W - MARGIN / 3 - tol
        assert lo >= -min(exports) - tol or (o["pv1.power_limit"] == 0.0 and (bat_full or import_bound)), (
            lo,
            exports,
        )
