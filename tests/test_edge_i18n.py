"""The edge pages' strings: German, English and French have the same keys, and every key a page
names (``data-i18n``) or a script asks for (``WW.t("...")``) is in them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wattwerk.edge.pages import PAGES, STATIC_DIR, render

STATIC = Path(str(STATIC_DIR))


def test_catalogues_have_the_same_keys_and_every_used_one() -> None:
    cats = {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text()) for lang in ("de", "en", "fr")}
    assert cats["de"].keys() == cats["en"].keys() == cats["fr"].keys()
    used: set[str] = set()
    for path in PAGES:  # as served: the shell's navigation and each page's own part
        used |= set(re.findall(r'data-i18n="([^"]+)"', render(path)))
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


def test_live_page_status_flows_and_owner_section_have_their_strings() -> None:
    """The device status texts (edge/status.py), the flow labels (app.js) and the owner section
    (owner.js) in de/en/fr; the English catalogue says what the server says."""
    from wattwerk.edge.status import CAUSES, UNIT_HINTS

    en = json.loads((STATIC / "i18n" / "en.json").read_text())
    app, owner = (STATIC / "app.js").read_text(), (STATIC / "owner.js").read_text()
    used = set(re.findall(r'WW\.tr\("([a-z_.]+[a-z_])"', app + owner))
    used |= {f"owner.{k}" for k in re.findall(r'\btx\("([a-z_]+)"', owner)}
    used |= {f"flow.{k}" for k in re.findall(r'\{ key: "(\w+)", label:', app)}
    used |= {f"flow.dir.{d}" for d in re.findall(r'(?:pos|neg): "(\w+)"', app)} | {"flow.dir.unknown"}
    modes, battery = owner.split("batteryModes")[0], owner.split("batteryModes")[1][:200]
    used |= {f"owner.mode.{v}" for v in re.findall(r'\["(\w+)", "[^"]+"\]', modes)}
    used |= {f"owner.battery.{v}" for v in re.findall(r'\["(\w+)", "[^"]+"\]', battery)}
    used |= {f"state.{s}" for s in ("ok", "stale", "error", "failing", "waiting")}
    used |= {f"health.{k}" for k in ("grid", "warn", "warn_one", "ok", "none")}
    assert {"flow.grid", "flow.dir.export", "owner.save_plan", "owner.mode.minpv", "owner.battery.hold"} <= (
        used
    )
    assert used - en.keys() == set()
    for _, kind, cause, check in CAUSES:
        assert (en[f"status.{kind}.cause"], en[f"status.{kind}.check"]) == (cause, check)
    for vendor, text in UNIT_HINTS.items():
        assert en[f"status.unit.{vendor}"] == text
    for kind in ("waiting", "stale"):
        assert {f"status.{kind}.cause", f"status.{kind}.check"} <= en.keys()


def test_control_reasons_are_in_both_catalogues() -> None:
    """Every reason key (control/reasons.py) is in the edge's and the portal's catalogues in de/en/fr,
    the English entry equal to the server's template, each language with the same placeholders."""
    from wattwerk.control.reasons import TEMPLATES

    for folder in (STATIC / "i18n", STATIC / "portal" / "i18n"):
        cats = {lang: json.loads((folder / f"{lang}.json").read_text()) for lang in ("de", "en", "fr")}
        for key, template in TEMPLATES.items():
            assert cats["en"][f"reason.{key}"] == template, (folder, key)
            want = set(re.findall(r"\{\w+\}", template))
            for lang in ("de", "fr"):
                assert set(re.findall(r"\{\w+\}", cats[lang][f"reason.{key}"])) == want, (folder, lang, key)
