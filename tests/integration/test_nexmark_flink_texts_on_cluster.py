"""Nexmark's Flink SQL texts on the never-ending generator as jobs of one cluster of 2 agents:
q13 looks each bid up in its bounded side input; q12 counts each bid once in 10 s windows of
the wall clock; q4's upsert changelog (the average winning price per category) keeps a Parquet
snapshot equal to DuckDB's q4 over the events the job had read at the checkpoint the snapshot
holds; q6 averages each seller's last closing prices, its committed rows DuckDB's for the
auctions closed; q10 writes hive directories of csv files, each row once, also when an agent is
killed after a checkpoint."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL
from tests.support.agent_kills import kill_an_agent_running
from tests.support.polling import wait_for
from tests.support.processing_time_windows import assert_windows_count_a_prefix_of_the_bids
from tests.support.reference import assert_same_rows, duckdb_connection, duckdb_table

pytestmark = pytest.mark.slow

RATE = 1_000  # one event per millisecond: times tie in neither order; a minute's partition
# of q10 every 60,000 events
Q10_COLUMNS = "{'auction': 'BIGINT', 'bidder': 'BIGINT', 'price': 'BIGINT', 'dateTime': 'TIMESTAMP', 'extra': 'VARCHAR'}"
Q6 = """
    WITH w AS (
        SELECT A.seller, B.price, B.dateTime, row_number() OVER (
            PARTITION BY A.id ORDER BY B.price DESC, B.dateTime) AS rownum
        FROM auctions A JOIN bids B ON A.id = B.auction
        WHERE B.dateTime BETWEEN A.dateTime AND A.expires)
    SELECT CAST(seller AS VARCHAR) AS seller, CAST(avg(price) OVER (
        PARTITION BY seller ORDER BY dateTime ROWS BETWEEN 10 PRECEDING AND CURRENT ROW
    ) AS BIGINT) AS avg_price FROM w WHERE rownum = 1 ORDER BY dateTime"""


@pytest.fixture(scope="module")
def two_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    workdir = tmp_path_factory.mktemp("cluster")
    with sl.LocalCluster(agents=2, slots=4, heartbeat_timeout=3, workdir=workdir) as cluster:
        yield cluster


def _context(paced: bool = False) -> sl.SQLContext:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=RATE, paced=paced))
    return ctx


def _written(path: Path) -> pa.Table | None:
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    return pq.read_table(files) if files else None


def _rows(path: Path) -> int:
    written = _written(path)
    return 0 if written is None else written.num_rows


def _run_until_written(
    text: str, out: Path, cluster: sl.LocalCluster, paced: bool = False
) -> pa.Table:
    """The rows a job of ``text`` (on the generator ``paced`` in wall-clock time or not)
    committed to ``out`` when it first committed some (a checkpoint before q12's first window
    closes commits a file of none), the job cancelled."""
    job = _context(paced).execute(text, cluster=cluster, checkpoint_interval=0.5)
    assert isinstance(job, sl.Job)
    wait_for(lambda: _rows(out) > 0, timeout=120)
    assert job.status() == "RUNNING"  # it never ends by itself
    assert job.cancel() == "CANCELLED"
    written = _written(out)
    assert written is not None and written.num_rows > 0  # no commit is ever taken back
    return written


def _parquet_sink(path: Path) -> dict[str, str]:
    return {"connector": "filesystem", "path": str(path), "format": "parquet"}


def test_q13_looks_each_bid_up_in_its_side_input(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    side_input = tmp_path / "side_input.txt"
    nf.write_side_input(side_input)
    text = nf.script("q13", side_input=side_input, sink=_parquet_sink(tmp_path / "q13"))
    written = _run_until_written(text, tmp_path / "q13", two_agents)
    auctions, values = written["auction"].to_pylist(), written["value"].to_pylist()
    assert values == [str(a % 10_000) for a in auctions]


def test_q12_counts_each_bid_once_in_wall_clock_windows(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    text = nf.script("q12", sink=_parquet_sink(tmp_path / "q12"))
    # paced: a 10 s window of the wall clock holds 10,000 events, not tens of millions
    written = _run_until_written(text, tmp_path / "q12", two_agents, paced=True)
    # the committed windows are whole and come one after another from the first
    assert_windows_count_a_prefix_of_the_bids(written, 10, RATE)


def _commit(path: Path) -> int:
    """The checkpoint whose rows the snapshot in directory ``path`` holds (0: none yet)."""
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    if not files:
        return 0
    return int(pq.read_schema(files[0]).metadata[b"sabot.commit"])


def test_q4_keeps_a_snapshot_equal_to_duckdbs_q4_over_the_events_read(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    out = tmp_path / "q4"
    # the text as it is, but its result table, keyed by category, takes the upserts
    text = nf.script("q4", sink=_parquet_sink(out)).replace(
        "    final BIGINT\n)", "    final BIGINT,\n    PRIMARY KEY (id) NOT ENFORCED\n)"
    )
    job = _context().execute(text, cluster=two_agents, checkpoint_interval=0.2)
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


def _closed_auctions_q6(rows: int) -> dict[str, list[int]]:
    """DuckDB's q6 per seller, in time order, over a bounded run long enough for ``rows``
    rows of auctions closed."""
    gen = sl.nexmark(events=max(200_000, 30 * rows), event_rate=RATE)
    expected = duckdb_table(Q6, auctions=gen.auctions.collect(), bids=gen.bids.collect())
    per_seller: dict[str, list[int]] = {}
    for seller, price in zip(*expected.to_pydict().values(), strict=True):
        per_seller.setdefault(seller, []).append(price)
    return per_seller


def test_q6_averages_each_sellers_closing_prices_as_duckdb_does(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    text = nf.script("q6", sink=_parquet_sink(tmp_path / "q6"))
    closing = _run_until_written(text, tmp_path / "q6", two_agents)
    # each seller's committed averages are the first of DuckDB's (in some order: files)
    expected = _closed_auctions_q6(closing.num_rows)
    came: dict[str, list[int]] = {}
    for seller, price in zip(
        closing["seller"].to_pylist(), closing["avg_price"].to_pylist(), strict=True
    ):
        came.setdefault(seller, []).append(price)
    assert len(came) > 100
    for seller, prices in came.items():
        assert Counter(prices) == Counter(expected[seller][: len(prices)])


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


def _q10_job(cluster: sl.LocalCluster, tmp_path: Path) -> tuple[sl.Job, Path]:
    """q10 submitted to ``cluster``, and the directory of its table."""
    with pytest.warns(UserWarning, match="no _SUCCESS"):
        job = _context().execute(
            nf.script("q10", nexmark_dir=tmp_path), cluster=cluster, checkpoint_interval=0.5
        )
    assert isinstance(job, sl.Job)
    return job, tmp_path / "data" / "output" / "0" / "bid"


def test_q10_commits_hive_directories_of_csv_each_bid_once(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    job, root = _q10_job(two_agents, tmp_path)
    wait_for(lambda: len({name.split("/")[1] for name in _committed(root)}) > 1, timeout=120)
    assert job.status() == "RUNNING"  # it never ends by itself
    assert job.cancel() == "CANCELLED"
    back = _assert_a_prefix_of_the_bids_each_once(root)
    assert len(set(back["hm"].to_pylist())) > 1  # rows of several minutes


def test_q10_restored_after_an_agent_kill_writes_each_bid_once(
    two_agents: sl.LocalCluster, tmp_path: Path
) -> None:
    job, root = _q10_job(two_agents, tmp_path)
    wait_for(lambda: bool(_committed(root)), timeout=120)
    kill_an_agent_running(job, two_agents)
    two_agents.scale(2)  # the job runs a task in every slot: the restore needs a new agent
    wait_for(lambda: job.metrics()["attempts"] == 2, timeout=120)
    before = set(_committed(root))
    wait_for(lambda: job.status() != "RUNNING" or bool(set(_committed(root)) - before), timeout=120)
    assert job.cancel() == "CANCELLED"
    _assert_a_prefix_of_the_bids_each_once(root)
