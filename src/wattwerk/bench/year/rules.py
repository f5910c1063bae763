"""The real-time rules of ``wattwerk bench control``: small pure functions the strategies' laws
(``laws``) apply every step, or (``battery_rule``) within the step on what the meter shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ONE_PHASE_MIN_W = 6 * 230.0
ONE_PHASE_MAX_W = 16 * 230.0
THREE_PHASE_MAX_W = 16 * 3 * 230.0
HP_STORE_MIN_C, HP_STORE_MAX_C = 35.0, 48.0  # normal thermostat floor .. SG-Ready 3 boost target


def ev_commands(power_w: float) -> tuple[int, int, float]:
    """(enable, phases, current A) for a wanted AC power on an 11 kW charger with 1p/3p switching;
    below the 1-phase minimum (6 A) the charge pauses."""
    if power_w < ONE_PHASE_MIN_W:
        return 0, 1, 0.0
    if power_w <= ONE_PHASE_MAX_W:
        return 1, 1, power_w / 230.0
    return 1, 3, min(max(power_w / 690.0, 6.0), 16.0)


def ev_power_surplus(surplus_w: float, need_wh: float, secs_left: float | None) -> float:
    """PV mode with a deadline fallback (as the open-source chargers do it): surplus only; within
    twice the time a full-power charge needs, min+PV; within 1.1 times that, full power."""
    if need_wh <= 0:
        return 0.0
    if secs_left is not None:
        full_s = need_wh / THREE_PHASE_MAX_W * 3600.0
        if secs_left <= 1.1 * full_s + 1800.0:
            return THREE_PHASE_MAX_W
        if secs_left <= 2.0 * full_s + 3600.0:
            return max(surplus_w, ONE_PHASE_MIN_W)
    return surplus_w if surplus_w >= ONE_PHASE_MIN_W else 0.0


@dataclass(frozen=True)
class StoreWorth:
    """What a kWh in the battery is worth to the plan now (``value``, €/kWh: the LP's dual), against
    the prices of the moment: the real-time law takes a forecast error into the battery only where
    that beats the grid, and always what the export limit would otherwise curtail."""

    value: float
    buy: float
    sell: float
    eff_charge: float
    eff_discharge: float
    export_cap_w: float

    def limit(self, plan_w: float, w: float, zero_grid_w: float) -> float:
        """``w`` (between the plan and the zero-grid setpoint) cut back to what pays."""
        if w > plan_w:  # the battery would give more: the grid imports at ``buy`` instead
            if self.buy > self.value / self.eff_discharge:
                return w
            if self.buy > self.value * self.eff_charge:  # charging less pays, discharging more not
                return min(w, max(plan_w, 0.0))
            return plan_w
        # the battery would take more: the grid exports at ``sell`` instead, above the cap nothing
        must = min(plan_w, max(w, zero_grid_w + self.export_cap_w))
        if self.value * self.eff_charge > self.sell:
            return min(w, must)
        if self.value / self.eff_discharge > self.sell:  # discharging less pays, charging more not
            return min(max(w, min(plan_w, 0.0)), must)
        return must


def battery_follow(
    plan_w: float, deviation_w: float, zero_grid_w: float, max_w: float, worth: StoreWorth | None = None
) -> float:
    """Battery setpoint (+ discharge): the plan plus the forecast error, moved towards the setpoint
    that zeroes the grid but never past it (no export from, nor import into, the battery that the
    plan did not choose); with ``worth``, only as far as the stored energy's value says it pays."""
    want = plan_w + deviation_w
    lo, hi = min(plan_w, zero_grid_w), max(plan_w, zero_grid_w)
    w = min(max(want, lo), hi)
    if worth is not None:
        w = worth.limit(plan_w, w, zero_grid_w)
    return max(-max_w, min(max_w, w))


def fuse_guard(
    base_w: float, ev_w: float, bat_w: float, limit_w: float, can_discharge: bool
) -> tuple[float, float]:
    """(EV power, battery setpoint) with the import (``base_w`` + EV − battery) under ``limit_w``:
    EV power is shed first, then battery charging. A battery that cannot discharge (at its minimum
    SoC) gives nothing, whatever its setpoint asks."""
    gives = bat_w if bat_w < 0 or can_discharge else 0.0
    over = base_w + ev_w - gives - limit_w
    if over > 0:
        ev_w = max(ev_w - over, 0.0)
        over = base_w + ev_w - gives - limit_w
        if over > 0 and bat_w < 0:
            bat_w = min(bat_w + over, 0.0)
    return ev_w, bat_w


def sgready_from_plan(planned_w: float, max_w: float, store_c: float) -> int:
    """SG-Ready state: 3 (boost) when the plan heats this slot, 1 (block) when it does not and the
    store is warm enough to wait, else 2 (own thermostat)."""
    if planned_w >= 0.25 * max_w:
        return 3
    if store_c >= HP_STORE_MIN_C + 2.0:
        return 1
    return 2


def battery_rule(
    plan_w: float, planned_residual_w: float, max_w: float, fuse_w: float, worth: StoreWorth | None
) -> Callable[[float], float]:
    """The battery's setpoint as a function of the residual a step shows (the site's grid power
    without the battery): the plan, plus the forecast error (the residual minus what the plan
    expected) as far as :func:`battery_follow` allows, and never charging the import past
    ``fuse_w``. An edge computes this every second from the meter; the benchmark's simulator
    evaluates it on each 5-min step's own loads and PV, so a heat pump that switches on or off
    inside the step is met at once, as by a battery in its own self-consumption mode."""

    def rule(residual_w: float) -> float:
        w = battery_follow(plan_w, residual_w - planned_residual_w, residual_w, max_w, worth)
        return fuse_guard(residual_w, 0.0, w, fuse_w, can_discharge=True)[1]  # the car is in the residual

    return rule
