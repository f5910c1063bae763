"""Devices with a local HTTP JSON API on loopback (Starlette served by uvicorn on a free port),
driven by a ``SimDevice``: the Hardy Barth eCB1 charge controller and its meter, and my-PV heaters.

``HttpEmulator`` is the shared server part (also used by ``relay.py``): ``fail_next`` answers that
many requests with HTTP 500, ``garbage`` answers the next request with a body that is not JSON.
A command the simulated device refuses is answered with HTTP 400, as the devices do.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from wattwerk.errors import BadInput
from wattwerk.sim.emulators import SimDevice
from wattwerk.sim.emulators.http_server import HttpServerEmulator


class HttpEmulator(HttpServerEmulator):
    """Base: subclasses give ``routes()``; handlers return a dict (JSON) or a ``Response``."""

    def __init__(self, sim: SimDevice) -> None:
        self.sim = sim
        self.port = 0
        self.fail_next = 0
        self.garbage = False
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def app(self) -> Starlette:
        return Starlette(routes=self.routes())

    def handler(self, fn):  # type: ignore[no-untyped-def]
        async def wrapped(request: Request) -> Response:
            self.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
            if self.fail_next > 0:
                self.fail_next -= 1
                return PlainTextResponse("internal error", status_code=500)
            if self.garbage:
                self.garbage = False
                return PlainTextResponse("<html>busy</html>")
            try:
                body = await fn(request)
            except BadInput as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            except (KeyError, ValueError) as exc:
                return JSONResponse({"error": f"bad request: {exc}"}, status_code=400)
            return body if isinstance(body, Response) else JSONResponse(body)

        return wrapped


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (without Starlette's optional multipart dependency)."""
    return {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}


_IEC = {0: "A", 1: "B", 2: "C"}


class HardyBarthEmulator(HttpEmulator):
    """eCB1 API v1: ``GET chargecontrols/<id>``, ``POST chargecontrols/<id>/start|stop``,
    ``POST chargecontrols/<id>/mode`` (``mode=manual``), ``POST .../mode/manual/ampere`` (``manualmodeamp``),
    ``GET meters/<id>`` (OBIS keys, W and kWh). With ``grid`` the meter shows a grid point
    (+ import on 1.4.0/1.8.0, export on 2.4.0/2.8.0); otherwise the charger's consumption."""

    def __init__(
        self, sim: SimDevice, *, charge_control: int = 1, meter: int = 1, grid: bool = False
    ) -> None:
        super().__init__(sim)
        self.charge_control, self.meter, self.grid = charge_control, meter, grid
        self.mode = "eco"
        self.amps = 16

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/chargecontrols/{id:int}", self.handler(self._cc)),
            Route("/api/v1/chargecontrols/{id:int}/mode", self.handler(self._mode), methods=["POST"]),
            Route(
                "/api/v1/chargecontrols/{id:int}/mode/manual/ampere",
                self.handler(self._ampere),
                methods=["POST"],
            ),
            Route("/api/v1/chargecontrols/{id:int}/{action}", self.handler(self._action), methods=["POST"]),
            Route("/api/v1/meters/{id:int}", self.handler(self._meter)),
        ]

    def _check(self, request: Request, wanted: int) -> Response | None:
        if request.path_params["id"] != wanted:
            return JSONResponse({"error": "not found"}, status_code=404)
        return None

    async def _cc(self, request: Request) -> dict | Response:
        if (missing := self._check(request, self.charge_control)) is not None:
            return missing
        v = self.sim.values()
        return {
            "chargecontrol": {
                "id": self.charge_control,
                "name": "cPH1",
                "type": "AC",
                "meterid": self.meter,
                "state": _IEC.get(int(v.get("state", 0)), "A"),
                "mode": self.mode,
                "manualmodeamp": self.amps,
                "enabled": bool(v.get("relay", 1.0)),
            }
        }

    async def _action(self, request: Request) -> dict | Response:
        if (missing := self._check(request, self.charge_control)) is not None:
            return missing
        action = request.path_params["action"]
        if action not in ("start", "stop"):
            return JSONResponse({"error": "not found"}, status_code=404)
        self.sim.apply("enable", 1.0 if action == "start" else 0.0)
        return {"result": "ok"}

    async def _mode(self, request: Request) -> dict | Response:
        if (missing := self._check(request, self.charge_control)) is not None:
            return missing
        form = await _form(request)
        mode = form["mode"]
        if mode not in ("manual", "eco", "quick"):
            raise ValueError(f"mode {mode!r}")
        self.mode = mode
        return {"mode": mode}

    async def _ampere(self, request: Request) -> dict | Response:
        if (missing := self._check(request, self.charge_control)) is not None:
            return missing
        form = await _form(request)
        amps = int(form["manualmodeamp"])
        if not 6 <= amps <= 32:
            raise ValueError(f"manualmodeamp {amps} outside 6..32")
        if self.mode == "manual":  # the current applies in manual mode only
            self.sim.apply("current_limit", float(amps))
        self.amps = amps
        return {"manualmodeamp": amps}

    async def _meter(self, request: Request) -> dict | Response:
        if (missing := self._check(request, self.meter)) is not None:
            return missing
        v = self.sim.values()
        if self.grid:
            power = v.get("power", 0.0)
            data = {
                "1-0:1.4.0": max(power, 0.0),
                "1-0:2.4.0": max(-power, 0.0),
                "1-0:1.8.0": v.get("energy_import", 0.0) / 1000.0,
                "1-0:2.8.0": v.get("energy_export", 0.0) / 1000.0,
            }
        else:
            data = {
                "1-0:1.4.0": v.get("power", 0.0),
                "1-0:1.8.0": v.get("energy", 0.0) / 1000.0,
                "1-0:2.4.0": 0.0,
                "1-0:2.8.0": 0.0,
            }
        return {"meter": {"id": self.meter, "name": "eCB1 meter", "data": data}}


class MyPvEmulator(HttpEmulator):
    """my-PV AC THOR / AC ELWA-E: ``GET /data.jsn`` and ``GET /control.html?power=<W>``."""

    def __init__(self, sim: SimDevice, *, device: str = "AC ELWA-E", max_w: float = 3000.0) -> None:
        super().__init__(sim)
        self.device, self.max_w = device, max_w

    def routes(self) -> list[Route]:
        return [
            Route("/data.jsn", self.handler(self._data)),
            Route("/control.html", self.handler(self._control)),
        ]

    async def _data(self, request: Request) -> dict:
        v = self.sim.values()
        return {
            "device": self.device,
            "fwversion": "00201.00",
            "power": round(v.get("power", 0.0)),
            "temp1": round(v.get("temperature", 0.0) * 10),
            "ctrlstate": "Ctrl HTTP",
            "screen_mode_flag": 0,
        }

    async def _control(self, request: Request) -> Response:
        watts = float(request.query_params["power"])
        if not 0 <= watts <= self.max_w:
            raise ValueError(f"power {watts} outside 0..{self.max_w}")
        self.sim.apply("power", watts)
        return PlainTextResponse("<html><body>OK</body></html>", media_type="text/html")


class TasmotaCounterEmulator(HttpEmulator):
    """A Tasmota device counting an S0 meter's pulses on ``Counter<n>``: ``/cm?cmnd=Status 10`` answers
    ``StatusSNS.COUNTER.C<n>`` = the sim's ``energy`` (Wh) times the impulse constant, whole pulses.
    ``reset_to`` makes the counter restart from that count (a reboot without a saved counter)."""

    def __init__(self, sim: SimDevice, *, counter: int = 1, per_kwh: float = 1000.0) -> None:
        super().__init__(sim)
        self.counter, self.per_kwh = counter, per_kwh
        self.base = 0.0  # energy (Wh) at the last reset

    def reset(self) -> None:
        self.base = self.sim.values().get("energy", 0.0)

    def routes(self) -> list[Route]:
        return [Route("/cm", self.handler(self._cm))]

    async def _cm(self, request: Request) -> dict:
        if request.query_params.get("cmnd", "").split() != ["Status", "10"]:
            return {"Command": "Unknown"}
        pulses = int((self.sim.values().get("energy", 0.0) - self.base) * self.per_kwh / 1000.0)
        return {"StatusSNS": {"Time": "2026-01-01T00:00:00", "COUNTER": {f"C{self.counter}": pulses}}}


class KostalPikoEmulator(HttpEmulator):
    """A KOSTAL PIKO of the older generation: the DXS JSON API (``/api/dxs.json``, AC power 67109120 in W,
    total yield 251658753 in kWh) and the legacy status page ``/`` behind basic auth (``aktuell`` W,
    ``Gesamtenergie`` kWh, ``x x x`` while off). ``off`` shows the inverter switched off (night)."""

    def __init__(self, sim: SimDevice, *, auth: tuple[str, str] = ("pvserver", "pvwr")) -> None:
        super().__init__(sim)
        self.auth = auth
        self.off = False

    def routes(self) -> list[Route]:
        return [Route("/api/dxs.json", self.handler(self._dxs)), Route("/", self.handler(self._page))]

    async def _dxs(self, request: Request) -> dict:
        v = self.sim.values()
        values = {
            67109120: None if self.off else round(v.get("power", 0.0), 1),
            251658753: round(v.get("energy", 0.0) / 1000.0, 3),
            251658754: 0.0,
        }
        ids = [int(i) for part in request.query_params.getlist("dxsEntries") for i in part.split(",")]
        return {
            "dxsEntries": [{"dxsId": i, "value": values.get(i)} for i in ids],
            "session": {"sessionId": 0, "roleId": 0},
            "status": {"code": 0},
        }

    async def _page(self, request: Request) -> Response:
        import base64

        header = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
        if header != expected:
            return PlainTextResponse(
                "unauthorized", status_code=401, headers={"WWW-Authenticate": 'Basic realm="PV"'}
            )
        v = self.sim.values()
        power = "x x x&nbsp;" if self.off else f"{round(v.get('power', 0.0))}"
        energy = f"{round(v.get('energy', 0.0) / 1000.0)}"
        page = (
            "<html><body><table>"
            '<tr><td width="190">aktuell</td><td width="70" align="right" bgcolor="#FFFFFF">'
            f'   {power}</td><td width="140">&nbsp; W</td>'
            '<td width="190">Gesamtenergie</td><td width="70" align="right" bgcolor="#FFFFFF">'
            f'   {energy}</td><td width="50">&nbsp; kWh</td></tr>'
            '<tr><td width="190">Tagesenergie</td><td width="70" align="right" bgcolor="#FFFFFF">   0.00</td>'
            "</tr></table></body></html>"
        )
        return Response(page, media_type="text/html")
