"""Event-time window references: out-of-order events and DuckDB's answer for tumbling, sliding
and session windows over them, shared by the window, SQL and state-size tests."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from tests.support.reference import duckdb_connection

SPAN_MS = 120_000


AGGS = {
    "n": sl.count(),
    "sx": sl.col("x").sum(),
    "mx": sl.col("x").mean(),
    "cx": sl.col("x").count(),
    "lo": sl.col("y").min(),
    "hi": sl.col("y").max(),
}


SQL_AGGS = "count(*) AS n, sum(x) AS sx, avg(x) AS mx, count(x) AS cx, min(y) AS lo, max(y) AS hi"


def out_of_order_events(seed: int, n: int, disorder_ms: int) -> pa.Table:
    """Rows with keys and values (some null) whose times arrive out of order by less than
    ``disorder_ms``: each row is delayed by up to that much after its time."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, SPAN_MS, n))
    order = np.argsort(times + rng.uniform(0, disorder_ms, n), kind="stable")
    keys = rng.choice(np.array(["a", "b", "c", "d"], dtype=object), n)
    keys[rng.random(n) < 0.05] = None
    x = rng.normal(10, 3, n)
    return pa.table(
        {
            "t": pa.array(times[order], pa.timestamp("ms")),
            "k": pa.array(keys[order], pa.string()),
            "x": pa.array(x[order], mask=rng.random(n) < 0.1),
            "y": pa.array(rng.integers(-50, 50, n)[order]),
        }
    )


def reference(events: pa.Table, kind: str, size_ms: int, slide_ms: int) -> pa.Table:
    con = duckdb_connection()
    con.register("ev", events.append_column("ms", events["t"].cast(pa.int64())))
    if kind == "tumbling":
        sql = f"""SELECT k, (ms // {size_ms}) * {size_ms} AS ws,
                         (ms // {size_ms}) * {size_ms} + {size_ms} AS we, {SQL_AGGS}
                  FROM ev WHERE t IS NOT NULL GROUP BY ALL"""
    elif kind == "sliding":
        sql = f"""WITH w AS (
                    SELECT *, unnest(generate_series(
                        (ms // {slide_ms}) * {slide_ms} - ({size_ms} - {slide_ms}),
                        (ms // {slide_ms}) * {slide_ms}, {slide_ms})) AS ws
                    FROM ev WHERE t IS NOT NULL)
                  SELECT k, ws, ws + {size_ms} AS we, {SQL_AGGS}
                  FROM w WHERE ms < ws + {size_ms} GROUP BY k, ws"""
    else:
        sql = f"""WITH o AS (
                    SELECT *, lag(ms) OVER (PARTITION BY k ORDER BY t) AS prev
                    FROM ev WHERE t IS NOT NULL),
                  s AS (
                    SELECT *, sum(CASE WHEN prev IS NULL OR ms - prev >= {size_ms} THEN 1 ELSE 0 END)
                              OVER (PARTITION BY k ORDER BY ms RANGE UNBOUNDED PRECEDING) AS sid
                    FROM o)
                  SELECT k, min(ms) AS ws, max(ms) + {size_ms} AS we, {SQL_AGGS}
                  FROM s GROUP BY k, sid"""
    return con.sql(sql).to_arrow_table()


def assert_same_windows(ours: pa.Table, expected: pa.Table) -> None:
    ours = ours.set_column(
        ours.schema.get_field_index("window_start"), "ws", ours["window_start"].cast(pa.int64())
    )
    ours = ours.set_column(
        ours.schema.get_field_index("window_end"), "we", ours["window_end"].cast(pa.int64())
    )
    order = [("k", "ascending"), ("ws", "ascending")]
    a = ours.sort_by(order).to_pydict()
    b = expected.select(a.keys()).sort_by(order).to_pydict()
    assert len(a["ws"]) == len(b["ws"]) > 0
    for name in ("k", "ws", "we", "n", "cx", "lo", "hi"):
        assert a[name] == b[name], name
    for name in ("sx", "mx"):
        assert [v is None for v in a[name]] == [v is None for v in b[name]], name
        got, want = ([v for v in c[name] if v is not None] for c in (a, b))
        assert got == pytest.approx(want, rel=1e-9), name
