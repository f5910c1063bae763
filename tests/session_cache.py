"""A result computed once per test run, shared by the xdist workers (``pytest -n 2``).

Two tests that need the same expensive, deterministic result (a simulated day, say) may land on
different workers, so a module-scoped fixture or ``functools.cache`` would still compute it twice.
``once_per_run`` keeps the result as JSON in the run's own temporary root (the directory the workers'
``popen-gwN`` folders share, never another run's), behind an exclusive lock: the first worker computes
it, the other waits for it and reads it. The value comes back through JSON either way, so a test sees
the same types whichever worker computed it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def _run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once_per_run(tmp_path_factory: pytest.TempPathFactory, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` (JSON-serialisable) for ``key``, computed by one worker of this run only."""
    folder = _run_root(tmp_path_factory) / "once-per-run"
    folder.mkdir(exist_ok=True)
    name = re.sub(r"[^\w.-]", "_", key)
    done = folder / f"{name}.json"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if compute() raises
        if not done.exists():
            text = json.dumps(compute())
            tmp = done.with_suffix(".part")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(done)
        return json.loads(done.read_text(encoding="utf-8"))
