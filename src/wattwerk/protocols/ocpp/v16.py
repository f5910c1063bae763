"""OCPP 1.6J: the central system's side of one charge point."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from wattwerk.protocols.ocpp.measurands import from_v16
from wattwerk.protocols.ocpp.rpc import RpcGuard
from wattwerk.protocols.ocpp.session import PROFILE_ID, SessionBase, iso, log, next_transaction_id

ACCEPTED = {"status": "Accepted"}
RATE_UNITS = {"Current": "A", "Power": "W"}  # ChargingScheduleAllowedChargingRateUnit members
SAMPLED = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,SoC"


class Session16(RpcGuard, SessionBase, ChargePoint):
    version = "1.6"

    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: Any) -> Any:
        return call_result.BootNotification(**self.booted(charge_point_vendor, charge_point_model))

    async def configure(self) -> None:
        """Learn the rate units the charger takes and ask for meter values at our interval."""
        try:
            got = await self.request(
                call.GetConfiguration(
                    key=["ChargingScheduleAllowedChargingRateUnit", "MeterValueSampleInterval"]
                )
            )
            for item in got.configuration_key or []:
                value = str(item.get("value", ""))
                if item.get("key") == "ChargingScheduleAllowedChargingRateUnit":
                    units = {RATE_UNITS[u.strip()] for u in value.split(",") if u.strip() in RATE_UNITS}
                    self.state.rate_units = frozenset(units)
                elif item.get("key") == "MeterValueSampleInterval" and value.isdigit():
                    self.state.sample_interval_s = float(value)
            changed = await self.request(
                call.ChangeConfiguration(
                    key="MeterValueSampleInterval", value=str(self.settings.sample_interval_s)
                )
            )
            if changed.status == "Accepted":
                self.state.sample_interval_s = float(self.settings.sample_interval_s)
            await self.request(call.ChangeConfiguration(key="MeterValuesSampledData", value=SAMPLED))
        except Exception as exc:  # a charger that refuses configuration still charges; note it and go on
            log.info("%s: configuration after boot incomplete: %s", self.id, exc)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> Any:
        self.seen()
        return call_result.Heartbeat(current_time=iso())

    @on(Action.status_notification)
    def on_status(self, connector_id: int, error_code: str, status: str, **_: Any) -> Any:
        self.seen()
        self.state.connector(connector_id).status = status
        if status == "Available":
            con = self.state.connector(connector_id)
            if con.transaction_id is not None:
                self.transaction_ended(connector_id)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> Any:
        self.seen()  # a site's own charger: every tag may charge; the energy manager decides how fast
        return call_result.Authorize(id_tag_info=ACCEPTED)

    @on(Action.start_transaction)
    def on_start(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any) -> Any:
        self.seen()
        tx = next_transaction_id()
        con = self.state.connector(connector_id)
        con.transaction_id = tx
        con.values["energy"] = float(meter_start)
        return call_result.StartTransaction(transaction_id=tx, id_tag_info=ACCEPTED)

    @on(Action.stop_transaction)
    def on_stop(self, meter_stop: int, timestamp: str, transaction_id: int, **_: Any) -> Any:
        self.seen()
        for number, con in self.state.connectors.items():
            if con.transaction_id == transaction_id:
                con.values["energy"] = float(meter_stop)
                self.transaction_ended(number)
        return call_result.StopTransaction(id_tag_info=ACCEPTED)

    @on(Action.meter_values)
    def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]], **_: Any) -> Any:
        self.seen()
        self.take_meter_values(connector_id, meter_value, from_v16)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        self.seen()
        return call_result.DataTransfer(status="UnknownVendorId")

    @on(Action.diagnostics_status_notification)
    def on_diagnostics(self, **_: Any) -> Any:
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    # -- commands -----------------------------------------------------------------------------

    async def set_limit(self, connector: int, limit: float, unit: str, phases: int | None = None) -> None:
        """A TxDefaultProfile for ``connector`` capping the rate at ``limit`` (``unit`` "A" or "W")."""
        profile = self.tx_default_profile("charging_profile_id", self.schedule(limit, unit, phases))
        request = call.SetChargingProfile(connector_id=connector, cs_charging_profiles=profile)
        await self.command(request, "charging profile")
        self.state.profiles[connector] = profile

    async def clear_limit(self, connector: int) -> None:
        await self.request(call.ClearChargingProfile(id=PROFILE_ID))
        self.state.profiles.pop(connector, None)

    async def remote_start(self, connector: int) -> None:
        request = call.RemoteStartTransaction(id_tag=self.settings.id_tag, connector_id=connector)
        await self.command(request, "remote start")

    async def remote_stop(self, connector: int) -> None:
        tx = self.state.connector(connector).transaction_id
        if tx is not None:
            await self.command(call.RemoteStopTransaction(transaction_id=int(tx)), "remote stop")
