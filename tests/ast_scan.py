"""``ast.parse`` for the tests that scan the source tree, on a thread of its own.

CPython 3.11.7 can raise ``SystemError: AST constructor recursion depth mismatch`` from
``ast.parse`` of valid source (a CPython bug, fixed in later 3.11 releases). Seen here in two
ways: in a thread whose recursion bookkeeping an earlier ``RecursionError`` left behind (the
hostile-input tests provoke those on purpose, and pytest-xdist runs them in the same worker), and
in a fresh thread while the garbage collector, run in the middle of building the tree, finalised
objects that earlier tests left behind (an event loop's tasks). So each parse runs on a fresh
thread with the collector paused, and a parse that still hits the bug is tried once more; a real
syntax error is raised at once.
"""

from __future__ import annotations

import ast
import gc
from concurrent.futures import ThreadPoolExecutor


def _parse_quietly(source: str, filename: str) -> ast.Module:
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source, filename)
    finally:
        if enabled:
            gc.enable()


def _on_fresh_thread(source: str, filename: str) -> ast.Module:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_parse_quietly, source, filename).result()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    try:
        return _on_fresh_thread(source, filename)
    except SystemError:  # the CPython bug, not the source: once more
        return _on_fresh_thread(source, filename)
