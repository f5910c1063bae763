"""Turn pydantic's validation errors into ``FILE:LINE: LOCATION: MESSAGE`` lines.

The line comes from the ruamel round-trip document, which knows where every key and item
was written. Union tags that pydantic puts into error locations (``connection.modbus_tcp.port``)
are dropped, so the location reads as the user wrote it (``connection.port``).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from wattwerk.config.types import num, show

Loc = tuple[str | int, ...]
DISCRIMINATORS = ("type", "role")

_TYPE_WORDS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "model_type": 'a mapping (indented "key: value" lines)',
    "model_attributes_type": 'a mapping (indented "key: value" lines)',
    "dict_type": 'a mapping (indented "key: value" lines)',
    "list_type": 'a list (lines starting with "- ")',
    "path_type": "a path such as ./var",
}
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
_BOUNDS = {
    "greater_than": ("gt", "must be greater than"),
    "greater_than_equal": ("ge", "must be at least"),
    "less_than": ("lt", "must be less than"),
    "less_than_equal": ("le", "must be at most"),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a site file. ``line`` is 1-based; None for file-level problems."""

    line: int | None
    location: str
    message: str

    def format(self, filename: str) -> str:
        where = f":{self.line}" if self.line is not None else ""
        loc = f" {self.location}:" if self.location else ""
        return f"{filename}{where}:{loc} {self.message}"


def render(path: Loc) -> str:
    """``("devices", 2, "connection", "port")`` -> ``devices[2].connection.port``."""
    out = ""
    for el in path:
        out += f"[{el}]" if isinstance(el, int) else (f".{el}" if out else str(el))
    return out


def locate(doc: Any, loc: Loc) -> tuple[int, Loc, bool]:
    """Follow ``loc`` through the document: (1-based line, the user's path, whether all of it exists).

    The line is that of the deepest node found: a key's line for mappings and lists, the value's
    line for scalars, an item's first line for list items.
    """
    node, line, path = doc, 1, []
    for el in loc:
        if isinstance(node, CommentedMap):
            if el in node:
                child = node[el]
                nested = isinstance(child, CommentedMap | CommentedSeq)
                line = _line_of(node, el, key_line=nested or child is None) or line
                node = child
                path.append(el if isinstance(el, str) else str(el))  # a mapping key, never an index
                continue
            if any(node.get(d) == el for d in DISCRIMINATORS):
                continue  # a union tag pydantic added to the location
        elif isinstance(node, CommentedSeq) and isinstance(el, int) and 0 <= el < len(node):
            line, node = node.lc.item(el)[0] + 1, node[el]
            path.append(el)
            continue
        return line, (*path, el), False
    return line, tuple(path), True


def _node(doc: Any, path: Loc) -> Any:
    node = doc
    for el in path:
        try:
            node = node[el]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _line_of(node: CommentedMap, key: Any, key_line: bool) -> int | None:
    """1-based line of a key (or its value) in a mapping, following ``<<:`` merges."""
    if key in node.lc.data:
        return (node.lc.key(key) if key_line else node.lc.value(key))[0] + 1
    for source in getattr(node, "merge", []) or []:
        source = source[1] if isinstance(source, tuple) else source
        if isinstance(source, CommentedMap) and key in source:
            return _line_of(source, key, key_line)
    return None


# ------------------------------------------------------------------ schema lookups


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _members(tp: Any) -> list[type[BaseModel]]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        found = [_unwrap(a) for a in typing.get_args(tp)]
        return [m for m in found if isinstance(m, type) and issubclass(m, BaseModel)]
    return []


def _tags(model: type[BaseModel]) -> tuple[Any, ...]:
    for d in DISCRIMINATORS:
        field = model.model_fields.get(d)
        if field is not None and typing.get_origin(field.annotation) is typing.Literal:
            return typing.get_args(field.annotation)
    return ()


def model_at(root: type[BaseModel], loc: Loc) -> tuple[type[BaseModel] | None, list[type[BaseModel]]]:
    """The model a pydantic location points into, and its union siblings (other roles or types)."""
    tp: Any = root
    siblings: list[type[BaseModel]] = []
    for el in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and el in tp.model_fields:
            tp, siblings = tp.model_fields[el].annotation, []
        elif typing.get_origin(tp) is list and isinstance(el, int):
            tp = typing.get_args(tp)[0]
        elif members := _members(tp):
            chosen = [m for m in members if el in _tags(m)]
            if not chosen:
                return None, []
            tp, siblings = chosen[0], [m for m in members if m is not chosen[0]]
        else:
            return None, []
    tp = _unwrap(tp)
    return (tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None), siblings


def did_you_mean(word: Any, options: typing.Iterable[str]) -> str:
    if not isinstance(word, str):
        return ""
    options = list(options)
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return f' (did you mean "{lowered[word.lower()]}"?)'
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _options(expected: str) -> list[str]:
    """pydantic's ``"'a', 'b' or 'c'"`` -> ``['"a"', '"b"', '"c"']``; numbers stay bare."""
    parts = re.split(r", | or ", expected)
    return [f'"{p[1:-1]}"' if p.startswith("'") and p.endswith("'") else p for p in parts]


def one_of(expected: str, got: Any) -> str:
    opts = _options(expected)
    listed = " or ".join(opts) if len(opts) <= 2 else "one of " + ", ".join(opts)
    return f"expected {listed}, got {show(got)}" + did_you_mean(got, [o.strip('"') for o in opts])


# ------------------------------------------------------------------ one error -> one problem


def _plural_of(loc: tuple[Any, ...], fields: list[str]) -> str:
    """What the tagged entries at ``loc`` are called: devices, connections, inputs ...
    (``loc`` ends with the union's tag and the unknown field, so the name comes before them)."""
    if "role" in fields:
        return "devices"
    noun = next((str(p) for p in reversed(loc[:-2]) if isinstance(p, str)), "entrie")
    return noun if noun.endswith("s") else noun + "s"


def problem_for(err: ErrorDetails, doc: Any, root: type[BaseModel]) -> Problem:
    kind, loc, got = err["type"], tuple(err["loc"]), err.get("input")
    ctx: dict[str, Any] = dict(err.get("ctx") or {})

    if kind == "missing":
        line, path, _ = locate(doc, loc[:-1])
        return Problem(line, render(path), f'missing field "{loc[-1]}"')
    if kind == "extra_forbidden":
        line, _, _ = locate(doc, loc)
        _, path, _ = locate(doc, loc[:-1])
        model, siblings = model_at(root, loc[:-1])
        fields = list(model.model_fields) if model else []
        hint = did_you_mean(loc[-1], fields)
        if not hint:
            owners = [str(_tags(m)[0]) for m in siblings if loc[-1] in m.model_fields and _tags(m)]
            if owners:
                hint = f" (only {' and '.join(owners)} {_plural_of(loc, fields)} have it)"
        return Problem(line, render(path), f'unknown field "{loc[-1]}"{hint}')
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = ctx.get("discriminator", "").strip("'")
        if kind == "union_tag_not_found":
            line, path, _ = locate(doc, loc)
            node = _node(doc, path)
            keys = [k for k in node if isinstance(k, str)] if isinstance(node, CommentedMap) else []
            close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            hint = f' ("{close[0]}" is not a field: did you mean "{key}"?)' if close else ""
            return Problem(line, render(path), f'missing field "{key}"{hint}')
        line, path, _ = locate(doc, (*loc, key))
        return Problem(line, render(path), one_of(ctx.get("expected_tags", ""), ctx.get("tag")))

    at = ctx.pop("at", ())
    line, path, _ = locate(doc, loc + tuple(at))
    where = render(path)
    if kind == "literal_error":
        return Problem(line, where, one_of(ctx.get("expected", ""), got))
    if kind in _TYPE_WORDS:
        hint = ""
        if kind == "string_type" and isinstance(got, int | float):
            hint = " (put it in quotes)"
        elif kind.startswith(("int", "float")) and isinstance(got, str) and _DECIMAL_COMMA.match(got):
            hint = f" (write decimals with a point: {got.strip().replace(',', '.')})"
        return Problem(line, where, f"expected {_TYPE_WORDS[kind]}, got {show(got)}{hint}")
    if kind in _BOUNDS:
        key, words = _BOUNDS[kind]
        return Problem(line, where, f"{words} {num(ctx.get(key))}, got {show(got)}")
    if kind == "invalid_key":
        return Problem(line, where, f"field names must be words, got {show(got)}")
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind == "string_too_long" else "items"
        size = len(got) if isinstance(got, str | list | dict) else "more"
        return Problem(line, where, f"at most {ctx.get('max_length')} {unit}, got {size}")
    if kind in ("string_too_short", "too_short"):
        n = ctx.get("min_length", 1)
        return Problem(line, where, "must not be empty" if n == 1 else f"needs at least {n} items")
    if kind in ("config", "duration", "device_id", "timezone", "url", "address"):
        return Problem(line, where, err["msg"])
    msg = err["msg"]
    return Problem(line, where, f"{msg[:1].lower()}{msg[1:]}, got {show(got)}")
