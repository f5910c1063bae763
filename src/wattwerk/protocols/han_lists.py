"""Norwegian HAN lists that carry values without OBIS codes, in a fixed order per list (data).

Kaifa MA105/MA304 meters push list 1 (active power only), list 2 (every 2.5 s) and list 3 (every
hour, with the clock and the energy registers) as plain values; the list version ``KFM_001``
comes first in lists 2 and 3. The order is the one of the NVE "AMS HAN" documentation for Kaifa
(single-phase lists leave out the L2/L3 currents and voltages). Units: W, var, mA, 0.1 V, Wh,
varh (the ``kaifa_han`` scaler profile of ``dlms_values.py``).

Austrian customer interfaces of the Iskra AM550 and Siemens IM350 (Wiener Netze, Kärnten Netz,
Linz/Wels) push the same kind of list: on the P1 port 12 (or 10) values that start with the push setup's
logical name 0-6:25.9.0.255, then the meter number, time and date as octet strings, +A, -A, +R,
-R (Wh, varh), +P, -P (W) and (not on every meter) two customer information strings; on the
optical D0 port 9 values: the date-time, then +A, -A, +R, -R, +P, -P, +Q, -Q. All values are in
base units (no scaler).
"""

from __future__ import annotations

from typing import Any

_THREE_PHASE_LIST_3: list[str | None] = [
    None,  # 1-1:0.2.129 list version, "KFM_001"
    "0-0:96.1.0",  # meter id
    None,  # 0-0:96.1.7 meter type
    "1-0:1.7.0",
    "1-0:2.7.0",
    "1-0:3.7.0",
    "1-0:4.7.0",
    "1-0:31.7.0",
    "1-0:51.7.0",
    "1-0:71.7.0",
    "1-0:32.7.0",
    "1-0:52.7.0",
    "1-0:72.7.0",
    "0-0:1.0.0",  # the meter's clock
    "1-0:1.8.0",
    "1-0:2.8.0",
    "1-0:3.8.0",
    "1-0:4.8.0",
]
_SINGLE_PHASE_LIST_3 = _THREE_PHASE_LIST_3[:8] + _THREE_PHASE_LIST_3[10:11] + _THREE_PHASE_LIST_3[13:]

# number of values -> the OBIS code of each (None: not a reading)
KAIFA_LISTS: dict[int, list[str | None]] = {
    9: _SINGLE_PHASE_LIST_3[:-5],  # list 2, single phase
    13: _THREE_PHASE_LIST_3[:-5],  # list 2, three phases
    14: _SINGLE_PHASE_LIST_3,  # list 3, single phase
    18: _THREE_PHASE_LIST_3,  # list 3, three phases
}
KAIFA_LIST_1 = ["1-0:1.7.0"]  # one number: active power import

_AT_REGISTERS = ["1-0:1.8.0", "1-0:2.8.0", "1-0:3.8.0", "1-0:4.8.0", "1-0:1.7.0", "1-0:2.7.0"]
AT_PUSH_SETUP = bytes([0, 6, 25, 9, 0, 255])  # 0-6:25.9.0.255, the first value of the P1 list
AT_P1_LIST: list[str | None] = [None, "0-0:96.1.0", None, None, *_AT_REGISTERS, None, None]
AT_D0_LIST: list[str | None] = ["0-0:1.0.0", *_AT_REGISTERS, "1-0:3.7.0", "1-0:4.7.0"]


def _text(raw: Any) -> str:
    if isinstance(raw, bytes | bytearray):
        return bytes(raw).decode("ascii", errors="replace")
    return str(raw)


def _numbers(values: list[Any]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def layout(body: list[Any]) -> tuple[str | None, list[str | None]] | None:
    """(list id, OBIS code per value) for a positional Kaifa or Austrian list, or None."""
    if len(body) == 1 and isinstance(body[0], int) and not isinstance(body[0], bool):
        return None, KAIFA_LIST_1
    if body and _text(body[0]).startswith("KFM_") and len(body) in KAIFA_LISTS:
        return _text(body[0]), KAIFA_LISTS[len(body)]
    if len(body) in (10, 12) and body[0] == AT_PUSH_SETUP and _numbers(body[4:10]):
        return None, AT_P1_LIST[: len(body)]
    first = body[0] if body else None
    if len(body) == len(AT_D0_LIST) and isinstance(first, bytes | bytearray) and len(first) == 12:
        return (None, AT_D0_LIST) if _numbers(body[1:]) else None
    return None
