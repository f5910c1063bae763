"""Loading the catalogue: every ``catalog/<category>/<vendor>.yaml``, validated on load."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML

from wattwerk.devices.profile import CatalogFile, Entry
from wattwerk.errors import PermanentError

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"


@dataclass(frozen=True, slots=True)
class Item:
    """One catalogue entry with the file it came from; ``origin``: "packaged", or the user file as the
    site file names it (``devices/user_catalog.py``)."""

    category: str
    vendor: str
    entry: Entry
    path: Path
    origin: str = "packaged"

    @property
    def key(self) -> str:
        return f"{self.category}/{self.entry.id}"


def load_file(path: Path) -> CatalogFile:
    """One catalogue file, validated; PermanentError naming the file and field when it is wrong."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        parsed = CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise PermanentError(f"{path}: {exc}") from exc
    except Exception as exc:  # YAML syntax errors come in several classes
        raise PermanentError(f"{path}: cannot read: {exc}") from exc
    if parsed.category != path.parent.name:
        raise PermanentError(f"{path}: category {parsed.category!r} but the file is in {path.parent.name}/")
    return parsed


@cache
def load_catalog(root: Path = CATALOG_DIR) -> tuple[Item, ...]:
    items: list[Item] = []
    for path in sorted(root.glob("*/*.yaml")):
        cat = load_file(path)
        items += [Item(cat.category, cat.vendor, e, path) for e in cat.entries]
    ids = [i.entry.id for i in items]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise PermanentError(f"duplicate catalogue ids: {', '.join(dupes)}")
    return tuple(items)


def find(entry_id: str) -> Item:
    for item in load_catalog():
        if item.entry.id == entry_id:
            return item
    raise PermanentError(f"no catalogue entry {entry_id!r}")
