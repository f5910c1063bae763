"""Time-series store: raw readings, 1m/15m/1h/1d rollups, counter validation, retention.

* ``base`` — the ``Store`` protocol, ``Row``, ``WriteResult``, resolutions and retention tiers.
* ``buckets``, ``counters``, ``aggregate``, ``validate`` — pure, backend-independent logic.
* ``rollup`` — the rollup rules the edge store and the portal share: covered-time integration
  of power, local calendar periods.
* ``sqlite`` — ``SqliteStore``, the embedded backend (WAL).
* ``buffer`` — ``BufferedWriter``, batched writes for the edge.
* ``export`` — ``wattwerk export``.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # lazy, so `import wattwerk.store.buckets` stays light
    if name == "SqliteStore":
        from wattwerk.store.sqlite import SqliteStore

        return SqliteStore
    if name == "BufferedWriter":
        from wattwerk.store.buffer import BufferedWriter

        return BufferedWriter
    raise AttributeError(f"module 'wattwerk.store' has no attribute {name!r}")
