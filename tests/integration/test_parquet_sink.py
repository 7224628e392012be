"""ParquetSink: one file per commit, whole or absent, never written twice."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.connectors.sink import sink_from_dict


def test_commits_are_files_written_once_and_visible_whole(tmp_path: Path) -> None:
    sink = sl.ParquetSink(f"file://{tmp_path}/out")  # a pyarrow.fs URI
    first, second = pa.table({"x": [1, 2]}), pa.table({"x": [3]})
    assert sink.commit(first, "j", 1) and sink.commit(second, "j", 2)
    assert not sink.commit(pa.table({"x": [9, 9, 9]}), "j", 1)  # done before: skipped
    (tmp_path / "out" / "_staging" / "j-000003.parquet").write_bytes(b"half a file")  # a crash
    assert sorted(pq.read_table(tmp_path / "out")["x"].to_pylist()) == [1, 2, 3]
    assert sink.commit(pa.table({"x": [4]}), "j", 3)  # the leftover is replaced
    assert sorted(pq.read_table(tmp_path / "out")["x"].to_pylist()) == [1, 2, 3, 4]
    assert sink_from_dict(sink.to_dict()).to_dict() == sink.to_dict()


def test_a_bounded_job_writes_its_rows_in_one_file(
    tmp_path: Path,
) -> None:
    rows = pa.table({"k": [i % 7 for i in range(10_000)], "v": list(range(10_000))})
    stream = sl.from_arrow(rows).group_by("k").agg(total=sl.col("v").sum())
    with sl.LocalCluster(agents=1, workdir=tmp_path / "cluster") as cluster:
        job = stream.submit(cluster, sink=sl.ParquetSink(tmp_path / "totals"))
        result = job.result(timeout=120)
    assert [p.name for p in (tmp_path / "totals").glob("*.parquet")] == [
        f"{job.job_id}-000000.parquet"
    ]
    written = pq.read_table(tmp_path / "totals")
    assert sorted(written.to_pylist(), key=str) == sorted(result.to_pylist(), key=str)
    assert sorted(written.to_pylist(), key=str) == sorted(stream.collect().to_pylist(), key=str)


def test_unknown_sink_kinds_and_bad_locations_are_clear_errors() -> None:
    with pytest.raises(
        sl.SourceError,
        match="unknown sink kind 'nope'; known kinds: blackhole, kafka, parquet, parquet_snapshot, partitioned_files, postgres",
    ):
        sink_from_dict({"kind": "nope"})
    with pytest.raises(sl.SourceError, match="cannot write Parquet files to nosuch://x"):
        sl.ParquetSink("nosuch://x").commit(pa.table({"x": [1]}), "j", 1)
