"""Nexmark's Flink SQL texts on the never-ending generator as jobs of a cluster of 2 agents: q13
looks each bid up in its bounded side input; q6 averages each seller's last closing prices,
its committed rows DuckDB's for the auctions closed; q10's partitioned csv table is refused
when the ``INSERT INTO`` is planned, naming the clause."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from tests.support.polling import wait_for
from tests.support.reference import duckdb_table

pytestmark = pytest.mark.slow

RATE = 1_000  # one event per millisecond: times tie in neither order
Q6 = """
    WITH w AS (
        SELECT A.seller, B.price, B.dateTime, row_number() OVER (
            PARTITION BY A.id ORDER BY B.price DESC, B.dateTime) AS rownum
        FROM auctions A JOIN bids B ON A.id = B.auction
        WHERE B.dateTime BETWEEN A.dateTime AND A.expires)
    SELECT CAST(seller AS VARCHAR) AS seller, CAST(avg(price) OVER (
        PARTITION BY seller ORDER BY dateTime ROWS BETWEEN 10 PRECEDING AND CURRENT ROW
    ) AS BIGINT) AS avg_price FROM w WHERE rownum = 1 ORDER BY dateTime"""


def _written(path: Path) -> pa.Table | None:
    files = sorted(path.glob("*.parquet")) if path.exists() else []
    return pq.read_table(files) if files else None


def _run_until_written(
    ctx: sl.SQLContext, text: str, out: Path, cluster: sl.LocalCluster
) -> pa.Table:
    """The rows a job of ``text`` committed to ``out`` when it first did, the job cancelled."""
    job = ctx.execute(text, cluster=cluster, checkpoint_interval=0.5)
    assert isinstance(job, sl.Job)
    wait_for(lambda: _written(out) is not None, timeout=120)
    assert job.status() == "RUNNING"
    assert job.cancel() == "CANCELLED"
    written = _written(out)
    assert written is not None and written.num_rows > 0
    return written


def _closed_auctions_q6(rows: int) -> dict[str, list[int]]:
    """DuckDB's q6 per seller, in time order, over a bounded run long enough for ``rows``
    rows of auctions closed."""
    gen = sl.nexmark(events=max(200_000, 30 * rows), event_rate=RATE)
    expected = duckdb_table(Q6, auctions=gen.auctions.collect(), bids=gen.bids.collect())
    per_seller: dict[str, list[int]] = {}
    for seller, price in zip(*expected.to_pydict().values(), strict=True):
        per_seller.setdefault(seller, []).append(price)
    return per_seller


def test_q13_and_q6_run_as_jobs_and_q10_is_refused_on_a_cluster(tmp_path: Path) -> None:
    side_input = tmp_path / "side_input.txt"
    nf.write_side_input(side_input)
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=RATE))
    sinks = {
        name: {"connector": "filesystem", "path": str(tmp_path / name), "format": "parquet"}
        for name in ("q13", "q6")
    }
    with sl.LocalCluster(agents=2, slots=2, workdir=tmp_path / "cluster") as cluster:
        with pytest.raises(sl.errors.SQLError, match="INSERT INTO nexmark_q10 on a cluster"):
            ctx.execute(nf.script("q10", nexmark_dir=tmp_path), cluster=cluster)
        q13 = nf.script("q13", side_input=side_input, sink=sinks["q13"])
        looked_up = _run_until_written(ctx, q13, tmp_path / "q13", cluster)
        closing = _run_until_written(
            ctx, nf.script("q6", sink=sinks["q6"]), tmp_path / "q6", cluster
        )
    auctions, values = looked_up["auction"].to_pylist(), looked_up["value"].to_pylist()
    assert values == [str(a % 10_000) for a in auctions]
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
