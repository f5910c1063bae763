"""Numbers as the pages show them (static/common.js), for tests that compare page text.

The pages format with ``Intl.NumberFormat``, which rounds the shortest decimal form of a number
half away from zero (6.725 -> 6.73, 62.5 -> 63). Python's ``format`` rounds the binary value
(6.725 -> 6.72) and ties to even (62.5 -> 62), so a test that formats with it fails on ties.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def fixed(v: float, digits: int) -> str:
    """As ``WW.fmt(v, digits)`` in an English locale (en-GB: 1,234.5; no sign on a zero)."""
    rounded = Decimal(repr(v)).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{abs(rounded) if rounded == 0 else rounded:,}"


def power(w: float) -> str:
    """As ``WW.power``: kW with two decimals from 1000 W, else whole watts (``Math.round``)."""
    return f"{fixed(w / 1000, 2)} kW" if abs(w) >= 1000 else f"{fixed(math.floor(w + 0.5), 0)} W"


def pct(v: float) -> str:
    """As ``WW.pct`` and ``WW.num(v, 0, "%")``."""
    return f"{fixed(v, 0)} %"


def kwh(wh: float) -> str:
    """Wh as ``WW.kwh`` shows kWh below 100 kWh."""
    return f"{fixed(wh / 1000, 2)} kWh"
