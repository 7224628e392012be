"""Join reordering: each tree of inner joins is rebuilt in the order with the fewest
estimated intermediate rows, with the smaller input of every join as its build side.

A *join region* is a maximal tree of inner hash joins whose inner joins feed only their parent.
Its inputs (the *relations*) and equi-join keys form a join graph; keys that are equal through
any chain of joins form one equivalence class, so ``a = b`` and ``b = c`` also let ``a`` join
``c`` directly. Orders are costed with :mod:`~sabot_lab.optimizer.statistics` (row counts,
distinct counts of the keys): the size of ``R ⋈ S`` is ``|R| |S| / max(ndv(R.k), ndv(S.k))``
per key class, and an order costs the rows of all its joins plus the rows of its build sides.
Up to ten relations are ordered by dynamic programming over connected subsets (bushy trees,
no cross products); more are ordered greedily (always the join with the smallest result
next). A region is rewritten only when the new order is estimated cheaper; a final
projection restores the original column names and order. Regions whose key classes mix
column types are left alone (the surviving key column must have the original type), and so
are regions with an input that never ends: its hash table would never be built.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> small = sl.from_pydict({"k": [1, 2], "name": ["a", "b"]})
>>> big = sl.from_pydict({"k": [1, 2, 3, 4] * 50, "v": list(range(200))})
>>> s = small.join(big, on="k")  # builds the hash table on the 200-row side
>>> g = reorder_joins(s.graph, trace := RewriteTrace())
>>> print(trace.render())  # doctest: +ELLIPSIS
1. reorder_joins: hash_join_... -> hash_join_..., select_...: (source_... ⋈ source_...) as (source_... ⋈ source_...): ~102 rows joined and built instead of ~300
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

import pyarrow as pa

from sabot_lab.expr import col
from sabot_lab.logical import HashJoin, JobGraph, Project, StreamOperatorNode
from sabot_lab.logical.termination import flows
from sabot_lab.optimizer.statistics import Statistics, estimate
from sabot_lab.optimizer.trace import RewriteTrace, format_rows

__all__ = ["DP_LIMIT", "JoinGraph", "JoinOrder", "best_order", "reorder_joins"]

RULE = "reorder_joins"
DP_LIMIT = 10
"""Regions with up to this many relations are ordered exactly; larger ones greedily."""
CENTRE_CHOICES = 64
"""Combinations of key-class star centres tried per estimate; above, each class's fewest."""

Ref = tuple[int, str]  # (relation index, column of that relation)
JoinOrder = int | tuple["JoinOrder", "JoinOrder"]
"""A relation index, or ``(probe, build)``: a join that builds its hash table on the right."""


@dataclass(frozen=True)
class JoinRegion:
    """A tree of inner joins, resolved down to its relations' columns."""

    root: str
    joins: tuple[str, ...]
    relations: tuple[str, ...]
    columns: tuple[tuple[str, Ref], ...]  # root output name -> the relation column it carries
    classes: tuple[tuple[Ref, ...], ...]  # equi-join key equivalence classes
    order: JoinOrder  # the order as written


class JoinGraph:
    """Row estimates of joined subsets of relations (bitmasks), consistent for every order.

    >>> g = JoinGraph([Statistics(1000, {"k": 100}), Statistics(10, {"k": 10})], [((0, "k"), (1, "k"))])
    >>> g.rows(0b11)  # 1000 * 10 / max(100, 10)
    100.0
    """

    def __init__(self, stats: Sequence[Statistics], classes: Sequence[Sequence[Ref]]) -> None:
        self.stats = list(stats)
        self.classes = [list(c) for c in classes]
        self.class_masks = [reduce(lambda m, r: m | 1 << r[0], c, 0) for c in self.classes]
        # each class's members as (distinct values, relation): looked up once, not per subset
        self._members = [[(self.stats[i].distinct(c), i) for i, c in refs] for refs in self.classes]
        self._rows: dict[int, float] = {}

    def rows(self, mask: int) -> float:
        """Estimated rows of joining the relations in ``mask``.

        Each key class links its members by a star of equalities, each dividing by the
        larger distinct count of its two ends. Two relations linked through several classes
        (a multi-key join, such as ``partsupp`` on part and supplier) divide by no more than
        the larger of their row counts: a relation's key combination has at most one
        distinct value per row. Of the stars' centres, those dividing least are taken.

        >>> stats = [Statistics(6000, {"p": 2000, "s": 100}), Statistics(800, {"p": 2000, "s": 100})]
        >>> JoinGraph(stats, [((0, "p"), (1, "p")), ((0, "s"), (1, "s"))]).rows(0b11)  # not 24
        800.0
        """
        if mask not in self._rows:
            rows = 1.0
            for i, s in enumerate(self.stats):
                if mask >> i & 1:
                    rows *= s.rows
            self._rows[mask] = rows / self._divisor(mask)
        return self._rows[mask]

    def _divisor(self, mask: int) -> float:
        members = [[(d, i) for d, i in refs if mask >> i & 1] for refs in self._members]
        members = [m for m in members if len(m) > 1]
        choices = [list(range(len(m))) for m in members]
        if math.prod(map(len, choices)) > CENTRE_CHOICES:
            choices = [[m.index(min(m))] for m in members]  # each star at its fewest values
        best = math.inf
        for centres in itertools.product(*choices):
            pairs: dict[tuple[int, int], float] = {}
            for m, centre in zip(members, centres, strict=True):
                ndv, i = m[centre]
                for k, (other, j) in enumerate(m):
                    if k != centre:
                        pair = (min(i, j), max(i, j))
                        pairs[pair] = pairs.get(pair, 1.0) * max(ndv, other)
            divisor = math.prod(
                min(d, max(1.0, self.stats[i].rows, self.stats[j].rows))
                for (i, j), d in pairs.items()
            )
            best = min(best, divisor)
        return best

    def connected(self, a: int, b: int) -> bool:
        """True if some key class joins a relation of ``a`` with one of ``b``."""
        return any(m & a and m & b for m in self.class_masks)

    def cost(self, order: JoinOrder) -> float:
        """Rows produced by every join of ``order`` plus rows of every build side."""
        if isinstance(order, int):
            return 0.0
        probe, build = order
        return (
            self.cost(probe) + self.cost(build) + self.rows(_mask(order)) + self.rows(_mask(build))
        )

    def orient(self, a: JoinOrder, b: JoinOrder) -> tuple[JoinOrder, JoinOrder]:
        """Join ``a`` and ``b`` building on the smaller (``a`` probes on ties)."""
        return (b, a) if self.rows(_mask(a)) < self.rows(_mask(b)) else (a, b)


def best_order(graph: JoinGraph) -> JoinOrder:
    """The cheapest bushy order without cross products (greedy above :data:`DP_LIMIT`).

    >>> stats = [Statistics(10_000, {"a": 100, "b": 100}), Statistics(100, {"a": 100}), Statistics(1, {"b": 1})]
    >>> best_order(JoinGraph(stats, [((0, "a"), (1, "a")), ((0, "b"), (2, "b"))]))
    ((0, 2), 1)
    """
    n = len(graph.stats)
    if n > DP_LIMIT:
        return _greedy(graph)
    best: dict[int, tuple[float, JoinOrder]] = {1 << i: (0.0, i) for i in range(n)}
    for mask in sorted(range(1, 1 << n), key=int.bit_count):
        if mask in best:
            continue
        low = mask & -mask
        sub = (mask - 1) & mask
        while sub:
            # each unordered split once: the part holding the lowest relation is ``sub``
            rest = mask ^ sub
            if sub & low and sub in best and rest in best and graph.connected(sub, rest):
                probe, build = graph.orient(best[sub][1], best[rest][1])
                cost = best[sub][0] + best[rest][0] + graph.rows(mask) + graph.rows(_mask(build))
                if mask not in best or cost < best[mask][0]:
                    best[mask] = (cost, (probe, build))
            sub = (sub - 1) & mask
    full = (1 << n) - 1
    if full not in best:
        raise ValueError("the join graph is not connected")
    return best[full][1]


def _greedy(graph: JoinGraph) -> JoinOrder:
    parts: list[JoinOrder] = list(range(len(graph.stats)))
    while len(parts) > 1:
        pairs = [
            (graph.rows(_mask(a) | _mask(b)), i, j)
            for i, a in enumerate(parts)
            for j, b in enumerate(parts[i + 1 :], start=i + 1)
            if graph.connected(_mask(a), _mask(b))
        ]
        if not pairs:
            raise ValueError("the join graph is not connected")
        _, i, j = min(pairs)
        joined = graph.orient(parts[i], parts[j])
        parts = [p for k, p in enumerate(parts) if k not in (i, j)] + [joined]
    return parts[0]


def _mask(order: JoinOrder) -> int:
    if isinstance(order, int):
        return 1 << order
    return _mask(order[0]) | _mask(order[1])


def reorder_joins(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Rewrite every inner-join region whose estimated cost an other order lowers."""
    out = graph.copy()
    stats: dict[str, Statistics] | None = None
    regions = _regions(graph)
    inputs = flows(graph, [r for region in regions for r in region.relations])
    for region in regions:
        if not all(inputs[r].ends for r in region.relations):
            continue  # as written: the unbounded input probes (joins put it on the left)
        if stats is None:
            stats = estimate(graph, trace.statistics, trace.estimates)
        joins = JoinGraph([stats[r] for r in region.relations], region.classes)
        order = best_order(joins)
        before, after = joins.cost(region.order), joins.cost(order)
        if after >= before:
            continue
        created = _rebuild(out, region, order)
        labels = list(region.relations)
        trace.record(
            RULE,
            region.joins,
            created,
            f"{_render(region.order, labels)} as {_render(order, labels)}: "
            f"~{format_rows(after)} rows joined and built instead of ~{format_rows(before)}",
        )
    return out


def _render(order: JoinOrder, labels: Sequence[str]) -> str:
    if isinstance(order, int):
        return labels[order]
    return f"({_render(order[0], labels)} ⋈ {_render(order[1], labels)})"


# -- finding regions -----------------------------------------------------------------


def _is_inner_join(node: StreamOperatorNode) -> bool:
    return isinstance(node.op, HashJoin) and node.op.how == "inner"


def _regions(graph: JobGraph) -> list[JoinRegion]:
    regions = []
    for node in graph.topological_sort():
        if not _is_inner_join(node):
            continue
        parents = [graph.node(d) for d in node.downstream]
        if len(parents) == 1 and _is_inner_join(parents[0]):
            continue  # part of its parent's region
        region = _resolve_region(graph, node)
        if region is not None:
            regions.append(region)
    return regions


def _resolve_region(graph: JobGraph, root: StreamOperatorNode) -> JoinRegion | None:
    relations: list[str] = []
    joins: list[str] = []
    keyed: list[Ref] = []
    parent: dict[Ref, Ref] = {}

    def find(ref: Ref) -> Ref:
        while parent.get(ref, ref) != ref:
            ref = parent[ref]
        return ref

    def resolve(node_id: str, is_root: bool) -> tuple[list[tuple[str, Ref]], JoinOrder]:
        node = graph.node(node_id)
        if not (is_root or (_is_inner_join(node) and len(node.downstream) == 1)):
            relations.append(node_id)
            index = len(relations) - 1
            return [(n, (index, n)) for n in node.output_schema.names], index
        joins.append(node_id)
        p = node.op
        assert isinstance(p, HashJoin)
        (left, left_order), (right, right_order) = (resolve(u, False) for u in node.upstream)
        left_map, right_map = dict(left), dict(right)
        for lk, rk in zip(p.left_on, p.right_on, strict=True):
            keyed.extend((left_map[lk], right_map[rk]))
            a, b = find(left_map[lk]), find(right_map[rk])
            if a != b:
                parent[b] = a
        if p.left_payload is not None:
            left = [(n, left_map[n]) for n in p.left_payload]
        right_names = node.output_schema.names[len(left) :]
        columns = left + [
            (out, right_map[r]) for out, r in zip(right_names, p.right_payload, strict=True)
        ]
        return columns, (left_order, right_order)

    columns, order = resolve(root.operator_id, True)
    classes: dict[Ref, list[Ref]] = {}
    for ref in dict.fromkeys(keyed):
        classes.setdefault(find(ref), []).append(ref)
    schemas = [graph.node(r).output_schema for r in relations]
    for members in classes.values():
        if len({schemas[i].field(c).type for i, c in members}) > 1:
            return None
    return JoinRegion(
        root.operator_id,
        tuple(reversed(joins)),  # inputs first, the root last
        tuple(relations),
        tuple(columns),
        tuple(tuple(m) for m in classes.values()),
        order,
    )


# -- rebuilding ----------------------------------------------------------------------


def _rebuild(graph: JobGraph, region: JoinRegion, order: JoinOrder) -> list[str]:
    """Replace the region's joins by ``order``; return the new operator ids."""
    schemas = [graph.node(r).output_schema for r in region.relations]
    names = _internal_names(schemas, region.classes)
    # one join swapped keeps its name (a hand-built plan's, such as "enrich")
    join_name = graph.node(region.root).name if len(region.joins) == 1 else "inner_join"
    created: list[str] = []
    inputs: list[str] = []
    for index, (relation, schema) in enumerate(zip(region.relations, schemas, strict=True)):
        for join in region.joins:
            if relation in graph.node(join).upstream:
                graph.disconnect(relation, join)
        if all(names[index, n] == n for n in schema.names):
            inputs.append(relation)
            continue
        renames = [col(f.name).alias(names[index, f.name]) for f in schema]
        fields = [f.with_name(names[index, f.name]) for f in schema]
        inputs.append(
            graph.add_new_operator(Project(exprs=renames), "select", [relation], pa.schema(fields))
        )
        created.append(inputs[-1])

    def build(part: JoinOrder) -> tuple[str, int]:
        if isinstance(part, int):
            return inputs[part], 1 << part
        (probe_id, probe_mask), (build_id, build_mask) = build(part[0]), build(part[1])
        probe_schema = graph.node(probe_id).output_schema
        build_schema = graph.node(build_id).output_schema
        probe_names, build_names = set(probe_schema.names), set(build_schema.names)
        left_on, right_on = [], []
        for refs in region.classes:
            left = [names[r] for r in refs if 1 << r[0] & probe_mask and names[r] in probe_names]
            right = [names[r] for r in refs if 1 << r[0] & build_mask and names[r] in build_names]
            # every surviving key of the class on one side equals every one on the other
            # (a relation may hold two keys of one class, equal only through this join)
            if not (left and right):
                continue
            pairs = [(left[0], r) for r in right] + [(n, right[0]) for n in left[1:]]
            left_on += [a for a, _ in pairs]
            right_on += [b for _, b in pairs]
        payload = [f for f in build_schema if f.name not in right_on]
        join = HashJoin(
            how="inner",
            left_on=left_on,
            right_on=right_on,
            right_payload=[f.name for f in payload],
            suffix="_right",
        )
        join_id = graph.add_new_operator(
            join, join_name, [probe_id, build_id], pa.schema([*probe_schema, *payload])
        )
        created.append(join_id)
        return join_id, probe_mask | build_mask

    top, _ = build(order)
    available = set(graph.node(top).output_schema.names)
    survivor = {ref: names[ref] for ref in names if names[ref] in available}
    for refs in region.classes:
        kept = next(names[r] for r in refs if names[r] in available)
        for ref in refs:
            survivor.setdefault(ref, kept)
    exprs = [
        col(survivor[ref]) if survivor[ref] == out else col(survivor[ref]).alias(out)
        for out, ref in region.columns
    ]
    root = graph.node(region.root)
    final = graph.add_new_operator(Project(exprs=exprs), "select", [top], root.output_schema)
    created.append(final)
    graph.redirect(region.root, final)
    graph.remove_branch(region.root)
    return created


def _internal_names(
    schemas: Sequence[pa.Schema], classes: Sequence[Sequence[Ref]]
) -> dict[Ref, str]:
    """A name for every relation column that never clashes inside the rebuilt joins.

    A column keeps its name unless another relation has a column of that name too. Keys of
    one class may share a name: a join keeps only its probe side's keys of the classes it
    joins, so no two keys of one class from different relations meet in one result.
    """
    owners: dict[str, list[Ref]] = {}
    for i, schema in enumerate(schemas):
        for n in schema.names:
            owners.setdefault(n, []).append((i, n))
    class_of = {ref: c for c, refs in enumerate(classes) for ref in refs}
    taken = set(owners)
    names: dict[Ref, str] = {}
    for n, refs in owners.items():
        if len(refs) == 1 or (
            refs[0] in class_of and {class_of.get(r) for r in refs} == {class_of[refs[0]]}
        ):
            names.update(dict.fromkeys(refs, n))
            continue
        for i, _ in refs:
            name = f"{n}__{i}"
            while name in taken:
                name += "_"
            taken.add(name)
            names[i, n] = name
    return names
