"""What the store refuses before anything reaches disk. Each refusal is a ``BadInput`` with a
short stable kind: ``channel`` (bad name or unknown quantity), ``value`` (not a finite number),
``timestamp`` (missing timezone, not a time), ``too_late`` (older than the raw horizon)."""

from __future__ import annotations

import math
import numbers
from datetime import datetime

from wattwerk.errors import BadInput
from wattwerk.model import Channel, Reading

# Any ms timestamp outside this (1970 .. 2200) is a broken clock, not data.
TS_MIN, TS_MAX = 0, 7_258_118_400_000


def channel_of(name: object) -> Channel:
    """The Channel for a name; BadInput(channel) for a bad name or an unknown quantity."""
    if not isinstance(name, str):
        raise BadInput("channel", f"channel name must be a string, got {name!r}")
    try:
        return Channel.of(name)
    except ValueError as exc:
        raise BadInput("channel", f"{name}: {exc}") from None


def unpack(reading: object) -> tuple[str, int, float]:
    """(channel, ts_ms, value) of a Reading or a (channel, ts_ms | datetime, value) tuple,
    with timestamp and value checked. The channel name is checked by ``channel_of``."""
    cls = type(reading)
    if cls is tuple and len(reading) == 3:  # type: ignore[arg-type]
        name, ts, value = reading  # type: ignore[misc]
    elif cls is Reading or isinstance(reading, Reading):
        name, ts, value = reading.channel, reading.ts, reading.value  # type: ignore[attr-defined]
    elif isinstance(reading, tuple) and len(reading) == 3:
        name, ts, value = reading
    else:
        raise BadInput("garbage", f"not a reading: {reading!r}")
    # The common case, checked with as few calls as possible: it runs for every reading.
    if (
        type(ts) is int
        and type(value) is float
        and type(name) is str
        and TS_MIN <= ts <= TS_MAX
        and value - value == 0.0  # finite
    ):
        return name, ts, value
    return _checked(name, ts, value)


def _checked(name: object, ts: object, value: object) -> tuple[str, int, float]:
    if not isinstance(name, str):
        raise BadInput("channel", f"channel name must be a string, got {name!r}")
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise BadInput("timestamp", f"{name}: timestamp {ts} has no timezone")
        ts = round(ts.timestamp() * 1000)
    elif isinstance(ts, numbers.Integral) and not isinstance(ts, bool):
        ts = int(ts)
    else:
        raise BadInput("timestamp", f"{name}: timestamp {ts!r} is not a time")
    if not TS_MIN <= ts <= TS_MAX:
        raise BadInput("timestamp", f"{name}: timestamp {ts} ms is out of range")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise BadInput("value", f"{name}: value {value!r} is not a number")
    if not math.isfinite(value):
        raise BadInput("value", f"{name}: value {value} is not finite")
    return name, ts, float(value)  # type: ignore[arg-type]
