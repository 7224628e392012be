"""Parquet footers are read once per file and process: a second source over the same files
reuses their parsed footers, and a file rewritten in place (another size, or the same size
and a new modification time) is read afresh, its new rows and row groups seen; a file
modified just before the read is read again every time (a rewrite within the file system's
clock tick would leave its time unchanged)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as fs
import pyarrow.parquet as pq

import sabot_lab as sl
from sabot_lab.connectors.files import FileSource
from sabot_lab.connectors.parquet_footers import file_fragment


def _write(path: Path, values: list[int], row_group_size: int = 2, settled: bool = True) -> None:
    """Write ``values``; ``settled``: with a modification time an hour ago (and a new one)."""
    pq.write_table(pa.table({"x": values}), path, row_group_size=row_group_size)
    if settled:
        settled_ns = time.time_ns() - 3600 * 10**9 + len(values)
        os.utime(path, ns=(settled_ns, settled_ns))


def test_a_file_footer_is_kept_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _write(path, [1, 2, 3])
    local = fs.LocalFileSystem()
    first = file_fragment(str(path), local)
    assert file_fragment(str(path), local) is first
    assert file_fragment(str(path), local, dictionaries=["x"]) is not first
    stat = os.stat(path)
    _write(path, [7, 8, 9], settled=False)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as if written in the same tick
    assert os.stat(path).st_size == stat.st_size
    assert file_fragment(str(path), local) is first  # size and time unchanged: trusted
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    changed = file_fragment(str(path), local)
    assert changed is not first and changed.to_table()["x"].to_pylist() == [7, 8, 9]
    _write(path, [4, 5, 6, 7, 8], row_group_size=5)
    assert file_fragment(str(path), local).metadata.num_row_groups == 1


def test_sources_over_a_glob_share_footers_and_see_rewritten_files(tmp_path: Path) -> None:
    for i in range(3):
        _write(tmp_path / f"{i}.parquet", [i, i + 10])
    glob = str(tmp_path / "*.parquet")
    paths = [f.path for f in FileSource(glob)._dataset.get_fragments()]
    assert [f.metadata for f in FileSource(glob)._dataset.get_fragments()] == [
        file_fragment(p, fs.LocalFileSystem()).metadata for p in paths
    ]
    assert sl.from_parquet(glob).collect()["x"].to_pylist() == [0, 10, 1, 11, 2, 12]
    _write(tmp_path / "1.parquet", [5, 6, 7, 8])
    expected = pq.read_table([str(tmp_path / f"{i}.parquet") for i in range(3)])
    got = sl.from_parquet(glob).group_by("x").agg(sl.count().alias("n")).collect()
    assert sorted(got["x"].to_pylist()) == sorted(expected["x"].to_pylist())
    assert FileSource(glob).estimated_rows() == expected.num_rows == 8


def test_a_file_written_just_now_is_read_again_each_time(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _write(path, [1, 2], settled=False)
    local = fs.LocalFileSystem()
    assert file_fragment(str(path), local) is not file_fragment(str(path), local)
    _write(path, [3, 4], settled=False)  # same size, maybe within the same clock tick
    assert sl.from_parquet(str(path)).collect()["x"].to_pylist() == [3, 4]


def test_a_source_over_a_file_written_just_now_reads_it_as_it_is_when_scanned(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"s": pa.array(["a", "b"] * 3).dictionary_encode()}), path, 2)
    source = sl.from_parquet(str(path))  # its schema read from the file as first written
    rewritten = pa.array(["c", "d", "e"] * 5).dictionary_encode()
    pq.write_table(pa.table({"s": rewritten}), path, row_group_size=4)
    assert source.collect()["s"].to_pylist() == ["c", "d", "e"] * 5


def test_local_files_are_read_through_memory_maps_unless_the_setting_is_off(
    tmp_path: Path,
) -> None:
    """Memory-mapped by default (``memory_map``), through reads into buffers when off; the
    kept footers of one way are not handed to the other; the rows are the same."""
    (tmp_path / "hive" / "p=1").mkdir(parents=True)
    _write(tmp_path / "t.parquet", [1, 2, 3])
    _write(tmp_path / "hive" / "p=1" / "h.parquet", [4, 5])
    mapped = fs.LocalFileSystem(use_mmap=True)
    old = sl.get_config()
    rows = {}
    try:
        for memory_map in (True, False, True):
            sl.set_config(old.replace(memory_map=memory_map))
            for path in (tmp_path / "t.parquet", tmp_path / "hive"):
                source = FileSource(str(path))
                assert source._dataset.filesystem.equals(mapped) is memory_map
                assert all(
                    f.filesystem.equals(mapped) is memory_map
                    for f in source._dataset.get_fragments()
                )
                got = sl.from_parquet(path).collect().to_pydict()
                assert rows.setdefault(str(path), got) == got
    finally:
        sl.set_config(old)
    assert rows[str(tmp_path / "hive")] == {"x": [4, 5], "p": [1, 1]}


def test_the_memory_map_setting_reads_its_environment_variable() -> None:
    assert sl.Config.from_env({}).engine.memory_map is True
    assert sl.Config.from_env({"SABOT_MEMORY_MAP": "off"}).engine.memory_map is False
