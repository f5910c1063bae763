"""TQ Energy Manager EM 2xx/3xx (B-control EM 300) over its local HTTP/JSON interface.

``GET /start.php`` names the device (``serial``); ``GET /mum-webservice/data.php`` answers the meter's
values keyed by OBIS code (``1-0:1.4.0*255`` W, ``1-0:1.8.0*255`` Wh ...) once the session is logged
in, and a document without ``serial`` before. The login is ``POST /start.php`` with ``login`` = the
serial and ``password`` = the device's password (a session cookie follows). Wrong credentials are a
permanent error (counted, backed off), never a crash.
"""

from __future__ import annotations

from wattwerk.devices.native import NativeDevice, _number
from wattwerk.devices.profile import Entry
from wattwerk.errors import BadInput, PermanentError
from wattwerk.protocols.http_device import JsonHttp

DATA = "/mum-webservice/data.php"
START = "/start.php"

# quantity -> OBIS keys summed with their signs (import minus export for net powers)
OBIS: dict[str, tuple[tuple[str, float], ...]] = {
    "power": (("1-0:1.4.0*255", 1.0), ("1-0:2.4.0*255", -1.0)),
    "energy_import": (("1-0:1.8.0*255", 1.0),),
    "energy_export": (("1-0:2.8.0*255", 1.0),),
    "power_l1": (("1-0:21.4.0*255", 1.0), ("1-0:22.4.0*255", -1.0)),
    "power_l2": (("1-0:41.4.0*255", 1.0), ("1-0:42.4.0*255", -1.0)),
    "power_l3": (("1-0:61.4.0*255", 1.0), ("1-0:62.4.0*255", -1.0)),
    "voltage_l1": (("1-0:32.4.0*255", 1.0),),
    "voltage_l2": (("1-0:52.4.0*255", 1.0),),
    "voltage_l3": (("1-0:72.4.0*255", 1.0),),
}
OPTIONAL = {  # currents: only some firmware versions report them
    "current_l1": "1-0:31.4.0*255",
    "current_l2": "1-0:51.4.0*255",
    "current_l3": "1-0:71.4.0*255",
}


class TqEmDevice(NativeDevice):
    """A grid meter (+ import) read from the Energy Manager; read-only."""

    def __init__(self, entry: Entry, http: JsonHttp, *, password: str = "", **kw: object) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        self.http = http
        self.password = password
        self.serial: str | None = None

    async def _login(self) -> None:
        if self.serial is None:
            serial = (await self.http.get(START)).get("serial")
            if not isinstance(serial, str) or not serial:
                raise BadInput("field", f"{self.device_id}: {START} names no serial")
            self.serial = serial
        await self.http.post(START, {"login": self.serial, "password": self.password})

    async def fetch(self) -> dict[str, float]:
        doc = await self.http.get(DATA)
        if not doc.get("serial"):  # not (or no longer) logged in
            await self._login()
            doc = await self.http.get(DATA)
            if not doc.get("serial"):
                raise PermanentError(f"{self.device_id}: login refused (wrong password?)")
        out = {
            quantity: sum(_number(doc, key, self.device_id) * sign for key, sign in keys)
            for quantity, keys in OBIS.items()
        }
        for quantity, key in OPTIONAL.items():
            if key in doc:
                out[quantity] = _number(doc, key, self.device_id)
        return out

    async def command(self, command: str, value: float) -> None:
        raise PermanentError(f"{self.device_id}: the Energy Manager is read-only here")

    async def aclose(self) -> None:
        await self.http.aclose()
