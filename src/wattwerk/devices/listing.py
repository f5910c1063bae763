"""``wattwerk devices``: the catalogue as Markdown, JSON or CSV; ``docs/compatibility.md`` is its Markdown.

    wattwerk devices [--category C] [--format md|json|csv] [--target devices-target.csv]
                     [--site site.yaml] [--catalog-dir DIR]

A JSON row is ``{"category", "vendor", "models", "protocols", "capabilities", "status"}`` plus
``"id"`` and ``"reason"`` (why an entry is untested; empty when tested). ``--target`` adds, to the
Markdown, the reference list's rows and the entries that cover each (see ``coverage``).
User catalogue files (``--site``'s ``catalog_dirs``, ``--catalog-dir``, ``/etc/wattwerk/devices``) are
listed too, with status ``user`` and their file as ``origin`` (``"packaged"`` for the package's).
Regenerate the docs with ``wattwerk devices --format md --target ../shared/devices-target.csv >
docs/compatibility.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from wattwerk.devices.catalog import Item, load_catalog
from wattwerk.devices.status import status

REGENERATE = "wattwerk devices --format md --target ../shared/devices-target.csv > docs/compatibility.md"


def rows(items: Iterable[Item]) -> list[dict]:
    out = []
    for item in items:
        packaged = item.origin == "packaged"
        state, reason = status(item) if packaged else ("user", f"your own entry in {item.origin}")
        e = item.entry
        out.append(
            {
                "category": item.category,
                "vendor": item.vendor,
                "models": list(e.models),
                "protocols": list(e.protocols),
                "capabilities": list(e.capabilities),
                "status": state,
                "id": e.id,
                "reason": reason,
                "origin": item.origin,
            }
        )
    return out


def _norm(text: str) -> str:
    return text.replace("(uncertain)", "").strip().lower()


def coverage(target: Path, items: Iterable[Item]) -> list[tuple[dict[str, str], list[Item]]]:
    """Each row of the reference list with the entries covering it: same category and vendor, and
    one of the row's models among the entry's models (or the entry lists the row's whole models text)."""
    items = list(items)
    with target.open(encoding="utf-8") as fh:
        table = list(csv.DictReader(fh))
    out = []
    for row in table:
        models = {_norm(m) for m in row["models"].split(";")}
        hits = [
            i
            for i in items
            if i.category == row["category"]
            and _norm(i.vendor) == _norm(row["vendor"])
            and ({_norm(m) for m in i.entry.models} & (models | {_norm(row["models"])}))
        ]
        out.append((row, hits))
    return out


# reference rows that are not devices of this catalogue, and where they are handled instead
ELSEWHERE = {
    ("category", "tariff"): "outside the device catalogue: tariffs are wattwerk.market",
    ("category", "external_signal"): "outside the device catalogue: grid signals feed wattwerk.control",
    ("protocols", "SML"): "outside the device catalogue: SML meters are read by wattwerk.protocols.sml",
    ("protocols", "Speedwire"): "outside the device catalogue: SMA Speedwire (wattwerk.protocols.speedwire)",
}


def elsewhere(row: dict[str, str]) -> str | None:
    for (field, value), text in ELSEWHERE.items():
        if row.get(field, "") == value:
            return text
    return None


# the list's introduction (docs/compatibility.md): what tested means and where the tests are
_INTRO: tuple[str, ...] = (
    "An entry is **tested** when `tests/test_catalog_entries.py` (Modbus, SunSpec) or",
    "`tests/test_devices_native.py` (KEBA UDP, HTTP devices, relay switches, pulse counters) reads it",
    "from an emulator built from the same catalogue entry and, for a controllable device, writes each",
    "of its commands and sees the emulated device follow, and when it is also read from a hand-written",
    "table of the vendor's documented example values (raw Modbus words, a SunSpec chain, the documented",
    "JSON, UDP or RCT answers), with each command checked as the words or requests the device must",
    "receive (`tests/test_catalog_owned*.py` with their `tests/owned_*.py` tables and the shared harness",
    "`tests/owned_harness.py`), so that a wrong register map, word order, scale, JSON path or command",
    "fails its own test; `tests/test_catalog_independent.py` fails when a tested entry has no such table.",
    "The packaged HTTP, MQTT and websocket templates are tested by their tables only. Every other entry",
    "is **untested**, with the reason.",
    "",
    "To add a device, add an entry to `src/wattwerk/devices/catalog/<category>/<vendor>.yaml` (schema:",
    "`wattwerk.devices.profile`): its register map (address, type, scale or `_SF` register, unit as",
    "our quantity name, min/max, writable) or a SunSpec model set, its commands and capabilities, and",
    "the source of the register facts. The emulator test then covers it; add the vendor's documented",
    "example to a table (the guard asks for one); `wattwerk probe HOST` shows what a real device answers.",
    "",
    "A device that is not here, or an untested row whose register map its vendor has not published, runs",
    "from a catalogue file of your own beside the site file, with Modbus, HTTP/JSON or MQTT templates:",
    "see [custom devices](custom-devices.md) (an example per category).",
    "",
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(items: list[Item], target: Path | None = None) -> str:
    lines = [
        "# Compatibility list",
        "",
        f"Generated from `src/wattwerk/devices/catalog/` — do not edit; regenerate with `{REGENERATE}`.",
        "",
        *_INTRO,
    ]
    data = rows(items)
    tested = sum(1 for r in data if r["status"] == "tested")
    lines += [f"{len(data)} entries, {tested} tested.", ""]
    for category in sorted({r["category"] for r in data}):
        lines += [
            f"## {category}",
            "",
            "| vendor | models | protocols | capabilities | status |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in (r for r in data if r["category"] == category):
            state = r["status"] if r["status"] == "tested" else f"{r['status']}: {r['reason']}"
            lines.append(
                f"| {_cell(r['vendor'])} | {_cell('; '.join(r['models']))} | "
                f"{', '.join(r['protocols'])} | {', '.join(r['capabilities'])} | {_cell(state)} |"
            )
        lines.append("")
    if target is not None:
        lines += [
            "## Reference list coverage",
            "",
            "Each row of the reference compatibility list (`devices-target.csv`) and the catalogue",
            "entries that cover it.",
            "",
            "| category | vendor | models | protocols | entries | status |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        covered = 0
        for row, hits in coverage(target, items):
            states = {status(h)[0] for h in hits}
            state = (
                "tested"
                if "tested" in states
                else ("untested" if hits else (elsewhere(row) or "not in the catalogue yet"))
            )
            if state == "untested":
                state = "untested: " + "; ".join(sorted({status(h)[1] for h in hits}))
            covered += state == "tested"
            lines.append(
                f"| {row['category']} | {_cell(row['vendor'])} | {_cell(row['models'])} | "
                f"{_cell(row['protocols'])} | {', '.join(h.entry.id for h in hits) or '—'} | "
                f"{_cell(state)} |"
            )
        lines += ["", f"Rows covered by a tested entry: {covered}.", ""]
    return "\n".join(lines)


def render(fmt: str, items: list[Item], target: Path | None = None) -> str:
    if fmt == "json":
        return json.dumps(rows(items), indent=1, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf,
            fieldnames=[
                "category",
                "vendor",
                "models",
                "protocols",
                "capabilities",
                "status",
                "id",
                "reason",
                "origin",
            ],
            lineterminator="\n",
        )
        writer.writeheader()
        for r in rows(items):
            writer.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in r.items()})
        return buf.getvalue()
    return markdown(items, target)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--category", help="only this category (e.g. pv_inverter, ev_charger)")
    parser.add_argument("--format", choices=["md", "json", "csv"], default="md")
    parser.add_argument("--target", type=Path, help="reference list CSV to add row coverage (Markdown)")
    parser.add_argument("--site", type=Path, help="also list the user entries of a site file's catalog_dirs")
    parser.add_argument(
        "--catalog-dir",
        type=Path,
        action="append",
        default=[],
        help="also list the user catalogue files in this folder (repeatable)",
    )


def _catalog(args: argparse.Namespace) -> tuple[list[Item], list[str]]:
    """Packaged and user entries, and the user files' problems (``FILE:LINE: ...`` lines)."""
    from wattwerk.config.loader import ConfigError, load_config
    from wattwerk.devices.user_catalog import site_catalog

    written, folder = list(args.catalog_dir), Path(".")
    if args.site is not None:
        try:
            cfg = load_config(args.site)
        except ConfigError as exc:
            return list(load_catalog()), exc.lines
        written, folder = [*cfg.catalog_dirs, *written], cfg.folder
    items, problems = site_catalog(written, folder)
    return items, [line for _, lines in problems for line in lines]


def run(args: argparse.Namespace) -> int:
    catalog, problems = _catalog(args)
    for line in problems:
        print(line, file=sys.stderr)
    items = [i for i in catalog if args.category in (None, i.category)]
    if args.category and not items:
        cats = sorted({i.category for i in catalog})
        print(f"wattwerk devices: no category {args.category!r}; have {', '.join(cats)}", file=sys.stderr)
        return 2
    sys.stdout.write(render(args.format, items, args.target))
    return 1 if problems else 0
