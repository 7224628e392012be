"""Row-count estimates: ``Statistics`` per source (exact row counts where metadata has them,
distinct counts estimated from a sample) propagated through the plan with textbook heuristics.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"k": [1, 2, 3, 4] * 25, "v": list(range(100))}).filter(sl.col("k") == 1)
>>> est = estimate_rows(s.graph)
>>> est[s.node_id]  # 100 rows x 1/4 (k has 4 distinct values)
25.0
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.expr import Expr
from sabot_lab.logical import (
    Aggregate,
    AsofJoin,
    Distinct,
    Filter,
    FlatMap,
    Fused,
    GroupBy,
    HashJoin,
    IntervalJoin,
    JobGraph,
    Limit,
    Map,
    Operator,
    PhaseTable,
    Project,
    RowIndex,
    Sort,
    Source,
    StreamOperatorNode,
    SymmetricJoin,
    TopN,
    Union,
    Watermark,
    Window,
    WindowFunctions,
)
from sabot_lab.logical.sources import SourceSpec

__all__ = [
    "ESTIMATES",
    "Statistics",
    "estimate",
    "estimate_rows",
    "sample_distinct",
    "selectivity",
    "source_statistics",
]

UNKNOWN_ROWS = 1_000_000.0
SAMPLE_ROWS = 10_000
RANGE_SELECTIVITY = 1 / 3
DEFAULT_SELECTIVITY = 0.5


@dataclass(frozen=True)
class Statistics:
    """What the optimizer knows about a relation: rows and distinct values per column
    (counts above ``rows`` are read as ``rows``)."""

    rows: float
    ndv: Mapping[str, float] = field(default_factory=dict)

    def distinct(self, column: str) -> float:
        """Distinct values of ``column`` (all rows distinct when unknown)."""
        return max(1.0, min(self.ndv.get(column, self.rows), self.rows))


_cache: weakref.WeakKeyDictionary[SourceSpec, Statistics] = weakref.WeakKeyDictionary()
_by_fingerprint: dict[Hashable, Statistics] = {}
"""Statistics of sources with a :meth:`~sabot_lab.logical.sources.SourceSpec.fingerprint`:
shared by every plan that reads the same files (a JobManager plans each job from JSON, with
new source objects). Bounded: the oldest entries go first."""
FINGERPRINTS_KEPT = 512


def source_statistics(spec: SourceSpec) -> Statistics:
    """Rows from metadata (or a default) and distinct counts estimated from the first rows
    (:func:`sample_distinct`), at most the span of an integer column's values where metadata
    has them (cached).

    >>> from sabot_lab.connectors import ArrowSource
    >>> source_statistics(ArrowSource(pa.table({"a": [1, 1, 2]}))).ndv["a"]
    2.0
    """
    if spec in _cache:
        return _cache[spec]
    fingerprint = spec.fingerprint()
    if fingerprint is not None and fingerprint in _by_fingerprint:
        _cache[spec] = _by_fingerprint[fingerprint]
    else:
        rows = spec.estimated_rows()
        sample = _sample(spec)
        total = float(rows) if rows is not None else UNKNOWN_ROWS
        ndv = {}
        if sample is not None and sample.num_rows:
            for name in sample.column_names:
                column = sample[name]
                if pa.types.is_dictionary(column.type):
                    column = column.cast(column.type.value_type)
                try:
                    ndv[name] = sample_distinct(column.combine_chunks(), total)
                except pa.ArrowNotImplementedError:
                    continue  # a type without a distinct or sort kernel: unknown
            for name, (low, high) in spec.integer_ranges().items():
                if name in ndv:
                    ndv[name] = min(ndv[name], float(high - low + 1))
        _cache[spec] = Statistics(total, ndv)
        if fingerprint is not None:
            if len(_by_fingerprint) >= FINGERPRINTS_KEPT:
                del _by_fingerprint[next(iter(_by_fingerprint))]
            _by_fingerprint[fingerprint] = _cache[spec]
    return _cache[spec]


def _sample(spec: SourceSpec) -> pa.Table | None:
    if spec.estimated_rows() is None:
        return None  # streams and queries: do not run them just to look
    batches, rows = [], 0
    for batch in spec.scan(SAMPLE_ROWS):
        if not batch.schema.equals(spec.schema):  # text dictionary-encoded (Nexmark's channel)
            batch = batch.cast(spec.schema)
        batches.append(batch.slice(0, SAMPLE_ROWS - rows))
        rows += batches[-1].num_rows
        if rows >= SAMPLE_ROWS:
            break
    return pa.Table.from_batches(batches, schema=spec.schema) if batches else None


def sample_distinct(sample: pa.Array, rows: float) -> float:
    """Distinct values of a column of ``rows`` rows from its first rows, ``sample``.

    A column sorted in the sample (a clustered key, such as TPC-H's ``l_orderkey``: each
    order's line items in a run) keeps its density of distinct values per row: the sample's
    count scaled to the rows. Otherwise Chao's estimator from how many values were seen once
    (``f1``) and twice (``f2``): ``d + f1² / (2 f2)``, which follows the unseen values of
    uniform keys (``l_partkey``: 10 K line items show ~9.7 K parts of 200 K) and stays at
    ``d`` when every value repeats (``l_returnflag``). Null is not a value; a column distinct
    in the whole sample is taken as distinct everywhere; never above ``rows``.

    >>> sample_distinct(pa.array([1, 1, 2, 2, 3, 3, 3, 4]), 8000)  # sorted: 4 per 8 rows
    4000.0
    >>> sample_distinct(pa.array([3, 1, 2, 1, 3, 2, 2, 1]), 8000)  # every value repeats
    3.0
    >>> sample_distinct(pa.array([5, 1, 7, 1, 9, 2, 2, 8]), 8000)  # 4 seen once, 2 twice
    10.0
    """
    values = sample.drop_null()
    if len(values) == 0:
        return 1.0
    counts = pc.value_counts(values).field("counts")
    seen = len(counts)
    if seen == len(sample):
        return rows
    if seen > 1 and _sorted(values):
        return min(rows, seen * rows / len(sample))
    once = pc.sum(pc.equal(counts, 1)).as_py() or 0
    twice = pc.sum(pc.equal(counts, 2)).as_py() or 0
    unseen = once * once / (2 * twice) if twice else once * (once - 1) / 2
    return float(min(rows, seen + unseen))


def _sorted(values: pa.Array) -> bool:
    """True if ``values`` (no nulls) never decrease, or never increase."""
    if not (pa.types.is_integer(values.type) or pa.types.is_temporal(values.type)):
        return False
    before, after = values.slice(0, len(values) - 1), values.slice(1)
    return bool(
        pc.all(pc.less_equal(before, after)).as_py()
        or pc.all(pc.greater_equal(before, after)).as_py()
    )


def selectivity(predicate: Expr, stats: Statistics) -> float:
    """Fraction of rows a predicate keeps (equality 1/NDV, ranges 1/3, AND multiplies…).

    >>> from sabot_lab import col
    >>> selectivity((col("k") == 1) & (col("x") > 0), Statistics(100, {"k": 4}))
    0.08333333333333333
    """
    op = predicate.op
    if op == "and":
        return selectivity(predicate.args[0], stats) * selectivity(predicate.args[1], stats)
    if op == "or":
        a, b = (selectivity(x, stats) for x in predicate.args)
        return a + b - a * b
    if op == "not":
        return 1.0 - selectivity(predicate.args[0], stats)
    columns = predicate.columns()
    if op == "eq" and columns:
        return 1.0 / stats.distinct(columns[0])
    if op == "ne" and columns:
        return 1.0 - 1.0 / stats.distinct(columns[0])
    if op in ("lt", "le", "gt", "ge"):
        return RANGE_SELECTIVITY
    if op == "is_in" and columns:
        return min(1.0, len(predicate.param("values")) / stats.distinct(columns[0]))
    if op == "is_null":
        return 0.05
    if op == "is_not_null":
        return 0.95
    if op == "lit":
        return 1.0 if predicate.param("value") is True else 0.0
    return DEFAULT_SELECTIVITY


Memo = dict[str, tuple[Operator, tuple[Statistics, ...], Statistics]]
"""Estimates already made, by operator id: reused while the operator (the same object:
rewrites replace operators, never mutate them) and its inputs' estimates are unchanged.
The optimizer re-estimates after each rule, and most operators stay the same."""


def estimate(
    graph: JobGraph, known: Mapping[str, Statistics] | None = None, memo: Memo | None = None
) -> dict[str, Statistics]:
    """Statistics of every operator's output (``known``: given statistics of some sources)."""
    out: dict[str, Statistics] = {}
    for node in graph.topological_sort():
        if known and node.operator_id in known:
            out[node.operator_id] = known[node.operator_id]
            continue
        inputs = tuple(out[u] for u in node.upstream)
        hit = memo.get(node.operator_id) if memo is not None else None
        if hit is not None and hit[0] is node.op and _same(hit[1], inputs):
            out[node.operator_id] = hit[2]
            continue
        out[node.operator_id] = _estimate_node(node, list(inputs))
        if memo is not None:
            memo[node.operator_id] = (node.op, inputs, out[node.operator_id])
    return out


def _same(a: tuple[Statistics, ...], b: tuple[Statistics, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def estimate_rows(graph: JobGraph) -> dict[str, float]:
    """Estimated output rows of every operator."""
    return {k: v.rows for k, v in estimate(graph).items()}


def _scaled(stats: Statistics, rows: float) -> Statistics:
    return Statistics(rows, stats.ndv)  # shared: distinct() caps each count at the rows


def _estimate_node(node: StreamOperatorNode, inputs: list[Statistics]) -> Statistics:
    return ESTIMATES[node.op](node.op, inputs)


def _source(op: Operator, inputs: list[Statistics]) -> Statistics:
    assert isinstance(op, Source)
    stats = source_statistics(op.source)
    if op.predicate is not None:
        stats = _scaled(stats, stats.rows * selectivity(op.predicate, stats))
    if op.limit is not None:
        stats = _scaled(stats, min(stats.rows, op.limit))
    return stats


def _fused(op: Operator, inputs: list[Statistics]) -> Statistics:
    assert isinstance(op, Fused)
    first = inputs[0]
    for member in op.operators:
        first = _estimate_node(member, [first])
    return first


def _filter(op: Operator, inputs: list[Statistics]) -> Statistics:
    assert isinstance(op, Filter)
    return _scaled(inputs[0], inputs[0].rows * selectivity(op.predicate, inputs[0]))


def _project(op: Operator, inputs: list[Statistics]) -> Statistics:
    """A computed column has the distinct values of its first input column; a constant one
    (the key of a cross join) has one.

    >>> from sabot_lab import col, lit
    >>> _project(Project(exprs=[col("k") + 1, lit(0).alias("c")]), [Statistics(10, {"k": 4.0})]).ndv
    {'k': 4.0, 'c': 1.0}
    """
    assert isinstance(op, Project)
    first = inputs[0]
    ndv = {
        e.output_name(): first.distinct(e.columns()[0]) if e.columns() else 1.0 for e in op.exprs
    }
    return Statistics(first.rows, ndv)


def _hash_join(op: Operator, inputs: list[Statistics]) -> Statistics:
    assert isinstance(op, HashJoin)
    left, right = inputs
    key_ndv = max(
        max(left.distinct(a), right.distinct(b))
        for a, b in zip(op.left_on, op.right_on, strict=True)
    )
    inner = left.rows * right.rows / key_ndv
    rows = {
        "inner": inner,
        "left": max(inner, left.rows),
        "semi": min(left.rows, inner),
        "anti": max(0.0, left.rows - min(left.rows, inner)),
    }[op.how]
    ndv = {**right.ndv, **left.ndv} if op.how in ("inner", "left") else dict(left.ndv)
    return _scaled(Statistics(rows, ndv), rows)


def _group_by(op: Operator, inputs: list[Statistics]) -> Statistics:
    assert isinstance(op, GroupBy)
    first, groups = inputs[0], 1.0
    for key in op.keys:
        groups *= first.distinct(key)
    return _scaled(first, min(first.rows, groups))


def _one_row(op: Operator, inputs: list[Statistics]) -> Statistics:
    return Statistics(1.0)


def _distinct(op: Operator, inputs: list[Statistics]) -> Statistics:
    return _scaled(inputs[0], inputs[0].rows * DEFAULT_SELECTIVITY)


def _union(op: Operator, inputs: list[Statistics]) -> Statistics:
    return Statistics(sum(s.rows for s in inputs), inputs[0].ndv)


def _limit(op: Operator, inputs: list[Statistics]) -> Statistics:
    assert isinstance(op, Limit)
    return _scaled(inputs[0], min(inputs[0].rows, float(op.n)))


def _sort(op: Operator, inputs: list[Statistics]) -> Statistics:
    assert isinstance(op, Sort)
    if op.top_n is None:
        return inputs[0]
    return _scaled(inputs[0], min(inputs[0].rows, float(op.top_n)))


def _as_input(op: Operator, inputs: list[Statistics]) -> Statistics:
    return inputs[0]


ESTIMATES: PhaseTable[Callable[[Operator, list[Statistics]], Statistics]] = PhaseTable(
    "statistics",
    {
        Source: _source,
        Fused: _fused,
        Filter: _filter,
        Project: _project,
        HashJoin: _hash_join,
        GroupBy: _group_by,
        Aggregate: _one_row,
        Distinct: _distinct,
        Union: _union,
        Limit: _limit,
        Sort: _sort,
        Map: _as_input,
        RowIndex: _as_input,
        FlatMap: _as_input,
        Watermark: _as_input,
        Window: _as_input,
        IntervalJoin: _as_input,
        SymmetricJoin: _as_input,
        AsofJoin: _as_input,
        WindowFunctions: _as_input,
        TopN: _as_input,
    },
)
"""The statistics of each operator class's output from its inputs' (textbook heuristics;
those with no better guess pass their first input's on)."""
