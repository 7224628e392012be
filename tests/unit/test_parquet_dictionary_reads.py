"""Parquet text columns stored with a small dictionary are read through it (faster), with the
same rows as pyarrow's own read: nulls, several row groups, a filter, views as written by
other tools, a column whose writer fell back to plain pages (read as before), and a file
rewritten without dictionaries (read as it is stored now)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.connectors.parquet_dictionaries import dictionary_columns, with_dictionary_reads


def _table(rows: int, view: bool) -> pa.Table:
    rng = np.random.default_rng(3)
    modes = np.array(["AIR", "RAIL", "SHIP", "TRUCK"])[rng.integers(0, 4, rows)]
    text = pa.string_view() if view else pa.string()
    return pa.table(
        {
            "mode": pa.array(modes, text, mask=rng.random(rows) < 0.1),
            "comment": pa.array([f"comment {i} {i * 7919 % 10007}" for i in range(rows)], text),
            "n": np.arange(rows),
        }
    )


def _written(tmp_path: Path, rows: int, **options: Any) -> tuple[pa.Table, Path, Any]:
    """A table of ``rows`` rows written with the Parquet writer's ``options``: the table, the
    file and its footer."""
    table = _table(rows, view=False)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, **options)
    return table, path, pq.ParquetFile(path).metadata


@pytest.mark.parametrize("view", [False, True])
def test_dictionary_encoded_text_columns_read_the_same_rows(tmp_path: Path, view: bool) -> None:
    table = _table(50_000, view)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=12_000)
    metadata = pq.ParquetFile(path).metadata
    assert dictionary_columns(metadata, ["mode", "comment", "n"], table.schema) == {"mode"}
    expected = pq.read_table(path).cast(
        pa.schema([(f.name, pa.string() if f.name != "n" else f.type) for f in table.schema])
    )
    got = sl.from_parquet(path).collect()
    assert got.schema.field("mode").type == pa.string()
    assert got.sort_by("n").equals(expected.sort_by("n"))
    picked = sl.from_parquet(path).filter(sl.col("mode") == "SHIP").select("n", "mode").collect()
    reference = expected.filter(pa.compute.equal(expected["mode"], "SHIP")).select(["n", "mode"])
    assert picked.sort_by("n").equals(reference.sort_by("n"))


def test_a_small_last_row_group_keeps_a_file_read_through_its_dictionary(
    tmp_path: Path,
) -> None:
    # the last group's dictionary is a large share of its few rows, not of the file's
    table, _, metadata = _written(tmp_path, 12_300, row_group_size=12_000)
    assert metadata.row_group(1).num_rows == 300
    assert dictionary_columns(metadata, ["mode", "comment"], table.schema) == {"mode"}


def test_a_file_rewritten_without_dictionaries_is_read_as_it_is_stored_now(tmp_path: Path) -> None:
    table = _table(20_000, view=False)
    path = tmp_path / "t.parquet"

    def write(use_dictionary: bool, age_s: int) -> None:  # settled: what is found is kept
        pq.write_table(table, path, use_dictionary=use_dictionary)
        when = time.time_ns() - age_s * 10**9
        os.utime(path, ns=(when, when))

    def reads_through_dictionaries() -> set[str]:
        dataset = ds.dataset(path)
        fragments = with_dictionary_reads(list(dataset.get_fragments()), ["mode"], dataset.schema)
        return set(fragments[0].format.read_options.dictionary_columns)

    write(True, 3600)
    assert reads_through_dictionaries() == reads_through_dictionaries() == {"mode"}
    write(False, 3599)
    assert reads_through_dictionaries() == set()
    got = sl.from_parquet(path).collect()
    assert got.sort_by("n").equals(pq.read_table(path).sort_by("n"))


def test_a_column_whose_writer_fell_back_to_plain_pages_early_is_read_as_stored(
    tmp_path: Path,
) -> None:
    # a dictionary page limited to 16 KB fills after a few hundred of the 50,000 distinct
    # comments: its dictionary is a small share of the column, but nearly every value is in
    # plain pages, which a dictionary read would hash one by one
    table, path, metadata = _written(tmp_path, 50_000, dictionary_pagesize_limit=16_384)
    chunk = metadata.row_group(0).column(1)
    dictionary = chunk.data_page_offset - chunk.dictionary_page_offset
    assert 0 < dictionary < 0.1 * chunk.total_uncompressed_size  # the share alone would pass
    assert dictionary_columns(metadata, ["mode", "comment"], table.schema) == {"mode"}
    got = sl.from_parquet(path).filter(sl.col("comment").str.contains("7 1")).collect()
    expected = pq.read_table(path)
    expected = expected.filter(pa.compute.match_substring(expected["comment"], "7 1"))
    assert got.sort_by("n").equals(expected.sort_by("n"))
