"""EMHASS as a subprocess for ``wattwerk bench control --emhass-python PY``.

Runs under the Python of a separate venv that has ``emhass`` (it pins versions the project's
venv must not take), so it imports nothing from wattwerk. Protocol: one JSON object per line on
stdin, one answer per line on the driver's original stdout, each after ``MARKER``. Solvers print on
stdout too (HiGHS >= 1.16 its banner, from C, where Python cannot catch it), so the driver first
moves its stdout (fd 1) to stderr and keeps a private copy for the answers; the runner also skips
any line without the marker (``emhass_runner.read_answer``).

    in:  {"start": ISO, "slot_minutes": 30, "load_w": [...], "pv_w": [...], "buy": [...],
          "sell": [...], "soc": 0.5, "bat": {...}, "ev_hours": h, "ev_end": k, "max_import_w": W,
          "max_export_w": W}
    out: {"bat_w": [...] (+ discharge), "ev_w": [...], "grid_w": [...], "ms": t, "status": s}
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pathlib
import sys
import tempfile
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # only in the emhass venv; imported at run time after fd 1 is moved
    from emhass.optimization import Optimization

MARKER = "@wattwerk-emhass "  # starts every answer line


def answer_channel() -> TextIO:
    """The process's stdout, kept for the answers; fd 1 (anything else printing) goes to stderr."""
    sys.stdout.flush()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return answers


def _configs() -> tuple[dict, dict, dict, dict]:
    import emhass
    import emhass.utils as u

    root = pathlib.Path(emhass.__file__).parent
    conf = {
        "data_path": pathlib.Path(tempfile.mkdtemp(prefix="emhass-bench-")),
        "root_path": root,
        "defaults_path": root / "data" / "config_defaults.json",
        "associations_path": root / "data" / "associations.csv",
    }
    log = logging.getLogger("emhass-bench")

    async def build() -> tuple[dict, dict, dict]:
        config = await u.build_config(conf, log, str(conf["defaults_path"]))
        _, secrets = await u.build_secrets(conf, log, no_response=True)
        params = await u.build_params(conf, secrets, config, log)
        return u.get_yaml_parse(params, log)

    r, o, p = asyncio.run(build())
    return conf, r, o, p


def _optimization(q: dict, conf: dict, r: dict, o: dict, p: dict, log: logging.Logger) -> Optimization:
    """An EMHASS Optimization for the question's horizon, slot, battery and grid limits.

    Imports inside: ``main`` must move fd 1 before the solvers are imported.
    """
    import pandas as pd
    from emhass.optimization import Optimization

    n = len(q["buy"])
    bat = q["bat"]
    o2 = dict(
        o,
        number_of_deferrable_loads=1,
        nominal_power_of_deferrable_loads=[q["ev_max_w"]],
        operating_hours_of_each_deferrable_load=[0.0],
        start_timesteps_of_each_deferrable_load=[0],
        end_timesteps_of_each_deferrable_load=[0],
        treat_deferrable_load_as_semi_cont=[False],
        set_deferrable_load_single_constant=[False],
        minimum_power_of_deferrable_loads=[0.0],
        def_minimum_on_time=[0],
        def_minimum_off_time=[0],
        set_deferrable_max_startups=[0],
        set_deferrable_startup_penalty=[0.0],
        is_electric_load=[True],
        deferrable_load_max_cost=[0.0],
        cost_forecast_per_deferrable_load=[None],
        set_use_battery=True,
        costfun="cost",
        set_nocharge_from_grid=False,
        set_nodischarge_to_grid=False,
    )
    p2 = dict(
        p,
        battery_nominal_energy_capacity=bat["capacity_wh"],
        battery_charge_power_max=bat["max_charge_w"],
        battery_discharge_power_max=bat["max_discharge_w"],
        battery_charge_efficiency=bat["eff_charge"],
        battery_discharge_efficiency=bat["eff_discharge"],
        battery_minimum_state_of_charge=bat["soc_min"],
        battery_maximum_state_of_charge=bat["soc_max"],
        maximum_power_from_grid=q["max_import_w"],
        maximum_power_to_grid=q["max_export_w"],
        inverter_is_hybrid=False,
        compute_curtailment=False,
    )
    r2 = dict(r, optimization_time_step=pd.Timedelta(minutes=q["slot_minutes"]))
    return Optimization(
        r2,
        o2,
        p2,
        "unit_load_cost",
        "unit_prod_price",
        "cost",
        conf,
        log,
        opt_time_delta=max(1, n * q["slot_minutes"] // 60),
        num_timesteps=n,
    )


def _solve(opt: Optimization, q: dict) -> dict:
    """The answer to one question; a failed solve is reported, the caller falls back."""
    import numpy as np
    import pandas as pd

    n = len(q["buy"])
    idx = pd.date_range(pd.Timestamp(q["start"]), periods=n, freq=f"{q['slot_minutes']}min")
    df = pd.DataFrame({"unit_load_cost": q["buy"], "unit_prod_price": q["sell"]}, index=idx)
    t0 = time.perf_counter()
    try:
        res = opt.perform_optimization(
            df,
            np.asarray(q["pv_w"]),
            np.asarray(q["load_w"]),
            df["unit_load_cost"].to_numpy(),
            df["unit_prod_price"].to_numpy(),
            soc_init=q["soc"],
            soc_final=q["soc"],
            def_total_hours=[q["ev_hours"]],
            def_start_timestep=[0],
            def_end_timestep=[q["ev_end"]],
        )
        out = {
            "bat_w": res["P_batt"].fillna(0).tolist(),
            "ev_w": res["P_deferrable0"].fillna(0).tolist(),
            "grid_w": res["P_grid"].fillna(0).tolist(),
            "status": str(res["optim_status"].iloc[0]),
        }
    except Exception as exc:  # a failed solve is reported, the caller falls back
        out = {"bat_w": [0.0] * n, "ev_w": [0.0] * n, "grid_w": [0.0] * n, "status": f"error: {exc}"}
    out["ms"] = (time.perf_counter() - t0) * 1000
    return out


def main() -> int:
    answers = answer_channel()  # before the solvers are imported
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    conf, r, o, p = _configs()
    log = logging.getLogger("emhass-bench")
    cache: dict[tuple, Optimization] = {}
    for line in sys.stdin:
        q = json.loads(line)
        key = (len(q["buy"]), q["slot_minutes"], q["max_import_w"])
        if key not in cache:
            cache[key] = _optimization(q, conf, r, o, p, log)
        out = _solve(cache[key], q)
        answers.write(MARKER + json.dumps(out) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
