"""Limits sent from outside (``control.inbound``: IEC 60870-5-104, the Modbus server, OpenADR) as a
limit source of the one limiter.

Each interface writes what it was told as channels of its own name (``iec104``, ``modbus_server``,
``openadr``); the limiter reads them here like any other signal, so an external limit is held,
logged as a restriction episode and shown on the page like ripple control:

* ``<name>.limit_pct``: feed-in limit in % of the installed PV power (100 = none);
* ``<name>.limit_export``: feed-in limit in W (negative = none);
* ``<name>.limit_import``: grid import limit in W (negative = none).

A missing or stale channel is no limit: each interface re-sends its values every second and applies
its contract's fallback itself when its peer goes silent (edge/inbound).
"""

from __future__ import annotations

from collections.abc import Iterable

from wattwerk.snapshot import Snapshot

NONE = -1.0  # the value of a W channel that carries no limit
FEED_IN_PCT = "limit_pct"
FEED_IN_W = "limit_export"
IMPORT_W = "limit_import"


def inbound_limits(
    snap: Snapshot, names: Iterable[str], pv_rated_w: float
) -> tuple[dict[str, float], dict[str, str]]:
    """``export:<name>`` and ``import:<name>`` limits in W, and each source's level for the episode log."""
    out: dict[str, float] = {}
    sources: dict[str, str] = {}
    for name in names:
        pct, watts, imp = (snap.get(f"{name}.{q}") for q in (FEED_IN_PCT, FEED_IN_W, IMPORT_W))
        export: list[float] = []
        level: list[str] = []
        if pct is not None and pct < 100 and pv_rated_w > 0:
            export.append(max(pct, 0.0) / 100.0 * pv_rated_w)
            level.append(f"feed-in {pct:g}%")
        if watts is not None and watts >= 0:
            export.append(watts)
            level.append(f"feed-in {watts:.0f} W")
        if export:
            out[f"export:{name}"] = min(export)
        if imp is not None and imp >= 0:
            out[f"import:{name}"] = imp
            level.append(f"import {imp:.0f} W")
        if level:
            sources[name] = ", ".join(level)
    return out, sources
