"""The changelog of a plan's output: whether its rows are final (an *append* stream) or may be
replaced by later rows with the same key (an *upsert* changelog), and that key.

An operator whose :meth:`~sabot_lab.logical.operators.Operator.emits_updates` is true (a
running aggregate, a window with early results) starts an upsert changelog keyed by its
:meth:`~sabot_lab.logical.operators.Operator.changelog_key`; the operators after it keep the
key as long as they pass its columns on (a ``select`` may rename or cast them).

An aggregate of such a changelog needs the key only to find the row an update replaces, not
in its output: :func:`carry_changelog_key` gives it a plan whose ``select`` operators keep
the key columns they drop, as extra columns the aggregate reads and does not output (Nexmark
q4 as SQL writes it: ``SELECT MAX(B.price) AS final, A.category ... GROUP BY A.id,
A.category``, averaged per category).

May import: the plan (:mod:`sabot_lab.logical`), :mod:`sabot_lab.column_ops` (names for the
key columns kept) and :mod:`sabot_lab.errors`.

>>> import sabot_lab as sl
>>> bids = sl.nexmark(events=None).bids
>>> totals = bids.group_by("auction").agg(n=sl.count()).rename({"auction": "id"})
>>> changelog_key(bids.graph, bids.node_id), changelog_key(totals.graph, totals.node_id)
(None, ('id',))
"""

from __future__ import annotations

import dataclasses

from sabot_lab.column_ops import unused_name
from sabot_lab.errors import PlanError
from sabot_lab.expr import Expr, col
from sabot_lab.logical.graph import JobGraph, StreamOperatorNode
from sabot_lab.logical.operators import Project

__all__ = ["carry_changelog_key", "changelog_key"]


def changelog_key(graph: JobGraph, node_id: str) -> tuple[str, ...] | None:
    """The key of the upsert changelog ``node_id`` outputs (as its column names there), None
    when its rows are an append stream; :class:`PlanError` when the rows are updates whose key
    no longer reaches the output (a ``select`` dropped or computed over a key column)."""
    start = _changelog_start(graph, node_id)
    if start is None:
        return None
    updater, path = start
    key = updater.op.changelog_key(updater.output_schema)
    for later in reversed(path):
        key = _passed_on(key, later)
    return key


def carry_changelog_key(
    graph: JobGraph, node_id: str
) -> tuple[JobGraph, str, tuple[str, ...] | None]:
    """The plan an aggregate of the changelog ``node_id`` outputs reads: the same plan when
    the changelog's key reaches ``node_id`` (or the rows are an append stream), else a copy
    whose ``select`` operators after the updating operator keep the key columns they drop,
    under names their other columns do not take; with its output's id and the key there
    (None for an append stream). :class:`PlanError` when another operator drops the key.

    >>> import sabot_lab as sl
    >>> bids = sl.nexmark(events=None).bids
    >>> top = bids.group_by("auction", "bidder").agg(hi=sl.col("price").max()).select("hi", "bidder")
    >>> graph, output, key = carry_changelog_key(top.graph, top.node_id)
    >>> key, graph.node(output).output_schema.names
    (('auction', 'bidder'), ['hi', 'bidder', 'auction'])
    """
    start = _changelog_start(graph, node_id)
    if start is None:
        return graph, node_id, None
    updater, path = start
    key = updater.op.changelog_key(updater.output_schema)
    carried, upstream = graph.copy(), updater.operator_id
    for later in reversed(path):
        op, passed = later.op, None
        if isinstance(op, Project):
            op, passed = _keeping(key, op)
        if op is not later.op or later.upstream != (upstream,):
            schema = op.schema([carried.node(upstream).output_schema])
            if schema is None:  # a user function's output: its columns are its own
                raise PlanError(
                    f"{later.name} (a user function) reads the upsert changelog keyed by "
                    f"{list(key)} after a select that dropped key columns, and its output is "
                    "the function's own, without them: keep the key columns in that select"
                )
            upstream = carried.add_new_operator(op, later.name, [upstream], schema)
            carried.replace_operator(carried.node(upstream).replace(parallelism=later.parallelism))
        else:
            upstream = later.operator_id
        key = passed if passed is not None else _passed_on(key, carried.node(upstream))
    return carried.subgraph(upstream), upstream, key


def _changelog_start(
    graph: JobGraph, node_id: str
) -> tuple[StreamOperatorNode, list[StreamOperatorNode]] | None:
    """The operator that starts the upsert changelog ``node_id`` outputs and the operators
    from ``node_id`` up to it (nearest first); None for an append stream."""
    path: list[StreamOperatorNode] = []
    node = graph.node(node_id)
    while not node.op.emits_updates():
        path.append(node)
        updating = [u for u in node.upstream if _updates(graph, u)]
        if not updating:
            return None
        if len(node.upstream) > 1:
            raise PlanError(
                f"{node.name} combines an upsert changelog with other rows, and sabot-lab "
                "cannot tell which rows a later update replaces; aggregate within windows "
                "instead, so every row is final"
            )
        node = graph.node(updating[0])
    return node, path


def _keeping(key: tuple[str, ...], op: Project) -> tuple[Project, tuple[str, ...]]:
    """``op`` with a column added for each column of ``key`` (its input's) it drops, and the
    key as its output columns."""
    sources = _renamed_by(op)
    taken = {e.output_name() for e in op.exprs}
    kept: list[str] = []
    added: list[Expr] = []
    for name in key:
        if name in sources:
            kept.append(sources[name])
            continue
        hidden = unused_name(name, taken)
        taken.add(hidden)
        added.append(col(name) if hidden == name else col(name).alias(hidden))
        kept.append(hidden)
    if not added:
        return op, tuple(kept)
    return dataclasses.replace(op, exprs=[*op.exprs, *added]), tuple(kept)


def _updates(graph: JobGraph, node_id: str) -> bool:
    return any(n.op.emits_updates() for n in graph.ancestry(node_id))


def _passed_on(key: tuple[str, ...], node: StreamOperatorNode) -> tuple[str, ...]:
    """``key`` as the output columns of ``node`` (renamed by a ``select``)."""
    if isinstance(node.op, Project):
        sources = _renamed_by(node.op)
        renamed = tuple(sources.get(k) for k in key)
    else:
        renamed = tuple(k if k in node.output_schema.names else None for k in key)
    if None in renamed:
        lost = [k for k, r in zip(key, renamed, strict=True) if r is None]
        raise PlanError(
            f"{node.name} drops the key column(s) {lost} of the upsert changelog keyed by "
            f"{list(key)}: without them a sink cannot tell which row an update replaces; "
            "keep them in the output"
        )
    return tuple(r for r in renamed if r is not None)


def _renamed_by(op: Project) -> dict[str | None, str]:
    """The output column of ``op`` each input column passes on to (renamed or cast)."""
    return {_source_column(e): e.output_name() for e in op.exprs}


def _source_column(expr: Expr) -> str | None:
    """The input column an output expression passes on (renamed or cast), else None."""
    while expr.op in ("alias", "cast"):
        expr = expr.args[0]
    return expr.param("name") if expr.op == "col" else None
