"""User catalogue files: entries for devices the packaged catalogue lacks, kept outside the package.

A site file names folders (``catalog_dirs: [devices]``; relative to the site file's folder), and
``/etc/wattwerk/devices`` is read too when it exists. Each folder holds ``*.yaml`` files (directly or
one folder down) in the packaged catalogue's format (``devices/profile.py``: ``category``,
``vendor``, ``entries``), with the generic templates of ``devices/templates.py`` for HTTP/JSON and
MQTT devices. ``source:`` may be left out (the file is the source).

Problems are reported like the site file's, one ``FILE:LINE: FIELD: MESSAGE`` line each, with FILE
as the site file names it. An id that is also a packaged entry's (or another user entry's) is an
error: a user entry never silently replaces a packaged one, so a site file means the same device on
every install (copy the packaged entry under a new id to change it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml.comments import CommentedMap

from wattwerk.config.loader import SECTIONS, ConfigError, parse_document, plain, problem_lines
from wattwerk.config.messages import Problem, locate, problem_for, render
from wattwerk.devices.catalog import Item, load_catalog
from wattwerk.devices.profile import CatalogFile

DEFAULT_DIR = Path("/etc/wattwerk/devices")
MAX_FILES = 200  # a folder with more is not a catalogue (a wrong path, e.g. /etc)


def user_dirs(written: Iterable[Path], folder: Path) -> list[tuple[str, Path]]:
    """(name as written, path to read) of each folder: the site file's, then the default one."""
    out = [(str(p), p if p.is_absolute() else folder / p) for p in written]
    if DEFAULT_DIR.is_dir() and all(p.resolve() != DEFAULT_DIR for _, p in out):
        out.append((str(DEFAULT_DIR), DEFAULT_DIR))
    return out


def _problem(err: ErrorDetails, doc: CommentedMap) -> Problem:
    loc = tuple(err["loc"])
    if err["type"] == "value_error":  # our validators' own sentences
        line, path, _ = locate(doc, loc)
        return Problem(line, render(path), str(err.get("ctx", {}).get("error", err["msg"])))
    return problem_for(err, doc, CatalogFile)


def load_user_file(path: Path, shown: str) -> list[Item]:
    """The entries of one user file; ConfigError with its lines (``shown`` names the file in them)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{shown}: cannot read: {exc}"]) from None
    if not text.strip():
        raise ConfigError([f"{shown}: the file is empty; a catalogue file has category, vendor and entries"])
    try:
        doc = parse_document(text, shown)
    except ConfigError as exc:  # the site file's wording names its sections: say what this file needs
        wanted = "a mapping (category, vendor, entries)"
        raise ConfigError(
            [line.replace(f"a mapping of sections ({SECTIONS})", wanted) for line in exc.lines]
        ) from None
    data = plain(doc)
    for entry in data.get("entries") or []:
        if isinstance(entry, dict):
            entry.setdefault("source", [{"title": f"user catalogue file {shown}"}])
    try:
        parsed = CatalogFile.model_validate(data)
    except ValidationError as e:
        problems = sorted(
            {_problem(err, doc) for err in e.errors()}, key=lambda p: (p.line or 0, p.location, p.message)
        )
        raise ConfigError([p.format(shown) for p in problems]) from None
    return [Item(parsed.category, parsed.vendor, e, path, origin=shown) for e in parsed.entries]


def _files(name: str, folder: Path) -> list[tuple[Path, str]]:
    if not folder.is_dir():
        raise ConfigError([f"{name}: no such folder (catalog_dirs names folders of catalogue files)"])
    found = sorted(
        {*folder.glob("*.yaml"), *folder.glob("*.yml"), *folder.glob("*/*.yaml"), *folder.glob("*/*.yml")}
    )
    if len(found) > MAX_FILES:
        raise ConfigError([f"{name}: {len(found)} YAML files; a catalogue folder has at most {MAX_FILES}"])
    return [(p, str(Path(name) / p.relative_to(folder))) for p in found]


def load_user_catalog(dirs: list[tuple[str, Path]]) -> tuple[list[Item], list[tuple[int, list[str]]]]:
    """Every user entry of ``dirs`` ((name, path) pairs), and the problems found, as (index of the
    folder in ``dirs``, lines). A file with a problem contributes no entry; the others still count."""
    packaged = {i.entry.id: i for i in load_catalog()}
    items: list[Item] = []
    problems: list[tuple[int, list[str]]] = []
    for index, (name, folder) in enumerate(dirs):
        try:
            files = _files(name, folder)
        except ConfigError as exc:
            problems.append((index, exc.lines))
            continue
        for path, shown in files:
            try:
                found = load_user_file(path, shown)
            except ConfigError as exc:
                problems.append((index, exc.lines))
                continue
            clashes = _clashes(path, shown, found, packaged, items)
            if clashes:
                problems.append((index, clashes))
                continue
            items += found
    return items, problems


def _clashes(
    path: Path, shown: str, found: list[Item], packaged: dict[str, Item], earlier: list[Item]
) -> list[str]:
    """Ids of ``found`` taken by a packaged entry, an earlier user entry or another entry of the file."""
    doc = parse_document(path.read_text(encoding="utf-8"), shown)
    taken = {i.entry.id: i.origin for i in earlier}
    wrong = []
    for n, item in enumerate(found):
        key = item.entry.id
        if key in packaged:
            other = packaged[key]
            wrong.append(
                (
                    ("entries", n, "id"),
                    f'"{key}" is a packaged entry ({other.category}/'
                    f"{other.path.name}); give yours an id of its own",
                )
            )
        elif key in taken:
            wrong.append((("entries", n, "id"), f'"{key}" is defined in {taken[key]} too'))
        taken[key] = shown
    return problem_lines(doc, shown, wrong)


def site_catalog(written: Iterable[Path], folder: Path) -> tuple[list[Item], list[tuple[int, list[str]]]]:
    """The packaged entries followed by the user entries of a site's folders, and the user problems."""
    user, problems = load_user_catalog(user_dirs(written, folder))
    return [*load_catalog(), *user], problems
