"""The one-line summary ``wattwerk check`` prints for a good site file (the command is
``wattwerk.edge.check``: it also dry-builds the edge, which this layer may not import)."""

from __future__ import annotations

from wattwerk.config.schema import SiteConfig


def summary(filename: str, config: SiteConfig) -> str:
    n = len(config.devices)
    devices = ", ".join(f"{dev.role}: {dev.id}" for dev in config.devices)
    return f"{filename}: OK — {n} device{'' if n == 1 else 's'}" + (f" ({devices})" if devices else "")
