"""SML 1.04 (German EDL/eHZ meters, optical read head) over smllib.

smllib finds frames, checks their CRC and parses the messages; this module owns the stream
around it: chunking (smllib keeps at most 50 KiB and silently drops older bytes), garbage
between frames, truncated frames (resync at the next start escape sequence), CRC auto-detection
(Holley DTZ541 uses CRC-16/KERMIT), unit and scaler handling, and the meter quirks documented
in docs/meters.md. Values come out in our units and signs (Wh, W, V, A, Hz; + import); totals and net
power a meter implies (tariff registers only, 1.7.0/2.7.0 only) are derived as for DSMR and DLMS.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from smllib import SmlStreamReader
from smllib.builder import SmlObjBuilder, create_context
from smllib.builder.list_entry import SmlListEntryBuilder
from smllib.crc import kermit
from smllib.errors import CrcError
from smllib.sml import SmlGetListResponse, SmlListEntry, SmlOpenResponse
from smllib.sml_frame import SmlFrame

from wattwerk.model import ObisName
from wattwerk.protocols.base import Frame, Value
from wattwerk.protocols.meter import derive_totals, lookup_obis
from wattwerk.protocols.plausibility import CounterTrend

ESC = b"\x1b\x1b\x1b\x1b"
START = ESC + b"\x01\x01\x01\x01"
CHUNK = 1024  # bytes handed to smllib at a time, far below its 50 KiB buffer cap
MAX_FRAME = 16 * 1024  # a start without an end after this many bytes is given up

# SML unit codes (DLMS unit enumeration) -> our unit string; 255 is "count / no unit".
SML_UNITS: dict[int, str] = {
    27: "W",
    28: "VA",
    29: "var",
    30: "Wh",
    31: "VAh",
    32: "varh",
    33: "A",
    35: "V",
    44: "Hz",
    9: "°C",
    13: "m³",
    15: "m³/h",
    255: "",
}

# Codes SML meters send that the shared OBIS table does not name.
SML_OBIS: dict[str, ObisName] = {
    "1-0:15.7.0": ObisName("power_abs", "W")  # |A+| + |A-|: a magnitude without direction
}

# Value groups C that carry identification, service data or angles, never a measurement we store.
_INFO_C = {0, 81, 96, 97, 98, 99}

POWER_NET = "1-0:16.7.0"
POWER_ABS = "1-0:15.7.0"
POWER_NET_HEX = "0100100700ff"
ENERGY_IMPORT_HEX = "0100010800ff"
ENERGY_EXPORT_HEX = "0100020800ff"
DIRECTION_BIT = 0x20  # FNN status word: energy direction -A (export)
# The most a direct-connected DZG household meter can measure (100 A x 230 V x 3): an "unsigned"
# reading beyond it proves the meter signs its values correctly, even without site.grid.fuse_a.
DZG_MAX_W = 3 * 230.0 * 100.0
SIGN_VOTES = 3  # counter observations (net of contrary ones) that settle a DZG meter's encoding
_DZG_POWER = {"1-0:16.7.0", "1-0:36.7.0", "1-0:56.7.0", "1-0:76.7.0"}


class _TaggedEntryBuilder(SmlListEntryBuilder):
    """smllib's list entry builder that also keeps the value's type-length byte.

    The DZG quirk can only be undone knowing how many bytes the meter used for the value. An entry
    without a value (EMH eHZ-IW8E2A5L0EK2P sends one for a manufacturer register) is kept with the
    value None instead of failing the whole frame; ``_values`` skips or notes it.
    """

    def build(self, obj, classes):  # type: ignore[no-untyped-def]
        try:
            entry = super().build(obj, classes)
        except ValueError:  # smllib: "value is required!"
            entry = SmlObjBuilder.build(self, obj, classes)
        raw = obj.value[5].msg
        entry.value_tl = raw[0] if raw is not None and len(raw) else None  # type: ignore[attr-defined]
        return entry


def _build_ctx():  # type: ignore[no-untyped-def]
    ctx = create_context()
    ctx[SmlListEntry] = _TaggedEntryBuilder()
    return ctx


def obis_text(obis_hex: str) -> tuple[str, int]:
    """``0100010800ff`` -> (``1-0:1.8.0``, 255)."""
    a, b, c, d, e, f = bytes.fromhex(obis_hex)
    return f"{a}-{b}:{c}.{d}.{e}", f


def meter_number(server_id: str) -> str:
    """The number printed on the meter (DIN 43863-5) from a 10-byte server id, else the hex id.

    ``0a01445a47000282c0b0`` -> ``1DZG0042123440``: medium, manufacturer flag, block, serial.
    """
    try:
        raw = bytes.fromhex(server_id)
    except ValueError:
        return server_id
    flag = raw[2:5]
    if len(raw) == 10 and flag.isalpha() and flag.isupper():
        return f"{raw[1]}{flag.decode()}{raw[5]:02d}{int.from_bytes(raw[6:10], 'big'):08d}"
    return server_id


def _scaled(raw: int, scaler: int | None) -> float | None:
    """raw * 10**scaler as the nearest float, or None when it is not a finite number."""
    try:
        if not scaler:
            value = float(raw)
        elif scaler > 0:
            value = float(raw * 10**scaler)
        else:
            value = raw / 10**-scaler
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _scan(buf: bytes) -> tuple[str, int]:
    """Walk the escape sequences of a buffer that starts with START.

    Returns ("end", pos) at the end sequence, ("start", pos) when a new frame starts before this
    one ended (it was cut short), or ("more", -1) when more bytes are needed.
    """
    pos = len(START)
    while (p := buf.find(ESC, pos)) != -1:
        if p + 8 > len(buf):
            return "more", -1
        tail = buf[p + 4 : p + 8]
        if tail == ESC:  # escaped 1b1b1b1b inside the payload
            pos = p + 8
        elif tail == START[4:]:
            return "start", p
        elif tail[0] == 0x1A:
            return "end", p
        else:  # not a valid escape here; let the CRC judge the frame
            pos = p + 1
    return "more", -1


@dataclass
class SmlOptions:
    """Per-meter settings (docs/meters.md explains when each is needed)."""

    crc: str = "auto"  # "x25", "kermit" or "auto" (the first good frame decides)
    sign_from_status: bool = False  # power is a magnitude; bit 0x20 of 1.8.0's status means export
    # DZG short negative powers: "auto" learns per meter from its counters whether they are really
    # unsigned (the DVS74/DWS76 bug); True always reads them unsigned, False always signed
    dzg_fix: bool | str = "auto"
    max_power_w: float | None = None  # the connection's bound (fuse x voltage x phases), if known


@dataclass
class SignLearner:
    """Whether one DZG meter's short negative powers are unsigned, learned from its counters.

    A negative power in fewer than four bytes is either a true export (signed, correct meters such
    as the DWSB20.2TH) or an import whose top bit is set (the DVS74 bug). The counters tell: when
    they moved one way between two frames that both carried such an ambiguous power, import rising
    means the quirk and export rising a correct meter (a movement next to an unambiguous power may
    belong to that other flow, so it does not count). An unsigned reading beyond the bound means a
    correct meter at once. Until the meter is known an ambiguous power is published only on such a
    movement, else held back (kind ``sign``).
    """

    mode: str | None = None  # "unsigned" (the quirk applies) or "signed"
    votes: Counter[str] = field(default_factory=Counter)
    trend: CounterTrend = field(default_factory=CounterTrend)
    moved: str | None = None
    ambiguous: bool = False  # this frame carries an ambiguous net power
    was_ambiguous: bool = False  # ... and the frame before did

    def observe(self, imp: float | None, exp: float | None) -> None:
        """A new frame's counters (before its values are chosen)."""
        self.moved = self.trend.update(imp, exp)
        self.was_ambiguous, self.ambiguous = self.ambiguous, False

    def choose(self, net: bool, unsigned: float, bound: float) -> str | None:
        """``signed``/``unsigned`` for one ambiguous value, or None: not known yet."""
        if net:
            self.ambiguous = True
        if self.mode is not None:
            return self.mode
        if unsigned > bound:
            self.mode = "signed"
            return self.mode
        if not net or not self.was_ambiguous or self.moved not in ("import", "export"):
            return None  # phases may flow either way: only the learned mode decides them
        choice = "unsigned" if self.moved == "import" else "signed"
        self.votes[choice] += 1
        other = "signed" if choice == "unsigned" else "unsigned"
        if self.votes[choice] - self.votes[other] >= SIGN_VOTES:
            self.mode = choice
        return choice


class SmlDecoder:
    """Feed SML bytes in any chunking; get one Frame per SML file (transport frame).

    Rejected frames carry ``error_kind`` (crc, truncated, parse); values dropped from a good
    frame (unknown_obis, unit, type, range) and bytes skipped between frames (garbage) travel
    as ``Frame.notes``; the ``MeterReader`` counts both in its ledger.
    """

    def __init__(self, options: SmlOptions | None = None) -> None:
        self.options = options or SmlOptions()
        if self.options.crc not in ("auto", "x25", "kermit"):
            raise ValueError(f"crc must be auto, x25 or kermit, not {self.options.crc!r}")
        self.crc = None if self.options.crc == "auto" else self.options.crc
        self._reader = SmlStreamReader(build_ctx=_build_ctx(), crc=self.crc or "x25")
        self._notes: list[tuple[str, str]] = []  # for the next frame handed out
        self.garbage_bytes = 0
        self._garbage_run = 0  # skipped since the last frame handed out
        self.learners: dict[str, SignLearner] = {}  # per DZG server id (dzg_fix "auto")

    # ------------------------------------------------------------ stream handling

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        for i in range(0, len(data), CHUNK):
            self._reader.add(bytes(data[i : i + CHUNK]))
            frames += self._drain()
        return frames

    def flush(self) -> list[Frame]:
        """End of input: a frame still open was cut short."""
        buf = self._reader.bytes
        self._reader.clear()
        if buf.startswith(START):
            return [self._reject("truncated", f"SML frame cut short after {len(buf)} bytes (end of input)")]
        self._garbage_run = 0
        return []

    def _drain(self) -> list[Frame]:
        out: list[Frame] = []
        while True:
            self._skip_garbage()
            buf = self._reader.bytes
            if not buf.startswith(START):
                return out
            what, pos = _scan(buf)
            if what == "start":
                self._reader.bytes = buf[pos:]
                out.append(self._reject("truncated", f"SML frame cut short after {pos} bytes"))
                continue
            if what == "more":
                if len(buf) > MAX_FRAME:
                    self._reader.bytes = buf[1:]
                    out.append(self._reject("truncated", f"no SML end sequence within {MAX_FRAME} bytes"))
                    continue
                return out
            try:
                frame = self._reader.get_frame()
            except CrcError as err:
                if self._try_other_crc(err):
                    continue
                out.append(
                    self._reject(
                        "crc", f"SML CRC mismatch: frame says {err.crc_msg:04x}, computed {err.crc_calc:04x}"
                    )
                )
                continue
            if frame is None:  # cannot happen after an end sequence; never spin on it
                return out
            if self.crc is None:
                self.crc = "x25"
            out.append(self.decode_frame(frame))

    def _try_other_crc(self, err: CrcError) -> bool:
        """In auto mode, a frame that fails X.25 but passes KERMIT teaches us the meter's CRC."""
        if self.crc is not None or kermit.get_crc(err.msg[:-2]) != err.crc_msg:
            return False
        self.crc = "kermit"
        self._reader.crc_func = kermit.get_crc
        self._reader.bytes = bytes(err.msg) + self._reader.bytes
        return True

    def _skip_garbage(self) -> None:
        buf = self._reader.bytes
        idx = buf.find(START)
        if idx == 0:
            return
        if idx == -1:
            keep = len(START) - 1  # may be the beginning of a start sequence
            if len(buf) > keep:
                self._garbage(len(buf) - keep)
                self._reader.bytes = buf[-keep:]
            return
        self._garbage(idx)
        self._reader.bytes = buf[idx:]

    def _garbage(self, n: int) -> None:
        """Bytes outside frames: one note per run, however the bytes were chunked."""
        self.garbage_bytes += n
        self._garbage_run += n

    def _note(self, kind: str, message: str) -> None:
        """Non-fatal bad input, handed out with the next frame."""
        self._notes.append((kind, message))

    def _take_notes(self) -> list[tuple[str, str]]:
        notes, self._notes = self._notes, []
        if self._garbage_run:
            notes.insert(0, ("garbage", f"{self._garbage_run} bytes outside SML frames skipped"))
            self._garbage_run = 0
        return notes

    def _reject(self, kind: str, message: str) -> Frame:
        return Frame(ts=None, errors=[message], error_kind=kind, notes=self._take_notes())

    # ------------------------------------------------------------ frame contents

    def decode_frame(self, frame: SmlFrame) -> Frame:
        """One CRC-checked SML file to a Frame of values in our units."""
        server_id: str | None = None
        ts: datetime | None = None
        try:
            entries: list[SmlListEntry] = []
            for msg in frame.parse_frame():
                body = msg.message_body
                if isinstance(body, SmlOpenResponse) and server_id is None:
                    server_id = body.server_id
                elif isinstance(body, SmlGetListResponse):
                    server_id = body.server_id or server_id
                    ts = ts or _abs_time(body.act_gateway_time) or _abs_time(body.act_sensor_time)
                    entries.extend(body.val_list)
        except Exception as exc:  # smllib raises many types for malformed content
            try:  # smllib's documented fallback: pick the list entries out of the frame
                entries = frame.get_obis()
            except Exception:
                return self._reject("parse", f"SML frame passed its CRC but does not parse: {exc}")
        if not server_id:
            server_id = _server_id_entry(entries)
        values = derive_totals(self._values(entries, server_id))
        meter = meter_number(server_id) if server_id else None
        return Frame(ts=ts, meter_id=meter, values=values, notes=self._take_notes())

    def _values(self, entries: list[SmlListEntry], server_id: str | None) -> list[Value]:
        out: list[Value] = []
        status_import = next((e.status for e in entries if e.obis == ENERGY_IMPORT_HEX), None)
        learner = self._sign_learner(entries, server_id)
        has_net = any(e.obis == POWER_NET_HEX for e in entries)
        for entry in entries:
            code, f = obis_text(entry.obis)
            name = SML_OBIS.get(code) or lookup_obis(code)
            if name is None or f != 255:
                a, _, rest = code.partition("-")
                c = int(rest.split(":")[1].split(".")[0])
                if f == 255 and a in ("1", "6", "7", "8", "9") and c not in _INFO_C:
                    self._note("unknown_obis", f"unmapped SML value {entry.obis.obis_code}")
                continue  # identification, history (F != 255), manufacturer data
            raw = entry.value
            if not isinstance(raw, int) or isinstance(raw, bool):
                self._note("type", f"{code}: value {raw!r} is not a number")
                continue
            unit = SML_UNITS.get(entry.unit) if entry.unit is not None else ("" if name.unit == "" else None)
            if unit != name.unit:
                self._note("unit", f"{code}: unit code {entry.unit} where {name.unit} expected")
                continue
            if code in _DZG_POWER and learner is not None:
                raw = self._dzg_value(code, raw, entry, learner)
                if raw is None:
                    continue
            value = _scaled(raw, entry.scaler)
            if value is None:
                self._note("range", f"{code}: {raw}e{entry.scaler} is not a finite number")
                continue
            quantity = name.quantity
            if self.options.sign_from_status and code in (POWER_NET, POWER_ABS):
                if code == POWER_ABS and has_net:
                    continue  # the net value is signed from the status below; one power is enough
                value = abs(value)
                if isinstance(status_import, int) and status_import & DIRECTION_BIT:
                    value = -value
                quantity, code = "power", POWER_NET
            out.append(Value(code, quantity, value, unit))
        return out

    def _sign_learner(self, entries: list[SmlListEntry], server_id: str | None) -> SignLearner | None:
        """The DZG sign learner of this meter, fed with this frame's counters (None: not DZG)."""
        if self.options.dzg_fix is False or not _is_dzg(server_id):
            return None
        learner = self.learners.setdefault(server_id or "", SignLearner())
        if self.options.dzg_fix is True:
            learner.mode = "unsigned"
        got = {
            e.obis: _scaled(e.value, e.scaler)
            for e in entries
            if e.obis in (ENERGY_IMPORT_HEX, ENERGY_EXPORT_HEX) and isinstance(e.value, int)
        }
        learner.observe(got.get(ENERGY_IMPORT_HEX), got.get(ENERGY_EXPORT_HEX))
        return learner

    def _dzg_value(self, code: str, raw: int, entry: SmlListEntry, learner: SignLearner) -> int | None:
        """The raw power of a DZG meter as its learned encoding reads it; None: held back."""
        unsigned = _dzg_unsigned(raw, getattr(entry, "value_tl", None))
        if unsigned == raw:
            return raw
        bound = min(b for b in (self.options.max_power_w, DZG_MAX_W) if b is not None)
        choice = learner.choose(code == POWER_NET, _scaled(unsigned, entry.scaler) or math.inf, bound)
        if choice is None:
            both = f"{_scaled(raw, entry.scaler)} W or {_scaled(unsigned, entry.scaler)} W"
            self._note("sign", f"{code}: {both} (DZG short encoding); held back until the counters move")
            return None
        return unsigned if choice == "unsigned" else raw


def _abs_time(value: object) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def _server_id_entry(entries: list[SmlListEntry]) -> str | None:
    for entry in entries:
        if entry.obis in ("0100000009ff", "0100600100ff") and isinstance(entry.value, str):
            return entry.value
    return None


def _is_dzg(server_id: str | None) -> bool:
    """A DZG meter by its server id (the serial number does not tell which encoding it uses)."""
    if not server_id:
        return False
    try:
        raw = bytes.fromhex(server_id)
    except ValueError:
        return False
    return len(raw) == 10 and raw[2:5] == b"DZG"


def _dzg_unsigned(raw: int, tl: int | None) -> int:
    """DZG sends a positive power whose top bit is set with a *signed* type-length byte of the
    shortest length (``53 88 b8`` for +350.00 W); true negatives use all four bytes
    (``55 ff ff 88 b8``). So a negative value in fewer than four bytes is really unsigned."""
    if tl is None or raw >= 0 or tl & 0x70 != 0x50:
        return raw
    nbytes = (tl & 0x0F) - 1
    if 0 < nbytes < 4:
        return raw + (1 << (8 * nbytes))
    return raw


def decoder(key: bytes | None = None) -> SmlDecoder:
    """``wattwerk decode sml``: SML has no encryption, so a key is ignored."""
    return SmlDecoder()
