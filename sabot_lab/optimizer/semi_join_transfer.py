"""Semi-join transfer: a join whose left input was cut down by a semi join on one of its keys
can cut its right input down by the same semi join (an inner join either input).

When the left input of a join is ``X ⋉ Y`` on ``X.a = Y.b`` and the join matches ``X.a``
with the right input's ``k``, no right row whose ``k`` is missing from ``Y.b`` can match
(nor can a null ``k``). For inner, left, semi and anti joins those right rows make no
difference, so the right input may read ``R ⋉ Y`` on ``k = Y.b`` instead; the semi join is
placed as deep as the key goes unchanged (through plain renames, filters and group-bys on
it, into the scan's neighbourhood), ``Y`` is shared by both semi joins. TPC-H Q20 sums the
quantities of every (part, supplier) of a year of line items to compare them with the
few ``forest`` parts' stock; with the transfer only those parts' line items are summed.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> parts = sl.from_pydict({"p": [1, 2]})
>>> stock = sl.from_pydict({"p": [1, 2, 3, 3], "qty": [5, 6, 7, 8]})
>>> sold = sl.from_pydict({"p": [1, 3, 3], "n": [4, 5, 6]}).group_by("p").agg(sl.col("n").sum())
>>> s = stock.join(parts, on="p", how="semi").join(sold, on="p", how="left")
>>> g = transfer_semi_joins(s.graph, trace := RewriteTrace())
>>> print(trace.render())  # doctest: +ELLIPSIS
1. transfer_semi_joins: hash_join_... -> hash_join_...: keeps only the rows of group_by_... whose p is in source_... (as the other input's semi join does), below group_by_...
>>> sorted(sl.Stream(g, s.node_id).collect().to_pylist(), key=str)
[{'p': 1, 'qty': 5, 'n': 4}, {'p': 2, 'qty': 6, 'n': None}]
"""

from __future__ import annotations

from sabot_lab.expr.nodes import Column
from sabot_lab.logical import (
    Filter,
    GroupBy,
    HashJoin,
    JobGraph,
    Project,
    StreamOperatorNode,
    new_operator_id,
)
from sabot_lab.optimizer.trace import RewriteTrace
from sabot_lab.predicates import is_deterministic, unaliased

__all__ = ["transfer_semi_joins"]

RULE = "transfer_semi_joins"
TRANSFERS_TO = ("inner", "left", "semi", "anti")
"""Joins whose result ignores the right rows no left row can match."""


def transfer_semi_joins(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Give the other input of every bounded join with an input that is a semi join on one of
    its keys the same semi join (the right input; either one of an inner join)."""
    out = graph.copy()
    for node in graph.topological_sort():
        for reduced, reducer, key, reducer_key in _transfers(out, node):
            below, parent, key_below = _deepest(out, reduced, node.operator_id, key)
            if _is_semi_join_with(out.node(below), reducer):
                continue  # transferred already
            join = HashJoin(
                how="semi", left_on=[key_below], right_on=[reducer_key], right_payload=[]
            )
            created = new_operator_id(join.kind)
            schema = out.node(below).output_schema
            out.insert_between(
                below, parent, StreamOperatorNode(created, name="semi_join", schema=schema, op=join)
            )
            out.connect(reducer, created)
            where = "" if parent == node.operator_id else f", below {parent}"
            trace.record(
                RULE,
                [node.operator_id],
                [created],
                f"keeps only the rows of {reduced} whose {key} is in {reducer} "
                f"(as the other input's semi join does){where}",
            )
    return out


def _transfers(graph: JobGraph, node: StreamOperatorNode) -> list[tuple[str, str, str, str]]:
    """(the input to reduce, the semi join's right input that reduces it, the key it is
    reduced on, the key of the reducer) for each transfer ``node`` allows."""
    op = node.op
    if not (isinstance(op, HashJoin) and op.how in TRANSFERS_TO):
        return []
    if not graph.bounded(node.operator_id):
        return []
    left, right = node.upstream
    sides = [(left, op.left_on, right, op.right_on)]
    if op.how == "inner":
        sides.append((right, op.right_on, left, op.left_on))
    found = []
    for semi_id, semi_keys, reduced, reduced_keys in sides:
        for own, other in zip(semi_keys, reduced_keys, strict=True):
            reducer = _semi_join_on(graph, semi_id, own)
            if reducer is not None:
                found.append((reduced, reducer[0], other, reducer[1]))
                break
    return found


def _semi_join_on(graph: JobGraph, node_id: str, key: str) -> tuple[str, str] | None:
    """The right input and key of the semi join on ``key`` alone that ``node_id`` is, or
    reads through renames of it; None if there is none."""
    node = graph.node(node_id)
    while isinstance(node.op, Project):
        key = _renamed(node.op, key) or ""
        node = graph.node(node.upstream[0])
    op = node.op
    if isinstance(op, HashJoin) and op.how == "semi" and op.left_on == [key]:
        return node.upstream[1], op.right_on[0]
    return None


def _renamed(op: Project, key: str) -> str | None:
    """The input column a deterministic projection outputs unchanged as ``key``, or None."""
    if not all(map(is_deterministic, op.exprs)):
        return None
    source = next((unaliased(e) for e in op.exprs if e.output_name() == key), None)
    return source.param("name") if isinstance(source, Column) else None


def _is_semi_join_with(node: StreamOperatorNode, reducer: str) -> bool:
    op = node.op
    return isinstance(op, HashJoin) and op.how == "semi" and node.upstream[1:] == (reducer,)


def _deepest(graph: JobGraph, below: str, parent: str, key: str) -> tuple[str, str, str]:
    """The lowest edge ``below -> parent`` under ``parent`` where ``key`` still comes
    unchanged (down through renames, filters and group-bys on it that only the path reads;
    never past a function that is not deterministic: the rows it sees stay the same),
    and the key's name there."""
    while True:
        node = graph.node(below)
        op = node.op
        if len(node.downstream) != 1 or len(node.upstream) != 1:
            return below, parent, key
        if isinstance(op, Project):
            renamed = _renamed(op, key)
            if renamed is None:
                return below, parent, key
            key = renamed
        elif isinstance(op, GroupBy):
            if key not in op.keys:
                return below, parent, key
        elif not (isinstance(op, Filter) and is_deterministic(op.predicate)):
            return below, parent, key
        below, parent = node.upstream[0], below
