"""The PV model out of process (``forecast.pv_process``): the worker computes what pvlib computes
in place, and a process without pvlib gets its PV forecast without ever loading pvlib or SciPy."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from wattwerk.errors import RetryableError
from wattwerk.forecast import pv_process
from wattwerk.forecast.pv import PVArray
from wattwerk.forecast.weather import Site

SITE = Site(47.99, 7.85, 278.0, "Europe/Berlin")
ARRAYS = (PVArray("pv1", 6000.0), PVArray("pv2", 3000.0, tilt=20.0, azimuth=90.0, inverter_w=2500.0))
INDEX = pd.date_range("2025-06-21", periods=36, freq="1h", tz="UTC")


def test_the_worker_computes_what_pvlib_computes_in_place() -> None:
    clear = pv_process._in_worker("clear_sky", SITE, (), pd.DataFrame(index=INDEX))
    pd.testing.assert_frame_equal(
        clear,
        pv_process.compute("clear_sky", SITE, (), pd.DataFrame(index=INDEX)),
        check_freq=False,
        rtol=1e-9,
    )
    weather = clear.assign(temp_air=25.0, wind_speed=2.0)
    worker = pv_process._in_worker("pv", SITE, ARRAYS, weather)
    here = pv_process.compute("pv", SITE, ARRAYS, weather)
    pd.testing.assert_frame_equal(worker, here, check_freq=False, rtol=1e-9)
    assert worker["total"].max() > 4000.0 and worker["pv2"].max() <= 2500.0  # the sun shone, the cap held


def test_a_failing_worker_is_a_retryable_error() -> None:
    with pytest.raises(RetryableError, match="PV model worker failed"):
        pv_process._in_worker("no-such-operation", SITE, ARRAYS, pd.DataFrame(index=INDEX))


def test_without_pvlib_loaded_the_forecast_comes_from_the_worker_once_per_frame() -> None:
    code = textwrap.dedent("""
        import json, sys
        import pandas as pd
        from wattwerk.forecast import pv_process
        from wattwerk.forecast.pv import PVArray
        from wattwerk.forecast.weather import Site
        site = Site(47.99, 7.85, 278.0, "Europe/Berlin")
        arrays = (PVArray("pv1", 6000.0),)
        index = pd.date_range("2025-06-21", periods=36, freq="1h", tz="UTC")
        weather = pv_process.clear_sky(site, index).assign(temp_air=25.0, wind_speed=2.0)
        first = pv_process.modelled(site, arrays, weather)
        calls = []
        pv_process._in_worker = lambda *a: calls.append(a)  # a second worker would be a memo miss
        again = pv_process.modelled(site, arrays, weather)
        print(json.dumps({"peak": float(first["total"].max()), "same": bool(first.equals(again)),
                          "workers_after_first": len(calls),
                          "pvlib": "pvlib" in sys.modules, "scipy": "scipy" in sys.modules}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["peak"] > 3000.0 and result["same"] and result["workers_after_first"] == 0
    assert not result["pvlib"] and not result["scipy"]
