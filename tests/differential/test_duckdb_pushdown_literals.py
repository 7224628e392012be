"""Filters pushed into a DuckDB source keep hostile string and bytes constants as data: the
rows are those of the same filter run in memory over the same table, without pushdown."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, lit
from sabot_lab.connectors.duckdb import DuckDBSource
from tests.support.reference import assert_same_rows

PAYLOADS = ["x' OR 1=1 OR '", "'", "''", "\\'", "a'; DROP TABLE t; --", "') OR ('a'='a"]
CHARACTERS = st.sampled_from(["'", '"', "\\", "\x00", "-", ";", " ", "x", "1", "=", "é", "€", "😀"])
TEXTS = st.one_of(st.sampled_from(PAYLOADS), st.text(CHARACTERS, max_size=8))
BLOBS = st.one_of(TEXTS.map(str.encode), st.binary(max_size=6))
SCHEMA = pa.schema([("id", pa.int64()), ("s", pa.string()), ("b", pa.binary())])
COMPARISONS = ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"]


@st.composite
def hostile_tables(draw: st.DrawFn) -> pa.Table:
    """Up to 12 rows of hostile strings and bytes, with nulls."""
    n = draw(st.integers(0, 12))
    texts = draw(st.lists(st.none() | TEXTS, min_size=n, max_size=n))
    blobs = draw(st.lists(st.none() | BLOBS, min_size=n, max_size=n))
    return pa.table([list(range(n)), texts, blobs], schema=SCHEMA)


def _leaf(draw: st.DrawFn, table: pa.Table) -> sl.Expr:
    name, values = draw(st.sampled_from([("s", TEXTS), ("b", BLOBS)]))
    present = [v for v in table[name].to_pylist() if v is not None]
    value = draw(st.sampled_from(present) | values if present else values)
    kind = draw(st.sampled_from(["compare", "is_in", "is_null"]))
    if kind == "is_in":
        return col(name).is_in([value, *draw(st.lists(values, max_size=2))])
    if kind == "is_null":
        return col(name).is_null()
    return getattr(col(name), draw(st.sampled_from(COMPARISONS)))(lit(value))  # type: ignore[no-any-return]


@st.composite
def predicates(draw: st.DrawFn, table: pa.Table, depth: int = 2) -> sl.Expr:
    """A random predicate over ``s`` and ``b``: comparisons with constants, IN lists and null
    tests, joined with ``& | ~``; constants are hostile or taken from the table."""
    shape = draw(st.sampled_from(["leaf", "and", "or", "not"] if depth else ["leaf"]))
    if shape == "leaf":
        return _leaf(draw, table)
    left = draw(predicates(table, depth - 1))
    if shape == "not":
        return ~left
    right = draw(predicates(table, depth - 1))
    return (left & right) if shape == "and" else (left | right)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), table=hostile_tables())
def test_pushed_filters_with_hostile_constants_match_the_unpushed_plan(
    data: st.DataObject, table: pa.Table
) -> None:
    predicate = data.draw(predicates(table))
    relation = duckdb.connect().from_arrow(table)
    expected = sl.from_arrow(table).filter(predicate).collect(optimize=False)
    assert_same_rows(sl.from_duckdb(relation).filter(predicate).collect(), expected)
    source = DuckDBSource(relation=relation)
    if source.accepts_filter(predicate):  # the whole filter, as DuckDB runs it in the scan
        scanned = pa.Table.from_batches(source.scan(64, predicate=predicate), schema=SCHEMA)
        assert_same_rows(scanned, expected)


def test_a_bytes_constant_cannot_widen_the_filter() -> None:
    table = pa.table([[1, 2], ["a", "b"], [b"a", b"x"]], schema=SCHEMA)
    relation = duckdb.connect().from_arrow(table)
    hostile = col("b") == lit(b"x' OR 1=1 OR '")
    assert sl.from_duckdb(relation).filter(hostile).collect().num_rows == 0
    assert sl.from_arrow(table).filter(hostile).collect(optimize=False).num_rows == 0
