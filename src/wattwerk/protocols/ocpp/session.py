"""What both versions share: settings, the state updates and the commands' common shape."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.routing import after
from websockets.exceptions import ConnectionClosed

from wattwerk.errors import BadInput, InputLedger, PermanentError, RetryableError
from wattwerk.model import utcnow
from wattwerk.protocols.ocpp.measurands import Sample, to_quantities
from wattwerk.protocols.ocpp.state import ChargerState

log = logging.getLogger("wattwerk.ocpp")

PROFILE_ID = 4711  # our one profile per connector: setting it again replaces it (same id, purpose, level)
STACK_LEVEL = 1
_tx_ids = itertools.count(int(time.time()) % 1_000_000_000)  # 1.6 ids are ours; unique across restarts


def next_transaction_id() -> int:
    return next(_tx_ids)


@dataclass(frozen=True)
class Settings:
    heartbeat_s: int = 60
    # asked of the charger after boot (MeterValueSampleInterval / TxUpdatedInterval)
    sample_interval_s: int = 10
    response_timeout_s: float = 10.0
    id_tag: str = "wattwerk"  # the idTag / idToken of remote starts


def iso(ts: datetime | None = None) -> str:
    return (ts or utcnow()).astimezone(UTC).isoformat().replace("+00:00", "Z")


class SessionBase:
    """Mixin for one connected charger; the version classes add the OCPP handlers."""

    id: str
    state: ChargerState
    ledger: InputLedger
    settings: Settings
    version: str

    def init_session(self, state: ChargerState, settings: Settings, ledger: InputLedger) -> None:
        self.state, self.settings, self.ledger = state, settings, ledger
        self.state.version = self.version
        self._response_timeout = settings.response_timeout_s
        self.tasks: set[asyncio.Task[Any]] = set()

    def seen(self) -> None:
        self.state.last_seen = utcnow()

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def take_values(self, connector: int, samples: Iterable[Sample]) -> None:
        """Keep the readable values of one MeterValues batch; count and drop the bad ones."""
        errors: list[BadInput] = []
        values = to_quantities(samples, errors)
        for exc in errors:
            self.ledger.record(self.id, exc.kind, str(exc))
        if values:
            con = self.state.connector(connector)
            con.values.update(values)
            con.values_at = utcnow()

    def booted(self, vendor: str | None, model: str | None) -> dict[str, Any]:
        """Note a BootNotification; the fields of the BootNotification answer that accepts it."""
        self.seen()
        self.state.vendor, self.state.model, self.state.booted = vendor, model, True
        return {"current_time": iso(), "interval": self.settings.heartbeat_s, "status": "Accepted"}

    @after("BootNotification")  # the action's name in both versions
    def after_boot(self, **_: Any) -> None:
        self.spawn(self.configure())

    async def configure(self) -> None:
        """What the version asks of a charger once it has booted."""
        raise NotImplementedError

    def take_meter_values(
        self, connector: int, meter_value: list[dict[str, Any]], sample: Callable[[dict[str, Any]], Sample]
    ) -> None:
        """Keep the values of MeterValues ``meter_value`` in time order (``sample`` reads one)."""
        for mv in sorted(meter_value, key=lambda m: m.get("timestamp", "")):
            self.take_values(connector, (sample(s) for s in mv.get("sampled_value", [])))

    def transaction_ended(self, connector: int) -> None:
        con = self.state.connector(connector)
        con.transaction_id = None
        con.values["power"] = 0.0
        for phase in ("_l1", "_l2", "_l3"):
            con.values.pop(f"power{phase}", None)
            if f"current{phase}" in con.values:
                con.values[f"current{phase}"] = 0.0
        con.values_at = utcnow()

    async def request(self, payload: Any) -> Any:
        """A call to the charger: the result, or RetryableError on timeout / lost connection,
        PermanentError when it answers with a CALLERROR."""
        try:
            return await self.call(payload, suppress=False)  # type: ignore[attr-defined]
        except TimeoutError:
            raise RetryableError(f"{self.id}: no answer to {type(payload).__name__}") from None
        except OCPPError as exc:
            name = type(payload).__name__
            raise PermanentError(f"{self.id}: {name} refused: {exc.code} {exc.description}") from None
        except (ConnectionError, ConnectionClosed) as exc:
            raise RetryableError(f"{self.id}: connection lost: {exc}") from None

    async def command(self, payload: Any, what: str) -> Any:
        """``request`` for a command: PermanentError naming ``what`` unless the charger accepts it."""
        got = await self.request(payload)
        if got.status != "Accepted":
            raise PermanentError(f"{self.id}: {what} {got.status}")
        return got

    @staticmethod
    def tx_default_profile(id_key: str, schedule: Any) -> dict[str, Any]:
        """Our one TxDefaultProfile; ``id_key`` is the version's name of its id field."""
        return {
            id_key: PROFILE_ID,
            "stack_level": STACK_LEVEL,
            "charging_profile_purpose": "TxDefaultProfile",
            "charging_profile_kind": "Absolute",
            "charging_schedule": schedule,
        }

    def schedule(self, limit: float, unit: str, phases: int | None) -> dict[str, Any]:
        """A charging schedule capping the rate at ``limit`` (``unit`` "A" or "W") from now on."""
        period: dict[str, Any] = {"start_period": 0, "limit": round(limit, 1)}
        if phases is not None:
            period["number_phases"] = phases
        return {
            "charging_rate_unit": unit,
            "start_schedule": iso(self.schedule_start()),
            "charging_schedule_period": [period],
        }

    @staticmethod
    def schedule_start() -> datetime:
        # a little in the past so that a charger whose clock runs behind applies it at once
        return utcnow().replace(microsecond=0) - timedelta(minutes=1)
