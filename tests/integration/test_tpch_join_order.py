"""TPC-H queries with ``FROM`` lists, on Parquet as ``tpchgen-cli`` writes it, against DuckDB:
Q19 joins on the key its ``OR`` repeats in every branch (it used to build the cross product of
lineitem and part), and Q5, Q7, Q8 and Q9 give the same rows and the same planned cost whatever
the order of their ``FROM`` lists (written in reverse, Q9 used to build a cross product)."""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

import sabot_lab as sl
from sabot_lab.examples.tpch import TABLES
from sabot_lab.logical import HashJoin
from sabot_lab.optimizer import OptimizedPlan, large_cross_products
from tests.support.reference import assert_same_rows

Q19 = """SELECT sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem, part
WHERE (p_partkey = l_partkey AND p_brand = 'Brand#12'
        AND p_container IN ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
        AND l_quantity >= 1 AND l_quantity <= 1 + 10 AND p_size BETWEEN 1 AND 5
        AND l_shipmode IN ('AIR', 'AIR REG') AND l_shipinstruct = 'DELIVER IN PERSON')
    OR (p_partkey = l_partkey AND p_brand = 'Brand#23'
        AND p_container IN ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
        AND l_quantity >= 10 AND l_quantity <= 10 + 10 AND p_size BETWEEN 1 AND 10
        AND l_shipmode IN ('AIR', 'AIR REG') AND l_shipinstruct = 'DELIVER IN PERSON')
    OR (p_partkey = l_partkey AND p_brand = 'Brand#34'
        AND p_container IN ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
        AND l_quantity >= 20 AND l_quantity <= 20 + 10 AND p_size BETWEEN 1 AND 15
        AND l_shipmode IN ('AIR', 'AIR REG') AND l_shipinstruct = 'DELIVER IN PERSON')"""

# (the FROM list as written, the query with {tables} where the list stands)
FROM_LISTS = {
    "q5": (
        ["customer", "orders", "lineitem", "supplier", "nation", "region"],
        """SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue FROM {tables}
WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
  AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
  AND r_name = 'ASIA' AND o_orderdate >= CAST('1994-01-01' AS date)
  AND o_orderdate < CAST('1995-01-01' AS date)
GROUP BY n_name ORDER BY revenue DESC""",
    ),
    "q7": (
        ["supplier", "lineitem", "orders", "customer", "nation n1", "nation n2"],
        """SELECT supp_nation, cust_nation, l_year, sum(volume) AS revenue
FROM (SELECT n1.n_name AS supp_nation, n2.n_name AS cust_nation,
        extract(year FROM l_shipdate) AS l_year, l_extendedprice * (1 - l_discount) AS volume
    FROM {tables}
    WHERE s_suppkey = l_suppkey AND o_orderkey = l_orderkey AND c_custkey = o_custkey
      AND s_nationkey = n1.n_nationkey AND c_nationkey = n2.n_nationkey
      AND ((n1.n_name = 'FRANCE' AND n2.n_name = 'GERMANY')
        OR (n1.n_name = 'GERMANY' AND n2.n_name = 'FRANCE'))
      AND l_shipdate BETWEEN CAST('1995-01-01' AS date) AND CAST('1996-12-31' AS date)
    ) AS shipping
GROUP BY supp_nation, cust_nation, l_year ORDER BY supp_nation, cust_nation, l_year""",
    ),
    "q8": (
        ["part", "supplier", "lineitem", "orders", "customer", "nation n1", "nation n2", "region"],
        """SELECT o_year, sum(CASE WHEN nation = 'BRAZIL' THEN volume ELSE 0 END) / sum(volume)
    AS mkt_share
FROM (SELECT extract(year FROM o_orderdate) AS o_year,
        l_extendedprice * (1 - l_discount) AS volume, n2.n_name AS nation
    FROM {tables}
    WHERE p_partkey = l_partkey AND s_suppkey = l_suppkey AND l_orderkey = o_orderkey
      AND o_custkey = c_custkey AND c_nationkey = n1.n_nationkey
      AND n1.n_regionkey = r_regionkey AND r_name = 'AMERICA' AND s_nationkey = n2.n_nationkey
      AND o_orderdate BETWEEN CAST('1995-01-01' AS date) AND CAST('1996-12-31' AS date)
      AND p_type = 'ECONOMY ANODIZED STEEL') AS all_nations
GROUP BY o_year ORDER BY o_year""",
    ),
    "q9": (
        ["part", "supplier", "lineitem", "partsupp", "orders", "nation"],
        """SELECT nation, o_year, sum(amount) AS sum_profit
FROM (SELECT n_name AS nation, extract(year FROM o_orderdate) AS o_year,
        l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity AS amount
    FROM {tables}
    WHERE s_suppkey = l_suppkey AND ps_suppkey = l_suppkey AND ps_partkey = l_partkey
      AND p_partkey = l_partkey AND o_orderkey = l_orderkey AND s_nationkey = n_nationkey
      AND p_name LIKE '%green%') AS profit
GROUP BY nation, o_year ORDER BY nation, o_year DESC""",
    ),
}


@pytest.fixture(scope="module")
def tables(tpch_dir: Path) -> dict[str, sl.Stream]:
    return {name: sl.from_parquet(tpch_dir / f"{name}.parquet") for name in TABLES}


@pytest.fixture(scope="module")
def duck(tpch_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in TABLES:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM '{tpch_dir / name}.parquet'")
    return con


def planned_cost(plan: OptimizedPlan) -> float:
    """The join order's cost as the join rule counts it: rows of every join and build side."""
    rows = plan.estimated_rows
    joins = [n for n in plan.graph if isinstance(n.op, HashJoin)]
    return sum(rows[n.operator_id] + rows[n.upstream[1]] for n in joins)


def test_q19_joins_on_the_key_its_or_repeats_and_equals_duckdb(
    tables: dict[str, sl.Stream], duck: duckdb.DuckDBPyConnection
) -> None:
    query = sl.sql(Q19, tables)
    plan = query.optimize()
    assert large_cross_products(plan, limit=0) == []
    keys = [{*n.op.left_on, *n.op.right_on} for n in plan.graph if isinstance(n.op, HashJoin)]
    assert keys == [{"l_partkey", "p_partkey"}]
    result = query.collect()
    expected = duck.sql(Q19).to_arrow_table()
    assert result.to_pylist() == expected.to_pylist()  # decimals, exactly
    assert result["revenue"][0].as_py() > 0


def _orders(written: list[str]) -> list[list[str]]:
    shuffled = list(written)
    random.Random(len(written)).shuffle(shuffled)
    return [written, written[::-1], shuffled]


@pytest.mark.parametrize("name", sorted(FROM_LISTS))
def test_a_from_list_in_any_order_has_the_same_planned_cost_and_duckdbs_rows(
    name: str, tables: dict[str, sl.Stream], duck: duckdb.DuckDBPyConnection
) -> None:
    written, template = FROM_LISTS[name]
    expected = duck.sql(template.format(tables=", ".join(written))).to_arrow_table()
    costs = []
    for order in _orders(written):
        query = sl.sql(template.format(tables=", ".join(order)), tables)
        plan = query.optimize()
        assert large_cross_products(plan, limit=0) == [], order
        costs.append(planned_cost(plan))
        assert costs[-1] == pytest.approx(costs[0], rel=1e-9), (order, costs)
        assert_same_rows(query.collect(), expected, ordered=True)
