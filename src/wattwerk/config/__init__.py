"""The site file (``site.yaml``): schema and loading with line-exact error messages (``wattwerk check``
adds what the edge's dry build refuses: ``wattwerk.edge.check``).

    from wattwerk.config import load_config, ConfigError
    try:
        cfg = load_config("site.yaml")
    except ConfigError as e:
        print("\\n".join(e.lines))   # site.yaml:14: devices[2].connection.port: expected an integer, ...

See docs/configuration.md for every field and its default.
"""

from wattwerk.config.check import summary
from wattwerk.config.connections import (
    Connection,
    HttpConnection,
    ModbusRtuConnection,
    ModbusTcpConnection,
    MqttConnection,
    SerialConnection,
    SimConnection,
    TcpConnection,
    UdpConnection,
)
from wattwerk.config.devices import (
    DEVICE_MODELS,
    ROLES,
    Battery,
    Chp,
    Device,
    DeviceBase,
    Electrolyser,
    EvCharger,
    EvLimits,
    FuelCell,
    GridMeter,
    HeatingRod,
    HeatPump,
    HeatPumpLimits,
    Limits,
    Pv,
    Submeter,
    Switch,
)
from wattwerk.config.loader import (
    DEMO_SITE,
    ConfigError,
    load_config,
    load_demo_config,
    load_document,
    parse_config,
    parse_document,
    validate_document,
)
from wattwerk.config.schema import (
    RESOLUTIONS,
    Grid,
    Location,
    Mqtt,
    Portal,
    RetentionTier,
    Site,
    SiteConfig,
    Store,
    Strategy,
    Tariff,
)
from wattwerk.config.types import parse_duration

__all__ = [
    "DEMO_SITE",
    "DEVICE_MODELS",
    "RESOLUTIONS",
    "ROLES",
    "Battery",
    "Chp",
    "ConfigError",
    "Connection",
    "Device",
    "DeviceBase",
    "Electrolyser",
    "EvCharger",
    "EvLimits",
    "FuelCell",
    "Grid",
    "GridMeter",
    "HeatPump",
    "HeatPumpLimits",
    "HeatingRod",
    "HttpConnection",
    "Limits",
    "Location",
    "ModbusRtuConnection",
    "ModbusTcpConnection",
    "Mqtt",
    "MqttConnection",
    "Portal",
    "Pv",
    "RetentionTier",
    "SerialConnection",
    "SimConnection",
    "Site",
    "SiteConfig",
    "Store",
    "Strategy",
    "Submeter",
    "Switch",
    "Tariff",
    "TcpConnection",
    "UdpConnection",
    "load_config",
    "load_demo_config",
    "load_document",
    "parse_config",
    "parse_document",
    "parse_duration",
    "summary",
    "validate_document",
]
