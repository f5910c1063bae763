"""Backtest of household load forecasts on the benchmark data sets (issue 18): which model should the
planner use? Prints MAE (W) per horizon band and the bias, per data set and model.

    nice -n 10 .venv/bin/python bench/load_backtest.py [--sets fr-2024,konstanz-2016] [--every 2]

Forecasts are made as the planner makes them in ``wattwerk bench control``: at the start of a slot,
from the measured house load before it only, for the 96 slots (48 h) from that slot on, over the
benchmark's 365 days. Models:

* ``profile``: ``forecast.load.LoadForecaster`` (6 weeks, weekday/weekend profile, recent level),
  refit at the first slot of each day (the planner's load forecast without its intraday part);
* ``profile+fade``: the same plus the last slot's deviation from it fading by 0.7 per slot (the
  planner's ``load_recent_decay``; the planner uses the instantaneous house power, here the last
  30-min mean);
* ``hgb``: scikit-learn's HistGradientBoostingRegressor, one direct model over all horizons
  (features: horizon, target's local time of day and weekday, the last slot, the last 2 h and 24 h,
  the same time of day in the last observed day and a week before, the profile's value), trained on
  the previous 8 weeks' forecasts (issue times every 2 h), refit every 7 days; ``hgb 26 wk`` the
  same trained on up to 26 weeks.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta

import numpy as np
import pandas as pd

from wattwerk.bench.year.datasets import DATASETS
from wattwerk.forecast.history import read_history_csv
from wattwerk.forecast.load import LoadForecaster

H = 96  # slots ahead (48 h of 30 min), as the planner's horizon
SLOT = pd.Timedelta(minutes=30)
BANDS = ((0, 4, "0-2 h"), (4, 48, "2-24 h"), (48, 96, "24-48 h"), (0, 96, "0-48 h"))


def load_series(name: str) -> tuple[pd.Series, pd.Timestamp, str]:
    ds = DATASETS[name]
    hist = read_history_csv(ds.household_csv())["load_w"]
    first = pd.Timestamp(ds.start)
    grid = pd.date_range(hist.index.min().floor("30min"), first + timedelta(days=365 + 3), freq="30min")
    return hist.reindex(grid), first, ds.timezone


def profile_forecasts(y: pd.Series, issues: np.ndarray, tz: str) -> np.ndarray:
    """(len(issues), H): LoadForecaster refit on the first issue of each local day, past data only."""
    out = np.full((len(issues), H), np.nan)
    day, model = None, None
    idx = y.index
    for row, i in enumerate(issues):
        d = idx[i].tz_convert(tz).date()
        if d != day:
            model, day = LoadForecaster(tz=tz).fit(y.iloc[:i]), d
        out[row] = model.predict(idx[i : i + H])
    return out


def _at(y: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``y[j]``, NaN where ``j`` is before the data (HistGradientBoosting takes NaN as missing)."""
    return np.where(j >= 0, y[np.maximum(j, 0)], np.nan)


def features(
    y: np.ndarray, issues: np.ndarray, prof: np.ndarray, idx: pd.DatetimeIndex, tz: str
) -> np.ndarray:
    """Rows (issue, k) in issue-major order: the features of the forecast for slot issue + k."""
    n = len(issues)
    k = np.tile(np.arange(H), n)
    i = np.repeat(issues, H)
    t = i + k
    local = idx[t].tz_convert(tz)
    last = _at(y, i - 1)
    cum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(y))])
    mean2h = np.where(i >= 4, (cum[i] - cum[np.maximum(i - 4, 0)]) / 4, np.nan)
    mean24h = np.where(i >= 48, (cum[i] - cum[np.maximum(i - 48, 0)]) / 48, np.nan)
    same_tod = np.where(k < 48, _at(y, t - 48), _at(y, t - 96))  # the last observed value at this time
    week = _at(y, t - 336)
    return np.column_stack(
        [
            k,
            local.hour * 2 + local.minute // 30,
            local.day_of_week,
            last,
            mean2h,
            mean24h,
            same_tod,
            week,
            prof.reshape(-1),
        ]
    )


def hgb_forecasts(
    y: pd.Series, issues: np.ndarray, prof_all: dict[int, np.ndarray], tz: str, weeks: int = 8
) -> np.ndarray:
    # one OpenMP thread: on a shared, loaded machine two threads spin at their barriers (one fit on
    # 64 k rows took 18 s of CPU with two threads under a load of 12, 0.4 s with one)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from sklearn.ensemble import HistGradientBoostingRegressor

    v, idx = y.to_numpy(), y.index
    out = np.full((len(issues), H), np.nan)
    for block in range(0, len(issues), 7 * 48 // (issues[1] - issues[0])):  # refit every 7 days
        now = issues[block]  # trained on the ``weeks`` before (what exists of them)
        train_issues = np.array([j for j in range(max(now - weeks * 7 * 48, 1), now - H, 4) if j in prof_all])
        model = None
        if len(train_issues) >= 50:
            x = features(v, train_issues, np.stack([prof_all[j] for j in train_issues]), idx, tz)
            target = v[np.repeat(train_issues, H) + np.tile(np.arange(H), len(train_issues))]
            ok = np.isfinite(target)
            model = HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, random_state=0)
            model.fit(x[ok], target[ok])
        rows = issues[block : block + 7 * 48 // (issues[1] - issues[0])]
        if model is None:  # not enough history yet: the profile
            out[block : block + len(rows)] = np.stack([prof_all[j] for j in rows])
            continue
        x = features(v, rows, np.stack([prof_all[j] for j in rows]), idx, tz)
        out[block : block + len(rows)] = np.maximum(model.predict(x), 0.0).reshape(len(rows), H)
    return out


def run_set(name: str, every: int) -> list[dict]:
    y, first, tz = load_series(name)
    start = y.index.get_loc(first)
    issues = np.arange(start, start + 365 * 48, every)
    # the profile for every issue time (also before the period, as training features for hgb)
    all_issues = np.arange(max(start - 26 * 7 * 48, 1), start + 365 * 48)
    prof = profile_forecasts(y, all_issues, tz)
    prof_all = dict(zip(all_issues.tolist(), prof, strict=True))
    v = y.to_numpy()
    actual = v[issues[:, None] + np.arange(H)[None, :]]
    p = np.stack([prof_all[i] for i in issues])
    last = _at(v, issues - 1)
    fade = 0.7 ** np.arange(1, H + 1)
    pf = np.where(np.isfinite(last)[:, None], np.maximum(p + (last - p[:, 0])[:, None] * fade, 0.0), p)
    models = {
        "profile": p,
        "profile+fade": pf,
        "hgb": hgb_forecasts(y, issues, prof_all, tz),
        "hgb 26 wk": hgb_forecasts(y, issues, prof_all, tz, weeks=26),
    }
    rows = []
    for model, f in models.items():
        err = f - actual
        row = {"set": name, "model": model}
        for lo, hi, label in BANDS:
            e = err[:, lo:hi]
            row[f"MAE {label}"] = round(float(np.nanmean(np.abs(e))), 1)
        row["bias 0-48 h"] = round(float(np.nanmean(err)), 1)
        rows.append(row)
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="fr-2024,konstanz-2016")
    ap.add_argument("--every", type=int, default=2, help="issue a forecast every N slots")
    args = ap.parse_args(argv)
    rows = [r for name in args.sets.split(",") for r in run_set(name.strip(), args.every)]
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|---" * len(cols) + "|")
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
