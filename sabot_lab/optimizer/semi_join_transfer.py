"""Semi-join transfer: a join whose left input was cut down by a semi join on one of its keys
can cut its right input down by the same semi join (an inner join either input).

When the left input of a join is ``X ⋉ Y`` on ``X.a = Y.b`` and the join matches ``X.a``
with the right input's ``k``, no right row whose ``k`` is missing from ``Y.b`` can match
(nor can a null ``k``). For inner, left, semi and anti joins those right rows make no
difference, so the right input may read ``R ⋉ Y`` on ``k = Y.b`` instead; the semi join is
placed as deep as the key goes unchanged (through plain renames, filters and group-bys on
it, and into the input of a join that carries it), ``Y`` is shared by both semi joins. TPC-H
Q20 sums the quantities of every (part, supplier) of a year of line items to compare them
with the few ``forest`` parts' stock; with the transfer only those parts' line items are
summed.

An inner join ``X ⋈ Y`` on ``X.a = Y.b`` reduces like a semi join: its ``a`` values are all
in ``Y.b`` (and in ``X.a``). Its input with fewer keys (by the estimates) is transferred when
it holds at most :data:`INNER_REDUCER_SHARE` of the keys it would reduce and the semi join lands
below a group-by or a join (directly below the consuming join, that join filters as well).
TPC-H Q17 and Q2 average (or take the minimum of) every part's line items (supplies) to
compare them with a few hundred parts' rows; with the transfer only those parts' rows are
grouped.

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
    join_output_names,
    new_operator_id,
)
from sabot_lab.optimizer.statistics import Statistics, estimate
from sabot_lab.optimizer.trace import RewriteTrace
from sabot_lab.predicates import is_deterministic, unaliased

__all__ = ["deepest_edge", "reaches", "transfer_semi_joins"]

RULE = "transfer_semi_joins"
TRANSFERS_TO = ("inner", "left", "semi", "anti")
"""Joins whose result ignores the right rows no left row can match."""
INNER_REDUCER_SHARE = 0.25
"""An inner join's input reduces another input when it has at most this share of its distinct
keys (estimated): a semi join that keeps most rows costs more than it saves."""

Reducer = tuple[str, str, str]
"""An input that reduces another on a key: its id, its key column and the kind of join
(``semi`` or ``inner``) that already reduced the join's other input with it."""


def transfer_semi_joins(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Give the other input of every bounded join with an input that is a semi join on one of
    its keys the same semi join (the right input; either one of an inner join); an inner
    join on the key reduces as a semi join with its smaller input when that one is small."""
    out = graph.copy()
    stats: dict[str, Statistics] = {}
    for node in graph.topological_sort():
        for reduced, candidates, key in _transfers(out, node):
            below, parent, key_below, grouped = deepest_edge(out, reduced, node.operator_id, key)
            if candidates[0][2] != "semi":
                stats = stats or estimate(graph, trace.statistics, trace.estimates)
                candidates = [
                    c for c in candidates if grouped and _small(stats, c, below, key_below)
                ]
                candidates.sort(key=lambda c: stats[c[0]].distinct(c[1]))
            if not candidates or _is_semi_join_with(out.node(below), candidates[0][0]):
                continue  # too large, or transferred already
            reducer, reducer_key, kind = candidates[0]
            if below == reducer or reaches(out, parent, reducer):
                continue  # the reducer is, or reads, the rows it would reduce
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
                f"(as the other input's {kind} join does){where}",
            )
    return out


def _small(stats: dict[str, Statistics], reducer: Reducer, reduced: str, key: str) -> bool:
    """True if ``reducer`` is estimated to hold few enough keys to reduce ``reduced`` (both
    in ``stats``; nodes the rule created are not, and are not counted on)."""
    if reducer[0] not in stats or reduced not in stats:
        return False
    keys = stats[reducer[0]].distinct(reducer[1])
    return keys <= INNER_REDUCER_SHARE * stats[reduced].distinct(key)


def reaches(graph: JobGraph, start: str, target: str) -> bool:
    """True if ``target`` is ``start`` or reads its rows (through any path).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"k": [1]}).select("k")
    >>> source = s.graph.sources()[0].operator_id
    >>> reaches(s.graph, source, s.node_id), reaches(s.graph, s.node_id, source)
    (True, False)
    """
    todo, seen = [start], set()
    while todo:
        node_id = todo.pop()
        if node_id == target:
            return True
        if node_id not in seen:
            seen.add(node_id)
            todo.extend(graph.node(node_id).downstream)
    return False


def _transfers(graph: JobGraph, node: StreamOperatorNode) -> list[tuple[str, list[Reducer], str]]:
    """(the input to reduce, the inputs that may reduce it, the key it is reduced on) for
    each transfer ``node`` allows."""
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
            reducers = _reducers_on(graph, semi_id, own)
            if reducers:
                found.append((reduced, reducers, other))
                break
    return found


def _reducers_on(graph: JobGraph, node_id: str, key: str) -> list[Reducer]:
    """The right input of the semi join on ``key`` alone that ``node_id`` is, or reads
    through renames of it; both inputs of an inner join on ``key``; none otherwise. Filters
    and inner joins on other keys that carry ``key`` from an input are looked through: their
    ``key`` values are among that input's (TPC-H Q2: its parts' supplies joined with their
    suppliers keep only the parts' keys)."""
    node = graph.node(node_id)
    while True:
        op = node.op
        if isinstance(op, Project):
            key = _renamed(op, key) or ""
        elif isinstance(op, HashJoin) and op.how == "inner":
            carried = _carried(graph, node, key)
            if carried is None or carried[1] in (op.left_on, op.right_on)[carried[0]]:
                break
            key = carried[1]
            node = graph.node(node.upstream[carried[0]])
            continue
        elif not isinstance(op, Filter):
            break
        node = graph.node(node.upstream[0])
    if not isinstance(op, HashJoin):
        return []
    if op.how == "semi" and op.left_on == [key]:
        return [(node.upstream[1], op.right_on[0], "semi")]
    carried = _carried(graph, node, key) if op.how == "inner" else None
    if carried is None or carried[1] not in (op.left_on, op.right_on)[carried[0]]:
        return []
    position = (op.left_on, op.right_on)[carried[0]].index(carried[1])
    left, right = node.upstream
    return [(left, op.left_on[position], "inner"), (right, op.right_on[position], "inner")]


def _carried(graph: JobGraph, node: StreamOperatorNode, key: str) -> tuple[int, str] | None:
    """Which input of the join ``node`` outputs its column ``key`` unchanged (0: left,
    1: right) and the column's name there; None if it is not an output column."""
    op = node.op
    assert isinstance(op, HashJoin)
    left = graph.node(node.upstream[0]).output_schema.names
    kept = left if op.left_payload is None else op.left_payload
    if key in kept:
        return 0, key
    if op.how not in ("inner", "left"):
        return None
    names = op.payload_names or join_output_names(op.right_payload, left, op.suffix)
    if key in names:
        return 1, op.right_payload[names.index(key)]
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


def deepest_edge(
    graph: JobGraph, below: str, parent: str, key: str, past_semi_joins: bool = True
) -> tuple[str, str, str, bool]:
    """The lowest edge ``below -> parent`` under ``parent`` where ``key`` still comes
    unchanged (down through renames, filters and group-bys on it and into the input of a join
    that carries it, that only the path reads, a semi or anti join only if
    ``past_semi_joins``; never past a function that is not deterministic: the rows it sees
    stay the same), the key's name there, and whether the path passes a group-by or a join.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"k": [1], "v": [2]}).select(sl.col("k").alias("key")).head(1)
    >>> renamed = s.graph.node(s.node_id).upstream[0]
    >>> below, parent, key, grouped = deepest_edge(s.graph, renamed, s.node_id, "key")
    >>> s.graph.node(below).name, parent == renamed, key, grouped
    ('source', True, 'k', False)
    """
    grouped = False
    while True:
        node = graph.node(below)
        op = node.op
        if len(node.downstream) != 1:
            return below, parent, key, grouped
        if isinstance(op, HashJoin) and len(node.upstream) == 2:
            carried = _carried(graph, node, key)
            # a row filter on one input's column passes below these joins (not below the
            # null-extended right input of a left join)
            if carried is None or (carried[0] == 1 and op.how != "inner"):
                return below, parent, key, grouped
            if op.how in ("semi", "anti") and not past_semi_joins:
                return below, parent, key, grouped
            grouped = True
            key = carried[1]
            below, parent = node.upstream[carried[0]], below
            continue
        if len(node.upstream) != 1:
            return below, parent, key, grouped
        if isinstance(op, Project):
            renamed = _renamed(op, key)
            if renamed is None:
                return below, parent, key, grouped
            key = renamed
        elif isinstance(op, GroupBy):
            if key not in op.keys:
                return below, parent, key, grouped
            grouped = True
        elif not (isinstance(op, Filter) and is_deterministic(op.predicate)):
            return below, parent, key, grouped
        below, parent = node.upstream[0], below
