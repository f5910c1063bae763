"""Timers every control law shares: a condition that must hold for a delay, and switching rules
(minimum on/off or dwell time, a cap on switches per hour). Pure values; times are epoch seconds."""

from __future__ import annotations

from dataclasses import dataclass, replace

NEVER = float("-inf")


@dataclass(frozen=True, slots=True)
class Debounce:
    """``since`` is when the condition last became true (None while false)."""

    since: float | None = None

    def update(self, condition: bool, now: float) -> Debounce:
        if not condition:
            return Debounce(None)
        return self if self.since is not None else Debounce(now)

    def held(self, now: float, delay_s: float) -> bool:
        """True when the condition has held for at least ``delay_s``."""
        return self.since is not None and now - self.since >= delay_s


@dataclass(frozen=True, slots=True)
class SwitchRules:
    """Minimum time on (or in a state), off, and at most ``max_per_hour`` switches in any hour."""

    min_on_s: float = 0.0
    min_off_s: float = 0.0
    max_per_hour: int | None = None


@dataclass(frozen=True, slots=True)
class SwitchHistory:
    """The present state (on/off or a level) of a switched device, since when, recent switch times."""

    state: float = 0.0
    since: float = NEVER
    recent: tuple[float, ...] = ()

    def may_switch(self, to: float, now: float, rules: SwitchRules) -> bool:
        """Whether switching to ``to`` now keeps the rules (no switch needed counts as allowed)."""
        if to == self.state:
            return True
        hold = rules.min_on_s if self.state else rules.min_off_s
        if now - self.since < hold:
            return False
        return rules.max_per_hour is None or self.switches_last_hour(now) < rules.max_per_hour

    def switched(self, to: float, now: float) -> SwitchHistory:
        """The history after the state became ``to`` at ``now`` (unchanged when it already was)."""
        if to == self.state:
            return self
        recent = (*(t for t in self.recent if now - t < 3600.0), now)
        return replace(self, state=to, since=now, recent=recent)

    def switches_last_hour(self, now: float) -> int:
        return sum(1 for t in self.recent if now - t < 3600.0)


IDLE = Debounce()  # a condition that is not true (shared immutable default)
OFF = SwitchHistory()
