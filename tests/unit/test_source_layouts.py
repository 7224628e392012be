"""What a SOURCE operator hands on: view layouts as ``string``/``binary``, every field nullable
and without field metadata, so non-null Parquet fields (as ``tpchgen-cli`` and Spark write
them) meet outer joins, unions and sinks without a schema error."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows, duckdb_table

NON_NULL = pa.schema(
    [
        pa.field("k", pa.int64(), nullable=False, metadata={"PARQUET:field_id": "1"}),
        pa.field("s", pa.string_view(), nullable=False, metadata={"PARQUET:field_id": "2"}),
    ]
)
PLAIN = pa.table({"k": [4, None, 1], "x": ["d", None, "e"]})


@pytest.fixture
def non_null_file(tmp_path: Path) -> Path:
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"k": [1, 2, 3], "s": ["a", "b", "c"]}, schema=NON_NULL), path)
    return path


def test_a_source_schema_has_the_engine_layouts_and_nullable_fields(non_null_file: Path) -> None:
    assert sl.from_parquet(non_null_file).schema == pa.schema(
        [("k", pa.int64()), ("s", pa.string())]
    )
    table = pa.table({"v": pa.array([b"x"], pa.binary_view())})
    assert sl.from_arrow(table).collect().schema == pa.schema([("v", pa.binary())])


@pytest.mark.parametrize("how", ["left", "full"])
def test_an_outer_join_fills_non_null_parquet_fields_with_nulls(
    non_null_file: Path, how: str, tmp_path: Path
) -> None:
    stream = sl.from_arrow(PLAIN).join(sl.from_parquet(non_null_file), on="k", how=how)
    right_key = ", f.k AS k_right" if how == "full" else ""  # a full join keeps both keys
    expected = duckdb_table(
        f"SELECT p.k, x{right_key}, s FROM p {how.upper()} JOIN "
        f"read_parquet('{non_null_file}') f ON p.k = f.k",
        p=PLAIN,
    )
    assert_same_rows(stream.collect(), expected)
    stream.to_parquet(tmp_path / "joined.parquet")
    assert_same_rows(pq.read_table(tmp_path / "joined.parquet"), expected)


def test_a_union_of_non_null_and_nullable_fields_filters_and_writes_csv(
    non_null_file: Path, tmp_path: Path
) -> None:
    other = pa.table({"k": [None, 7], "s": pa.array(["z", None], pa.large_string())})
    stream = sl.from_parquet(non_null_file).union(other).filter(col("s") != "b")
    expected = duckdb_table(
        f"SELECT * FROM (SELECT * FROM read_parquet('{non_null_file}') UNION ALL "
        "SELECT * FROM o) WHERE s <> 'b'",
        o=other,
    )
    assert_same_rows(stream.collect(), expected)
    stream.to_csv(tmp_path / "u.csv")
    assert (tmp_path / "u.csv").read_text().count("\n") == 1 + 3


def test_a_cast_to_a_view_layout_gives_the_engines_layout_that_sorts_and_groups() -> None:
    table = pa.table({"s": ["b", None, "a", "b"]})
    stream = (
        sl.from_arrow(table)
        .with_columns(v=col("s").cast("string_view"), y=col("s").cast(pa.binary_view()))
        .group_by("v", "y")
        .agg(n=sl.count())
        .sort("v")
    )
    assert stream.schema.field("v").type == pa.string()
    assert stream.schema.field("y").type == pa.binary()
    expected = duckdb_table(
        "SELECT s AS v, s::BLOB AS y, count(*) AS n FROM t GROUP BY s ORDER BY s", t=table
    )
    assert_same_rows(stream.collect(), expected, ordered=True)
