"""What the central system knows about one charger, kept across reconnects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ConnectorState:
    """One connector (1.6) or EVSE (2.0.1)."""

    status: str | None = None  # Available, Preparing, Charging, SuspendedEV, … (1.6); Occupied … (2.0.1)
    transaction_id: int | str | None = None
    values: dict[str, float] = field(default_factory=dict)  # our quantities, our units
    values_at: datetime | None = None  # when we received them (our clock)

    @property
    def charging(self) -> bool:
        return self.transaction_id is not None


@dataclass
class ChargerState:
    id: str
    version: str = ""  # "1.6" or "2.0.1"
    connected: bool = False
    booted: bool = False
    vendor: str | None = None
    model: str | None = None
    last_seen: datetime | None = None
    rate_units: frozenset[str] = frozenset()  # {"A", "W"} as the charger reports; empty: not known
    phase_switching: bool = False
    sample_interval_s: float | None = None  # the meter-value interval the charger uses, when known
    connectors: dict[int, ConnectorState] = field(default_factory=dict)
    profiles: dict[int, dict] = field(default_factory=dict)  # connector -> the last profile we set
    errors: dict[str, int] = field(default_factory=dict)  # CALLERROR code -> count (what we answered)

    def connector(self, number: int) -> ConnectorState:
        return self.connectors.setdefault(number, ConnectorState())
