"""Parquet and NDJSON sources over globs, lists and hive-partitioned directories against
DuckDB's ``read_parquet`` / ``read_json`` of the same files, on random data with nulls; a
filter on a partition key opens only the files of the partitions it keeps; a path, pattern
or directory with nothing to read is a :class:`SourceError` naming it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.connectors import FileSource
from sabot_lab.errors import SourceError
from sabot_lab.logical import JobGraph
from tests.support.reference import assert_same_rows, duckdb_table


def _rows(rng: random.Random, n: int, offset: int) -> dict[str, list[Any]]:
    def maybe(value: Any) -> Any:
        return None if rng.random() < 0.2 else value

    return {
        "id": list(range(offset, offset + n)),
        "name": [maybe(rng.choice(["ann", "bob", "cy", ""])) for _ in range(n)],
        "v": [maybe(rng.randint(-50, 50)) for _ in range(n)],
        "x": [maybe(rng.uniform(-1, 1)) for _ in range(n)],
    }


def _parquet_tree(root: Path, rng: random.Random) -> None:
    """Files at two depths, plus a file of another format and a hidden one to skip."""
    for f in range(rng.randint(2, 4)):
        depth = root / f"sub{f % 2}" if f % 2 else root
        depth.mkdir(exist_ok=True)
        pq.write_table(pa.table(_rows(rng, rng.randint(0, 40), f * 100)), depth / f"{f}.parquet")
    (root / "notes.txt").write_text("not data")
    pq.write_table(pa.table(_rows(rng, 3, 9_000)), root / "_hidden.parquet")


@pytest.mark.parametrize("seed", range(3))
def test_parquet_globs_and_lists_read_as_duckdb_reads_them(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    _parquet_tree(tmp_path, rng)
    for pattern in (f"{tmp_path}/*.parquet", f"{tmp_path}/**/*.parquet"):
        # names starting with "_" are skipped (as Arrow and Spark do: staging, markers)
        expected = duckdb_table(
            f"SELECT * EXCLUDE (filename) FROM read_parquet('{pattern}', filename=true) "
            "WHERE NOT regexp_matches(filename, '/_[^/]*$')"
        )
        assert_same_rows(sl.from_parquet(pattern).collect(), expected)
    files = sorted(str(p) for p in tmp_path.rglob("[0-9]*.parquet"))
    listed = ", ".join(f"'{f}'" for f in files)
    expected = duckdb_table(f"SELECT * FROM read_parquet([{listed}])")
    assert_same_rows(sl.from_parquet(files).collect(), expected)
    total = duckdb_table(f"SELECT name, sum(v) AS s FROM read_parquet([{listed}]) GROUP BY name")
    summed = sl.from_parquet(files).group_by("name").agg(sl.col("v").sum().alias("s"))
    assert_same_rows(summed.collect(), total)


def _hive_tree(root: Path, rng: random.Random) -> None:
    for year in (2023, 2024, 2025):
        for region in ("eu", "us"):
            directory = root / f"year={year}" / f"region={region}"
            directory.mkdir(parents=True)
            for f in range(2):
                table = pa.table(_rows(rng, rng.randint(1, 30), year * 1_000 + f * 100))
                pq.write_table(table, directory / f"{f}.parquet")


@pytest.mark.parametrize("seed", range(3))
def test_hive_partitions_are_columns_and_a_filter_on_them_skips_whole_files(
    tmp_path: Path, seed: int
) -> None:
    _hive_tree(tmp_path, random.Random(seed))
    hive = f"read_parquet('{tmp_path}/**/*.parquet', hive_partitioning=true)"
    columns = "id, name, v, x, year, region"  # the keys in path order, as Polars has them
    stream = sl.from_parquet(tmp_path)
    assert stream.schema.field("year").type == pa.int64()
    assert stream.schema.field("region").type == pa.string()
    assert_same_rows(stream.collect(), duckdb_table(f"SELECT {columns} FROM {hive}"))
    pruned = stream.filter((sl.col("year") >= 2024) & (sl.col("region") == "eu"))
    expected = duckdb_table(f"SELECT {columns} FROM {hive} WHERE year >= 2024 AND region = 'eu'")
    assert_same_rows(pruned.collect(), expected)
    source = _source(pruned)
    assert (source.last_scan.files_total, source.last_scan.files_read) == (12, 4)
    # an explicit glob of the same tree, and partitioning switched off
    everything = duckdb_table(f"SELECT {columns} FROM {hive}")
    assert_same_rows(sl.from_parquet(f"{tmp_path}/**/*.parquet").collect(), everything)
    plain = sl.from_parquet(tmp_path, hive_partitioning=False)
    assert plain.schema.names == ["id", "name", "v", "x"]


def _source(stream: sl.Stream) -> FileSource:
    """The file source of an optimized, collected stream (its scan statistics set)."""
    plan = stream.optimize()
    stream.collect()
    (source,) = [
        node.parameters["source"]
        for node in plan.graph.nodes.values()
        if isinstance(node.parameters.get("source"), FileSource)
    ]
    return source


@pytest.mark.parametrize("seed", range(3))
def test_ndjson_files_read_as_duckdb_reads_them(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    for f in range(3):
        rows = _rows(rng, rng.randint(1, 25), f * 100)
        with open(tmp_path / f"{f}.ndjson", "w") as out:
            for i in range(len(rows["id"])):
                record = {k: rows[k][i] for k in rows if rows[k][i] is not None or k == "x"}
                out.write(json.dumps(record) + "\n")
    columns = "{'id': 'BIGINT', 'name': 'VARCHAR', 'v': 'BIGINT', 'x': 'DOUBLE'}"
    expected = duckdb_table(
        f"SELECT * FROM read_json('{tmp_path}/*.ndjson', format='newline_delimited', "
        f"columns={columns})"
    )
    schema = {"id": "int64", "name": "string", "v": "int64", "x": "float64"}
    actual = sl.from_json(f"{tmp_path}/*.ndjson", schema=schema).collect()
    assert actual.schema == expected.schema
    assert_same_rows(actual, expected)
    inferred = sl.from_json(sorted(str(p) for p in tmp_path.glob("*.ndjson")))
    assert_same_rows(inferred.select("id", "v").collect(), expected.select(["id", "v"]))


def test_a_source_with_options_and_partitions_round_trips_through_the_plan_json(
    tmp_path: Path,
) -> None:
    _hive_tree(tmp_path / "hive", random.Random(1))
    csv = tmp_path / "t.csv"
    csv.write_text("zip;day\n01234;31/01/2024\n")
    for stream in (
        sl.from_parquet(tmp_path / "hive").filter(sl.col("year") == 2024),
        sl.from_parquet([str(p) for p in sorted(tmp_path.rglob("*.parquet"))][:3]),
        sl.from_csv(csv, separator=";", schema={"zip": "string"}, date_format="%d/%m/%Y"),
    ):
        graph = stream.graph.subgraph(stream.node_id)
        back = JobGraph.from_json(graph.to_json())
        rebuilt = sl.Stream(back, stream.node_id)
        assert rebuilt.schema == stream.schema
        assert rebuilt.collect().equals(stream.collect())


def test_globs_lists_and_directories_with_nothing_to_read_name_what_was_given(
    tmp_path: Path,
) -> None:
    with pytest.raises(SourceError, match=r"no parquet file matches the pattern '.*/\*\.parquet'"):
        sl.from_parquet(f"{tmp_path}/*.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"directory '.*empty' has no files"):
        sl.from_parquet(tmp_path / "empty")
    with pytest.raises(SourceError, match=r"'.*missing\.csv' does not exist"):
        sl.from_csv([tmp_path / "missing.csv"])
    with pytest.raises(SourceError, match="list of json paths is empty"):
        sl.from_json([])


def test_only_names_below_a_globs_fixed_part_are_skipped_for_a_leading_underscore(
    tmp_path: Path,
) -> None:
    root = tmp_path / "_runs" / ".cache"
    (root / "_staging").mkdir(parents=True)
    pq.write_table(pa.table({"v": [1, 2]}), root / "a.parquet")
    pq.write_table(pa.table({"v": [3]}), root / "_staging" / "b.parquet")
    for source in (f"{root}/**/*.parquet", root, [root / "a.parquet"]):
        assert sl.from_parquet(source).collect().to_pydict() == {"v": [1, 2]}
