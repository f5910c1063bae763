"""Inbound control: the interfaces through which a direct marketer, an aggregator or the grid operator
sends the edge limits (``control.inbound`` in the site file; docs/signals.md). Each is a long-running
task of the edge; what it is told becomes channels the one limiter holds (control/inbound.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from wattwerk.config import SiteConfig
from wattwerk.control.devices import from_site
from wattwerk.edge.inbound.common import EdgeLink
from wattwerk.flows import SiteRoles
from wattwerk.model import Reading, utcnow
from wattwerk.snapshot import Snapshot


def edge_link(cfg: SiteConfig, runtime: Any, limits: Callable[[], Mapping[str, float]] | None) -> EdgeLink:
    """What the interfaces need of a running edge: an ``EdgeRuntime``, and ``limits`` as
    ``CycleStep.active_limits``."""
    accept: Callable[[Sequence[Reading]], None] = runtime.accept
    snapshot: Callable[[], Snapshot] = lambda: runtime.state.snapshot(utcnow())  # noqa: E731
    pv_rated = sum(d.rated_w for d in from_site(cfg) if d.kind == "pv")
    roles = SiteRoles.from_pairs([(d.id, d.role) for d in cfg.devices])
    return EdgeLink(accept, snapshot, limits or dict, roles, pv_rated, Path(cfg.store.data_dir))


def start_inbound(
    cfg: SiteConfig,
    runtime: Any,
    stop: asyncio.Event,
    limits: Callable[[], Mapping[str, float]] | None = None,
) -> list[Coroutine[Any, Any, None]]:
    """The tasks of the site file's ``control.inbound`` interfaces (none when it has none); each runs
    until ``stop`` is set. The protocol libraries are imported only for the interfaces configured."""
    inbound = cfg.control.inbound
    if inbound is None:
        return []
    link = edge_link(cfg, runtime, limits)
    jobs: list[Coroutine[Any, Any, None]] = []
    if inbound.iec104 is not None:
        from wattwerk.edge.inbound.iec104 import Iec104Outstation

        jobs.append(Iec104Outstation(inbound.iec104, link).run(stop))
    if inbound.modbus_server is not None:
        from wattwerk.edge.inbound.modbus_server import LimitServer

        jobs.append(LimitServer(inbound.modbus_server, link).run(stop))
    if inbound.openadr is not None:
        from wattwerk.edge.inbound.openadr import Ven

        jobs.append(Ven(inbound.openadr, link).run(stop))
    return jobs
