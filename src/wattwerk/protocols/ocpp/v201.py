"""OCPP 2.0.1: the CSMS side of one charging station (EVSE ids play the role of 1.6 connectors)."""

from __future__ import annotations

import itertools
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from wattwerk.protocols.ocpp.measurands import from_v201
from wattwerk.protocols.ocpp.rpc import RpcGuard
from wattwerk.protocols.ocpp.session import PROFILE_ID, SessionBase, iso, log

ACCEPTED = {"status": "Accepted"}
SMART = {"name": "SmartChargingCtrlr"}
# (component, variable) we read after boot; RateUnit is a member list such as "A,W"
SAMPLED = {"name": "SampledDataCtrlr"}
ASK = [
    (SMART, "RateUnit"),
    (SMART, "ACPhaseSwitchingSupported"),
    (SMART, "Phases3to1"),
    (SAMPLED, "TxUpdatedInterval"),
]
_remote_ids = itertools.count(1)


class Session201(RpcGuard, SessionBase, ChargePoint):
    version = "2.0.1"

    @on(Action.boot_notification)
    def on_boot(self, charging_station: dict[str, Any], reason: str, **_: Any) -> Any:
        booted = self.booted(charging_station.get("vendor_name"), charging_station.get("model"))
        return call_result.BootNotification(**booted)

    async def configure(self) -> None:
        """Learn rate units and phase switching; ask for meter values at our interval."""
        try:
            got = await self.request(
                call.GetVariables(
                    get_variable_data=[{"component": c, "variable": {"name": v}} for c, v in ASK]
                )
            )
            found = {
                r["variable"]["name"]: r.get("attribute_value")
                for r in got.get_variable_result
                if r.get("attribute_status") == "Accepted"
            }
            if found.get("RateUnit"):
                self.state.rate_units = frozenset(
                    u.strip() for u in found["RateUnit"].split(",") if u.strip() in ("A", "W")
                )
            self.state.phase_switching = any(
                str(found.get(k, "")).lower() == "true" for k in ("ACPhaseSwitchingSupported", "Phases3to1")
            )
            if str(found.get("TxUpdatedInterval", "")).isdigit():
                self.state.sample_interval_s = float(found["TxUpdatedInterval"])
            done = await self.request(
                call.SetVariables(
                    set_variable_data=[
                        {
                            "component": SAMPLED,
                            "variable": {"name": "TxUpdatedInterval"},
                            "attribute_value": str(self.settings.sample_interval_s),
                        }
                    ]
                )
            )
            if all(r.get("attribute_status") == "Accepted" for r in done.set_variable_result):
                self.state.sample_interval_s = float(self.settings.sample_interval_s)
        except Exception as exc:  # a station that refuses still charges; note it and go on
            log.info("%s: configuration after boot incomplete: %s", self.id, exc)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        self.seen()
        return call_result.Heartbeat(current_time=iso())

    @on(Action.status_notification)
    def on_status(self, evse_id: int, connector_id: int, connector_status: str, **_: Any) -> Any:
        self.seen()
        self.state.connector(evse_id).status = connector_status
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> Any:
        self.seen()  # a site's own charger: every token may charge; the energy manager decides how fast
        return call_result.Authorize(id_token_info=ACCEPTED)

    @on(Action.transaction_event)
    def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        evse: dict[str, Any] | None = None,
        meter_value: list[dict[str, Any]] | None = None,
        id_token: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        self.seen()
        tx = transaction_info.get("transaction_id")
        number = evse["id"] if evse else self._evse_of(tx)
        con = self.state.connector(number)
        if event_type != "Ended":
            con.transaction_id = tx
        self.take_meter_values(number, meter_value or [], from_v201)
        if event_type == "Ended":
            self.transaction_ended(number)
        if id_token is not None:
            return call_result.TransactionEvent(id_token_info=ACCEPTED)
        return call_result.TransactionEvent()

    def _evse_of(self, tx: str | None) -> int:
        for number, con in self.state.connectors.items():
            if con.transaction_id == tx:
                return number
        return 1

    @on(Action.meter_values)
    def on_meter_values(self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        self.seen()
        self.take_meter_values(evse_id, meter_value, from_v201)
        return call_result.MeterValues()

    @on(Action.notify_event)
    def on_notify_event(self, **_: Any) -> Any:
        self.seen()
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    def on_notify_report(self, **_: Any) -> Any:
        return call_result.NotifyReport()

    @on(Action.security_event_notification)
    def on_security_event(self, **_: Any) -> Any:
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    def on_firmware(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")

    # -- commands -----------------------------------------------------------------------------

    async def set_limit(self, connector: int, limit: float, unit: str, phases: int | None = None) -> None:
        """A TxDefaultProfile for EVSE ``connector`` capping the rate at ``limit`` (``unit`` "A" or "W")."""
        schedule = {"id": PROFILE_ID, **self.schedule(limit, unit, phases)}
        profile = self.tx_default_profile("id", [schedule])
        await self.command(
            call.SetChargingProfile(evse_id=connector, charging_profile=profile), "charging profile"
        )
        self.state.profiles[connector] = profile

    async def clear_limit(self, connector: int) -> None:
        await self.request(call.ClearChargingProfile(charging_profile_id=PROFILE_ID))
        self.state.profiles.pop(connector, None)

    async def remote_start(self, connector: int) -> None:
        request = call.RequestStartTransaction(
            id_token={"id_token": self.settings.id_tag, "type": "Central"},
            remote_start_id=next(_remote_ids),
            evse_id=connector,
        )
        await self.command(request, "remote start")

    async def remote_stop(self, connector: int) -> None:
        tx = self.state.connector(connector).transaction_id
        if tx is not None:
            await self.command(call.RequestStopTransaction(transaction_id=str(tx)), "remote stop")
