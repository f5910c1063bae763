"""DLMS/COSEM push messages (HDLC or wired M-Bus) as ``Frame``s, over dlms-cosem.

The meters on the Swiss customer interface (L+G E450/E360/E570, Iskra AM550), Austrian
M-Bus meters and Kamstrup HAN push a DataNotification every few seconds. Layers:

1. framing (``dlms_framing.py``): HDLC frames ``7E .. 7E`` with HCS and FCS checked
   (dlms-cosem's CRC), HDLC segments joined; or M-Bus long frames ``68 L L 68 .. CS 16`` with
   their checksum;
2. APDU (here): general-block-transfer blocks reassembled in order (a duplicate block is
   dropped, a gap rejects the push); general-glo-ciphering decrypted with the key (dlms-cosem;
   without an authentication key AES-GCM is run without the tag and the plaintext must
   parse); DataNotification parsed (dlms-cosem, bounded A-XDR in ``dlms_data.py``);
3. body (``dlms_values.py``): either a push list (the first element lists the capture objects,
   as the VSE configurations do) or OBIS octet strings followed by their values and optional
   scaler/unit structures (Austrian and Kamstrup style), or a positional list
   (``han_lists.py``);
4. values (``dlms_values.py``): registers scaled by the scaler/unit the push carries, else by
   the meter profile's table (pushes rarely carry scalers), mapped to our quantities and units.

Meter time: the clock object (0-0:1.0.0) or the notification's own time; a time without
deviation is local time of the meter's zone (default Europe/Zurich).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from dlms_cosem.exceptions import DecryptionError
from dlms_cosem.protocol.xdlms import DataNotification, GeneralGlobalCipher

from wattwerk.protocols.base import Frame
from wattwerk.protocols.dlms_data import MAX_PUSH, DlmsError, axdr_length, dlms_time, parse_data
from wattwerk.protocols.dlms_framing import DlmsFraming, rejected
from wattwerk.protocols.dlms_values import DLMS_UNITS, SCALER_PROFILES, read_push, to_frame

__all__ = ["DLMS_UNITS", "SCALER_PROFILES", "DlmsDecoder", "decode_all", "decoder"]


class DlmsDecoder(DlmsFraming):
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
        super().__init__()
        self.key = key
        self.auth_key = auth_key
        self.tz = ZoneInfo(timezone)
        self.profile = profile
        # For pushes that carry neither a push list nor OBIS codes: the OBIS code of each
        # pushed value in order (None for one to skip), from the meter's push configuration.
        self.capture_objects = capture_objects
        self._blocks: list[bytes] = []
        self._block_no = 0
        self._out: list[Frame] = []

    def _inside(self) -> bool:
        return super()._inside() or bool(self._blocks)

    def _reset(self) -> None:
        super()._reset()
        self._blocks.clear()
        self._block_no = 0

    # -- APDUs

    def _message(self, message: bytes, frames: list[Frame]) -> None:
        if message[:2] in (b"\xe6\xe7", b"\xe6\xe6"):
            message = message[3:]  # LLC header
        frame = None
        try:
            frame = self._apdu(message)
        except DlmsError as exc:
            self._blocks.clear()
            self._block_no = 0
            self._out.append(rejected(exc.kind, str(exc)))
        finally:
            frames += self._out
            self._out.clear()
        if frame is not None:
            frames.append(frame)

    def _apdu(self, apdu: bytes) -> Frame | None:
        if not apdu:
            raise DlmsError("malformed", "empty DLMS message")
        tag = apdu[0]
        if tag == 0xE0:
            whole = self._block(apdu)
            return None if whole is None else self._apdu(whole)
        if self._blocks:
            self._blocks.clear()
            self._block_no = 0
            raise DlmsError("sequence", "push interrupted before its last block")
        if tag == GeneralGlobalCipher.TAG:
            return self._apdu(self._decrypt(apdu))
        if tag == DataNotification.TAG:
            return self._notification(apdu)
        raise DlmsError("unsupported", f"DLMS APDU tag 0x{tag:02X} is not a data notification")

    def _block(self, apdu: bytes) -> bytes | None:
        """General-block-transfer: collect blocks in order; the whole APDU after the last."""
        if len(apdu) < 7:
            raise DlmsError("truncated", "general-block-transfer header cut short")
        control = apdu[1]
        number = int.from_bytes(apdu[2:4], "big")
        length, pos = axdr_length(apdu, 6)
        data = apdu[pos : pos + length]
        if len(data) != length:
            raise DlmsError("truncated", f"block {number} carries {len(data)} of {length} bytes")
        if number == self._block_no and self._blocks and data == self._blocks[-1]:
            return None  # the same block again: drop the duplicate
        if number == 1 and self._blocks:  # a new push began before the last one ended
            self._out.append(rejected("sequence", f"push interrupted after block {self._block_no}"))
            self._blocks.clear()
            self._block_no = 0
        if number != self._block_no + 1:
            expected = self._block_no + 1
            self._blocks.clear()
            self._block_no = 0
            raise DlmsError("sequence", f"block {number} arrived, expected {expected}: push rejected")
        self._blocks.append(data)
        self._block_no = number
        if sum(len(b) for b in self._blocks) > MAX_PUSH:
            raise DlmsError("truncated", "push exceeds the size limit")
        if not control & 0x80:
            return None
        whole = b"".join(self._blocks)
        self._blocks.clear()
        self._block_no = 0
        return whole

    def _decrypt(self, apdu: bytes) -> bytes:
        if self.key is None:
            raise DlmsError("key", "encrypted push (general-glo-ciphering) but no key is configured")
        try:
            glo = GeneralGlobalCipher.from_bytes(apdu)
        except Exception as exc:  # the library raises several types for malformed input
            raise DlmsError("malformed", f"encrypted push is malformed: {exc}") from None
        if len(glo.system_title) != 8 or len(glo.ciphered_text) < 13:
            raise DlmsError("malformed", "encrypted push is too short")
        if self.auth_key is not None:
            try:
                return glo.to_plain_apdu(self.key, self.auth_key)
            except (DecryptionError, ValueError) as exc:
                raise DlmsError(
                    "key", f"cannot decrypt push: wrong key or authentication key ({exc})"
                ) from None
        # Encryption key only (how most customer interfaces are handed out): AES-GCM
        # without checking the tag; a wrong key shows as a plaintext that does not parse.
        text = glo.ciphered_text[:-12] if glo.security_control.authenticated else glo.ciphered_text
        iv = glo.system_title + glo.invocation_counter.to_bytes(4, "big") + (2).to_bytes(4, "big")
        dec = Cipher(algorithms.AES(self.key), modes.CTR(iv)).decryptor()
        plain = dec.update(text) + dec.finalize()
        if not plain or plain[0] != DataNotification.TAG:
            raise DlmsError("key", "cannot decrypt push: wrong key (plaintext is not a data notification)")
        try:
            parse_data(DataNotification.from_bytes(plain).body)
        except Exception:
            raise DlmsError("key", "cannot decrypt push: wrong key (plaintext does not parse)") from None
        return plain

    def _notification(self, apdu: bytes) -> Frame:
        if len(apdu) > 7 and apdu[5] == 0x09 and apdu[6] == 0x0C:  # Kaifa: date-time as tagged octet string
            apdu = apdu[:5] + apdu[6:]
        try:
            note = DataNotification.from_bytes(apdu)
            items = parse_data(note.body)
        except DlmsError:
            raise
        except Exception as exc:
            raise DlmsError("malformed", f"data notification does not parse: {exc}") from None
        ts = dlms_time(apdu[6:18], self.tz) if apdu[5] == 0x0C and len(apdu) >= 18 else None
        return to_frame(read_push(items, ts, self.tz, self.capture_objects), self.profile)


def decoder(key: bytes | None = None) -> DlmsDecoder:
    """The ``wattwerk decode dlms`` factory."""
    return DlmsDecoder(key)


def decode_all(data: bytes, key: bytes | None = None, **options: Any) -> list[Frame]:
    dec = DlmsDecoder(key, **options)
    return dec.feed(data) + dec.flush()
