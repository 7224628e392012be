"""The split-part kernel against DuckDB, row by row in order: ``split_part`` (1-based,
negative from the end, '' where there is no part) and Flink's ``SPLIT_INDEX`` (0-based, null
there and for an empty string, as DuckDB computes it with ``string_split``), on random strings
with nulls, empty parts, repeated and multi-byte delimiters, in string and large_string arrays
that do not start at their buffers' start, and of constant strings."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from sabot_lab.kernels.split_part import split_part

from sabot_lab.engine.evaluate import evaluate
from sabot_lab.expr import lit
from tests.support.reference import duckdb_table

TEXTS = st.lists(
    st.one_of(st.none(), st.text(alphabet="ab/-=é", max_size=10)), min_size=1, max_size=40
)


@settings(max_examples=40, deadline=None)
@given(
    texts=TEXTS,
    by=st.sampled_from(["/", "-=", "a", "aa", "//", "é"]),
    n=st.sampled_from([1, 2, 3, 6, -1, -2, -5]),
    large=st.booleans(),
    skip=st.integers(0, 5),
)
def test_split_part_equals_duckdb(
    texts: list[str | None], by: str, n: int, large: bool, skip: int
) -> None:
    values = pa.array(texts, pa.large_string() if large else pa.string())
    values = values.slice(min(skip, len(texts) - 1))
    table = pa.table({"s": values.cast(pa.string()), "i": range(len(values))})
    first = max(n, 1)  # SPLIT_INDEX counts from 0 and has no negative index
    expected = duckdb_table(
        f"SELECT split_part(s, '{by}', {n}) AS part, CASE WHEN s <> '' AND "
        f"len(string_split(s, '{by}')) >= {first} THEN split_part(s, '{by}', {first}) END "
        "AS flink FROM t ORDER BY i",
        t=table,
    )
    assert split_part(values, by, n).type == values.type
    assert split_part(values, by, n).to_pylist() == expected["part"].to_pylist()
    assert split_part(values, by, first, flink=True).to_pylist() == expected["flink"].to_pylist()


def test_a_constant_string_is_split_as_duckdb_splits_it() -> None:
    batch = pa.record_batch({"s": ["a/b", None]})
    ours = [
        evaluate(lit("x/y/z").str.split_part("/", -1), batch).to_pylist(),
        evaluate(lit("x/y/z").str.split_index("/", 1), batch).to_pylist(),
        evaluate(lit(None, "string").str.split_part("/", 1), batch).to_pylist(),
    ]
    expected = duckdb_table(
        "SELECT split_part('x/y/z', '/', -1) AS a, split_part('x/y/z', '/', 2) AS b, "
        "split_part(NULL, '/', 1) AS c FROM t",
        t=pa.table({"s": ["a/b", None]}),
    )
    assert ours == [expected[name].to_pylist() for name in ("a", "b", "c")]
