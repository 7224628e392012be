"""Row-count estimates: ``Statistics`` per source (exact row counts where metadata has them,
distinct counts from a sample) propagated through the plan with textbook heuristics.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"k": [1, 2, 3, 4] * 25, "v": list(range(100))}).filter(sl.col("k") == 1)
>>> est = estimate_rows(s.graph)
>>> est[s.node_id]  # 100 rows x 1/4 (k has 4 distinct values)
25.0
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.expr import Expr
from sabot_lab.logical import JobGraph, OperatorType, StreamOperatorNode, fused_members
from sabot_lab.logical.sources import SourceSpec

__all__ = ["Statistics", "estimate", "estimate_rows", "selectivity", "source_statistics"]

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
    """Rows from metadata (or a default) and distinct counts from the first rows (cached).

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
                    seen = pc.count_distinct(column).as_py()
                except pa.ArrowNotImplementedError:
                    continue  # a type without a distinct kernel: unknown
                # a column distinct in the whole sample is taken as distinct everywhere
                ndv[name] = total if seen == sample.num_rows else float(seen)
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
        batches.append(batch.slice(0, SAMPLE_ROWS - rows))
        rows += batches[-1].num_rows
        if rows >= SAMPLE_ROWS:
            break
    return pa.Table.from_batches(batches, schema=spec.schema) if batches else None


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


Memo = dict[str, tuple[Mapping[str, Any], tuple[Statistics, ...], Statistics]]
"""Estimates already made, by operator id: reused while the operator's parameters (the same
object: rewrites replace them, never mutate them) and its inputs' estimates are unchanged.
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
        if hit is not None and hit[0] is node.parameters and _same(hit[1], inputs):
            out[node.operator_id] = hit[2]
            continue
        out[node.operator_id] = _estimate_node(node, list(inputs))
        if memo is not None:
            memo[node.operator_id] = (node.parameters, inputs, out[node.operator_id])
    return out


def _same(a: tuple[Statistics, ...], b: tuple[Statistics, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def estimate_rows(graph: JobGraph) -> dict[str, float]:
    """Estimated output rows of every operator."""
    return {k: v.rows for k, v in estimate(graph).items()}


def _scaled(stats: Statistics, rows: float) -> Statistics:
    return Statistics(rows, stats.ndv)  # shared: distinct() caps each count at the rows


def _estimate_node(node: StreamOperatorNode, inputs: list[Statistics]) -> Statistics:
    kind, p = node.operator_type, node.parameters
    if kind == OperatorType.SOURCE:
        stats = source_statistics(p["source"])
        if p.get("predicate") is not None:
            stats = _scaled(stats, stats.rows * selectivity(p["predicate"], stats))
        if p.get("limit") is not None:
            stats = _scaled(stats, min(stats.rows, p["limit"]))
        return stats
    first = inputs[0]
    if kind == OperatorType.FUSED:
        for member in fused_members(node):
            first = _estimate_node(member, [first])
        return first
    if kind == OperatorType.FILTER:
        return _scaled(first, first.rows * selectivity(p["predicate"], first))
    if kind == OperatorType.SELECT:
        ndv = {e.output_name(): first.distinct(e.columns()[0]) for e in p["exprs"] if e.columns()}
        return Statistics(first.rows, ndv)
    if kind == OperatorType.HASH_JOIN:
        left, right = inputs
        key_ndv = max(
            max(left.distinct(a), right.distinct(b))
            for a, b in zip(p["left_on"], p["right_on"], strict=True)
        )
        inner = left.rows * right.rows / key_ndv
        rows = {
            "inner": inner,
            "left": max(inner, left.rows),
            "semi": min(left.rows, inner),
            "anti": max(0.0, left.rows - min(left.rows, inner)),
        }[p["how"]]
        ndv = {**right.ndv, **left.ndv} if p["how"] in ("inner", "left") else dict(left.ndv)
        return _scaled(Statistics(rows, ndv), rows)
    if kind == OperatorType.GROUP_BY:
        groups = 1.0
        for key in p["keys"]:
            groups *= first.distinct(key)
        return _scaled(first, min(first.rows, groups))
    if kind == OperatorType.AGGREGATE:
        return Statistics(1.0)
    if kind == OperatorType.DISTINCT:
        return _scaled(first, first.rows * DEFAULT_SELECTIVITY)
    if kind == OperatorType.UNION:
        return Statistics(sum(s.rows for s in inputs), first.ndv)
    if kind == OperatorType.LIMIT:
        return _scaled(first, min(first.rows, float(p["n"])))
    if kind == OperatorType.SORT and p.get("top_n") is not None:
        return _scaled(first, min(first.rows, float(p["top_n"])))
    return first
