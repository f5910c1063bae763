"""The layer rule of docs/architecture.md: a module imports only from its own layer and the layers
above it. A new import that breaks the rule fails here with the module and the import named."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wattwerk"

# top to bottom; a module may import from its own layer and from any layer above it
LAYERS: list[set[str]] = [
    {"model", "errors", "snapshot", "flows", "__init__"},
    {"config"},
    {"protocols"},
    {"devices"},
    {"store"},
    {"market", "forecast"},
    {"control"},
    {"edge"},
    {"portal"},
    {"sim", "demo", "bench", "cli", "__main__"},
]


def layer_of(name: str) -> int:
    top = name.split(".")[0]
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"wattwerk.{top} is in no layer: add it to LAYERS and docs/architecture.md")


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wattwerk."):
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
    assert wrong == []
