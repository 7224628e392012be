"""Nexmark's Flink SQL texts on the never-ending generator as jobs of a cluster of 2 agents: q13
looks each bid up in its bounded side input; q4's upsert changelog (the average winning price
per category) keeps a Parquet snapshot that equals DuckDB's q4 over the events the job had read
at the checkpoint the snapshot holds; q10's partitioned csv table is refused when the ``INSERT
INTO`` is planned, naming the clause."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table

pytestmark = pytest.mark.slow

RATE = 10_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    with sl.LocalCluster(agents=2, slots=4, workdir=workdir) as c:
        yield c


def _context() -> sl.SQLContext:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=RATE))
    return ctx


def _written(path: Path) -> pa.Table | None:
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    return pq.read_table(files) if files else None


def test_q13_runs_as_a_job_and_q10_is_refused_on_a_cluster(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    side_input = tmp_path / "side_input.txt"
    nf.write_side_input(side_input)
    ctx = _context()
    sink = {"connector": "filesystem", "path": str(tmp_path / "q13"), "format": "parquet"}
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


def _commit(path: Path) -> int:
    """The checkpoint whose rows the snapshot in directory ``path`` holds (0: none yet)."""
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    if not files:
        return 0
    return int(pq.read_schema(files[0]).metadata[b"sabot.commit"])


def test_q4_keeps_a_snapshot_equal_to_duckdbs_q4_over_the_events_read(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    out = tmp_path / "q4"
    sink = {"connector": "filesystem", "path": str(out), "format": "parquet"}
    # the text as it is, but its result table, keyed by category, takes the upserts
    text = nf.script("q4", sink=sink).replace(
        "    final BIGINT\n)", "    final BIGINT,\n    PRIMARY KEY (id) NOT ENFORCED\n)"
    )
    job = _context().execute(text, cluster=cluster, checkpoint_interval=0.2)
    assert isinstance(job, sl.Job)
    # the first snapshot is enough: the join keeps every row, so each checkpoint takes longer
    wait_for(lambda: _commit(out) >= 1, timeout=120)
    assert job.status() == "RUNNING"
    assert job.cancel() == "CANCELLED"
    commit, (written,) = _commit(out), out.glob("*.parquet")
    snapshot = pq.read_table(written)
    # the checkpoint the snapshot holds recorded the source's position: the events read
    (location,) = [c["location"] for c in job.checkpoints() if c["checkpoint_id"] == commit]
    (position,) = Path(str(location)).glob("*source@*/value.json")
    events = json.loads(position.read_text())
    gen = sl.nexmark(events=events, event_rate=RATE)
    expected = duckdb_table(
        f"SELECT category, CAST(avg_price AS BIGINT) FROM ({DUCKDB_SQL['q4']})",
        auctions=gen.auctions.collect(),
        bids=gen.bids.collect(),
    )
    assert snapshot.num_rows == expected.num_rows == 5  # categories 10 to 14
    assert_same_rows(snapshot, expected)
