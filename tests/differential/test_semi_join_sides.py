"""Semi, anti and left joins built on their smaller left input (``build_side="left"``): random
tables with nulls and duplicate keys (integer keys, string keys, two keys) give the same rows
(semi and anti joins: in the same order) as the right-side build, and as DuckDB's ``[NOT]
EXISTS`` and ``LEFT JOIN``; in-process and on a cluster."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.logical import HashJoin
from sabot_lab.optimizer import PlanOptimizer, Statistics, build_semi_joins_on_smaller_side
from tests.support.reference import assert_same_rows, duckdb_table

KEYS = {"int": ["k"], "string": ["s"], "two": ["k", "s"]}


def _table(rng: np.random.Generator, rows: int, distinct: int, null_share: float) -> pa.Table:
    keys = rng.integers(0, distinct, rows)
    nulls = rng.random(rows) < null_share
    return pa.table(
        {
            "k": pa.array(keys, pa.int64(), mask=nulls),
            "s": pa.array(
                [f"key{v % 7}" for v in keys], pa.string(), mask=rng.random(rows) < null_share
            ),
            "v": pa.array(rng.integers(-50, 50, rows)),
        }
    )


def _left_built(stream: sl.Stream) -> list[HashJoin]:
    plan = stream.optimize()
    return [n.op for n in plan if isinstance(n.op, HashJoin) and n.op.build_side == "left"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    how=st.sampled_from(["semi", "anti"]),
    keys=st.sampled_from(sorted(KEYS)),
    left_rows=st.integers(0, 40),
    null_share=st.sampled_from([0.0, 0.2]),
)
def test_left_built_semi_and_anti_joins_keep_the_rows_and_their_order(
    seed: int, how: str, keys: str, left_rows: int, null_share: float
) -> None:
    rng = np.random.default_rng(seed)
    left = _table(rng, left_rows, 30, null_share)
    right = _table(rng, 300, 30, null_share).rename_columns(["rk", "rs", "rv"])
    on = KEYS[keys]
    right_on = ["r" + k for k in on]
    stream = sl.from_arrow(left).join(sl.from_arrow(right), left_on=on, right_on=right_on, how=how)
    assert len(_left_built(stream)) == 1
    built_left = stream.collect()
    built_right = stream.collect(optimize=False)
    assert built_left.schema == built_right.schema
    assert built_left.equals(built_right)  # the same rows, in the left input's order
    condition = " AND ".join(f"l.{a} = r.{b}" for a, b in zip(on, right_on, strict=True))
    exists = "EXISTS" if how == "semi" else "NOT EXISTS"
    reference = duckdb_table(
        f"SELECT * FROM l WHERE {exists} (SELECT 1 FROM r WHERE {condition})", l=left, r=right
    )
    assert_same_rows(built_left, reference, ordered=False)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    keys=st.sampled_from(sorted(KEYS)),
    left_rows=st.integers(0, 40),
    null_share=st.sampled_from([0.0, 0.2]),
)
def test_left_built_left_joins_give_the_rows_of_the_right_side_build_and_duckdb(
    seed: int, keys: str, left_rows: int, null_share: float
) -> None:
    """Matched rows in the right input's order, then the unmatched left rows: the same rows
    as the right-side build and DuckDB's ``LEFT JOIN``, nulls on the right where none matched."""
    rng = np.random.default_rng(seed)
    left = _table(rng, left_rows, 30, null_share)
    right = _table(rng, 300, 30, null_share).rename_columns(["rk", "rs", "rv"])
    on = KEYS[keys]
    right_on = ["r" + k for k in on]
    stream = sl.from_arrow(left).join(
        sl.from_arrow(right), left_on=on, right_on=right_on, how="left"
    )
    assert len(_left_built(stream)) == 1
    built_left = stream.collect()
    assert built_left.schema == stream.collect(optimize=False).schema
    assert_same_rows(built_left, stream.collect(optimize=False), ordered=False)
    condition = " AND ".join(f"l.{a} = r.{b}" for a, b in zip(on, right_on, strict=True))
    payload = ", ".join(f"r.{c}" for c in right.column_names if c not in right_on)
    reference = duckdb_table(
        f"SELECT l.*, {payload} FROM l LEFT JOIN r ON {condition}", l=left, r=right
    )
    assert_same_rows(built_left, reference, ordered=False)


def test_the_rule_keeps_the_right_side_build_when_the_right_is_not_much_larger() -> None:
    left = sl.from_pydict({"k": list(range(100))})
    right = sl.from_pydict({"k": list(range(150))})
    assert _left_built(left.join(right, on="k", how="semi")) == []
    assert len(_left_built(right.join(left.head(10), on="k", how="semi"))) == 0


@pytest.mark.parametrize("bounded", [True, False])
def test_unbounded_inputs_keep_the_streaming_right_side_build(bounded: bool) -> None:
    rows = pa.table({"k": [1, 2, 3]})
    left = sl.from_arrow(rows) if bounded else sl.from_generator(lambda i: rows)
    right = sl.from_pydict({"k": [1, 2]})
    joined = left.join(right, on="k", how="anti")
    graph = joined.graph
    left_id, right_id = graph.node(joined.node_id).upstream
    stats = {left_id: Statistics(10), right_id: Statistics(1e6)}
    plan = PlanOptimizer([build_semi_joins_on_smaller_side], stats).optimize(graph)
    sides = [n.op.build_side for n in plan if isinstance(n.op, HashJoin)]
    assert sides == ["left" if bounded else "right"]


def test_tpch_q4_shaped_exists_builds_on_the_orders(tmp_path: pytest.TempPathFactory) -> None:
    rng = np.random.default_rng(4)
    orders = pa.table({"o_orderkey": np.arange(2_000), "o_priority": rng.integers(0, 5, 2_000)})
    items = pa.table(
        {
            "l_orderkey": rng.integers(0, 8_000, 20_000),
            "late": rng.random(20_000) < 0.6,
        }
    )
    query = (
        "SELECT o_priority, count(*) AS n FROM orders WHERE EXISTS "
        "(SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND late) "
        "GROUP BY o_priority ORDER BY o_priority"
    )
    stream = sl.sql(query, {"orders": sl.from_arrow(orders), "lineitem": sl.from_arrow(items)})
    assert len(_left_built(stream)) == 1
    reference = duckdb_table(query, orders=orders, lineitem=items)
    assert_same_rows(stream.collect(), reference, ordered=True)


@pytest.mark.slow
def test_left_built_anti_join_on_a_cluster(tmp_path: pytest.TempPathFactory) -> None:
    rng = np.random.default_rng(7)
    left = _table(rng, 500, 400, 0.1)
    right = _table(rng, 5_000, 300, 0.1).rename_columns(["rk", "rs", "rv"])
    stream = sl.from_arrow(left).join(
        sl.from_arrow(right), left_on=["k", "s"], right_on=["rk", "rs"], how="anti"
    )
    assert len(_left_built(stream)) == 1
    with sl.LocalCluster(agents=2) as cluster:
        answer = stream.submit(cluster).result(timeout=120)
    assert_same_rows(answer, stream.collect(optimize=False), ordered=False)
