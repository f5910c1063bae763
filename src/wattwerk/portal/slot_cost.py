"""The grid cost of a range, priced per slot with the prices the edge planned with.

A dynamic tariff (spot, day-ahead, §14a module 3 windows, time-of-use) makes a kWh at 02:00 cost
something else than one at 19:00, so the energy times a mean price is wrong. The portal keeps
each plan slot's import price (``price``) and feed-in price (``sell``, plans.py); here the grid's
import and export energy per bucket (buckets no longer than the slots, e.g. 5 or 15 minutes) is
priced with the slot that contains the bucket's start. Energy in a bucket no stored slot contains
is priced with a fallback tariff and reported as ``unpriced_wh``, so the caller can say how much
of the figure is priced per slot.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    """A stored plan slot: its start, length and prices (per kWh, the plan's currency)."""

    ts_ms: int
    slot_minutes: int
    price: float  # import
    sell: float  # feed-in


@dataclass(frozen=True)
class Prices:
    """One import and one feed-in price per kWh: the fallback for energy outside every slot."""

    import_per_kwh: float
    export_per_kwh: float


@dataclass(frozen=True)
class Cost:
    """``export_eur`` is the feed-in credit; ``net_eur`` = import − credit."""

    import_eur: float
    export_eur: float
    priced_wh: float  # import + export energy priced per slot
    unpriced_wh: float  # import + export energy priced with the fallback

    @property
    def net_eur(self) -> float:
        return self.import_eur - self.export_eur

    @property
    def per_slot_share(self) -> float:
        """0..1: the part of the energy priced per slot (0 when there was no energy)."""
        total = abs(self.priced_wh) + abs(self.unpriced_wh)
        return abs(self.priced_wh) / total if total > 0 else 0.0


class SlotIndex:
    """The stored slots, found by time: the slot containing an instant, or None."""

    def __init__(self, slots: Iterable[Slot]) -> None:
        self.slots = sorted(slots, key=lambda s: s.ts_ms)
        self.starts = [s.ts_ms for s in self.slots]

    def at(self, ts_ms: int) -> Slot | None:
        i = bisect.bisect_right(self.starts, ts_ms) - 1
        if i < 0:
            return None
        slot = self.slots[i]
        return slot if ts_ms < slot.ts_ms + slot.slot_minutes * 60_000 else None


def cost(
    energy: Iterable[tuple[int, float, float]], slots: Sequence[Slot] | SlotIndex, fallback: Prices
) -> Cost:
    """The cost of ``energy``: (bucket start ms, import Wh, export Wh) per bucket, each bucket
    priced with the slot containing its start, else with ``fallback``."""
    index = slots if isinstance(slots, SlotIndex) else SlotIndex(slots)
    imp_eur = exp_eur = priced = unpriced = 0.0
    for ts, imp_wh, exp_wh in energy:
        slot = index.at(ts)
        buy, sell = (slot.price, slot.sell) if slot else (fallback.import_per_kwh, fallback.export_per_kwh)
        imp_eur += imp_wh / 1000 * buy
        exp_eur += exp_wh / 1000 * sell
        if slot:
            priced += imp_wh + exp_wh
        else:
            unpriced += imp_wh + exp_wh
    return Cost(imp_eur, exp_eur, priced, unpriced)


__all__ = ["Cost", "Prices", "Slot", "SlotIndex", "cost"]
