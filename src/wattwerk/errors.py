"""Typed errors and the bad-input ledger every reader shares.

Errors split into permanent (bad config, bad credentials, not available) and retryable
(timeout, busy); only retryable ones are retried. Bad input is counted per device and kind,
logged once per kind with the device's name, and dropped.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

log = logging.getLogger("wattwerk.input")


class WattwerkError(Exception):
    """Base of our own errors."""


class PermanentError(WattwerkError):
    """Retrying will not help: bad config, bad credentials, unsupported device."""


class RetryableError(WattwerkError):
    """May succeed later: timeout, busy, connection refused."""


class BadInput(WattwerkError):
    """A frame or value that must be dropped. ``kind`` is a short stable tag such as
    ``crc``, ``truncated``, ``garbage``, ``key``, ``range``, ``unknown_obis``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class InputLedger:
    """Counts bad input per (device, kind) and logs each kind once per device."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def record(self, device: str, kind: str, message: str) -> None:
        key = (device, kind)
        if key not in self.counts:
            log.warning("%s: %s (%s; further %s errors are only counted)", device, message, kind, kind)
        self.counts[key] += 1

    def total(self, device: str | None = None) -> int:
        return sum(n for (dev, _), n in self.counts.items() if device is None or dev == device)

    def by_kind(self, device: str) -> dict[str, int]:
        return {kind: n for (dev, kind), n in self.counts.items() if dev == device}
