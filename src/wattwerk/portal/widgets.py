"""Dashboard widgets: the modules a site's dashboard is built from, registered as plugins.

A widget is registered through the Python entry point group ``wattwerk.portal.widgets``; the
entry point names a :class:`Widget` (or a function returning one). An operator's package adds
its own (news, links, a logo, a new chart) the same way the built-ins below are registered in
wattwerk's own ``pyproject.toml`` — no fork needed.

In the page a widget is a card. Its JS module (a classic script under ``/static``) registers a
renderer with ``WWP.widget(id, {render(el, ctx)})``; ``ctx`` gives it the site, the chosen range,
the data it declared in ``needs`` and the language's strings. A widget with only ``html`` needs
no script. The mobile site is the same widgets in the responsive theme.

Data a widget may need (``needs``): ``live`` (newest values, refreshed every few seconds),
``series`` (the range's power and counter series), ``previous`` (the same for the period
before) and ``tariff`` (the site's tariff). A widget whose data is absent hides. The edge's
plan — PV forecast against actual and the planner's schedule — is the ``plan`` widget
(``portal/plans.py``), which fetches ``GET /api/v1/sites/{site}/plan`` itself.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)

GROUP = "wattwerk.portal.widgets"
NEEDS = frozenset({"live", "series", "previous", "tariff"})


@dataclass(frozen=True)
class Widget:
    id: str
    title: str  # an i18n key (see i18n.py) or plain text
    needs: tuple[str, ...] = ()
    script: str | None = None  # URL of its JS module, e.g. /static/portal/widgets/live.js
    html: str = ""  # static HTML content (escaped by the author; shown as given)
    order: int = 100  # place on the dashboard, small first
    wide: bool = False  # spans the dashboard's full width on a desktop

    def public(self, title: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": title,
            "needs": list(self.needs),
            "script": self.script,
            "html": self.html,
            "order": self.order,
            "wide": self.wide,
        }


class WidgetError(ValueError):
    pass


def check(widget: object) -> Widget:
    """A plugin's widget, or WidgetError saying what is wrong with it."""
    if callable(widget) and not isinstance(widget, Widget):
        widget = widget()
    if not isinstance(widget, Widget):
        raise WidgetError(f"not a Widget but {type(widget).__name__}")
    if not widget.id or not widget.id.replace("_", "").replace("-", "").isalnum():
        raise WidgetError(f"bad widget id {widget.id!r}: letters, digits, - and _ only")
    unknown = set(widget.needs) - NEEDS
    if unknown:
        raise WidgetError(f"widget {widget.id!r} needs unknown data {sorted(unknown)}")
    if widget.script is not None and not widget.script.startswith("/"):
        raise WidgetError(f"widget {widget.id!r}: script must be a path on this server")
    if not widget.script and not widget.html:
        raise WidgetError(f"widget {widget.id!r} has neither a script nor html")
    return widget


@dataclass
class Registry:
    widgets: list[Widget]
    broken: dict[str, str]  # entry point name -> why it was left out


def load(group: str = GROUP) -> Registry:
    """Every widget registered under ``group``, ordered; a broken plugin is logged and left out,
    never stops the portal. Two widgets with one id: the first by entry-point name wins."""
    found: dict[str, Widget] = {}
    broken: dict[str, str] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            widget = check(ep.load())
        except Exception as exc:  # a third party's plugin must not take the portal down
            broken[ep.name] = f"{type(exc).__name__}: {exc}"
            log.warning("dashboard widget %r (%s) left out: %s", ep.name, ep.value, broken[ep.name])
            continue
        if widget.id in found:
            broken[ep.name] = f"duplicate widget id {widget.id!r}"
            log.warning("dashboard widget %r left out: %s", ep.name, broken[ep.name])
            continue
        found[widget.id] = widget
    return Registry(sorted(found.values(), key=lambda w: (w.order, w.id)), broken)


def escape(text: str) -> str:
    """For plugin authors building ``html`` from their own data."""
    return html.escape(text, quote=True)


_JS = "/static/portal/widgets/"

# ------------------------------------------------------------ the built-in widgets
live = Widget("live", "widget.live", ("live",), _JS + "live.js", order=10)
selfuse = Widget("selfuse", "widget.selfuse", ("series",), _JS + "selfuse.js", order=20)
power_chart = Widget(
    "power_chart", "widget.power_chart", ("series",), _JS + "power_chart.js", order=30, wide=True
)
energy = Widget("energy", "widget.energy", ("series",), _JS + "energy.js", order=40)
cost = Widget("cost", "widget.cost", ("series",), _JS + "cost.js", order=50)  # asks .../cost itself
compare = Widget("compare", "widget.compare", ("series", "previous"), _JS + "compare.js", order=60)
