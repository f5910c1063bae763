"""The parts of the site file's ``tariff`` section beyond one fixed price: time-of-use windows, the
§14a EnWG module 3 time-variable grid fee (levels of a grid operator from the shipped table
``config/data/para14a_module3.yaml``, or given inline), a spot-indexed feed-in, and the grid's CO₂
signal the planner may follow (``strategy.co2``).

A time span is ``"HH:MM-HH:MM"`` in the site's local wall time; it may wrap past midnight
(``"22:00-06:00"``) and ``"24:00"`` ends at midnight. ``market.site_tariff`` turns these into a
price per slot.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator
from ruamel.yaml import YAML

from wattwerk.config.base import Model
from wattwerk.config.devices import problem

TABLE = Path(__file__).parent / "data" / "para14a_module3.yaml"
WEEKDAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):([0-5]\d)|24:00)$")
ALL_MONTHS = list(range(1, 13))


def _check_span(value: str) -> str:
    m = _SPAN.match(value)
    if not m:
        raise problem(
            '"{v}" is not a time span; write it as "HH:MM-HH:MM" in quotes, e.g. "17:00-21:00"', v=value
        )
    if value[:5] == value[6:]:
        raise problem('"{v}" is empty: start and end are the same time', v=value)
    return value


Span = Annotated[str, AfterValidator(_check_span)]
Month = Annotated[int, Field(ge=1, le=12)]
Price = Annotated[float, Field(ge=-10, le=10)]  # €/kWh; a negative price is possible, a typo in ct is not


def span_minutes(span: str) -> tuple[int, int]:
    """(start, end) minutes after local midnight; ``end`` 1440 for ``24:00``."""
    a, b = span.split("-")
    return int(a[:2]) * 60 + int(a[3:]), int(b[:2]) * 60 + int(b[3:])


class TouWindow(Model):
    """An energy price for local wall-time ``hours`` on some weekdays (and months)."""

    hours: Span
    eur_per_kwh: Price  # net of VAT, like fixed_eur_per_kwh
    days: Annotated[list[Day], Field(min_length=1)] = Field(default_factory=lambda: list(WEEKDAY_NAMES))
    months: Annotated[list[Month], Field(min_length=1)] = Field(default_factory=lambda: list(ALL_MONTHS))


class Module3Period(Model):
    """The months a module 3 schedule applies in, with its low (NT) and high (HT) spans."""

    months: Annotated[list[Month], Field(min_length=1)]
    low: list[Span] = Field(default_factory=list)
    high: list[Span] = Field(default_factory=list)


@cache
def operators() -> dict[str, dict[str, Any]]:
    """The shipped table of grid operators' module 3 fees, keyed by operator key."""
    doc = YAML(typ="safe").load(TABLE.read_text(encoding="utf-8"))
    return dict(doc["operators"])


class Module3(Model):
    """§14a EnWG module 3: the grid fee per kWh by time window, in place of the standard grid fee
    that ``grid_fees_eur_per_kwh`` holds. Either ``operator`` (a key of the shipped table) or the
    three levels (net €/kWh) with ``periods``."""

    operator: str | None = None
    low_eur_per_kwh: Price | None = None
    standard_eur_per_kwh: Price | None = None
    high_eur_per_kwh: Price | None = None
    periods: list[Module3Period] = Field(default_factory=list)

    @model_validator(mode="after")
    def _operator_or_levels(self) -> Module3:
        levels = (self.low_eur_per_kwh, self.standard_eur_per_kwh, self.high_eur_per_kwh)
        if self.operator is not None:
            if any(v is not None for v in levels) or self.periods:
                raise problem("give either operator or the levels and periods, not both", ("operator",))
            known = operators()
            if self.operator not in known:
                raise problem(
                    'unknown grid operator "{op}" (the table has {known}); or give low_eur_per_kwh, '
                    "standard_eur_per_kwh, high_eur_per_kwh and periods",
                    ("operator",),
                    op=self.operator,
                    known=", ".join(sorted(known)),
                )
            return self
        if any(v is None for v in levels) or not self.periods:
            raise problem(
                "give operator (a grid operator of the shipped table) or all of low_eur_per_kwh, "
                "standard_eur_per_kwh, high_eur_per_kwh and periods"
            )
        return self

    def resolved(self) -> tuple[dict[str, float], list[Module3Period]]:
        """(net €/kWh per level, periods), from the table for an ``operator``."""
        if self.operator is None:
            levels = {
                "low": float(self.low_eur_per_kwh or 0.0),
                "standard": float(self.standard_eur_per_kwh or 0.0),
                "high": float(self.high_eur_per_kwh or 0.0),
            }
            return levels, list(self.periods)
        row = operators()[self.operator]
        net = 1.19 if row.get("vat_included") else 1.0
        levels = {k: float(v) / 100.0 / net for k, v in row["ct_per_kwh"].items()}
        return levels, [Module3Period.model_validate(p, strict=False) for p in row["periods"]]


class FeedInSpot(Model):
    """Feed-in paid at the day-ahead spot price: ``factor`` × spot + ``offset_eur_per_kwh``."""

    factor: Annotated[float, Field(ge=0, le=10)] = 1.0
    offset_eur_per_kwh: Price = 0.0


class Co2Signal(Model):
    """The grid's CO₂ intensity (g/kWh, measured and forecast) as a planner objective term:
    ``weight_eur_per_kg`` prices each kg of CO₂ imported; 0 uses it only to break ties between
    slots of equal price."""

    source: Literal["energy_charts"] = "energy_charts"
    country: Annotated[str, Field(pattern=r"^[a-z]{2}$")] = "de"
    weight_eur_per_kg: Annotated[float, Field(ge=0, le=10)] = 0.0
