"""The edge's pages: one shell (``static/shell.html``: head, header, navigation, scripts) around each
page's own part (``static/pages/<name>.html``: the header's page-specific items, ``</header>`` and
its ``<main>``). The navigation is made here once, so every page has the same links and strings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files

STATIC_DIR = files("wattwerk") / "static"

NAV = (  # (href, path, catalogue key, English text)
    ("./", "/", "nav.live", "Live"),
    ("history", "/history", "nav.history", "History"),
    ("sessions", "/sessions", "nav.sessions", "Sessions"),
    ("setup", "/setup", "nav.setup", "Add device"),
    ("wizard", "/wizard", "nav.wizard", "Installation"),
)
CURRENT = ' aria-current="page"'
UPLOT_CSS = '<link rel="stylesheet" href="static/vendor/uplot/uPlot.min.css">\n'
UPLOT_JS = '<script src="static/vendor/uplot/uPlot.iife.min.js"></script>\n'


@dataclass(frozen=True)
class Page:
    name: str  # static/pages/<name>.html and static/<name>.js
    title: str
    nav: bool = True  # the sign-in page has none
    charts: bool = False  # uPlot
    extra: tuple[str, ...] = ()  # further stylesheets/scripts of its own, by name (owner.css, owner.js)


PAGES = {
    "/": Page("index", "wattwerk", charts=True, extra=("app.js", "owner.css", "owner.js")),
    "/setup": Page("setup", "wattwerk · add a device"),
    "/wizard": Page("wizard", "wattwerk · installation"),
    "/login": Page("login", "wattwerk · sign in", nav=False),
    "/history": Page("history", "wattwerk · history"),
    "/sessions": Page("sessions", "wattwerk · charging sessions"),
}


def nav(path: str) -> str:
    links = "".join(
        f'<a href="{href}" data-i18n="{key}"{CURRENT if here == path else ""}>{text}</a>'
        for href, here, key, text in NAV
    )
    return f'  <nav>{links}<a href="login" id="sign-out" data-i18n="nav.signout">Sign out</a></nav>\n'


@cache
def render(path: str) -> str:
    """The page at ``path`` as the browser gets it (made once per process)."""
    page = PAGES[path]
    own = page.extra if page.extra else (f"{page.name}.js",)
    styles = "".join(f'<link rel="stylesheet" href="static/{n}">\n' for n in own if n.endswith(".css"))
    scripts = "".join(f'<script src="static/{n}"></script>\n' for n in own if n.endswith(".js"))
    return (
        (STATIC_DIR / "shell.html")
        .read_text(encoding="utf-8")
        .format(
            title=escape(page.title),
            vendor_styles=UPLOT_CSS if page.charts else "",
            styles=styles,
            nav=nav(path) if page.nav else "",
            page=(STATIC_DIR / "pages" / f"{page.name}.html").read_text(encoding="utf-8"),
            vendor_scripts=UPLOT_JS if page.charts else "",
            scripts=scripts,
        )
    )
