"""DSMR P1 telegrams (2.2 to 5.0.2 and the country variants) as ``Frame``s, over dsmr_parser.

dsmr_parser supplies the telegram specifications (one per version/country), the line
parsers, the CRC16 check and the DLMS decryption; this module adds what a stream reader
needs around them:

* framing of a byte stream in any chunking: a telegram runs from ``/`` to ``!CRC\\r\\n``;
  bytes between telegrams are skipped and reported (kind ``garbage``); a telegram cut
  short by the next ``/`` is reported (kind ``truncated``); encrypted telegrams (DLMS
  general-glo-ciphering, tag 0xDB, as the Luxembourg Smarty sends) are framed by length;
* auto-detection of the specification from the telegram (the one that knows most of its
  lines; ties go to the version line / identification hints), cached per meter header;
* CRC checked whenever the telegram has one, and required where the version has one
  (kind ``crc``); a missing or wrong key says so (kind ``key``) and never gives numbers;
* OBIS values in our units via ``wattwerk.protocols.meter`` (kWh -> Wh, kW -> W, totals and
  net power derived), M-Bus channels (gas, water, heat) by device type and unit;
* the telegram time (meter local time) in UTC using the meter's timezone (default
  Europe/Amsterdam); the caller may use receive time instead (``MeterReader``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from dlms_cosem.exceptions import DecryptionError as DlmsDecryptionError
from dlms_cosem.protocol.xdlms import GeneralGlobalCipher
from dsmr_parser import telegram_specifications as specs
from dsmr_parser.exceptions import ParseError
from dsmr_parser.parsers import ProfileGenericParser

from wattwerk.model import obis_key
from wattwerk.protocols.base import Frame, Value
from wattwerk.protocols.crc import crc16_arc
from wattwerk.protocols.meter import convert_unit, derive_totals, lookup_obis, obis_value

# Specifications we detect among, in order of preference on a tie (name -> dsmr_parser spec).
_PLAIN = {k: v for k, v in specs.MSN.items() if k != "general_global_cipher"}
_SAGEMCOM = {k: v for k, v in specs.SAGEMCOM_T210_D_R.items() if k != "general_global_cipher"}
SPECIFICATIONS: dict[str, dict[str, Any]] = {
    "dsmr5": specs.V5,
    "dsmr4": specs.V4,
    "dsmr2.2/3": specs.V2_2,
    "belgium_fluvius": specs.BELGIUM_FLUVIUS,
    "sweden": specs.SWEDEN,
    "hungary_eon": specs.EON_HUNGARY,
    "austria_sagemcom_t210": _SAGEMCOM,
    "luxembourg_smarty": _PLAIN,
    "ireland_iskra": specs.ISKRA_IE,
    "easymeter_q3d": specs.Q3D,
}

# The Luxembourg Smarty's public authentication key (Luxmetering P1 spec 3.2.5).
SMARTY_AUTH_KEY = bytes.fromhex(specs.MSN["authentication_key"])

MAX_TELEGRAM = 16 * 1024
_WHITESPACE = frozenset(b"\r\n \t\x00")
_LINE_OBIS = re.compile(r"(\d+)-(\d+):(\d+)\.(\d+)\.(\d+)")
_ENCRYPTED_TAG = 0xDB
_CRC_DIGITS = re.compile(rb"[0-9A-Fa-f]{4}")
_COMPLETE_END = re.compile(rb"![0-9A-Fa-f]{0,4}[\r\n \t]*\Z")


@dataclass(frozen=True)
class _Spec:
    name: str
    checksum: bool
    by_code: dict[str, list[tuple[re.Pattern[str], Any]]]  # "C.D.E" -> [(regex, parser)]
    wildcard: list[tuple[re.Pattern[str], Any]]  # objects whose regex names no single code


def _compile(name: str, spec: dict[str, Any]) -> _Spec:
    by_code: dict[str, list[tuple[re.Pattern[str], Any]]] = {}
    wildcard: list[tuple[re.Pattern[str], Any]] = []
    for obj in spec["objects"]:
        pattern = obj["obis_reference"]
        regex = re.compile(pattern, re.DOTALL | re.MULTILINE)
        parser = obj["value_parser"]
        code = re.match(r"\^?[^:]*:((?:\d+\\\.){2}\d+)\.\+\?", pattern)
        if code:
            by_code.setdefault(code.group(1).replace("\\", ""), []).append((regex, parser))
        else:
            wildcard.append((regex, parser))
    return _Spec(name, bool(spec.get("checksum_support")), by_code, wildcard)


_COMPILED = {name: _compile(name, spec) for name, spec in SPECIFICATIONS.items()}


def _matcher(spec: _Spec, text: str, pos: int, cde: str) -> tuple[re.Match[str], Any] | None:
    for regex, parser in spec.by_code.get(cde, ()):
        m = regex.match(text, pos)
        if m:
            return m, parser
    for regex, parser in spec.wildcard:
        m = regex.match(text, pos)
        if m:
            return m, parser
    return None


def _obis_lines(text: str) -> list[tuple[int, str, str]]:
    """(position, full OBIS code, C.D.E) of every line that starts with an OBIS code."""
    out = []
    pos = 0
    for line in text.split("\r\n"):
        m = _LINE_OBIS.match(line)
        if m:
            a, b, c, d, e = m.groups()
            out.append((pos, f"{a}-{b}:{c}.{d}.{e}", f"{c}.{d}.{e}"))
        pos += len(line) + 2
    return out


def _hints(text: str) -> list[str]:
    """Specifications the header and version line point to, strongest first."""
    header = text.split("\r\n", 1)[0]
    hints = []
    if header.startswith("/FLU") or "0-0:96.1.4(" in text:
        hints.append("belgium_fluvius")
    if header.upper().startswith("/LUX"):
        hints.append("luxembourg_smarty")
    if header.startswith("/ESY"):
        hints.append("easymeter_q3d")
    if header.startswith(("/EST", "/SAG")):
        hints.append("austria_sagemcom_t210")
    version = re.search(r"\d-\d:0\.2\.8\((\d)", text)
    if version:
        hints.append("dsmr4" if version.group(1) == "4" else "dsmr5")
    elif "!\r\n" in text[-4:] or text.rstrip().endswith("!"):
        hints.append("dsmr2.2/3")
    return hints


def detect(text: str) -> str:
    """Name of the specification that knows most of the telegram's lines."""
    lines = _obis_lines(text)
    hints = _hints(text)
    order = hints + [n for n in SPECIFICATIONS if n not in hints]
    best, best_score = order[0], -1
    for name in order:
        spec = _COMPILED[name]
        score = sum(1 for pos, _, cde in lines if _matcher(spec, text, pos, cde))
        if score > best_score:
            best, best_score = name, score
    return best


# ---------------------------------------------------------------- M-Bus channels

# EN 13757-3 device types -> our quantity for a volume reading.
_MBUS_VOLUME = {
    3: "gas_volume",
    7: "water_volume",
    6: "water_volume_hot",
    0x15: "water_volume_hot",
    0x16: "water_volume_cold",
    0x17: "water_volume",
}


def _mbus_value(code: str, device_type: int | None, value: float, unit: str | None) -> Value | None:
    if not unit:
        return None  # an empty M-Bus slot (no device): no unit, placeholder value
    converted = convert_unit(value, unit)
    if converted is None:
        return None
    number, ours = converted
    if ours == "m³":
        return Value(code, _MBUS_VOLUME.get(device_type or 3, "gas_volume"), number, "m³")
    if ours == "Wh":
        return Value(code, "heat_energy", number, "Wh")
    return None


# ---------------------------------------------------------------- decoding one telegram


def _as_float(raw: Any) -> float | None:
    if isinstance(raw, (Decimal, int, float)) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            return float(Decimal(raw))
        except InvalidOperation:
            return None
    return None


def _meter_id(raw: str) -> str:
    """NL meters send their id hex-encoded ASCII; decode it when it is."""
    try:
        text = bytes.fromhex(raw).decode("ascii")
    except (ValueError, UnicodeDecodeError):
        return raw
    return text if text.isprintable() and text.strip() else raw


_ID_CODES = ("0-0:96.1.1", "0-0:42.0.0", "1-0:0.0.0", "0-0:96.1.255", "0-0:96.1.0")


class DsmrDecoder:
    """Fed P1 bytes in any chunking; returns one ``Frame`` per telegram (or per bad run)."""

    def __init__(
        self,
        key: bytes | None = None,
        *,
        auth_key: bytes | None = None,
        timezone: str = "Europe/Amsterdam",
        specification: str | None = None,
    ) -> None:
        if key is not None and len(key) != 16:
            raise ValueError(f"DSMR key must be 16 bytes (32 hex digits), got {len(key)}")
        if specification is not None and specification not in SPECIFICATIONS:
            raise ValueError(
                f"unknown DSMR specification {specification!r}; have {', '.join(SPECIFICATIONS)}"
            )
        self.key = key
        self.auth_key = auth_key
        self.tz = ZoneInfo(timezone)
        self.specification = specification
        self.detected: dict[str, str] = {}  # header line -> specification name
        self.last_specification: str | None = None
        self._buf = bytearray()
        self._garbage = 0

    # -- framing

    def feed(self, data: bytes) -> list[Frame]:
        self._buf.extend(data)
        frames: list[Frame] = []
        buf = self._buf
        while buf:
            start = self._find_start()
            if start < 0:
                self._skip(len(buf))
                break
            if start:
                self._skip(start)
            if buf[0] == _ENCRYPTED_TAG:
                raw = self._take_encrypted()
                if raw is None:
                    break
                if raw:
                    frames += self._garbage_frame()
                    frames.append(self._decode_encrypted(raw))
                continue
            raw = self._take_plain(frames)
            if raw is None:
                break
            if raw:
                frames += self._garbage_frame()
                frames.append(self.decode_telegram(raw))
        return frames

    def flush(self) -> list[Frame]:
        """End of input: report what is left (a telegram cut short, trailing garbage)."""
        frames: list[Frame] = []
        if self._buf[:1] == b"/" and _COMPLETE_END.search(self._buf):  # no line end after the CRC
            frames.append(self.decode_telegram(bytes(self._buf)))
            self._buf.clear()
        elif self._buf:
            if self._buf[:1] == b"/" or self._buf[:1] == bytes([_ENCRYPTED_TAG]):
                frames.append(_rejected("truncated", f"telegram cut short after {len(self._buf)} bytes"))
            else:
                self._skip(len(self._buf))
            self._buf.clear()
        return self._garbage_frame() + frames

    def _find_start(self) -> int:
        slash = self._buf.find(b"/")
        pos = 0
        enc = -1
        while True:
            enc = self._buf.find(bytes([_ENCRYPTED_TAG]), pos)
            if enc < 0 or enc + 1 >= len(self._buf) or self._buf[enc + 1] == 8:
                break
            pos = enc + 1
        found = [i for i in (slash, enc) if i >= 0]
        return min(found) if found else -1

    def _skip(self, n: int) -> None:
        self._garbage += sum(1 for b in self._buf[:n] if b not in _WHITESPACE)
        del self._buf[:n]

    def _garbage_frame(self) -> list[Frame]:
        if not self._garbage:
            return []
        n, self._garbage = self._garbage, 0
        return [_rejected("garbage", f"skipped {n} bytes between telegrams")]

    def _take_plain(self, frames: list[Frame]) -> bytes | None:
        """The next telegram (``b""`` when one was dropped), or None to wait for more bytes."""
        buf = self._buf
        end = buf.find(b"!")
        limit = end if end >= 0 else len(buf)
        nxt = buf.find(b"/", 1, limit)
        if nxt < 0 and end < 0:
            enc = buf.find(bytes([_ENCRYPTED_TAG]), 1)
            nxt = enc if enc > 0 else -1
        if nxt > 0:
            frames += self._garbage_frame()
            frames.append(_rejected("truncated", f"telegram cut short after {nxt} bytes; resynchronised"))
            del buf[:nxt]
            return b""
        if end < 0:
            if len(buf) > MAX_TELEGRAM:
                frames.append(_rejected("truncated", f"no end of telegram within {MAX_TELEGRAM} bytes"))
                del buf[:1]
                return b""
            return None
        nl = buf.find(b"\n", end, end + 8)
        if nl < 0 and _CRC_DIGITS.fullmatch(buf[end + 1 : end + 5]):
            nl = end + 4  # "!" and the four CRC digits end the telegram; the line end may lag
        if nl < 0:
            if len(buf) - end < 8:
                return None
            tail = end + 1
            while tail < len(buf) and tail - end <= 4 and chr(buf[tail]) in "0123456789ABCDEFabcdef":
                tail += 1
            nl = tail - 1
        raw = bytes(buf[: nl + 1])
        del buf[: nl + 1]
        return raw

    def _take_encrypted(self) -> bytes | None:
        """The next encrypted APDU, ``b""`` when the tag was a false start, None to wait."""
        buf = self._buf
        if len(buf) < 12:
            return None
        pos = 2 + buf[1]
        first = buf[pos]
        if first < 0x80:
            length, header = first, pos + 1
        elif first in (0x81, 0x82):
            n = first & 0x7F
            if len(buf) < pos + 1 + n:
                return None
            length, header = int.from_bytes(buf[pos + 1 : pos + 1 + n], "big"), pos + 1 + n
        else:
            self._skip(1)
            return b""
        if header + length > MAX_TELEGRAM or length < 17:
            self._skip(1)
            return b""
        if len(buf) < header + length:
            return None
        raw = bytes(buf[: header + length])
        del buf[: header + length]
        return raw

    # -- encrypted telegrams

    def _decode_encrypted(self, raw: bytes) -> Frame:
        if self.key is None:
            return _rejected(
                "key", "encrypted telegram (DLMS general-glo-ciphering) but no key is configured"
            )
        try:
            apdu = GeneralGlobalCipher.from_bytes(raw)
        except Exception as exc:  # the library raises several types for malformed APDUs
            return _rejected("malformed", f"encrypted telegram is malformed: {exc}")
        plain = self._decrypt(apdu)
        if plain is None:
            return _rejected("key", "cannot decrypt telegram: wrong key (authentication tag and CRC fail)")
        frame = self.decode_telegram(plain)
        if not frame.ok and frame.error_kind in ("crc", "malformed"):
            return _rejected("key", f"decrypted telegram is invalid, wrong key? ({'; '.join(frame.errors)})")
        return frame

    def _decrypt(self, apdu: GeneralGlobalCipher) -> bytes | None:
        assert self.key is not None
        try:
            return apdu.to_plain_apdu(self.key, self.auth_key or SMARTY_AUTH_KEY)
        except (DlmsDecryptionError, ValueError, NotImplementedError):
            pass
        # Meters whose authentication key is unknown: AES-GCM without the tag (CTR from
        # counter 2), accepted only when the plaintext is a telegram whose CRC holds.
        if self.auth_key is not None or len(apdu.ciphered_text) <= 12 or len(apdu.system_title) != 8:
            return None
        iv = apdu.system_title + apdu.invocation_counter.to_bytes(4, "big") + (2).to_bytes(4, "big")
        dec = Cipher(algorithms.AES(self.key), modes.CTR(iv)).decryptor()
        plain = dec.update(apdu.ciphered_text[:-12]) + dec.finalize()
        if not plain.startswith(b"/") or b"!" not in plain:
            return None
        text = plain.decode("latin-1")
        if not re.search(r"!([0-9A-F]{1,4})\r?\n?$", text.rstrip("\x00")):
            return None
        return plain

    # -- one plain telegram

    def decode_telegram(self, raw: bytes) -> Frame:
        """Decode one complete telegram (``/`` .. ``!CRC\\r\\n``)."""
        text = raw.decode("latin-1")
        if not raw.isascii() and _checksum_problem(text) is not None:  # a valid CRC vouches for it
            return _rejected("malformed", "telegram contains non-ASCII bytes")
        crc_text = text
        if "\r\n" not in text:  # adapters that pass LF only: CRC over what was sent, parse with CRLF
            text = text.replace("\n", "\r\n")
        if not text.endswith("\n"):
            text += "\r\n"
        header = text.split("\r\n", 1)[0]
        name = self.specification or self.detected.get(header)
        if name is None:
            name = detect(text)
            if len(self.detected) < 64:
                self.detected[header] = name
        self.last_specification = name
        spec = _COMPILED[name]
        has_crc = re.search(r"!\s*[0-9A-Fa-f]{1,4}", crc_text) is not None
        if has_crc or spec.checksum:
            problem = _checksum_problem(crc_text)
            if problem == "missing":
                return _rejected("crc", f"telegram has no CRC but {name} requires one")
            if problem:
                return _rejected("crc", f"CRC mismatch ({name}): {problem}")
        return self._values(text, spec)

    def _values(self, text: str, spec: _Spec) -> Frame:
        frame = Frame(ts=None)
        values: list[Value] = []
        ids: dict[str, str] = {}
        mbus_type: dict[int, int] = {}
        mbus: list[tuple[int, str, float, str | None]] = []
        seen: set[str] = set()
        for pos, code, cde in _obis_lines(text):
            if code in seen:
                continue
            found = _matcher(spec, text, pos, cde)
            if found is None:
                value = _plain_line(text, pos, code)
                if value is not None:
                    seen.add(code)
                    values.append(value)
                    continue
                frame.notes.append(("unknown_obis", f"{code} is not part of {spec.name}"))
                continue
            seen.add(code)
            match, parser = found
            if isinstance(parser, ProfileGenericParser):
                continue  # event logs; the library's parser grows state on every call
            try:
                obj = parser.parse(match.group(0))
            except (ParseError, ValueError, IndexError, InvalidOperation, TypeError) as exc:
                frame.notes.append(("malformed", f"{code}: cannot parse line ({exc})"))
                continue
            if isinstance(obj, list):  # max demand history: not a current value
                continue
            self._one(code, obj, frame, values, ids, mbus_type, mbus)
        for channel, code, number, unit in mbus:
            value = _mbus_value(code, mbus_type.get(channel), number, unit)
            if value is None:
                continue
            if any(v.quantity == value.quantity for v in values):
                value = Value(value.obis, f"{value.quantity}_ch{channel}", value.value, value.unit)
            values.append(value)
        frame.meter_id = next((ids[c] for c in _ID_CODES if ids.get(c)), None)
        frame.values = derive_totals(values)
        if not frame.values:
            frame.errors.append(f"telegram ({spec.name}) has no values we read")
            frame.error_kind = "empty"
        return frame

    def _one(
        self,
        code: str,
        obj: Any,
        frame: Frame,
        values: list[Value],
        ids: dict[str, str],
        mbus_type: dict[int, int],
        mbus: list[tuple[int, str, float, str | None]],
    ) -> None:
        key = obis_key(code)
        a, b = obj.obis_id_code if hasattr(obj, "obis_id_code") else (None, None)
        cde = key.split(":", 1)[1]
        if key in _ID_CODES:
            if obj.value:
                ids[key] = _meter_id(str(obj.value))
            return
        if key == "0-0:1.0.0":
            frame.ts = self._local(obj.value)
            return
        if a == 0 and b and b > 0:  # M-Bus channel b
            if cde == "24.1.0":
                number = _as_float(obj.value)
                if number is not None:
                    mbus_type[b] = int(number)
            elif cde in ("24.2.1", "24.2.3", "24.3.0"):
                number = _as_float(obj.value)
                if number is not None:
                    mbus.append((b, key, number, obj.unit))
            return
        number = _as_float(obj.value)
        if number is None:
            return
        value = obis_value(key, number, obj.unit)
        if value is not None:
            values.append(value)
        elif lookup_obis(key) is not None:
            frame.notes.append(("unit", f"{code}: unit {obj.unit!r} is not one we convert"))

    def _local(self, utc: Any) -> datetime | None:
        """dsmr_parser reads meter time as Europe/Amsterdam; re-read it in the meter's zone."""
        if not isinstance(utc, datetime):
            return None
        if self.tz.key == "Europe/Amsterdam":
            return utc.astimezone(UTC)
        local = utc.astimezone(ZoneInfo("Europe/Amsterdam"))
        wall = local.replace(tzinfo=None)
        return wall.replace(tzinfo=self.tz, fold=local.fold).astimezone(UTC)


_PLAIN_LINE = re.compile(r"(1-\d+:\d+\.\d+\.\d+)(?:\*\d+)?\(([-+]?\d+(?:\.\d+)?)(?:\*([^()]*))?\)\r\n")


def _plain_line(text: str, pos: int, code: str) -> Value | None:
    """An electricity register the specification does not list but our OBIS table does, in the
    plain IEC 62056-21 form ``A-B:C.D.E(value*unit)`` (Lithuanian frequency, neutral current ...)."""
    m = _PLAIN_LINE.match(text, pos)
    if m is None:
        return None
    return obis_value(obis_key(code), float(m.group(2)), m.group(3))


def _rejected(kind: str, message: str) -> Frame:
    return Frame(ts=None, errors=[message], error_kind=kind)


_CRC_BODY = re.compile(r"/.+!", re.DOTALL)
_CRC_VALUE = re.compile(r"(?<=!)[0-9A-Fa-f]{1,4}")


def _checksum_problem(telegram: str) -> str | None:
    """None when the CRC holds; "missing" without one; else what is wrong.

    The same rule as dsmr_parser's ``validate_checksum`` (CRC over ``/`` .. ``!``), computed
    with the table-driven CRC (see ``protocols/crc.py`` for why).
    """
    body = _CRC_BODY.search(telegram)
    value = _CRC_VALUE.search(telegram)
    if body is None or value is None:
        return "missing"
    computed = crc16_arc(body.group(0).encode("latin-1"))
    expected = int(value.group(0), 16)
    if computed != expected:
        return f"computed {computed:04X}, telegram says {value.group(0)}"
    return None


def decoder(key: bytes | None = None) -> DsmrDecoder:
    """The ``wattwerk decode dsmr`` factory."""
    return DsmrDecoder(key)


def decode_all(data: bytes, key: bytes | None = None, **options: Any) -> list[Frame]:
    """Every frame in a capture (fed at once, then flushed)."""
    dec = DsmrDecoder(key, **options)
    return dec.feed(data) + dec.flush()
