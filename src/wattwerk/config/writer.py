"""Write changes back into a site file, keeping its comments, order and layout.

The file stays the single source of truth: a change is applied to the round-trip document
(``load_document``), the result is validated exactly like ``wattwerk check`` (``validate_document``)
and only then written, atomically (a temporary file in the same folder, then a rename). An invalid
result raises ``ConfigError`` with the check's line-exact messages and leaves the file untouched.

    cfg = add_device("site.yaml", {"id": "pv2", "role": "pv", "kwp": 5.0,
                                   "connection": {"type": "modbus_tcp", "host": "192.168.1.40"}})
"""

from __future__ import annotations

import io
import itertools
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from wattwerk.config.loader import (
    ConfigError,
    load_document,
    parse_document,
    problem_lines,
    validate_document,
)
from wattwerk.config.messages import Loc
from wattwerk.config.schema import SiteConfig

Change = Callable[[CommentedMap], None]


Style = tuple[int, int, int]  # ruamel's indent: mapping, sequence, offset of the dash
DEFAULT_STYLE: Style = (2, 4, 2)  # the shipped site files: "devices:\n  - id: ..."


def guess_style(text: str) -> Style:
    """The file's own indentation, so that writing it back changes only what was changed."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    mapping: int | None = None
    offset: int | None = None
    for prev, line in itertools.pairwise(lines):
        if not prev.rstrip().endswith(":"):
            continue
        step = (len(line) - len(line.lstrip())) - (len(prev) - len(prev.lstrip()))
        if line.lstrip().startswith("- "):
            offset = step if offset is None and step >= 0 else offset
        elif step > 0 and mapping is None:
            mapping = step
    offset = DEFAULT_STYLE[2] if offset is None else offset
    return (mapping or DEFAULT_STYLE[0], offset + 2, offset)


def dump(doc: CommentedMap, style: Style = DEFAULT_STYLE) -> str:
    y = YAML(typ="rt")
    y.indent(mapping=style[0], sequence=style[1], offset=style[2])
    y.width = 110
    out = io.StringIO()
    y.dump(doc, out)
    return out.getvalue()


def to_node(value: Any) -> Any:
    """Plain Python -> round-trip nodes (so new entries are written in block style)."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            if v is not None:
                node[k] = to_node(v)
        return node
    if isinstance(value, list | tuple):
        return CommentedSeq(to_node(v) for v in value)
    return value


def render(path: str | Path, change: Change) -> tuple[str, SiteConfig]:
    """The file's new text after ``change`` and its validated configuration; nothing is written.

    ConfigError when the file cannot be read or the result is invalid; the result is parsed again
    from its text, so the messages' line numbers are those of the text that would be written.
    """
    name = str(path)
    doc = load_document(path)
    change(doc)
    text = dump(doc, guess_style(Path(path).read_text(encoding="utf-8")))
    return text, validate_document(parse_document(text, name), name)


def write_atomic(path: str | Path, text: str) -> None:
    """Replace ``path`` by ``text``: a temporary file in the same folder, fsync, rename."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Check = Callable[[SiteConfig], list[tuple[Loc, str]]]  # problems beyond the schema, e.g. the edge's dry build


def apply(path: str | Path, change: Change, check: Check | None = None) -> SiteConfig:
    """Change the file and write it when the result is valid (and ``check`` finds nothing in it);
    ConfigError with the lines `wattwerk check` would print (file untouched) when not."""
    text, cfg = render(path, change)
    if check is not None and (problems := check(cfg)):
        raise ConfigError(problem_lines(parse_document(text, str(path)), str(path), problems))
    write_atomic(path, text)
    return cfg


def add_device(
    path: str | Path, device: Mapping[str, Any], *, comment: str | None = None, check: Check | None = None
) -> SiteConfig:
    """Append a device to ``devices`` (created when missing); ``comment`` goes above the new entry;
    ``check``: see ``apply``."""

    def change(doc: CommentedMap) -> None:
        devices = doc.get("devices")
        if devices is None:
            devices = doc["devices"] = CommentedSeq()
        if not isinstance(devices, list):
            raise ConfigError([f"{path}: devices: expected a list, cannot add a device"])
        devices.append(to_node(device))
        if comment:
            devices.yaml_set_comment_before_after_key(len(devices) - 1, before=comment, indent=2)

    return apply(path, change, check)


def set_section(path: str | Path, key: str, value: Mapping[str, Any] | None) -> SiteConfig:
    """Replace (or remove, with ``None``) a top-level section such as ``portal``."""

    def change(doc: CommentedMap) -> None:
        if value is None:
            doc.pop(key, None)
        elif isinstance(doc.get(key), CommentedMap):
            old = doc[key]
            for k in [k for k in old if k not in value]:
                del old[k]
            for k, v in value.items():
                old[k] = to_node(v)
        else:
            doc[key] = to_node(value)

    return apply(path, change)


def set_role(path: str | Path, device_id: str, role: str) -> SiteConfig:
    """Give device ``device_id`` another role (e.g. make a meter the grid meter)."""

    def change(doc: CommentedMap) -> None:
        for dev in doc.get("devices") or []:
            if isinstance(dev, Mapping) and dev.get("id") == device_id:
                dev["role"] = role
                return
        raise ConfigError([f'{path}: no device with id "{device_id}"'])

    return apply(path, change)


__all__ = [
    "add_device",
    "apply",
    "dump",
    "guess_style",
    "render",
    "set_role",
    "set_section",
    "to_node",
    "write_atomic",
]
