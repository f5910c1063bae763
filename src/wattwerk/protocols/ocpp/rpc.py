"""The RPC layer shared by both versions: answer malformed or unexpected frames with the
CALLERROR the version's spec names, and count every one.

The ``ocpp`` library logs and drops a frame it cannot parse (no answer at all) and swaps
NotImplemented / NotSupported for actions it has no handler for; both specs say an unknown
action is ``NotImplemented`` and a known one we do not serve is ``NotSupported``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, MessageType, unpack
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

from wattwerk.errors import InputLedger

log = logging.getLogger("wattwerk.ocpp")

# the library's code -> the code OCPP 1.6 spells (1.6 predates the renames of 2.0)
V16_CODES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "RpcFrameworkError": "ProtocolError",
    "MessageTypeNotSupported": "ProtocolError",
}
KNOWN_ACTIONS = {"1.6": {a.value for a in Action16}, "2.0.1": {a.value for a in Action201}}


def _unique_id(raw: str | bytes) -> str:
    """The message id of a frame we could not unpack, or "-1" (2.0.1 §4.2.3) when it has none."""
    try:
        msg = json.loads(raw)
    except (ValueError, TypeError):
        return "-1"
    if isinstance(msg, list) and len(msg) > 1 and isinstance(msg[1], str):
        return msg[1]
    return "-1"


def _frame_error(raw: str | bytes, exc: OCPPError) -> tuple[str, str]:
    """(2.0.1 code, description) for a frame ``unpack`` refused."""
    try:
        msg = json.loads(raw)
    except (ValueError, TypeError):
        return "RpcFrameworkError", "message is not valid JSON"
    if isinstance(msg, list) and msg and isinstance(msg[0], int) and msg[0] not in (2, 3, 4):
        return "MessageTypeNotSupported", f"message type {msg[0]} is not known"
    return "RpcFrameworkError", f"message is not an OCPP RPC frame: {exc.description}"


class RpcGuard:
    """Mixin before ``ocpp.ChargePoint``: replaces ``route_message``."""

    id: str
    ledger: InputLedger
    route_map: dict[str, dict[str, Any]]
    _ocpp_version: str

    def code(self, code: str) -> str:
        """An error code as this connection's version spells it."""
        return V16_CODES.get(code, code) if self._ocpp_version == "1.6" else code

    def count(self, code: str, message: str) -> None:
        errors = self.state.errors  # type: ignore[attr-defined]
        errors[code] = errors.get(code, 0) + 1
        self.ledger.record(self.id, code, message)

    async def answer_error(self, unique_id: str, code: str, description: str) -> None:
        code = self.code(code)
        self.count(code, description)
        await self._send(CallError(unique_id, code, description, {}).to_json())  # type: ignore[attr-defined]

    async def route_message(self, raw_msg: str | bytes) -> None:
        try:
            msg = unpack(raw_msg)
        except OCPPError as exc:
            code, description = _frame_error(raw_msg, exc)
            if self._ocpp_version == "1.6" and code == "RpcFrameworkError" and "JSON" in description:
                code = "FormationViolation"
            await self.answer_error(_unique_id(raw_msg), code, description)
            return
        if msg.message_type_id != MessageType.Call:
            await super().route_message(raw_msg)  # type: ignore[misc]
            return
        assert isinstance(msg, Call)
        if not isinstance(msg.action, str) or not isinstance(msg.payload, dict):
            await self.answer_error(str(msg.unique_id), "FormatViolation", "action or payload: wrong type")
            return
        if msg.action not in self.route_map:
            known = msg.action in KNOWN_ACTIONS.get(self._ocpp_version, set())
            code = "NotSupported" if known else "NotImplemented"
            why = "not served here" if known else "not an action of this version"
            await self.answer_error(msg.unique_id, code, f"{msg.action}: {why}")
            return
        try:
            await self._handle_call(msg)  # type: ignore[attr-defined]
        except OCPPError as exc:
            code = exc.code
            if code == "ProtocolError" and self._ocpp_version != "1.6":
                code = "OccurrenceConstraintViolation"  # the library's "required field missing"
            await self.answer_error(msg.unique_id, code, f"{msg.action}: {exc.description}")
