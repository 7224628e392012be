"""A filter pushed into a Parquet scan reads its dictionary-encoded text columns as
dictionaries, evaluates the conjuncts of those columns alone once per distinct value and
first, the others only on the rows they keep, and decodes the text columns it returns: against
DuckDB on the same file (several row groups, nulls in the text and the numbers), with the
filter's text columns returned or not, ``IN``, ``NOT IN``, ``IS NULL``, an ``OR`` of one
column, a string function, and conjuncts of numbers alone (Q19's and Q12's shapes)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.connectors.files import FileSource
from sabot_lab.connectors.parquet_dictionaries import dictionary_columns
from tests.support.reference import assert_same_rows, duckdb_table

ROWS = 20_000
MODES = ["AIR", "AIR REG", "MAIL", "RAIL", "SHIP", "TRUCK", "FOB"]

# (the conjunct over the text columns, the same in DuckDB SQL)
TEXT = [
    (lambda: col("mode").is_in(["AIR", "AIR REG"]), "mode IN ('AIR', 'AIR REG')"),
    (lambda: col("kind") == "DELIVER IN PERSON", "kind = 'DELIVER IN PERSON'"),
    (lambda: ~col("mode").is_in(["MAIL", "SHIP"]), "NOT mode IN ('MAIL', 'SHIP')"),
    (lambda: col("mode").is_null() | (col("mode") == "RAIL"), "(mode IS NULL OR mode = 'RAIL')"),
    (lambda: col("mode").str.lower() == "fob", "lower(mode) = 'fob'"),
]
NUMBERS = [
    (lambda: (col("n") >= 10) & (col("n") <= 60), "n >= 10 AND n <= 60"),
    (lambda: col("day") < col("due"), "day < due"),
]


@pytest.fixture(scope="module")
def lineitems(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, pa.Table]:
    """A Parquet file of ``ROWS`` rows in row groups of 6,000 (the last smaller), its two
    text columns stored with dictionaries, and the same rows as a table."""
    rng = np.random.default_rng(19)
    kinds = np.array(["DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"])
    table = pa.table(
        {
            "mode": pa.array(
                np.array(MODES)[rng.integers(0, len(MODES), ROWS)], mask=rng.random(ROWS) < 0.05
            ),
            "kind": kinds[rng.integers(0, len(kinds), ROWS)],
            "n": pa.array(rng.integers(0, 100, ROWS), mask=rng.random(ROWS) < 0.05),
            "day": rng.integers(0, 50, ROWS),
            "due": rng.integers(0, 50, ROWS),
            "key": np.arange(ROWS),
        }
    )
    path = str(tmp_path_factory.mktemp("dictionary_filters") / "lineitem.parquet")
    pq.write_table(table, path, row_group_size=6_000)
    stored = dictionary_columns(pq.ParquetFile(path).metadata, table.column_names, table.schema)
    assert stored == {"mode", "kind"}  # the filter's text is read through its dictionaries
    return path, table


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.lists(st.sampled_from(range(len(TEXT))), min_size=1, max_size=2, unique=True),
    numbers=st.lists(st.sampled_from(range(len(NUMBERS))), max_size=2, unique=True),
    returned=st.sampled_from(["key", "key, mode", "key, mode, kind, n"]),
)
def test_filters_on_dictionary_text_match_duckdb(
    lineitems: tuple[str, pa.Table], text: list[int], numbers: list[int], returned: str
) -> None:
    path, table = lineitems
    conjuncts = [TEXT[i] for i in text] + [NUMBERS[i] for i in numbers]
    predicate = conjuncts[0][0]()
    for make, _ in conjuncts[1:]:
        predicate = predicate & make()
    where = " AND ".join(f"({sql})" for _, sql in conjuncts)
    names = returned.split(", ")
    got = sl.from_parquet(path).filter(predicate).select(*names).collect()
    expected = duckdb_table(f"SELECT {returned} FROM t WHERE {where}", t=table)
    assert got.schema == expected.schema  # text decoded: strings, as the plan says
    assert_same_rows(got, expected)


def test_a_scan_filter_returns_its_text_columns_decoded(lineitems: tuple[str, pa.Table]) -> None:
    path, table = lineitems
    predicate = col("mode").is_in(["AIR", "MAIL"]) & (col("n") > 50)
    where = "WHERE mode IN ('AIR', 'MAIL') AND n > 50"
    source = FileSource(path)
    batches = [b for b, _ in source.replay(8_192, ["key", "mode"], predicate) if b is not None]
    assert {str(b.schema) for b in batches} == {"key: int64\nmode: string"}
    expected = duckdb_table(f"SELECT key, mode FROM t {where}", t=table)
    assert_same_rows(pa.Table.from_batches(batches), expected)
    grouped = sl.from_parquet(path).filter(predicate).group_by("mode").agg(sl.count().alias("c"))
    expected = duckdb_table(f"SELECT mode, count(*) AS c FROM t {where} GROUP BY mode", t=table)
    assert_same_rows(grouped.collect(), expected)
