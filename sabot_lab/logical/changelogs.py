"""The changelog of a plan's output: whether its rows are final (an *append* stream) or may be
replaced by later rows with the same key (an *upsert* changelog), and that key.

An operator whose :meth:`~sabot_lab.logical.operators.Operator.emits_updates` is true (a
running aggregate, a window with early results) starts an upsert changelog keyed by its
:meth:`~sabot_lab.logical.operators.Operator.changelog_key`; the operators after it keep the
key as long as they pass its columns on (a ``select`` may rename or cast them).

May import: the plan (:mod:`sabot_lab.logical`) and :mod:`sabot_lab.errors`.

>>> import sabot_lab as sl
>>> bids = sl.nexmark(events=None).bids
>>> totals = bids.group_by("auction").agg(n=sl.count()).rename({"auction": "id"})
>>> changelog_key(bids.graph, bids.node_id), changelog_key(totals.graph, totals.node_id)
(None, ('id',))
"""

from __future__ import annotations

from sabot_lab.errors import PlanError
from sabot_lab.expr import Expr
from sabot_lab.logical.graph import JobGraph, StreamOperatorNode
from sabot_lab.logical.operators import Project

__all__ = ["changelog_key"]


def changelog_key(graph: JobGraph, node_id: str) -> tuple[str, ...] | None:
    """The key of the upsert changelog ``node_id`` outputs (as its column names there), None
    when its rows are an append stream; :class:`PlanError` when the rows are updates whose key
    no longer reaches the output (a ``select`` dropped or computed over a key column)."""
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
    key = node.op.changelog_key(node.output_schema)
    for later in reversed(path):
        key = _passed_on(key, later)
    return key


def _updates(graph: JobGraph, node_id: str) -> bool:
    return any(n.op.emits_updates() for n in graph.subgraph(node_id))


def _passed_on(key: tuple[str, ...], node: StreamOperatorNode) -> tuple[str, ...]:
    """``key`` as the output columns of ``node`` (renamed by a ``select``)."""
    if isinstance(node.op, Project):
        sources = {_source_column(e): e.output_name() for e in node.op.exprs}
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


def _source_column(expr: Expr) -> str | None:
    """The input column an output expression passes on (renamed or cast), else None."""
    while expr.op in ("alias", "cast"):
        expr = expr.args[0]
    return expr.param("name") if expr.op == "col" else None
