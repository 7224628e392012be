"""Window functions ordered by event time on streams that never end (Flink's OVER
aggregations): the same SQL (and the same Stream API window) over a generator the plan cannot
know ends equals DuckDB's over the same rows (out of order within the watermark delay, keys
and values sometimes null; late rows are dropped by the watermark, as everywhere); the state
keeps only what the frames need; the plan round-trips through JSON; every other window on an
unbounded stream is refused, naming the clause and the fix."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.errors import PlanError
from sabot_lab.logical import JobGraph, OverWindow, WindowFunctions
from tests.support.over_window_cases import QUERIES, TIED_QUERIES, events, on_time
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.running import run_to_end
from tests.support.stream_join_cases import endless


def select(columns: str) -> str:
    return f"SELECT k, t, x, y, {columns} FROM s"


@pytest.mark.parametrize("query", list(QUERIES))
@pytest.mark.parametrize("seed", [1, 2])
def test_a_window_over_event_time_on_an_unbounded_stream_equals_duckdb(
    query: str, seed: int
) -> None:
    table = events(seed, 1_500)
    stream = sl.sql(select(QUERIES[query]), s=endless(table, 89))
    assert "over_window" in stream.explain(optimized=False)
    result = run_to_end(stream)
    assert result.metrics_total("late_rows") == 0
    assert_same_rows(result.table, duckdb_table(select(QUERIES[query]), s=table), rel=1e-6)


@pytest.mark.parametrize("query", list(TIED_QUERIES))
def test_rows_with_equal_times_are_peers_as_in_duckdb(query: str) -> None:
    table = events(3, 1_200, ties=True)
    result = run_to_end(sl.sql(select(TIED_QUERIES[query]), s=endless(table, 61)))
    assert_same_rows(result.table, duckdb_table(select(TIED_QUERIES[query]), s=table), rel=1e-6)


def test_late_rows_are_dropped_by_the_watermark_and_the_rest_equal_duckdb() -> None:
    table = events(4, 1_500, late=0.05)
    kept = on_time(table)
    assert 0 < kept.num_rows < table.num_rows
    query = select(QUERIES["running aggregates"] + ", " + QUERIES["ranks by time"])
    result = run_to_end(sl.sql(query, s=endless(table, 97)))
    assert result.metrics_total("late_rows") == table.num_rows - kept.num_rows
    assert_same_rows(result.table, duckdb_table(query, s=kept), rel=1e-6)


def test_the_stream_api_window_over_event_time_equals_duckdb() -> None:
    table = events(5, 1_000)
    stream = (
        endless(table, 50)
        .with_columns(
            a=sl.col("x").mean().over("k", order_by="t", frame=("rows", -10, 0)),
            s=sl.col("y").sum().over("k", order_by="t", frame=("range", None, 0)),
            p=sl.col("x").shift(2, fill_value=0).over(order_by="t"),
            n=sl.row_number().over("k", order_by="t"),
            r=sl.col("y")
            .max()
            .over("k", order_by="t", frame=("range", -dt.timedelta(seconds=2), 0)),
        )
        .select("k", "t", "x", "y", "a", "s", "p", "n", "r")
    )
    expected = duckdb_table(
        select(
            "AVG(x) OVER (PARTITION BY k ORDER BY t ROWS 10 PRECEDING) AS a, SUM(y) OVER "
            "(PARTITION BY k ORDER BY t) AS s, LAG(x, 2, 0) OVER (ORDER BY t) AS p, "
            "ROW_NUMBER() OVER (PARTITION BY k ORDER BY t) AS n, MAX(y) OVER (PARTITION BY k "
            "ORDER BY t RANGE INTERVAL 2 SECOND PRECEDING) AS r"
        ),
        s=table,
    )
    assert_same_rows(run_to_end(stream).table, expected, rel=1e-6)


def test_rows_come_out_in_time_order_and_the_state_keeps_only_what_frames_need() -> None:
    table = events(6, 3_000)
    query = select(QUERIES["avg over the last 10 rows (Nexmark q6's frame)"] + " AS a")
    result = run_to_end(sl.sql(query, s=endless(table, 100)))
    times = result.table["t"].cast(pa.int64()).to_pylist()
    assert times == sorted(times)
    (peak,) = [m["peak_state_rows"] for m in result.metrics.values() if "peak_state_rows" in m]
    # rows waiting for the watermark (4 s of 60 s, plus a batch) and 10 rows of 7 partitions
    assert 0 < peak < 600


def test_a_bounded_stream_keeps_the_whole_table_window() -> None:
    table = events(7, 300)
    stream = sl.sql(select(QUERIES["lag"]), s=sl.from_arrow(table).with_watermark("t", "4s"))
    assert "over_window" not in stream.explain(optimized=False)
    assert_same_rows(stream.collect(), duckdb_table(select(QUERIES["lag"]), s=table))


def test_the_plan_round_trips_through_json_and_runs_the_same() -> None:
    table = events(8, 600)
    stream = sl.sql(select(QUERIES["running aggregates"]), s=endless(table, 70))
    text = stream.graph.to_json()
    rebuilt = JobGraph.from_json(text)
    assert json.loads(rebuilt.to_json()) == json.loads(text)
    (op,) = [n.op for n in rebuilt if isinstance(n.op, WindowFunctions)]
    assert isinstance(op, OverWindow) and op.time == "t"
    again = run_to_end(sl.Stream(rebuilt, stream.node_id)).table
    assert_same_rows(again, run_to_end(stream).table)


REFUSED = {
    "SELECT SUM(x) OVER (PARTITION BY k ORDER BY x) FROM s": r'is ordered by col\("x"\), not by '
    r"the stream's event time \(t\)",
    "SELECT SUM(x) OVER (ORDER BY t DESC) FROM s": "descending",
    "SELECT LEAD(x) OVER (PARTITION BY k ORDER BY t) FROM s": r"\(LEAD\) reads rows after",
    "SELECT AVG(x) OVER (ORDER BY t ROWS BETWEEN 2 PRECEDING AND 1 FOLLOWING) FROM s": "reaching "
    "FOLLOWING rows",
    "SELECT SUM(x) OVER (PARTITION BY k) FROM s": "is ordered by nothing",
    "SELECT PERCENT_RANK() OVER (ORDER BY t) FROM s": "needs every row of its partition",
    "SELECT FIRST_VALUE(x) OVER (ORDER BY t) FROM s": "UNBOUNDED PRECEDING",
}


@pytest.mark.parametrize("query", list(REFUSED))
def test_other_windows_on_an_unbounded_stream_are_refused_naming_the_clause_and_the_fix(
    query: str,
) -> None:
    stream = sl.sql(query, s=endless(events(9, 50), 10))
    with pytest.raises(PlanError, match=REFUSED[query]) as refused:
        stream.collect()
    assert "ORDER BY t" in str(refused.value) and "rn <= N" in str(refused.value)


def test_a_window_on_a_stream_without_event_time_asks_for_a_watermark() -> None:
    stream = endless(events(9, 50), 10, watermark=False).with_columns(
        n=sl.row_number().over("k", order_by="t")
    )
    with pytest.raises(PlanError, match=r"add with_watermark\(column, max_delay\)"):
        stream.iter_batches()


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_range_frames_over_a_timestamp_of_each_unit_equal_duckdb_on_a_bounded_table(
    unit: str,
) -> None:
    table = events(10, 400, ties=True)
    table = table.set_column(0, "t", table["t"].cast(pa.timestamp(unit), safe=False))
    query = select(QUERIES["sums and counts over the last seconds"])
    assert_same_rows(
        sl.sql(query, s=sl.from_arrow(table)).collect(), duckdb_table(query, s=table), rel=1e-6
    )
