"""The names of the closed-loop scenarios (``sim/scenarios.py``), as data light enough for
``wattwerk demo --help``, which must not import the simulator; a test keeps both the same."""

from __future__ import annotations

NAMES = (
    "pv-surplus-sunny",
    "pv-surplus-cloudy",
    "ripple-control",
    "para14a",
    "four-chargers-fuse",
    "device-failure",
    "peak-shaving",
    "pv-oversized-60pct",
    "zero-export",
)
