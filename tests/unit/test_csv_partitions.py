"""Partitioned CSV tables are written as Arrow's dataset writer writes them: the same
``key=value`` directories (escaped, null as ``__HIVE_DEFAULT_PARTITION__``) holding the same
rows in the same order, whether the batches come in key order or not; keys of other types
go through Arrow's writer."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv
import pyarrow.dataset as ds
import pytest
from sabot_lab.kernels.text_changes import text_changes

from sabot_lab.connectors.csv_partitions import partition_keys_supported, write_csv_partitions
from sabot_lab.connectors.file_writers import write_partitioned


def _files(root: Path, schema: pa.Schema) -> dict[str, list[dict[str, object]]]:
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            options = csv.ReadOptions(column_names=schema.names, autogenerate_column_names=False)
            table = csv.read_csv(
                os.path.join(folder, name),
                read_options=options,
                convert_options=csv.ConvertOptions(column_types=schema),
            )
            found[os.path.relpath(os.path.join(folder, name), root)] = table.to_pylist()
    return found


def _arrows_files(table: pa.Table, keys: list[str], root: Path) -> None:
    ds.write_dataset(
        table,
        root,
        format="csv",
        partitioning=keys,
        partitioning_flavor="hive",
        file_options=ds.CsvFileFormat().make_write_options(include_header=False),
        basename_template="part-{i}.csv",
    )


def test_the_files_are_arrows(tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = 3_000
    table = pa.table(
        {
            "day": [rng.choice(["2024-01-01", "2024-01-02", None]) for _ in range(rows)],
            "hm": sorted(rng.choice(["00:00", "00:01", "a b/c"]) for _ in range(rows)),
            "n": pa.array([rng.choice([1, 2, None]) for _ in range(rows)], pa.int32()),
            "x": list(range(rows)),
            "s": [rng.choice(["p", "q,r", None]) for _ in range(rows)],
        }
    )
    keys = ["day", "hm", "n"]
    assert partition_keys_supported(table.schema, keys)
    ours, arrows = tmp_path / "ours", tmp_path / "arrows"
    write_csv_partitions(table.to_batches(max_chunksize=700), table.schema, str(ours), keys)
    _arrows_files(table, keys, arrows)
    file_schema = table.drop_columns(keys).schema
    expected = _files(arrows, file_schema)
    assert len(expected) > 10
    assert _files(ours, file_schema) == expected


@pytest.mark.parametrize("in_key_order", [True, False])
def test_keys_without_nulls_in_runs_or_not(tmp_path: Path, in_key_order: bool) -> None:
    """Rows in key order are cut where a key changes; rows whose keys come back after
    others are grouped as before."""
    rng = random.Random(5)
    rows = 2_000
    days = [rng.choice(["2024-01-01", "2024-01-02"]) for _ in range(rows)]
    minutes = [rng.choice([7, 8, 9]) for _ in range(rows)]
    if in_key_order:
        days, minutes = sorted(days), sorted(minutes)
    table = pa.table({"day": days, "m": minutes, "x": range(rows), "s": ['a,"b'] * rows})
    keys = ["day", "m"]
    ours, arrows = tmp_path / "ours", tmp_path / "arrows"
    write_csv_partitions(table.to_batches(max_chunksize=300), table.schema, str(ours), keys)
    _arrows_files(table, keys, arrows)
    file_schema = table.drop_columns(keys).schema
    expected = _files(arrows, file_schema)
    assert len(expected) >= 3
    assert _files(ours, file_schema) == expected


def test_other_key_types_go_through_arrows_writer(tmp_path: Path) -> None:
    table = pa.table({"f": [0.5, 0.5, 1.5], "x": [1, 2, 3]})
    assert not partition_keys_supported(table.schema, ["f"])
    written = write_partitioned(table.to_batches(), table.schema, tmp_path / "out", ["f"], "csv")
    assert written == 3
    assert sorted(os.listdir(tmp_path / "out")) == ["f=0.5", "f=1.5"]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_text_changes_are_arrows_not_equal(kind: pa.DataType) -> None:
    """The kernel's rows whose text differs from the previous row's are those where Arrow's
    ``not_equal`` of the column and its shift is true: texts of 0 to 20 bytes (some runs,
    some differing only in their last byte, line breaks, quotes, multibyte), on a slice."""
    rng = random.Random(11)
    pool = ["", "a", "ab", "abcdefgh", "abcdefgi", "abcdefghi", 'q"\n,', "é€", "x" * 20]
    texts = [rng.choice(pool) for _ in range(2_000)]
    column = pa.array(texts, kind).slice(3, 1_990)
    width = np.int64 if kind == pa.large_string() else np.int32
    offsets = np.frombuffer(column.buffers()[1], width)
    at = offsets[column.offset : column.offset + len(column) + 1]
    found = text_changes(at, np.frombuffer(column.buffers()[2], np.uint8))
    expected = pc.not_equal(column.slice(1), column.slice(0, len(column) - 1))
    assert found.tolist() == [i + 1 for i, v in enumerate(expected.to_pylist()) if v]
    assert len(found) > 100
