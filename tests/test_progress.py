"""The progress line of long commands: on stderr, only when it is a terminal, rewritten in place;
stdout keeps only the result. Input warnings are counted in the line and the summary, logged once."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys

from wattwerk.progress import Progress, clock_text


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_line_shows_percent_place_elapsed_eta_and_warnings() -> None:
    clock, out, warnings = Clock(), Tty(), [0]
    line = Progress(
        "scenario x",
        3600.0,
        where=lambda done: f"t={done:g}",
        warnings=lambda: warnings[0],
        stream=out,
        clock=clock,
        every_s=0.5,
    )
    clock.t += 30
    line.update(900.0)
    clock.t += 0.1
    line.update(1000.0)  # within every_s: not drawn
    clock.t += 30
    warnings[0] = 3
    line.update(1800.0)
    line.close()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n")
    first, second, last = text.rstrip("\n").split("\r")[1:]
    assert first.startswith("scenario x:  25.0 %  t=900  elapsed 0:30  ETA 1:30")
    assert "input warning" not in first
    assert second.startswith("scenario x:  50.0 %  t=1800  elapsed 1:00  ETA 1:00  3 input warnings counted")
    assert last.startswith("scenario x:  50.0 %")


def test_nothing_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    with Progress("bench", 10.0, stream=out) as line:
        line.update(5.0)
    assert out.getvalue() == ""


def test_clock_text() -> None:
    assert clock_text(59.9) == "0:59" and clock_text(3723) == "1:02:03" and clock_text(-4) == "0:00"


def _scenario(stderr_is_tty: bool) -> tuple[str, bytes]:
    argv = [
        sys.executable,
        "-m",
        "wattwerk",
        "demo",
        "--scenario",
        "pv-surplus-sunny",
        "--for",
        "20m",
        "--json",
    ]
    if not stderr_is_tty:
        out = subprocess.run(argv, capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.decode(), out.stderr
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            err += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read().decode()  # type: ignore[union-attr]
    assert proc.wait(timeout=60) == 0, err
    return stdout, err


def test_a_scenario_on_a_terminal_shows_progress_on_stderr_and_only_the_result_on_stdout() -> None:
    stdout, err = _scenario(stderr_is_tty=True)
    summary = json.loads(stdout)  # nothing but the result
    assert b"\rscenario pv-surplus-sunny:" in err and b"100.0 %" in err
    # the emulated devices show what real ones do: nothing "not available", nothing counted
    assert summary["read_errors"] == 0, summary["read_errors_by_kind"]
    assert b"not available" not in err


def test_a_scenario_into_a_pipe_draws_no_progress() -> None:
    stdout, err = _scenario(stderr_is_tty=False)
    json.loads(stdout)
    assert b"\r" not in err and b"%  " not in err
