"""DLMS/COSEM push messages (HDLC or wired M-Bus) as ``Frame``s, over dlms-cosem.

The meters on the Swiss customer interface (L+G E450/E360/E570, Iskra AM550), Austrian
M-Bus meters and Kamstrup HAN push a DataNotification every few seconds. Layers:

1. framing (ours): HDLC frames ``7E .. 7E`` with HCS and FCS checked (dlms-cosem's CRC),
   HDLC segments joined; or M-Bus long frames ``68 L L 68 .. CS 16`` with their checksum;
2. APDU: general-block-transfer blocks reassembled in order (a duplicate block is dropped,
   a gap rejects the push); general-glo-ciphering decrypted with the key (dlms-cosem;
   without an authentication key AES-GCM is run without the tag and the plaintext must
   parse); DataNotification parsed (dlms-cosem);
3. body: either a push list (the first element lists the capture objects, as the VSE
   configurations do) or OBIS octet strings followed by their values and optional
   scaler/unit structures (Austrian and Kamstrup style);
4. values: registers scaled by the scaler/unit the push carries, else by the meter
   profile's table (pushes rarely carry scalers), mapped to our quantities and units.

Meter time: the clock object (0-0:1.0.0) or the notification's own time; a time without
deviation is local time of the meter's zone (default Europe/Zurich).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from dlms_cosem import dlms_data
from dlms_cosem.crc import CRCCCITT
from dlms_cosem.exceptions import DecryptionError
from dlms_cosem.protocol.xdlms import DataNotification, GeneralGlobalCipher
from dlms_cosem.time import ClockStatus, datetime_from_bytes

from wattwerk.model import ObisName
from wattwerk.protocols.base import Frame, Value
from wattwerk.protocols.han_lists import layout as han_layout
from wattwerk.protocols.meter import derive_totals, lookup_obis

# Scaler (power of ten) per quantity prefix, for pushes that carry no scaler_unit.
# From the meters' documented push configurations (VSE 2026 lists, vendor manuals).
SCALER_PROFILES: dict[str, dict[str, int]] = {
    "default": {"current": -2, "power_factor": -3, "frequency": -2},
    "lg_e450": {"current": -2, "power_factor": -3, "frequency": -2},
    "lg_e360": {"current": -2, "power_factor": -3, "voltage": -1},
    "lg_e570": {"power_factor": -3},
    "iskra_am550": {"current": -2, "power_factor": -3, "voltage": -1},
    "kamstrup_han": {"current": -2, "energy": 1, "reactive_energy": 1},
    "kaifa_han": {"current": -3, "voltage": -1},  # Kaifa MA304 (list id KFM_001): mA, 0.1 V
}

# DLMS unit enumeration (Blue Book) -> (our unit, power-of-ten shift into it).
DLMS_UNITS: dict[int, tuple[str, int]] = {
    27: ("W", 0),
    28: ("VA", 0),
    29: ("var", 0),
    30: ("Wh", 0),
    31: ("VAh", 0),
    32: ("varh", 0),
    33: ("A", 0),
    35: ("V", 0),
    44: ("Hz", 0),
    13: ("m³", 0),
    14: ("m³", 0),
    255: ("", 0),
}

# Meter identity (logical device name, serial numbers; Kamstrup sends 1-1:0.0.5) and clock:
# compared by C.D.E, any channel B.
ID_CDE = ("42.0.0", "96.1.0", "96.1.1", "96.1.2", "0.0.5")
CLOCK_CDE = "1.0.0"


def _cde(obis: str) -> str:
    return obis.split(":", 1)[1].split("*", 1)[0]


def _is_id(obis: str) -> bool:
    return _cde(obis) in ID_CDE


def _is_clock(obis: str) -> bool:
    return obis.startswith("0-") and _cde(obis) == CLOCK_CDE


_FCS = CRCCCITT()
MAX_PUSH = 64 * 1024


class _Bad(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# ---------------------------------------------------------------- A-XDR data


class _DataParser(dlms_data.DlmsDataParser):
    """dlms-cosem's data parser with bounds checks and the string/float types it lacks."""

    def get_bytes(self, length: int) -> bytearray:
        if self.pointer + length > len(self.buffer):
            raise _Bad("truncated", "DLMS data ends inside a value")
        return super().get_bytes(length)

    def decode_variable_integer(self) -> int:
        n = super().decode_variable_integer()
        if n > len(self.buffer) - self.pointer:
            raise _Bad("malformed", f"DLMS length {n} runs past the data")
        return n

    def parse_one_entry(self) -> Any:
        tag = self.buffer[self.pointer] if self.pointer < len(self.buffer) else None
        if tag in (10, 12):  # visible-string, utf8-string
            self.pointer += 1
            raw = bytes(self.get_bytes(self.decode_variable_integer()))
            return dlms_data.VisibleStringData(value=raw.decode("latin-1"))
        if tag in (23, 24):  # float32, float64
            self.pointer += 1
            size = 4 if tag == 23 else 8
            return dlms_data.Float64Data(
                value=struct.unpack(">f" if tag == 23 else ">d", self.get_bytes(size))[0]
            )
        if tag == 4:  # bit-string: length in bits
            self.pointer += 1
            bits = self.decode_variable_integer()
            return dlms_data.BitStringData(value=bytes(self.get_bytes((bits + 7) // 8)))
        if tag is None or tag not in dlms_data.DlmsDataFactory.MAP:
            raise _Bad("malformed", f"unknown DLMS data tag {tag}")
        if tag == 19:
            raise _Bad("unsupported", "compact-array data is not supported")
        return super().parse_one_entry()


def parse_data(body: bytes) -> list[Any]:
    parser = _DataParser()
    return parser.parse(body)


def _py(item: Any) -> Any:
    """Plain Python of a dlms-cosem data item (lists for arrays/structures)."""
    if isinstance(item, (dlms_data.DataArray, dlms_data.DataStructure)):
        return [_py(x) for x in item.value]
    return item.value


# ---------------------------------------------------------------- time


def _dlms_time(raw: bytes, tz: ZoneInfo) -> datetime | None:
    """A 12-byte DLMS date-time in UTC; no deviation means local time of ``tz``."""
    if len(raw) != 12 or raw[:2] == b"\xff\xff":
        return None
    try:
        dt, status = datetime_from_bytes(raw)
    except (ValueError, TypeError, OverflowError):
        return None
    if raw[9:11] == b"\x00\x00":
        return dt.replace(tzinfo=UTC)
    if dt.tzinfo is not None:
        return dt.astimezone(UTC)
    dst = bool(status and isinstance(status, ClockStatus) and status.daylight_saving_active)
    return dt.replace(tzinfo=tz, fold=0 if dst else 1).astimezone(UTC)


# ---------------------------------------------------------------- values


@dataclass
class _Capture:
    class_id: int
    obis: str
    attribute: int


def _obis_text(raw: bytes) -> str:
    a, b, c, d, e, f = raw
    code = f"{a}-{b}:{c}.{d}.{e}"
    return code if f == 255 else f"{code}*{f}"


def _looks_like_obis(raw: Any) -> bool:
    return isinstance(raw, (bytes, bytearray)) and len(raw) == 6 and raw[0] <= 9 and raw[1] <= 64


def _text(raw: Any) -> str | None:
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode("ascii")
        except UnicodeDecodeError:
            return bytes(raw).hex()
        return text if text.isprintable() else bytes(raw).hex()
    if isinstance(raw, str):
        return raw
    return None


@dataclass
class _Push:
    """What one notification says, before mapping."""

    ts: datetime | None = None
    meter_id: str | None = None
    push_setup: str | None = None
    list_id: str | None = None  # the list identifier some meters push first
    registers: list[tuple[str, float, tuple[int, int] | None]] = field(default_factory=list)


# ---------------------------------------------------------------- the decoder


class DlmsDecoder:
    """Fed HDLC or M-Bus bytes in any chunking; returns one ``Frame`` per DLMS push."""

    def __init__(
        self,
        key: bytes | None = None,
        *,
        auth_key: bytes | None = None,
        timezone: str = "Europe/Zurich",
        profile: str | None = None,
        capture_objects: list[str | None] | None = None,
    ) -> None:
        if key is not None and len(key) not in (16, 32):
            raise ValueError(f"DLMS key must be 16 or 32 bytes, got {len(key)}")
        if profile is not None and profile not in SCALER_PROFILES:
            raise ValueError(f"unknown DLMS meter profile {profile!r}; have {', '.join(SCALER_PROFILES)}")
        self.key = key
        self.auth_key = auth_key
        self.tz = ZoneInfo(timezone)
        self.profile = profile
        # For pushes that carry neither a push list nor OBIS codes: the OBIS code of each
        # pushed value in order (None for one to skip), from the meter's push configuration.
        self.capture_objects = capture_objects
        self._buf = bytearray()
        self._segments = bytearray()
        self._blocks: list[bytes] = []
        self._block_no = 0
        self._mbus = bytearray()
        self._garbage = 0
        self._out: list[Frame] = []

    # -- framing

    def feed(self, data: bytes) -> list[Frame]:
        self._buf.extend(data)
        frames: list[Frame] = []
        buf = self._buf
        while buf:
            start = _next_start(buf)
            if start < 0:
                self._skip(len(buf))
                break
            self._skip(start)
            if buf[0] == 0x7E:
                if len(buf) > 1 and buf[1] == 0x7E:
                    del buf[:1]  # flag shared between frames / idle flags
                    continue
                took = self._hdlc(frames)
            else:
                took = self._mbus_frame(frames)
            if took is None:
                break
        return frames

    def flush(self) -> list[Frame]:
        frames = self._garbage_frame()
        if self._buf.strip(b"\x7e") or self._segments or self._blocks or self._mbus:
            frames.append(_rejected("truncated", "input ended inside a push"))
        self._buf.clear()
        self._reset()
        return frames

    def _skip(self, n: int) -> None:
        self._garbage += n
        del self._buf[:n]

    def _garbage_frame(self) -> list[Frame]:
        if not self._garbage:
            return []
        n, self._garbage = self._garbage, 0
        return [_rejected("garbage", f"skipped {n} bytes outside frames")]

    def _reset(self) -> None:
        self._segments.clear()
        self._blocks.clear()
        self._block_no = 0
        self._mbus.clear()

    def _hdlc(self, frames: list[Frame]) -> bool | None:
        """Take one HDLC frame from the buffer start; None means wait for more bytes."""
        buf = self._buf
        if len(buf) < 3:
            return None
        if buf[1] >> 4 != 0xA:
            self._skip(1)
            return False
        length = ((buf[1] & 0x07) << 8) | buf[2]
        if length < 7:
            self._skip(1)
            return False
        if len(buf) < length + 2:
            return None
        if buf[length + 1] != 0x7E:
            self._skip(1)  # not a frame after all: resynchronise at the next flag
            return False
        raw = bytes(buf[1 : length + 1])  # format .. FCS, without flags
        frames += self._garbage_frame()
        del buf[: length + 1]  # keep the closing flag: it may open the next frame
        try:
            info, segmented = _hdlc_info(raw)
        except _Bad as exc:
            self._reset()
            frames.append(_rejected(exc.kind, str(exc)))
            return True
        self._segments += info
        if segmented:
            if len(self._segments) > MAX_PUSH:
                self._reset()
                frames.append(_rejected("truncated", "HDLC segments exceed the push size limit"))
            return True
        message = bytes(self._segments)
        self._segments.clear()
        self._message(message, frames)
        return True

    def _mbus_frame(self, frames: list[Frame]) -> bool | None:
        buf = self._buf
        if len(buf) < 4:
            return None
        n = buf[1]
        if buf[2] != n or buf[3] != 0x68 or n < 3:
            self._skip(1)
            return False
        if len(buf) < n + 6:
            return None
        body = bytes(buf[4 : 4 + n])
        if buf[4 + n + 1] != 0x16:
            self._skip(1)
            return False
        frames += self._garbage_frame()
        checksum = buf[4 + n]
        del buf[: n + 6]
        if sum(body) & 0xFF != checksum:
            self._reset()
            frames.append(_rejected("crc", "M-Bus frame checksum mismatch"))
            return True
        ci = body[2]
        if ci > 0x1F or len(body) < 5:
            frames.append(_rejected("unsupported", f"M-Bus frame with CI 0x{ci:02X} is not a DLMS push"))
            return True
        self._mbus += body[5:]  # after C, A, CI and the STSAP/DTSAP pair
        if not ci & 0x10:
            return True
        message = bytes(self._mbus)
        self._mbus.clear()
        self._message(message, frames)
        return True

    # -- APDUs

    def _message(self, message: bytes, frames: list[Frame]) -> None:
        if message[:2] in (b"\xe6\xe7", b"\xe6\xe6"):
            message = message[3:]  # LLC header
        frame = None
        try:
            frame = self._apdu(message)
        except _Bad as exc:
            self._blocks.clear()
            self._block_no = 0
            self._out.append(_rejected(exc.kind, str(exc)))
        finally:
            frames += self._out
            self._out.clear()
        if frame is not None:
            frames.append(frame)

    def _apdu(self, apdu: bytes) -> Frame | None:
        if not apdu:
            raise _Bad("malformed", "empty DLMS message")
        tag = apdu[0]
        if tag == 0xE0:
            whole = self._block(apdu)
            return None if whole is None else self._apdu(whole)
        if self._blocks:
            self._blocks.clear()
            self._block_no = 0
            raise _Bad("sequence", "push interrupted before its last block")
        if tag == GeneralGlobalCipher.TAG:
            return self._apdu(self._decrypt(apdu))
        if tag == DataNotification.TAG:
            return self._notification(apdu)
        raise _Bad("unsupported", f"DLMS APDU tag 0x{tag:02X} is not a data notification")

    def _block(self, apdu: bytes) -> bytes | None:
        """General-block-transfer: collect blocks in order; the whole APDU after the last."""
        if len(apdu) < 7:
            raise _Bad("truncated", "general-block-transfer header cut short")
        control = apdu[1]
        number = int.from_bytes(apdu[2:4], "big")
        length, pos = _axdr_length(apdu, 6)
        data = apdu[pos : pos + length]
        if len(data) != length:
            raise _Bad("truncated", f"block {number} carries {len(data)} of {length} bytes")
        if number == self._block_no and self._blocks and data == self._blocks[-1]:
            return None  # the same block again: drop the duplicate
        if number == 1 and self._blocks:  # a new push began before the last one ended
            self._out.append(_rejected("sequence", f"push interrupted after block {self._block_no}"))
            self._blocks.clear()
            self._block_no = 0
        if number != self._block_no + 1:
            expected = self._block_no + 1
            self._blocks.clear()
            self._block_no = 0
            raise _Bad("sequence", f"block {number} arrived, expected {expected}: push rejected")
        self._blocks.append(data)
        self._block_no = number
        if sum(len(b) for b in self._blocks) > MAX_PUSH:
            raise _Bad("truncated", "push exceeds the size limit")
        if not control & 0x80:
            return None
        whole = b"".join(self._blocks)
        self._blocks.clear()
        self._block_no = 0
        return whole

    def _decrypt(self, apdu: bytes) -> bytes:
        if self.key is None:
            raise _Bad("key", "encrypted push (general-glo-ciphering) but no key is configured")
        try:
            glo = GeneralGlobalCipher.from_bytes(apdu)
        except Exception as exc:  # the library raises several types for malformed input
            raise _Bad("malformed", f"encrypted push is malformed: {exc}") from None
        if len(glo.system_title) != 8 or len(glo.ciphered_text) < 13:
            raise _Bad("malformed", "encrypted push is too short")
        if self.auth_key is not None:
            try:
                return glo.to_plain_apdu(self.key, self.auth_key)
            except (DecryptionError, ValueError) as exc:
                raise _Bad("key", f"cannot decrypt push: wrong key or authentication key ({exc})") from None
        # Encryption key only (how most customer interfaces are handed out): AES-GCM
        # without checking the tag; a wrong key shows as a plaintext that does not parse.
        text = glo.ciphered_text[:-12] if glo.security_control.authenticated else glo.ciphered_text
        iv = glo.system_title + glo.invocation_counter.to_bytes(4, "big") + (2).to_bytes(4, "big")
        dec = Cipher(algorithms.AES(self.key), modes.CTR(iv)).decryptor()
        plain = dec.update(text) + dec.finalize()
        if not plain or plain[0] != DataNotification.TAG:
            raise _Bad("key", "cannot decrypt push: wrong key (plaintext is not a data notification)")
        try:
            parse_data(DataNotification.from_bytes(plain).body)
        except Exception:
            raise _Bad("key", "cannot decrypt push: wrong key (plaintext does not parse)") from None
        return plain

    def _notification(self, apdu: bytes) -> Frame:
        if len(apdu) > 7 and apdu[5] == 0x09 and apdu[6] == 0x0C:  # Kaifa: date-time as tagged octet string
            apdu = apdu[:5] + apdu[6:]
        try:
            note = DataNotification.from_bytes(apdu)
            items = parse_data(note.body)
        except _Bad:
            raise
        except Exception as exc:
            raise _Bad("malformed", f"data notification does not parse: {exc}") from None
        push = _Push()
        if apdu[5] == 0x0C and len(apdu) >= 18:
            push.ts = _dlms_time(apdu[6:18], self.tz)
        body = [_py(item) for item in items]
        if len(body) == 1 and isinstance(body[0], list):
            body = body[0]
        captures = _push_list(body)
        if captures is not None:
            if len(items) != 1 or len(captures) != len(body):
                raise _Bad(
                    "malformed", f"push list names {len(captures)} objects but {len(body)} values came"
                )
            self._from_push_list(captures, body, push)
        elif self.capture_objects is not None:
            self._from_configured(body, push, self.capture_objects)
        elif (positional := han_layout(body)) is not None:
            push.list_id = positional[0]
            self._from_configured(body, push, positional[1])
        else:
            self._from_inline(body, push)
        return self._frame(push)

    def _from_push_list(self, captures: list[_Capture], body: list[Any], push: _Push) -> None:
        scalers: dict[str, tuple[int, int]] = {}
        pending: list[tuple[str, Any]] = []
        for capture, value in zip(captures, body, strict=False):
            if capture.class_id == 40:
                push.push_setup = capture.obis
                continue
            if _is_clock(capture.obis) and isinstance(value, (bytes, bytearray)):
                push.ts = _dlms_time(bytes(value), self.tz) or push.ts
            elif _is_id(capture.obis) and capture.class_id == 1:
                push.meter_id = push.meter_id or _text(value)
            elif capture.class_id in (3, 4, 5) and capture.attribute == 3 and _scaler_unit(value):
                scalers[capture.obis] = _scaler_unit(value)  # type: ignore[assignment]
            elif capture.attribute == 2 and _number(value) is not None:
                pending.append((capture.obis, value))
        for obis, value in pending:
            push.registers.append((obis, float(_number(value)), scalers.get(obis)))  # type: ignore[arg-type]

    def _from_configured(self, body: list[Any], push: _Push, objects: list[str | None]) -> None:
        if len(body) != len(objects):
            raise _Bad(
                "malformed",
                f"push has {len(body)} values but {len(objects)} capture objects are configured",
            )
        for obis, value in zip(objects, body, strict=True):
            if obis is None:
                continue
            if _is_clock(obis) and isinstance(value, (bytes, bytearray)):
                push.ts = _dlms_time(bytes(value), self.tz) or push.ts
            elif _is_id(obis) and isinstance(value, (bytes, bytearray, str)):
                push.meter_id = push.meter_id or _text(value)
            elif _number(value) is not None:
                push.registers.append((obis, float(_number(value)), None))  # type: ignore[arg-type]

    def _from_inline(self, body: list[Any], push: _Push) -> None:
        flat = list(_flatten(body))
        i = 0
        while i < len(flat):
            item = flat[i]
            if _looks_like_obis(item) and i + 1 < len(flat) and not _looks_like_obis(flat[i + 1]):
                obis, value = _obis_text(bytes(item)), flat[i + 1]
                i += 2
                scaler = None
                if i < len(flat) and isinstance(flat[i], list) and _scaler_unit(flat[i]):
                    scaler = _scaler_unit(flat[i])
                    i += 1
                if _is_clock(obis) and isinstance(value, (bytes, bytearray)):
                    push.ts = _dlms_time(bytes(value), self.tz) or push.ts
                elif _cde(obis) == "0.2.129" and isinstance(value, (bytes, bytearray, str)):
                    push.list_id = push.list_id or _text(value)  # OBIS list version (KFM_001)
                elif _is_id(obis) and isinstance(value, (bytes, bytearray, str)):
                    push.meter_id = push.meter_id or _text(value)
                elif _number(value) is not None:
                    push.registers.append((obis, float(_number(value)), scaler))  # type: ignore[arg-type]
                continue
            if isinstance(item, (bytes, bytearray)) and len(item) == 12 and push.ts is None:
                push.ts = _dlms_time(bytes(item), self.tz)
            elif isinstance(item, str) and push.list_id is None:
                push.list_id = item  # e.g. "Kamstrup_V0001"
            i += 1
        if not push.registers:
            raise _Bad(
                "unsupported",
                "push has neither a push list nor OBIS codes; its layout must be configured",
            )

    def _scalers(self, push: _Push) -> dict[str, int]:
        if self.profile:
            return SCALER_PROFILES[self.profile]
        meter = (push.meter_id or "").upper()
        if (push.list_id or "").startswith("Kamstrup"):
            return SCALER_PROFILES["kamstrup_han"]
        if (push.list_id or "").startswith("KFM_"):
            return SCALER_PROFILES["kaifa_han"]
        if meter.startswith("ISK"):
            return SCALER_PROFILES["iskra_am550"]
        if meter.startswith("LGZ") and push.push_setup and push.push_setup.startswith("0-6:"):
            return SCALER_PROFILES["lg_e360"]
        return SCALER_PROFILES["default"]

    def _frame(self, push: _Push) -> Frame:
        profile = self._scalers(push)
        frame = Frame(ts=push.ts, meter_id=push.meter_id)
        values: list[Value] = []
        for obis, raw, scaler_unit in push.registers:
            name = lookup_obis(obis) or _mbus_name(obis, scaler_unit)
            if name is None:
                frame.notes.append(("unknown_obis", f"{obis} is not a quantity we map"))
                continue
            if scaler_unit is not None:
                scaler, unit_code = scaler_unit
                unit, shift = DLMS_UNITS.get(unit_code, (None, 0))
                if unit is not None and unit != name.unit and unit_code != 255:
                    frame.notes.append(("unit", f"{obis} sent in unit {unit_code}, expected {name.unit}"))
                    continue
                exponent = scaler + shift
            else:
                exponent = _profile_scaler(profile, name.quantity)
            value = raw * 10.0**exponent if exponent >= 0 else raw / 10.0 ** (-exponent)
            values.append(Value(obis, name.quantity, round(value, 9), name.unit))
        frame.values = derive_totals(values)
        if not frame.values:
            frame.errors.append("push has no values we read")
            frame.error_kind = "empty"
        return frame


def _mbus_name(obis: str, scaler_unit: tuple[int, int] | None) -> ObisName | None:
    """An M-Bus channel's reading (0-n:24.2.1): gas volume or heat energy by the unit it states.

    Without a scaler/unit in the push the reading is not interpreted (noted as unknown)."""
    m = re.fullmatch(r"0-(\d+):24\.2\.[13]", obis)
    if not m or scaler_unit is None:
        return None
    unit = DLMS_UNITS.get(scaler_unit[1], (None, 0))[0]
    suffix = "" if m.group(1) == "1" else f"_ch{m.group(1)}"
    if unit == "m³":
        return ObisName(f"gas_volume{suffix}", "m³")
    if unit == "Wh":
        return ObisName(f"heat_energy{suffix}", "Wh")
    return None


def _profile_scaler(profile: dict[str, int], quantity: str) -> int:
    best, exponent = "", 0
    for prefix, exp in profile.items():
        if (quantity == prefix or quantity.startswith(prefix + "_")) and len(prefix) > len(best):
            best, exponent = prefix, exp
    return exponent


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _scaler_unit(value: Any) -> tuple[int, int] | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and -128 <= value[0] <= 127
    ):
        return value[0], value[1]
    return None


def _flatten(items: list[Any]) -> Any:
    for item in items:
        if isinstance(item, list) and not _scaler_unit(item):
            yield from _flatten(item)
        else:
            yield item


def _push_list(body: list[Any]) -> list[_Capture] | None:
    """The capture objects when the first element is a push object list, else None."""
    if not body or not isinstance(body[0], list) or not body[0]:
        return None
    captures = []
    for entry in body[0]:
        if not (isinstance(entry, list) and len(entry) == 4 and _looks_like_obis(entry[1])):
            return None
        captures.append(_Capture(int(entry[0]), _obis_text(bytes(entry[1])), int(entry[2])))
    return captures


def _axdr_length(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise _Bad("truncated", "length field missing")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    n = first & 0x7F
    if n == 0 or n > 4 or pos + 1 + n > len(data):
        raise _Bad("malformed", "bad length field")
    return int.from_bytes(data[pos + 1 : pos + 1 + n], "big"), pos + 1 + n


def _address_length(raw: bytes, pos: int) -> int:
    """HDLC address: bytes up to and including the first with the low bit set (1, 2 or 4)."""
    for n in range(4):
        if pos + n >= len(raw):
            break
        if raw[pos + n] & 1:
            if n + 1 == 3:
                break
            return n + 1
    raise _Bad("malformed", "bad HDLC address field")


def _hdlc_info(raw: bytes) -> tuple[bytes, bool]:
    """Check HCS and FCS of a frame (format .. FCS, no flags); return (information, segmented)."""
    segmented = bool(raw[0] & 0x08)
    pos = 2
    pos += _address_length(raw, pos)
    pos += _address_length(raw, pos)
    control = pos
    pos += 1
    if len(raw) < pos + 2:
        raise _Bad("malformed", "HDLC frame too short")
    if _FCS.calculate_for(raw[:-2]) != raw[-2:]:
        raise _Bad("crc", "HDLC frame check sequence (FCS) mismatch")
    if len(raw) == pos + 2:
        return b"", segmented  # no information field
    if _FCS.calculate_for(raw[: control + 1]) != raw[pos : pos + 2]:
        raise _Bad("crc", "HDLC header check sequence (HCS) mismatch")
    if raw[control] & 0x01 and raw[control] & 0xEF != 0x03:
        raise _Bad("unsupported", f"HDLC control 0x{raw[control]:02X} is not an information frame")
    return raw[pos + 2 : -2], segmented


def _next_start(buf: bytearray) -> int:
    hdlc = buf.find(b"\x7e")
    mbus = buf.find(b"\x68")
    found = [i for i in (hdlc, mbus) if i >= 0]
    return min(found) if found else -1


def _rejected(kind: str, message: str) -> Frame:
    return Frame(ts=None, errors=[message], error_kind=kind)


def decoder(key: bytes | None = None) -> DlmsDecoder:
    """The ``wattwerk decode dlms`` factory."""
    return DlmsDecoder(key)


def decode_all(data: bytes, key: bytes | None = None, **options: Any) -> list[Frame]:
    dec = DlmsDecoder(key, **options)
    return dec.feed(data) + dec.flush()
