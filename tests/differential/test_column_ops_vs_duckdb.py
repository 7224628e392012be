"""drop, fill_null, drop_nulls and the std/var/median/quantile aggregates (API, SQL, windows),
checked against DuckDB on random tables with nulls: groups of one row and all-null groups
included, batch boundaries everywhere so partial aggregates are merged."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from sabot_lab import col
from tests.support import windows
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import keyed_tables, tables

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(stream: sl.Stream, sql: str, ordered: bool = False, **named: pa.Table) -> None:
    expected = duckdb_table(sql, **named)
    for result in collect_all_ways(stream):
        assert result.schema.names == stream.schema.names
        assert_same_rows(result, expected, ordered=ordered)


@SETTINGS
@given(table=tables())
def test_drop_fill_null_and_drop_nulls_match_duckdb(table: pa.Table) -> None:
    s = sl.from_arrow(table)
    check(s.drop("f", ["s"]), "SELECT i, j, b, t FROM t", ordered=True, t=table)
    check(
        s.fill_null(0),
        "SELECT coalesce(i, 0) AS i, coalesce(j, 0) AS j, coalesce(f, 0) AS f, s, b, t FROM t",
        ordered=True,
        t=table,
    )
    check(
        s.fill_null("?"),
        "SELECT i, j, f, coalesce(s, '?') AS s, b, t FROM t",
        ordered=True,
        t=table,
    )
    check(s.drop_nulls(), "SELECT * FROM t WHERE COLUMNS(*) IS NOT NULL", ordered=True, t=table)
    check(
        s.drop_nulls(["i", "s"]),
        "SELECT * FROM t WHERE i IS NOT NULL AND s IS NOT NULL",
        ordered=True,
        t=table,
    )


SPREADS = {
    "sd": (col("y").std(), "stddev_samp(y)"),
    "sd0": (col("x").std(ddof=0), "stddev_pop(x)"),
    "v": (col("x").var(), "var_samp(x)"),
    "v0": (col("y").var(ddof=0), "var_pop(y)"),
    "med": (col("x").median(), "median(x)"),
    "q": (col("y").quantile(0.25, "linear"), "quantile_cont(y, 0.25)"),
    "qd": (col("x").quantile(0.8, "equiprobable"), "quantile_disc(x, 0.8)"),
    "mean": (col("y").mean(), "avg(y)"),
}


@SETTINGS
@given(table=keyed_tables())
def test_spread_and_order_statistics_by_group_match_duckdb(table: pa.Table) -> None:
    aggs = {name: agg for name, (agg, _) in SPREADS.items()}
    sql = ", ".join(f"{ref} AS {name}" for name, (_, ref) in SPREADS.items())
    s = sl.from_arrow(table)
    check(s.group_by("k").agg(**aggs), f"SELECT k, {sql} FROM t GROUP BY k", t=table)
    check(s.group_by("k", "g").agg(**aggs), f"SELECT k, g, {sql} FROM t GROUP BY k, g", t=table)
    check(s.agg(**aggs), f"SELECT {sql} FROM t", t=table)


SQL_AGGREGATES = (
    "stddev(y) AS a, stddev_samp(x) AS b, stddev_pop(y) AS c, variance(x) AS d, "
    "var_samp(y) AS e, var_pop(x) AS f, median(y) AS g, quantile_cont(x, 0.9) AS h, "
    "quantile_disc(y, 0.5) AS i, percentile_cont(0.3) WITHIN GROUP (ORDER BY y) AS j, "
    "percentile_cont(0.3) WITHIN GROUP (ORDER BY y DESC) AS l, "
    "percentile_disc(0.6) WITHIN GROUP (ORDER BY x) AS m, sum(abs(x)) AS n, "
    "stddev(x) + median(y) AS o"
)


@SETTINGS
@given(table=keyed_tables())
def test_sql_spread_and_quantile_functions_match_duckdb(table: pa.Table) -> None:
    sql = f"SELECT k, {SQL_AGGREGATES} FROM t GROUP BY k"
    check(sl.sql(sql, t=table), sql, t=table)


def test_a_descending_discrete_percentile_is_refused_in_sql() -> None:
    table = pa.table({"x": [1, 2]})
    with pytest.raises(sl.SQLError, match="DESC"):
        sl.sql("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x DESC) FROM t", t=table)


WINDOW_AGGS = {
    "sd": col("x").std(),
    "v": col("y").var(ddof=0),
    "med": col("y").median(),
    "q": col("x").quantile(0.9, "lower"),
    "u": col("y").n_unique(),
    "n": sl.count(),
}
WINDOW_SQL = (
    "stddev_samp(x) AS sd, var_pop(y) AS v, median(y) AS med, "
    "list_sort(list(x) FILTER (x IS NOT NULL))[CAST(floor((count(x) - 1) * 0.9) AS BIGINT) + 1] "
    "AS q, count(DISTINCT y) AS u, count(*) AS n"
)
WINDOWS = {
    "tumbling": (sl.tumbling("10s", on="t"), 10_000, 10_000),
    "sliding": (sl.sliding("20s", "5s", on="t"), 20_000, 5_000),
    "session": (sl.session("2s", on="t"), 2_000, 2_000),
}


@pytest.mark.parametrize("kind", list(WINDOWS))
def test_windowed_spreads_quantiles_and_distinct_counts_match_duckdb(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, size, slide = WINDOWS[kind]
    table = windows.out_of_order_events(seed=3, n=3_000, disorder_ms=5_000)
    stream = (
        sl.from_arrow(table)
        .with_watermark("t", max_delay="5s")
        .window(spec)
        .group_by("k")
        .agg(**WINDOW_AGGS)
        .select("k", col("window_start").cast("int64").alias("ws"), *WINDOW_AGGS)
    )
    monkeypatch.setattr(windows, "SQL_AGGS", WINDOW_SQL)
    expected = windows.reference(table, kind, size, slide).select(["k", "ws", *WINDOW_AGGS])
    for result in collect_all_ways(stream):
        assert_same_rows(result, expected)
