"""The owner's controls on a real ``wattwerk run`` process: ``PUT /api/owner/<device>`` behind the
sign-in and the CSRF token, the control runs the new mode, and the settings survive a restart of the
process (``owner.json`` in the data dir)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from security.edge_processes import RunningEdge, free_port, start_edge, stop_edge

DEVICES = """\
  - id: wb
    role: ev_charger
    connection: {{type: ocpp, charge_point_id: CP-OWN, port: {ocpp}}}
    limits: {{min_current_a: 6, max_current_a: 16}}
  - id: bat
    role: battery
    catalog: sunspec-storage
    connection: {{type: modbus_tcp, host: 127.0.0.1, port: {dead}}}
    capacity_wh: 10000
    max_charge_w: 5000
    max_discharge_w: 5000
    reserve_soc: 10
"""


def start(tmp_path: Path, first: bool = True) -> RunningEdge:
    with socket.socket() as s:  # a port nobody serves
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    return start_edge(
        tmp_path,
        more_devices=DEVICES.format(ocpp=free_port(), dead=dead),
        more="strategy: {ev_default_mode: pv}\n",
        **({} if first else {"password": None}),
    )


def owner_of(edge: RunningEdge, device: str) -> dict:
    with edge.signed_in() as c:
        res = c.get(f"/api/owner/{device}")
        assert res.status_code == 200, res.text
        return res.json()


def test_settings_from_the_page_survive_a_restart(tmp_path: Path) -> None:
    edge = start(tmp_path)
    try:
        with edge.client() as anyone:
            assert anyone.put("/api/owner/wb", json={"mode": "now"}).status_code == 401  # not signed in
        with edge.signed_in() as c:
            token = c.headers.pop("X-CSRF-Token")
            assert c.put("/api/owner/wb", json={"mode": "now"}).status_code == 403  # no CSRF token
            c.headers["X-CSRF-Token"] = token
            res = c.put("/api/owner/wb", json={"mode": "turbo"})
            assert res.status_code == 422 and "mode: Input should be" in res.json()["errors"][0]
            assert c.put("/api/owner/nope", json={"mode": "pv"}).status_code == 404
            res = c.put(
                "/api/owner/wb",
                json={
                    "mode": "minpv",
                    "min_current_a": 8,
                    "plan": {"energy_kwh": 20, "departure": "07:00", "days": ["mon", "wed"]},
                },
            )
            assert res.status_code == 200, res.text
            assert (res.json()["mode"], res.json()["min_current_a"]) == ("minpv", 8.0)
            res = c.put("/api/owner/bat", json={"mode": "hold", "reserve_soc": 40})
            assert res.status_code == 200 and res.json()["mode"] == "hold"
        for _ in range(50):  # the control runs it: no car answers, so it says so
            wb = owner_of(edge, "wb")
            if wb["reason"]:
                break
            time.sleep(0.1)
        assert wb["mode"] == "minpv" and wb["departure"] is not None
        assert wb["reason"] == "no reading from the charger: the control keeps it off"
        stored = json.loads((edge.data_dir / "owner.json").read_text())
        assert stored["devices"]["bat"] == {"mode": "hold", "reserve_soc": 40.0}
    finally:
        stop_edge(edge)

    again = start(tmp_path, first=False)  # the same data dir (password kept), a new process
    try:
        wb, bat = owner_of(again, "wb"), owner_of(again, "bat")
        assert (wb["mode"], wb["min_current_a"]) == ("minpv", 8.0)
        assert wb["settings"]["plan"] == {"energy_kwh": 20.0, "departure": "07:00", "days": ["mon", "wed"]}
        assert wb["departure"] is not None
        assert (bat["mode"], bat["reserve_soc"]) == ("hold", 40.0)
        assert "owner setting wb" in again.log.read_text()  # restored, and said so
    finally:
        stop_edge(again)
