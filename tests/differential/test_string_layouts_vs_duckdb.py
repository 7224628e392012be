"""Every Arrow layout of text and bytes (``string``, ``large_string``, ``string_view``,
``binary``, ``large_binary``, ``binary_view``) through filters, projections, joins, groups,
distinct, sort, union and SQL, on random tables with nulls, against DuckDB over the same rows
as plain ``string``/``binary`` columns; results of view inputs are ``string``/``binary``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = [pa.string(), pa.large_string(), pa.string_view()]
BYTES = [pa.binary(), pa.large_binary(), pa.binary_view()]
WORDS = [
    "",
    "a",
    "ab",
    "Abc",
    "b",
    "xyz",
    "ÄÖ",
    "a'b",
    "long enough to leave the view's inline prefix",
]
SCHEMA = pa.schema([("i", pa.int64()), ("s", pa.string()), ("y", pa.binary())])


@st.composite
def plain_tables(draw: st.DrawFn, max_rows: int = 30) -> pa.Table:
    """A table of ``SCHEMA``: a small int, a string and its bytes, about one value in five null."""
    n = draw(st.integers(0, max_rows))
    words = [draw(st.one_of(st.none(), *[st.sampled_from(WORDS)] * 4)) for _ in range(n)]
    return pa.table(
        {
            "i": [draw(st.one_of(st.none(), st.integers(0, 4))) for _ in range(n)],
            "s": words,
            "y": [None if w is None else w.encode() for w in words],
        },
        schema=SCHEMA,
    )


def in_layout(table: pa.Table, text: pa.DataType, binary: pa.DataType) -> pa.Table:
    return table.cast(pa.schema([("i", pa.int64()), ("s", text), ("y", binary)]))


def engine_layout(dtype: pa.DataType) -> pa.DataType:
    """What the engine hands on for a column of ``dtype``: views as their offset layout."""
    return {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}.get(dtype, dtype)


# (id, the stream over source t, DuckDB's SQL over table t)
CASES: list[tuple[str, Callable[[sl.Stream], sl.Stream], str]] = [
    ("eq", lambda t: t.filter(col("s") == "ab"), "SELECT * FROM t WHERE s = 'ab'"),
    ("lt", lambda t: t.filter(col("s") < "b"), "SELECT * FROM t WHERE s < 'b'"),
    ("ne_bytes", lambda t: t.filter(col("y") != b"a"), "SELECT * FROM t WHERE y <> 'a'::BLOB"),
    (
        "is_in",
        lambda t: t.filter(col("s").is_in(["a", "xyz", "ÄÖ"])),
        "SELECT * FROM t WHERE s IN ('a', 'xyz', 'ÄÖ')",
    ),
    (
        "str_functions",
        lambda t: t.filter(col("s").str.contains("b") | col("s").str.starts_with("x")).select(
            "i", u=col("s").str.upper(), n=col("s").str.len(), h=col("s").str.slice(1, 2)
        ),
        "SELECT i, upper(s) AS u, length(s) AS n, substring(s, 2, 2) AS h FROM t "
        "WHERE contains(s, 'b') OR starts_with(s, 'x')",
    ),
    (
        "group_by_text_and_bytes",
        lambda t: t.group_by("s", "y").agg(n=sl.count(), mi=col("i").min()),
        "SELECT s, y, count(*) AS n, min(i) AS mi FROM t GROUP BY s, y",
    ),
    (
        "aggregates_of_text",
        lambda t: t.group_by("i").agg(
            lo=col("s").min(), hi=col("s").max(), u=col("s").n_unique(), yl=col("y").max()
        ),
        "SELECT i, min(s) AS lo, max(s) AS hi, count(DISTINCT s) AS u, max(y) AS yl "
        "FROM t GROUP BY i",
    ),
    (
        "global_aggregates",
        lambda t: t.agg(lo=col("s").min(), u=col("y").n_unique()),
        "SELECT min(s) AS lo, count(DISTINCT y) AS u FROM t",
    ),
    ("distinct", lambda t: t.select("s", "y").distinct(), "SELECT DISTINCT s, y FROM t"),
    ("sort", lambda t: t.select("s").sort("s"), "SELECT s FROM t ORDER BY s NULLS LAST"),
]


@pytest.mark.parametrize(("case", "build", "sql"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("layout", range(3), ids=["offsets", "large", "view"])
@SETTINGS
@given(table=plain_tables())
def test_string_layouts_match_duckdb(
    case: str, build: Callable[[sl.Stream], sl.Stream], sql: str, layout: int, table: pa.Table
) -> None:
    stream = build(sl.from_arrow(in_layout(table, TEXT[layout], BYTES[layout])))
    expected = duckdb_table(sql, t=table)
    for result in collect_all_ways(stream):
        assert result.schema == stream.schema
        assert_same_rows(result, expected, ordered=case == "sort")
    for field in stream.schema:
        if field.name in ("s", "lo", "hi", "u") and not pa.types.is_integer(field.type):
            assert field.type == engine_layout(TEXT[layout])
        if field.name in ("y", "yl"):
            assert field.type == engine_layout(BYTES[layout])


@pytest.mark.parametrize("left", range(3), ids=["offsets", "large", "view"])
@pytest.mark.parametrize("right", range(3), ids=["offsets", "large", "view"])
@pytest.mark.parametrize("how", ["inner", "left", "full"])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=plain_tables(), b=plain_tables())
def test_joins_on_keys_of_mixed_layouts_match_duckdb(
    left: int, right: int, how: str, a: pa.Table, b: pa.Table
) -> None:
    stream = (
        sl.from_arrow(in_layout(a, TEXT[left], BYTES[left]))
        .join(
            sl.from_arrow(in_layout(b, TEXT[right], BYTES[right]).rename_columns(["j", "s", "z"])),
            on="s",
            how=how,
        )
        .select("i", "j", "y", "z")
    )
    expected = duckdb_table(
        f"SELECT a.i, b.i AS j, a.y, b.y AS z FROM a {how.upper()} JOIN b ON a.s = b.s", a=a, b=b
    )
    by_bytes = (
        sl.from_arrow(in_layout(a, TEXT[left], BYTES[left]))
        .join(
            sl.from_arrow(in_layout(b, TEXT[right], BYTES[right]).rename_columns(["j", "t", "z"])),
            left_on="y",
            right_on="z",
            how="inner",
        )
        .select("i", "j")
    )
    expected_by_bytes = duckdb_table("SELECT a.i, b.i AS j FROM a JOIN b ON a.y = b.y", a=a, b=b)
    for result in collect_all_ways(stream):
        assert_same_rows(result, expected)
    assert_same_rows(by_bytes.collect(), expected_by_bytes)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=plain_tables(), b=plain_tables(), c=plain_tables())
def test_a_union_of_every_layout_matches_duckdb(a: pa.Table, b: pa.Table, c: pa.Table) -> None:
    stream = sl.from_arrow(in_layout(a, pa.string_view(), pa.binary_view())).union(
        sl.from_arrow(in_layout(b, pa.string(), pa.binary())),
        in_layout(c, pa.large_string(), pa.large_binary()),
    )
    expected = duckdb_table(
        "SELECT * FROM a UNION ALL SELECT * FROM b UNION ALL SELECT * FROM c", a=a, b=b, c=c
    )
    for result in collect_all_ways(stream):
        assert_same_rows(result, expected)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=plain_tables())
def test_sql_over_string_view_tables_matches_duckdb(table: pa.Table) -> None:
    sql = (
        "SELECT s, count(*) AS n, max(i) AS m FROM t WHERE s LIKE '%b%' OR s IN ('a', 'xyz') "
        "GROUP BY s ORDER BY s"
    )
    stream = sl.sql(sql, t=in_layout(table, pa.string_view(), pa.binary_view()))
    assert_same_rows(stream.collect(), duckdb_table(sql, t=table), ordered=True)


def test_view_columns_written_to_parquet_and_csv_read_back_as_duckdb_reads_them(
    tmp_path: Path,
) -> None:
    table = pa.table(
        {
            "s": pa.array(
                ["a", None, "long enough to leave the view's inline prefix"], pa.string_view()
            ),
            "y": pa.array([b"\x00", b"b", None], pa.binary_view()),
        }
    )
    stream = sl.from_arrow(table).filter(col("s") != "a")
    stream.to_parquet(tmp_path / "out.parquet")
    stream.select("s").to_csv(tmp_path / "out.csv")
    plain = table.cast(pa.schema([("s", pa.string()), ("y", pa.binary())]))
    expected = duckdb_table("SELECT * FROM t WHERE s <> 'a'", t=plain)
    assert_same_rows(pq.read_table(tmp_path / "out.parquet"), expected)
    assert pcsv.read_csv(tmp_path / "out.csv")["s"].to_pylist() == [
        "long enough to leave the view's inline prefix"
    ]
