"""TQ Energy Manager EM 2xx/3xx (B-control EM 300) over its local HTTP/JSON interface.

``GET /start.php`` names the device (``serial``); ``GET /mum-webservice/data.php`` answers the meter's
values keyed by OBIS code (``1-0:1.4.0*255`` W, ``1-0:1.8.0*255`` Wh ...; which ones: the catalogue
entry's ``values``) once the session is logged in, and a document without ``serial`` before. The
login is ``POST /start.php`` with ``login`` = the serial and ``password`` = the device's password (a
session cookie follows). Wrong credentials are a permanent error (counted, backed off), never a crash.
"""

from __future__ import annotations

from wattwerk.devices.native import NativeDevice, _number
from wattwerk.devices.profile import Entry
from wattwerk.errors import BadInput, PermanentError
from wattwerk.protocols.http_device import JsonHttp

DATA = "/mum-webservice/data.php"
START = "/start.php"


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
        out = {}
        for v in self.entry.values:
            if v.optional and any(key not in doc for key in v.add + v.subtract):
                continue
            plus = sum(_number(doc, key, self.device_id) for key in v.add)
            out[v.quantity] = (plus - sum(_number(doc, key, self.device_id) for key in v.subtract)) * v.scale
        return out

    async def command(self, command: str, value: float) -> None:
        raise PermanentError(f"{self.device_id}: the Energy Manager is read-only here")

    async def aclose(self) -> None:
        await self.http.aclose()
