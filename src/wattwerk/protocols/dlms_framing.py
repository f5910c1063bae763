"""Framing of DLMS pushes (``dlms.py``): HDLC frames ``7E .. 7E`` with HCS and FCS checked
(dlms-cosem's CRC) and their segments joined, or wired M-Bus long frames ``68 L L 68 .. CS 16``
with their checksum, found in a byte stream of any chunking. Bytes outside frames are counted
and reported once as ``garbage``."""

from __future__ import annotations

from dlms_cosem.crc import CRCCCITT

from wattwerk.protocols.base import Frame
from wattwerk.protocols.dlms_data import MAX_PUSH, DlmsError

_FCS = CRCCCITT()


class DlmsFraming:
    """The framing layer of ``DlmsDecoder``: each whole message goes to ``_message``."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._segments = bytearray()
        self._mbus = bytearray()
        self._garbage = 0

    def _message(self, message: bytes, frames: list[Frame]) -> None:
        """One HDLC information field or M-Bus user data, segments joined: the APDU layer's."""
        raise NotImplementedError

    def _inside(self) -> bool:
        """Whether a push was begun and not finished (the APDU layer adds its blocks)."""
        return bool(self._segments or self._mbus)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf.extend(data)
        frames: list[Frame] = []
        buf = self._buf
        while buf:
            start = next_start(buf)
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
        if self._buf.strip(b"\x7e") or self._inside():
            frames.append(rejected("truncated", "input ended inside a push"))
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
        return [rejected("garbage", f"skipped {n} bytes outside frames")]

    def _reset(self) -> None:
        self._segments.clear()
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
            info, segmented = hdlc_info(raw)
        except DlmsError as exc:
            self._reset()
            frames.append(rejected(exc.kind, str(exc)))
            return True
        self._segments += info
        if segmented:
            if len(self._segments) > MAX_PUSH:
                self._reset()
                frames.append(rejected("truncated", "HDLC segments exceed the push size limit"))
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
            frames.append(rejected("crc", "M-Bus frame checksum mismatch"))
            return True
        ci = body[2]
        if ci > 0x1F or len(body) < 5:
            frames.append(rejected("unsupported", f"M-Bus frame with CI 0x{ci:02X} is not a DLMS push"))
            return True
        self._mbus += body[5:]  # after C, A, CI and the STSAP/DTSAP pair
        if not ci & 0x10:
            return True
        message = bytes(self._mbus)
        self._mbus.clear()
        self._message(message, frames)
        return True


def _address_length(raw: bytes, pos: int) -> int:
    """HDLC address: bytes up to and including the first with the low bit set (1, 2 or 4)."""
    for n in range(4):
        if pos + n >= len(raw):
            break
        if raw[pos + n] & 1:
            if n + 1 == 3:
                break
            return n + 1
    raise DlmsError("malformed", "bad HDLC address field")


def hdlc_info(raw: bytes) -> tuple[bytes, bool]:
    """Check HCS and FCS of a frame (format .. FCS, no flags); return (information, segmented)."""
    segmented = bool(raw[0] & 0x08)
    pos = 2
    pos += _address_length(raw, pos)
    pos += _address_length(raw, pos)
    control = pos
    pos += 1
    if len(raw) < pos + 2:
        raise DlmsError("malformed", "HDLC frame too short")
    if _FCS.calculate_for(raw[:-2]) != raw[-2:]:
        raise DlmsError("crc", "HDLC frame check sequence (FCS) mismatch")
    if len(raw) == pos + 2:
        return b"", segmented  # no information field
    if _FCS.calculate_for(raw[: control + 1]) != raw[pos : pos + 2]:
        raise DlmsError("crc", "HDLC header check sequence (HCS) mismatch")
    if raw[control] & 0x01 and raw[control] & 0xEF != 0x03:
        raise DlmsError("unsupported", f"HDLC control 0x{raw[control]:02X} is not an information frame")
    return raw[pos + 2 : -2], segmented


def next_start(buf: bytearray) -> int:
    """Where the next HDLC flag or M-Bus start byte is, -1 if none."""
    hdlc = buf.find(b"\x7e")
    mbus = buf.find(b"\x68")
    found = [i for i in (hdlc, mbus) if i >= 0]
    return min(found) if found else -1


def rejected(kind: str, message: str) -> Frame:
    return Frame(ts=None, errors=[message], error_kind=kind)
