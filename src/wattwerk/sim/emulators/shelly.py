"""A Shelly on loopback: its Gen1 ``/status`` and Gen2 RPC answers over real HTTP (Starlette
served by uvicorn on a free port), built from a ``MeterSource``.

``model`` picks the answers: ``em`` / ``3em`` / ``plug`` (Gen1) or ``pro3em`` / ``plusplugs``
(Gen2). ``fail_next`` answers that many requests with HTTP 500 and ``delay`` holds answers
back (a device slower than the poller's timeout).
"""

from __future__ import annotations

import asyncio
import math

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wattwerk.sim.emulators import MeterSource, MeterState, PhaseState
from wattwerk.sim.emulators.http_server import HttpServerEmulator

GEN1 = {"em": "SHEM", "3em": "SHEM-3", "plug": "SHPLG-S"}
GEN2 = {"pro3em": "Pro3EM", "plusplugs": "PlusPlugS"}


def _phases(state: MeterState) -> tuple[PhaseState, ...]:
    if state.phases:
        return state.phases
    return (PhaseState(230.0, abs(state.power_w) / 230.0, state.power_w),)


def _pf(p: PhaseState) -> float:
    s = p.voltage_v * p.current_a
    return round(math.copysign(min(abs(p.power_w) / s, 1.0), p.power_w), 2) if s > 0 else 1.0


def gen1_status(state: MeterState, model: str) -> dict:
    if model == "plug":
        return {
            "relays": [{"ison": True, "has_timer": False, "overpower": False}],
            "meters": [
                {
                    "power": round(state.power_w, 2),
                    "overpower": 0.0,
                    "is_valid": True,
                    "timestamp": int(state.ts.timestamp()),
                    "counters": [0.0, 0.0, 0.0],
                    "total": round(state.energy_import_wh * 60),
                }
            ],  # watt-minutes
        }
    phases = _phases(state)
    if model == "em":
        p = phases[0]
        return {
            "emeters": [
                {
                    "power": round(state.power_w, 2),
                    "reactive": 0.0,
                    "pf": _pf(p),
                    "voltage": round(p.voltage_v, 2),
                    "is_valid": True,
                    "total": round(state.energy_import_wh, 1),
                    "total_returned": round(state.energy_export_wh, 1),
                },
                {
                    "power": 0.0,
                    "reactive": 0.0,
                    "pf": 0.0,
                    "voltage": round(p.voltage_v, 2),
                    "is_valid": True,
                    "total": 0.0,
                    "total_returned": 0.0,
                },
            ]
        }
    # 3EM: per-phase counters; the state's totals are spread over the phases
    n = len(phases[:3])
    emeters = [
        {
            "power": round(p.power_w, 2),
            "pf": _pf(p),
            "current": round(p.current_a, 2),
            "voltage": round(p.voltage_v, 2),
            "is_valid": True,
            "total": round(state.energy_import_wh / n, 1),
            "total_returned": round(state.energy_export_wh / n, 1),
        }
        for p in phases[:3]
    ]
    while len(emeters) < 3:
        emeters.append(
            {
                "power": 0.0,
                "pf": 1.0,
                "current": 0.0,
                "voltage": 230.0,
                "is_valid": True,
                "total": 0.0,
                "total_returned": 0.0,
            }
        )
    return {"emeters": emeters, "total_power": round(sum(e["power"] for e in emeters), 2)}


def gen2_em(state: MeterState) -> tuple[dict, dict]:
    phases = list(_phases(state)[:3])
    while len(phases) < 3:
        phases.append(PhaseState(230.0, 0.0, 0.0))
    em: dict = {"id": 0}
    data: dict = {"id": 0}
    for letter, p in zip("abc", phases, strict=True):
        em |= {
            f"{letter}_current": round(p.current_a, 3),
            f"{letter}_voltage": round(p.voltage_v, 1),
            f"{letter}_act_power": round(p.power_w, 1),
            f"{letter}_aprt_power": round(p.voltage_v * p.current_a, 1),
            f"{letter}_pf": _pf(p),
            f"{letter}_freq": 50.0,
        }
        data |= {
            f"{letter}_total_act_energy": round(state.energy_import_wh / 3, 2),
            f"{letter}_total_act_ret_energy": round(state.energy_export_wh / 3, 2),
        }
    em |= {
        "n_current": None,
        "total_current": round(sum(p.current_a for p in phases), 3),
        "total_act_power": round(sum(p.power_w for p in phases), 3),
        "total_aprt_power": round(sum(p.voltage_v * p.current_a for p in phases), 3),
        "user_calibrated_phase": [],
    }
    data |= {"total_act": round(state.energy_import_wh, 2), "total_act_ret": round(state.energy_export_wh, 2)}
    return em, data


def gen2_switch(state: MeterState) -> dict:
    p = _phases(state)[0]
    return {
        "id": 0,
        "source": "init",
        "output": True,
        "apower": round(state.power_w, 1),
        "voltage": round(p.voltage_v, 1),
        "freq": 50.0,
        "current": round(p.current_a, 3),
        "aenergy": {
            "total": round(state.energy_import_wh, 3),
            "by_minute": [0.0, 0.0, 0.0],
            "minute_ts": int(state.ts.timestamp()),
        },
        "ret_aenergy": {
            "total": round(state.energy_export_wh, 3),
            "by_minute": [0.0, 0.0, 0.0],
            "minute_ts": int(state.ts.timestamp()),
        },
        "temperature": {"tC": 31.2, "tF": 88.2},
    }


class ShellyEmulator(HttpServerEmulator):
    def __init__(self, source: MeterSource, model: str = "pro3em") -> None:
        if model not in GEN1 and model not in GEN2:
            raise ValueError(f"unknown Shelly model {model!r}")
        self.source = source
        self.model = model
        self.fail_next = 0
        self.delay = 0.0
        self.requests = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _answer(self, body: dict | None) -> Response:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next > 0:
            self.fail_next -= 1
            return Response("internal error", status_code=500)
        if body is None:
            return JSONResponse({"code": 404, "message": "No handler"}, status_code=404)
        return JSONResponse(body)

    async def shelly(self, request: Request) -> Response:
        if self.model in GEN1:
            info = {
                "type": GEN1[self.model],
                "mac": "A4CF12F00BA7",
                "auth": False,
                "fw": "20230913-114244/v1.14.0",
            }
        else:
            info = {
                "name": None,
                "id": f"shelly{self.model}-f00ba7",
                "mac": "F00BA7",
                "model": "SPEM-003CEBEU",
                "gen": 2,
                "fw_id": "20241011-114455/1.4.4",
                "ver": "1.4.4",
                "app": GEN2[self.model],
                "auth_en": False,
            }
        return await self._answer(info)

    async def status(self, request: Request) -> Response:
        return await self._answer(gen1_status(self.source(), self.model) if self.model in GEN1 else None)

    async def rpc(self, request: Request) -> Response:
        method = request.path_params["method"]
        if request.query_params.get("id", "0") != "0":
            return await self._answer(None)
        body: dict | None = None
        if self.model == "pro3em" and method in ("EM.GetStatus", "EMData.GetStatus"):
            em, data = gen2_em(self.source())
            body = em if method == "EM.GetStatus" else data
        elif self.model == "plusplugs" and method == "Switch.GetStatus":
            body = gen2_switch(self.source())
        return await self._answer(body)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/shelly", self.shelly),
                Route("/status", self.status),
                Route("/rpc/{method}", self.rpc),
            ]
        )
