"""A KEBA KeContact P30 on loopback: its UDP interface (``report 1/2/3``, ``curr``, ``ena``,
``setenergy``, ``display``) served from a ``SimDevice`` (e.g. ``SiteSim(...).evs[0]``).

Answers go to the sender's address, or to ``reply_port`` on the sender's host as the real box does
(it always answers to port 7090). ``curr`` and ``ena`` are forwarded as ``current_limit`` (A) and
``enable``; a command the simulated charger refuses answers ``TCH-ERR`` like the box.
"""

from __future__ import annotations

import json

from wattwerk.errors import BadInput
from wattwerk.sim.emulators import SimDevice, UdpEmulator

OK = "TCH-OK :done"
ERR = "TCH-ERR"


class KebaEmulator(UdpEmulator):
    """``await KebaEmulator(sim).start()``; ``port`` is the UDP port it listens on."""

    def __init__(
        self,
        sim: SimDevice,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply_port: int | None = None,
        serial: str = "22334455",
        product: str = "KC-P30-EC240422-E00",
    ) -> None:
        self.sim = sim
        self.host, self.port, self.reply_port = host, port, reply_port
        self.serial, self.product = serial, product
        self.requests: list[str] = []
        self.energy_limit = 0.0
        self.display = ""
        self.garbage: bytes | None = None  # answer this once instead of the real answer

    def report(self, number: int) -> dict:
        v = self.sim.values()
        state = int(v.get("state", 0))  # IEC: 0 no car, 1 plugged, 2 charging
        enabled = int(v.get("relay", 1.0))
        if number == 1:
            return {"ID": "1", "Product": self.product, "Serial": self.serial, "Firmware": "P30 v 3.10.16"}
        if number == 2:
            limit_ma = round(v.get("current_limit", 0.0) * 1000)
            keba_state = 3 if state == 2 else (2 if enabled else 5) if state == 1 else 1
            return {
                "ID": "2",
                "State": keba_state,
                "Error1": 0,
                "Error2": 0,
                "Plug": 7 if state else 1,
                "Enable sys": enabled,
                "Enable user": enabled,
                "Max curr": limit_ma if enabled else 0,
                "Max curr %": 1000,
                "Curr HW": 32000,
                "Curr user": limit_ma,
                "Curr FS": 0,
                "Tmo FS": 0,
                "Curr timer": 0,
                "Tmo CT": 0,
                "Setenergy": round(self.energy_limit * 10),
                "Output": 0,
                "Input": 0,
                "Serial": self.serial,
                "Sec": 1000,
            }
        if number == 3:
            phases = int(v.get("phases", 3)) or 3
            current = v.get("current", 0.0)
            out = {
                "ID": "3",
                "P": round(v.get("power", 0.0) * 1000),
                "PF": 990 if current else 0,
                "E pres": 0,
                "E total": round(v.get("energy", 0.0) * 10),
                "Serial": self.serial,
                "Sec": 1000,
            }
            for i in (1, 2, 3):
                out[f"U{i}"] = 230
                out[f"I{i}"] = round(current * 1000) if i <= phases else 0
            return out
        raise ValueError(number)

    def answer(self, text: str) -> str:
        parts = text.split()
        try:
            if parts[:1] == ["report"] and len(parts) == 2 and parts[1] in ("1", "2", "3"):
                return json.dumps(self.report(int(parts[1])))
            if parts[:1] == ["curr"] and len(parts) == 2:
                ma = int(parts[1])
                if ma != 0 and not 6000 <= ma <= 63000:
                    return ERR
                self.sim.apply("current_limit", ma / 1000.0)
                return OK
            if parts[:1] == ["ena"] and len(parts) == 2 and parts[1] in ("0", "1"):
                self.sim.apply("enable", float(parts[1]))
                return OK
            if parts[:1] == ["setenergy"] and len(parts) == 2:
                self.energy_limit = int(parts[1]) / 10.0
                return OK
            if parts[:1] == ["display"]:
                self.display = text
                return OK
        except (ValueError, BadInput):
            return ERR
        return ERR

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        text = data.decode("ascii", "replace").strip()
        self.requests.append(text)
        if self.garbage is not None:
            reply, self.garbage = self.garbage, None
        else:
            reply = self.answer(text).encode("ascii")
        target = addr if self.reply_port is None else (addr[0], self.reply_port)
        assert self._transport is not None
        self._transport.sendto(reply, target)
