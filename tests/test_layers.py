"""The layer rule of docs/architecture.md: a module imports only from its own layer and the layers
above it. A new import that breaks the rule fails here with the module and the import named."""

from __future__ import annotations

import ast
from pathlib import Path

from ast_scan import parse

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wattwerk"

# top to bottom; a module may import from its own layer and from any layer above it.
# Edge and portal are siblings on one layer: neither imports the other (see SIBLINGS).
LAYERS: list[set[str]] = [
    {"model", "vocabulary", "errors", "snapshot", "flows", "progress", "__init__", "__version__"},
    {"config"},
    {"protocols"},
    {"devices"},
    {"store"},
    {"market", "forecast"},
    {"control"},
    {"edge", "portal"},
    {"sim", "demo", "bench", "cli", "__main__"},
]


SIBLINGS: list[set[str]] = [{"edge", "portal"}]


def layer_of(name: str) -> int:
    top = name.split(".")[0]
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"wattwerk.{top} is in no layer: add it to LAYERS and docs/architecture.md")


def imports(path: Path) -> list[str]:
    return imports_in(path.read_text(encoding="utf-8"))


def imports_in(code: str) -> list[str]:
    """Every wattwerk module the code imports, relative to the package."""
    tree = parse(code)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "wattwerk":  # from wattwerk import edge
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wattwerk."):
            found.append(node.module.removeprefix("wattwerk."))
        elif isinstance(node, ast.Import):
            found += [a.name.removeprefix("wattwerk.") for a in node.names if a.name.startswith("wattwerk.")]
    return found


def test_no_module_imports_from_a_layer_below_its_own():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).with_suffix("").as_posix().replace("/", ".")
        own = layer_of(module)
        for target in imports(path):
            if layer_of(target) > own:
                wrong.append(f"wattwerk.{module} imports wattwerk.{target}")
            elif _siblings(module, target):
                wrong.append(f"wattwerk.{module} imports its sibling wattwerk.{target}")
    assert wrong == []


def _siblings(module: str, target: str) -> bool:
    a, b = module.split(".")[0], target.split(".")[0]
    return a != b and any({a, b} <= pair for pair in SIBLINGS)


def test_the_rule_sees_every_spelling_of_an_import():
    code = "from wattwerk import edge\nimport wattwerk.portal.api\nfrom wattwerk.sim.site import SiteSim\n"
    assert imports_in(code) == ["edge", "portal.api", "sim.site"]
    assert _siblings("portal.api", "edge.run") and _siblings("edge.web", "portal.app")
    assert not _siblings("edge.web", "edge.run")
