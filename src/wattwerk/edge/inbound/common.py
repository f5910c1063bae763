"""What the inbound interfaces share: the limits an interface was told, published as channels for
the limiter (control/inbound.py), with the contract's fallback when the peer goes silent; and the
site's measurements and limits in force that the peers read back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wattwerk.control.inbound import FEED_IN_PCT, FEED_IN_W, IMPORT_W, NONE
from wattwerk.flows import SiteRoles, power_flows
from wattwerk.model import Reading, utcnow
from wattwerk.snapshot import Snapshot

log = logging.getLogger("wattwerk.edge.inbound")

PUBLISH_S = 1.0  # told values are re-sent this often, so they never go stale in the site state
NO_LIMIT: dict[str, float] = {FEED_IN_PCT: 100.0, FEED_IN_W: NONE, IMPORT_W: NONE}


@dataclass
class EdgeLink:
    """What an interface needs of the running edge."""

    accept: Callable[[Sequence[Reading]], None]  # readings into the site state (EdgeRuntime.accept)
    snapshot: Callable[[], Snapshot]
    limits: Callable[[], Mapping[str, float]]  # the limits in force, name -> W (CycleStep.active_limits)
    roles: SiteRoles
    pv_rated_w: float
    state_dir: Path | None = None  # where the interfaces keep the limits last told (store.data_dir)

    def state_file(self, name: str) -> Path | None:
        return None if self.state_dir is None else self.state_dir / f"inbound-{name}.json"

    def measurements(self) -> dict[str, float | None]:
        """Grid power (+ import), PV power, battery power (+ discharge) in W, battery SoC in %."""
        snap = self.snapshot()
        flows = power_flows(self.roles, snap.get)
        socs = [v for b in self.roles.ids("battery") if (v := snap.get(f"{b}.soc")) is not None]
        return {
            "grid_w": flows.get("grid"),
            "pv_w": flows.get("pv"),
            "battery_w": flows.get("battery"),
            "soc_pct": sum(socs) / len(socs) if socs else None,
        }

    def limit_w(self, direction: Literal["export", "import"]) -> float | None:
        """The tightest limit of one direction in force now, W (None: none)."""
        found = [w for k, w in self.limits().items() if k.startswith(direction + ":")]
        return min(found) if found else None


class Told:
    """The limits one interface (``name``) was told, as channels ``<name>.limit_pct`` …

    ``heard()`` marks contact with the peer; silent for ``fallback_after_s`` (counted from the
    start, too), the contract's ``fallback`` applies: "keep" the last values, or a feed-in limit of
    0 or 100 % with the interface's import limit lifted. ``<name>.state_fallback`` is 1 while it does.
    With ``state_file`` the limits survive a restart: a marketer need not send them again.
    """

    def __init__(
        self,
        name: str,
        accept: Callable[[Sequence[Reading]], None],
        *,
        fallback: Literal["keep", 0, 100] = "keep",
        fallback_after_s: float = 60.0,
        quantities: Sequence[str] = (FEED_IN_PCT,),
        clock: Callable[[], float] = time.monotonic,
        state_file: Path | None = None,
    ) -> None:
        self.name = name
        self._accept = accept
        self.fallback = fallback
        self.fallback_after_s = fallback_after_s
        self.values = {q: NO_LIMIT[q] for q in quantities}
        self.extra: dict[str, float] = {}  # further channels of this interface (level, price …)
        self.clock = clock
        self.last_heard = clock()
        self.in_fallback = False
        self.state_file = state_file
        self._restore()

    def _restore(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
            restored = {
                q: float(v)
                for q, v in saved.items()
                if q in self.values and isinstance(v, int | float) and math.isfinite(v)
            }
        except (OSError, ValueError, AttributeError) as exc:
            log.warning(
                "%s: %s unreadable (%s); starting without the last limits", self.name, self.state_file, exc
            )
            return
        self.values.update(restored)
        log.info("%s: last limits restored: %s", self.name, restored)

    def _save(self) -> None:
        """Written on change only (a few times a day), atomically."""
        if self.state_file is None:
            return
        tmp = self.state_file.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(self.values), encoding="utf-8")
            os.replace(tmp, self.state_file)
        except OSError as exc:
            log.warning("%s: cannot keep the limits in %s: %s", self.name, self.state_file, exc)

    def set(self, quantity: str, value: float) -> None:
        """A value from the peer (``NONE`` / 100 % lifts it); published at once."""
        if quantity in self.values:
            self.values[quantity] = value
            self._save()
        else:
            self.extra[quantity] = value
        self.heard()
        log.info("%s: %s = %g", self.name, quantity, value)
        self.publish()

    def heard(self) -> None:
        self.last_heard = self.clock()
        if self.in_fallback:
            self.in_fallback = False
            log.warning("fallback_end %s: the peer is back", self.name)

    def check(self) -> bool:
        """Apply the fallback when the peer has been silent too long; True while it applies."""
        silent = self.clock() - self.last_heard
        if silent >= self.fallback_after_s and not self.in_fallback:
            self.in_fallback = True
            if self.fallback != "keep":
                for q in self.values:
                    self.values[q] = NO_LIMIT[q]
                if FEED_IN_PCT in self.values:
                    self.values[FEED_IN_PCT] = float(self.fallback)
                elif FEED_IN_W in self.values and self.fallback == 0:
                    self.values[FEED_IN_W] = 0.0
                self._save()
            log.warning(
                "fallback_start %s: no peer for %.0f s, fallback: %s",
                self.name,
                silent,
                self.fallback if self.fallback == "keep" else f"{self.fallback} %",
            )
        return self.in_fallback

    def readings(self) -> list[Reading]:
        now = utcnow()
        told = {**self.values, **self.extra, "state_fallback": 1.0 if self.in_fallback else 0.0}
        return [Reading(f"{self.name}.{q}", now, float(v)) for q, v in told.items()]

    def publish(self) -> None:
        self._accept(self.readings())

    async def run(self, stop: asyncio.Event, tick: Callable[[], None] = lambda: None) -> None:
        """Every ``PUBLISH_S``: ``tick()`` (the interface's own upkeep), the fallback check, publish."""
        while not stop.is_set():
            try:
                tick()
                self.check()
                self.publish()
            except Exception:  # an interface's bug must not stop the edge
                log.exception("%s: upkeep failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PUBLISH_S)
