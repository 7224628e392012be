"""Decimals on Parquet as ``tpchgen-cli`` writes it (money as decimal128(15, 2)): TPC-H Q6 in
DuckDB's text gives DuckDB's exact revenue, filters on decimal columns are pushed into the scan,
and a decimal aggregate on a cluster of two partitions is DuckDB's."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.examples.tpch import generate
from sabot_lab.predicates import to_arrow_filter


@pytest.fixture(scope="module")
def lineitem(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``lineitem`` as ``tpchgen-cli`` writes it (decimal128(15, 2) money), scale 0.01."""
    return generate(tmp_path_factory.mktemp("tpch"), tables=("lineitem",)) / "lineitem.parquet"


Q6 = """SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem
WHERE l_shipdate >= CAST('1994-01-01' AS date) AND l_shipdate < CAST('1995-01-01' AS date)
  AND l_discount BETWEEN .06 - 0.01 AND .06 + 0.01 AND l_quantity < 24"""


def test_tpch_q6_as_duckdb_writes_it_gives_duckdbs_exact_revenue(lineitem: Path) -> None:
    ours = sl.sql(Q6, lineitem=sl.from_parquet(lineitem)).collect()
    theirs = duckdb.sql(Q6.replace("FROM lineitem", f"FROM '{lineitem}'")).to_arrow_table()
    assert ours.schema.field("revenue").type == pa.decimal128(38, 4)
    assert ours.to_pylist() == theirs.to_pylist()


def test_a_quantity_filter_with_an_integer_is_pushed_into_the_parquet_scan(lineitem: Path) -> None:
    """It used to crash with ArrowInvalid in the scan."""
    schema = pq.read_schema(lineitem)
    pushed = to_arrow_filter(col("l_quantity") < 24, schema)
    assert pushed is not None
    result = sl.from_parquet(lineitem).filter(col("l_quantity") < 24).select("l_quantity").collect()
    expected = duckdb.sql(f"SELECT l_quantity FROM '{lineitem}' WHERE l_quantity < 24")
    assert result.num_rows == len(expected) > 0


Q1_DECIMALS = """SELECT l_linenumber, sum(l_quantity) AS sum_qty, sum(l_extendedprice) AS sum_base_price,
  sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
  sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
  avg(l_discount) AS avg_disc, min(l_tax) AS min_tax, max(l_extendedprice) AS max_price,
  count(*) AS count_order
FROM lineitem GROUP BY l_linenumber"""


def test_decimal_aggregates_on_a_cluster_of_two_partitions_are_duckdbs(
    lineitem: Path, two_agents_on_sqlite: sl.LocalCluster
) -> None:
    """TPC-H Q1's money sums (grouped by a number here) across a shuffle of two partitions."""
    expected = duckdb.sql(Q1_DECIMALS.replace("FROM lineitem", f"FROM '{lineitem}'"))
    expected_table = expected.to_arrow_table()
    stream = sl.sql(Q1_DECIMALS, lineitem=sl.from_parquet(lineitem))
    result = stream.submit(two_agents_on_sqlite, partitions=2).result(timeout=120)
    local = stream.collect()
    for got in (result, local):
        assert got.schema.field("sum_charge").type == expected_table.schema.field("sum_charge").type
        rows = sorted(got.to_pylist(), key=lambda r: r["l_linenumber"])
        want = sorted(expected_table.to_pylist(), key=lambda r: r["l_linenumber"])
        for r, w in zip(rows, want, strict=True):
            assert r == w
    assert pa.types.is_decimal(result.schema.field("sum_qty").type)
    assert pq.read_schema(lineitem).field("l_tax").type == pa.decimal128(15, 2)
