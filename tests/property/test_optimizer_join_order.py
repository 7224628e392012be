"""Join reordering: the star join it exists for, the exactness of its search, its boundaries,
and random join trees giving the same rows reordered and as written."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.engine import Executor
from sabot_lab.logical import JobGraph, OperatorType
from sabot_lab.optimizer import (
    JoinGraph,
    PlanOptimizer,
    RewriteTrace,
    Statistics,
    best_order,
    estimate_rows,
    reorder_joins,
)
from sabot_lab.optimizer.join_order import JoinOrder, _greedy
from tests.support.plans import join_trees
from tests.support.reference import assert_same_rows, duckdb_connection


def star_join() -> tuple[sl.Stream, dict[str, pa.Table]]:
    """Sales joined to three dimensions as a user might write it: the selective one last."""
    rng = np.random.default_rng(7)
    n = 20_000
    tables = {
        "sales": pa.table(
            {
                "customer": rng.integers(0, 1000, n),
                "store": rng.integers(0, 100, n),
                "product": rng.integers(0, 1000, n),
                "amount": rng.random(n).round(2),
            }
        ),
        "customers": pa.table({"cid": np.arange(1000), "segment": rng.integers(0, 5, 1000)}),
        "stores": pa.table({"sid": np.arange(100), "region": [f"r{i % 7}" for i in range(100)]}),
        "products": pa.table({"pid": np.arange(1000), "sku": [f"sku{i}" for i in range(1000)]}),
    }
    s = sl.from_arrow
    query = (
        s(tables["sales"])
        .join(s(tables["customers"]), left_on="customer", right_on="cid")
        .join(s(tables["stores"]), left_on="store", right_on="sid")
        .join(
            s(tables["products"]).filter(col("sku") == "sku42"),
            left_on="product",
            right_on="pid",
        )
    )
    return query, tables


def intermediate_joins(graph: JobGraph) -> list[str]:
    """Every join but the last: their outputs are intermediate results."""
    joins = [
        n.operator_id for n in graph.topological_sort() if n.operator_type == OperatorType.HASH_JOIN
    ]
    return joins[:-1]


def actual_rows(graph: JobGraph, node_id: str) -> int:
    return sum(b.num_rows for b in Executor(graph).run(node_id))


def test_star_join_order_cuts_intermediate_rows_by_far_more_than_10x() -> None:
    query, tables = star_join()
    naive = PlanOptimizer(rules=[]).optimize(query.graph).graph
    chosen = PlanOptimizer().optimize(query.graph)
    assert any(a.rule == "reorder_joins" for a in chosen.trace)

    naive_est, chosen_est = estimate_rows(naive), estimate_rows(chosen.graph)
    est_before = sum(naive_est[j] for j in intermediate_joins(naive))
    est_after = sum(chosen_est[j] for j in intermediate_joins(chosen.graph))
    actual_before = sum(actual_rows(naive, j) for j in intermediate_joins(naive))
    actual_after = sum(actual_rows(chosen.graph, j) for j in intermediate_joins(chosen.graph))
    assert actual_before == 40_000  # every sale, twice
    assert actual_before >= 10 * actual_after and est_before >= 10 * est_after
    assert actual_after < 100

    con = duckdb_connection()
    for name, table in tables.items():
        con.register(name, table)
    expected = con.sql(
        "SELECT customer, store, product, amount, segment, region, sku FROM sales "
        "JOIN customers ON customer = cid JOIN stores ON store = sid "
        "JOIN products ON product = pid WHERE sku = 'sku42'"
    ).to_arrow_table()
    result = query.collect()
    assert result.schema.names == expected.schema.names
    assert_same_rows(result, expected)


def test_a_join_on_a_composite_key_never_builds_on_the_fact_table() -> None:
    """TPC-H Q9's shape: line items join the (part, supplier) bridge on both its keys. Taken
    as independent keys the pair looked ~30x more selective than it is, and the plan built
    its hash table on every line item; a relation's key pair has at most one value per row."""
    rng = np.random.default_rng(9)
    parts, suppliers, items = 2000, 100, 20_000
    bridge_part = np.repeat(np.arange(parts), 4)
    bridge_supplier = (bridge_part + np.tile(np.arange(4) * 25, parts)) % suppliers
    pick = rng.integers(0, len(bridge_part), items)
    s = sl.from_arrow
    fact = s(
        pa.table({"lp": bridge_part[pick], "ls": bridge_supplier[pick], "q": rng.random(items)})
    )
    bridge = s(pa.table({"pp": bridge_part, "ps": bridge_supplier, "cost": rng.random(parts * 4)}))
    part = s(pa.table({"p": np.arange(parts), "kind": rng.integers(0, 20, parts)}))
    supplier = s(pa.table({"sk": np.arange(suppliers), "nation": rng.integers(0, 25, suppliers)}))
    query = (
        part.filter(col("kind") == 3)
        .join(fact, left_on="p", right_on="lp")
        .join(supplier, left_on="ls", right_on="sk")
        .join(bridge, left_on=["ls", "p"], right_on=["ps", "pp"])
    )
    plan = query.optimize()
    assert any(a.rule == "reorder_joins" for a in plan.trace)
    fact_id = fact.node_id
    for join in plan:
        if join.operator_type == OperatorType.HASH_JOIN:
            assert fact_id not in plan.subgraph(join.upstream[1]).nodes, join.operator_id
    assert_same_rows(query.collect(), query.collect(optimize=False))


def test_the_smaller_input_becomes_the_build_side() -> None:
    small = sl.from_pydict({"k": [1, 2], "name": ["a", "b"]})
    big = sl.from_pydict({"k": [1, 2, 3, 4] * 50, "v": list(range(200))})
    g = reorder_joins(small.join(big, on="k").graph, RewriteTrace())
    (join,) = [n for n in g if n.operator_type == OperatorType.HASH_JOIN]
    probe, build = (g.node(u) for u in join.upstream)
    assert probe.parameters["source"].estimated_rows() == 200
    assert build.parameters["source"].estimated_rows() == 2
    assert_same_rows(
        small.join(big, on="k").collect(), small.join(big, on="k").collect(optimize=False)
    )
    # already in the right order: nothing to do
    trace = RewriteTrace()
    reorder_joins(big.join(small, on="k").graph, trace)
    assert len(trace) == 0


def test_statistics_given_to_the_optimizer_decide_the_order() -> None:
    small = sl.from_pydict({"k": [1, 2], "name": ["a", "b"]})
    big = sl.from_pydict({"k": [1, 2, 3, 4] * 50, "v": list(range(200))})
    s = small.join(big, on="k")
    (small_source,) = small.graph.sources()
    told = {small_source.operator_id: Statistics(1e9, {"k": 2})}  # "small" is huge after all
    plan = PlanOptimizer(stats=told).optimize(s.graph)
    assert not any(a.rule == "reorder_joins" for a in plan.trace)
    assert any(a.rule == "reorder_joins" for a in PlanOptimizer().optimize(s.graph).trace)


def test_only_inner_join_trees_are_reordered() -> None:
    a = sl.from_pydict({"k": [1, 2, 3] * 10, "x": list(range(30))})
    b = sl.from_pydict({"k": [1, 2], "y": [5, 6]})
    c = sl.from_pydict({"k": [1], "z": [7]})
    left_tree = a.join(b, on="k", how="left").join(c, on="k")
    g = reorder_joins(left_tree.graph, trace := RewriteTrace())
    kinds = [
        n.parameters["how"]
        for n in g.topological_sort()
        if n.operator_type == OperatorType.HASH_JOIN
    ]
    assert kinds == ["left", "inner"]  # the left join stays below, as one relation
    assert len(trace) == 0
    shared = a.join(b, on="k")  # an inner join with two consumers ends a region
    both = shared.join(c, on="k").union(shared.join(c, on="k"))
    assert_same_rows(both.collect(), both.collect(optimize=False))


def test_key_classes_of_mixed_types_are_left_alone() -> None:
    a = sl.from_pydict({"k": pa.array([1, 2, 3] * 10, pa.int32()), "x": list(range(30))})
    b = sl.from_pydict({"k": [1, 2], "y": [5, 6]})  # int64
    trace = RewriteTrace()
    reorder_joins(b.join(a, on="k").graph, trace)
    assert len(trace) == 0


def all_orders(n: int) -> list[JoinOrder]:
    """Every bushy order over relations 0..n-1 (both orientations of each join)."""

    def orders(items: tuple[int, ...]) -> list[JoinOrder]:
        if len(items) == 1:
            return [items[0]]
        out: list[JoinOrder] = []
        for size in range(1, len(items)):
            for left in itertools.combinations(items, size):
                right = tuple(i for i in items if i not in left)
                out += [(a, b) for a in orders(left) for b in orders(right)]
        return out

    return orders(tuple(range(n)))


def connected_order(graph: JoinGraph, order: JoinOrder) -> bool:
    if isinstance(order, int):
        return True
    a, b = order
    return (
        graph.connected(mask(a), mask(b))
        and connected_order(graph, a)
        and connected_order(graph, b)
    )


def mask(order: JoinOrder) -> int:
    return 1 << order if isinstance(order, int) else mask(order[0]) | mask(order[1])


@st.composite
def join_graphs(draw: st.DrawFn, max_relations: int = 5) -> JoinGraph:
    n = draw(st.integers(2, max_relations))
    stats = [
        Statistics(
            draw(st.integers(1, 10**6)),
            {"k": draw(st.integers(1, 1000)), "a": draw(st.integers(1, 50))},
        )
        for _ in range(n)
    ]
    classes = [
        ((i, draw(st.sampled_from("ka"))), (draw(st.integers(0, i - 1)), "k")) for i in range(1, n)
    ]
    extra = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2))
    classes += [((i, "a"), (j, "a")) for i, j in extra if i != j]
    return JoinGraph(stats, classes)


@settings(max_examples=150, deadline=None)
@given(join_graphs())
def test_dynamic_programming_finds_the_cheapest_order(graph: JoinGraph) -> None:
    n = len(graph.stats)
    candidates = [o for o in all_orders(n) if connected_order(graph, o)]
    chosen = best_order(graph)
    assert mask(chosen) == (1 << n) - 1 and connected_order(graph, chosen)
    assert graph.cost(chosen) <= min(graph.cost(o) for o in candidates) * (1 + 1e-9)


@settings(max_examples=30, deadline=None)
@given(join_graphs(max_relations=14))
def test_greedy_order_joins_every_relation_without_cross_products(graph: JoinGraph) -> None:
    order = _greedy(graph)
    assert mask(order) == (1 << len(graph.stats)) - 1 and connected_order(graph, order)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(join_trees())
def test_reordered_join_trees_give_identical_results(stream: sl.Stream) -> None:
    optimized = stream.collect()
    plain = stream.collect(optimize=False)
    assert optimized.schema == plain.schema
    assert_same_rows(optimized, plain)
