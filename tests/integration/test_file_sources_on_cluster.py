"""File sources given as a glob, a list or a hive-partitioned directory, submitted to a real
two-agent cluster with two partitions: each split reads its own row groups (Parquet) or
files (CSV, NDJSON), and the job's rows equal DuckDB's over the same files."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=2, slots=2, workdir=tmp_path_factory.mktemp("cluster")) as made:
        yield made


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six files of random rows with nulls, in each format, under ``year=`` directories."""
    root = tmp_path_factory.mktemp("files")
    rng = random.Random(7)
    for f in range(6):
        n = rng.randint(200, 900)
        table = pa.table(
            {
                "id": range(f * 1_000, f * 1_000 + n),
                "k": [rng.choice(["a", "b", "c", None]) for _ in range(n)],
                "v": [None if rng.random() < 0.1 else rng.randint(0, 99) for _ in range(n)],
            }
        )
        for kind in ("parquet", "csv", "json"):
            directory = root / kind / f"year={2020 + f % 3}"
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{f}.{kind}"
            if kind == "parquet":
                pq.write_table(table, path, row_group_size=100)
            elif kind == "csv":
                pcsv.write_csv(table, path)
            else:
                path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()))
    return root


def test_a_parquet_glob_on_two_partitions_gives_duckdbs_rows(
    cluster: sl.LocalCluster, data: Path
) -> None:
    pattern = f"{data}/parquet/*/*.parquet"
    stream = sl.from_parquet(pattern).filter(sl.col("v") >= 10).select("id", "k", "year")
    result = stream.submit(cluster, name="parquet glob", partitions=2).result(timeout=120)
    expected = duckdb_table(
        f"SELECT id, k, year FROM read_parquet('{pattern}', hive_partitioning=true) WHERE v >= 10"
    )
    assert_same_rows(result, expected)


def test_csv_and_ndjson_files_on_two_partitions_give_duckdbs_aggregate(
    cluster: sl.LocalCluster, data: Path
) -> None:
    expected = duckdb_table(
        f"SELECT year, k, sum(v) AS s, count(*) AS n FROM read_parquet('{data}/parquet/*/*.parquet', "
        "hive_partitioning=true) WHERE year >= 2021 GROUP BY year, k"
    )
    for stream in (
        sl.from_csv(data / "csv"),
        sl.from_json(
            sorted(str(p) for p in (data / "json").rglob("*.json")), hive_partitioning=True
        ),
    ):
        query = (
            stream.filter(sl.col("year") >= 2021)
            .group_by("year", "k")
            .agg(sl.col("v").sum().alias("s"), sl.count().alias("n"))
        )
        result = query.submit(cluster, name="csv/json files", partitions=2).result(timeout=120)
        assert_same_rows(result, expected)
