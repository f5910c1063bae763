"""Read a site file: YAML (ruamel round-trip, so comments and positions survive) -> SiteConfig.

Every failure becomes a ``ConfigError`` whose ``lines`` are ready to print, one per problem.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from wattwerk.config.messages import Loc, Problem, locate, problem_for, render
from wattwerk.config.schema import SiteConfig
from wattwerk.config.types import show
from wattwerk.errors import PermanentError

log = logging.getLogger(__name__)
EXTENSION = "x-"  # top-level keys with this prefix are free for YAML anchors
MAX_VALUES = 100_000  # far more than any site file; only alias bombs get there
# Hostile or broken files fail fast, in one line, before anything is built from them:
MAX_BYTES = 1 << 20  # a site file with 100 devices is about 30 kB
MAX_NODES = 20_000  # scalars, mappings and lists as written (the parser takes ~40 µs each)
MAX_DEPTH = 32  # nesting of mappings and lists; a site file needs 6
MAX_STRING = 1024  # characters in one key or value (tokens, paths, URLs fit)
DEMO_SITE = Path(__file__).resolve().parent.parent / "demo_site.yaml"
SECTIONS = ", ".join(SiteConfig.model_fields)


class ConfigError(PermanentError):
    """A site file that cannot be used. ``lines``: one ``FILE:LINE: LOCATION: MESSAGE`` per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def _yaml() -> YAML:
    return YAML(typ="rt")  # a new instance per load: YAML objects are not safe to share


class _TooBig(Exception):
    pass


def plain(node: Any, budget: list[int] | None = None) -> Any:
    """The document as plain Python (dict, list, str, int, float, bool, None) for pydantic.

    Aliases are expanded; ``budget`` caps the values produced so a file of nested aliases
    (a "billion laughs") fails fast instead of filling the memory.
    """
    budget = [MAX_VALUES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooBig
    if isinstance(node, dict):
        return {plain(k, budget): plain(v, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v, budget) for v in node]
    if isinstance(node, TaggedScalar):
        return str(node.value)
    if isinstance(node, bool) or node is None:
        return node
    for kind in (str, int, float):  # ruamel's ScalarInt, ScalarFloat, quoted strings ... subclass these
        if isinstance(node, kind):
            return kind(node)
    if isinstance(node, datetime | date):
        return node.isoformat()
    return node


def _scan(text: str, filename: str) -> None:
    """Size, nesting and value lengths from the parser's events, before a document is composed
    (composing recurses: a file nested a thousand levels deep would end in a RecursionError)."""
    depth = 0
    for nodes, event in enumerate(_yaml().parse(text), 1):
        line = event.start_mark.line + 1 if event.start_mark else 1
        if isinstance(event, MappingStartEvent | SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError([f"{filename}:{line}: nested deeper than {MAX_DEPTH} levels"])
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            depth -= 1
        elif isinstance(event, ScalarEvent) and len(event.value) > MAX_STRING:
            raise ConfigError(
                [
                    f"{filename}:{line}: a value of {len(event.value)} characters; "
                    f"at most {MAX_STRING} are allowed"
                ]
            )
        if nodes > MAX_NODES:
            raise ConfigError([f"{filename}:{line}: more than {MAX_NODES} values; not a site file"])


def parse_document(text: str, filename: str) -> CommentedMap:
    """The round-trip document of a site file's text (comments kept, for writing back later)."""
    if len(text) > MAX_BYTES:
        raise ConfigError([f"{filename}: {len(text)} characters; a site file has at most {MAX_BYTES}"])
    try:
        _scan(text, filename)
        doc = _yaml().load(text)
    except DuplicateKeyError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 1
        what = (e.problem or "duplicate key").split(" with value")[0].removeprefix("found ")
        raise ConfigError([f"{filename}:{line}: {what}"]) from None
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f":{mark.line + 1}" if mark else ""
        what = ", ".join(str(p) for p in (e.context, e.problem) if p) or "not valid YAML"
        if "\\t" in what or "\t" in what:
            what += " (indent with spaces, not tabs)"
        raise ConfigError([f"{filename}{where}: YAML syntax error: {what}"]) from None
    except YAMLError as e:
        raise ConfigError([f"{filename}: YAML syntax error: {e}"]) from None
    if doc is None:
        raise ConfigError([f'{filename}: the file is empty; a site file needs at least a "site" section'])
    if not isinstance(doc, CommentedMap):
        line = doc.lc.line + 1 if isinstance(doc, CommentedSeq) else 1
        raise ConfigError(
            [
                f"{filename}:{line}: expected a mapping of sections ({SECTIONS}) at the top level, "
                f"got {show(plain(doc))}"
            ]
        )
    return doc


def load_document(path: str | Path) -> CommentedMap:
    """Read a site file into its round-trip document; ConfigError when it cannot be read or parsed."""
    name = str(path)
    try:
        with open(path, "rb") as fh:  # never more than the limit into memory (a 192 MB file, /dev/zero)
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ConfigError([f"{name}: larger than {MAX_BYTES // (1 << 20)} MiB; not a site file"])
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{name}: no such file"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{name}: is a directory, not a site file"]) from None
    except PermissionError:
        raise ConfigError([f"{name}: permission denied"]) from None
    except UnicodeDecodeError as e:
        raise ConfigError([f"{name}: not UTF-8 text (byte {e.start})"]) from None
    except OSError as e:
        raise ConfigError([f"{name}: cannot read: {e.strerror or e}"]) from None
    return parse_document(text, name)


def _problem(err: ErrorDetails, doc: CommentedMap) -> Problem:
    try:
        return problem_for(err, doc, SiteConfig)
    except Exception:  # a message we did not foresee must still be a message, never a traceback
        log.debug("no message mapping for %r", err, exc_info=True)
        return Problem(None, render(tuple(err["loc"])), err["msg"])


def validate_document(doc: CommentedMap, filename: str) -> SiteConfig:
    """Validate a round-trip document; ConfigError lists every problem, ordered by line.

    Top-level keys starting with ``x-`` are ignored: they hold YAML anchors for reuse.
    """
    try:
        data = {k: v for k, v in plain(doc).items() if not (isinstance(k, str) and k.startswith(EXTENSION))}
    except (_TooBig, RecursionError):
        raise ConfigError([f"{filename}: more than {MAX_VALUES} values once aliases are expanded"]) from None
    try:
        return SiteConfig.model_validate(data).located(Path(filename).parent)
    except ValidationError as e:
        problems = sorted(
            {_problem(err, doc) for err in e.errors()}, key=lambda p: (p.line or 0, p.location, p.message)
        )
        raise ConfigError([p.format(filename) for p in problems]) from None


def problem_lines(doc: CommentedMap, filename: str, problems: Iterable[tuple[Loc, str]]) -> list[str]:
    """``FILE:LINE: FIELD: MESSAGE`` lines, ordered by line, for problems found after validation
    (``loc`` as in pydantic's errors: ``("devices", 2, "catalog")``)."""
    found = []
    for loc, message in problems:
        line, path, _ = locate(doc, tuple(loc))
        found.append(Problem(line, render(path), message))
    found = sorted(set(found), key=lambda p: (p.line or 0, p.location, p.message))
    return [p.format(filename) for p in found]


def parse_config(text: str, filename: str = "site.yaml") -> SiteConfig:
    """Validate a site file given as text; ``filename`` only names it in messages."""
    return validate_document(parse_document(text, filename), filename)


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site file; ConfigError (with ``.lines``) for anything wrong in it."""
    return validate_document(load_document(path), str(path))


def load_demo_config() -> SiteConfig:
    """The demo site shipped with the package (every device simulated)."""
    return load_config(DEMO_SITE)


__all__ = [
    "DEMO_SITE",
    "ConfigError",
    "Problem",
    "load_config",
    "load_demo_config",
    "load_document",
    "parse_config",
    "parse_document",
    "plain",
    "problem_lines",
    "validate_document",
]
