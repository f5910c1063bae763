"""One assembly (issue 13): a site file becomes a running edge only in ``edge/assembly.py``.

Nothing else in ``src/`` constructs the runtime or the control step, or builds the drivers or the
control cycle of a site file: ``wattwerk run``, the demo, the scenarios and the benchmarks all go
through ``assemble()``. Tests may still build the parts directly."""

from __future__ import annotations

import ast
from pathlib import Path

from ast_scan import parse

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wattwerk"
ASSEMBLY = PACKAGE / "edge" / "assembly.py"
BUILDERS = frozenset({"EdgeRuntime", "CycleStep", "build_devices", "build_cycle"})


def builder_calls(code: str) -> list[tuple[int, str]]:
    """(line, name) of every call of a builder, however it is spelt (``f(...)``, ``m.f(...)``, an
    alias from ``import ... as``)."""
    tree = parse(code)
    alias = {
        a.asname: a.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for a in node.names
        if a.asname
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        name = alias.get(name, name) if name else None
        if name in BUILDERS:
            found.append((node.lineno, name))
    return sorted(found)


def test_only_the_assembly_builds_an_edge() -> None:
    outside = [
        f"{path.relative_to(PACKAGE)}:{line}: {name}(...)"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != ASSEMBLY
        for line, name in builder_calls(path.read_text(encoding="utf-8"))
    ]
    assert outside == [], "build the edge with edge.assembly.assemble():\n" + "\n".join(outside)


def test_the_assembly_is_where_they_are_built() -> None:
    assert {name for _, name in builder_calls(ASSEMBLY.read_text(encoding="utf-8"))} == BUILDERS


def test_the_scan_sees_every_spelling() -> None:
    code = (
        "from wattwerk.edge import runtime\nfrom wattwerk.control.site import build_cycle as bc\n"
        "r = runtime.EdgeRuntime([])\nc = CycleStep(x)\nd = drivers.build_devices(cfg, ledger)\n"
        "e = build_cycle(cfg)\nEdgeRuntime\nf = bc(cfg)\n"
    )
    assert builder_calls(code) == [
        (3, "EdgeRuntime"),
        (4, "CycleStep"),
        (5, "build_devices"),
        (6, "build_cycle"),
        (8, "build_cycle"),
    ]
