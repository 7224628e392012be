"""sl.sql() against DuckDB running the same SQL text over the same Arrow tables: random tables
with nulls for every clause, the window table functions against the window references of
tests/differential/test_windows_vs_duckdb.py and DuckDB's time_bucket, and LIKE patterns."""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.engine.evaluate import evaluate
from sabot_lab.expr import col
from tests.support.reference import (
    assert_same_rows,
    collect_all_ways,
    duckdb_connection,
    duckdb_table,
)
from tests.support.strategies import tables
from tests.support.windows import assert_same_windows, out_of_order_events, reference

RIGHT = pa.schema([("i", pa.int64()), ("j", pa.int64()), ("s", pa.string())])
SETTINGS = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def numbered(table: pa.Table) -> pa.Table:
    """The table with a unique row number ``rn``, so ORDER BY can give a total order."""
    return table.append_column("rn", pa.array(range(table.num_rows), pa.int64()))


def positional(table: pa.Table) -> pa.Table:
    """Columns renamed by position: DuckDB may repeat a name that sabot-lab makes unique."""
    return table.rename_columns([f"c{k}" for k in range(table.num_columns)])


def check(query: str, ordered: bool = False, **inputs: pa.Table) -> None:
    expected = duckdb_table(query, **inputs)
    stream = sl.sql(query, **inputs)
    for result in collect_all_ways(stream):
        assert result.schema.names == stream.schema.names
        assert_same_rows(positional(result), positional(expected), ordered=ordered)


# (id, SQL over t (columns i j f s b t rn) and r (i j s), its row order is defined)
QUERIES: list[tuple[str, str, bool]] = [
    ("star", "SELECT * FROM t", False),
    (
        "aggregate_filters",
        "SELECT s, COUNT(*) FILTER (WHERE i > 0) AS n, SUM(j) FILTER (WHERE b) AS sj, "
        "COUNT(DISTINCT i) FILTER (WHERE j < 3) AS d, AVG(f) FILTER (WHERE NOT b) AS m, "
        "MAX(i) FILTER (WHERE i IS NOT NULL AND j > i) AS hi FROM t GROUP BY s",
        False,
    ),
    (
        "regex_and_split_functions",
        "SELECT rn, regexp_extract(s, '([a-c])([a-z]*)', 2) AS e, regexp_extract(s, 'b.') AS w, "
        "regexp_replace(s, '(a|b)', '[\\1]') AS r, regexp_replace(s, 'a', '-', 'g') AS g, "
        "split_part(s, 'b', 1) AS p1, split_part(s, 'a', -2) AS p2 FROM t",
        False,
    ),
    (
        "arithmetic",
        "SELECT rn, i + j AS a, j - i * 2 AS b, f * 2 AS c, j / 7 AS d, -i AS e FROM t",
        False,
    ),
    (
        "integer_division",
        "SELECT rn, j // 7 AS q, j % 7 AS m, (i + 3) * (j - 1) AS p FROM t",
        False,
    ),
    ("where", "SELECT rn, i, j FROM t WHERE i > 2 AND (j <= 100 OR f <> 1.5)", False),
    ("where_boolean_column", "SELECT rn FROM t WHERE NOT b OR s = 'a'", False),
    (
        "in_list",
        "SELECT rn, i IN (1, 2, NULL) AS x, s NOT IN ('a', 'ab') AS y FROM t WHERE i IN (1, 2, 3, 4, 5) OR j IN (0, -1)",
        False,
    ),
    ("between", "SELECT rn FROM t WHERE j BETWEEN -100 AND 100 AND i NOT BETWEEN 0 AND 3", False),
    (
        "like",
        "SELECT rn, s LIKE 'a%' AS a, s LIKE '_b%' AS b, s NOT LIKE '%b' AS c, s ILIKE 'a%' AS d FROM t",
        False,
    ),
    (
        "is_null",
        "SELECT rn, i IS NULL AS a, s IS NOT NULL AS b FROM t WHERE f IS NOT NULL OR t IS NULL",
        False,
    ),
    (
        "case",
        "SELECT rn, CASE WHEN i > 5 THEN 'big' WHEN i > 0 THEN 'small' ELSE 'other' END AS a, CASE s WHEN 'a' THEN 1 WHEN 'ab' THEN 2 END AS b FROM t",
        False,
    ),
    (
        "cast",
        "SELECT rn, CAST(i AS DOUBLE) AS a, CAST(j AS VARCHAR) AS b, CAST(b AS INTEGER) AS c, i::BIGINT AS d FROM t",
        False,
    ),
    (
        "null_functions",
        "SELECT rn, COALESCE(i, j, 0) AS a, NULLIF(i, 1) AS b, ABS(j) AS c, IFNULL(f, 0.5) AS d FROM t",
        False,
    ),
    (
        "string_functions",
        "SELECT rn, lower(s) AS a, upper(s) AS b, length(s) AS c, starts_with(s, 'a') AS d, ends_with(s, 'b') AS e, contains(s, 'b') AS g FROM t",
        False,
    ),
    (
        "temporal_functions",
        "SELECT rn, year(t) AS y, month(t) AS mo, day(t) AS d, hour(t) AS h, minute(t) AS mi, second(t) AS sec, date_trunc('month', t) AS m0, date_trunc('hour', t) AS h0, extract(year FROM t) AS ey FROM t",
        False,
    ),
    (
        "math_functions",
        "SELECT rn, ROUND(f) AS a, ROUND(f, 1) AS b, ROUND(j, -2) AS c, ROUND(j / 8, 2) AS c2, FLOOR(f) AS d, CEIL(f) AS e, CEILING(j) AS g, SQRT(f) AS h, POWER(i, 2) AS k, POW(f, i) AS l, EXP(f / 100) AS m, LN(f) AS n, LOG10(j) AS o, LOG(j) AS p, LOG(2, j) AS q, SIGN(f) AS r, SIGN(i) AS r2, MOD(j, -7) AS u, f % 3 AS v, j % f AS v2, i ** 2 AS w FROM t",
        False,
    ),
    (
        "substring",
        "SELECT rn, SUBSTRING(s, 2, 2) AS a, SUBSTR(s, 2) AS b, SUBSTRING(s FROM -2 FOR 5) AS c, SUBSTRING(s, 0, 2) AS d, SUBSTRING(s, 3, -2) AS e, SUBSTRING(s, -1, -1) AS g, SUBSTRING(s, -9, 8) AS h, SUBSTRING(s, 0) AS k, SUBSTRING(s, 2, NULL) AS l FROM t",
        False,
    ),
    (
        "string_edits",
        "SELECT rn, CONCAT(s, i, NULL) AS h, s || '-' || i AS k, CONCAT_WS('/', s, i, b) AS l, TRIM(s, 'a') AS m, LTRIM('  ' || s) AS n, RTRIM(s || '  ') AS o, TRIM(BOTH 'b' FROM s) AS p, TRIM(LEADING 'A' FROM s) AS p2, REPLACE(s, 'a', 'xy') AS q, LEFT(s, 2) AS r, RIGHT(s, -1) AS u, LEFT(s, -1) AS v, RIGHT(s, 5) AS w FROM t",
        False,
    ),
    (
        "greatest_least",
        "SELECT rn, GREATEST(i, j, f) AS a, LEAST(i, j) AS b, GREATEST(s, 'b') AS c, LEAST(NULL, i) AS d FROM t",
        False,
    ),
    (
        "temporal_parts",
        "SELECT rn, EXTRACT(quarter FROM t) AS q, EXTRACT(dow FROM t) AS dw, EXTRACT(isodow FROM t) AS idw, EXTRACT(doy FROM t) AS dy, EXTRACT(week FROM t) AS wk, DATE_TRUNC('quarter', t) AS q0, quarter(t) AS q2, dayofweek(t) AS dw2, dayofyear(t) AS dy2 FROM t",
        False,
    ),
    (
        "global_aggregate",
        "SELECT COUNT(*) AS n, COUNT(i) AS ci, SUM(j) AS sj, AVG(f) AS af, MIN(s) AS lo, MAX(t) AS hi, COUNT(DISTINCT i) AS di FROM t",
        False,
    ),
    (
        "group_by",
        "SELECT s, COUNT(*) AS n, SUM(j) AS sj, AVG(f) AS af, MIN(i) AS lo, MAX(t) AS hi FROM t GROUP BY s",
        False,
    ),
    ("group_by_expression", "SELECT i % 3 AS k, SUM(j) AS total FROM t GROUP BY i % 3", False),
    (
        "group_by_position_and_alias",
        "SELECT i % 3 AS k, b, COUNT(*) AS n FROM t GROUP BY k, 2",
        False,
    ),
    ("group_by_all", "SELECT s, i % 2 AS odd, SUM(j) AS total FROM t GROUP BY ALL", False),
    (
        "aggregate_arithmetic",
        "SELECT b, i, SUM(j) / COUNT(*) AS m, MAX(j) - MIN(j) AS spread, SUM(i * j) AS x, AVG(f + 1) AS y FROM t GROUP BY b, i",
        False,
    ),
    (
        "aggregate_of_case",
        "SELECT s, SUM(CASE WHEN b THEN j ELSE 0 END) AS x, COUNT(DISTINCT b) AS z FROM t GROUP BY s",
        False,
    ),
    (
        "having",
        "SELECT s, COUNT(*) AS n FROM t GROUP BY s HAVING COUNT(*) > 1 AND MAX(j) > 0",
        False,
    ),
    ("having_alias", "SELECT i, SUM(j) AS total FROM t GROUP BY i HAVING total > 0", False),
    ("order_by", "SELECT rn, i, s FROM t ORDER BY i DESC, s, rn", True),
    (
        "order_nulls_first",
        "SELECT rn, f, s FROM t ORDER BY s DESC NULLS FIRST, f NULLS FIRST, rn",
        True,
    ),
    ("order_by_unselected_expression", "SELECT rn FROM t ORDER BY j * -1, rn", True),
    ("order_by_position_and_alias", "SELECT rn, j + 1 AS k FROM t ORDER BY k DESC, 1", True),
    ("limit_offset", "SELECT rn, j FROM t ORDER BY j, rn LIMIT 5 OFFSET 3", True),
    ("offset", "SELECT rn FROM t ORDER BY rn OFFSET 4", True),
    ("distinct", "SELECT DISTINCT i, b FROM t", False),
    ("distinct_ordered", "SELECT DISTINCT s FROM t ORDER BY s", True),
    (
        "group_order_limit",
        "SELECT i, COUNT(*) AS n FROM t GROUP BY i ORDER BY n DESC, i LIMIT 3",
        True,
    ),
    ("join", "SELECT t.rn, t.i, r.j AS rj, r.s FROM t JOIN r ON t.i = r.i", False),
    ("join_star", "SELECT * FROM t INNER JOIN r ON t.i = r.i", False),
    (
        "join_expression_key_and_condition",
        "SELECT t.rn, r.j FROM t JOIN r ON t.i + 1 = r.i AND t.j > r.j",
        False,
    ),
    ("left_join", "SELECT t.rn, r.j, r.i FROM t LEFT JOIN r ON t.i = r.i AND r.j > 0", False),
    ("join_using", "SELECT * FROM t JOIN r USING (i)", False),
    ("left_join_using", "SELECT t.rn, i, r.s FROM t LEFT OUTER JOIN r USING (i)", False),
    ("right_join", "SELECT t.rn, r.j, r.i, t.s FROM t RIGHT JOIN r ON t.i = r.i", False),
    ("right_join_star", "SELECT * FROM t RIGHT OUTER JOIN r ON t.i = r.i AND t.j > 0", False),
    ("right_join_using", "SELECT * FROM r RIGHT JOIN t USING (i)", False),
    ("full_join", "SELECT t.rn, r.j, r.i, t.i AS ti, t.s FROM t FULL JOIN r ON t.i = r.i", False),
    ("full_join_star", "SELECT * FROM t FULL OUTER JOIN r ON r.i = t.i AND t.s = r.s", False),
    ("full_join_using", "SELECT *, t.i AS ti, r.i AS ri FROM r FULL JOIN t USING (i)", False),
    (
        "full_join_grouped",
        "SELECT i, COUNT(t.rn) AS n, SUM(r.j) AS sj FROM t FULL JOIN r USING (i) GROUP BY i",
        False,
    ),
    (
        "full_join_after_join",
        "SELECT a.rn, b.s, c.j, c.s AS cs FROM t AS a JOIN r AS b ON a.i = b.i FULL JOIN r AS c ON b.j = c.j",
        False,
    ),
    (
        "right_join_after_join",
        "SELECT a.rn, b.s, c.j, c.s AS cs FROM t AS a JOIN r AS b ON a.i = b.i RIGHT JOIN r AS c ON b.j = c.j",
        False,
    ),
    ("semi_join", "SELECT * FROM t SEMI JOIN r ON t.i = r.i", False),
    ("anti_join", "SELECT * FROM t ANTI JOIN r ON r.i = t.i", False),
    ("comma_join", "SELECT t.rn, r.s FROM t, r WHERE t.i = r.i AND r.j > t.j", False),
    (
        "three_way_join",
        "SELECT a.rn, b.s, c.j FROM t AS a JOIN r AS b ON a.i = b.i JOIN r AS c ON b.j = c.j",
        False,
    ),
    (
        "self_join",
        "SELECT a.rn, b.rn AS other FROM t AS a JOIN t AS b ON a.i = b.i AND a.rn < b.rn",
        False,
    ),
    ("qualified_star", "SELECT r.*, t.rn FROM t JOIN r ON t.i = r.i", False),
    (
        "in_subquery",
        "SELECT rn FROM t WHERE i IN (SELECT i FROM r WHERE j > 0) AND j > -500",
        False,
    ),
    (
        "subquery_in_from",
        "SELECT q.k, COUNT(*) AS n FROM (SELECT i % 2 AS k, j FROM t WHERE j > 0) AS q GROUP BY q.k",
        False,
    ),
    ("table_alias_columns", "SELECT u.x, u.y FROM t AS u(x, y)", False),
    (
        "with",
        "WITH big AS (SELECT * FROM t WHERE j > 0), per AS (SELECT i, SUM(j) AS sj FROM big GROUP BY i) SELECT per.i, per.sj, r.s FROM per JOIN r ON per.i = r.i",
        False,
    ),
    ("with_column_names", "WITH c(x, y) AS (SELECT i, j FROM t) SELECT x + y AS z FROM c", False),
    ("union_all", "SELECT i, s FROM t UNION ALL SELECT i, s FROM r", False),
    ("union", "SELECT i, s FROM t UNION SELECT j, s FROM r", False),
    ("except", "SELECT i, s FROM t EXCEPT SELECT i, s FROM r", False),
    ("intersect", "SELECT i, s FROM t INTERSECT SELECT i, s FROM r", False),
    ("intersect_ordered", "SELECT s FROM t INTERSECT SELECT s FROM r ORDER BY s NULLS FIRST", True),
    (
        "set_operations_chained",
        "SELECT i, b FROM t INTERSECT SELECT i, j > 0 FROM r EXCEPT SELECT i, b FROM t WHERE j > 0",
        False,
    ),
    (
        "union_ordered",
        "SELECT i AS k FROM t UNION ALL SELECT j FROM r ORDER BY k DESC LIMIT 4",
        True,
    ),
    (
        "join_group_having_order",
        "SELECT r.s, SUM(t.f * t.j) AS notional, COUNT(*) AS n FROM t JOIN r ON t.i = r.i WHERE t.f > 0 GROUP BY r.s HAVING COUNT(*) > 1 ORDER BY notional DESC, r.s LIMIT 10",
        True,
    ),
]


@pytest.mark.parametrize(
    ("query", "ordered"), [q[1:] for q in QUERIES], ids=[q[0] for q in QUERIES]
)
@SETTINGS
@given(left=tables(max_rows=30), right=tables(max_rows=12, schema=RIGHT))
def test_query_equals_duckdb(query: str, ordered: bool, left: pa.Table, right: pa.Table) -> None:
    check(query, ordered, t=numbered(left), r=right)


def test_readme_query_over_a_stream_and_a_table() -> None:
    rng = np.random.default_rng(7)
    quotes = pa.table({
        "security_id": rng.integers(0, 60, 5_000), "price": rng.uniform(50, 150, 5_000),
        "size": pa.array(rng.integers(1, 100, 5_000), mask=rng.random(5_000) < 0.05),
    })  # fmt: skip
    secs = pa.table({"id": np.arange(50), "sector": rng.choice(["energy", "tech", "health"], 50)})
    query = (
        "SELECT sector, SUM(price*size) AS notional FROM quotes JOIN secs "
        "ON quotes.security_id = secs.id WHERE price > 100 GROUP BY sector "
        "HAVING COUNT(*) > 1 ORDER BY notional DESC LIMIT 10"
    )
    out = sl.sql(query, quotes=sl.from_arrow(quotes), secs=secs)
    assert isinstance(out, sl.Stream)
    assert_same_rows(out.collect(), duckdb_table(query, quotes=quotes, secs=secs), ordered=True)


def test_tables_from_pandas_record_batches_and_a_mapping() -> None:
    frame = pd.DataFrame({"k": ["a", "b", "a"], "x": [1.0, 2.5, None]})
    batch = pa.record_batch({"k": ["a", "c"], "label": ["first", "third"]})
    query = 'SELECT "my-table".k, SUM(x) AS total, MIN(label) AS label FROM "my-table" LEFT JOIN labels USING (k) GROUP BY "my-table".k'
    out = sl.sql(query, {"my-table": frame}, labels=batch).collect()
    expected = duckdb_table(
        query.replace('"my-table"', "frame"), frame=pa.Table.from_pandas(frame), labels=batch
    )
    assert_same_rows(out, expected)


def test_names_match_tables_and_columns_ignoring_case() -> None:
    t = pa.table({"Price": [1.0, 2.0], "qty": [3, 4]})
    check("SELECT price * QTY AS n FROM T WHERE T.PRICE > 1", T=t)


# ----------------------------------------------------------------------------- windows

AGGS = "COUNT(*) AS n, SUM(x) AS sx, AVG(x) AS mx, COUNT(x) AS cx, MIN(y) AS lo, MAX(y) AS hi"
WINDOW_CALLS = {
    "tumbling": ("TUMBLE(TABLE ev, DESCRIPTOR(t), INTERVAL '{size}' SECONDS)", 1),
    "sliding": (
        "HOP(TABLE ev, DESCRIPTOR(t), INTERVAL '{slide}' SECONDS, INTERVAL '{size}' SECONDS)",
        5,
    ),
    "session": ("SESSION(TABLE ev PARTITION BY k, DESCRIPTOR(t), INTERVAL '{size}' SECONDS)", 1),
}


@pytest.mark.parametrize("kind", list(WINDOW_CALLS))
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 1_500), size_s=st.sampled_from([5, 10]))
def test_window_table_functions_equal_duckdb(kind: str, seed: int, n: int, size_s: int) -> None:
    events = out_of_order_events(seed, n, disorder_ms=3_000)
    call, per_size = WINDOW_CALLS[kind]
    slide_s = size_s // per_size
    query = (
        f"SELECT k, window_start, window_end, {AGGS} "
        f"FROM TABLE({call.format(size=size_s, slide=slide_s)}) GROUP BY k, window_start, window_end"
    )
    ev = sl.from_arrow(events).with_watermark("t", "4s")
    result = sl.sql(query, ev=ev).run()
    assert result.metrics_total("late_rows") == 0
    assert_same_windows(result.table, reference(events, kind, size_s * 1_000, slide_s * 1_000))


GROUP_WINDOWS = {
    "tumbling": ("TUMBLE(t, INTERVAL '{size}' SECOND)", 1),
    "sliding": ("HOP(t, INTERVAL '{slide}' SECOND, INTERVAL '{size}' SECOND)", 5),
    "session": ("SESSION(t, INTERVAL '{size}' SECOND)", 1),
}


@pytest.mark.parametrize("kind", list(GROUP_WINDOWS))
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 1_500), size_s=st.sampled_from([5, 10]))
def test_flink_group_windows_equal_the_window_reference(
    kind: str, seed: int, n: int, size_s: int
) -> None:
    """Flink's GROUP BY TUMBLE/HOP/SESSION(time, ...) with its *_START/*_END bounds, written
    with backtick identifiers, as the same windows per key."""
    events = out_of_order_events(seed, n, disorder_ms=3_000)
    call, per_size = GROUP_WINDOWS[kind]
    window = call.format(size=size_s, slide=size_s // per_size)
    prefix = window.split("(")[0]
    bounds = window.split("(", 1)[1][:-1]
    query = (
        f"SELECT `k`, {prefix}_START({bounds}) AS window_start, "
        f"{prefix}_END({bounds}) AS `window_end`, {AGGS} FROM `ev` GROUP BY `k`, {window}"
    )
    result = sl.sql(query, ev=sl.from_arrow(events).with_watermark("t", "4s")).run()
    assert result.metrics_total("late_rows") == 0
    expected = reference(events, kind, size_s * 1_000, (size_s // per_size) * 1_000)
    assert_same_windows(result.table, expected)


def test_flink_date_format_equals_duckdb_strftime() -> None:
    bids = sl.nexmark(events=2_000, seed=4).bids
    ours = sl.sql(
        "SELECT auction, DATE_FORMAT(dateTime, 'yyyy-MM-dd HH:mm') AS minute, "
        "DATE_FORMAT(dateTime, 'EEE dd MMM yy, hh:mm:ss a') AS spoken FROM bid",
        bid=bids,
    ).collect()
    expected = duckdb_table(
        "SELECT auction, strftime(dateTime, '%Y-%m-%d %H:%M') AS minute, "
        "strftime(dateTime, '%a %d %b %y, %I:%M:%S %p') AS spoken FROM bid",
        bid=bids.collect(),
    )
    assert_same_rows(positional(ours), positional(expected))
    with pytest.raises(sl.SQLError, match="date pattern letters 'SSS'"):
        sl.sql("SELECT DATE_FORMAT(dateTime, 'ss.SSS') FROM bid", bid=bids)


def test_group_window_errors_name_the_fix() -> None:
    ev = out_of_order_events(1, 10, disorder_ms=0)
    with pytest.raises(sl.SQLError, match=r"FROM TABLE\(TUMBLE\(TABLE t, DESCRIPTOR\(time\)"):
        sl.sql(
            "SELECT COUNT(*) FROM ev JOIN ev AS o ON ev.k = o.k "
            "GROUP BY TUMBLE(ev.t, INTERVAL '1' SECOND)",
            ev=ev,
        )
    with pytest.raises(sl.SQLError, match=r"HOP_END.* is not a bound of the GROUP BY's TUMBLE"):
        sl.sql(
            "SELECT HOP_END(t, INTERVAL '1' SECOND, INTERVAL '2' SECOND) FROM ev "
            "GROUP BY TUMBLE(t, INTERVAL '1' SECOND)",
            ev=ev,
        )


def test_named_window_arguments_and_an_alias_give_the_same_windows() -> None:
    events = out_of_order_events(5, 2_000, disorder_ms=0)
    query = (
        f"SELECT w.k, w.window_start, w.window_end, {AGGS} FROM TABLE(TUMBLE(DATA => TABLE ev, "
        "TIMECOL => DESCRIPTOR(t), SIZE => INTERVAL '10 seconds')) AS w "
        "GROUP BY w.k, w.window_start, w.window_end"
    )
    assert_same_windows(
        sl.sql(query, ev=events).collect(), reference(events, "tumbling", 10_000, 10_000)
    )


def test_tumbling_nexmark_bids_equal_duckdb_time_bucket() -> None:
    bids = sl.nexmark(events=60_000, event_rate=10_000, seed=3).bids
    query = (
        "SELECT auction, window_start, window_end, COUNT(*) AS n, MAX(price) AS top, "
        "SUM(price) / COUNT(*) AS mean "
        "FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(dateTime), INTERVAL '1' SECOND)) "
        "WHERE price > 1000 GROUP BY auction, window_start, window_end HAVING COUNT(*) > 2 "
        "ORDER BY window_start, n DESC, auction LIMIT 50"
    )
    reference_sql = (
        "SELECT auction, time_bucket(INTERVAL '1 second', dateTime) AS ws, "
        "time_bucket(INTERVAL '1 second', dateTime) + INTERVAL '1 second' AS we, count(*) AS n, "
        "max(price) AS top, sum(price) / count(*) AS mean FROM bids WHERE price > 1000 "
        "GROUP BY ALL HAVING count(*) > 2 ORDER BY ws, n DESC, auction LIMIT 50"
    )
    expected = duckdb_table(reference_sql, bids=bids.collect())
    out = sl.sql(query, bids=bids).collect()
    assert out.num_rows == 50
    assert_same_rows(positional(out), positional(expected), ordered=True)


def test_an_unbounded_stream_gives_windows_as_the_watermark_passes() -> None:
    base = dt.datetime(2026, 1, 1)

    def second(i: int) -> pa.Table:  # one row per millisecond, forever
        ms = np.arange(i * 1_000, (i + 1) * 1_000)
        return pa.table({"t": pa.array(np.datetime64(base, "ms") + ms), "v": ms % 7})

    ticks = sl.from_generator(second).with_watermark("t", "100ms")
    query = (
        "SELECT window_start, COUNT(*) AS n, SUM(v) AS total FROM TABLE(HOP(TABLE ticks, "
        "DESCRIPTOR(t), INTERVAL '1' SECOND, INTERVAL '2' SECONDS)) "
        "GROUP BY window_start, window_end LIMIT 4"
    )
    out = sl.sql(query, ticks=ticks)
    assert not out.bounded
    first = pa.concat_tables([second(i) for i in range(5)])
    expected = duckdb_table(
        "SELECT ws AS window_start, count(*) AS n, sum(v) AS total FROM "
        "(SELECT v, unnest([time_bucket(INTERVAL '1 second', t) - INTERVAL '1 second', "
        "time_bucket(INTERVAL '1 second', t)]) AS ws FROM first) "
        "GROUP BY ws ORDER BY ws LIMIT 4",
        first=first,
    )
    assert_same_rows(out.collect(), expected, ordered=True)


# ----------------------------------------------------------------------------- LIKE

PATTERN_CHARS = "ab%_\\.*'(é\n"


@settings(max_examples=150, deadline=None)
@given(
    pattern=st.text(PATTERN_CHARS, max_size=5),
    values=st.lists(
        st.one_of(st.none(), st.text(PATTERN_CHARS + string.ascii_uppercase, max_size=6)),
        max_size=8,
    ),
)
def test_like_matches_duckdb(pattern: str, values: list[Any]) -> None:
    batch = pa.record_batch({"s": pa.array(values, pa.string())})
    ours = evaluate(col("s").str.like(pattern), batch).to_pylist()
    con = duckdb_connection()
    con.register("b", pa.Table.from_batches([batch]))
    theirs = [row[0] for row in con.execute("SELECT s LIKE ? FROM b", [pattern]).fetchall()]
    assert ours == theirs
