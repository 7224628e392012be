"""A job's hive-partitioned csv or Parquet sink: commits read back by DuckDB as the rows given,
each once, every file inside the table's directory, a commit handed over again after a crash
completing the files it had not moved into place; the sink of a job writing a filesystem table
``PARTITIONED BY``."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.connectors.sink import sink_from_dict
from sabot_lab.errors import PlanError, SourceError, SQLError
from sabot_lab.sql.connector_tables import ConnectorTable, connector_table
from sabot_lab.sql.context import Context
from sabot_lab.sql.parse import parse
from sabot_lab.sql.table_ddl import table_definition
from tests.support.reference import duckdb_connection

ROWS = pa.table(
    {
        "x": pa.array(range(8), pa.int64()),
        "name": ["a", "b", None, "d", "e", "f", "g", "h"],
        "dt": ["2026-01-01", "a/b", "..", "../..", "2026-01-01", None, "a/b", "x=y%"],
        "hm": ["00:00", "00:01", "00:00", ".", "00:01", "00:00", "00:01", "00:00"],
    }
)
"""Rows whose partition values hold a ``/``, ``..``, ``=``, ``%`` and a null."""


def _partitions(rows: pa.Table) -> int:
    return len(set(zip(rows["dt"].to_pylist(), rows["hm"].to_pylist(), strict=True)))


def _read_back(root: Path, file_format: str) -> list[tuple[object, ...]]:
    if file_format == "csv":
        files = f"read_csv('{root}/*/*/*.csv', header = false, columns = {{'x': 'BIGINT', 'name': 'VARCHAR'}}, "
    else:
        files = f"read_parquet('{root}/*/*/*.parquet', "
    query = (
        f"SELECT x, name, dt, hm FROM {files}hive_partitioning = true, "
        "hive_types = {'dt': 'VARCHAR', 'hm': 'VARCHAR'}) ORDER BY x"
    )
    return duckdb_connection().sql(query).fetchall()


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_commits_read_back_as_their_rows_each_once_inside_the_directory(
    tmp_path: Path, file_format: str
) -> None:
    sink = sl.PartitionedFileSink(tmp_path / "table", ["dt", "hm"], file_format)
    assert sink.commit(ROWS.slice(0, 5), "job", 1)
    assert sink.commit(ROWS.slice(5), "job", 2)
    assert not sink.commit(ROWS.slice(5), "job", 2)  # made before: nothing written again
    files = list((tmp_path / "table").rglob(f"*.{file_format}"))
    assert all(p.resolve().is_relative_to((tmp_path / "table").resolve()) for p in files)
    assert {p.parent.parent.name.split("=")[0] for p in files} == {"dt"}
    assert len(files) == _partitions(ROWS.slice(0, 5)) + _partitions(ROWS.slice(5))
    expected = [tuple(row.values()) for row in ROWS.to_pylist()]
    assert _read_back(tmp_path / "table", file_format) == expected


def test_a_commit_handed_over_again_after_a_crash_writes_only_its_missing_files(
    tmp_path: Path,
) -> None:
    sink = sl.PartitionedFileSink(tmp_path, ["dt", "hm"])
    assert sink.commit(ROWS, "job", 3)
    written = sorted(tmp_path.glob("dt=*/hm=*/job-000003.csv"))
    lost = written[0]
    lost.unlink()  # the crash came before this file was moved into place
    (tmp_path / "_staging" / "0-job-000003.csv").write_text("half a fi")
    kept = {p: p.stat().st_mtime_ns for p in written[1:]}
    assert sink.commit(ROWS, "job", 3)
    assert lost.exists() and {p: p.stat().st_mtime_ns for p in written[1:]} == kept
    assert not sink.commit(ROWS, "job", 3)
    assert sorted(tmp_path.glob("dt=*/hm=*/*.csv")) == written
    assert [row[0] for row in _read_back(tmp_path, "csv")] == list(range(8))


def test_the_sink_travels_as_a_dict_and_names_its_mistakes(tmp_path: Path) -> None:
    sink = sl.PartitionedFileSink(tmp_path, ["dt"], "parquet")
    again = sink_from_dict(sink.to_dict())
    assert isinstance(again, sl.PartitionedFileSink)
    assert (again.location, again.keys, again.file_format) == (str(tmp_path), ["dt"], "parquet")
    with pytest.raises(PlanError, match="writes csv or parquet files, not 'json'"):
        sl.PartitionedFileSink(tmp_path, ["dt"], "json")
    with pytest.raises(PlanError, match="needs partition keys; use ParquetSink"):
        sl.PartitionedFileSink(tmp_path, [])
    with pytest.raises(SourceError, match=r"partitions by \['day'\], which the job's rows lack"):
        sl.PartitionedFileSink(tmp_path, ["day"]).commit(ROWS, "job", 1)


def _table(text: str) -> ConnectorTable:
    ctx = Context(text, {})
    return connector_table(table_definition(parse(text), ctx), ctx)


def test_a_partitioned_filesystem_table_gives_a_job_this_sink(tmp_path: Path) -> None:
    columns = "(x BIGINT, dt STRING)"
    options = f"'connector' = 'filesystem', 'path' = 'file://{tmp_path}/', 'format' = 'csv'"
    table = _table(f"CREATE TABLE t {columns} PARTITIONED BY (dt) WITH ({options})")
    sink = table.commit_sink()
    assert isinstance(sink, sl.PartitionedFileSink)
    assert (sink.location, sink.keys, sink.file_format) == (str(tmp_path), ["dt"], "csv")
    success = f"{options}, 'sink.partition-commit.policy.kind' = 'success-file'"
    table = _table(f"CREATE TABLE t {columns} PARTITIONED BY (dt) WITH ({success})")
    with pytest.warns(UserWarning, match=r"INSERT INTO t on a cluster: .* no _SUCCESS file"):
        table.commit_sink()
    with pytest.raises(SQLError, match=r"INSERT INTO t on a cluster: .* or PARTITIONED BY in csv"):
        _table(f"CREATE TABLE t {columns} WITH ({options})").commit_sink()
