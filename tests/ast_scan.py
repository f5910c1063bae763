"""``ast.parse`` for the tests that scan the source tree, on a thread of its own.

CPython 3.11.7 can raise ``SystemError: AST constructor recursion depth mismatch`` from
``ast.parse`` of valid source in a thread whose recursion bookkeeping an earlier ``RecursionError``
left behind (the hostile-input tests provoke those on purpose, and pytest-xdist runs them in the
same worker). A fresh thread starts with clean bookkeeping, so the scans do not depend on which
tests ran before them.
"""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(ast.parse, source, filename).result()
