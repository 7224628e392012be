"""``FROM a, b, c WHERE ...`` lists against DuckDB on random tables with nulls: an equality
every branch of an ``OR`` repeats joins the two sides (no cross product), the order of the FROM
list changes neither the rows, nor the columns of ``*``, nor the plan's join keys; a true cross
product runs, with a :class:`~sabot_lab.errors.PerformanceWarning` when it is large; a join
that needs an equality names the one stuck inside an ``OR``."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from sabot_lab.logical import HashJoin
from sabot_lab.optimizer import CROSS_PRODUCT_WARN_ROWS
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.strategies import keyed_tables

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))


def join_keys(stream: sl.Stream) -> list[list[str]]:
    """The keys of both sides of every hash join of the optimized plan."""
    graph = stream.optimize().graph
    return [sorted({*n.op.left_on, *n.op.right_on}) for n in graph if isinstance(n.op, HashJoin)]


def same_as_duckdb(query: str, **tables: pa.Table) -> sl.Stream:
    stream = sl.sql(query, {n: sl.from_arrow(t) for n, t in tables.items()})
    expected = duckdb_table(query, **tables)
    for optimize in (True, False):
        result = stream.collect(optimize=optimize)
        assert result.column_names == expected.column_names
        assert_same_rows(result, expected)
    return stream


OR_QUERIES = [
    # TPC-H Q19's shape: the key in every branch (once written the other way round)
    "SELECT l.k, l.x, r.x AS rx FROM l, r WHERE (l.k = r.k AND l.g = 'a' AND r.x > 0) "
    "OR (r.k = l.k AND l.g = 'b' AND r.x < 5) OR (l.k = r.k AND l.x IS NULL)",
    # conditions on one side common to every branch, and a condition on both
    "SELECT l.g, r.y FROM l, r WHERE (l.k = r.k AND l.g IN ('a', 'b') AND r.y > 0) "
    "OR (l.g IN ('a', 'b') AND l.k = r.k AND l.x < r.x)",
    # a branch that is all common conditions absorbs the others
    "SELECT l.x, r.x AS rx FROM l CROSS JOIN r WHERE (l.k = r.k) OR (l.k = r.k AND l.x > 1)",
    # the ON of a left join
    "SELECT l.k, l.x, r.g AS rg FROM l LEFT JOIN r ON (l.k = r.k AND r.g = 'a') "
    "OR (l.k = r.k AND r.x > 2)",
    # nested: the common key inside one branch's own OR
    "SELECT l.x, r.y FROM l JOIN r ON (l.k = r.k AND (l.x > 0 OR r.x > 0)) "
    "OR ((l.k = r.k AND l.x < -5) OR (l.k = r.k AND r.y IS NULL))",
]


@SETTINGS
@given(left=keyed_tables(max_rows=25), right=keyed_tables(max_rows=25))
@pytest.mark.parametrize("query", OR_QUERIES)
def test_an_equality_in_every_branch_of_an_or_joins_the_sides(
    query: str, left: pa.Table, right: pa.Table
) -> None:
    stream = same_as_duckdb(query, l=left, r=right)
    assert ["k"] in join_keys(stream), join_keys(stream)  # a hash join on k, no cross product


@SETTINGS
@given(left=keyed_tables(max_rows=15), right=keyed_tables(max_rows=15))
def test_an_or_without_a_common_equality_is_a_filtered_cross_product(
    left: pa.Table, right: pa.Table
) -> None:
    same_as_duckdb(
        "SELECT l.k, r.k AS rk FROM l, r WHERE (l.k = r.k AND l.x > 0) OR l.x = r.x",
        l=left,
        r=right,
    )


FROM_ITEMS = ["l", "m", "r"]


def _prefixed(table: pa.Table, prefix: str) -> pa.Table:
    return table.rename_columns([prefix + n for n in table.column_names])


@settings(SETTINGS, max_examples=6)
@given(
    left=keyed_tables(max_rows=20),
    middle=keyed_tables(max_rows=20),
    right=keyed_tables(max_rows=20),
)
def test_a_from_list_in_any_order_joins_on_its_keys_with_star_in_the_order_written(
    left: pa.Table, middle: pa.Table, right: pa.Table
) -> None:
    """``l`` and ``r`` are joined only through ``m``: written next to each other, they used to
    make a cross product."""
    tables = {n: _prefixed(t, n) for n, t in zip(FROM_ITEMS, (left, middle, right), strict=True)}
    for order in itertools.permutations(FROM_ITEMS):
        query = f"SELECT * FROM {', '.join(order)} WHERE lk = mk AND mx = rx AND lg <> rg"
        stream = same_as_duckdb(query, **tables)
        found = sorted(join_keys(stream))
        assert found == [["lk", "mk"], ["mx", "rx"]], (order, found)  # no cross product


def test_a_cross_join_with_an_explicit_join_after_it_keeps_the_written_order() -> None:
    """Only the run of FROM-list items is reordered: ``m JOIN r ON ...`` after it still sees
    ``l`` and ``m`` joined first (and may refer to both)."""
    same_as_duckdb(
        "SELECT l.a, m.b FROM l, m JOIN r ON r.a = l.a AND r.b = m.b",
        l=pa.table({"a": [1, 2, 3]}),
        m=pa.table({"b": [10, 20]}),
        r=pa.table({"a": [1, 3], "b": [20, 20]}),
    )


# ----------------------------------------------------------------------------- cross products


def _parquet(path: Path, **columns: list[int]) -> sl.Stream:
    pq.write_table(pa.table(columns), path)
    return sl.from_parquet(path)


def test_a_large_cross_product_runs_with_a_warning_naming_its_inputs(tmp_path: Path) -> None:
    sizes = _parquet(tmp_path / "sizes.parquet", s=list(range(3_200)))
    colors = _parquet(tmp_path / "colors.parquet", c=list(range(3_200)))
    assert CROSS_PRODUCT_WARN_ROWS < 3_200 * 3_200
    query = sl.sql(
        "SELECT count(*) AS n, sum(s + c) AS t FROM sizes, colors", sizes=sizes, colors=colors
    )
    with pytest.warns(sl.PerformanceWarning) as caught:
        result = query.collect()
    assert result.to_pylist() == [{"n": 3_200 * 3_200, "t": 2 * 3_200 * sum(range(3_200))}]
    (warning,) = caught.list
    message = str(warning.message)
    assert "sizes.parquet (~3,200 rows)" in message and "colors.parquet (~3,200 rows)" in message
    assert "~10,240,000 rows" in message
    assert warning.filename == __file__  # attributed to the caller of collect()


def test_keyed_and_small_cross_products_run_without_a_warning(tmp_path: Path) -> None:
    a = _parquet(tmp_path / "a.parquet", x=list(range(4_000)))
    b = _parquet(tmp_path / "b.parquet", y=list(range(4_000)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", sl.PerformanceWarning)
        keyed = sl.sql("SELECT count(*) AS n FROM a, b WHERE a.x = b.y", a=a, b=b).collect()
        assert keyed["n"].to_pylist() == [4_000]
        small = a.head(10).join(b.head(10), how="cross").collect()
        assert small.num_rows == 100


def test_join_how_cross_warns_when_large() -> None:
    a = sl.from_pydict({"x": list(range(5_000))})
    b = sl.from_pydict({"y": list(range(2_500))})
    with pytest.warns(sl.PerformanceWarning, match="~12,500,000 rows"):
        assert a.join(b, how="cross").head(3).collect().num_rows == 3


# ----------------------------------------------------------------------------- errors


def _error(query: str) -> sl.SQLError:
    tables = {"l": sl.from_pydict({"k": [1], "x": [2]}), "r": sl.from_pydict({"k": [1], "y": [3]})}
    with pytest.raises(sl.SQLError) as caught:
        sl.sql(query, tables)
    return caught.value


def test_a_left_join_names_its_equality_inside_an_or_as_the_cause() -> None:
    err = _error("SELECT * FROM l LEFT JOIN r ON (l.k = r.k AND r.y = 5) OR r.y = 6")
    assert "the left join's equality l.k = r.k is inside an OR" in err.message
    assert "outside the OR" in err.message
    assert (err.line, err.column) == (1, 33)


def test_a_left_join_without_any_equality_says_so() -> None:
    err = _error("SELECT * FROM l LEFT JOIN r ON l.x < r.y")
    assert "the left join needs an equality between its two sides" in err.message
    assert "inside an OR" not in err.message
