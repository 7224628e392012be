"""Physical planning: an optimized :class:`~sabot_lab.logical.JobGraph` cut into stages at exchanges.

Every edge into an operator that needs its rows grouped is an exchange:

- ``group_by`` and ``distinct``: hash on the group keys (all columns for distinct);
- a hash join: hash both inputs on their keys, or, when the build (right) side is estimated
  at most :data:`BROADCAST_ROWS` rows, broadcast the build side and leave the probe side where
  it is. A build side that is a source as read (a file, an uploaded table: the same rows
  whenever it is read) and feeds nothing else is not broadcast: every task of the join's
  stage reads it whole (:attr:`Stage.whole`), a stage and an exchange less;
- a global aggregate, ``sort`` and ``limit``: everything to a single partition;
- ``with_row_index`` numbers rows where they are, in a stage of one task (which reads the
  whole source in order when the stage starts at it);
- windows and stream joins (interval, as-of): hash on their keys (a single partition without
  keys). Watermarks are per task: each task of a ``with_watermark`` tracks its own split and
  sends its watermarks to every partition of the exchanges it feeds; a task reading an
  exchange takes the minimum over the producing tasks (:meth:`PhysicalPlan.bounded` tells
  whether the job ends; one that does not runs all its stages at once, exchanges streaming).

An input already hash-partitioned on an operator's keys (by an earlier hash exchange, kept
through filters, projections, group-bys and joins: :mod:`sabot_lab.physical.partitioning`)
needs no exchange when the stages on both sides would run as many tasks: the operator then
runs in its input's stage (a group-by on ``k`` feeding a join on ``k`` hashes ``k`` once).
An operator with one input only needs each value of its keys in one task, so an input
partitioned on some of its keys is enough; a join's inputs are partitioned alike, on exactly
its keys.

With more than one partition, a group-by or aggregate is split in two phases: a partial
aggregate in the producing stage, and the final merge after it. The partials of a task's
batches are merged when its bounded input ends (in a job without checkpoints), so one row per
group and task crosses the exchange; else one per group and batch. A group-by whose partials
the optimizer expects to be at most :data:`MERGED_IN_ONE_TASK` rows merges them in one task,
as a global aggregate does. An exchange between two stages of one task moves nothing: its
consumer runs in the producer's stage (a sort after such a group-by runs in the merging task).

An operator's ``parallelism`` (:meth:`~sabot_lab.stream.Stream.with_parallelism`) sets the
number of tasks of its stage (the largest, when operators of one stage ask for different
numbers); other stages run as ``partitions`` tasks.

Operators joined by other edges form a stage (a fused pipeline or several, e.g. the branches of
a union). Where a stream feeds two branches that meet again past an exchange (``s.union(
s.group_by(...))``, a full join), those stages would wait for each other: the planner then cuts
the first input of the first operator with several inputs in the way (the probe side of a join,
hashed on its keys; a union's input, hashed on its columns) until no stage waits for itself.
A stage runs as ``partitions`` tasks; task ``i`` reads split ``i`` of each source
(:meth:`~sabot_lab.logical.SourceSpec.split`) and partition ``i`` of each exchange it reads. A
stage reading a ``single`` exchange runs as one task.

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"k": ["a", "b", "a"], "x": [1, 2, 3]}).group_by("k").agg(sl.col("x").sum())
>>> plan = plan_stages(s.graph, partitions=4)
>>> [(st.stage_id, st.partitions) for st in plan.stages]
[(0, 4), (1, 4)]
>>> [(x.kind, x.keys) for x in plan.exchanges.values()]
[('hash', ('k',))]
>>> print(plan.render())
stage 0 (4 tasks): source → group_by partial → x1
stage 1 (4 tasks): x1 → group_by
x1: stage 0 → stage 1, hash on [k]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.errors import PlanError
from sabot_lab.kernels import is_integer_like
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
    fused_members,
)
from sabot_lab.physical.exchange import Exchange, ExchangeSource
from sabot_lab.physical.partitioning import Keys, partitioned_on

__all__ = [
    "BROADCAST_ROWS",
    "EXCHANGES",
    "PhysicalPlan",
    "Stage",
    "plan_stages",
    "split_aggregates",
]

BROADCAST_ROWS = 100_000
"""A join's build side estimated at or below this many rows is broadcast, not shuffled."""

MERGED_IN_ONE_TASK = 100_000
"""A group-by whose partial aggregates are estimated at most this many rows in all (its
groups times the tasks making them) merges them in one task."""


@dataclass(frozen=True)
class Stage:
    """Operators that run together as ``partitions`` tasks, between exchanges.

    ``graph`` holds the stage's operators; the exchanges it reads are SOURCE operators with an
    :class:`~sabot_lab.physical.exchange.ExchangeSource`. ``writes`` are the ids of the
    exchanges it feeds; the last stage has none and produces ``output``. Each task reads
    its own split of every source but those in ``whole``, which every task reads whole (a
    small join build side, in place of a broadcast).
    """

    stage_id: int
    graph: JobGraph
    partitions: int
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    output: str | None = None
    whole: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (a task carries its stage to an agent)."""
        return {
            "stage_id": self.stage_id,
            "graph": self.graph.to_dict(),
            "partitions": self.partitions,
            "reads": list(self.reads),
            "writes": list(self.writes),
            "output": self.output,
            "whole": list(self.whole),
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Stage:
        """Inverse of :meth:`to_dict`."""
        return Stage(
            data["stage_id"],
            JobGraph.from_dict(data["graph"]),
            data["partitions"],
            tuple(data["reads"]),
            tuple(data["writes"]),
            data["output"],
            tuple(data["whole"]),
        )


@dataclass(frozen=True)
class PhysicalPlan:
    """Stages in dependency order (producers first) and the exchanges between them."""

    stages: tuple[Stage, ...]
    exchanges: Mapping[str, Exchange] = field(default_factory=dict)

    @property
    def final(self) -> Stage:
        """The stage producing the job's result."""
        return self.stages[-1]

    @property
    def output_schema(self) -> pa.Schema:
        """Schema of the job's result."""
        final = self.final
        assert final.output is not None, "the last stage produces the job's output"
        return final.graph.node(final.output).output_schema

    def to_json(self) -> str:
        """The plan as JSON (the JobManager keeps it with the job)."""
        return json.dumps(
            {
                "stages": [s.to_dict() for s in self.stages],
                "exchanges": [x.to_dict() for x in self.exchanges.values()],
            }
        )

    @staticmethod
    def from_json(text: str) -> PhysicalPlan:
        """Inverse of :meth:`to_json`.

        >>> import sabot_lab as sl
        >>> plan = plan_stages(sl.from_pydict({"x": [2, 1]}).sort("x").graph, 2)
        >>> PhysicalPlan.from_json(plan.to_json()).render() == plan.render()
        True
        """
        data = json.loads(text)
        exchanges = [Exchange.from_dict(x) for x in data["exchanges"]]
        return PhysicalPlan(
            tuple(Stage.from_dict(s) for s in data["stages"]),
            {x.exchange_id: x for x in exchanges},
        )

    @property
    def bounded(self) -> bool:
        """Whether every source of the job ends. An unbounded job runs all its stages at once
        with streaming exchanges; a bounded one runs stage after stage.

        >>> import sabot_lab as sl
        >>> plan_stages(sl.nexmark(events=None).bids.head(3).graph, 2).bounded
        False
        """
        return all(
            n.op.source.bounded for s in self.stages for n in s.graph if isinstance(n.op, Source)
        )

    def tasks(self) -> list[tuple[int, int]]:
        """Every ``(stage id, partition)`` of the job, producers first."""
        return [(s.stage_id, p) for s in self.stages for p in range(s.partitions)]

    def render(self) -> str:
        """One line per stage and exchange.

        >>> import sabot_lab as sl
        >>> print(plan_stages(sl.from_pydict({"x": [2, 1]}).sort("x").graph, 2).render())
        stage 0 (2 tasks): source → x1
        stage 1 (1 task): x1 → sort
        x1: stage 0 → stage 1, single
        """
        lines = []
        for stage in self.stages:
            names = [
                n.op.source.exchange_id
                if isinstance(n.op, Source) and isinstance(n.op.source, ExchangeSource)
                else f"{n.name} (whole)"
                if n.operator_id in stage.whole and stage.partitions > 1
                else n.name
                for n in stage.graph.topological_sort()
            ]
            tasks = f"{stage.partitions} task{'s' if stage.partitions != 1 else ''}"
            lines.append(f"stage {stage.stage_id} ({tasks}): {' → '.join([*names, *stage.writes])}")
        for x in self.exchanges.values():
            keys = f" on [{', '.join(x.keys)}]" if x.keys else ""
            lines.append(
                f"{x.exchange_id}: stage {x.producer} → stage {x.consumer}, {x.kind}{keys}"
            )
        return "\n".join(lines)


def plan_stages(
    graph: JobGraph, partitions: int, estimated_rows: Mapping[str, float] | None = None
) -> PhysicalPlan:
    """Cut ``graph`` (one output) into stages of ``partitions`` tasks each (one for stages
    that read a single-partition exchange)."""
    if partitions < 1:
        raise PlanError(f"partitions must be at least 1, got {partitions}")
    sinks = graph.sinks()
    if len(sinks) != 1:
        raise PlanError(f"a job graph needs exactly one output operator, this one has {len(sinks)}")
    output = sinks[0].operator_id
    if partitions > 1:
        graph = split_aggregates(graph)
    order = graph.topological_sort()
    crossing: dict[tuple[str, str, int], tuple[str, tuple[str, ...]]] = {}
    for node in order:
        for position, upstream in enumerate(node.upstream):
            edge = _exchange_for(graph, node, position, estimated_rows or {})
            if edge is not None:
                crossing[upstream, node.operator_id, position] = edge

    while True:
        component = _components(order, crossing)
        _, waiting = _stage_order(order, component, crossing)
        if not waiting:
            break
        crossing.update(_cut(graph, order, component, waiting, crossing))
    whole = _read_whole(graph, crossing)
    crossing = {edge: x for edge, x in crossing.items() if edge[0] not in whole}
    crossing = _merged_in_one_task(graph, order, crossing, partitions, estimated_rows or {})
    crossing = _without_repartitions(graph, order, crossing, partitions)
    stage_of = _stages(order, crossing)
    count = len(set(stage_of.values()))
    width = _widths(order, stage_of, crossing, partitions)

    exchanges: dict[str, Exchange] = {}
    inputs: dict[tuple[str, int], str] = {}  # (consumer operator, input position) -> exchange
    edges = sorted(crossing.items(), key=lambda e: (stage_of[e[0][1]], e[0][1], e[0][2]))
    for i, ((u, v, position), (kind, keys)) in enumerate(edges, 1):
        x = Exchange(
            f"x{i}",
            stage_of[u],
            u,
            stage_of[v],
            kind,
            keys,
            width[stage_of[v]],
            graph.node(u).output_schema,
        )
        exchanges[x.exchange_id] = x
        inputs[v, position] = x.exchange_id

    sources = {
        x.exchange_id: ExchangeSource(
            x.exchange_id, x.schema, graph.event_time(x.node_id), graph.bounded(x.node_id)
        )
        for x in exchanges.values()
    }
    stages = []
    for s in range(count):
        members = [n for n in order if stage_of[n.operator_id] == s]
        stage_graph, reads = _stage_graph(graph.job_name, members, inputs, sources)
        writes = tuple(x.exchange_id for x in exchanges.values() if x.producer == s)
        stages.append(
            Stage(
                s,
                stage_graph,
                width[s],
                reads,
                writes,
                output if output in stage_graph.nodes else None,
                tuple(n.operator_id for n in members if n.operator_id in whole),
            )
        )
    return PhysicalPlan(tuple(stages), exchanges)


def _stages(
    order: list[StreamOperatorNode], crossing: Mapping[tuple[str, str, int], object]
) -> dict[str, int]:
    """Each operator's stage number (producers first), for exchanges that let no stage wait
    for itself."""
    component = _components(order, crossing)
    stage_ids, _ = _stage_order(order, component, crossing)
    return {n: stage_ids[c] for n, c in component.items()}


def _widths(
    order: list[StreamOperatorNode],
    stage_of: Mapping[str, int],
    crossing: Mapping[tuple[str, str, int], tuple[str, tuple[str, ...]]],
    partitions: int,
) -> dict[int, int]:
    """Each stage's number of tasks: one if it reads a ``single`` exchange or numbers rows,
    else the largest parallelism one of its operators asks for, else ``partitions``."""
    single = {stage_of[v] for (_, v, _), (kind, _) in crossing.items() if kind == "single"}
    single |= {stage_of[n.operator_id] for n in order if isinstance(n.op, RowIndex)}
    chosen: dict[int, int] = {}  # the largest parallelism an operator of the stage asks for
    for node in order:
        for member in fused_members(node):
            if member.parallelism:
                s = stage_of[node.operator_id]
                chosen[s] = max(chosen.get(s, 0), member.parallelism)
    return {s: 1 if s in single else chosen.get(s, partitions) for s in set(stage_of.values())}


def _read_whole(
    graph: JobGraph, crossing: Mapping[tuple[str, str, int], tuple[str, tuple[str, ...]]]
) -> set[str]:
    """The sources broadcast as they are read (a join's build side, nothing between) that
    every task of the join's stage can read whole instead: each holds the same rows whenever
    it is read (bounded, with a fingerprint), feeds only the join and asks for no
    parallelism of its own. A stage less, and no rows through the exchange."""
    consumers: dict[str, int] = {}
    for node in graph:
        for upstream in node.upstream:
            consumers[upstream] = consumers.get(upstream, 0) + 1
    whole = set()
    for (upstream, _, _), (kind, _) in crossing.items():
        node = graph.node(upstream)
        if kind != "broadcast" or not isinstance(node.op, Source) or node.parallelism:
            continue
        spec = node.op.source
        if consumers[upstream] == 1 and spec.bounded and spec.fingerprint() is not None:
            whole.add(upstream)
    return whole


def _merged_in_one_task(
    graph: JobGraph,
    order: list[StreamOperatorNode],
    crossing: Mapping[tuple[str, str, int], tuple[str, tuple[str, ...]]],
    partitions: int,
    rows: Mapping[str, float],
) -> dict[tuple[str, str, int], tuple[str, tuple[str, ...]]]:
    """``crossing`` with the partial aggregates of a group-by sent to a single partition
    when they are few (its estimated groups times the tasks making them at most
    :data:`MERGED_IN_ONE_TASK`) and it asks for no parallelism: one task merges them
    sooner than many would exchange them, and what follows (a sort) needs no exchange."""
    stage_of = _stages(order, crossing)
    width = _widths(order, stage_of, crossing, partitions)
    merged = dict(crossing)
    for edge, (kind, _) in crossing.items():
        upstream, consumer, _ = edge
        node = graph.node(consumer)
        if kind != "hash" or not isinstance(node.op, GroupBy) or node.op.phase != "final":
            continue
        partials = rows.get(consumer, float("inf")) * width[stage_of[upstream]]
        if not node.parallelism and partials <= MERGED_IN_ONE_TASK:
            merged[edge] = ("single", ())
    return merged


def _without_repartitions(
    graph: JobGraph,
    order: list[StreamOperatorNode],
    crossing: Mapping[tuple[str, str, int], tuple[str, tuple[str, ...]]],
    partitions: int,
) -> dict[tuple[str, str, int], tuple[str, tuple[str, ...]]]:
    """``crossing`` without the exchanges that leave rows where they are: hash exchanges
    whose input is already hash-partitioned on their keys
    (:func:`~sabot_lab.physical.partitioning.partitioned_on`; for an operator with one input,
    on some of them) by a stage of as many tasks as the consumer's, and any exchange
    between two stages of one task. The consumer joins the producer's stage (whose exchanges
    in then have that same number of partitions), unless a stage would then wait for itself
    or run as another number of tasks."""
    kept = dict(crossing)
    for edge, (kind, keys) in crossing.items():
        upstream, consumer, _ = edge
        stage_of = _stages(order, kept)
        width = _widths(order, stage_of, kept, partitions)
        tasks = width[stage_of[consumer]]
        if width[stage_of[upstream]] != tasks:
            continue
        if tasks > 1 and not (
            kind == "hash"
            and _colocated(partitioned_on(graph, kept)[upstream], keys, graph.node(consumer))
        ):
            continue
        trial = {e: x for e, x in kept.items() if e != edge}
        if _stage_order(order, _components(order, trial), trial)[1]:
            continue  # a stage would wait for itself
        merged = _stages(order, trial)
        if _widths(order, merged, trial, partitions)[merged[consumer]] == tasks:
            kept = trial
    return kept


def _colocated(partitioned: Keys, keys: tuple[str, ...], consumer: StreamOperatorNode) -> bool:
    """Whether rows hash-partitioned on ``partitioned`` have the rows of each value of
    ``keys`` in one task, as hashing on ``keys`` would (for an operator with several inputs,
    which must all be partitioned alike: only on exactly ``keys``)."""
    if not partitioned:
        return False
    return partitioned == keys or (len(consumer.upstream) == 1 and set(partitioned) <= set(keys))


def split_aggregates(graph: JobGraph) -> JobGraph:
    """``graph`` with each group-by and global aggregate split into a ``partial`` phase (per
    batch, where its input is) and a ``final`` phase (merging the partials of every task).
    A running aggregate stays whole: its updates replace each other, so partials of them
    cannot be merged; its input is hashed on its keys instead.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"k": [1], "x": [2]}).group_by("k").agg(sl.col("x").mean())
    >>> [(n.name, getattr(n.op, "phase", None)) for n in split_aggregates(s.graph).topological_sort()]
    [('source', None), ('group_by partial', 'partial'), ('group_by', 'final')]
    """
    nodes: list[StreamOperatorNode] = []
    for node in graph.topological_sort():
        op = node.op
        if not isinstance(op, Aggregate) or op.phase is not None or op.running:
            nodes.append(node)
            continue
        input_schema = graph.node(node.upstream[0]).output_schema
        partial = StreamOperatorNode(
            operator_id=f"{node.operator_id}_partial",
            name=f"{node.name} partial",
            schema=HashAggregate(op.keys, op.aggs, input_schema).partial_schema,
            upstream=node.upstream,
            op=op.replace(phase="partial"),
        )
        final = node.replace(
            op=op.replace(phase="final", input_schema=input_schema),
            upstream=(partial.operator_id,),
        )
        nodes += [partial, final]
    return JobGraph.from_upstream(graph.job_name, nodes)


def _exchange_for(
    graph: JobGraph, node: StreamOperatorNode, position: int, rows: Mapping[str, float]
) -> tuple[str, tuple[str, ...]] | None:
    """The exchange on input ``position`` of ``node`` as ``(kind, keys)``, or None."""
    if isinstance(node.op, Aggregate) and node.op.phase == "partial":
        return None  # per batch, where its input is
    exchange = EXCHANGES.get(node.op)
    return None if exchange is None else exchange(graph, node, position, rows)


ExchangeChoice = tuple[str, tuple[str, ...]] | None


def _single(
    graph: JobGraph, node: StreamOperatorNode, position: int, rows: Mapping[str, float]
) -> ExchangeChoice:
    return "single", ()


def _group_keys(
    graph: JobGraph, node: StreamOperatorNode, position: int, rows: Mapping[str, float]
) -> ExchangeChoice:
    keys = node.key_by
    return _hash(graph, node.upstream[position], keys) if keys else ("single", ())


def _join_sides(
    graph: JobGraph, node: StreamOperatorNode, position: int, rows: Mapping[str, float]
) -> ExchangeChoice:
    build = node.upstream[1]
    if rows.get(build, float("inf")) <= BROADCAST_ROWS:
        return ("broadcast", ()) if position == 1 else None
    return _hash(graph, node.upstream[position], _join_keys(node, position))


def _streaming_keys(
    graph: JobGraph, node: StreamOperatorNode, position: int, rows: Mapping[str, float]
) -> ExchangeChoice:
    """A window or stream join: its state is per key, so each key's rows must meet in one
    task (no keys: a single task)."""
    keys = _join_keys(node, position)
    return _hash(graph, node.upstream[position], keys) if keys else ("single", ())


def _join_keys(node: StreamOperatorNode, position: int) -> tuple[str, ...]:
    """The keys input ``position`` of a join is matched on (a window's: its group keys)."""
    op = node.op
    if isinstance(op, HashJoin | IntervalJoin | SymmetricJoin):
        return tuple(op.left_on if position == 0 else op.right_on)
    return node.key_by


EXCHANGES: PhaseTable[
    Callable[[JobGraph, StreamOperatorNode, int, Mapping[str, float]], ExchangeChoice]
] = PhaseTable(
    "physical planning (exchanges)",
    {
        Aggregate: _single,
        Sort: _single,
        Limit: _single,
        GroupBy: _group_keys,
        Distinct: _group_keys,
        HashJoin: _join_sides,
        Window: _streaming_keys,
        IntervalJoin: _streaming_keys,
        SymmetricJoin: _streaming_keys,
        AsofJoin: _streaming_keys,
        WindowFunctions: _streaming_keys,  # each partition's rows meet in one task
        TopN: _streaming_keys,
    },
    skip=[Source, Filter, Project, Map, FlatMap, Fused, Watermark, Union, RowIndex],  # in place
)
"""The exchange each operator class needs on an input, if any."""


def _hash(graph: JobGraph, upstream: str, keys: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """Hash on ``keys`` if every key type can be hashed, else a single partition."""
    schema = graph.node(upstream).output_schema
    if all(_hashable(schema.field(key).type) for key in keys):
        return "hash", keys
    return "single", ()


def _hashable(t: pa.DataType) -> bool:
    """Types :func:`~sabot_lab.kernels.hash_columns` hashes."""
    return (
        is_integer_like(t)
        or pa.types.is_floating(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_decimal(t)
        or pa.types.is_null(t)
    )


def _components(
    order: list[StreamOperatorNode], crossing: Mapping[tuple[str, str, int], object]
) -> dict[str, str]:
    """Each operator's stage representative: operators joined by non-exchange edges."""
    parent = {n.operator_id: n.operator_id for n in order}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for node in order:
        for position, upstream in enumerate(node.upstream):
            if (upstream, node.operator_id, position) not in crossing:
                parent[find(upstream)] = find(node.operator_id)
    return {n.operator_id: find(n.operator_id) for n in order}


def _stage_order(
    order: list[StreamOperatorNode],
    stage_of: Mapping[str, str],
    crossing: Mapping[tuple[str, str, int], object],
) -> tuple[dict[str, int], set[str]]:
    """Stage numbers with every producer before its consumers, and the stages that could not
    be numbered because they wait for themselves (through exchanges)."""
    after: dict[str, set[str]] = {c: set() for c in stage_of.values()}
    for u, v, _ in crossing:
        after[stage_of[v]].add(stage_of[u])
    numbered: dict[str, int] = {}
    first_seen = list(dict.fromkeys(stage_of[n.operator_id] for n in order))
    while len(numbered) < len(first_seen):
        ready = [c for c in first_seen if c not in numbered and after[c] <= numbered.keys()]
        if not ready:
            return numbered, set(first_seen) - numbered.keys()
        numbered[ready[0]] = len(numbered)
    return numbered, set()


def _cut(
    graph: JobGraph,
    order: list[StreamOperatorNode],
    stage_of: Mapping[str, str],
    waiting: set[str],
    crossing: Mapping[tuple[str, str, int], object],
) -> dict[tuple[str, str, int], tuple[str, tuple[str, ...]]]:
    """One more exchange, on the first input not crossing yet of the first operator with
    several inputs among the ``waiting`` stages: any partitioning of a union's input or of a
    join's probe side (its build side is broadcast or hashed already) keeps the result."""
    for node in order:
        if stage_of[node.operator_id] not in waiting or len(node.upstream) < 2:
            continue
        for position, upstream in enumerate(node.upstream):
            edge = (upstream, node.operator_id, position)
            if edge in crossing:
                continue
            if isinstance(node.op, HashJoin):
                keys = _join_keys(node, position)
            else:
                schema = graph.node(upstream).output_schema
                keys = tuple(f.name for f in schema if _hashable(f.type))
            return {edge: _hash(graph, upstream, keys) if keys else ("single", ())}
    raise PlanError("exchanges between stages form a cycle")


def _stage_graph(
    name: str,
    members: list[StreamOperatorNode],
    inputs: Mapping[tuple[str, int], str],
    exchange_sources: Mapping[str, ExchangeSource],
) -> tuple[JobGraph, tuple[str, ...]]:
    """The stage's operators, with a SOURCE reading each exchange that feeds them."""
    nodes: dict[str, StreamOperatorNode] = {}
    reads: list[str] = []
    for node in members:
        upstream = []
        for position, u in enumerate(node.upstream):
            exchange_id = inputs.get((node.operator_id, position))
            if exchange_id is None:
                upstream.append(u)
                continue
            source_id = f"read_{exchange_id}"
            nodes[source_id] = StreamOperatorNode(
                operator_id=source_id,
                name="exchange",
                schema=exchange_sources[exchange_id].schema,
                op=Source(source=exchange_sources[exchange_id]),
            )
            reads.append(exchange_id)
            upstream.append(source_id)
        nodes[node.operator_id] = node.replace(upstream=tuple(upstream))
    return JobGraph.from_upstream(name, nodes.values()), tuple(reads)
