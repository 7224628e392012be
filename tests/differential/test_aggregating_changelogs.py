"""Aggregating an upsert changelog (Nexmark q4: the average winning price per category, over
the running MAX(price) per auction): the aggregate keeps the last row of each upstream key and
takes back its old contribution when it changes; the snapshot of its updates equals DuckDB's
aggregate of the upstream query's final rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.engine.retracting import latest_of
from sabot_lab.logical import JobGraph
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.running import run_to_end

CHUNKS = 40


def chunk(i: int) -> pa.Table | None:
    """Updates of keys ``u`` (some null), each in the group ``g = u % 5`` for good; ends after
    CHUNKS, which the plan cannot know."""
    if i >= CHUNKS:
        return None
    rng = np.random.default_rng(i)
    u = rng.integers(0, 60, 300)
    mask = rng.random(300) < 0.05
    x = pa.array(rng.integers(-500, 1_000, 300), mask=rng.random(300) < 0.05)
    return pa.table({"u": pa.array(u, mask=mask), "g": pa.array(u % 5, mask=mask), "x": x})


def everything() -> pa.Table:
    return pa.concat_tables([t for i in range(CHUNKS) if (t := chunk(i)) is not None])


PER_KEY = "SELECT u, g, sum(x) AS s, max(x) AS hi, min(x) AS lo, count(*) AS n FROM t GROUP BY u, g"


def per_key(stream: sl.Stream) -> sl.Stream:
    c = sl.col
    return stream.group_by("u", "g").agg(
        s=c("x").sum(), hi=c("x").max(), lo=c("x").min(), n=sl.count()
    )


def per_group(stream: sl.Stream) -> sl.Stream:
    c = sl.col
    return (
        per_key(stream)
        .group_by("g")
        .agg(
            total=c("s").sum(),
            avg_hi=c("hi").mean(),
            lo=c("lo").min(),
            hi=c("hi").max(),
            keys=sl.count(),
            distinct_hi=c("hi").n_unique(),
        )
    )


PER_GROUP = (
    f"SELECT g, sum(s), avg(hi), min(lo), max(hi), count(*), count(DISTINCT hi) FROM ({PER_KEY}) "
    "GROUP BY g"
)


def test_a_group_by_of_running_totals_ends_at_duckdbs() -> None:
    stream = per_group(sl.from_generator(chunk))
    assert stream.changelog == "upsert"
    updates = run_to_end(stream).table
    assert updates.num_rows > 6 * 2  # updates as the totals below change
    assert_same_rows(latest_of(updates, ["g"]), duckdb_table(PER_GROUP, t=everything()))


def test_a_global_aggregate_of_running_totals_ends_at_duckdbs() -> None:
    c = sl.col
    stream = per_key(sl.from_generator(chunk)).agg(total=c("s").sum(), keys=sl.count())
    updates = run_to_end(stream).table
    assert updates.num_rows > 1
    expected = duckdb_table(f"SELECT sum(s), count(*) FROM ({PER_KEY})", t=everything())
    assert_same_rows(updates.slice(updates.num_rows - 1), expected)


def test_rows_that_move_between_groups_leave_their_old_group() -> None:
    moves = [
        {"u": [1, 2, 3], "x": [5, 7, 120]},  # buckets of max(x) // 100: 0, 0, 1
        {"u": [1], "x": [150]},  # key 1 moves from bucket 0 to 1
        {"u": [3], "x": [290]},  # key 3 moves from bucket 1 to 2
    ]
    rows = sl.from_generator(lambda i: moves[i] if i < len(moves) else None)
    top = rows.group_by("u").agg(top=sl.col("x").max())
    buckets = top.with_columns(bucket=sl.col("top") // 100)
    stream = buckets.group_by("bucket").agg(n=sl.count(), keys=sl.col("u").sum())
    got = latest_of(run_to_end(stream).table, ["bucket"])
    assert sorted(got.to_pylist(), key=lambda r: r["bucket"]) == [
        {"bucket": 0, "n": 1, "keys": 2},
        {"bucket": 1, "n": 1, "keys": 1},
        {"bucket": 2, "n": 1, "keys": 3},
    ]
    emptied = [*moves, {"u": [2], "x": [900]}]  # bucket 0 loses its last key
    rows = sl.from_generator(lambda i: emptied[i] if i < len(emptied) else None)
    top = rows.group_by("u").agg(top=sl.col("x").max())
    stream = top.with_columns(bucket=sl.col("top") // 100).group_by("bucket").agg(n=sl.count())
    with pytest.raises(sl.SabotError, match=r"every row of the group \{'bucket': 0\} moved"):
        run_to_end(stream)


def test_nexmark_q4_average_winning_price_per_category_equals_duckdbs() -> None:
    auctions = sl.nexmark(events=100_000, seed=4).auctions.select("id", "category").collect()
    bids = sl.nexmark(events=None, seed=4).bids.head(40_000)
    joined = bids.join(sl.from_arrow(auctions), left_on="auction", right_on="id")
    final = joined.group_by("auction", "category").agg(final=sl.col("price").max())
    q4 = final.group_by("category").agg(avg_price=sl.col("final").mean())
    assert "of updates keyed by [auction, category]" in str(q4.explain())
    expected = duckdb_table(
        "SELECT category, avg(final) FROM (SELECT auction, category, max(price) AS final "
        "FROM b JOIN a ON b.auction = a.id GROUP BY 1, 2) GROUP BY 1",
        b=bids.collect(),
        a=auctions,
    )
    assert_same_rows(latest_of(q4.collect(), ["category"]), expected)


def test_the_plan_round_trips_through_json() -> None:
    stream = per_group(sl.from_generator(chunk))
    node = JobGraph.from_json(stream.graph.to_json()).node(stream.node_id)
    assert node.op.updates_of == ["u", "g"]  # type: ignore[attr-defined]


def test_a_select_that_drops_the_key_keeps_it_for_the_aggregate_after_it() -> None:
    """SQL's q4 shape: the inner query selects no ``u`` (a sink would refuse it, see
    tests/unit/test_changelog_sinks.py), the outer aggregate still replaces each ``u``'s row;
    the key stays out of its output."""
    dropped = per_key(sl.from_generator(chunk)).select(sl.col("s").alias("u"), "g")
    stream = dropped.group_by("g").agg(total=sl.col("u").sum(), keys=sl.count())
    assert "of updates keyed by [u_2, g]" in str(stream.explain())
    assert stream.columns == ["g", "total", "keys"]
    expected = duckdb_table(
        f"SELECT g, sum(s), count(*) FROM ({PER_KEY}) GROUP BY g", t=everything()
    )
    assert_same_rows(latest_of(run_to_end(stream).table, ["g"]), expected)
