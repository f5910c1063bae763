"""Field types shared by the site schema: durations, device ids, time zones.

Each raises a ``PydanticCustomError`` whose message is already the sentence the user reads,
so the message layer (``messages.py``) can pass it through unchanged.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from datetime import timedelta
from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

# Seconds per unit. "m" is minutes (never months); "y" is 365 days.
DURATION_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdwy])")
_WHOLE = re.compile(r"^(?:\s*\d+(?:\.\d+)?\s*[smhdwy])+\s*$")
FOREVER = "forever"

DEVICE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
DEVICE_ID_MAX = 32


def show(value: Any) -> str:
    """A value as the user wrote it in YAML, for messages: strings quoted, containers named."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return str(value)


def num(value: Any) -> str:
    """A number for messages: ``500`` rather than ``500.0``."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``"30s"``, ``"5m"``, ``"24h"``, ``"7d"`` or ``"1h30m"``.

    Raises ValueError for anything else (including ``"forever"``, which only retention accepts).
    """
    if not _WHOLE.match(text):
        raise ValueError(f"not a duration: {text!r}")
    return float(sum(float(n) * DURATION_UNITS[u] for n, u in _PART.findall(text)))


def _duration_error(value: Any, forever: bool) -> PydanticCustomError:
    examples = '"30s", "5m", "24h", "7d"' + (' or "forever"' if forever else "")
    plain = "" if forever else "a number of seconds or "
    return PydanticCustomError(
        "duration",
        "expected {plain}a duration like {examples}, got {got}",
        {"plain": plain, "examples": examples, "got": show(value)},
    )


def _to_seconds(value: Any) -> Any:
    """Numbers are seconds; strings are durations. Anything else fails as a duration."""
    if isinstance(value, bool):
        raise _duration_error(value, forever=False)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            raise _duration_error(value, forever=False) from None
    raise _duration_error(value, forever=False)


def _to_keep(value: Any) -> timedelta | None:
    """A retention period: a duration string, or ``"forever"`` (None). A timedelta passes."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        if value.strip() == FOREVER:
            return None
        try:
            return timedelta(seconds=parse_duration(value))
        except ValueError:
            pass
    raise _duration_error(value, forever=True)


def _suggest_id(value: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_")
    return cleaned if DEVICE_ID.match(cleaned) else "pv1"


def _check_device_id(value: str) -> str:
    if not DEVICE_ID.match(value) or len(value) > DEVICE_ID_MAX:
        raise PydanticCustomError(
            "device_id",
            '{got} is not a valid device id: use at most {n} lower-case letters, digits and "_", '
            'starting with a letter (it names channels such as "{example}.power")',
            {"got": show(value), "n": DEVICE_ID_MAX, "example": _suggest_id(value)},
        )
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(value, _zones(), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ' (an IANA name such as "Europe/Berlin")'
        raise PydanticCustomError(
            "timezone", "unknown time zone {got}{hint}", {"got": show(value), "hint": hint}
        ) from None
    return value


Seconds = Annotated[float, BeforeValidator(_to_seconds)]
"""A duration in seconds: a number (seconds) or a string like ``"5m"``."""

Keep = Annotated[timedelta | None, BeforeValidator(_to_keep)]
"""A retention period: ``"7d"``, ``"90d"``, ``"2y"`` ... or ``"forever"`` (None)."""

DeviceId = Annotated[str, AfterValidator(_check_device_id)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
