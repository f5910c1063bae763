"""A TQ Energy Manager EM 300 on loopback (HTTP/JSON), driven by a ``SimDevice`` grid point.

``GET /start.php`` gives the serial; ``POST /start.php`` (``login`` = serial, ``password``) sets a
session cookie; ``GET /mum-webservice/data.php`` answers the OBIS-keyed values with a valid cookie and
a document without ``serial`` otherwise. ``expire()`` ends the session (as a device restart does);
``currents`` adds the optional phase currents. Powers split the sim's ``power`` (+ import) over the
three phases as import (x.4.0 with x = 1, 21, 41, 61) or export (x = 2, 22, 42, 62) in W.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wattwerk.sim.emulators import SimDevice
from wattwerk.sim.emulators.http_devices import HttpEmulator, _form

SHARES = (0.5, 0.3, 0.2)  # of the total power on L1, L2, L3


class TqEmEmulator(HttpEmulator):
    def __init__(self, sim: SimDevice, *, serial: str = "21000123456", password: str = "secret-7") -> None:
        super().__init__(sim)
        self.serial, self.password = serial, password
        self.sessions: set[str] = set()
        self.logins = 0
        self.currents = True

    def expire(self) -> None:
        self.sessions.clear()

    def routes(self) -> list[Route]:
        return [
            Route("/start.php", self.handler(self._start), methods=["GET", "POST"]),
            Route("/mum-webservice/data.php", self.handler(self._data)),
        ]

    def _logged_in(self, request: Request) -> bool:
        return request.cookies.get("PHPSESSID", "") in self.sessions

    async def _start(self, request: Request) -> dict | Response:
        if request.method == "GET":
            return {"serial": self.serial, "authentication": self._logged_in(request)}
        form = await _form(request)
        self.logins += 1
        if form.get("login") != self.serial or form.get("password") != self.password:
            return {"serial": self.serial, "authentication": False}
        token = secrets.token_hex(8)
        self.sessions.add(token)
        response = JSONResponse({"serial": self.serial, "authentication": True})
        response.set_cookie("PHPSESSID", token)
        return response

    async def _data(self, request: Request) -> dict:
        if not self._logged_in(request):
            return {"status": 901}
        v = self.sim.values()
        power = v.get("power", 0.0)
        doc: dict[str, float | str] = {
            "serial": self.serial,
            "1-0:1.4.0*255": max(power, 0.0),
            "1-0:2.4.0*255": max(-power, 0.0),
            "1-0:1.8.0*255": v.get("energy_import", 0.0),
            "1-0:2.8.0*255": v.get("energy_export", 0.0),
        }
        for n, share in enumerate(SHARES):
            base = 20 * (n + 1)
            doc[f"1-0:{base + 1}.4.0*255"] = max(power * share, 0.0)
            doc[f"1-0:{base + 2}.4.0*255"] = max(-power * share, 0.0)
            doc[f"1-0:{base + 12}.4.0*255"] = 230.0 + n
            if self.currents:
                doc[f"1-0:{base + 11}.4.0*255"] = abs(power * share) / (230.0 + n)
        return doc
