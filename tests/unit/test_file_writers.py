"""``to_parquet`` (compression, hive ``partition_by``), ``to_csv`` and ``to_json`` write
what DuckDB reads back as the stream's rows, with nulls; a run that fails part-way leaves
neither a half-written file nor staging files, and keeps what the target held before."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.errors import SourceError, UDFError
from tests.support.reference import assert_same_rows, duckdb_table


def _table(seed: int, rows: int = 200) -> pa.Table:
    rng = random.Random(seed)

    def maybe(value: object) -> object:
        return None if rng.random() < 0.2 else value

    return pa.table(
        {
            "id": list(range(rows)),
            "k": [rng.choice(["a", "b", "c d"]) for _ in range(rows)],
            "year": [maybe(rng.choice([2023, 2024])) for _ in range(rows)],
            "v": [maybe(rng.randint(-9, 9)) for _ in range(rows)],
            "s": [maybe(rng.choice(["x", "y;z", 'q"'])) for _ in range(rows)],
        }
    )


@pytest.mark.parametrize("compression", ["zstd", "snappy", "uncompressed"])
def test_to_parquet_writes_the_rows_with_the_compression_asked(
    tmp_path: Path, compression: str
) -> None:
    table = _table(1)
    path = tmp_path / "out.parquet"
    assert sl.from_arrow(table).to_parquet(path, compression=compression) == table.num_rows
    codec = pq.ParquetFile(path).metadata.row_group(0).column(0).compression
    assert codec == compression.upper()
    assert_same_rows(duckdb_table(f"SELECT * FROM read_parquet('{path}')"), table)
    assert os.listdir(tmp_path) == ["out.parquet"]


@pytest.mark.parametrize("seed", range(3))
def test_to_parquet_partition_by_writes_a_hive_layout_read_back_as_duckdb_reads_it(
    tmp_path: Path, seed: int
) -> None:
    table = _table(seed)
    out = tmp_path / "out"
    assert sl.from_arrow(table).to_parquet(out, partition_by=["year", "k"]) == table.num_rows
    assert sorted(os.listdir(out)) == ["year=2023", "year=2024", "year=__HIVE_DEFAULT_PARTITION__"]
    expected = duckdb_table(
        f"SELECT id, s, v, year, k FROM read_parquet('{out}/**/*.parquet', hive_partitioning=true)"
    )
    assert_same_rows(expected, table.select(["id", "s", "v", "year", "k"]))
    back = sl.from_parquet(out).select("id", "k", "year", "v", "s").collect()
    assert_same_rows(back, table)
    # written again: the directory is replaced, not added to
    assert sl.from_arrow(table.slice(0, 10)).to_parquet(out, partition_by="k") == 10
    assert sl.from_parquet(out).collect().num_rows == 10


def test_to_csv_and_to_json_write_what_duckdb_reads_back(tmp_path: Path) -> None:
    table = _table(2)
    csv, ndjson = tmp_path / "out.csv", tmp_path / "out.ndjson"
    stream = sl.from_arrow(table)
    assert stream.to_csv(csv, separator=";") == table.num_rows
    back = duckdb_table(f"SELECT * FROM read_csv('{csv}', delim=';', allow_quoted_nulls=false)")
    assert_same_rows(back, table)
    assert_same_rows(sl.from_csv(csv, separator=";").collect(), table)
    assert stream.to_csv(csv, include_header=False) == table.num_rows
    assert not csv.read_text().startswith('"id"')
    assert stream.to_json(ndjson) == table.num_rows
    columns = "{'id': 'BIGINT', 'k': 'VARCHAR', 'year': 'BIGINT', 'v': 'BIGINT', 's': 'VARCHAR'}"
    back = duckdb_table(f"SELECT * FROM read_json('{ndjson}', columns={columns})")
    assert_same_rows(back, table)
    assert_same_rows(sl.from_json(ndjson).collect(), table)


def _failing(table: pa.Table) -> sl.Stream:
    """The table's rows, then an error after the first batch."""
    seen = []

    def fail_second(batch: pa.RecordBatch) -> pa.RecordBatch:
        seen.append(batch)
        if len(seen) > 1:
            raise RuntimeError("the source broke")
        return batch

    batches = table.to_batches(max_chunksize=50)
    return sl.from_iterable(batches).map_batches(fail_second, schema=table.schema)


@pytest.mark.parametrize(
    ("write", "name"),
    [
        (lambda s, p: s.to_parquet(p), "out.parquet"),
        (lambda s, p: s.to_parquet(p, partition_by="k"), "out"),
        (lambda s, p: s.to_csv(p), "out.csv"),
        (lambda s, p: s.to_json(p), "out.ndjson"),
    ],
)
def test_a_failed_write_leaves_no_partial_file_and_keeps_the_old_one(
    tmp_path: Path, write: object, name: str
) -> None:
    table = _table(3)
    target = tmp_path / name
    with pytest.raises(UDFError, match="the source broke"):
        write(_failing(table), target)  # type: ignore[operator]
    assert os.listdir(tmp_path) == []
    write(sl.from_arrow(table.slice(0, 7)), target)  # type: ignore[operator]
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    with pytest.raises(UDFError, match="the source broke"):
        write(_failing(table), target)  # type: ignore[operator]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


def test_writer_arguments_are_checked_with_the_fix_named(tmp_path: Path) -> None:
    stream = sl.from_pydict({"x": [1]})
    with pytest.raises(SourceError, match="unknown Parquet compression 'zip'; use one of zstd"):
        stream.to_parquet(tmp_path / "o.parquet", compression="zip")
    with pytest.raises(SourceError, match=r"partition_by names \['y'\], not columns of \['x'\]"):
        stream.to_parquet(tmp_path / "o", partition_by="y")
    with pytest.raises(SourceError, match=r"the directory .*nowhere' does not exist"):
        stream.to_csv(tmp_path / "nowhere" / "o.csv")


def test_partitioned_rows_arriving_in_small_batches_make_few_row_groups(tmp_path: Path) -> None:
    table = _table(4, rows=5_000)
    stream = sl.from_iterable(table.to_batches(max_chunksize=40))
    stream.to_parquet(tmp_path / "out", partition_by="k")
    files = sorted((tmp_path / "out").rglob("*.parquet"))
    assert len(files) == 3
    assert [pq.ParquetFile(f).num_row_groups for f in files] == [1, 1, 1]
