"""The edge pages' strings: German, English and French have the same keys, and every key a page
names (``data-i18n``) or a script asks for (``WW.t("...")``) is in them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wattwerk.edge.web import STATIC_DIR

STATIC = Path(str(STATIC_DIR))


def test_catalogues_have_the_same_keys_and_every_used_one() -> None:
    cats = {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text()) for lang in ("de", "en", "fr")}
    assert cats["de"].keys() == cats["en"].keys() == cats["fr"].keys()
    used: set[str] = set()
    for page in STATIC.glob("*.html"):
        used |= set(re.findall(r'data-i18n="([^"]+)"', page.read_text()))
    for script in ("history.js", "sessions.js"):
        used |= {
            k
            for k in re.findall(r'WW\.t\("([a-z_.]+)"', (STATIC / script).read_text())
            if not k.endswith(".")
        }
    flows = re.findall(r'\["(\w+)", "[^"]+", "var', (STATIC / "history.js").read_text())
    used |= {f"history.{k}" for k in flows}
    assert {"nav.history", "sessions.csv", "history.note", "history.grid_import"} <= used
    assert used - cats["en"].keys() == set()
    for lang, cat in cats.items():  # every placeholder of a string is in each language's version
        for key, text in cat.items():
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", cats["en"][key])), (
                lang,
                key,
            )
