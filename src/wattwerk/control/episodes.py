"""The limiter's last stage: what happened, as events and restriction episodes.

A restriction episode (ripple control, a direct marketer, §14a, a limit from outside) runs from the
cycle its source shows a level until the level changes, with the energy it curtailed: PV held back
(from an inverter's ``power_available``) and consumption held back (what the laws asked minus what
was sent). Fail-safe starts and ends of devices and of silent signals are events too; every event is
logged once, here."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from wattwerk.config.limits import ControlLimits
from wattwerk.control.limit_types import Episode, Event, LimiterState, Plan
from wattwerk.control.prediction import CycleView, Predictor
from wattwerk.vocabulary import Kind

log = logging.getLogger("wattwerk.control.limiter")

HELD_BACK = (Kind.EV, Kind.ROD, Kind.LOAD)  # consumers whose curtailed draw an episode counts


@dataclass(frozen=True, slots=True)
class EpisodeLog:
    predictor: Predictor
    limits: ControlLimits

    def fallbacks(
        self, now: datetime, state: LimiterState, stale: set[str], silent: frozenset[str], events: list[Event]
    ) -> int:
        """Events for devices and signals that went stale or came back; the new fallback count."""
        after = self.limits.fallback_after_s
        for dev in sorted(stale - state.fallback):
            events.append(
                Event(
                    now, "fallback_start", dev, f"{dev}: no data for {after:g} s or more, fail-safe setpoints"
                )
            )
        for dev in sorted(state.fallback - stale):
            events.append(Event(now, "fallback_end", dev, f"{dev}: data again, normal control"))
        for name in sorted(silent - state.signals_stale):
            fail_safe = getattr(self.limits, name).on_stale
            events.append(
                Event(
                    now,
                    "fallback_start",
                    name,
                    f"{name}: contacts silent for {after:g} s or more, on_stale: {fail_safe}",
                )
            )
        for name in sorted(state.signals_stale - silent):
            events.append(Event(now, "fallback_end", name, f"{name}: contacts answer again"))
        return state.fallbacks + len(stale - state.fallback) + len(silent - state.signals_stale)

    def _held_back_w(self, view: CycleView, plan: Plan, requested: Plan) -> tuple[float, float]:
        """PV held back (needs the inverter's ``power_available``), and consumption held back, W."""
        pv_w = load_w = 0.0
        for d, s in self.predictor.devices.items():
            if s.kind == Kind.PV:
                avail = view.get(f"{d}.power_available")
                now_w = view.power(d)
                if avail is not None and now_w is not None:
                    pv_w += max(avail - now_w, 0.0)
            elif d in plan and d in requested and s.kind in HELD_BACK:
                a = self.predictor.draw(s, requested[d], view, 0.0)[1]
                b = self.predictor.draw(s, plan[d], view, 0.0)[1]
                load_w += max(a - b, 0.0)
        return pv_w, load_w

    def episodes(
        self,
        state: LimiterState,
        sources: Mapping[str, str],
        view: CycleView,
        plan: Plan,
        requested: Plan,
        t: float,
        events: list[Event],
    ) -> dict[str, Episode]:
        dt = min(t - state.last_t, 60.0) if state.last_t is not None else 0.0
        pv_w, load_w = self._held_back_w(view, plan, requested)
        by_source = {"ripple": pv_w + load_w, "direct_marketer": pv_w, "para14a": load_w}
        out: dict[str, Episode] = {}
        now = view.now
        for src, ep in state.episodes.items():
            ep = replace(ep, curtailed_wh=ep.curtailed_wh + by_source.get(src, pv_w + load_w) * dt / 3600.0)
            if sources.get(src) == ep.level:
                out[src] = ep
            else:
                events.append(
                    Event(
                        now,
                        "restriction_end",
                        src,
                        f"{src} {ep.level}: {t - ep.start:.0f} s, {ep.curtailed_wh:.0f} Wh curtailed",
                        {"start": ep.start, "end": t, "curtailed_wh": ep.curtailed_wh},
                    )
                )
        for src, level in sources.items():
            if src not in out:
                out[src] = Episode(t, level)
                events.append(Event(now, "restriction_start", src, f"{src} {level}", {"start": t}))
        return out


def log_events(events: list[Event]) -> None:
    for e in events:
        log.info("%s %s: %s", e.kind, e.subject, e.message)
