"""The PV model (pvlib) out of the edge's process.

pvlib imports all its submodules and with them SciPy: about 75 MB that a running edge would keep
for a computation it needs once an hour, when the weather forecast changes. So a process that
has not loaded pvlib runs the model in a short-lived worker (``python -m
wattwerk.forecast.pv_process``: JSON in on stdin, JSON out on stdout) and memoizes the result per
weather frame; one that has pvlib loaded anyway (the demo with its simulator, benchmarks, tests)
computes in place. The results are the same either way (``tests/test_pv_process.py``).

    modelled(site, arrays, weather)  # ``forecast.pv.forecast`` at correction 1: per array, "total"
    clear_sky(site, index)           # ghi/dni/dhi of the Ineichen clear sky at ``index``
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict
from io import StringIO
from typing import Any

import pandas as pd

from wattwerk.errors import RetryableError
from wattwerk.forecast.pv import PVArray
from wattwerk.forecast.weather import Site

MEMO_SIZE = 8  # results kept (a plan asks for the same weather frame several times)
TIMEOUT_S = 120.0
_memo: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()


def in_process() -> bool:
    """pvlib is loaded here already: nothing to save by a worker."""
    return "pvlib" in sys.modules


def _frame_json(frame: pd.DataFrame) -> str:
    return frame.to_json(orient="split", date_format="iso", date_unit="ns")


def _frame(text: str) -> pd.DataFrame:
    frame = pd.read_json(StringIO(text), orient="split")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index, utc=True))
    return frame


def compute(op: str, site: Site, arrays: Sequence[PVArray], frame: pd.DataFrame) -> pd.DataFrame:
    """The computation itself (in this process, with pvlib)."""
    if op == "pv":
        from wattwerk.forecast.pv import forecast

        return forecast(site, arrays, frame)
    if op == "clear_sky":
        return site.location.get_clearsky(frame.index, model="ineichen")[["ghi", "dni", "dhi"]]
    raise ValueError(f"unknown operation {op!r}")


def _in_worker(op: str, site: Site, arrays: Sequence[PVArray], frame: pd.DataFrame) -> pd.DataFrame:
    request = {
        "op": op,
        "site": asdict(site),
        "arrays": [asdict(a) for a in arrays],
        "frame": _frame_json(frame),
    }
    try:
        out = subprocess.run(
            [sys.executable, "-m", "wattwerk.forecast.pv_process"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RetryableError(f"PV model worker: {exc}") from exc
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1:] or ["no message"]
        raise RetryableError(f"PV model worker failed ({out.returncode}): {tail[0]}")
    result = _frame(out.stdout)
    if len(result) != len(frame):
        raise RetryableError(f"PV model worker answered {len(result)} rows for {len(frame)}")
    result.index = frame.index  # both operations keep the index (its unit and freq as given)
    return result


def _run(op: str, site: Site, arrays: Sequence[PVArray], frame: pd.DataFrame) -> pd.DataFrame:
    if in_process():
        return compute(op, site, arrays, frame)
    key = (op, site, tuple(arrays), tuple(frame.columns), int(pd.util.hash_pandas_object(frame).sum()))
    if key not in _memo:
        _memo[key] = _in_worker(op, site, arrays, frame)
        while len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)
    _memo.move_to_end(key)
    return _memo[key].copy()


def modelled(site: Site, arrays: Sequence[PVArray], weather: pd.DataFrame) -> pd.DataFrame:
    """Per-array and ``total`` AC power (W) per weather interval, uncorrected."""
    return _run("pv", site, arrays, weather)


def clear_sky(site: Site, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Clear-sky ``ghi``, ``dni``, ``dhi`` (W/m²) at ``index`` (Ineichen)."""
    return _run("clear_sky", site, (), pd.DataFrame(index=index))


def main() -> int:
    request = json.load(sys.stdin)
    site = Site(**request["site"])
    arrays = [PVArray(**a) for a in request["arrays"]]
    result = compute(request["op"], site, arrays, _frame(request["frame"]))
    sys.stdout.write(_frame_json(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
