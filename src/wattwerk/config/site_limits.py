"""The site file's fixed grid limits, derived in one place.

The connection point (``site.grid``: the tighter of ``max_import_w`` and the main fuse, and
``max_export_w``) and the control section's fixed limits (``feed_in_limit_pct`` of the installed PV
power, ``peak_shaving_w``) by name, in W. The limiter's limit sources start from them (and add the
signals that come and go), the planner plans within the tightest of each side, and the checker of
the demo judges against them.
"""

from __future__ import annotations

from wattwerk.config.limits import ControlLimits
from wattwerk.config.schema import SiteConfig


def fixed_limits(
    import_w: float | None, export_w: float | None, control: ControlLimits, pv_rated_w: float
) -> dict[str, float]:
    """``import:grid``, ``export:grid``, ``export:feed_in``, ``import:peak_shaving`` as far as set."""
    out: dict[str, float] = {}
    if import_w is not None:
        out["import:grid"] = import_w
    if export_w is not None:
        out["export:grid"] = export_w
    if control.feed_in_limit_pct is not None and pv_rated_w:
        out["export:feed_in"] = control.feed_in_limit_pct / 100.0 * pv_rated_w
    if control.peak_shaving_w is not None:
        out["import:peak_shaving"] = control.peak_shaving_w
    return out


def pv_rated_w(cfg: SiteConfig) -> float:
    """The installed PV power (kWp x 1000) of a site file."""
    return sum(dev.kwp * 1000.0 for dev in cfg.by_role("pv"))  # type: ignore[attr-defined]


def site_limits(cfg: SiteConfig) -> dict[str, float]:
    g = cfg.site.grid
    return fixed_limits(g.import_limit_w, g.max_export_w, cfg.control, pv_rated_w(cfg))


def tightest(limits: dict[str, float], side: str) -> float | None:
    """The tightest limit of one side (``"import"`` or ``"export"``), or None."""
    ws = [w for name, w in limits.items() if name.startswith(f"{side}:")]
    return min(ws) if ws else None
