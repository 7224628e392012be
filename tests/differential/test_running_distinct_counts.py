"""COUNT(DISTINCT) over unbounded streams (Nexmark q15-q17): a running distinct count per group,
whose state keeps the group's distinct values; the snapshot of its updates (the last row of
each key) equals DuckDB's GROUP BY over the rows read, in-process and on a two-agent cluster
with checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.engine.retracting import latest_of
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.running import run_to_end

RANKS = """
    count(*) AS total_bids,
    count(*) filter (where price < 10000) AS rank1_bids,
    count(*) filter (where price >= 10000 and price < 1000000) AS rank2_bids,
    count(*) filter (where price >= 1000000) AS rank3_bids"""
DISTINCT_RANKS = """,
    count(distinct bidder) AS total_bidders,
    count(distinct bidder) filter (where price < 10000) AS rank1_bidders,
    count(distinct bidder) filter (where price >= 10000 and price < 1000000) AS rank2_bidders,
    count(distinct bidder) filter (where price >= 1000000) AS rank3_bidders,
    count(distinct auction) AS total_auctions,
    count(distinct auction) filter (where price < 10000) AS rank1_auctions,
    count(distinct auction) filter (where price >= 10000 and price < 1000000) AS rank2_auctions,
    count(distinct auction) filter (where price >= 1000000) AS rank3_auctions"""
FLINK = {  # the official texts (nexmark-flink), FROM bid
    "q15": f"""SELECT
    DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`,{RANKS}{DISTINCT_RANKS}
FROM bid
GROUP BY DATE_FORMAT(dateTime, 'yyyy-MM-dd')""",
    "q16": f"""SELECT
    channel,
    DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`,
    max(DATE_FORMAT(dateTime, 'HH:mm')) as `minute`,{RANKS}{DISTINCT_RANKS}
FROM bid
GROUP BY channel, DATE_FORMAT(dateTime, 'yyyy-MM-dd')""",
    "q17": f"""SELECT
     auction,
     DATE_FORMAT(dateTime, 'yyyy-MM-dd') as `day`,{RANKS},
     min(price) AS min_price,
     max(price) AS max_price,
     avg(price) AS avg_price,
     sum(price) AS sum_price
FROM bid
GROUP BY auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd')""",
}
KEYS = {"q15": ["day"], "q16": ["channel", "day"], "q17": ["auction", "day"]}
DAY = "strftime(dateTime, '%Y-%m-%d')"
DUCKDB = {  # the same queries in DuckDB's dialect
    "q15": f"SELECT {DAY} AS day,{RANKS}{DISTINCT_RANKS} FROM bid GROUP BY 1",
    "q16": f"SELECT channel, {DAY} AS day, max(strftime(dateTime, '%H:%M')),{RANKS}"
    f"{DISTINCT_RANKS} FROM bid GROUP BY 1, 2",
    "q17": f"SELECT auction, {DAY} AS day,{RANKS}, min(price), max(price), avg(price), "
    "sum(price) FROM bid GROUP BY 1, 2",
}
EVENTS = 60_000
EVENT_RATE = 0.5  # two seconds of event time apart: the bids span about two days


def bids() -> sl.Stream:
    return sl.nexmark(events=None, event_rate=EVENT_RATE, seed=3).bids.head(EVENTS)


@pytest.mark.parametrize("query", sorted(FLINK))
def test_nexmark_distinct_counts_on_an_unbounded_stream_end_at_duckdbs(
    query: str, tmp_path: Path
) -> None:
    stream = sl.SQLContext(bid=bids()).execute(FLINK[query])
    assert isinstance(stream, sl.Stream) and stream.changelog == "upsert"
    path = tmp_path / "snapshot.parquet"
    stream.to_parquet(path, mode="snapshot")
    expected = duckdb_table(DUCKDB[query], bid=bids().collect())
    assert_same_rows(pq.read_table(path), expected)


def test_explain_says_the_state_grows_with_the_distinct_values() -> None:
    stream = sl.SQLContext(bid=sl.nexmark(events=None).bids).execute(FLINK["q15"])
    assert isinstance(stream, sl.Stream)
    text = str(stream.explain())
    assert "state: the distinct values of [bidder], [price, bidder]" in text
    assert "per group (grows with them)" in text


def chunk(i: int) -> pa.Table | None:
    """Values with nulls (a null is no value, as in SQL); ends after 30 chunks, which the plan
    cannot know."""
    if i >= 30:
        return None
    rng = np.random.default_rng(i)
    keys = pa.array(rng.integers(0, 12, 400), mask=rng.random(400) < 0.05)
    values = pa.array(rng.integers(0, 300, 400), mask=rng.random(400) < 0.1)
    return pa.table({"k": keys, "v": values, "x": rng.integers(0, 100, 400)})


def distinct_counts(stream: sl.Stream) -> sl.Stream:
    low = sl.when(sl.col("x") < 30).then(sl.col("v")).otherwise(None)
    return stream.group_by("k").agg(
        d=sl.col("v").n_unique(), low=low.n_unique(), n=sl.count(), hi=sl.col("x").max()
    )


DISTINCT_SQL = (
    "SELECT k, count(DISTINCT v), count(DISTINCT v) FILTER (WHERE x < 30), count(*), max(x) "
    "FROM t GROUP BY k"
)


def test_running_distinct_counts_of_values_with_nulls_end_at_duckdbs() -> None:
    updates = run_to_end(distinct_counts(sl.from_generator(chunk))).table
    assert updates.num_rows > 13  # updates, not one final row per key
    everything = pa.concat_tables([t for i in range(30) if (t := chunk(i)) is not None])
    assert_same_rows(latest_of(updates, ["k"]), duckdb_table(DISTINCT_SQL, t=everything))


@pytest.mark.slow
def test_distinct_counts_on_a_two_agent_cluster_with_checkpoints_end_at_duckdbs(
    tmp_path: Path,
) -> None:
    paced = sl.from_generator(chunk, max_rows_per_second=4_000)  # about three seconds
    path = tmp_path / "snapshot.parquet"
    with sl.LocalCluster(agents=2, slots=2, workdir=tmp_path / "cluster") as cluster:
        job = distinct_counts(paced).submit(
            cluster, partitions=2, checkpoint_interval=0.2, sink=sl.ParquetSnapshotSink(path)
        )
        assert job.wait(timeout=120) == "FINISHED"
        assert len(job.checkpoints()) >= 2
        q15 = sl.SQLContext(bid=bids()).execute(FLINK["q15"])
        assert isinstance(q15, sl.Stream)
        nexmark = q15.submit(
            cluster, checkpoint_interval=0.2, sink=sl.ParquetSnapshotSink(tmp_path / "q15")
        )
        assert nexmark.wait(timeout=120) == "FINISHED"
    everything = pa.concat_tables([t for i in range(30) if (t := chunk(i)) is not None])
    assert_same_rows(pq.read_table(path), duckdb_table(DISTINCT_SQL, t=everything))
    expected = duckdb_table(DUCKDB["q15"], bid=bids().collect())
    assert_same_rows(pq.read_table(tmp_path / "q15"), expected)
