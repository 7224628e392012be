"""A checkpointed job whose hash join is built on a small table: the table's task ends
before the first checkpoint, so a restored attempt gets no build rows from it again; the
join reads them back from the checkpoint and the sink holds every joined row once, equal to
DuckDB's join."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from tests.support.agent_kills import kill_an_agent_running
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table

pytestmark = pytest.mark.slow

N = 20_000


def test_an_attempt_restored_after_an_agent_kill_joins_every_row_once(tmp_path: Path) -> None:
    facts = pa.table({"id": range(N), "k": [i % 10 for i in range(N)]})
    dims = pa.table({"k": range(10), "name": [f"n{i}" for i in range(10)]})

    def slow(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(0.2)  # 80 batches: the job outlives the kill by far
        return batch

    stream = (
        sl.from_iterable(facts.to_batches(max_chunksize=250), schema=facts.schema)
        .map_batches(slow, schema=facts.schema)
        .join(sl.from_arrow(dims), on="k")
    )
    with sl.LocalCluster(
        agents=3, slots=2, heartbeat_timeout=2, heartbeat_interval=0.2, workdir=tmp_path / "c"
    ) as cluster:
        sink = sl.ParquetSink(tmp_path / "out")
        job = stream.submit(cluster, partitions=2, checkpoint_interval=0.3, sink=sink)
        wait_for(lambda: any(c["state"] == "COMPLETE" for c in job.checkpoints()), timeout=60)
        kill_an_agent_running(job, cluster)
        job.result(timeout=180)
        assert job.metrics()["attempts"] == 2
    expected = duckdb_table("SELECT f.id, f.k, d.name FROM f JOIN d USING (k)", f=facts, d=dims)
    assert_same_rows(pq.read_table(tmp_path / "out").select(["id", "k", "name"]), expected)
