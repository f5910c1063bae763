"""Relay switches on loopback, built from a catalogue entry's ``relay:`` section, driven by a ``SimDevice``:
Shelly Gen1/Gen2 and Tasmota over HTTP, KMTronic LAN relay boards over UDP.

When the outputs change, the emulator tells the simulated device what the contacts now mean: with an
SG-Ready map ``sim.apply("sgready", state)`` (a contact pair no map value names is refused), else
``sim.apply("relay", 0/1)``. Switch sockets (``meter: true``) report the sim's ``power`` and ``energy``.
"""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wattwerk.devices.profile import Entry, RelaySpec
from wattwerk.errors import BadInput
from wattwerk.sim.emulators import SimDevice, UdpEmulator
from wattwerk.sim.emulators.http_devices import HttpEmulator


class Outputs:
    """The relay outputs and what switching them does to the simulated device."""

    def __init__(self, spec: RelaySpec, sim: SimDevice, count: int = 8) -> None:
        self.spec, self.sim = spec, sim
        self.on = dict.fromkeys(range(0, count + 1), False)
        self.applied: list[tuple[str, float]] = []

    def switch(self, n: int, on: bool) -> None:
        if n not in self.on:
            raise KeyError(f"no output {n}")
        before = self.on[n]
        self.on[n] = on
        if n not in self.spec.outputs:
            return
        try:
            if self.spec.map is None:
                if n == self.spec.outputs[0]:
                    self.sim.apply("relay", float(on))
                return
            bits = [int(self.on[o]) for o in self.spec.outputs]
            state = next((k for k, v in self.spec.map.items() if v == bits), None)
            if state is not None:
                self.sim.apply("sgready", float(state))
        except BadInput:
            self.on[n] = before
            raise


class SwitchEmulator(HttpEmulator):
    """A Shelly (Gen1 or Gen2) or Tasmota switch for ``entry`` (``relay.dialect`` picks the API)."""

    def __init__(self, entry: Entry, sim: SimDevice) -> None:
        super().__init__(sim)
        assert entry.relay is not None and entry.relay.dialect != "kmtronic_udp"
        self.entry = entry
        self.dialect = entry.relay.dialect
        self.outputs = Outputs(entry.relay, sim, count=4)

    def routes(self) -> list[Route]:
        return [
            Route("/relay/{n:int}", self.handler(self._gen1_relay)),
            Route("/meter/{n:int}", self.handler(self._gen1_meter)),
            Route("/rpc/{method}", self.handler(self._rpc)),
            Route("/cm", self.handler(self._tasmota)),
        ]

    def _values(self) -> dict[str, float]:
        return self.sim.values()

    def _wrong(self, dialect: str) -> Response | None:
        if self.dialect != dialect:
            return JSONResponse({"error": "not found"}, status_code=404)
        return None

    async def _gen1_relay(self, request: Request) -> dict | Response:
        if (wrong := self._wrong("shelly_gen1")) is not None:
            return wrong
        n = request.path_params["n"]
        turn = request.query_params.get("turn")
        if turn is not None:
            if turn not in ("on", "off"):
                raise ValueError(f"turn={turn}")
            self.outputs.switch(n, turn == "on")
        return {"ison": self.outputs.on[n], "has_timer": False, "timer_remaining": 0, "source": "http"}

    async def _gen1_meter(self, request: Request) -> dict | Response:
        if (wrong := self._wrong("shelly_gen1")) is not None:
            return wrong
        v = self._values()
        return {
            "power": round(v.get("power", 0.0), 2),
            "is_valid": True,
            "total": round(v.get("energy", 0.0) * 60),
        }  # watt-minutes

    async def _rpc(self, request: Request) -> dict | Response:
        if (wrong := self._wrong("shelly_gen2")) is not None:
            return wrong
        method = request.path_params["method"]
        n = int(request.query_params.get("id", "0"))
        if method == "Switch.Set":
            on = request.query_params["on"]
            if on not in ("true", "false"):
                raise ValueError(f"on={on}")
            was = self.outputs.on[n]
            self.outputs.switch(n, on == "true")
            return {"was_on": was}
        if method == "Switch.GetStatus":
            v = self._values()
            return {
                "id": n,
                "source": "HTTP",
                "output": self.outputs.on[n],
                "apower": round(v.get("power", 0.0), 1),
                "voltage": 230.1,
                "aenergy": {"total": round(v.get("energy", 0.0), 3)},
            }
        return JSONResponse({"code": 404, "message": f"No handler for {method}"}, status_code=404)

    async def _tasmota(self, request: Request) -> dict | Response:
        if (wrong := self._wrong("tasmota")) is not None:
            return wrong
        words = request.query_params.get("cmnd", "").split()
        if not words:
            return {"Command": "Unknown"}
        name = words[0].lower()
        if name.startswith("power") and name[5:].isdigit():
            n = int(name[5:])
            if len(words) > 1:
                arg = words[1].lower()
                if arg not in ("on", "off", "1", "0"):
                    return {"Command": "Error"}
                self.outputs.switch(n, arg in ("on", "1"))
            return {f"POWER{n}": "ON" if self.outputs.on[n] else "OFF"}
        if name == "status" and words[1:] == ["8"]:
            v = self._values()
            return {
                "StatusSNS": {
                    "Time": "2026-01-01T00:00:00",
                    "ENERGY": {
                        "Total": round(v.get("energy", 0.0) / 1000.0, 3),
                        "Power": round(v.get("power", 0.0)),
                        "Voltage": 230,
                        "Current": round(v.get("power", 0.0) / 230.0, 3),
                    },
                }
            }
        return {"Command": "Unknown"}


class KmtronicEmulator(UdpEmulator):
    """A KMTronic LAN UDP relay board (8 relays): ``FF<nn><00|01>`` switches, ``FF0000`` answers the
    states as eight '0'/'1' characters. Switch commands are not answered, as on the board."""

    def __init__(self, entry: Entry, sim: SimDevice, *, host: str = "127.0.0.1", port: int = 0) -> None:
        assert entry.relay is not None
        self.outputs = Outputs(entry.relay, sim, count=8)
        self.host, self.port = host, port
        self.requests: list[str] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("ascii", "replace").strip().upper()
        self.requests.append(text)
        if len(text) != 6 or not text.startswith("FF"):
            return  # the board ignores what it does not understand
        try:
            n, arg = int(text[2:4], 16), int(text[4:6], 16)
        except ValueError:
            return
        if n == 0 and arg == 0:
            states = "".join("1" if self.outputs.on[i] else "0" for i in range(1, 9))
            assert self._transport is not None
            self._transport.sendto(states.encode("ascii"), addr)
        elif 1 <= n <= 8 and arg in (0, 1):
            with contextlib.suppress(BadInput):  # refused by the device: the relay stays as it was
                self.outputs.switch(n, bool(arg))
