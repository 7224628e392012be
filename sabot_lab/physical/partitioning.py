"""Which columns each operator's output is hash-partitioned on, across the tasks of its stage.

A hash exchange sends the rows with equal keys to one task. Some operators keep that: a
filter drops rows where they are, a projection passes columns (maybe renamed), a group-by
or distinct whose keys include the partitioning columns keeps each group in the task of its
rows, and a join (inner, left, semi, anti, building on the right) outputs its probe rows in
their task. The planner then needs no second hash exchange on the same keys: the consumer
runs in the producer's stage (a forward edge).

Only exact key lists count (``[a, b]`` is not ``[b, a]``: the row hash depends on the order),
and only for hash exchanges: every hash exchange partitions with the one row hash of
:mod:`sabot_lab.kernels`, into as many partitions as its consumer stage has tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from sabot_lab.logical import (
    Aggregate,
    Distinct,
    Filter,
    Fused,
    HashJoin,
    JobGraph,
    PhaseTable,
    Project,
    StreamOperatorNode,
    Watermark,
    fused_members,
)

__all__ = ["Keys", "partitioned_on"]

Keys = tuple[str, ...] | None
"""The columns rows are hash-partitioned on (None: not known to be)."""

Crossing = Mapping[tuple[str, str, int], tuple[str, tuple[str, ...]]]


def partitioned_on(graph: JobGraph, crossing: Crossing) -> dict[str, Keys]:
    """Each operator's output partitioning, given the exchanges ``crossing`` the plan's edges
    (``(upstream, operator, input position)`` to ``(kind, keys)``).

    >>> import sabot_lab as sl
    >>> g = sl.from_pydict({"k": [1, 2], "x": [3, 4]}).group_by("k").agg(sl.col("x").sum()).graph
    >>> source, group_by = (n.operator_id for n in g.topological_sort())
    >>> list(partitioned_on(g, {(source, group_by, 0): ("hash", ("k",))}).values())
    [None, ('k',)]
    """
    out: dict[str, Keys] = {}
    for node in graph.topological_sort():
        inputs: list[Keys] = []
        for position, upstream in enumerate(node.upstream):
            exchange = crossing.get((upstream, node.operator_id, position))
            if exchange is None:
                inputs.append(out[upstream])
            else:
                kind, keys = exchange
                inputs.append(keys if kind == "hash" and keys else None)
        out[node.operator_id] = _through(node, inputs)
    return out


def _through(node: StreamOperatorNode, inputs: Sequence[Keys]) -> Keys:
    """The partitioning of ``node``'s output, given that of its inputs."""
    if not inputs or inputs[0] is None:
        return None
    return KEEPS[node.op](node, inputs)


def _first_input(node: StreamOperatorNode, inputs: Sequence[Keys]) -> Keys:
    return inputs[0]


def _passed(node: StreamOperatorNode, inputs: Sequence[Keys]) -> Keys:
    """A projection keeps the partitioning if it passes every key column (under a new name
    or not)."""
    assert isinstance(node.op, Project)
    renamed = {source: name for name, source in reversed(node.op.passed_columns().items())}
    keys = inputs[0] or ()
    return tuple(renamed[k] for k in keys) if all(k in renamed for k in keys) else None


def _within_group(node: StreamOperatorNode, inputs: Sequence[Keys]) -> Keys:
    """Groups of rows that are all in one task stay in it when the group keys include the
    partitioning columns (an aggregate of updates runs whole: not followed)."""
    keys = inputs[0] or ()
    if isinstance(node.op, Aggregate) and node.op.updates_of is not None:
        return None
    return inputs[0] if set(keys) <= set(node.key_by) else None


def _probe_rows(node: StreamOperatorNode, inputs: Sequence[Keys]) -> Keys:
    """A join building on the right outputs its left rows in their task, with the left
    columns it keeps under their names (before the right payload columns)."""
    op = node.op
    assert isinstance(op, HashJoin)
    keys = inputs[0] or ()
    names = node.output_schema.names
    payload = 0 if op.how in ("semi", "anti") else len(op.right_payload)
    kept = set(names[: len(names) - payload])
    return inputs[0] if op.build_side == "right" and set(keys) <= kept else None


def _fused(node: StreamOperatorNode, inputs: Sequence[Keys]) -> Keys:
    """A fused chain keeps what each of its operators keeps."""
    keys = inputs[0]
    for member in fused_members(node):
        keys = _through(member, [keys])
    return keys


KEEPS: PhaseTable[Callable[[StreamOperatorNode, Sequence[Keys]], Keys]] = PhaseTable(
    "physical planning (partitioning kept)",
    {
        Filter: _first_input,
        Watermark: _first_input,
        Project: _passed,
        Aggregate: _within_group,
        Distinct: _within_group,
        HashJoin: _probe_rows,
        Fused: _fused,
    },
    otherwise=lambda node, inputs: None,
)
"""How each operator class passes its first input's hash partitioning to its output."""
