"""Sinks and changelogs: an upsert changelog (a running aggregate) goes only to a sink that
applies updates by its key; append-only writers and sinks refuse it when the plan is built,
naming the sinks that take it. The Parquet snapshot keeps the last row of each key, replaced
whole, each commit once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.client.plan_submission import job_request
from sabot_lab.connectors.kafka import KafkaSink
from sabot_lab.connectors.sink import CommitSink, sink_from_dict
from tests.support.reference import duckdb_table, normalized_rows

UPSERT = r"upsert changelog keyed by \['auction'\].*ParquetSnapshotSink.*PRIMARY KEY \(auction\) NOT ENFORCED.*PostgresSink\(url, table, key=\['auction'\]\)"


def totals() -> sl.Stream:
    bids = sl.nexmark(events=None, seed=5).bids.head(3_000)
    return bids.group_by("auction").agg(n=sl.count(), top=sl.col("price").max())


@pytest.mark.parametrize("writer", ["to_csv", "to_json", "to_parquet"])
def test_append_only_writers_refuse_an_upsert_changelog(writer: str, tmp_path: Path) -> None:
    with pytest.raises(sl.PlanError, match=rf"{writer}\(\) appends rows.*{UPSERT}"):
        getattr(totals(), writer)(tmp_path / "out")
    assert not list(tmp_path.iterdir())  # refused before any row is read


def test_kafka_refuses_an_upsert_changelog_before_connecting() -> None:
    with pytest.raises(sl.PlanError, match=rf"to_kafka\(\) appends rows.*{UPSERT}"):
        totals().to_kafka("topic", "127.0.0.1:1")


@pytest.mark.parametrize(
    "sink", [sl.ParquetSink("/tmp/never"), KafkaSink("t", "127.0.0.1:1")], ids=["parquet", "kafka"]
)
def test_a_job_with_an_append_only_sink_is_refused_at_plan_build(sink: CommitSink) -> None:
    stream = totals()
    with pytest.raises(sl.PlanError, match=rf"the {sink.kind} sink appends rows.*{UPSERT}"):
        job_request(stream.graph.subgraph(stream.node_id), sink=sink)


def test_a_postgres_sink_needs_the_changelogs_key() -> None:
    stream = totals()
    plan = stream.graph.subgraph(stream.node_id)
    for key, said in ([], "no key"), (["n"], r"key=\['n'\]"):
        sink = sl.PostgresSink("postgresql://db/x", "totals", key=key)
        with pytest.raises(
            sl.PlanError, match=rf"{said}.*keyed by \['auction'\].*key=\['auction'\]"
        ):
            job_request(plan, sink=sink)
    request, _ = job_request(plan, sink=sl.PostgresSink("postgresql://db/x", "t", ["auction"]))
    assert request.sink is not None and request.sink["key"] == ["auction"]


def test_a_snapshot_sink_takes_the_changelogs_key_when_submitted() -> None:
    stream = totals().rename({"auction": "id"})
    request, _ = job_request(
        stream.graph.subgraph(stream.node_id), sink=sl.ParquetSnapshotSink("/tmp/s.parquet")
    )
    assert request.sink == {"kind": "parquet_snapshot", "location": "/tmp/s.parquet", "key": ["id"]}
    with pytest.raises(sl.PlanError, match=r"key=\['n'\].*keyed by \['id'\]"):
        job_request(
            stream.graph.subgraph(stream.node_id),
            sink=sl.ParquetSnapshotSink("/tmp/s.parquet", key=["n"]),
        )


def test_append_streams_go_to_every_sink_as_before(tmp_path: Path) -> None:
    bounded = sl.from_pydict({"k": [1, 1, 2]}).group_by("k").agg(n=sl.count())
    assert bounded.changelog == "append"
    request, _ = job_request(bounded.graph, sink=sl.ParquetSink(tmp_path))
    assert request.sink == {"kind": "parquet", "location": str(tmp_path)}
    assert bounded.to_csv(tmp_path / "x.csv") == 2
    with pytest.raises(sl.PlanError, match=r"append-only.*mode='append'"):
        bounded.to_parquet(tmp_path / "s.parquet", mode="snapshot")


def test_the_changelogs_key_follows_renames_and_a_dropped_key_is_an_error() -> None:
    stream = totals().select(sl.col("auction").cast(pa.int32()).alias("id"), "n")
    assert stream.changelog == "upsert"
    with pytest.raises(sl.PlanError, match=r"drops the key column\(s\) \['auction'\]"):
        totals().select("n").to_parquet("/tmp/never.parquet", mode="snapshot")
    request, _ = job_request(
        stream.graph.subgraph(stream.node_id), sink=sl.ParquetSnapshotSink("/tmp/s.parquet")
    )
    assert request.sink is not None and request.sink["key"] == ["id"]


def test_early_window_results_are_keyed_by_their_window_too() -> None:
    bids = sl.nexmark(events=None).bids
    early = bids.window(sl.tumbling("10s", on="dateTime"), early="1s").group_by("auction")
    stream = early.agg(n=sl.count())
    request, _ = job_request(
        stream.graph.subgraph(stream.node_id), sink=sl.ParquetSnapshotSink("/tmp/s.parquet")
    )
    assert request.sink is not None and request.sink["key"] == ["auction", "window_start"]


def test_a_snapshot_written_here_equals_duckdbs_group_by(tmp_path: Path) -> None:
    path = tmp_path / "totals.parquet"
    assert totals().to_parquet(path, mode="snapshot") == pq.read_table(path).num_rows
    bids = sl.nexmark(events=None, seed=5).bids.head(3_000).collect()
    expected = duckdb_table("SELECT auction, count(*), max(price) FROM b GROUP BY auction", b=bids)
    assert sorted(normalized_rows(pq.read_table(path))) == sorted(normalized_rows(expected))


def test_snapshot_commits_replace_the_file_whole_and_each_once(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    sink = sl.ParquetSnapshotSink(f"file://{tmp_path}/snap.parquet", key=["k"])
    assert sink_from_dict(sink.to_dict()).to_dict() == sink.to_dict()
    seen: dict[object, int] = {}
    for commit in range(1, 6):
        keys = pa.array(rng.integers(0, 20, 50), mask=rng.random(50) < 0.1)
        values = pa.array(rng.integers(0, 1_000, 50))
        assert sink.commit(pa.table({"k": keys, "v": values}), "job", commit)
        seen.update(zip(keys.to_pylist(), values.to_pylist(), strict=True))
        assert not sink.commit(pa.table({"k": [0], "v": [-1]}), "job", commit)  # again: skipped
        (tmp_path / "_staging").mkdir(exist_ok=True)
        (tmp_path / "_staging" / "snap.parquet").write_bytes(b"half a file")  # a crash
        snapshot = pq.read_table(tmp_path / "snap.parquet")
        assert dict(zip(snapshot["k"].to_pylist(), snapshot["v"].to_pylist(), strict=True)) == seen
        assert snapshot.num_rows == len(seen)
    assert sink.commit(pa.table({"k": [0], "v": [-1]}), "next-job", 1)  # another job goes on
    assert pq.read_table(tmp_path / "snap.parquet").num_rows == len(seen | {0: -1})


def test_a_top_n_is_keyed_by_its_partitions_and_row_number() -> None:
    bids = sl.nexmark(events=None, seed=5).bids.head(3_000)
    top = bids.top_k(3, by="price", over=["auction"], name="rn")
    with pytest.raises(sl.PlanError, match=r"keyed by \['auction', 'rn'\]"):
        job_request(top.graph.subgraph(top.node_id), sink=sl.ParquetSink("/tmp/never"))
    sink = sl.PostgresSink("postgresql://db/x", "top", key=["auction", "rn"])
    request, _ = job_request(top.graph.subgraph(top.node_id), sink=sink)
    assert request.sink is not None and request.sink["key"] == ["auction", "rn"]


def test_a_top_1_is_keyed_by_its_partitions_alone_and_may_drop_its_rank() -> None:
    bids = sl.nexmark(events=None, seed=5).bids.head(3_000)
    top = bids.top_k(1, by="price", over=["auction"], name="rn").drop("rn")
    with pytest.raises(sl.PlanError, match=r"keyed by \['auction'\]"):
        job_request(top.graph.subgraph(top.node_id), sink=sl.ParquetSink("/tmp/never"))
    request, _ = job_request(top.graph.subgraph(top.node_id), sink=sl.ParquetSnapshotSink("/t"))
    assert request.sink is not None and request.sink["key"] == ["auction"]
