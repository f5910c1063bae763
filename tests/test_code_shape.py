"""The code-shape rule of docs/architecture.md (issue 13): no module of src/wattwerk over 600 lines,
no function or method over 80 (from its ``def`` line to its last line, nested ones counted on
their own). A new offender fails here, named with its path, name and length."""

from __future__ import annotations

import ast
from pathlib import Path

from ast_scan import parse

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wattwerk"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80

# Offenders that others are changing right now; the lead splits them after their work lands and
# then removes them here. Keys: "path" for a module, "path::qualified.name" for a function.
# Nothing may be added to this set: split the new offender instead.
PENDING: set[str] = set()


def offenders_in(text: str, where: str) -> dict[str, int]:
    """Every part of one module's source over its limit: key (as in PENDING) -> its length."""
    out: dict[str, int] = {}
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        out[where] = lines

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    span = (child.end_lineno or child.lineno) - child.lineno + 1
                    if span > MAX_FUNCTION_LINES:
                        out[f"{where}::{name}"] = span
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(parse(text, filename=where), "")
    return out


def offenders() -> dict[str, int]:
    out: dict[str, int] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        out.update(offenders_in(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).as_posix()))
    return out


def test_no_module_over_600_lines_and_no_function_over_80() -> None:
    found = offenders()
    new = {key: n for key, n in found.items() if key not in PENDING}
    assert not new, (
        "over the code-shape limits (600 lines a module, 80 a function; split by job):\n"
        + "\n".join(f"  src/wattwerk/{key}: {n} lines" for key, n in sorted(new.items()))
    )


def test_pending_holds_only_offenders_still_there() -> None:
    """An entry of PENDING that has been split is removed, so the set only ever shrinks to empty."""
    found = offenders()
    gone = sorted(key for key in PENDING if key not in found)
    assert not gone, f"no longer over the limits, remove from PENDING: {', '.join(gone)}"


def test_the_scan_sees_long_modules_functions_methods_and_nested_ones() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(80))  # def line + 80 = 81 lines
    source = (
        f"def long():\n{body}\n\n"
        f"def short():\n{body.splitlines()[0]}\n\n"
        f"class K:\n    async def method(self):\n    {body.replace(chr(10), chr(10) + '    ')}\n\n"
        "def outer():\n"
        f"    def inner():\n    {body.replace(chr(10), chr(10) + '    ')}\n"
    )
    found = offenders_in(source, "m.py")
    assert found == {"m.py::long": 81, "m.py::K.method": 81, "m.py::outer.inner": 81, "m.py::outer": 82}
    assert offenders_in("x = 1\n" * 601, "big.py") == {"big.py": 601}
    assert offenders_in("x = 1\n" * 600, "ok.py") == {}
