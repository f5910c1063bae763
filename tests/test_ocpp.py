"""The OCPP central system and the charger driver against the ocpp library's own charge-point
clients (1.6J and 2.0.1) on loopback."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp import v16, v201
from ocpp.routing import on
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wattwerk.devices.ocpp_charger import OcppCharger, OcppSite
from wattwerk.errors import PermanentError, RetryableError
from wattwerk.protocols.ocpp import CentralSystem, Settings

NOW = datetime.now(UTC).isoformat()


class Cp16(v16.ChargePoint):
    """A 1.6 charge point that records what the central system asks of it."""

    def __init__(
        self, cp_id: str, ws: ClientConnection, rate_unit: str = "Current,Power", accept_config: bool = True
    ) -> None:
        super().__init__(cp_id, ws, response_timeout=5)
        self.rate_unit, self.config, self.profiles, self.cleared, self.remote = rate_unit, {}, [], [], []
        self.accept_config = accept_config

    @on("GetConfiguration")
    def get_configuration(self, key: list[str] | None = None) -> Any:
        return v16.call_result.GetConfiguration(
            configuration_key=[
                {"key": "ChargingScheduleAllowedChargingRateUnit", "readonly": True, "value": self.rate_unit},
                {"key": "MeterValueSampleInterval", "readonly": False, "value": "60"},
            ]
        )

    @on("ChangeConfiguration")
    def change_configuration(self, key: str, value: str) -> Any:
        self.config[key] = value
        return v16.call_result.ChangeConfiguration(status="Accepted" if self.accept_config else "Rejected")

    @on("SetChargingProfile")
    def set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]) -> Any:
        self.profiles.append((connector_id, cs_charging_profiles))
        return v16.call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def clear_charging_profile(self, **kw: Any) -> Any:
        self.cleared.append(kw)
        return v16.call_result.ClearChargingProfile(status="Accepted")

    @on("RemoteStartTransaction")
    def remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        self.remote.append(("start", id_tag, connector_id))
        return v16.call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def remote_stop(self, transaction_id: int) -> Any:
        self.remote.append(("stop", transaction_id))
        return v16.call_result.RemoteStopTransaction(status="Accepted")


class Cp201(v201.ChargePoint):
    """A 2.0.1 charging station that records what the CSMS asks of it."""

    def __init__(
        self, cp_id: str, ws: ClientConnection, rate_unit: str = "A,W", phase_switching: bool = True
    ) -> None:
        super().__init__(cp_id, ws, response_timeout=5)
        self.rate_unit, self.phase_switching = rate_unit, phase_switching
        self.config, self.profiles, self.cleared, self.remote = {}, [], [], []

    @on("GetVariables")
    def get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        known = {"RateUnit": self.rate_unit, "ACPhaseSwitchingSupported": str(self.phase_switching).lower()}
        out = []
        for item in get_variable_data:
            name = item["variable"]["name"]
            ok = name in known
            out.append(
                {
                    "attribute_status": "Accepted" if ok else "UnknownVariable",
                    "component": item["component"],
                    "variable": item["variable"],
                    **({"attribute_value": known[name]} if ok else {}),
                }
            )
        return v201.call_result.GetVariables(get_variable_result=out)

    @on("SetVariables")
    def set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        for item in set_variable_data:
            self.config[item["variable"]["name"]] = item["attribute_value"]
        return v201.call_result.SetVariables(
            set_variable_result=[
                {"attribute_status": "Accepted", "component": i["component"], "variable": i["variable"]}
                for i in set_variable_data
            ]
        )

    @on("SetChargingProfile")
    def set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        self.profiles.append((evse_id, charging_profile))
        return v201.call_result.SetChargingProfile(status="Accepted")

    @on("ClearChargingProfile")
    def clear_charging_profile(self, **kw: Any) -> Any:
        self.cleared.append(kw)
        return v201.call_result.ClearChargingProfile(status="Accepted")

    @on("RequestStartTransaction")
    def request_start(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **_: Any
    ) -> Any:
        self.remote.append(("start", id_token["id_token"], evse_id))
        return v201.call_result.RequestStartTransaction(status="Accepted")

    @on("RequestStopTransaction")
    def request_stop(self, transaction_id: str, **_: Any) -> Any:
        self.remote.append(("stop", transaction_id))
        return v201.call_result.RequestStopTransaction(status="Accepted")


async def until(pred: Callable[[], Any], what: str) -> None:
    """Wait (up to 5 s) until ``pred()`` holds; fail naming ``what`` otherwise."""
    for _ in range(500):
        if pred():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"never happened: {what}")


@pytest.fixture
async def central() -> AsyncIterator[CentralSystem]:
    async with CentralSystem("127.0.0.1", 0, settings=Settings(heartbeat_s=30, response_timeout_s=5)) as cs:
        yield cs


@contextlib.asynccontextmanager
async def charger(cs: CentralSystem, version: str, cp_id: str = "wb1", **kw: Any) -> AsyncIterator[Any]:
    """A connected, booted charge point of ``version`` whose configuration after boot is done."""
    sub = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with connect(f"ws://127.0.0.1:{cs.port}/{cp_id}", subprotocols=[sub]) as ws:  # type: ignore[list-item]
        cp = Cp16(cp_id, ws, **kw) if version == "1.6" else Cp201(cp_id, ws, **kw)
        task = asyncio.create_task(cp.start())
        try:
            if version == "1.6":
                got = await cp.call(
                    v16.call.BootNotification(charge_point_model="M1", charge_point_vendor="V1")
                )
            else:
                got = await cp.call(
                    v201.call.BootNotification(
                        charging_station={"model": "M1", "vendor_name": "V1"}, reason="PowerUp"
                    )
                )
            assert got.status == "Accepted"
            await until(lambda: cp.config, "configuration after boot")
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def start_tx(cp: Any, version: str, samples: list[dict[str, Any]] | None = None) -> Any:
    """Start a transaction on connector / EVSE 1; return its id."""
    if version == "1.6":
        got = await cp.call(
            v16.call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=NOW)
        )
        return got.transaction_id
    await cp.call(
        v201.call.TransactionEvent(
            event_type="Started",
            timestamp=NOW,
            trigger_reason="CablePluggedIn",
            seq_no=0,
            transaction_info={"transaction_id": "tx-1", "charging_state": "Charging"},
            evse={"id": 1, "connector_id": 1},
            meter_value=[{"timestamp": NOW, "sampled_value": samples}] if samples else None,
        )
    )
    return "tx-1"


async def meter_values(cp: Any, version: str, samples: list[tuple[Any, str, str | None]]) -> None:
    """Send one MeterValues message in the version's own shape: ``samples`` are (value,
    measurand, unit or None); 1.6 carries values as strings, 2.0.1 as numbers in unit_of_measure."""
    if version == "1.6":
        sampled = [{"value": str(v), "measurand": m, **({"unit": u} if u else {})} for v, m, u in samples]
        message: Any = v16.call.MeterValues(
            connector_id=1, meter_value=[{"timestamp": NOW, "sampled_value": sampled}]
        )
    else:
        sampled = [
            {"value": v, "measurand": m, **({"unit_of_measure": {"unit": u}} if u else {})}
            for v, m, u in samples
        ]
        message = v201.call.MeterValues(evse_id=1, meter_value=[{"timestamp": NOW, "sampled_value": sampled}])
    await cp.call(message)


VERSIONS = ["1.6", "2.0.1"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_boot_is_accepted_and_configures_sampling(central: CentralSystem, version: str) -> None:
    async with charger(central, version) as cp:
        st = central.state("wb1")
        assert st is not None and st.connected and st.booted
        assert (st.vendor, st.model, st.version) == ("V1", "M1", version)
        key = "MeterValueSampleInterval" if version == "1.6" else "TxUpdatedInterval"
        assert cp.config[key] == "10"
        await until(lambda: st.rate_units == {"A", "W"}, "rate units learned")
        if version == "1.6":
            beat = await cp.call(v16.call.Heartbeat())
        else:
            beat = await cp.call(v201.call.Heartbeat())
        assert datetime.fromisoformat(beat.current_time).tzinfo is not None


async def test_v16_charger_that_keeps_its_interval_is_judged_by_it(central: CentralSystem) -> None:
    async with charger(central, "1.6", accept_config=False) as cp:
        await start_tx(cp, "1.6")
        st = central.state("wb1")
        await until(lambda: st is not None and st.sample_interval_s == 60.0, "interval learned")
        await cp.call(
            v16.call.MeterValues(
                connector_id=1,
                meter_value=[
                    {
                        "timestamp": NOW,
                        "sampled_value": [{"value": "4000", "measurand": "Power.Active.Import"}],
                    }
                ],
            )
        )
        # asked for 10 s, kept 60 s: values are not stale after stale_after_s=1 but within 150 s
        drv = OcppCharger(central, "ev1", "wb1", stale_after_s=1)
        assert st is not None
        con = st.connector(1)
        assert con.values_at is not None
        con.values_at -= timedelta(seconds=100)
        assert {r.channel: r.value for r in await drv.read()}["ev1.power"] == 4000.0
        con.values_at -= timedelta(seconds=100)
        with pytest.raises(RetryableError, match="no meter values for 150 s"):
            await drv.read()


async def test_v16_meter_values_arrive_in_our_units(central: CentralSystem) -> None:
    async with charger(central, "1.6") as cp:
        tx = await start_tx(cp, "1.6")
        await cp.call(v16.call.StatusNotification(connector_id=1, error_code="NoError", status="Charging"))
        await cp.call(
            v16.call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": NOW,
                        "sampled_value": [
                            {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
                            {"value": "12.345", "measurand": "Energy.Active.Import.Register", "unit": "kWh"},
                            {"value": "10.5", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                            {"value": "10.4", "measurand": "Current.Import", "phase": "L2", "unit": "A"},
                            {"value": "10.3", "measurand": "Current.Import", "phase": "L3", "unit": "A"},
                            {"value": "55", "measurand": "SoC", "unit": "Percent", "location": "EV"},
                            {"value": "50.0", "measurand": "Frequency"},
                        ],
                    }
                ],
            )
        )
        drv = OcppCharger(central, "ev1", "wb1")
        got = {r.channel: r.value for r in await drv.read()}
        assert got["ev1.power"] == pytest.approx(7200.0)
        assert got["ev1.energy"] == pytest.approx(12345.0)
        assert [got[f"ev1.current_l{i}"] for i in (1, 2, 3)] == [10.5, 10.4, 10.3]
        assert got["ev1.soc"] == 55.0 and got["ev1.state"] == 2.0
        assert "read_soc" in drv.capabilities
        await cp.call(v16.call.StopTransaction(meter_stop=13000, timestamp=NOW, transaction_id=tx))
        after = {r.channel: r.value for r in await drv.read()}
        assert after["ev1.power"] == 0.0 and after["ev1.energy"] == 13000.0


async def test_v201_transaction_event_meter_values_with_multiplier(central: CentralSystem) -> None:
    async with charger(central, "2.0.1") as cp:
        await start_tx(
            cp,
            "2.0.1",
            [
                {"value": 11.04, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "kW"}},
                {
                    "value": 4.2,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": "Wh", "multiplier": 3},
                },
                {"value": 16, "measurand": "Current.Import", "phase": "L2"},
                {"value": 80, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}, "location": "EV"},
            ],
        )
        drv = OcppCharger(central, "ev2", "wb1")
        got = {r.channel: r.value for r in await drv.read()}
        assert got["ev2.power"] == pytest.approx(11040.0)
        assert got["ev2.energy"] == pytest.approx(4200.0)
        assert got["ev2.current_l2"] == 16.0 and got["ev2.soc"] == 80.0
        await meter_values(cp, "2.0.1", [(3600, "Power.Active.Import", "W")])
        assert {r.channel: r.value for r in await drv.read()}["ev2.power"] == 3600.0
        await cp.call(
            v201.call.TransactionEvent(
                event_type="Ended",
                timestamp=NOW,
                trigger_reason="EVDeparted",
                seq_no=1,
                transaction_info={"transaction_id": "tx-1"},
                evse={"id": 1},
            )
        )
        assert {r.channel: r.value for r in await drv.read()}["ev2.power"] == 0.0


@pytest.mark.parametrize("version", VERSIONS)
async def test_bad_sampled_values_are_counted_and_dropped(central: CentralSystem, version: str) -> None:
    async with charger(central, version) as cp:
        bad = [(5, "Power.Active.Import", "kVA"), (140, "SoC", "Percent")]
        if version == "1.6":  # only 1.6 can carry a value that is not a number
            bad.insert(0, ("abc", "Power.Active.Import", None))
        await meter_values(cp, version, [*bad, (1500, "Energy.Active.Import.Register", None)])
        kinds = central.ledger.by_kind("wb1")
        assert kinds.get("unit") == 1 and kinds.get("range") == 1
        assert kinds.get("value", 0) == (1 if version == "1.6" else 0)
        got = {r.channel: r.value for r in await OcppCharger(central, "ev", "wb1").read()}
        assert got == {"ev.energy": 1500.0, "ev.power": 0.0}


@pytest.mark.parametrize(
    ("version", "rate_unit", "unit", "limit"),
    [
        ("1.6", "Current,Power", "A", 10.0),
        ("1.6", "Power", "W", 6900.0),
        ("2.0.1", "A,W", "A", 10.0),
        ("2.0.1", "W", "W", 6900.0),
    ],
)
async def test_current_limit_arrives_as_charging_profile(
    central: CentralSystem, version: str, rate_unit: str, unit: str, limit: float
) -> None:
    async with charger(central, version, rate_unit=rate_unit) as cp:
        st = central.state("wb1")
        await until(lambda: st is not None and st.rate_units, "rate units learned")
        drv = OcppCharger(central, "ev1", "wb1", phases=3)
        await drv.set_current_limit(10.0)
        assert len(cp.profiles) == 1
        connector, profile = cp.profiles[0]
        assert connector == 1
        assert profile["charging_profile_purpose"] == "TxDefaultProfile"
        schedule = profile["charging_schedule"] if version == "1.6" else profile["charging_schedule"][0]
        assert schedule["charging_rate_unit"] == unit
        assert schedule["charging_schedule_period"][0]["limit"] == pytest.approx(limit)
        assert "number_phases" not in schedule["charging_schedule_period"][0]
        await drv.clear_limit()
        assert len(cp.cleared) == 1
        with pytest.raises(PermanentError):
            await drv.set_current_limit(40.0)


@pytest.mark.parametrize("version", VERSIONS)
async def test_enable_off_is_a_zero_profile_and_on_restores_and_starts(
    central: CentralSystem, version: str
) -> None:
    async with charger(central, version) as cp:
        drv = OcppCharger(central, "ev1", "wb1")
        await drv.set_current_limit(8.0)
        await drv.enable(False)
        await drv.set_current_limit(12.0)  # remembered, but held at 0 while disabled

        def limits() -> list[float]:
            return [
                (p["charging_schedule"] if version == "1.6" else p["charging_schedule"][0])[
                    "charging_schedule_period"
                ][0]["limit"]
                for _, p in cp.profiles
            ]

        assert limits() == [8.0, 0.0, 0.0]
        if version == "1.6":
            await cp.call(
                v16.call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
            )
        else:
            await cp.call(
                v201.call.StatusNotification(
                    timestamp=NOW, connector_status="Occupied", evse_id=1, connector_id=1
                )
            )
        await drv.enable(True)
        assert limits()[-1] == 12.0
        assert cp.remote == [("start", "wattwerk", 1)]


@pytest.mark.parametrize("version", VERSIONS)
async def test_remote_stop_and_start(central: CentralSystem, version: str) -> None:
    async with charger(central, version) as cp:
        drv = OcppCharger(central, "ev1", "wb1")
        tx = await start_tx(cp, version)
        await drv.remote_stop()
        await drv.remote_start()
        assert cp.remote == [("stop", tx), ("start", "wattwerk", 1)]


async def test_phases_only_where_the_charger_switches(central: CentralSystem) -> None:
    async with charger(central, "2.0.1", phase_switching=True) as cp:
        st = central.state("wb1")
        await until(lambda: st is not None and st.phase_switching, "phase switching learned")
        drv = OcppCharger(central, "ev1", "wb1")
        assert "phases" in drv.capabilities
        await drv.set_phases(1)
        period = cp.profiles[-1][1]["charging_schedule"][0]["charging_schedule_period"][0]
        assert period["number_phases"] == 1 and period["limit"] == 16.0
    async with charger(central, "1.6", cp_id="old") as cp16:
        drv16 = OcppCharger(central, "ev2", "old")
        assert "phases" not in drv16.capabilities
        with pytest.raises(PermanentError):
            await drv16.set_phases(1)
        assert cp16.profiles == []


@pytest.mark.parametrize("version", VERSIONS)
async def test_disconnected_or_silent_charger_fails_reads_without_crashing(
    central: CentralSystem, version: str
) -> None:
    drv = OcppCharger(central, "ev1", "wb1", stale_after_s=0)
    with pytest.raises(RetryableError):
        await drv.read()  # never connected
    async with charger(central, version) as cp:
        await start_tx(cp, version)
        with pytest.raises(RetryableError, match="no meter values"):
            await drv.read()  # charging, but the values are older than stale_after_s
    st = central.state("wb1")
    await until(lambda: st is not None and not st.connected, "disconnect noticed")
    with pytest.raises(RetryableError, match="not connected"):
        await drv.read()
    with pytest.raises(RetryableError):
        await drv.set_current_limit(6.0)
    async with charger(central, version) as cp:  # it comes back and sends values: reads work again
        await meter_values(cp, version, [(2300, "Power.Active.Import", "W")])
        fresh = OcppCharger(central, "ev1", "wb1", stale_after_s=60)
        assert {r.channel: r.value for r in await fresh.read()}["ev1.power"] == 2300.0


async def _raw_exchange(cs: CentralSystem, sub: str, frames: list[str]) -> list[list[Any]]:
    async with connect(f"ws://127.0.0.1:{cs.port}/raw", subprotocols=[sub]) as ws:  # type: ignore[list-item]
        out = []
        for frame in frames:
            await ws.send(frame)
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        return out


@pytest.mark.parametrize(
    ("sub", "codes"),
    [
        (
            "ocpp1.6",
            [
                "FormationViolation",
                "ProtocolError",
                "NotImplemented",
                "NotSupported",
                "TypeConstraintViolation",
                "ProtocolError",
            ],
        ),
        (
            "ocpp2.0.1",
            [
                "RpcFrameworkError",
                "MessageTypeNotSupported",
                "NotImplemented",
                "NotSupported",
                "TypeConstraintViolation",
                "OccurrenceConstraintViolation",
            ],
        ),
    ],
)
async def test_malformed_and_unexpected_messages_get_the_right_callerror(
    central: CentralSystem, sub: str, codes: list[str]
) -> None:
    served = "ReserveNow"  # a known action of both versions that a central system does not receive
    boot_bad = (
        {"chargePointVendor": 5, "chargePointModel": "M"}
        if sub == "ocpp1.6"
        else {"chargingStation": {"model": 5, "vendorName": "V"}, "reason": "PowerUp"}
    )
    boot_short = {"chargePointVendor": "V"} if sub == "ocpp1.6" else {"reason": "PowerUp"}
    frames = [
        "{not json",
        json.dumps([7, "m2"]),
        json.dumps([2, "m3", "Teleport", {}]),
        json.dumps([2, "m4", served, {}]),
        json.dumps([2, "m5", "BootNotification", boot_bad]),
        json.dumps([2, "m6", "BootNotification", boot_short]),
    ]
    answers = await _raw_exchange(central, sub, frames)
    assert [a[0] for a in answers] == [4] * 6
    assert [a[1] for a in answers] == ["-1", "m2", "m3", "m4", "m5", "m6"]
    assert [a[2] for a in answers] == codes
    st = central.state("raw")
    assert st is not None and sum(st.errors.values()) == 6
    assert central.ledger.total("raw") == 6


async def test_basic_auth_and_subprotocol_are_enforced() -> None:
    async with CentralSystem("127.0.0.1", 0, passwords={"wb1": "s3cret"}) as cs:
        url = f"ws://127.0.0.1:{cs.port}/wb1"
        with pytest.raises(InvalidStatus) as err:
            async with connect(url, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
                pass
        assert err.value.response.status_code == 401
        token = base64.b64encode(b"wb1:s3cret").decode()
        async with connect(
            url,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        ) as ws:
            cp = Cp16("wb1", ws)
            task = asyncio.create_task(cp.start())
            got = await cp.call(v16.call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            task.cancel()
        assert got.status == "Accepted"
        assert cs.refused == 1
    async with CentralSystem("127.0.0.1", 0) as cs:
        async with connect(f"ws://127.0.0.1:{cs.port}/x", subprotocols=["ocpp2.1"]) as ws:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        assert cs.ledger.by_kind("x") == {"subprotocol": 1}
        async with connect(f"ws://127.0.0.1:{cs.port}/y") as ws:  # no subprotocol offered: taken as 1.6
            cp = Cp16("y", ws)
            task = asyncio.create_task(cp.start())
            got = await cp.call(v16.call.BootNotification(charge_point_model="M", charge_point_vendor="V"))
            task.cancel()
        assert got.status == "Accepted" and cs.states["y"].version == "1.6"


async def test_ocpp_site_starts_on_first_read_and_admits_only_configured_ids() -> None:
    site = OcppSite("127.0.0.1")
    drv = site.charger("ev1", "wb1", port=0, password="pw", max_current=32.0)
    try:
        with pytest.raises(RetryableError, match="not connected"):
            await drv.read()  # starts the central system; nobody connected yet
        central = site.centrals[0]
        with pytest.raises(InvalidStatus) as err:
            async with connect(f"ws://127.0.0.1:{central.port}/intruder", subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
                pass
        assert err.value.response.status_code == 404
        token = base64.b64encode(b"wb1:pw").decode()
        async with connect(
            f"ws://127.0.0.1:{central.port}/wb1",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {token}"},
        ) as ws:
            cp = Cp201("wb1", ws)
            task = asyncio.create_task(cp.start())
            await cp.call(
                v201.call.BootNotification(
                    charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp"
                )
            )
            got = {r.channel: r.value for r in await drv.read()}
            await drv.set_current_limit(32.0)
            task.cancel()
        assert got["ev1.power"] == 0.0
        assert cp.profiles[-1][1]["charging_schedule"][0]["charging_schedule_period"][0]["limit"] == 32.0
        assert central.ledger.by_kind("intruder") == {"refused": 1}
    finally:
        site.close()


async def test_a_second_link_with_a_connected_id_is_refused_and_a_reconnect_works(
    central: CentralSystem,
) -> None:
    async with charger(central, "2.0.1") as first:
        with pytest.raises(InvalidStatus) as refused:
            async with charger(central, "2.0.1"):
                pass
        assert refused.value.response.status_code == 409
        drv = OcppCharger(central, "ev1", "wb1")
        await drv.set_current_limit(7.0)
        assert len(first.profiles) == 1  # the connected charger kept its link and got the command
        assert central.ledger.by_kind("wb1") == {"refused": 1}
    await until(lambda: central.session("wb1") is None, "first link gone")
    async with charger(central, "2.0.1") as again:  # the charger back after losing its link
        await OcppCharger(central, "ev1", "wb1").set_current_limit(8.0)
        assert len(again.profiles) == 1
