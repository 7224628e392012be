"""Subqueries in sl.sql() against DuckDB running the same SQL over the same random tables with
nulls, duplicates and empty inputs: each decorrelation rule by hand (uncorrelated and
correlated scalar subqueries with COUNT of no rows, [NOT] EXISTS with and without other
correlated conditions, [NOT] IN with SQL's nulls, subqueries in SELECT and HAVING), then random
subqueries of every kind; and the constructs refused instead of answered wrongly."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.errors import SabotError, SQLError
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import keyed_tables

SETTINGS = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(query: str, **inputs: pa.Table) -> None:
    expected = duckdb_table(query, **inputs)
    stream = sl.sql(query, **inputs)
    for result in collect_all_ways(stream):
        assert result.num_columns == expected.num_columns
        assert_same_rows(result, expected)


# (id, SQL over t and u, both of columns k g x y): one or more cases per rule
CASES: list[tuple[str, str]] = [
    # scalar, uncorrelated: one row cross joined; no row gives NULL
    ("scalar_where", "SELECT k, x FROM t WHERE x > (SELECT AVG(x) FROM u)"),
    ("scalar_select", "SELECT k, x, (SELECT MAX(x) FROM u) AS m, (SELECT COUNT(*) FROM u) AS n FROM t"),
    ("scalar_no_row", "SELECT k, (SELECT x FROM u WHERE x > 1000) AS m FROM t"),
    ("scalar_one_row", "SELECT k, (SELECT x FROM u ORDER BY x NULLS FIRST LIMIT 1) AS m FROM t"),
    ("scalar_in_expression", "SELECT k, x - (SELECT MIN(x) FROM u) AS d FROM t WHERE (SELECT COUNT(*) FROM u) > 2 OR x > 0"),
    # scalar, correlated by equalities: grouped by the keys, LEFT joined; COUNT of no rows is 0
    ("correlated_where", "SELECT k, x FROM t WHERE x < (SELECT AVG(u.x) FROM u WHERE u.k = t.k)"),
    ("correlated_select", "SELECT k, x, (SELECT SUM(u.y) FROM u WHERE u.k = t.k AND u.x > 0) AS s FROM t"),
    ("count_bug", "SELECT k, g, (SELECT COUNT(*) FROM u WHERE u.k = t.k) AS n, (SELECT COUNT(u.x) + 1 FROM u WHERE u.k = t.k AND u.g = t.g) AS m FROM t"),
    ("count_bug_where", "SELECT k, x FROM t WHERE (SELECT COUNT(*) FROM u WHERE u.k = t.k) = 0"),
    ("count_coalesce", "SELECT k, (SELECT COALESCE(SUM(u.x), -1) FROM u WHERE t.k = u.k) AS s FROM t"),
    ("two_keys", "SELECT k, g, (SELECT MAX(u.y) FROM u WHERE u.g = t.g AND u.k = t.k) AS m FROM t"),
    ("expression_keys", "SELECT k, (SELECT MIN(u.x) FROM u WHERE u.k + 1 = t.k * 1) AS m FROM t"),
    ("same_names_inside_first", "SELECT k, x FROM t WHERE x >= (SELECT MAX(x) FROM u WHERE k = t.k)"),
    ("correlated_one_row_per_key", "SELECT k, (SELECT MIN(v.g) FROM (SELECT DISTINCT k, g FROM u) v WHERE v.k = t.k) AS m FROM t"),
    # [NOT] EXISTS: semi / anti joins; other correlated conditions through numbered rows
    ("exists", "SELECT k, x FROM t WHERE EXISTS (SELECT * FROM u WHERE u.k = t.k)"),
    ("not_exists", "SELECT k, x FROM t WHERE NOT EXISTS (SELECT 1 FROM u WHERE u.k = t.k AND u.x > 0)"),
    ("exists_residual", "SELECT k, x FROM t WHERE EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.x <> t.x)"),
    ("not_exists_residual", "SELECT k, x, g FROM t WHERE NOT EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.x > t.x AND u.g = 'a')"),
    ("exists_uncorrelated", "SELECT k FROM t WHERE EXISTS (SELECT * FROM u WHERE x > 30) AND NOT EXISTS (SELECT * FROM u WHERE x > 1000)"),
    ("exists_marks", "SELECT k, EXISTS (SELECT * FROM u WHERE u.k = t.k) AS e, NOT EXISTS (SELECT * FROM u WHERE u.g = t.g) AS n FROM t"),
    ("exists_under_or", "SELECT k, x FROM t WHERE x > 20 OR EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.x < 0)"),
    # [NOT] IN (SELECT ...): NULL in the subquery, NULL x, empty subqueries
    ("in", "SELECT k, x FROM t WHERE x IN (SELECT x FROM u)"),
    ("not_in", "SELECT k, x FROM t WHERE x NOT IN (SELECT x FROM u)"),
    ("not_in_no_nulls", "SELECT k, x FROM t WHERE x NOT IN (SELECT x FROM u WHERE x IS NOT NULL)"),
    ("not_in_empty", "SELECT k, x FROM t WHERE x NOT IN (SELECT x FROM u WHERE x > 1000)"),
    ("in_correlated", "SELECT k, x FROM t WHERE x IN (SELECT u.x FROM u WHERE u.k = t.k)"),
    ("not_in_correlated", "SELECT k, x, g FROM t WHERE x NOT IN (SELECT u.x FROM u WHERE u.g = t.g)"),
    ("in_residual", "SELECT k, x FROM t WHERE k IN (SELECT u.k FROM u WHERE u.x < t.x)"),
    ("in_marks", "SELECT k, x, x IN (SELECT x FROM u) AS a, x NOT IN (SELECT u.x FROM u WHERE u.k = t.k) AS b FROM t"),
    ("in_under_or", "SELECT k, x FROM t WHERE x < -40 OR NOT (k IN (SELECT k FROM u WHERE x > 0))"),
    ("in_expression", "SELECT k, x FROM t WHERE x + 1 IN (SELECT x * 2 FROM u)"),
    # HAVING and grouped SELECT: uncorrelated values joined with the groups
    ("having", "SELECT k, SUM(x) AS s FROM t GROUP BY k HAVING SUM(x) > (SELECT AVG(x) FROM u)"),
    ("grouped_select", "SELECT g, COUNT(*) AS n, (SELECT MAX(x) FROM u) AS m, EXISTS (SELECT * FROM u WHERE y > 5) AS e FROM t GROUP BY g"),
    ("global_aggregate", "SELECT COUNT(*) AS n, (SELECT COUNT(*) FROM u) AS m FROM t"),
    # subqueries inside subqueries, each correlated with the query around it
    ("nested", "SELECT k, g FROM t WHERE k IN (SELECT k FROM u WHERE u.x > (SELECT AVG(w.x) FROM u w WHERE w.g = u.g))"),
    ("nested_exists", "SELECT k FROM t WHERE EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.g IN (SELECT g FROM t t2 WHERE t2.x > 0))"),
    ("derived", "SELECT k, n FROM (SELECT k, (SELECT COUNT(*) FROM u WHERE u.k = t.k) AS n FROM t) s WHERE n > 0"),
]  # fmt: skip


@pytest.mark.parametrize("query", [c[1] for c in CASES], ids=[c[0] for c in CASES])
@SETTINGS
@given(t=keyed_tables(max_rows=20), u=keyed_tables(max_rows=20))
def test_subquery_equals_duckdb(query: str, t: pa.Table, u: pa.Table) -> None:
    check(query, t=t, u=u)


# ----------------------------------------------------------------------------- random subqueries

AGGREGATES = ["COUNT(*)", "COUNT(u.x)", "SUM(u.x)", "MIN(u.y)", "MAX(u.x) + 1", "AVG(u.y)"]
CORRELATIONS = ["", "u.k = t.k", "u.k = t.k AND u.g = t.g", "u.x + 0 = t.x"]
FILTERS = ["", "u.x > 0", "u.g = 'a'", "u.y IS NULL"]
RESIDUALS = ["u.x <> t.x", "u.y < t.y"]


@st.composite
def subquery_queries(draw: st.DrawFn) -> str:
    """A query over t with one random subquery over u: scalar, EXISTS, IN or NOT IN, in WHERE
    or in SELECT, uncorrelated or correlated by equalities (plus, in WHERE, another condition)."""
    kind = draw(st.sampled_from(["scalar", "exists", "not_exists", "in", "not_in"]))
    where = draw(st.booleans())
    conditions = [draw(st.sampled_from(CORRELATIONS)), draw(st.sampled_from(FILTERS))]
    keyed = kind == "in" or conditions[0] != ""  # EXISTS needs an equality besides
    if where and kind in ("exists", "not_exists", "in") and keyed and draw(st.booleans()):
        conditions.append(draw(st.sampled_from(RESIDUALS)))
    condition = " AND ".join(c for c in conditions if c)
    where_text = f" WHERE {condition}" if condition else ""
    if kind == "scalar":
        expr = f"(SELECT {draw(st.sampled_from(AGGREGATES))} FROM u{where_text})"
        test = f"t.x <= {expr}" if where else expr
    elif kind in ("exists", "not_exists"):
        expr = f"EXISTS (SELECT * FROM u{where_text})"
        test = expr if kind == "exists" else f"NOT {expr}"
    else:
        value = draw(st.sampled_from([("t.x", "u.x"), ("t.k", "u.k"), ("t.g", "u.g")]))
        negation = "NOT " if kind == "not_in" else ""
        test = f"{value[0]} {negation}IN (SELECT {value[1]} FROM u{where_text})"
    if where:
        return f"SELECT t.k, t.g, t.x FROM t WHERE {test}"
    return f"SELECT t.k, t.g, t.x, {test} AS v FROM t"


@settings(SETTINGS, max_examples=40)
@given(query=subquery_queries(), t=keyed_tables(max_rows=15), u=keyed_tables(max_rows=15))
def test_random_subqueries_equal_duckdb(query: str, t: pa.Table, u: pa.Table) -> None:
    expected = duckdb_table(query, t=t, u=u)
    assert_same_rows(sl.sql(query, t=t, u=u).collect(), expected)


# ----------------------------------------------------------------------------- errors

T = pa.table({"k": [1, 2], "x": [10, 20]})
U = pa.table({"k": [1, 1, 2], "x": [5, 6, 7]})


@pytest.mark.parametrize(
    "query",
    [
        "SELECT k, (SELECT x FROM u) AS m FROM t",
        "SELECT k FROM t WHERE x > (SELECT u.x FROM u WHERE u.k = t.k)",
    ],
)
def test_more_than_one_row_for_a_value_is_an_error(query: str) -> None:
    with pytest.raises(Exception, match="More than one row returned by a subquery") as duck:
        duckdb_table(query, t=T, u=U)
    assert "More than one row returned by a subquery" in str(duck.value)
    with pytest.raises(SabotError, match="More than one row returned by a subquery"):
        sl.sql(query, t=T, u=U).collect()


def test_one_row_per_key_is_a_value() -> None:
    query = "SELECT k, (SELECT u.x FROM u WHERE u.k = t.k) AS m FROM t"
    u = pa.table({"k": [1, 3], "x": [5, 6]})
    assert_same_rows(sl.sql(query, t=T, u=u).collect(), duckdb_table(query, t=T, u=u))


@pytest.mark.parametrize(
    ("query", "construct"),
    [
        (
            "SELECT k FROM t WHERE x > (SELECT MAX(x) FROM u WHERE u.k < t.k)",
            "a scalar subquery correlated by the condition u.k < t.k",
        ),
        (
            "SELECT k FROM t WHERE x > (SELECT MAX(u.x) + t.x FROM u WHERE u.k = t.k)",
            "a subquery reading the outer column t.x outside its WHERE",
        ),
        (
            "SELECT k, EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.x > t.x) FROM t",
            "EXISTS correlated by the condition u.x > t.x outside a WHERE condition",
        ),
        (
            "SELECT k FROM t WHERE x NOT IN (SELECT u.x FROM u WHERE u.k > t.k)",
            "NOT IN (SELECT ...) correlated by the condition u.k > t.k (only by equalities",
        ),
        (
            "SELECT k, COUNT(*) FROM t GROUP BY k HAVING COUNT(*) > (SELECT COUNT(*) FROM u WHERE u.k = t.k)",
            "a correlated subquery, or IN (SELECT ...), in the SELECT or HAVING of a grouped",
        ),
        (
            "SELECT k FROM t WHERE x > (SELECT u.x FROM u WHERE u.k = t.k ORDER BY x LIMIT 1)",
            "LIMIT or OFFSET in a correlated subquery",
        ),
        ("SELECT k FROM t ORDER BY (SELECT MAX(x) FROM u)", "a subquery here"),
        (
            "SELECT k FROM t WHERE EXISTS (SELECT * FROM u WHERE u.x <> t.x)",
            "EXISTS correlated only by the condition u.x <> t.x (it needs an equality",
        ),
        (
            "SELECT k FROM t WHERE EXISTS (SELECT * FROM u WHERE u.k = t.k AND u.x IN "
            "(SELECT v.x FROM u v WHERE v.k = t.x))",
            "a subquery inside a subquery reading the outer column t.x",
        ),
    ],
)
def test_a_subquery_beyond_the_rules_is_refused(query: str, construct: str) -> None:
    with pytest.raises(SQLError) as err:
        sl.sql(query, t=T, u=U)
    assert construct in err.value.message
    assert "is not supported by sl.sql()" in err.value.message
