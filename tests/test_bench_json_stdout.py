"""``--json`` means one JSON object on stdout, even with a solver that prints its banner there
(HiGHS >= 1.16 does, from C, when the process's first instance is made)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

from wattwerk.bench.year.emhass_driver import MARKER
from wattwerk.bench.year.emhass_runner import read_answer


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_the_planner_s_highs_prints_nothing_on_stdout() -> None:
    out = _python("""
        from wattwerk.control.plan_lp import quiet_highs
        quiet_highs().run()
        quiet_highs().run()
        print("only this")
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "only this\n"


def test_bench_control_json_is_one_json_object_on_stdout() -> None:
    command = ["bench", "control", "--json", "--days", "1", "--strategies", "planner", "--jobs", "1"]
    out = subprocess.run(
        [sys.executable, "-m", "wattwerk", *command], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["period"]["days"] == 1
    assert set(report["strategies"]) == {"planner"}
    assert report["strategies"]["planner"].get("status") != "not_run"


def test_emhass_answers_survive_banners_on_the_driver_s_stdout() -> None:
    """The driver's answer channel, in a real subprocess: a Python print and a C-level write to fd 1
    (as HiGHS does) go to stderr; the answer reaches the runner."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
        import json, os
        from wattwerk.bench.year.emhass_driver import MARKER, answer_channel
        answers = answer_channel()
        print("Running HiGHS 1.16.0 (git hash: f3f113d)", flush=True)
        os.write(1, b"Includes third-party software components\\n")
        answers.write(MARKER + json.dumps({"status": "Optimal", "grid_w": [1.0, 2.0]}) + "\\n")
        answers.flush()
    """),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    answer = read_answer(proc.stdout)  # type: ignore[arg-type]
    _, err = proc.communicate(timeout=60)
    assert answer == {"status": "Optimal", "grid_w": [1.0, 2.0]}
    assert "Running HiGHS" in err and "third-party" in err


def test_the_runner_skips_lines_without_the_marker(capsys) -> None:
    stream = io.StringIO("Running HiGHS 1.16.0\n" + MARKER + '{"status": "Optimal"}\n')
    assert read_answer(stream) == {"status": "Optimal"}
    assert "Running HiGHS" in capsys.readouterr().err


def test_bench_planner_plans_with_the_edge_s_futures_on_request() -> None:
    def report(*extra: str) -> dict:
        command = ["bench", "planner", "--json", "--limit", "2", *extra]
        out = subprocess.run(
            [sys.executable, "-m", "wattwerk", *command], capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    alone, futures = report(), report("--futures")
    assert (alone["futures"], futures["futures"]) == (False, True)
    assert alone["status"] == futures["status"] == {"optimal": 2}
    # the forecast and four other futures: five copies of what follows the first slot
    assert futures["problem"]["columns"] > 4 * alone["problem"]["columns"]
    assert futures["peak_rss_mb"] > 0
