"""Every Stream verb, checked against DuckDB computing the same query on random tables with nulls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table
from tests.support.strategies import tables

RIGHT = pa.schema([("i", pa.int64()), ("j", pa.int64()), ("s", pa.string())])
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def numbered(table: pa.Table) -> pa.Table:
    return table.append_column("rn", pa.array(range(table.num_rows), pa.int64()))


def check(stream: sl.Stream, sql: str, ordered: bool = False, **tables: pa.Table) -> None:
    expected = duckdb_table(sql, **tables)
    for result in collect_all_ways(stream):
        assert result.schema.names == stream.schema.names
        assert_same_rows(result, expected, ordered=ordered)


def double_j(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.record_batch({"rn": batch["rn"], "j2": pc.multiply(batch["j"], 2)})


def repeat_row(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [] if row["i"] is None else [{"i": row["i"], "k": k} for k in range(abs(row["i"]) % 3)]


# (id, build the stream from source s, DuckDB SQL over table t, result order is defined)
ONE_TABLE: list[tuple[str, Callable[[sl.Stream], sl.Stream], str, bool]] = [
    ("filter", lambda s: s.filter(col("i") > 2), "SELECT * FROM t WHERE i > 2", True),
    (
        "filter_conjunction",
        lambda s: s.filter(col("b"), col("s").str.contains("a")),
        "SELECT * FROM t WHERE b AND contains(s, 'a')",
        True,
    ),
    (
        "select",
        lambda s: s.select("s", "rn", col("i") * 2),
        "SELECT s, rn, i * 2 AS i FROM t",
        True,
    ),
    (
        "select_named",
        lambda s: s.select(key=col("s"), twice=col("j") + col("j")),
        "SELECT s AS key, j + j AS twice FROM t",
        True,
    ),
    (
        "with_columns",
        lambda s: s.with_columns((col("j") * 2).alias("j"), x=col("i") + 1),
        "SELECT i, j * 2 AS j, f, s, b, t, rn, i + 1 AS x FROM t",
        True,
    ),
    (
        "rename",
        lambda s: s.rename({"i": "key", "s": "name"}),
        "SELECT i AS key, j, f, s AS name, b, t, rn FROM t",
        True,
    ),
    ("map_batches", lambda s: s.map_batches(double_j), "SELECT rn, j * 2 AS j2 FROM t", True),
    (
        "map_batches_with_schema",
        lambda s: s.map_batches(double_j, schema={"rn": "int64", "j2": "int64"}),
        "SELECT rn, j * 2 AS j2 FROM t",
        True,
    ),
    (
        "flat_map",
        lambda s: s.flat_map(repeat_row, schema={"i": "int64", "k": "int64"}),
        "SELECT i, unnest(range(abs(i) % 3)) AS k FROM t",
        False,
    ),
    (
        "group_by_keys",
        lambda s: s.group_by("s", "b").agg(sl.count().alias("n"), col("j").sum().alias("sj")),
        "SELECT s, b, count(*) AS n, sum(j) AS sj FROM t GROUP BY s, b",
        False,
    ),
    (
        "group_by_expression",
        lambda s: s.group_by((col("i") % 3).alias("m")).agg(col("f").max().alias("mx")),
        "SELECT i % 3 AS m, max(f) AS mx FROM t GROUP BY i % 3",
        False,
    ),
    (
        "agg",
        lambda s: s.agg(col("j").mean().alias("avg"), col("s").n_unique().alias("u")),
        "SELECT avg(j) AS avg, count(DISTINCT s) AS u FROM t",
        False,
    ),
    ("distinct", lambda s: s.select("i", "s").distinct(), "SELECT DISTINCT i, s FROM t", False),
    (
        "sort",
        lambda s: s.sort("f", descending=True),
        "SELECT * FROM t ORDER BY f DESC NULLS LAST, rn",
        True,
    ),
    (
        "sort_multi",
        lambda s: s.sort(["i", "s"], descending=[True, False]),
        "SELECT * FROM t ORDER BY i DESC NULLS LAST, s ASC NULLS LAST, rn",
        True,
    ),
    (
        "sort_expression",
        lambda s: s.sort(col("j") % 5),
        "SELECT * FROM t ORDER BY j % 5 NULLS LAST, rn",
        True,
    ),
    (
        "sort_limit",
        lambda s: s.sort("j").limit(5, offset=2),
        "SELECT * FROM t ORDER BY j NULLS LAST, rn LIMIT 5 OFFSET 2",
        True,
    ),
    ("limit", lambda s: s.limit(3), "SELECT * FROM t ORDER BY rn LIMIT 3", True),
    (
        "filter_head",
        lambda s: s.filter(col("b")).head(4),
        "SELECT * FROM t WHERE b ORDER BY rn LIMIT 4",
        True,
    ),
]


@pytest.mark.parametrize(
    ("build", "sql", "ordered"), [c[1:] for c in ONE_TABLE], ids=[c[0] for c in ONE_TABLE]
)
@SETTINGS
@given(table=tables())
def test_verb_matches_duckdb(
    build: Callable[[sl.Stream], sl.Stream], sql: str, ordered: bool, table: pa.Table
) -> None:
    table = numbered(table)
    check(build(sl.from_arrow(table)), sql, ordered=ordered, t=table)


JOINS = {
    "inner": "SELECT l.*, r.j AS j_right, r.s AS s_right FROM l JOIN r ON l.i = r.i",
    "left": "SELECT l.*, r.j AS j_right, r.s AS s_right FROM l LEFT JOIN r ON l.i = r.i",
    "full": "SELECT l.*, r.i AS i_right, r.j AS j_right, r.s AS s_right "
    "FROM l FULL JOIN r ON l.i = r.i",
    "semi": "SELECT l.* FROM l SEMI JOIN r ON l.i = r.i",
    "anti": "SELECT l.* FROM l ANTI JOIN r ON l.i = r.i",
}


@pytest.mark.parametrize("how", list(JOINS))
@SETTINGS
@given(left=tables(), right=tables(schema=RIGHT))
def test_join_matches_duckdb(how: str, left: pa.Table, right: pa.Table) -> None:
    stream = sl.from_arrow(left).join(sl.from_arrow(right), on="i", how=how)
    check(stream, JOINS[how], l=left, r=right)


@SETTINGS
@given(left=tables(), right=tables(schema=RIGHT))
def test_join_on_two_keys_with_renamed_keys_and_suffix(left: pa.Table, right: pa.Table) -> None:
    right = right.rename_columns(["id", "j", "name"])
    stream = sl.from_arrow(left).join(
        right, left_on=["i", "s"], right_on=["id", "name"], how="left", suffix="_r"
    )
    sql = "SELECT l.*, r.j AS j_r FROM l LEFT JOIN r ON l.i = r.id AND l.s = r.name"
    check(stream, sql, l=left, r=right)
    stream = sl.from_arrow(left).join(
        right, left_on=["i", "s"], right_on=["id", "name"], how="full", suffix="_r"
    )
    sql = "SELECT l.*, r.* RENAME (j AS j_r) FROM l FULL JOIN r ON l.i = r.id AND l.s = r.name"
    check(stream, sql, l=left, r=right)


@SETTINGS
@given(a=tables(), b=tables(), c=tables())
def test_union_keeps_all_rows(a: pa.Table, b: pa.Table, c: pa.Table) -> None:
    stream = sl.from_arrow(a).union(sl.from_arrow(b), c)
    check(
        stream, "SELECT * FROM a UNION ALL SELECT * FROM b UNION ALL SELECT * FROM c", a=a, b=b, c=c
    )


@SETTINGS
@given(table=tables(), right=tables(schema=RIGHT), threshold=st.integers(-20, 20))
def test_the_verbs_compose(table: pa.Table, right: pa.Table, threshold: int) -> None:
    stream = (
        sl.from_arrow(table)
        .filter(col("i") >= threshold)
        .join(sl.from_arrow(right).rename({"j": "rj"}), on=["i", "s"], how="inner")
        .with_columns(v=col("j") + col("rj"))
        .group_by("s")
        .agg(col("v").sum().alias("total"), sl.count().alias("n"))
        .filter(col("n") > 1)
        .sort("total", descending=True)
    )
    sql = f"""
        SELECT l.s, sum(l.j + r.j) AS total, count(*) AS n
        FROM l JOIN r ON l.i = r.i AND l.s = r.s
        WHERE l.i >= {threshold}
        GROUP BY l.s HAVING count(*) > 1
        ORDER BY total DESC NULLS LAST"""
    expected = duckdb_table(sql, l=table, r=right)
    for result in collect_all_ways(stream):
        assert_same_rows(result, expected)
        totals = result["total"].to_pylist()
        assert totals == sorted(totals, key=lambda v: (v is None, -(v or 0)))


@SETTINGS
@given(left=tables(), right=tables(schema=RIGHT), nulls=st.booleans())
def test_group_by_a_joined_string_sums_floats_like_duckdb(
    left: pa.Table, right: pa.Table, nulls: bool
) -> None:
    """Grouping by a column of the join's build side (dictionary-encoded inside the pipeline:
    its codes number the groups) with float sums and counts, with and without nulls."""
    if not nulls:
        left = left.set_column(2, "f", left["f"].fill_null(0.5))
        right = right.set_column(2, "s", right["s"].fill_null("none"))
    stream = (
        sl.from_arrow(left)
        .select("i", "f")
        .join(sl.from_arrow(right).select("i", "s"), on="i")
        .group_by("s")
        .agg(total=col("f").sum(), n=sl.count())
    )
    sql = (
        "SELECT r.s, SUM(l.f) AS total, COUNT(*) AS n "
        "FROM l JOIN (SELECT i, s FROM r) r ON l.i = r.i GROUP BY r.s"
    )
    check(stream, sql, l=left, r=right)


@settings(max_examples=20, deadline=None)
@given(keys=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=40))
def test_group_by_a_key_declared_not_null_like_duckdb(keys: list[str]) -> None:
    """A key column declared not null (Parquet's required columns, Avro fields without a null
    branch) groups like any other."""
    schema = pa.schema([pa.field("s", pa.string(), nullable=False), pa.field("x", pa.int64())])
    table = pa.table({"s": keys, "x": list(range(len(keys)))}, schema=schema)
    stream = sl.from_arrow(table).group_by("s").agg(total=col("x").sum(), n=sl.count())
    check(stream, "SELECT s, SUM(x) AS total, COUNT(*) AS n FROM t GROUP BY s", t=table)
