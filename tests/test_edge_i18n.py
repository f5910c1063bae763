"""The edge pages' strings: German, English and French have the same keys, and every key a page
names (``data-i18n``) or a script asks for (``WW.t("...")``) is in them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from wattwerk.devices.catalog import load_catalog
from wattwerk.edge.pages import PAGES, STATIC_DIR, render
from wattwerk.edge.setup_network import CANNOT_APPLY

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


class _Texts(HTMLParser):
    """A page part's visible texts: (key of the nearest data-i18n element or None, text), and the
    data-i18n-placeholder keys with the placeholder they stand for."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.texts: list[tuple[str | None, str]] = []
        self.placeholders: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("data-i18n-placeholder"):
            self.placeholders[str(a["data-i18n-placeholder"])] = str(a.get("placeholder"))
        if tag not in ("input", "br", "img", "meta", "link"):
            self.stack.append(a.get("data-i18n") or (self.stack[-1] if self.stack else None))

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("input", "br", "img", "meta", "link") and self.stack:  # (</header> closes the shell's)
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append((self.stack[-1] if self.stack else None, " ".join(data.split())))


def test_setup_and_wizard_pages_are_in_de_en_fr() -> None:
    """Every visible text of the installer's pages has a key (the HTML's English is the catalogue's),
    and so has every text their scripts show (tx("key", "English")); German and French translate them."""
    cats = {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text()) for lang in ("de", "en", "fr")}
    for name in ("setup", "wizard"):
        page = _Texts()
        page.feed((STATIC / "pages" / f"{name}.html").read_text())
        untranslated = [text for key, text in page.texts if key is None]
        assert untranslated == [], (name, untranslated)
        keys = {key: text for key, text in page.texts if key}
        assert len(keys) >= 10, name
        for key, text in keys.items():  # the HTML's fallback is the English entry
            assert key.startswith(f"{name}.") and cats["en"][key] == text, (key, text)
        for key, text in page.placeholders.items():
            assert cats["en"][key] == text, (key, text)
        script = (STATIC / f"{name}.js").read_text()
        said = dict(re.findall(r'\btx\("([a-z_]+)", "([^"]+)"', script))
        assert len(said) >= 5, name
        for key, en in said.items():  # the script's fallback is the English entry
            assert cats["en"][f"{name}.{key}"] == en, (name, key)
        for key in [*keys, *page.placeholders, *(f"{name}.{k}" for k in said)]:
            assert cats["de"][key] and cats["fr"][key], key
    assert cats["de"]["setup.save"] == "Speichern" and cats["fr"]["setup.save"] == "Enregistrer"
    assert cats["de"]["wizard.meter_title"] == "3 · Netzzähler"
    for code, en in CANNOT_APPLY.items():  # why the network is not changed: the server's code
        assert cats["en"][f"wizard.net_{code}"] == en, code
        assert cats["de"][f"wizard.net_{code}"] != en and cats["fr"][f"wizard.net_{code}"] != en, code


def test_every_catalogue_category_has_its_name_in_each_language() -> None:
    """The setup page names a device's category (``setup.category.<folder>``) in the page's language."""
    categories = {e.category for e in load_catalog()}
    assert {"pv_inverter", "ev_charger", "heat_pump"} <= categories
    for lang in ("de", "en", "fr"):
        cat = json.loads((STATIC / "i18n" / f"{lang}.json").read_text())
        assert {f"setup.category.{c}" for c in categories} - cat.keys() == set(), lang


def test_live_page_cards_and_history_bars_are_in_de_en_fr() -> None:
    """Every label the live page's cards show (app.js: ``WW.tr("key", "English")``, the English entry
    the English page's text) and the history page's bars; the keys made from the server's words too:
    charge modes, restriction kinds and sources, SG-Ready states, today's flows (edge/live.py, flows.py).
    German and French translate them; no card label is hard-coded any more."""
    from wattwerk.edge import live
    from wattwerk.flows import ENERGY_COUNTERS

    cats = {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text()) for lang in ("de", "en", "fr")}
    en = cats["en"]
    app = (STATIC / "app.js").read_text()
    said = re.findall(r'WW\.tr\("([a-z_.]+)",\s*"([^"]+)"', app)
    assert (
        len(said) >= 30
        and {"live.soc", "live.plan_charges", "live.plan_expected", "today.time"} <= dict(said).keys()
    )
    for key, text in said:  # the script's fallback is the English entry
        assert en[key] == text, (key, text)

    def table(name: str) -> dict[str, str]:  # a `const NAME = { key: "English", ... };` of app.js
        match = re.search(rf"const {name} = \{{(.*?)\}};", app, re.S)
        assert match, name
        return dict(re.findall(r'(\w+): "([^"]+)"', re.sub(r"//[^\n]*", "", match.group(1))))

    made = {f"live.mode.{k}": v for k, v in table("MODES").items()}
    made |= {f"restr.kind.{k}": v for k, v in table("RESTRICTIONS").items()}
    assert {kind for kind, _ in live.LIMIT_KINDS.values()} <= table("RESTRICTIONS").keys()

    def slug(s: str) -> str:  # as app.js's slug
        return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")

    sources = {source for _, source in live.LIMIT_KINDS.values()} | {"limiter"}
    sources |= set(re.findall(r'"source": "([^"]+)"', Path(live.__file__).read_text()))
    assert {"site file", "grid connection", "ripple-control receiver"} <= sources
    made |= {f"restr.source.{slug(s)}": s for s in sources}
    made |= {f"live.sgready.{slug(s)}": s for s in live.SGREADY.values()}
    flows = [*ENERGY_COUNTERS, "grid", "pv", "battery", "house", "ev", "heat"]
    made |= {f"today.{k}": k.replace("_", " ", 1) for k in flows} | {"flow.dir.idle": "idle"}
    for key, text in made.items():  # what the English page showed before, unchanged
        assert en[key] == text, (key, text)
    history = (STATIC / "history.js").read_text()
    bars = set(re.findall(r'WW\.t\("(history\.(?:bar|legend)\w*)"', history))
    assert bars == {"history.bars", "history.bar_pv", "history.bar_grid", "history.legend_grid"}
    for key in [*dict(said), *made, *bars]:
        assert cats["de"][key] and cats["fr"][key], key
    de = cats["de"]
    assert (de["live.soc"], de["today.grid_import"], de["live.mode.pv"], de["live.vehicle"]) == (
        "Ladezustand",
        "Netzbezug",
        "nur PV",
        "Fahrzeug",
    )
    assert (de["restr.kind.ripple_control"], de["restr.source.ripple_control_receiver"]) == (
        "Rundsteuerung",
        "Rundsteuerempfänger",
    )
    assert cats["fr"]["live.soc"] == "État de charge"
    # no label left as text in the scripts' markup (before: <span>State of charge</span>, "…>prices: ${")
    text = r'(?<!=)>([^<>`${}"\n]*[A-Za-z][^<>`${}"\n]*)(?:</|\$\{|<[a-z])'  # a tag's text up to a tag or ${
    for name, script in (("app.js", app), ("history.js", history)):
        assert re.findall(text, script) == [], name


def test_live_page_has_no_untranslated_text() -> None:
    """Every visible text of the live page's own part (index.html) has a key, the HTML's English the
    catalogue's (the owner section's heading "Your controls" was English on every page)."""
    en = json.loads((STATIC / "i18n" / "en.json").read_text())
    page = _Texts()
    page.feed((STATIC / "pages" / "index.html").read_text())
    assert [text for key, text in page.texts if key is None] == []
    keys = dict((key, text) for key, text in page.texts if key)
    assert keys["live.owner"] == "Your controls" and len(keys) >= 8
    for key, text in keys.items():
        assert en[key] == text, (key, text)
