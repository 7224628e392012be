"""Text rendering of a plan: the operator tree with arguments and operator ids (which the
optimizer trace refers to), output schema and fused pipelines.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"k": ["a"], "x": [1]}).group_by("k").agg(sl.col("x").sum())
>>> print(render_plan(s.graph, s.node_id))  # doctest: +ELLIPSIS
[P2] group_by keys=[k] aggs=[col("x").sum()]  #group_by_...
  [P1] source arrow table (1 rows, 2 columns)  #source_...
output: k string, x int64
pipelines (operators fused per batch):
  P1: source → group_by (partial)
  P2: group_by
"""

from __future__ import annotations

from collections.abc import Mapping

from sabot_lab.engine import Executor
from sabot_lab.logical import Fused, JobGraph, StreamOperatorNode, fused_members
from sabot_lab.optimizer.trace import format_rows

__all__ = ["describe_operator", "render_plan"]


def describe_operator(node: StreamOperatorNode) -> str:
    """The operator's arguments in one line (its operator's ``describe``).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1]}).limit(3)
    >>> describe_operator(s.graph.node(s.node_id))
    'n=3'
    """
    return node.op.describe(node.name)


def _short(node: StreamOperatorNode) -> str:
    if isinstance(node.op, Fused):
        return f"[{' → '.join(m.name for m in fused_members(node))}]"
    return node.name


def render_plan(
    graph: JobGraph, node_id: str, estimated_rows: Mapping[str, float] | None = None
) -> str:
    """The plan below ``node_id`` as an indented tree (with estimated output rows, if given),
    then its output schema and pipelines."""
    pipelines = Executor(graph).pipelines(node_id)
    owner: dict[str, int] = {}
    for index, ids in enumerate(pipelines, start=1):
        for op_id in ids:
            owner[op_id] = index  # an aggregate's own pipeline comes after its partial step's
    lines: list[str] = []

    def visit(op_id: str, depth: int) -> None:
        node = graph.node(op_id)
        rows = estimated_rows.get(op_id) if estimated_rows else None
        estimate = f"  (~{format_rows(rows)} rows)" if rows is not None else ""
        lines.append(f"{'  ' * depth}[P{owner.get(op_id, '?')}] {node.label()}{estimate}  #{op_id}")
        for up in node.upstream:
            visit(up, depth + 1)

    visit(node_id, 0)
    schema = graph.node(node_id).schema
    if schema is not None:
        lines.append("output: " + ", ".join(f"{f.name} {f.type}" for f in schema))
    lines.append("pipelines (operators fused per batch):")
    for index, ids in enumerate(pipelines, start=1):
        names = [
            _short(graph.node(i)) if owner[i] == index else f"{graph.node(i).name} (partial)"
            for i in ids
        ]
        lines.append(f"  P{index}: {' → '.join(names)}")
    return "\n".join(lines)
