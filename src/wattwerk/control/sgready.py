"""Heat pump by SG-Ready: 1 block, 2 normal, 3 recommend on, 4 force on; from PV surplus, the
battery's SoC and the price, with a minimum dwell time in every state and a cap on switches per
hour so the compressor is not cycled.

Reads ``<id>.power``, the battery's ``<bat>.soc`` (optional); writes ``<id>.sgready``.
"""

from __future__ import annotations

from dataclasses import dataclass

from wattwerk.control.base import Result, Signals, sp
from wattwerk.control.timing import IDLE, Debounce, SwitchHistory, SwitchRules
from wattwerk.snapshot import Snapshot

BLOCK, NORMAL, RECOMMEND, FORCE = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class SgReadyConfig:
    id: str = "hp"
    nominal_w: float = 2500.0  # electric power when running, to book surplus before it starts
    recommend_w: float = 2500.0  # surplus for state 3
    force_w: float = 5000.0  # surplus for state 4
    force_min_soc: float = 80.0  # state 4 only when the battery is at least this full (if any)
    battery: str | None = "bat"
    delay_s: float = 300.0  # a surplus must last this long before it raises the state
    min_dwell_s: float = 900.0  # in every state
    max_switches_per_hour: int = 3
    block_when_expensive: bool = False
    recommend_when_cheap: bool = True
    name: str = "sgready"


NORMAL_SINCE_EVER = SwitchHistory(state=NORMAL)


@dataclass(frozen=True, slots=True)
class SgReadyState:
    history: SwitchHistory = NORMAL_SINCE_EVER
    recommend: Debounce = IDLE
    force: Debounce = IDLE


class SgReadyControl:
    def __init__(self, config: SgReadyConfig) -> None:
        self.config = config
        self.name = config.name

    def devices(self) -> tuple[str, ...]:
        return (self.config.id,)

    def initial(self) -> SgReadyState:
        return SgReadyState()

    def wanted(
        self, snap: Snapshot, state: SgReadyState, available_w: float | None, signals: Signals
    ) -> tuple[int, SgReadyState]:
        c = self.config
        t = snap.now.timestamp()
        available_w = signals.heat_surplus(available_w)
        surplus = available_w if available_w is not None else 0.0
        soc = snap.get(f"{c.battery}.soc") if c.battery else None
        soc_ok = c.battery is None or (soc is not None and soc >= c.force_min_soc)
        recommend = state.recommend.update(surplus >= c.recommend_w, t)
        force = state.force.update(surplus >= c.force_w and soc_ok, t)
        want = NORMAL
        if force.held(t, c.delay_s):
            want = FORCE
        elif (
            recommend.held(t, c.delay_s)
            or (c.recommend_when_cheap and signals.cheap)
            or (signals.planned_w(c.id) or 0.0) >= 0.25 * c.nominal_w
        ):  # the planner heats now
            want = RECOMMEND
        elif c.block_when_expensive and signals.expensive:
            want = BLOCK
        # while it runs on surplus, its own draw is part of the surplus: keep the state while the
        # surplus stays above what the pump itself takes
        current = int(state.history.state)
        if (
            current in (RECOMMEND, FORCE)
            and want < current
            and available_w is not None
            and surplus >= c.nominal_w * 0.8
            and (current == RECOMMEND or soc_ok)
        ):
            want = current
        return want, SgReadyState(state.history, recommend, force)

    def step(
        self, snap: Snapshot, state: SgReadyState, available_w: float | None, signals: Signals
    ) -> Result[SgReadyState]:
        c = self.config
        t = snap.now.timestamp()
        want, state = self.wanted(snap, state, available_w, signals)
        rules = SwitchRules(c.min_dwell_s, c.min_dwell_s, c.max_switches_per_hour)
        history = state.history
        if history.may_switch(want, t, rules):
            history = history.switched(want, t)
        level = int(history.state)
        power = snap.get(f"{c.id}.power") or 0.0
        used = 0.0 if level == BLOCK else max(power, c.nominal_w) if level in (RECOMMEND, FORCE) else power
        state = SgReadyState(history, state.recommend, state.force)
        return Result((sp(c.id, "sgready", level, snap.now, self.name),), state, used)
