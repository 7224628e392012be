"""Nexmark's Flink SQL texts on the never-ending generator as jobs of a cluster of 2 agents: q13
looks each bid up in its bounded side input; q10's partitioned csv table is refused when the
``INSERT INTO`` is planned, naming the clause."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from tests.support.polling import wait_for

pytestmark = pytest.mark.slow


def _written(path: Path) -> pa.Table | None:
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    return pq.read_table(files) if files else None


def test_q13_runs_as_a_job_and_q10_is_refused_on_a_cluster(tmp_path: Path) -> None:
    side_input = tmp_path / "side_input.txt"
    nf.write_side_input(side_input)
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=10_000))
    sink = {"connector": "filesystem", "path": str(tmp_path / "q13"), "format": "parquet"}
    with sl.LocalCluster(agents=2, slots=2, workdir=tmp_path / "cluster") as cluster:
        with pytest.raises(sl.errors.SQLError, match="INSERT INTO nexmark_q10 on a cluster"):
            ctx.execute(nf.script("q10", nexmark_dir=tmp_path), cluster=cluster)
        job = ctx.execute(
            nf.script("q13", side_input=side_input, sink=sink),
            cluster=cluster,
            checkpoint_interval=0.5,
        )
        assert isinstance(job, sl.Job)
        wait_for(lambda: _written(tmp_path / "q13") is not None, timeout=120)
        assert job.status() == "RUNNING"
        assert job.cancel() == "CANCELLED"
    written = _written(tmp_path / "q13")
    assert written is not None and written.num_rows > 0
    auctions, values = written["auction"].to_pylist(), written["value"].to_pylist()
    assert values == [str(a % 10_000) for a in auctions]
