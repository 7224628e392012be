"""Factoring an OR whose branches repeat conditions (``simplify_predicates``): exact with
nulls, and what comes out moves on its own, below the joins and into the scans."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.logical import Filter, HashJoin, Source
from sabot_lab.optimizer import RewriteTrace, simplify_predicates
from sabot_lab.optimizer.or_factoring import factor_or
from tests.support.reference import assert_same_rows

ROWS = pa.table(
    {
        "a": pa.array([1, 1, 2, None, 1, 3], pa.int64()),
        "b": pa.array(["x", None, "y", "x", "y", None]),
        "c": pa.array([None, 5, 6, 7, 8, 9], pa.int64()),
    }
)


def test_common_conditions_come_out_of_the_or_with_the_same_rows_under_nulls() -> None:
    shared = col("a") == 1
    predicate = (
        (shared & (col("b") == "x")) | ((col("c") > 6) & shared) | (shared & col("b").is_null())
    )
    assert [repr(c) for c in factor_or(predicate)] == [
        '(col("a") == 1)',
        '(((col("b") == "x") | (col("c") > 6)) | col("b").is_null())',
    ]
    stream = sl.from_arrow(ROWS).filter(predicate)
    graph = simplify_predicates(stream.graph, trace := RewriteTrace())
    (node,) = [n for n in graph if isinstance(n.op, Filter)]
    assert repr(node.op.predicate).startswith('((col("a") == 1) & ')
    assert "simplify_predicates" in trace.render()
    assert_same_rows(stream.collect(), stream.collect(optimize=False))
    assert stream.collect().num_rows == 3


def test_a_branch_of_only_common_conditions_absorbs_the_or() -> None:
    shared = (col("a") == 1) & (col("c") > 4)
    assert [repr(c) for c in factor_or(shared | (shared & (col("b") == "y")))] == [
        '(col("a") == 1)',
        '(col("c") > 4)',
    ]


def test_an_or_without_common_conditions_stays_whole() -> None:
    predicate = ((col("a") == 1) & (col("b") == "x")) | ((col("a") == 2) & (col("b") == "y"))
    assert [p.equals(predicate) for p in factor_or(predicate)] == [True]


def test_common_conditions_of_each_side_move_below_the_join_into_the_scans(tmp_path: Path) -> None:
    """TPC-H Q19's shape: the shipping conditions every branch repeats reach lineitem's scan,
    the size bound part's, each with the OR the branches imply on its columns; the OR itself
    stays above the join."""
    pq.write_table(
        pa.table({"l_pk": [1, 2, 3, 4], "mode": ["AIR", "AIR", "SHIP", "AIR"], "q": [1, 5, 9, 20]}),
        tmp_path / "l.parquet",
    )
    pq.write_table(pa.table({"p_pk": [1, 2, 3, 4], "size": [1, 3, 5, 30]}), tmp_path / "p.parquet")
    lines, parts = sl.from_parquet(tmp_path / "l.parquet"), sl.from_parquet(tmp_path / "p.parquet")
    air = col("mode") == "AIR"
    stream = lines.join(parts, left_on="l_pk", right_on="p_pk").filter(
        (air & (col("q") <= 5) & (col("size") >= 1) & (col("size") <= 3))
        | ((col("size") >= 1) & air & (col("q") > 10) & (col("size") <= 40))
    )
    graph = stream.optimize().graph
    scans = {
        str(n.op.source.describe()).rsplit("/", 1)[-1]: repr(n.op.predicate)
        for n in graph
        if isinstance(n.op, Source)
    }
    assert scans == {
        "l.parquet": '((col("mode") == "AIR") & ((col("q") <= 5) | (col("q") > 10)))',
        "p.parquet": '((col("size") >= 1) & ((col("size") <= 3) | (col("size") <= 40)))',
    }
    assert len([n for n in graph if isinstance(n.op, HashJoin)]) == 1
    assert stream.sort("l_pk").collect().to_pydict() == {
        "l_pk": [1, 2, 4],
        "mode": ["AIR"] * 3,
        "q": [1, 5, 20],
        "size": [1, 3, 30],
    }
