"""Outbox: durable appends across kill -9, monotonic seqs, ack semantics, full-disk thinning."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from wattwerk.edge.outbox import Outbox
from wattwerk.model import Reading, ms

T0 = 1_699_999_200_000  # on an hour boundary


def rows(n: int, start: int = 0, channels: tuple[str, ...] = ("grid.power", "grid.energy_import")):
    return [
        (channels[i % len(channels)], T0 + (start + i) // len(channels) * 1000, float(start + i))
        for i in range(n)
    ]


def test_append_assigns_monotonic_seqs_and_peek_returns_them(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        ts = datetime(2026, 1, 1, tzinfo=UTC)
        assert box.append([Reading("grid.power", ts, 100.0), Reading("pv1.power", ts, 50.0)]) == (1, 2)
        assert box.append_raw(rows(3)) == (3, 5)
        assert box.append([]) is None
        got = box.peek(10)
        assert [r[0] for r in got] == [1, 2, 3, 4, 5]
        assert got[0] == (1, "grid.power", ms(ts), 100.0)
        assert box.peek(2, newest=True) == got[-2:]
        assert box.peek(2, after_seq=3) == got[3:5]


def test_ack_deletes_only_acknowledged_and_seqs_never_repeat(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        box.append_raw(rows(10))
        assert box.ack(4) == 4
        assert [r[0] for r in box.peek(100)] == [5, 6, 7, 8, 9, 10]
        assert box.ack_range(9, 10) == 2
        assert box.ack(4) == 0  # acking again is harmless
        assert box.ack(8) == 4
        assert box.pending() == 0
    with Outbox(path) as box:  # reopen: seqs continue after the highest ever assigned
        assert box.append_raw(rows(1)) == (11, 11)


def test_append_is_durable_across_kill_9(tmp_path: Path) -> None:
    """A child appends batches and reports each returned range; we kill -9 it mid-stream."""
    path = tmp_path / "o.db"
    child = textwrap.dedent(f"""
        import sys
        from wattwerk.edge.outbox import Outbox
        box = Outbox({str(path)!r})
        i = 0
        while True:
            first, last = box.append_raw([("grid.power", {T0} + i * 1000 + k, float(i)) for k in range(50)])
            print(last, flush=True)
            i += 1
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = [int(proc.stdout.readline()) for _ in range(40)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert acked == sorted(acked)
    with Outbox(path) as box:
        seqs = [r[0] for r in box.peek(1_000_000)]
        # everything the child saw returned is there, contiguous from 1, nothing half-written
        assert seqs[: acked[-1]] == list(range(1, acked[-1] + 1))
        assert len(seqs) % 50 == 0
        assert box.next_seq() == len(seqs) + 1


def test_thinning_keeps_counters_exact_and_power_mean_before_dropping(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path) as box:
        # 2 h of 1 s data for a power and a counter channel
        data = []
        for s in range(7200):
            data.append(("grid.power", T0 + s * 1000, float(s % 60)))  # mean per minute 29.5
            data.append(("grid.energy_import", T0 + s * 1000, 1000.0 + s))
        for i in range(0, len(data), 1000):
            box.append_raw(data[i : i + 1000])
        full = box.used_bytes()
        before = box.pending()
        box.max_bytes = full * 6 // 10
        box.make_room()
        assert box.used_bytes() <= box.max_bytes
        assert box.stats.thinned > 0
        assert box.stats.dropped == 0  # thinning alone was enough
        left = box.peek(1_000_000)
        assert len(left) < before
        seqs = [r[0] for r in left]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        thinned_power = [r for r in left if r[1] == "grid.power" and r[0] < 1000]
        assert box.stats.thin_runs == [60_000], box.stats.thin_runs
        assert thinned_power and all(r[3] == 29.5 for r in thinned_power)
        # the counter kept its last value of each thinned minute: deltas still add up
        counter = [r for r in left if r[1] == "grid.energy_import"]
        assert counter[-1][3] == 1000.0 + 7199
        assert all((r[2] - T0) // 1000 % 60 == 59 for r in counter if r[0] < 1000)
        # the newest data is untouched
        assert left[-1] == (len(data), "grid.energy_import", T0 + 7199 * 1000, 1000.0 + 7199)


def test_full_disk_drops_oldest_only_after_hourly_and_never_raises(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", max_bytes=64 * 1024) as box:
        days = 400  # of 10-minute values: even hourly they exceed the budget
        for day in range(0, days, 5):  # five days per append
            base = day * 86_400
            box.append_raw([("bat.soc", T0 + (base + s * 600) * 1000, 50.0) for s in range(5 * 144)])
        assert box.used_bytes() <= 64 * 1024
        assert box.stats.thin_runs[:2] == [900_000, 3_600_000]  # 1 min would remove nothing
        assert box.stats.dropped > 0
        left = box.peek(1_000_000)
        assert left[-1][2] == T0 + ((days - 1) * 86_400 + 143 * 600) * 1000  # the newest reading survives
        assert box.append_raw([("bat.soc", T0 + 10**9, 51.0)]) is not None


def test_bytes_per_million_readings_is_compact(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as box:
        chans = tuple(f"dev{i}.power" for i in range(20))
        n = 100_000
        for i in range(0, n, 10_000):
            box.append_raw(rows(10_000, i, chans))
        per_million = box.used_bytes() * 1_000_000 / n
        # 90 days of 20 channels at 10 s (15.6 M readings) must fit in well under a gigabyte
        assert per_million * 15.552 < 1_000_000_000


def test_real_disk_full_error_is_survived(tmp_path: Path) -> None:
    """SQLite's own 'database or disk is full' (forced with max_page_count) never escapes append."""
    with Outbox(tmp_path / "o.db") as box:
        box._db.execute("PRAGMA max_page_count = 60")
        for day in range(60):
            day_rows = [("grid.power", T0 + (day * 86_400 + s * 60) * 1000, 1.0) for s in range(1440)]
            result = box.append_raw(day_rows)
            assert result is not None or box.stats.dropped > 0
        assert box.stats.disk_full > 0
        assert box.stats.thinned > 0
        assert box.peek(1, newest=True)[0][2] == T0 + (59 * 86_400 + 1439 * 60) * 1000


def test_threads_share_one_outbox_safely(tmp_path: Path) -> None:
    import threading

    with Outbox(tmp_path / "o.db") as box:
        ranges: list[tuple[int, int]] = []
        errors: list[BaseException] = []

        def writer(k: int) -> None:
            try:
                for i in range(40):
                    r = box.append_raw([(f"dev{k}.power", T0 + i * 1000 + j, 1.0) for j in range(25)])
                    assert r is not None
                    ranges.append(r)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        def acker() -> None:
            try:
                for _ in range(40):
                    got = box.peek(30)
                    if got:
                        box.ack_range(got[0][0], got[-1][0])
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
        threads.append(threading.Thread(target=acker))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        seqs = sorted(s for a, b in ranges for s in range(a, b + 1))
        assert seqs == list(range(1, 3 * 40 * 25 + 1))  # every batch got its own contiguous range
        assert box.pending() + box.stats.acked == 3 * 40 * 25


def test_instance_is_stable_per_file_and_new_for_a_new_outbox(tmp_path: Path) -> None:
    with Outbox(tmp_path / "a.db") as a:
        first = a.instance
    with Outbox(tmp_path / "a.db") as a, Outbox(tmp_path / "b.db") as b:
        assert a.instance == first and len(first) == 16
        assert b.instance != first
