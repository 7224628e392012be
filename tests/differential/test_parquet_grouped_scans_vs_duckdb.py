"""A group-by straight over Parquet files groups dictionary-encoded text keys by their codes
(the scan keeps them encoded) and sums decimals and integers in 64-bit integers: against
DuckDB on the same files, exactly, with several row groups and files, null keys and values,
a file whose key column was written without a dictionary (read into one), text written as views, and a filter
pushed into the scan."""

from __future__ import annotations

import decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.connectors.files import FileSource
from tests.support.reference import assert_same_rows, duckdb_table

ROWS = 20_000


def _table(seed: int, nulls: bool, view: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    flags = np.array(["A", "N", "R"])[rng.integers(0, 3, ROWS)]
    status = np.array(["F", "O"])[rng.integers(0, 2, ROWS)]
    cents = rng.integers(-10_000_000, 10_000_000, ROWS)
    mask = rng.random(ROWS) < 0.05 if nulls else None
    return pa.table(
        {
            "flag": pa.array(flags, pa.string_view() if view else pa.string(), mask=mask),
            "status": pa.array(status, pa.string_view() if view else pa.string()),
            "price": pa.array(
                [decimal.Decimal(int(c)).scaleb(-2) for c in cents], pa.decimal128(15, 2)
            ),
            "qty": pa.array(rng.integers(-50, 50, ROWS), pa.int32(), mask=mask),
            "x": rng.random(ROWS),
            "day": pa.array(rng.integers(0, 100, ROWS), pa.int64()),
        }
    )


def _query(source: sl.Stream) -> sl.Stream:
    return source.group_by("flag", "status").agg(
        sl.col("price").sum().alias("total"),
        (sl.col("price") * (1 - sl.col("price"))).sum().alias("product"),
        sl.col("price").mean().alias("mean_price"),
        sl.col("qty").sum().alias("qty"),
        sl.col("x").sum().alias("x"),
        sl.count().alias("n"),
    )


EXACT = ["flag", "status", "total", "product", "qty", "n"]


def _assert_same(got: pa.Table, expected: pa.Table) -> None:
    """The same rows (floats to 1e-9), and the decimal and integer sums exactly."""
    assert_same_rows(got, expected, rel=1e-9)
    keys = [("flag", "ascending"), ("status", "ascending")]
    assert got.select(EXACT).sort_by(keys).to_pylist() == (
        expected.select(EXACT).sort_by(keys).to_pylist()
    )


SQL = """SELECT flag, status, sum(price) AS total, sum(price * (1 - price)) AS product,
    avg(price) AS mean_price, sum(qty) AS qty, sum(x) AS x, count(*) AS n
    FROM t {where} GROUP BY flag, status"""


@pytest.mark.parametrize(("nulls", "view"), [(False, False), (True, True)])
def test_grouped_parquet_scan_matches_duckdb(tmp_path: Path, nulls: bool, view: bool) -> None:
    """(``view``: text written as ``string_view``, as Polars writes it.)"""
    tables = [_table(1, nulls, view), _table(2, nulls, view)]
    pq.write_table(tables[0], tmp_path / "a.parquet", row_group_size=6_000)
    pq.write_table(tables[1], tmp_path / "b.parquet", row_group_size=7_000)
    both = pa.concat_tables(tables).cast(_table(1, nulls).schema)
    got = _query(sl.from_parquet(str(tmp_path / "*.parquet"))).collect()
    assert got.schema.field("flag").type == pa.string()
    _assert_same(got, duckdb_table(SQL.format(where=""), t=both))
    filtered = sl.from_parquet(str(tmp_path / "*.parquet")).filter(sl.col("day") < 40)
    expected = duckdb_table(SQL.format(where="WHERE day < 40"), t=both)
    _assert_same(_query(filtered).collect(), expected)


def test_scan_reads_grouped_keys_as_dictionaries_from_every_file(tmp_path: Path) -> None:
    table = _table(3, nulls=False)
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=6_000)
    pq.write_table(table, tmp_path / "b.parquet", use_dictionary=["status"])
    source = FileSource(str(tmp_path / "*.parquet"))
    batches = [b for b, _ in source.replay(4096, encoded=["flag", "status"]) if b is not None]
    for key in ("flag", "status"):  # "flag" of b.parquet: built by the reader from plain pages
        assert all(pa.types.is_dictionary(b.schema.field(key).type) for b in batches)
    assert sum(b.num_rows for b in batches) == 2 * ROWS
    plain = [b for b, _ in source.replay(4096) if b is not None]
    assert {str(b.schema.field("flag").type) for b in plain} == {"string"}
    expected = duckdb_table(SQL.format(where=""), t=pa.concat_tables([table, table]))
    _assert_same(_query(sl.from_parquet(str(tmp_path / "*.parquet"))).collect(), expected)


MARKED = [  # (a filter pushed into the scan; DuckDB's WHERE)
    (sl.col("day") >= 10, "day >= 10"),  # most rows kept: marked for the aggregate
    (sl.col("day") < 10, "day < 10"),  # a tenth: copied
    ((sl.col("status") != "O") | (sl.col("day") > 50), "status <> 'O' OR day > 50"),
    ((sl.col("qty") > -40) & (sl.col("flag") != "R"), "qty > -40 AND flag <> 'R'"),
    (sl.col("part") != "b", "part <> 'b'"),  # decided by the partition keys
    ((sl.col("part") == "a") & (sl.col("x") > 0.2), "part = 'a' AND x > 0.2"),
]


@pytest.mark.parametrize(("predicate", "where"), MARKED, ids=[w for _, w in MARKED])
def test_a_filter_in_the_scan_hands_the_grouped_aggregate_its_rows_by_mask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, predicate: sl.Expr, where: str
) -> None:
    """The scan's filter prunes row groups and files; its rows reach the aggregate unfiltered,
    marked, and the aggregate counts the kept ones (or takes their copy when few)."""
    from sabot_lab.engine.aggregate import HashAggregate

    parts = {"a": _table(4, nulls=True), "b": _table(5, nulls=True)}
    for part, table in parts.items():
        (tmp_path / f"part={part}").mkdir()
        pq.write_table(table, tmp_path / f"part={part}" / "f.parquet", row_group_size=5_000)
    both = pa.concat_tables(
        t.append_column("part", pa.array([p] * t.num_rows)) for p, t in parts.items()
    )
    marked: list[int] = []
    counted = HashAggregate._selected_partial
    monkeypatch.setattr(
        HashAggregate,
        "_selected_partial",
        lambda self, selected: marked.append(len(selected.kept)) or counted(self, selected),
    )
    stream = _query(sl.from_parquet(str(tmp_path), hive_partitioning=True).filter(predicate))
    assert "] filter (" not in stream.explain()  # the filter is the scan's
    _assert_same(stream.collect(), duckdb_table(SQL.format(where=f"WHERE {where}"), t=both))
    if where == "day >= 10":
        assert sum(marked) == 2 * ROWS  # every row read reached the aggregate, marked
