"""Decimal columns end to end, against DuckDB: aggregates (grouped, global, two-phase, windowed),
filters pushed into Parquet and DuckDB scans, casts in SQL, and Parquet and CSV files that keep
the decimal type."""

from __future__ import annotations

import datetime as dt
import decimal
import random
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.engine.items import Watermark
from sabot_lab.engine.state import open_state
from sabot_lab.engine.stream_operator import drive
from sabot_lab.engine.window_aggregate import window_operator
from sabot_lab.window_specs import tumbling
from tests.support.reference import collect_all_ways, duckdb_table

MONEY = pa.decimal128(15, 2)
D = decimal.Decimal


def money_table(rows: int = 200, seed: int = 7) -> pa.Table:
    """Keys with nulls, money with nulls and negative values, a 38-digit decimal, times."""
    rng = random.Random(seed)
    amounts = [
        None if rng.random() < 0.1 else D(rng.randint(-(10**6), 10**6)).scaleb(-2)
        for _ in range(rows)
    ]
    wide = [
        None if rng.random() < 0.1 else D(rng.randint(-(10**30), 10**30)).scaleb(-8)
        for _ in range(rows)
    ]
    return pa.table(
        {
            "k": [None if rng.random() < 0.05 else rng.randint(0, 4) for _ in range(rows)],
            "x": pa.array(amounts, MONEY),
            "w": pa.array(wide, pa.decimal128(38, 8)),
            "t": [dt.datetime(2026, 1, 1) + dt.timedelta(seconds=i) for i in range(rows)],
        }
    )


def rows_of(table: pa.Table, order: list[str]) -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda r: [(r[c] is None, r[c] or 0) for c in order])


AGGREGATES_SQL = "sum(x) AS s, sum(w) AS sw, min(x) AS lo, max(w) AS hi, count(x) AS n"


def aggregates() -> dict[str, sl.Expr]:
    return {
        "s": col("x").sum(),
        "sw": col("w").sum(),
        "lo": col("x").min(),
        "hi": col("w").max(),
        "n": col("x").count(),
    }


def test_grouped_and_global_decimal_aggregates_are_exact_in_duckdbs_types() -> None:
    table = money_table()
    expected = duckdb_table(f"SELECT k, {AGGREGATES_SQL} FROM t GROUP BY k", t=table)
    for result in collect_all_ways(sl.from_arrow(table).group_by("k").agg(**aggregates())):
        assert result.schema == expected.schema
        assert rows_of(result, ["k"]) == rows_of(expected, ["k"])
    expected = duckdb_table(f"SELECT {AGGREGATES_SQL} FROM t", t=table)
    for result in collect_all_ways(sl.from_arrow(table).agg(**aggregates())):
        assert result.schema == expected.schema
        assert result.to_pylist() == expected.to_pylist()


def test_avg_of_decimals_is_a_double_as_in_duckdb() -> None:
    table = money_table()
    expected = duckdb_table("SELECT k, avg(x) AS a, avg(w) AS aw FROM t GROUP BY k", t=table)
    stream = sl.from_arrow(table).group_by("k").agg(a=col("x").mean(), aw=col("w").mean())
    for result in collect_all_ways(stream):
        assert result.schema == expected.schema
        for got, want in zip(rows_of(result, ["k"]), rows_of(expected, ["k"]), strict=True):
            assert got["k"] == want["k"]
            for name in ("a", "aw"):
                assert got[name] == want[name]  # the same double, not merely close


def test_windowed_decimal_sums_are_exact() -> None:
    table = money_table()
    windows = sl.from_arrow(table).window(sl.tumbling("20s", on="t")).group_by("k")
    result = windows.agg(s=col("x").sum(), hi=col("x").max()).collect()
    expected = duckdb_table(
        "SELECT k, time_bucket(INTERVAL 20 SECONDS, t) AS window_start, sum(x) AS s, "
        "max(x) AS hi FROM t GROUP BY ALL",
        t=table,
    )
    assert result.schema.field("s").type == pa.decimal128(38, 2)
    got = rows_of(result.select(["k", "window_start", "s", "hi"]), ["window_start", "k"])
    assert got == rows_of(expected, ["window_start", "k"])


FILTERS = [
    (col("x") > 1, "x > 1"),
    (col("x") >= 0.05, "x >= 0.05"),
    ((col("x") >= -100.5) & (col("x") <= 2500), "x BETWEEN -100.5 AND 2500"),
    (col("x") > 0.055, "x > 0.055"),  # the column's type cannot hold 0.055: not pushed
    (col("x").is_in([0.5, 100, 0.055, -17.41]), "x IN (0.5, 100, 0.055, -17.41)"),
    (col("w") < 10**4, "w < 10000"),
    (~(col("w") > 0.1), "NOT (w > 0.1)"),
]


@pytest.mark.parametrize(("predicate", "sql"), FILTERS, ids=[f[1] for f in FILTERS])
def test_filters_on_decimal_columns_are_exact_in_parquet_and_duckdb_scans(
    predicate: sl.Expr, sql: str, tmp_path: Path
) -> None:
    table = money_table().drop_columns(["t"])
    table = table.append_column("rn", pa.array(range(table.num_rows), pa.int64()))
    table = table.set_column(1, "x", pc_replace_some(table["x"]))
    pq.write_table(table, tmp_path / "m.parquet", row_group_size=50)
    expected = duckdb_table(f"SELECT rn FROM t WHERE {sql} ORDER BY rn", t=table)["rn"]
    assert len(expected) > 0
    sources = [
        sl.from_arrow(table),
        sl.from_parquet(tmp_path / "m.parquet"),
        sl.from_duckdb(duckdb.connect().from_arrow(table)),
    ]
    for source in sources:
        result = source.filter(predicate).select("rn").sort("rn").collect()
        assert result["rn"].to_pylist() == expected.to_pylist(), source


def pc_replace_some(values: pa.ChunkedArray) -> pa.Array:
    """Money values with some rows set to the filters' constants, so equality tests match."""
    plain = values.to_pylist()
    for i, v in enumerate([D("0.05"), D("0.50"), D("100.00"), D("-17.41"), D("2500.00")]):
        plain[i * 7] = v
    return pa.array(plain, MONEY)


def test_a_wide_decimal_compares_with_a_constant_exactly_not_as_a_double() -> None:
    fine = pa.decimal128(20, 18)
    values = [D("0.100000000000000001"), D("0.1"), D("0.099999999999999999")]
    table = pa.table({"v": pa.array(values, fine), "rn": [0, 1, 2]})
    for predicate, sql in [(col("v") > 0.1, "v > 0.1"), (col("v").is_in([0.1]), "v IN (0.1)")]:
        expected = duckdb_table(f"SELECT rn FROM t WHERE {sql}", t=table)["rn"].to_pylist()
        for source in (sl.from_arrow(table), sl.from_duckdb(duckdb.connect().from_arrow(table))):
            assert source.filter(predicate).select("rn").collect()["rn"].to_pylist() == expected


def test_sql_casts_to_decimals_and_back() -> None:
    table = pa.table({"s": ["1.255", "-2.5", None], "f": [2.5, -0.125, 1e3], "rn": [0, 1, 2]})
    sql = (
        "SELECT rn, CAST(s AS DECIMAL(4, 2)) AS a, CAST(f AS DECIMAL(6, 2)) AS b, "
        "CAST(CAST(f AS DECIMAL(6, 1)) AS INTEGER) AS c, CAST(CAST(s AS DECIMAL(5, 3)) AS VARCHAR) AS d, "
        "CAST(f AS NUMERIC) AS e FROM t ORDER BY rn"
    )
    ours = sl.sql(sql, t=table).collect()
    expected = duckdb_table(sql, t=table)
    assert ours.schema == expected.schema
    assert ours.to_pylist() == expected.to_pylist()


def test_decimals_keep_their_type_through_parquet_and_csv(tmp_path: Path) -> None:
    table = money_table().select(["k", "x", "w"])
    stream = sl.from_arrow(table).with_columns(y=col("x") * col("x"))
    stream.to_parquet(tmp_path / "m.parquet")
    back = sl.from_parquet(tmp_path / "m.parquet").collect()
    assert back.schema.field("y").type == pa.decimal128(18, 4)
    assert back.to_pylist() == stream.collect().to_pylist()
    stream.to_csv(tmp_path / "m.csv")
    types = {"x": "decimal(15, 2)", "w": "decimal128(38, 8)", "y": "decimal(18,4)"}
    read = sl.from_csv(tmp_path / "m.csv", schema=types).collect()
    assert read.select(["x", "w", "y"]).to_pylist() == back.select(["x", "w", "y"]).to_pylist()
    assert read.schema.field("w").type == pa.decimal128(38, 8)


@pytest.mark.parametrize(("before", "after"), [("memory", "rocksdb"), ("rocksdb", "memory")])
def test_a_windowed_decimal_sum_continues_exactly_from_a_restored_snapshot(
    before: str, after: str, tmp_path: Path
) -> None:
    table = money_table(rows=600).select(["t", "k", "x"])
    items: list[object] = []
    for batch in table.to_batches(max_chunksize=50):
        items += [batch, Watermark(int(batch["t"][-1].value) - 5_000_000)]
    aggs = [col("x").sum().alias("s"), col("x").max().alias("hi"), col("x").mean().alias("a")]
    spec = tumbling("30s", on="t")
    whole = list(drive(window_operator(spec, ["k"], aggs, table.schema, open_state()), iter(items)))
    first = open_state(before)
    emitted = list(
        drive(window_operator(spec, ["k"], aggs, table.schema, first), iter(items[:6]), final=False)
    )
    first.snapshot(tmp_path / "checkpoint")
    first.close()
    second = open_state(after)
    second.restore(tmp_path / "checkpoint")
    resumed = window_operator(spec, ["k"], aggs, table.schema, second)
    emitted += list(drive(resumed, iter(items[6:])))
    second.close()
    restored, straight = (
        pa.Table.from_batches([b for b in out if isinstance(b, pa.RecordBatch)])
        for out in (emitted, whole)
    )
    assert restored.schema.field("s").type == pa.decimal128(38, 2)
    assert rows_of(restored, ["window_start", "k"]) == rows_of(straight, ["window_start", "k"])
    expected = duckdb_table(
        "SELECT k, time_bucket(INTERVAL 30 SECONDS, t) AS window_start, sum(x) AS s "
        "FROM t GROUP BY ALL",
        t=table,
    )
    sums = rows_of(restored.select(["k", "window_start", "s"]), ["window_start", "k"])
    assert sums == rows_of(expected, ["window_start", "k"])


def test_decimals_whose_common_type_needs_more_than_38_digits_compare_exactly(
    tmp_path: Path,
) -> None:
    table = pa.table(
        {
            "b": pa.array([D("1"), None, D("-3"), D(5)], pa.decimal128(38, 0)),
            "c": pa.array(
                [D("0.1"), D("1"), D("-3"), D("0.00000000000000000001")], pa.decimal128(38, 20)
            ),
            "rn": [0, 1, 2, 3],
        }
    )
    pq.write_table(table, tmp_path / "w.parquet")
    cases = [
        (col("b") < 0.05, "b < 0.05"),
        (col("c") >= col("b"), "c >= b"),
        (col("c") == -3, "c = -3"),
    ]
    for predicate, sql in cases:
        expected = duckdb_table(f"SELECT rn FROM t WHERE {sql} ORDER BY rn", t=table)["rn"]
        for source in (sl.from_arrow(table), sl.from_parquet(tmp_path / "w.parquet")):
            result = source.filter(predicate).select("rn").sort("rn").collect()
            assert result["rn"].to_pylist() == expected.to_pylist(), sql
