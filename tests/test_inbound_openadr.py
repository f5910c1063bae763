"""The edge as an OpenADR 2.0b VEN against ``openleadr``'s own VTN on loopback, with the edge running
for real (tests/inbound_site.py): registration, a load-dispatch event the edge keeps, telemetry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openleadr import OpenADRServer

from inbound_site import free_port, running_site, until

IMPORT = "openadr.limit_import"


class Vtn:
    """openleadr's VTN: registers one VEN (``ven1``), records opt responses and reports."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server = OpenADRServer(vtn_id="vtn", http_host="127.0.0.1", http_port=port,
                                    requested_poll_freq=timedelta(seconds=1), show_fingerprint=False)
        self.server.add_handler("on_create_party_registration", self._register)
        self.server.add_handler("on_register_report", self._offer)
        self.registered: list[str] = []
        self.opts: list[tuple[str, str]] = []
        self.reports: list[tuple[str, float]] = []

    async def _register(self, info: dict[str, Any]) -> tuple[str, str]:
        self.registered.append(info["ven_name"])
        return "ven1", "reg1"

    async def _offer(self, ven_id: str, resource_id: str, measurement: str, unit: str, scale: str,
                     min_sampling_interval: timedelta, max_sampling_interval: timedelta) -> Any:
        async def got(data: list[tuple[datetime, float]]) -> None:
            self.reports += [(resource_id, value) for _, value in data]

        return got, min_sampling_interval

    def dispatch(self, kw: float, seconds: float, name: str = "LOAD_DISPATCH", kind: str = "setpoint",
                 ) -> None:
        now = datetime.now(UTC)
        self.server.add_event(
            ven_id="ven1", signal_name=name, signal_type=kind,
            intervals=[{"dtstart": now, "duration": timedelta(seconds=seconds), "signal_payload": kw}],
            callback=lambda ven_id, event_id, opt_type: self.opts.append((event_id, opt_type)),
        )

    async def __aenter__(self) -> Vtn:
        await self.server.run()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()


def inbound(port: int) -> str:
    return (f"    openadr: {{vtn_url: 'http://127.0.0.1:{port}/OpenADR2/Simple/2.0b', ven_name: house7,\n"
            "              report_s: 1, simple_levels_w: {2: 4000}}\n")


async def test_a_load_dispatch_event_is_kept_then_reported(tmp_path):
    port = free_port()
    channels = (IMPORT, "ev1.power")
    async with Vtn(port) as vtn, running_site(tmp_path, inbound(port), channels, ev=True) as site:
        seen = site.watched.cycles
        await until(lambda: seen and (seen[-1].seen["ev1.power"] or 0) > 10000)  # the car takes 11 kW
        await until(lambda: vtn.registered)
        assert vtn.registered == ["house7"]
        vtn.dispatch(6.0, seconds=8.0)  # at most 6 kW from the grid, for 8 s
        await until(lambda: site.watched.first(lambda c: c.seen[IMPORT] == 6000.0))
        first = site.watched.first(lambda c: c.seen[IMPORT] == 6000.0)
        assert first is not None and first.active["import:openadr"] == 6000.0
        amps = [s.value for s in first.setpoints if s.channel == "ev1.current_limit"]
        enabled = [s.value for s in first.setpoints if s.channel == "ev1.enable"]
        assert (amps and amps[0] * 3 * 230 <= 6000.0) or enabled == [0.0]  # held in the same cycle
        await until(lambda: vtn.opts)
        assert vtn.opts[0][1] == "optIn"
        await until(lambda: site.sim.evs[0].power <= 6000.0)
        await asyncio.sleep(0.5)
        assert site.sim.grid.power <= 6000.0  # the edge keeps the event
        # telemetry reaches the VTN: grid power in W, + import; the held import shows there too
        await until(lambda: any(r == "grid" and 0 < v <= 6000.0 + 600 for r, v in vtn.reports))
        assert all(abs(v) < 25000 for r, v in vtn.reports if r == "grid")
        await until(lambda: site.watched.events("openadr") and site.watched.events("openadr")[-1].kind
                    == "restriction_end")  # the event's end lifts the limit by itself
    kinds = [(e.kind, e.message.split(":")[0]) for e in site.watched.events("openadr")]
    assert kinds == [("restriction_start", "openadr import 6000 W"),
                     ("restriction_end", "openadr import 6000 W")]


@pytest.mark.parametrize(("name", "kind", "payload", "limit"), [
    ("SIMPLE", "level", 2, 4000.0),  # a level the site file maps
    ("ELECTRICITY_PRICE", "price", 0.42, None),  # recorded, no limit
])
async def test_simple_levels_and_prices(tmp_path, name, kind, payload, limit):
    port = free_port()
    channels = (IMPORT, "openadr.state_level", "openadr.price")
    async with Vtn(port) as vtn, running_site(tmp_path, inbound(port), channels) as site:
        await until(lambda: vtn.registered)
        vtn.dispatch(payload, seconds=30.0, name=name, kind=kind)
        await until(lambda: vtn.opts)
        assert vtn.opts[0][1] == "optIn"
        if limit is not None:
            await until(lambda: site.watched.first(lambda c: c.seen[IMPORT] == limit))
            cycle = site.watched.first(lambda c: c.seen[IMPORT] == limit)
            assert cycle is not None and cycle.seen["openadr.state_level"] == payload
            assert cycle.active["import:openadr"] == limit
        else:
            await until(lambda: site.watched.first(lambda c: c.seen["openadr.price"] == payload))
            assert all("import:openadr" not in c.active for c in site.watched.cycles)
