"""One relay driver for switches spoken to over HTTP or UDP, with each vendor's commands as data.

A catalogue entry with ``native: relay`` names a dialect and its outputs (``profile.RelaySpec``).
``relay`` switches the first output; ``sgready`` sets all outputs from the entry's map (the SG-Ready
contact table: 1 = [1, 0] blocked, 2 = [0, 0] normal, 3 = [0, 1] recommended on, 4 = [1, 1] forced
on). Readings: ``relay`` (first output), ``sgready`` (the state the contacts show, when mapped),
``power``/``energy`` for switch sockets that measure.

Dialects (vendors' public local APIs):
* Shelly Gen1: ``GET /relay/<n>?turn=on|off``, state ``GET /relay/<n>`` -> ``ison``; ``/meter/<n>``
  -> ``power`` W, ``total`` in watt-minutes.
* Shelly Gen2+: ``GET /rpc/Switch.Set?id=<n>&on=true|false``; ``/rpc/Switch.GetStatus?id=<n>`` ->
  ``output``, ``apower`` W, ``aenergy.total`` Wh.
* Tasmota: ``GET /cm?cmnd=Power<n> On|Off`` -> ``{"POWER<n>": "ON"}`` (``{"POWER": "ON"}`` on a device
  with one output); ``Status 8`` -> ``StatusSNS.ENERGY``
  ``Power`` W, ``Total`` kWh.
* KMTronic LAN UDP relay boards (port 12345): ASCII ``FF<nn><00|01>`` switches relay nn (01..08),
  ``FF0000`` answers the states of all relays as ``'0'``/``'1'`` characters, relay 1 first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from wattwerk.devices.native import NativeDevice
from wattwerk.devices.profile import Entry
from wattwerk.errors import BadInput, PermanentError, RetryableError
from wattwerk.protocols.http_device import JsonHttp
from wattwerk.vocabulary import Command


@dataclass(frozen=True)
class HttpDialect:
    """Paths are format strings over ``n`` (output) and ``on`` (the dialect's on/off words)."""

    switch: str
    words: tuple[str, str]  # (off, on) as the dialect spells them in ``switch``
    status: str
    state_key: str  # where the output state sits in the status answer (dots for nesting)
    meter: str | None = None
    power_key: str | None = None
    energy_key: str | None = None
    energy_scale: float = 1.0  # to Wh
    single_key: str | None = None  # the state's key when the device has one output only


HTTP_DIALECTS: dict[str, HttpDialect] = {
    "shelly_gen1": HttpDialect(
        "/relay/{n}?turn={on}",
        ("off", "on"),
        "/relay/{n}",
        "ison",
        "/meter/{n}",
        "power",
        "total",
        1.0 / 60.0,
    ),
    "shelly_gen2": HttpDialect(
        "/rpc/Switch.Set?id={n}&on={on}",
        ("false", "true"),
        "/rpc/Switch.GetStatus?id={n}",
        "output",
        "/rpc/Switch.GetStatus?id={n}",
        "apower",
        "aenergy.total",
        1.0,
    ),
    "tasmota": HttpDialect(
        "/cm?cmnd=Power{n}%20{on}",
        ("Off", "On"),
        "/cm?cmnd=Power{n}",
        "POWER{n}",
        "/cm?cmnd=Status%208",
        "StatusSNS.ENERGY.Power",
        "StatusSNS.ENERGY.Total",
        1000.0,
        "POWER",  # Tasmota names the key POWER<n> only with more than one output (GetPowerDevice)
    ),
}

KMTRONIC_PORT = 12345
KMTRONIC_STATUS = "FF0000"


def kmtronic_switch(output: int, on: bool) -> str:
    return f"FF{output:02X}{1 if on else 0:02X}"


def _path(doc: object, key: str) -> object:
    for part in key.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _on(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.upper() in ("ON", "OFF"):
        return value.upper() == "ON"
    raise BadInput("field", f"{where}: output state {value!r} is neither on nor off")


class KmtronicUdp:
    """One request at a time to a KMTronic UDP board; the status answer is 8 '0'/'1' characters."""

    def __init__(self, host: str, port: int = KMTRONIC_PORT, timeout: float = 2.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._lock = asyncio.Lock()

    async def send(self, command: str, answer: bool) -> str:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[bytes] = loop.create_future()

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                if not got.done():
                    got.set_result(data)

        async with self._lock:
            transport, _ = await loop.create_datagram_endpoint(Proto, remote_addr=(self.host, self.port))
            try:
                transport.sendto(command.encode("ascii"))
                if not answer:
                    return ""
                data = await asyncio.wait_for(got, self.timeout)
            except TimeoutError:
                raise RetryableError(f"KMTronic {self.host}: no answer to {command}") from None
            finally:
                transport.close()
        text = data.decode("ascii", "replace").strip()
        if not text or set(text) - {"0", "1"}:
            raise BadInput("field", f"KMTronic {self.host}: status {text!r} is not 0/1 per relay")
        return text


class RelayDevice(NativeDevice):
    """Relay outputs over HTTP (Shelly, Tasmota) or UDP (KMTronic), as the entry's dialect says."""

    def __init__(
        self, entry: Entry, *, http: JsonHttp | None = None, udp: KmtronicUdp | None = None, **kw: object
    ) -> None:
        super().__init__(entry, **kw)  # type: ignore[arg-type]
        assert entry.relay is not None
        self.spec = entry.relay
        self.http, self.udp = http, udp
        if (self.spec.dialect == "kmtronic_udp" and udp is None) or (
            self.spec.dialect != "kmtronic_udp" and http is None
        ):
            raise PermanentError(f"{entry.id}: dialect {self.spec.dialect} needs its client")

    async def states(self) -> list[bool]:
        """The state of each of the entry's outputs."""
        if self.udp is not None:
            text = await self.udp.send(KMTRONIC_STATUS, answer=True)
            if max(self.spec.outputs) > len(text):
                raise BadInput(
                    "field", f"{self.device_id}: status {text!r} has no relay {max(self.spec.outputs)}"
                )
            return [text[n - 1] == "1" for n in self.spec.outputs]
        d = HTTP_DIALECTS[self.spec.dialect]
        assert self.http is not None
        out = []
        for n in self.spec.outputs:
            doc = await self.http.get(d.status.format(n=n))
            value = _path(doc, d.state_key.format(n=n))
            if value is None and d.single_key is not None:
                value = _path(doc, d.single_key)
            out.append(_on(value, f"{self.device_id} output {n}"))
        return out

    async def fetch(self) -> dict[str, float]:
        states = await self.states()
        out = {"relay": float(states[0])}
        if self.spec.map is not None:
            bits = [int(s) for s in states]
            for value, want in self.spec.map.items():
                if want == bits:
                    out["sgready"] = float(value)
        if self.spec.meter and self.http is not None:
            d = HTTP_DIALECTS[self.spec.dialect]
            assert d.meter and d.power_key and d.energy_key
            doc = await self.http.get(d.meter.format(n=self.spec.outputs[0]))
            power, energy = _path(doc, d.power_key), _path(doc, d.energy_key)
            for name, value in (("power", power), ("energy", energy)):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise BadInput("field", f"{self.device_id}: {name} missing or not a number: {value!r}")
            out["power"] = float(power)  # type: ignore[arg-type]
            out["energy"] = float(energy) * d.energy_scale  # type: ignore[arg-type]
        return out

    async def _switch(self, n: int, on: bool) -> None:
        if self.udp is not None:
            await self.udp.send(kmtronic_switch(n, on), answer=False)
            return
        d = HTTP_DIALECTS[self.spec.dialect]
        assert self.http is not None
        await self.http.get(d.switch.format(n=n, on=d.words[on]))

    async def command(self, command: str, value: float) -> None:
        if command == Command.RELAY:
            wanted = {self.spec.outputs[0]: bool(value)}
        elif command == Command.SGREADY and self.spec.map is not None:
            bits = self.spec.map.get(round(value))
            if bits is None:
                raise PermanentError(f"{self.device_id}: sgready {value} not one of {sorted(self.spec.map)}")
            wanted = dict(zip(self.spec.outputs, map(bool, bits), strict=True))
        else:
            raise PermanentError(f"{self.device_id}: {self.entry.id} has no {command} command")
        # switch off first, then on: passing through 'blocked' (1/0) is avoided only where possible,
        # but never through 'forced on' (1/1) by accident
        for n, on in sorted(wanted.items(), key=lambda kv: kv[1]):
            await self._switch(n, on)
        if self.udp is not None:  # UDP switching is not acknowledged: read back
            got = await self.states()
            want = [wanted.get(n, s) for n, s in zip(self.spec.outputs, got, strict=True)]
            if got != want:
                raise RetryableError(f"{self.device_id}: relays show {got} after switching to {want}")

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()
