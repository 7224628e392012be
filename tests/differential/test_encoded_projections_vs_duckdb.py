"""Projections of repeating text computed once per distinct input and passed on
dictionary-encoded (Nexmark q21's ``CASE`` and ``REGEXP_EXTRACT``, q22's parts of a url),
against DuckDB over the same rows: random rows with nulls, the text plain and
dictionary-encoded, read by the operators after the projection in its pipeline (a filter, an
aggregate), collected (decoded where the rows leave the pipeline) and counted by a blackhole
table (not decoded)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from tests.differential.test_distinct_strings_vs_duckdb import CHANNELS, PATTERN, URLS
from tests.support.reference import assert_same_rows, duckdb_table

ROWS = 12_000  # batches of more rows than are evaluated row by row
PROJECTION = f"""
    k,
    CASE WHEN lower(c) = 'apple' THEN '0' WHEN lower(c) = 'google' THEN '1'
         ELSE regexp_extract(u, '{PATTERN}', 2) END AS channel_id,
    split_part(u, '/', 4) AS part,
    lower(d) AS ld
"""
QUERIES = {
    "projection": f"SELECT {PROJECTION} FROM t",
    "filtered": f"SELECT * FROM (SELECT {PROJECTION} FROM t) WHERE part <> '' OR ld = 'apple'",
    "grouped": f"""SELECT channel_id, ld, COUNT(*) AS n, MIN(k) AS first
        FROM (SELECT {PROJECTION} FROM t) GROUP BY channel_id, ld""",
}


def rows(seed: int) -> pa.Table:
    """``ROWS`` rows: a key ``k``, a channel ``c`` and a url ``u`` drawn from a few words,
    some null, and a channel ``d`` dictionary-encoded (a word of its dictionary unused)."""
    rng = np.random.default_rng(seed)
    nulls = [0.0, 0.1, 0.5][seed % 3]

    def column(words: list[str]) -> pa.Array:
        picked = np.array(words, dtype=object)[rng.integers(0, len(words), ROWS)]
        return pa.array(picked, pa.string(), mask=rng.random(ROWS) < nulls)

    codes = pa.array(rng.integers(0, len(CHANNELS), ROWS), pa.int32(), rng.random(ROWS) < nulls)
    return pa.table(
        {
            "k": pa.array(range(ROWS), pa.int64()),
            "c": column(CHANNELS),
            "u": column(URLS),
            "d": pa.DictionaryArray.from_arrays(codes, [*CHANNELS, "unused"]),
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("query", list(QUERIES))
def test_encoded_projections_give_duckdbs_rows(query: str, seed: int) -> None:
    t = rows(seed)
    expected = duckdb_table(QUERIES[query], t=t)
    stream = sl.sql(QUERIES[query], t=sl.from_arrow(t))
    assert_same_rows(stream.collect(), expected)
    assert stream.count_rows() == expected.num_rows


def test_a_blackhole_table_counts_the_encoded_rows_duckdb_gives() -> None:
    t = rows(4)
    expected = duckdb_table(QUERIES["filtered"], t=t)
    ctx = sl.SQLContext(t=sl.from_arrow(t))
    written = ctx.execute(
        "CREATE TABLE out (k BIGINT, channel_id VARCHAR, part VARCHAR, ld VARCHAR) "
        f"WITH ('connector' = 'blackhole');\nINSERT INTO out {QUERIES['filtered']}"
    )
    assert written == expected.num_rows
