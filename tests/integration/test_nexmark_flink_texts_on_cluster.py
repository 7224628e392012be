"""Nexmark's Flink SQL texts on the never-ending generator as jobs of a cluster of 2 agents: q13
looks each bid up in its bounded side input; q10 writes hive directories of csv files, each
row once, also when an agent is killed after a checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from tests.support.agent_kills import kill_an_agent_running
from tests.support.polling import wait_for
from tests.support.reference import duckdb_connection, duckdb_table

pytestmark = pytest.mark.slow

RATE = 1_000  # events per second of event time: a minute's partition every 60,000 events
Q10_COLUMNS = "{'auction': 'BIGINT', 'bidder': 'BIGINT', 'price': 'BIGINT', 'dateTime': 'TIMESTAMP', 'extra': 'VARCHAR'}"


@pytest.fixture(scope="module")
def two_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    with sl.LocalCluster(agents=2, slots=4, heartbeat_timeout=3, workdir=workdir) as cluster:
        yield cluster


def _context() -> sl.SQLContext:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=RATE))
    return ctx


def _written(path: Path) -> pa.Table | None:
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    return pq.read_table(files) if files else None


def test_q13_runs_as_a_job(two_agents: sl.LocalCluster, tmp_path: Path) -> None:
    side_input = tmp_path / "side_input.txt"
    nf.write_side_input(side_input)
    sink = {"connector": "filesystem", "path": str(tmp_path / "q13"), "format": "parquet"}
    job = _context().execute(
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


def _committed(root: Path) -> list[str]:
    """The names of the csv files committed under q10's table directory."""
    return sorted(str(p.relative_to(root)) for p in root.glob("dt=*/hm=*/*.csv"))


def _read_back(root: Path) -> pa.Table:
    """q10's committed rows, read by DuckDB from the hive directories, in event-time order."""
    query = f"""
        SELECT auction, bidder, price, epoch_ms("dateTime") AS ms, coalesce(extra, '') AS extra,
               dt, hm, strftime("dateTime", '%Y-%m-%d') AS day, strftime("dateTime", '%H:%M') AS minute
        FROM read_csv('{root}/dt=*/hm=*/*.csv', header = false, hive_partitioning = true,
                      hive_types = {{'dt': 'VARCHAR', 'hm': 'VARCHAR'}}, columns = {Q10_COLUMNS})
        ORDER BY ms, auction, bidder, price
    """
    return duckdb_connection().sql(query).to_arrow_table()


def _assert_a_prefix_of_the_bids_each_once(root: Path) -> pa.Table:
    """The committed rows are the generator's first bids, each once, in the directories
    of their own day and minute; the rows."""
    back = _read_back(root)
    assert back.num_rows > 0
    assert back["dt"].equals(back["day"]) and back["hm"].equals(back["minute"])
    events = back.num_rows * 50 // 46 + 1_000  # enough events to hold that many bids
    bids = sl.nexmark(events=events, event_rate=RATE).bids.collect()
    query = (
        'SELECT auction, bidder, price, epoch_ms("dateTime"::TIMESTAMP) AS ms, extra FROM bids '
        f"ORDER BY ms, auction, bidder, price LIMIT {back.num_rows}"
    )
    columns = ["auction", "bidder", "price", "ms", "extra"]
    expected = duckdb_table(query, bids=bids)
    assert back.select(columns).cast(expected.schema).equals(expected)
    return back


def test_q10_commits_hive_directories_of_csv_each_bid_once(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    with pytest.warns(UserWarning, match="no _SUCCESS"):
        job = _context().execute(
            nf.script("q10", nexmark_dir=tmp_path), cluster=two_agents, checkpoint_interval=0.5
        )
    assert isinstance(job, sl.Job)
    root = tmp_path / "data" / "output" / "0" / "bid"
    wait_for(lambda: len({name.split("/")[1] for name in _committed(root)}) > 1, timeout=120)
    assert job.status() == "RUNNING"  # it never ends by itself
    assert job.cancel() == "CANCELLED"
    back = _assert_a_prefix_of_the_bids_each_once(root)
    assert len(set(back["hm"].to_pylist())) > 1  # rows of several minutes


def test_q10_restored_after_an_agent_kill_writes_each_bid_once(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    with pytest.warns(UserWarning, match="no _SUCCESS"):
        job = _context().execute(
            nf.script("q10", nexmark_dir=tmp_path), cluster=two_agents, checkpoint_interval=0.5
        )
    assert isinstance(job, sl.Job)
    root = tmp_path / "data" / "output" / "0" / "bid"
    wait_for(lambda: bool(_committed(root)), timeout=120)
    kill_an_agent_running(job, two_agents)
    two_agents.scale(2)  # the job runs a task in every slot: the restore needs a new agent
    wait_for(lambda: job.metrics()["attempts"] == 2, timeout=120)
    before = set(_committed(root))
    wait_for(lambda: job.status() != "RUNNING" or bool(set(_committed(root)) - before), timeout=120)
    assert job.cancel() == "CANCELLED"
    _assert_a_prefix_of_the_bids_each_once(root)
