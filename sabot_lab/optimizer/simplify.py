"""Constant folding and predicate simplification.

Everywhere: constant subexpressions become literals (unless evaluating them fails, so a runtime
error stays a runtime error) and boolean identities are applied (``p & true → p``,
``p | false → p``, ``p & false → false``, ``p | true → true``, ``~~p → p``); all exact under
SQL's three-valued logic. In filters: true conjuncts are dropped, bounds on one column are
merged (``x > 1 & x > 3 → x > 3``), conditions every branch of an ``OR`` repeats are taken out
of it and the conditions an ``OR`` implies on fewer columns are added beside it
(:mod:`~sabot_lab.optimizer.or_factoring`: they can then move below joins and into scans
on their own), and a filter that can never pass (``x > 3 & x < 2``, a false
or null conjunct) becomes an empty source: its input is not run at all.

>>> import sabot_lab as sl
>>> from sabot_lab.optimizer import RewriteTrace
>>> s = sl.from_pydict({"x": [1, 5]}).filter((sl.col("x") > 1) & (sl.col("x") > 1 + 2))
>>> g = simplify_predicates(s.graph, trace := RewriteTrace())
>>> [n.op.predicate for n in g if n.operator_type.value == "filter"]
[(col("x") > 3)]
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import pyarrow as pa

from sabot_lab.engine.evaluate import evaluate
from sabot_lab.expr import Expr, lit
from sabot_lab.expr.dtypes import dtype_name
from sabot_lab.expr.nodes import Column
from sabot_lab.logical import (
    Aggregate,
    Filter,
    JobGraph,
    PhaseTable,
    Project,
    Sort,
    Source,
    StreamOperatorNode,
    Window,
)
from sabot_lab.logical.sources import empty_source
from sabot_lab.optimizer.or_factoring import factor_or, implied_conditions
from sabot_lab.optimizer.trace import RewriteTrace
from sabot_lab.predicates import (
    MIRRORED,
    conjoin,
    is_deterministic,
    is_literal,
    literal_value,
)

__all__ = ["EXPRESSION_FIELDS", "fold_constants", "simplify_predicates"]

RULE = "simplify_predicates"

EXPRESSION_FIELDS: PhaseTable[tuple[str, ...]] = PhaseTable(
    RULE,
    {
        Source: ("predicate",),
        Filter: ("predicate",),
        Project: ("exprs",),
        Sort: ("by",),
        Aggregate: ("aggs",),
        Window: ("aggs",),
    },
    otherwise=(),
)
"""The fields holding expressions (one, or a list) whose constants are folded."""


def simplify_predicates(graph: JobGraph, trace: RewriteTrace) -> JobGraph:
    """Fold constants in every expression and simplify filter predicates."""
    out = graph.copy()
    for node in graph.topological_sort():
        if node.operator_id not in out.nodes:
            continue  # removed with a contradictory filter's input
        rebuilt = _fold_node(node)
        if rebuilt is not node:
            out.replace_operator(rebuilt)
            trace.record(RULE, [node.operator_id], [node.operator_id], "folded constants")
        if isinstance(node.op, Filter):
            _simplify_filter(out, out.node(node.operator_id), trace)
    return out


def fold_constants(expr: Expr) -> Expr:
    """Evaluate constant subexpressions and apply exact boolean identities.

    >>> from sabot_lab import col, lit
    >>> fold_constants((col("a") > lit(2) * 3) & lit(True))
    (col("a") > 6)
    >>> fold_constants(~~(col("a") > 1) | lit(False))
    (col("a") > 1)
    >>> fold_constants(lit(1) // 0)  # would fail: left for run time
    (1 // 0)
    """
    if not expr.args:
        return expr
    args = [fold_constants(a) for a in expr.args]
    if any(new is not old for new, old in zip(args, expr.args, strict=True)):
        expr = expr.with_args(args)  # unchanged trees stay the same objects
    if (
        expr.op not in ("alias", "agg")
        and not expr.columns()
        and not expr.is_aggregate()
        and is_deterministic(expr)  # a call per row stays a call per row
    ):
        folded = _evaluate_constant(expr)
        if folded is not None:
            return folded
    return _boolean_identity(expr)


@functools.cache
def _one_row() -> pa.RecordBatch:
    """The batch constants are evaluated over (built on first use: building an array from a
    Python list at import would load pandas)."""
    return pa.RecordBatch.from_arrays([pa.array([0], pa.int8())], names=["_"])


def _evaluate_constant(expr: Expr) -> Expr | None:
    try:
        value = evaluate(expr, _one_row())[0]
        for folded in (lit(value.as_py()), lit(value.as_py(), dtype_name(value.type))):
            if evaluate(folded, _one_row()).type == value.type:
                return folded
        return None
    except Exception:
        return None


def _truth(expr: Expr) -> bool | None:
    if is_literal(expr):
        value = literal_value(expr)
        if isinstance(value, bool):
            return value
    return None


def _boolean_identity(expr: Expr) -> Expr:
    if expr.op in ("and", "or"):
        absorbing = expr.op == "or"  # true absorbs OR, false absorbs AND
        for i, arg in enumerate(expr.args):
            truth = _truth(arg)
            if truth is None:
                continue
            if truth == absorbing:
                return lit(absorbing)
            return expr.args[1 - i]  # the neutral element drops out
    if expr.op == "not" and expr.args[0].op == "not":
        return expr.args[0].args[0]
    return expr


def _fold_node(node: StreamOperatorNode) -> StreamOperatorNode:
    params: dict[str, Any] = {}
    changed = False
    for key in EXPRESSION_FIELDS[node.op]:
        value = getattr(node.op, key)
        if isinstance(value, Expr):
            new: Any = fold_constants(value)
            changed |= new is not value and not new.equals(value)
        elif isinstance(value, list) and value and isinstance(value[0], Expr):
            new = [fold_constants(e) for e in value]
            changed |= any(a is not b and not a.equals(b) for a, b in zip(new, value, strict=True))
        else:
            continue
        params[key] = new
    return node.replace(op=node.op.replace(**params)) if changed else node


# -- filters ---------------------------------------------------------------------------------


def _simplify_filter(graph: JobGraph, node: StreamOperatorNode, trace: RewriteTrace) -> None:
    assert isinstance(node.op, Filter)
    conjuncts = factor_or(node.op.predicate)  # conditions every branch of an OR repeats, out
    for implied in [i for c in conjuncts for i in implied_conditions(c)]:
        if not any(implied.equals(c) for c in conjuncts):
            conjuncts.append(implied)  # weaker, on fewer columns: free to move on its own
    kept = [c for c in conjuncts if _truth(c) is not True]
    contradiction = any(is_literal(c) for c in kept)  # false or null: no row passes
    merged, why = _merge_bounds(kept)
    if merged is None or contradiction:
        _replace_with_empty_source(graph, node)
        reason = why if merged is None else "a conjunct is always false or null"
        trace.record(RULE, [node.operator_id], [node.operator_id], f"{reason}: no row can pass")
        return
    if not merged:
        graph.splice_out(node.operator_id)
        trace.record(RULE, [node.operator_id], [], "predicate is always true: filter removed")
        return
    predicate = conjoin(merged)
    if not predicate.equals(node.op.predicate):
        graph.replace_operator(node.replace(op=Filter(predicate=predicate)))
        trace.record(
            RULE, [node.operator_id], [node.operator_id], f"{why or 'simplified'}: {predicate!r}"
        )


def _replace_with_empty_source(graph: JobGraph, node: StreamOperatorNode) -> None:
    schema = node.output_schema
    (upstream,) = node.upstream
    graph.disconnect(upstream, node.operator_id)
    empty = StreamOperatorNode(
        operator_id=node.operator_id,
        name="source",
        schema=schema,
        op=Source(source=empty_source(schema)),
    )
    graph.replace_operator(empty)
    if not graph.node(upstream).downstream:
        graph.remove_branch(upstream)


Bound = tuple[str, Any, Expr]  # (operator, value, the conjunct)


def _comparison(expr: Expr) -> tuple[str, str, Any] | None:
    """(column, op, value) for ``col op literal`` or ``literal op col`` with a non-null value."""
    if expr.op not in MIRRORED:
        return None
    a, b = expr.args
    if isinstance(a, Column) and is_literal(b):
        name, op, value = a.param("name"), expr.op, literal_value(b)
    elif isinstance(b, Column) and is_literal(a):
        name, op, value = b.param("name"), MIRRORED[expr.op], literal_value(a)
    else:
        return None
    return None if value is None else (name, op, value)


def _family(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "datetime" if value.tzinfo is None else None
    if isinstance(value, dt.date):
        return "date"
    return None


def _merge_bounds(conjuncts: list[Expr]) -> tuple[list[Expr] | None, str]:
    """Merge bounds per column; None if they contradict. Also returns a reason ('' if none)."""
    by_column: dict[str, list[tuple[int, Bound]]] = {}
    for i, c in enumerate(conjuncts):
        parsed = _comparison(c)
        if parsed is not None and parsed[1] != "ne":
            by_column.setdefault(parsed[0], []).append((i, (parsed[1], parsed[2], c)))
    replaced: dict[int, list[Expr]] = {}
    dropped: set[int] = set()
    reasons = []
    for items in by_column.values():
        families = {_family(b[1]) for _, b in items}
        if len(items) < 2 or len(families) != 1 or None in families:
            continue
        merged = _merge_column([b for _, b in items])
        before = " & ".join(repr(b[2]) for _, b in items)
        if merged is None:
            return None, f"{before} is a contradiction"
        if len(merged) == len(items):
            continue
        replaced[items[0][0]] = merged
        dropped |= {i for i, _ in items[1:]}
        reasons.append(f"{before} → {' & '.join(map(repr, merged))}")
    out: list[Expr] = []
    for i, c in enumerate(conjuncts):
        if i in replaced:
            out += replaced[i]
        elif i not in dropped:
            out.append(c)
    return out, "; ".join(reasons)


def _merge_column(bounds: list[Bound]) -> list[Expr] | None:
    """The tightest bounds on one column (original conjuncts), or None if none can hold."""
    lows = [b for b in bounds if b[0] in ("gt", "ge")]
    highs = [b for b in bounds if b[0] in ("lt", "le")]
    equal = {b[1] for b in bounds if b[0] == "eq"}
    low = max(lows, key=lambda b: (b[1], b[0] == "gt"), default=None)
    high = min(highs, key=lambda b: (b[1], b[0] != "lt"), default=None)
    if len(equal) > 1:
        return None
    if (
        low
        and high
        and (low[1] > high[1] or (low[1] == high[1] and (low[0] == "gt" or high[0] == "lt")))
    ):
        return None
    if equal:
        value = next(iter(equal))
        if any(not _passes(value, b) for b in (low, high) if b is not None):
            return None
        return [next(b[2] for b in bounds if b[0] == "eq")]
    return [b[2] for b in (low, high) if b is not None]


def _passes(value: Any, bound: Bound) -> bool:
    op, limit, _ = bound
    return {
        "gt": value > limit,
        "ge": value >= limit,
        "lt": value < limit,
        "le": value <= limit,
    }[op]
