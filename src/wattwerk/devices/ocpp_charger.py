"""An OCPP charger as a polled device of the edge: readings from its latest meter values,
commands as charging profiles.

* ``read`` raises ``RetryableError`` while the charger is not connected, and when a
  transaction is running but no meter values came within ``stale_after_s`` (or 2.5 sample
  intervals, when the charger kept a longer interval than the one we asked for; the runtime then
  marks the device stale and the limiter's fail-safe applies). Outside a transaction a charger
  sends no meter values; its power is then 0 W and the last energy register is kept.
* ``current_limit`` (A) becomes a TxDefaultProfile on the connector: it applies to the running
  and to later transactions, and the charger keeps it if the edge goes away. When the charger
  takes only power ("W"), the amps are converted with the nominal voltage and phase count.
* ``enable`` 0 sends a 0 A profile rather than a remote stop: the transaction stays open, the
  car stays authorised and resumes without a new RFID swipe or replug, which is what the surplus
  controller's frequent pauses need. ``enable`` 1 restores the last current, and remote-starts a
  transaction when a car is plugged in (Preparing) without one. ``remote_start`` / ``remote_stop``
  are there for an explicit start or end of a session.
* ``phases`` (1 or 3) is sent as ``numberPhases`` of the profile, only to 2.0.1 stations that
  report phase switching (SmartChargingCtrlr.ACPhaseSwitchingSupported / Phases3to1).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from wattwerk.devices.device import _Commands
from wattwerk.errors import InputLedger, PermanentError, RetryableError
from wattwerk.model import Reading, utcnow
from wattwerk.protocols.ocpp import CentralSystem, ChargerState, Session, Settings
from wattwerk.protocols.transport import is_loopback

# connector status -> value of <id>.state (1.6 and 2.0.1 names)
STATES: dict[str, int] = {
    "Available": 0,
    "Preparing": 1,
    "Charging": 2,
    "SuspendedEV": 3,
    "SuspendedEVSE": 4,
    "Finishing": 5,
    "Reserved": 6,
    "Unavailable": 7,
    "Faulted": 8,
    "Occupied": 9,
}
KEPT = (
    "power",
    "energy",
    "current_l1",
    "current_l2",
    "current_l3",
    "soc",
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "current_offered",
)


class OcppCharger(_Commands):
    """Driver for one connector (1.6) / EVSE (2.0.1) of a charger connected to ``central``."""

    def __init__(
        self,
        central: CentralSystem,
        device_id: str,
        charge_point_id: str,
        *,
        connector: int = 1,
        stale_after_s: float = 30.0,
        voltage: float = 230.0,
        phases: int = 3,
        max_current: float = 16.0,
    ) -> None:
        self.central, self.device_id, self.cp_id = central, device_id, charge_point_id
        self.connector, self.stale_after = connector, timedelta(seconds=stale_after_s)
        self.voltage, self.phases, self.max_current = voltage, phases, max_current
        self.current: float = max_current  # the limit we mean to hold while enabled
        self.enabled = True
        self.phases_sent: int | None = None  # once switched, every profile names the phase count

    @property
    def capabilities(self) -> frozenset[str]:
        caps = {"read_power", "read_energy", "charge_current", "enable"}
        st = self.central.state(self.cp_id)
        if st is not None and st.version == "2.0.1" and st.phase_switching:
            caps.add("phases")
        if st is not None and "soc" in st.connector(self.connector).values:
            caps.add("read_soc")
        return frozenset(caps)

    def _live(self) -> tuple[Session, ChargerState]:
        session = self.central.session(self.cp_id)
        st = self.central.state(self.cp_id)
        if session is None or st is None or not st.connected:
            raise RetryableError(f"{self.device_id}: charger {self.cp_id!r} is not connected")
        return session, st

    async def read(self, ts: datetime | None = None) -> list[Reading]:
        ts = ts or utcnow()
        await self.central.ensure_started()
        _, st = self._live()
        con = st.connector(self.connector)
        # a charger that kept a longer interval than we asked for is not stale between its samples
        limit = max(self.stale_after, timedelta(seconds=2.5 * (st.sample_interval_s or 0)))
        fresh = con.values_at is not None and utcnow() - con.values_at <= limit
        if con.charging and not fresh:
            age = limit.total_seconds()
            raise RetryableError(f"{self.device_id}: no meter values for {age:g} s")
        values = dict(con.values)
        if not con.charging and (not fresh or "power" not in values):
            values["power"] = 0.0
        out = [Reading(f"{self.device_id}.{q}", ts, values[q]) for q in KEPT if q in values]
        if con.status in STATES:
            out.append(Reading(f"{self.device_id}.state", ts, float(STATES[con.status])))
        return out

    def _unit_and_limit(self, st: ChargerState, amps: float, phases: int) -> tuple[str, float]:
        if not st.rate_units or "A" in st.rate_units:
            return "A", amps
        return "W", amps * self.voltage * phases

    async def _send(self, amps: float) -> None:
        session, st = self._live()
        unit, limit = self._unit_and_limit(st, amps, self.phases)
        await session.set_limit(self.connector, limit, unit, self.phases_sent)

    async def command(self, command: str, value: float) -> None:
        if command == "current_limit":
            if not 0 <= value <= self.max_current:
                raise PermanentError(f"{self.device_id}: current {value:g} A outside 0..{self.max_current:g}")
            self.current = value
            await self._send(value if self.enabled else 0.0)
        elif command == "enable":
            self.enabled = bool(value)
            await self._send(self.current if self.enabled else 0.0)
            if self.enabled:
                session, st = self._live()
                con = st.connector(self.connector)
                if not con.charging and con.status in ("Preparing", "Occupied", "SuspendedEVSE"):
                    await session.remote_start(self.connector)
        elif command == "phases":
            if "phases" not in self.capabilities:
                raise PermanentError(f"{self.device_id}: charger {self.cp_id!r} cannot switch phases")
            if int(value) not in (1, 3):
                raise PermanentError(f"{self.device_id}: phases must be 1 or 3, got {value:g}")
            self.phases = self.phases_sent = int(value)
            await self._send(self.current if self.enabled else 0.0)
        else:
            raise PermanentError(f"{self.device_id}: no {command} on an OCPP charger")

    async def remote_start(self) -> None:
        session, _ = self._live()
        await session.remote_start(self.connector)

    async def remote_stop(self) -> None:
        session, _ = self._live()
        await session.remote_stop(self.connector)

    async def clear_limit(self) -> None:
        session, _ = self._live()
        await session.clear_limit(self.connector)


class OcppSite:
    """The site's central systems, one per port, shared by its OCPP chargers. Only the configured
    charge point ids may connect. A central system starts with the first read of one of its
    chargers; ``close()`` stops them all.

    They listen on ``host`` (loopback unless ``listen_on`` says otherwise, as ``wattwerk run
    --host`` does). Beyond loopback every charger needs a password (security profile 1) unless
    its connection says ``security_profile: 0``."""

    def __init__(
        self, host: str = "127.0.0.1", *, ledger: InputLedger | None = None, settings: Settings | None = None
    ) -> None:
        self.host, self.ledger, self.settings = host, ledger or InputLedger(), settings or Settings()
        self.centrals: dict[int, CentralSystem] = {}
        self.without_password: dict[str, str] = {}  # device id -> charge point id (profile 1 not waived)

    def listen_on(self, host: str) -> None:
        """Bind to ``host`` (before the first read); PermanentError when a charger would be open
        beyond loopback without a password."""
        if not is_loopback(host) and self.without_password:
            devices = ", ".join(sorted(self.without_password))
            raise PermanentError(
                f"OCPP listens on {host}: {devices} need connection.password (security profile 1, the "
                "same password in the charger), or security_profile: 0 on a trusted charger network"
            )
        self.host = host
        for central in self.centrals.values():
            central.host = host

    def charger(
        self,
        device_id: str,
        charge_point_id: str,
        *,
        connector: int = 1,
        port: int = 9000,
        password: str | None = None,
        phases: int = 3,
        max_current: float = 16.0,
        voltage: float = 230.0,
        stale_after_s: float = 30.0,
        security_profile: int | None = None,
    ) -> OcppCharger:
        """The driver of one configured charger (and its central system's port and password)."""
        central = self.centrals.get(port)
        if central is None:
            central = CentralSystem(self.host, port, settings=self.settings, allowed=(), ledger=self.ledger)
            self.centrals[port] = central
        assert central.allowed is not None
        central.allowed.add(charge_point_id)
        if password is not None:
            central.passwords[charge_point_id] = password
        elif security_profile != 0:
            self.without_password[device_id] = charge_point_id
        return OcppCharger(
            central,
            device_id,
            charge_point_id,
            connector=connector,
            phases=phases,
            max_current=max_current,
            voltage=voltage,
            stale_after_s=stale_after_s,
        )

    def close(self) -> None:
        for central in self.centrals.values():
            central.close()
