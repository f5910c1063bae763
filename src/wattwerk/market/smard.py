"""Reader for SMARD.de "Großhandelspreise" CSV downloads (Bundesnetzagentur | SMARD.de, CC BY 4.0).

Format: UTF-8 with BOM, ``;`` separated, decimal comma, ``-`` for no value, prices in €/MWh,
``Datum von`` in German local time without offset. The spring-forward hour is absent and the
fall-back hour ``02:00`` appears twice (CEST first, then CET), which ``ambiguous='infer'`` resolves
from the order of the rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from wattwerk.market.prices import PriceSeries

DE_LU = "Deutschland/Luxemburg"


def read_smard_csv(path: str | Path, zone: str = DE_LU, tz: str = "Europe/Berlin") -> PriceSeries:
    """Day-ahead prices of one bidding zone column (matched by its prefix) as €/kWh per slot.

    Raises ValueError naming the columns present when ``zone`` is not one of them, and when
    the rows are not a contiguous grid of one slot length.
    """
    df = pd.read_csv(path, sep=";", decimal=",", thousands=".", na_values=["-"], encoding="utf-8-sig")
    cols = [c for c in df.columns if c.startswith(zone)]
    if not cols:
        raise ValueError(f"{path}: no column for {zone!r}; have {', '.join(df.columns[2:])}")
    local = pd.to_datetime(df["Datum von"], format="%d.%m.%Y %H:%M")
    starts = pd.DatetimeIndex(local).tz_localize(tz, ambiguous="infer").tz_convert("UTC")
    secs = starts.as_unit("s").asi8
    steps = np.unique(np.diff(secs)) // 60 if len(starts) > 1 else np.array([60])
    if len(steps) != 1:
        raise ValueError(f"{path}: rows are not evenly spaced (steps {steps.tolist()} min)")
    values = pd.to_numeric(df[cols[0]], errors="coerce").to_numpy(dtype=float) / 1000.0
    return PriceSeries(starts[0].to_pydatetime(), int(steps[0]), values, "EUR/kWh", f"smard:{zone}")
