"""OCPP 1.6J and 2.0.1 central system over the ``ocpp`` library and ``websockets``."""

from wattwerk.protocols.ocpp.server import CentralSystem, Session
from wattwerk.protocols.ocpp.session import Settings
from wattwerk.protocols.ocpp.state import ChargerState, ConnectorState

__all__ = ["CentralSystem", "ChargerState", "ConnectorState", "Session", "Settings"]
