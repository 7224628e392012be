"""A filter on hive partition keys only is decided per file by the file's keys (its rows are
not filtered one by one): the same rows as DuckDB over the same tree, with a null partition
(``__HIVE_DEFAULT_PARTITION__``), IN lists, negations, and a filter that also reads a column
of the files (its rows are filtered), with and without a group-by."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import sabot_lab as sl
from tests.support.reference import assert_same_rows, duckdb_table

FILTERS = {
    "region = 'eu'": sl.col("region") == "eu",
    "region IS NULL": sl.col("region").is_null(),
    "region <> 'eu'": sl.col("region") != "eu",
    "region IN ('us', 'asia') AND year = 2024": sl.col("region").is_in(["us", "asia"])
    & (sl.col("year") == 2024),
    "region = 'eu' OR v > 90": (sl.col("region") == "eu") | (sl.col("v") > 90),
}


def _tree(root: Path) -> str:
    rows = 600
    table = pa.table(
        {
            "v": list(range(rows)),
            "name": [f"n{i % 7}" for i in range(rows)],
            "year": [2023 + i % 3 for i in range(rows)],
            "region": [None if i % 5 == 0 else ("eu", "us", "asia")[i % 3] for i in range(rows)],
        }
    )
    ds.write_dataset(
        table, root, format="parquet", partitioning=["year", "region"], partitioning_flavor="hive"
    )
    return f"read_parquet('{root}/**/*.parquet', hive_partitioning=true)"


@pytest.mark.parametrize("where", list(FILTERS))
def test_filters_on_partition_keys_match_duckdb(tmp_path: Path, where: str) -> None:
    hive = _tree(tmp_path)
    stream = sl.from_parquet(tmp_path).filter(FILTERS[where])
    expected = duckdb_table(f"SELECT v, name, year, region FROM {hive} WHERE {where}")
    assert expected.num_rows > 0
    assert_same_rows(stream.select("v", "name", "year", "region").collect(), expected)
    grouped = duckdb_table(f"SELECT name, count(*) AS n FROM {hive} WHERE {where} GROUP BY name")
    counts = stream.group_by("name").agg(sl.count().alias("n"))
    assert_same_rows(counts.collect(), grouped)
