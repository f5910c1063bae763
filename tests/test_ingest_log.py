"""Ingest through the log (portal/ingest_log.py, portal/writer.py), the pure parts: the message
format, the de-duplication id, splitting a batch larger than the server's payload limit, the
configuration's checks. The real-process chaos test is tests/test_ingest_log_chaos.py."""

from __future__ import annotations

import msgpack
import pytest

from test_ingest_support import pg  # noqa: F401  (the fixture)
from wattwerk.errors import BadInput
from wattwerk.portal.ingest import runs
from wattwerk.portal.ingest_log import LogConfig, decode, encode, from_mapping, msg_id, split
from wattwerk.portal.writer import parse_partitions


def _rows(edge: int, seqs: list[int]) -> list[tuple[int, int, int, int, float]]:
    return [(edge, s, 3 + s % 5, 1_767_225_600_000 + s % 10**6 * 1000, s % 999 * 0.5 - 7.25) for s in seqs]


def test_a_message_decodes_to_the_rows_it_was_made_of() -> None:
    rows = _rows(42, [*range(1, 101), 2**62, 2**63 - 2])
    rows[5] = (42, 6, 2**31 - 1, -1, float("-1e300"))  # the columns' extremes survive
    got = decode(encode(42, [(1, 100), (2**62, 2**62), (2**63 - 2, 2**63 - 2)], rows))
    assert got.edge_id == 42
    assert got.ranges == [(1, 100), (2**62, 2**62), (2**63 - 2, 2**63 - 2)]
    assert got.rows == rows


def test_a_batch_whose_readings_were_all_rejected_still_records_its_seqs() -> None:
    got = decode(encode(7, [(10, 12)], []))
    assert got.rows == [] and got.ranges == [(10, 12)]


@pytest.mark.parametrize(
    "data",
    [
        b"\xc1",  # not MessagePack
        msgpack.packb({"v": 2, "edge": 1}),
        msgpack.packb(
            {"v": 1, "edge": 1, "ranges": [[1, 2]], "seq": b"\0" * 16, "ch": b"", "ts": b"", "val": b""}
        ),
        msgpack.packb({"v": 1, "edge": 1, "ranges": [], "seq": b"", "ch": b"", "ts": b"", "val": b""}),
        msgpack.packb([1, 2, 3]),
    ],
)
def test_a_message_that_is_not_ours_is_refused_by_name(data: bytes) -> None:
    with pytest.raises(BadInput) as exc:
        decode(data)
    assert exc.value.kind == "log_message"


def test_the_dedup_id_names_edge_and_exact_seqs() -> None:
    assert msg_id(5, [(101, 200)]) == "e5:101-200"
    assert msg_id(5, [(101, 200)]) != msg_id(6, [(101, 200)])  # another edge or outbox instance
    gap_a = msg_id(5, [(1, 2), (5, 5)])
    gap_b = msg_id(5, [(1, 1), (3, 5)])  # the same span, other seqs: another batch
    assert gap_a != gap_b and gap_a.startswith("e5:1-5~")
    assert msg_id(5, [(1, 2), (5, 5)]) == gap_a  # a retry has the same id
    assert msg_id(5, [(101, 200)], 2) == "e5:101-200:2"


def test_a_batch_over_the_payload_limit_goes_in_parts_that_each_record_only_their_seqs() -> None:
    seqs = [s for s in range(1, 3001) if s % 7]  # gaps: seqs with % 7 == 0 were rejected
    rows = _rows(9, seqs)[::-1]  # any order
    ranges = runs(list(range(1, 3001)))
    parts = split(9, ranges, rows, max_payload=20_000)
    assert len(parts) > 3
    got_rows, got_seqs = [], []
    for part_ranges, body in parts:
        assert len(body) <= 20_000
        d = decode(body)
        assert d.ranges == list(part_ranges)
        assert {r[1] for r in d.rows} <= {s for a, b in d.ranges for s in range(a, b + 1)}
        got_rows += d.rows
        got_seqs += [s for a, b in d.ranges for s in range(a, b + 1)]
    assert sorted(got_rows) == sorted(rows)  # every row once
    assert sorted(got_seqs) == list(range(1, 3001))  # every seq recorded once, rejected ones too
    assert split(9, ranges, rows, max_payload=10**6) == [(ranges, encode(9, ranges, rows))]


def test_the_configuration_is_checked() -> None:
    cfg = from_mapping({"via": "nats", "nats_url": "nats://a:4222, nats://b:4222", "replicas": 3})
    assert cfg.servers == ["nats://a:4222", "nats://b:4222"]
    assert cfg.subject_for(13) == "ww.ingest.5.13" and cfg.durable(5) == "writer-p5"
    assert LogConfig().via == "direct"  # the log is off unless configured
    with pytest.raises(ValueError, match="via must be one of direct, nats"):
        from_mapping({"via": "kafka"})
    with pytest.raises(ValueError, match="unknown key"):
        from_mapping({"via": "nats", "replica": 3})
    with pytest.raises(ValueError, match="replicas"):
        LogConfig(replicas=2)
    with pytest.raises(ValueError, match="stream"):
        LogConfig(stream="a.b")


def test_a_writer_serves_the_partitions_it_is_given() -> None:
    assert parse_partitions(None, 8) is None
    assert parse_partitions("0-2,5,2", 8) == [0, 1, 2, 5]
    with pytest.raises(ValueError, match=r"0\.\.7"):
        parse_partitions("6-8", 8)


async def test_a_batch_is_acknowledged_only_once_jetstream_stored_it(tmp_path) -> None:
    """A real JetStream node: the first publish is stored, its retry is recognised by the message
    id (the edge is answered either way), and with the node gone the publish is refused
    (LogUnavailable: the route answers 503 and the edge keeps the readings)."""
    import shutil

    from wattwerk.bench._servers import NATS_SERVER, NatsCluster
    from wattwerk.portal.ingest_log import LogUnavailable, NatsLog

    if not shutil.which(NATS_SERVER):
        pytest.fail(f"{NATS_SERVER} not found: apt-get install nats-server (README, tests)")
    cluster = NatsCluster(tmp_path / "nats", nodes=1)
    cluster.start()
    log = NatsLog(LogConfig(via="nats", nats_url=cluster.url, partitions=2, publish_timeout_s=1.0))
    try:
        await log.open()
        rows = _rows(3, list(range(1, 11)))
        assert await log.publish(5, 3, [(1, 10)], rows) == 10
        assert await log.publish(5, 3, [(1, 10)], rows) == 0  # the retry: a duplicate by its id
        assert (log.published, log.deduplicated) == (2, 1)
        info = await log.js.stream_info("WATTWERK_INGEST")
        assert info.state.messages == 1 and info.config.subjects == ["ww.ingest.>"]
        cluster.kill(0)
        with pytest.raises(LogUnavailable):
            await log.publish(5, 3, [(11, 20)], _rows(3, list(range(11, 21))))
    finally:
        await log.close()
        cluster.stop()


@pytest.mark.postgres
def test_the_route_answers_after_the_log_stored_and_a_writer_writes_it(pg, tmp_path) -> None:  # noqa: F811
    """The real portal app with ``via: nats`` on a real JetStream node: the edge is acknowledged
    with nothing written to the database yet (no writer runs); with the node gone the answer is
    503 and nothing is acknowledged; back from its store, a writer writes the batch exactly once
    (the retry JetStream recognised is not there twice)."""
    import asyncio
    import shutil
    import time

    from test_ingest import batch, post
    from test_ingest_support import serve_portal
    from wattwerk.bench._servers import NATS_SERVER, NatsCluster
    from wattwerk.portal import db
    from wattwerk.portal.writer import WriterConfig, WriterStats, run_writer

    if not shutil.which(NATS_SERVER):
        pytest.fail(f"{NATS_SERVER} not found: apt-get install nats-server (README, tests)")
    with pg.connect() as conn:
        token = db.pair_site(conn, "home")
    now = int(time.time() * 1000)
    first = batch([[s, "grid.power", now - 10_000 + s, float(s)] for s in range(1, 21)])
    later = batch([[s, "grid.power", now - 10_000 + s, float(s)] for s in range(21, 31)])
    cluster = NatsCluster(tmp_path / "nats", nodes=1)
    cluster.start()
    cfg = LogConfig(via="nats", nats_url=cluster.url, partitions=2, publish_timeout_s=1.0, ack_wait_s=2.0)
    try:
        with serve_portal(pg, log=cfg) as portal:
            r = post(portal.url, token, first)
            assert r.status_code == 200 and r.json()["acked"] == [[1, 20]] and r.json()["stored"] == 20
            assert post(portal.url, token, first).json()["duplicates"] == 20  # the retry, by its id
            with pg.connect() as conn:
                assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0  # only in the log
            cluster.kill(0)
            r = post(portal.url, token, later)
            assert r.status_code == 503 and r.headers["retry-after"] == "1" and "acked" not in r.json()
        cluster.start(0)  # from its store

        async def write() -> WriterStats:
            stop, stats = asyncio.Event(), WriterStats()
            task = asyncio.create_task(run_writer(WriterConfig(pg.url, pg.schema, cfg), stop, stats))
            for _ in range(300):
                if stats.stored >= 20 or task.done():
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await task
            return stats

        stats = asyncio.run(write())
        assert (stats.messages, stats.stored, stats.terminated) == (1, 20, 0)
        with pg.connect() as conn:
            rows = conn.execute("SELECT seq, value FROM readings ORDER BY seq").fetchall()
            ranges = conn.execute("SELECT first_seq, last_seq FROM acked_ranges").fetchall()
        assert rows == [(s, float(s)) for s in range(1, 21)]
        assert ranges == [(1, 20)]
    finally:
        cluster.stop()
