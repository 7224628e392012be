"""Nexmark's Flink SQL texts on the never-ending generator as jobs of a cluster of 2 agents: q13
looks each bid up in its bounded side input; q12 counts each bid once in 10 s windows of the
wall clock; q10's partitioned csv table is refused when the ``INSERT INTO`` is planned, naming
the clause."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from tests.support.polling import wait_for
from tests.support.processing_time_windows import assert_windows_count_a_prefix_of_the_bids

pytestmark = pytest.mark.slow

RATE = 10_000


def _written(path: Path) -> pa.Table | None:
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    return pq.read_table(files) if files else None


def _rows(path: Path) -> int:
    written = _written(path)
    return 0 if written is None else written.num_rows


@pytest.fixture(scope="module")
def two_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    with sl.LocalCluster(agents=2, slots=2, workdir=workdir) as cluster:
        yield cluster


def test_q13_runs_as_a_job_and_q10_is_refused_on_a_cluster(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    side_input = tmp_path / "side_input.txt"
    nf.write_side_input(side_input)
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=RATE))
    sink = {"connector": "filesystem", "path": str(tmp_path / "q13"), "format": "parquet"}
    with pytest.raises(sl.errors.SQLError, match="INSERT INTO nexmark_q10 on a cluster"):
        ctx.execute(nf.script("q10", nexmark_dir=tmp_path), cluster=two_agents)
    job = ctx.execute(
        nf.script("q13", side_input=side_input, sink=sink),
        cluster=two_agents,
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


def test_q12_counts_each_bid_once_in_wall_clock_windows_as_a_job(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=RATE))
    sink = {"connector": "filesystem", "path": str(tmp_path / "q12"), "format": "parquet"}
    job = ctx.execute(nf.script("q12", sink=sink), cluster=two_agents, checkpoint_interval=0.5)
    assert isinstance(job, sl.Job)
    wait_for(lambda: _rows(tmp_path / "q12") > 0, timeout=120)  # the first window
    assert job.status() == "RUNNING"
    assert job.cancel() == "CANCELLED"
    written = _written(tmp_path / "q12")
    assert written is not None and written.num_rows > 0
    # the committed windows are whole and come one after another from the first
    assert_windows_count_a_prefix_of_the_bids(written, 10, RATE)
