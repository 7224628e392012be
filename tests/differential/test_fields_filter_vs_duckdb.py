"""A filter fused with the projection after it over struct fields (Nexmark's ``bid.*``):
repeated subexpressions computed once (q14's ``0.908 * price`` in both comparisons), strings
the predicate evaluated once per distinct value carried to the projection in their encoding
(q21's ``LOWER(channel)`` and ``REGEXP_EXTRACT(url)``), grouped after the filter, and
``CASE`` with constant branches, against DuckDB over the same random rows (few distinct
strings, nulls in struct rows and in fields, prices up to where 64-bit products overflow)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, lit, when
from tests.support.reference import assert_same_rows, duckdb_table

ROWS = 6_000  # more than a batch evaluated row by row
CHANNELS = ["Apple", "apple", "GOOGLE", "Baidu", "", "x y"]
URLS = ["https://nexmark.com/apple", "a?channel_id=12&b=1", "channel_id=7", "//", ""]
PATTERN = "(&|^)channel_id=([^&]*)"
BID = pa.struct([("price", pa.int64()), ("channel", pa.string()), ("url", pa.string())])


@st.composite
def bids(draw: st.DrawFn) -> pa.Table:
    """``ROWS`` rows: ``n`` (row number), ``hour`` 0-23 and a ``bid`` struct (null in some
    rows) of a price (some near 2**63 / 908), a channel and a url from a few words, each
    field null in some rows."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    nulls = draw(st.sampled_from([0.0, 0.1, 0.4]))
    huge = draw(st.booleans())

    def mask() -> np.ndarray:
        return rng.random(ROWS) < nulls

    def words(vocabulary: list[str]) -> pa.Array:
        picked = rng.choice(np.array(vocabulary, dtype=object), ROWS)
        return pa.array(picked, pa.string(), mask=mask())

    prices = (10 ** (rng.random(ROWS) * 6) * 100).astype(np.int64)
    if huge:  # products of 0.908 beyond 64 bits: the exact path
        prices[::97] = 2**63 // 900
    bid = pa.StructArray.from_arrays(
        [pa.array(prices, mask=mask()), words(CHANNELS), words(URLS)],
        fields=list(BID),
        mask=pa.array(mask()),
    )
    return pa.table({"n": np.arange(ROWS), "hour": rng.integers(0, 24, ROWS), "bid": bid})


def _price() -> sl.Expr:  # the constant typed as SQL's 0.908 is, as DuckDB types it
    return lit(Decimal("0.908"), "decimal128(4, 3)") * col("bid").struct.field("price")


def _channel() -> sl.Expr:
    return col("bid").struct.field("channel")


def _url() -> sl.Expr:
    return col("bid").struct.field("url")


def _channel_id() -> sl.Expr:
    lower = _channel().str.lower()
    return (
        when(lower == "apple")
        .then(lit("0"))
        .when(lower == "google")
        .then(lit("1"))
        .otherwise(_url().str.extract(PATTERN, 2))
    )


EXTRACT_SQL = f"CASE WHEN regexp_matches(bid.url, '{PATTERN}') THEN regexp_extract(bid.url, '{PATTERN}', 2) END"
CHANNEL_ID_SQL = (
    "CASE WHEN lower(bid.channel) = 'apple' THEN '0' WHEN lower(bid.channel) = 'google' "
    f"THEN '1' ELSE {EXTRACT_SQL} END"
)
SETTINGS = settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(table=bids())
def test_a_price_filter_sharing_its_product_equals_duckdb(table: pa.Table) -> None:
    price = _price()
    stream = (
        sl.from_arrow(table)
        .filter((price > 1_000_000) & (price < 50_000_000))
        .select(
            "n",
            price.alias("price"),
            when((col("hour") >= 8) & (col("hour") <= 18))
            .then(lit("dayTime"))
            .when((col("hour") <= 6) | (col("hour") >= 20))
            .then(lit("nightTime"))
            .otherwise(lit(None, "string"))
            .alias("kind"),
        )
    )
    expected = duckdb_table(
        "SELECT n, 0.908 * bid.price AS price, CASE WHEN hour >= 8 AND hour <= 18 THEN "
        "'dayTime' WHEN hour <= 6 OR hour >= 20 THEN 'nightTime' END AS kind FROM t "
        "WHERE 0.908 * bid.price > 1000000 AND 0.908 * bid.price < 50000000",
        t=table,
    )
    got = stream.collect()
    assert got.schema.field("price").type == expected.schema.field("price").type
    assert_same_rows(got, expected)


@SETTINGS
@given(table=bids())
def test_strings_encoded_by_the_filter_serve_the_projection_and_a_grouping(
    table: pa.Table,
) -> None:
    predicate = _url().str.extract(PATTERN, 2).is_not_null() | _channel().str.lower().is_in(
        ["apple", "google", "baidu"]
    )
    stream = (
        sl.from_arrow(table)
        .filter(predicate)
        .select("n", _channel().alias("channel"), _channel_id().alias("channel_id"))
    )
    where = f"WHERE {EXTRACT_SQL} IS NOT NULL OR lower(bid.channel) IN ('apple', 'google', 'baidu')"
    expected = duckdb_table(
        f"SELECT n, bid.channel AS channel, {CHANNEL_ID_SQL} AS channel_id FROM t {where}",
        t=table,
    )
    assert_same_rows(stream.collect(), expected)
    grouped = stream.group_by("channel", "channel_id").agg(sl.count().alias("rows"))
    expected_groups = duckdb_table(
        f"SELECT bid.channel AS channel, {CHANNEL_ID_SQL} AS channel_id, count(*) AS rows "
        f"FROM t {where} GROUP BY ALL",
        t=table,
    )
    assert_same_rows(grouped.collect(), expected_groups)


@SETTINGS
@given(table=bids())
def test_strings_carried_encoded_join_and_test_nulls_as_plain_strings_do(table: pa.Table) -> None:
    stream = (
        sl.from_arrow(table)
        .filter(_channel().str.lower().is_in(["apple", "baidu"]) | _url().str.ends_with("="))
        .select("n", _channel().alias("channel"), _url().alias("url"))
    )
    labels = pa.table({"channel": ["Apple", "apple", None, "Baidu"], "label": ["A", "a", "-", "B"]})
    picked = (
        "SELECT n, bid.channel AS channel, bid.url AS url FROM t "
        "WHERE lower(bid.channel) IN ('apple', 'baidu') OR ends_with(bid.url, '=')"
    )
    joined = stream.join(sl.from_arrow(labels), on="channel", how="left")
    expected = duckdb_table(
        f"SELECT p.n, p.channel, p.url, l.label FROM ({picked}) p "
        "LEFT JOIN labels l ON p.channel = l.channel",
        t=table,
        labels=labels,
    )
    assert_same_rows(joined.collect().select(["n", "channel", "url", "label"]), expected)
    missing = stream.filter(col("url").is_null()).select("n")
    expected = duckdb_table(f"SELECT n FROM ({picked}) p WHERE url IS NULL", t=table)
    assert_same_rows(missing.collect(), expected)


def test_the_projection_computes_only_over_the_rows_the_filter_kept() -> None:
    s = pa.StructArray.from_arrays([pa.array([0, 2, None, -5, 0] * 2_000)], names=["x"])
    table = pa.table({"s": s})
    x = col("s").struct.field("x")
    quotient = lit(10) // x  # repeated, but over the kept rows only: no division by zero
    stream = (
        sl.from_arrow(table).filter(x != 0).select(quotient.alias("q"), (quotient + 1).alias("r"))
    )
    expected = duckdb_table(
        "SELECT 10 // s.x AS q, 10 // s.x + 1 AS r FROM t WHERE s.x <> 0", t=table
    )
    assert_same_rows(stream.collect(), expected)
