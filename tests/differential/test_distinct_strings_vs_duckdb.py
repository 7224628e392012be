"""Expressions of repeating strings, evaluated once per distinct combination of their inputs
(:mod:`sabot_lab.engine.distinct_strings`), against DuckDB over the same rows: random batches
of a few thousand rows drawn from small vocabularies with nulls (Nexmark's channels and urls
in shape), with one and two string inputs, a struct field, a user function, and an input that
does not repeat (then each row is evaluated)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, lit, when
from sabot_lab.engine.distinct_strings import distinct_inputs, on_distinct_strings
from sabot_lab.engine.evaluate import evaluate, evaluate_encoded
from sabot_lab.errors import ComputeError
from tests.support.reference import assert_same_rows, duckdb_table

ROWS = 6_000  # more than a batch evaluated row by row
CHANNELS = ["Apple", "apple", "GOOGLE", "Baidu", "", "Ünïcode", "x y"]
URLS = [
    "https://nexmark.com/apple",
    "https://www.nexmark.com/a/b/item.htm?query=1&channel_id=12",
    "channel_id=7&x=1",
    "a/b/c/d/e/f",
    "//",
    "",
    "/leading/slash",
]
PATTERN = "(&|^)channel_id=([^&]*)"
KEYS = pa.array([f"key{i}" for i in range(ROWS)])


@sl.udf(return_dtype=pa.int64(), compile=False)  # run on the distinct values only
def count_char(text: str, char: str) -> int:
    """How many times ``char`` occurs in ``text``."""
    return text.count(char)


@st.composite
def batches(draw: st.DrawFn) -> pa.RecordBatch:
    """``ROWS`` rows: a channel ``c``, a url ``u`` (also as the field ``s.u``) drawn from a
    few words each, about ``nulls`` of them null, a dictionary-encoded channel ``d`` (a
    word of its dictionary unused), a number ``n`` and a string ``k`` that never repeats."""
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=5, unique=True))
    urls = draw(st.lists(st.sampled_from(URLS), min_size=1, max_size=5, unique=True))
    nulls = draw(st.sampled_from([0.0, 0.1, 0.5]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def column(words: list[str]) -> pa.Array:
        picked = np.array(words, dtype=object)[rng.integers(0, len(words), ROWS)]
        return pa.array(picked, pa.string(), mask=rng.random(ROWS) < nulls)

    u = column(urls)
    codes = pa.array(rng.integers(0, len(channels), ROWS), pa.int32())
    return pa.record_batch(
        {
            "c": column(channels),
            "d": pa.DictionaryArray.from_arrays(codes, [*channels, "unused"]),
            "u": u,
            "s": pa.StructArray.from_arrays([u], names=["u"]),
            "n": pa.array(rng.integers(0, 100, ROWS)),
            "k": KEYS,
        }
    )


# (id, expression, the same computation in DuckDB SQL over table t, evaluated per distinct)
CASES: list[tuple[str, Callable[[], sl.Expr], str, bool]] = [
    (
        "case_lower_extract",
        lambda: (
            when(col("c").str.lower() == "apple")
            .then(lit("0"))
            .when(col("c").str.lower() == "google")
            .then(lit("1"))
            .otherwise(col("u").str.extract(PATTERN, 2))
        ),
        f"CASE WHEN lower(c) = 'apple' THEN '0' WHEN lower(c) = 'google' THEN '1' "
        f"WHEN regexp_matches(u, '{PATTERN}') THEN regexp_extract(u, '{PATTERN}', 2) END",
        True,
    ),
    (
        "extract_or_in",
        lambda: (
            col("u").str.extract(PATTERN, 2).is_not_null()
            | col("c").str.lower().is_in(["apple", "baidu"])
        ),
        f"coalesce(regexp_matches(u, '{PATTERN}'), false) OR lower(c) IN ('apple', 'baidu')",
        True,
    ),
    ("split_part", lambda: col("u").str.split_part("/", 4), "split_part(u, '/', 4)", True),
    (
        "dictionary",
        lambda: when(col("d").str.starts_with("A")).then(col("d").str.lower()).otherwise(lit("-")),
        "CASE WHEN starts_with(d, 'A') THEN lower(d) ELSE '-' END",
        True,
    ),
    ("struct_field", lambda: col("s").struct.field("u").str.upper(), "upper(s.u)", True),
    ("udf", lambda: count_char(col("c"), "p"), "length(c) - length(replace(c, 'p', ''))", True),
    (
        "number_beside",
        lambda: when(col("c") == "Apple").then(col("n")).otherwise(lit(-1)),
        "CASE WHEN c = 'Apple' THEN n ELSE -1 END",
        False,
    ),
    ("distinct_keys", lambda: col("k").str.upper() == col("c"), "upper(k) = c", False),
]


@pytest.mark.parametrize(
    ("make", "sql", "per_distinct"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches())
def test_repeating_strings_match_duckdb(
    make: Callable[[], sl.Expr], sql: str, per_distinct: bool, batch: pa.RecordBatch
) -> None:
    table = pa.Table.from_batches([batch]).append_column("rn", pa.array(range(ROWS)))
    expected = duckdb_table(f"SELECT rn, {sql} AS out FROM t ORDER BY rn", t=table)
    expr = make()
    assert (on_distinct_strings(expr, batch, evaluate) is not None) == per_distinct
    for out in (evaluate(expr, batch), evaluate_encoded(expr, batch)):  # plain, maybe coded
        result = pa.table({"rn": table["rn"], "out": out.cast(expected.schema.field("out").type)})
        assert_same_rows(result, expected, ordered=True)


def test_an_error_names_the_expression_not_its_distinct_values() -> None:
    batch = pa.record_batch({"c": ["1", "2", "x"] * 2_000})
    with pytest.raises(ComputeError, match=r'cannot cast col\("c"\) value \'x\''):
        evaluate((col("c").cast("int64") + 1).alias("y"), batch)


def test_a_non_deterministic_function_sees_every_row() -> None:
    def tag(text: str) -> int:
        return len(text)

    changing = sl.udf(tag, return_dtype=pa.int64(), deterministic=False)
    assert distinct_inputs(changing(col("c")) + 1) is None
    assert distinct_inputs(count_char(col("c"), "p") + 1) is not None
