"""The portal pages' languages: German, English, French.

The catalogues are JSON files in ``static/portal/i18n/`` (one per language, the same keys), so
the server renders page chrome and the pages' JS formats the rest from the same table. The
language comes from ``?lang=``, then the ``lang`` cookie (the switch sets it), then the
browser's ``Accept-Language``; English when nothing matches.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

LANGS = ("de", "en", "fr")
DEFAULT = "en"
COOKIE = "lang"
FOLDER = Path(__file__).resolve().parent.parent / "static" / "portal" / "i18n"


@cache
def catalog(lang: str) -> dict[str, str]:
    """The strings of one language (unknown languages get English)."""
    if lang not in LANGS:
        lang = DEFAULT
    return json.loads((FOLDER / f"{lang}.json").read_text(encoding="utf-8"))


def text(lang: str, key: str) -> str:
    """One string; a key missing in a language falls back to English, then to the key itself."""
    return catalog(lang).get(key) or catalog(DEFAULT).get(key) or key


def parse_accept_language(header: str) -> list[str]:
    """Language tags of an ``Accept-Language`` header, best first (q-values honoured)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*":
            continue
        q = 1.0
        for p in params.split(";"):
            name, _, value = p.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            ranked.append((-q, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The page's language: explicit choice (query, then cookie), else the browser's preference."""
    for choice in (query, cookie):
        if choice and choice.lower() in LANGS:
            return choice.lower()
    for tag in parse_accept_language(accept_language or ""):
        base = tag.split("-", 1)[0]
        if base in LANGS:
            return base
    return DEFAULT
