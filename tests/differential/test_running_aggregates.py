"""Aggregates over unbounded streams emit an upsert changelog: applying it (the last row of each
key wins) gives DuckDB's GROUP BY over the rows read so far."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.physical import plan_stages
from tests.support.reference import duckdb_connection
from tests.support.running import run_to_end


def chunk(i: int) -> pa.Table | None:
    if i >= 40:
        return None  # ends, but the plan cannot know: it runs as an unbounded stream
    rng = np.random.default_rng(i)
    keys = pa.array(rng.integers(0, 30, 500), mask=rng.random(500) < 0.05)
    return pa.table({"k": keys, "x": rng.normal(size=500), "y": rng.integers(0, 100, 500)})


def test_running_group_by_emits_upserts_that_end_at_duckdbs_answer() -> None:
    stream = sl.from_generator(chunk)
    agg = stream.group_by("k").agg(n=sl.count(), sx=sl.col("x").sum(), hi=sl.col("y").max())
    assert agg.changelog == "upsert"
    updates = run_to_end(agg).table
    assert updates.num_rows > 31  # updates, not one final row per key
    latest: dict[object, tuple[object, ...]] = {}
    for row in updates.to_pylist():
        latest[row["k"]] = (row["n"], row["sx"], row["hi"])
    con = duckdb_connection()
    con.register("t", pa.concat_tables([chunk(i) for i in range(40)]))
    expected = con.sql("SELECT k, count(*), sum(x), max(y) FROM t GROUP BY k").fetchall()
    assert set(latest) == {k for k, *_ in expected}
    for k, n, sx, hi in expected:
        assert latest[k][0] == n and latest[k][2] == hi
        assert latest[k][1] == pytest.approx(sx, rel=1e-9)


def test_the_first_updates_are_the_first_batchs_groups() -> None:
    first = sl.from_generator(chunk).group_by("k").agg(n=sl.count()).iter_batches()
    batch = next(iter(first))
    con = duckdb_connection()
    con.register("t", chunk(0))
    expected = dict(con.sql("SELECT k, count(*) FROM t GROUP BY k").fetchall())
    assert dict(zip(batch["k"].to_pylist(), batch["n"].to_pylist(), strict=True)) == expected


def test_medians_over_an_unbounded_stream_are_refused() -> None:
    """(Distinct counts run: tests/differential/test_running_distinct_counts.py.)"""
    with pytest.raises(sl.PlanError, match=r"median.*unbounded.*window"):
        sl.from_generator(chunk).group_by("k").agg(sl.col("y").median())


def test_a_running_group_by_on_several_tasks_is_one_stage_hashed_on_its_keys() -> None:
    """Its updates replace each other, so partial aggregates of them could not be merged:
    the physical planner keeps it whole and sends each key's rows to one task."""
    agg = sl.from_generator(chunk).group_by("k").agg(n=sl.count(), sx=sl.col("x").sum())
    physical = plan_stages(agg.optimize().graph, 3)
    (exchange,) = physical.exchanges.values()
    assert (exchange.kind, list(exchange.keys)) == ("hash", ["k"])
    phases = [getattr(n.op, "phase", None) for s in physical.stages for n in s.graph]
    assert "partial" not in phases and "final" not in phases
