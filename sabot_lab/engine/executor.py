"""Lowers a logical :class:`~sabot_lab.plan.JobGraph` into fused pipelines and runs them.

Stateless operators (filter, select, map, flat_map) and join probes are fused into the
pipeline of their (left) input; sources, join build sides, aggregates, distinct, sort, limit
and union start new pipelines. ``Executor.pipelines`` shows the grouping (``explain`` prints it).

>>> import pyarrow as pa
>>> import sabot_lab as sl
>>> s = sl.from_pydict({"x": [1, 2, 3]}).filter(sl.col("x") > 1).with_columns((sl.col("x") * 10).alias("y"))
>>> ex = Executor(s.graph)
>>> [len(p) for p in ex.pipelines(s.node_id)]
[3]
>>> pa.Table.from_batches(list(ex.run(s.node_id))).to_pydict()
{'x': [2, 3], 'y': [20, 30]}
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any

import pyarrow as pa

from sabot_lab.config import Config, get_config
from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.engine.asof_join import AsofJoin, run_asof_join
from sabot_lab.engine.checkpoints import Barrier, Checkpoints
from sabot_lab.engine.interval_join import IntervalJoin, run_interval_join
from sabot_lab.engine.join import HashJoin
from sabot_lab.engine.merge import merge_streams
from sabot_lab.engine.operator_rows import OperatorRows
from sabot_lab.engine.order import limit_batches, sort_table, top_rows
from sabot_lab.engine.pipeline import Pipeline, Step
from sabot_lab.engine.running import RunningAggregate, run_running
from sabot_lab.engine.shared import shared_pipeline
from sabot_lab.engine.stateless import (
    align_batch,
    filter_batch,
    flat_map_batch,
    map_batch,
    materialize,
    project_batch,
)
from sabot_lab.engine.watermarks import WatermarkAssigner, batches_only, is_marker
from sabot_lab.engine.windows import run_windows, window_operator
from sabot_lab.errors import PlanError
from sabot_lab.expr import Expr, col
from sabot_lab.plan import (
    STATELESS,
    WINDOWS,
    JobGraph,
    OperatorType,
    StreamOperatorNode,
    fused_members,
)
from sabot_lab.plan.sources import ReplayableSource, SplitMark
from sabot_lab.state import StateBackend, open_state
from sabot_lab.window_specs import WindowSpec

__all__ = ["Executor", "ScanObserver", "checkpoint_names", "stateless_steps"]

ScanObserver = Callable[[str, int, bool], None]
"""``(source operator id, rows in a batch it yielded, whether the source has ended)``:
called on the thread reading the source."""

_AGGREGATING = (OperatorType.GROUP_BY, OperatorType.AGGREGATE, OperatorType.DISTINCT)
_COUNTERS = (
    "late_rows",
    "dropped_rows",
    "peak_state_rows",
)  # counters an operator may keep, reported by metrics()


def checkpoint_names(graph: JobGraph) -> dict[str, str]:
    """The name of each operator's part of a checkpoint, by operator id: its place in the plan
    and its kind, the same when the same pipeline is built again (operator ids are not).

    >>> import sabot_lab as sl
    >>> plan = sl.from_pydict({"x": [1]}).filter(sl.col("x") > 0).optimize()
    >>> sorted(checkpoint_names(plan.graph).values())
    ['000-source', '001-filter']
    """
    order = graph.topological_sort()
    return {n.operator_id: f"{i:03d}-{n.operator_type.value}" for i, n in enumerate(order)}


class Executor:
    """Runs the operators of one job graph in this process."""

    def __init__(
        self,
        graph: JobGraph,
        config: Config | None = None,
        checkpoints: Checkpoints | None = None,
        on_scan: ScanObserver | None = None,
        rows: OperatorRows | None = None,
    ) -> None:
        self.graph = graph
        self.config = config or get_config()
        self.checkpoints = checkpoints
        """Where snapshots go when checkpoints are requested, and the one to restore from
        (see :mod:`sabot_lab.engine.checkpoints`); None: no checkpoints."""
        self.on_scan = on_scan
        """Told of each batch a source yields and of each source's end (progress bars)."""
        self.rows = rows
        """Where the rows out of every operator are counted (live plan numbers); None: not
        counted."""
        self._names: dict[str, str] = {}  # operator id -> its name in checkpoints
        self._split_watermarks: set[str] = set()  # scans whose split marks reach a watermark
        self._lowered: dict[str, Pipeline] = {}
        self._finished: list[Pipeline] = []
        self._counted: dict[str, Any] = {}  # operator id -> the object keeping its counters
        self._readers: dict[str, int] = {}  # operator id -> operators reading its output

    def metrics(self) -> dict[str, dict[str, int]]:
        """Counters of the operators run so far: ``{operator id: {"late_rows": n, ...}}``."""
        return {
            node_id: {c: getattr(op, c) for c in _COUNTERS if hasattr(op, c)}
            for node_id, op in self._counted.items()
        }

    def run(self, node_id: str) -> Iterator[pa.RecordBatch]:
        """Yield the output batches of operator ``node_id``."""
        return batches_only(self.run_items(node_id)[0])

    def run_items(self, *node_ids: str) -> list[Iterator[Any]]:
        """The output of each of ``node_ids`` from one run, batches and the watermarks between
        them in order: an operator several of them need runs once. Read the iterators on
        separate threads when one may wait for another (unbounded input).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"x": [1, 2]}).filter(sl.col("x") > 1)
        >>> a, b = Executor(s.graph).run_items(s.node_id, s.node_id)
        >>> [t.num_rows for t in a], [t.num_rows for t in b]
        ([1], [1])
        """
        self._readers = _readers(self.graph, node_ids)
        return [self._items(self._lower(n), self.graph.node(n).output_schema) for n in node_ids]

    def _items(self, pipeline: Pipeline, schema: pa.Schema) -> Iterator[Any]:
        for item in pipeline.run(self.config):
            yield item if is_marker(item) else materialize(item, schema)

    def pipelines(self, node_id: str) -> list[tuple[str, ...]]:
        """Operator ids of each pipeline needed for ``node_id``, in the order they are built."""
        self._lowered, self._finished = {}, []
        self._readers = _readers(self.graph, (node_id,))
        self._finished.append(self._lower(node_id))
        return [p.node_ids for p in self._finished]

    # -- lowering ------------------------------------------------------------------
    def _lower(self, node_id: str) -> Pipeline:
        if node_id not in self._lowered:
            pipeline = self._lower_node(self.graph.node(node_id))
            if self.rows is not None:
                pipeline = self.rows.counted(pipeline, node_id)
            readers = self._readers.get(node_id, 1)
            if readers > 1:  # feeds several operators: run it once for all of them
                pipeline = shared_pipeline(pipeline, self.config, readers)
            self._lowered[node_id] = pipeline
        return self._lowered[node_id]

    def _breaker_input(
        self, node_id: str, step: Step | None = None, owner: str | None = None
    ) -> Pipeline:
        """The pipeline feeding a pipeline breaker, with the breaker's per-batch ``step`` fused in."""
        pipeline = self._lower(node_id)
        if step is not None:
            pipeline = pipeline.extend(step, owner)
        self._finished.append(pipeline)
        return pipeline

    def _lower_node(self, node: StreamOperatorNode) -> Pipeline:
        kind, label = node.operator_type, f"{node.name} ({node.operator_id})"
        if kind == OperatorType.SOURCE:
            return Pipeline(partial(self._scan, node), (), (node.operator_id,))
        if kind in STATELESS:
            input_schema = self.graph.node(node.upstream[0]).output_schema
            pipeline = self._lower(node.upstream[0])
            for step in stateless_steps(fused_members(node), input_schema):
                pipeline = pipeline.extend(step)
            return pipeline.with_node(node.operator_id)
        if kind == OperatorType.HASH_JOIN:
            return self._lower_join(node, label)
        if kind in _AGGREGATING:
            return self._lower_aggregate(node)
        if kind == OperatorType.SORT:
            return self._lower_sort(node)
        if kind == OperatorType.LIMIT:
            return self._lower_limit(node)
        if kind == OperatorType.UNION:
            return self._lower_union(node)
        if kind == OperatorType.WATERMARK:
            return self._lower_watermark(node)
        if kind in WINDOWS:
            return self._lower_window(node)
        if kind == OperatorType.INTERVAL_JOIN:
            return self._lower_interval_join(node)
        if kind == OperatorType.ASOF_JOIN:
            return self._lower_asof_join(node)
        raise PlanError(f"the in-process engine cannot run {kind.value} operators yet ({label})")

    def _scan(self, node: StreamOperatorNode) -> Iterator[Any]:
        params = node.parameters
        source, args = params["source"], (params.get("columns"), params.get("predicate"))
        checkpoints = self.checkpoints
        if checkpoints is not None and checkpoints.finished:
            return iter(())  # it had read everything before the checkpoint restored
        marked = node.operator_id in self._split_watermarks
        batches: Iterator[Any]
        if not isinstance(source, ReplayableSource) or (checkpoints is None and not marked):
            batches = source.scan(self.config.batch_size, *args)
        else:
            if checkpoints is None:
                replay = source.replay(self.config.batch_size, *args)
                batches = (item for item, _ in replay if item is not None)
            else:
                position = checkpoints.load(self._saved_as(node.operator_id))
                replay = source.replay(self.config.batch_size, *args, position=position)
                batches = self._barriers(self._saved_as(node.operator_id), replay)
            if not marked:  # no watermark follows the source's splits here
                batches = (item for item in batches if not isinstance(item, SplitMark))
        limit = params.get("limit")
        if limit is not None:
            batches = limit_batches(batches, limit)
        return batches if self.on_scan is None else _observed(batches, node, self.on_scan)

    def _saved_as(self, operator_id: str) -> str:
        """The name an operator's part of a checkpoint is kept under: its place in the plan
        and its kind, the same when the same pipeline is built again (operator ids are not)."""
        if not self._names:
            self._names = checkpoint_names(self.graph)
        return self._names[operator_id]

    def _barriers(
        self, operator_id: str, replay: Iterator[tuple[pa.RecordBatch | SplitMark | None, Any]]
    ) -> Iterator[Any]:
        """A source's batches with a barrier after the batch during which each checkpoint was
        requested, its position saved first."""
        checkpoints = self.checkpoints
        assert checkpoints is not None
        sent = checkpoints.restore or 0
        for batch, position in replay:
            if batch is not None:
                yield batch
            while sent < checkpoints.requested():
                sent += 1
                checkpoints.save(sent, operator_id, position)
                yield Barrier(sent)

    def _new_pipeline(self, node: StreamOperatorNode, source: Any) -> Pipeline:
        return Pipeline(source, (), (node.operator_id,))

    def _lower_join(self, node: StreamOperatorNode, label: str) -> Pipeline:
        left_id, right_id = node.upstream
        build = self._breaker_input(right_id)
        params = node.parameters
        join = HashJoin(
            how=params["how"],
            left_on=params["left_on"],
            right_on=params["right_on"],
            right_payload=params["right_payload"],
            left_payload=params.get("left_payload"),
            schema=node.output_schema,
            build_input=lambda: build.run_batches(self.config),
            build_schema=self.graph.node(right_id).output_schema,
        )
        return self._lower(left_id).extend(Step(label, join.probe, join.prepare), node.operator_id)

    def _lower_aggregate(self, node: StreamOperatorNode) -> Pipeline:
        """An aggregate in one operator, or split into phases that run in different tasks
        (``phase``: ``partial`` per batch; ``final`` merges partials, reading the partial
        rows of an aggregate over ``input_schema``)."""
        (child_id,) = node.upstream
        params = node.parameters
        input_schema = params.get("input_schema") or self.graph.node(child_id).output_schema
        if params.get("running"):
            child = self._breaker_input(child_id)
            return self._stateful(
                node,
                lambda state: RunningAggregate(params["keys"], params["aggs"], input_schema, state),
                lambda op: run_running(op, child.run(self.config), self.config.batch_size),
            )
        if node.operator_type == OperatorType.DISTINCT:
            keys, aggs = list(input_schema.names), []
        else:
            keys, aggs = params["keys"], params["aggs"]
        aggregate = HashAggregate(keys, aggs, input_schema)
        label = f"{node.name} ({node.operator_id}) partial"
        phase = params.get("phase")
        if phase == "partial":
            pipeline = self._lower(child_id).extend(Step(label, aggregate.partial_batch))
            return pipeline.with_node(node.operator_id)
        step = None if phase == "final" else Step(label, aggregate.partial)
        child = self._breaker_input(child_id, step, node.operator_id)

        def source() -> Iterator[pa.RecordBatch]:
            partials = [
                p if isinstance(p, pa.Table) else pa.Table.from_batches([p])
                for p in child.run_batches(self.config)
            ]
            table = aggregate.finish(partials)
            return iter(table.to_batches(max_chunksize=self.config.batch_size))

        return self._new_pipeline(node, source)

    def _lower_sort(self, node: StreamOperatorNode) -> Pipeline:
        (child_id,) = node.upstream
        by: list[Expr] = node.parameters["by"]
        descending: list[bool] = node.parameters["descending"]
        input_schema = self.graph.node(child_id).output_schema
        names = [e.param("name") if e.op == "col" else f"__sort{i}" for i, e in enumerate(by)]
        extra = [(n, e) for n, e in zip(names, by, strict=True) if n.startswith("__sort")]
        wide, step = input_schema, None
        if extra:
            exprs = [col(c) for c in input_schema.names] + [e.alias(n) for n, e in extra]
            wide = pa.schema(
                [*input_schema, *(e.alias(n).output_field(input_schema) for n, e in extra)]
            )
            label = f"{node.name} ({node.operator_id}) keys"
            step = Step(label, partial(project_batch, exprs=exprs, schema=wide))
        child = self._breaker_input(child_id, step)

        top_n = node.parameters.get("top_n")

        def source() -> Iterator[pa.RecordBatch]:
            batches = (materialize(b, wide) for b in child.run_batches(self.config))
            if top_n is None:
                table = pa.Table.from_batches(list(batches), schema=wide)
            else:
                table = top_rows(batches, wide, names, descending, top_n)
            ordered = sort_table(table, names, descending).select(input_schema.names)
            return iter(ordered.combine_chunks().to_batches(max_chunksize=self.config.batch_size))

        return self._new_pipeline(node, source)

    def _lower_limit(self, node: StreamOperatorNode) -> Pipeline:
        """The first rows of the input; a checkpoint keeps how many came out, so a restored
        run gives only the rest (an offset is skipped again unless rows came out already)."""
        child = self._breaker_input(node.upstream[0])
        n, offset = node.parameters["n"], node.parameters.get("offset", 0)
        checkpoints, name = self.checkpoints, self._saved_as(node.operator_id)

        def source() -> Iterator[Any]:
            out = (checkpoints.load(name) or {}).get("rows", 0) if checkpoints else 0
            skip = offset if out == 0 else 0
            for item in limit_batches(child.run(self.config), n - out, skip):
                if isinstance(item, Barrier):
                    assert checkpoints is not None
                    checkpoints.save(item.checkpoint, name, {"rows": out})
                elif not is_marker(item):
                    out += item.num_rows
                yield item

        return self._new_pipeline(node, source)

    def _lower_union(self, node: StreamOperatorNode) -> Pipeline:
        """Inputs one after the other; inputs with event time are merged as they come (each
        read on its own thread) with the watermark the minimum of theirs."""
        align = Step(
            f"{node.name} ({node.operator_id}) align",
            partial(align_batch, schema=node.output_schema),
        )
        if any(
            self.graph.event_time(c) or not self.graph.bounded(c) for c in node.upstream
        ):  # read at once: an unbounded input would never let the next one in
            return self._new_pipeline(node, self._merged_inputs(node, tagged=False, step=align))
        children = [self._breaker_input(child_id, align) for child_id in node.upstream]
        return self._new_pipeline(
            node, lambda: chain.from_iterable(c.run(self.config) for c in children)
        )

    def _merged_inputs(
        self, node: StreamOperatorNode, tagged: bool, step: Step | None = None
    ) -> Any:
        """A function merging the inputs of ``node`` as they arrive (see :func:`merge_streams`),
        each input's idle timeout taken from its watermark operator. Each input's batches get
        ``step``, or else are materialized to the input's schema (no dictionary encodings: the
        stream joins hand them to Acero, which does not take every encoding)."""
        children = [
            self._breaker_input(child_id, step or self._materialized(child_id))
            for child_id in node.upstream
        ]
        times = [self.graph.event_time(child_id) for child_id in node.upstream]
        idle = [None if t is None else t["idle_timeout"] for t in times]
        timeouts = [None if us is None else us / 1e6 for us in idle]
        timed = [t is not None for t in times]
        return lambda: merge_streams(
            [partial(c.run, self.config) for c in children], timeouts, tagged, timed
        )

    def _materialized(self, node_id: str) -> Step:
        schema = self.graph.node(node_id).output_schema
        return Step(f"materialize ({node_id})", partial(materialize, schema=schema))

    def _lower_interval_join(self, node: StreamOperatorNode) -> Pipeline:
        p = node.parameters
        inputs = self._merged_inputs(node, tagged=True)
        return self._stateful(
            node,
            lambda state: IntervalJoin(
                p["left_on"], p["right_on"], p["time"], p["other_time"], p["lower"], p["upper"],
                p["right_payload"], p["payload_names"], state,
            ),
            lambda join: run_interval_join(join, inputs(), self.config.batch_size),
        )  # fmt: skip

    def _lower_asof_join(self, node: StreamOperatorNode) -> Pipeline:
        p = node.parameters
        inputs = self._merged_inputs(node, tagged=True)
        right = self.graph.node(node.upstream[1]).output_schema
        return self._stateful(
            node,
            lambda state: AsofJoin(
                p["on"], p["by"], p["tolerance"], p["right_payload"], p["payload_names"],
                right, state,
            ),
            lambda join: run_asof_join(join, inputs(), self.config.batch_size),
        )  # fmt: skip

    def _stateful(
        self,
        node: StreamOperatorNode,
        build: Callable[[StateBackend], Any],
        run: Callable[[Any], Iterator[Any]],
    ) -> Pipeline:
        """A pipeline running a stateful streaming operator made by ``build`` with a fresh
        state backend (closed when the run ends), or the one of the checkpoint restored; its
        state is snapshot as a barrier leaves it (after every row before the barrier). Its
        counters are reported by metrics()."""
        checkpoints, name = self.checkpoints, self._saved_as(node.operator_id)

        def source() -> Iterator[Any]:
            state = open_state(self.config.state_backend)
            restored = checkpoints.restored(name) if checkpoints and checkpoints.restore else None
            if restored is not None:
                assert checkpoints is not None
                state.restore(restored, checkpoints.shared(name))
            op = build(state)
            self._counted[node.operator_id] = op
            try:
                for item in run(op):
                    if isinstance(item, Barrier):
                        assert checkpoints is not None
                        state.snapshot(
                            checkpoints.path(item.checkpoint, name), checkpoints.shared(name)
                        )
                    yield item
            finally:
                state.close()

        return self._new_pipeline(node, source)

    def _lower_watermark(self, node: StreamOperatorNode) -> Pipeline:
        params = node.parameters
        unit = node.output_schema.field(params["column"]).type.unit
        assigner = WatermarkAssigner(params["column"], unit, params["delay"], params["keep"])
        self._counted[node.operator_id] = assigner
        scan = self._scan_through_row_steps(node.upstream[0])
        if scan is not None:
            self._split_watermarks.add(scan)
        child = self._breaker_input(node.upstream[0])
        checkpoints, name = self.checkpoints, self._saved_as(node.operator_id)

        def source() -> Iterator[Any]:
            if checkpoints is not None and (saved := checkpoints.load(name)):
                assigner.restore(saved)
            for item in assigner.run(child.run(self.config)):
                if isinstance(item, Barrier):
                    assert checkpoints is not None
                    checkpoints.save(item.checkpoint, name, assigner.state())
                yield item

        return self._new_pipeline(node, source)

    def _scan_through_row_steps(self, operator_id: str) -> str | None:
        """The source feeding ``operator_id`` through row-by-row operators only, if any."""
        node = self.graph.node(operator_id)
        while node.operator_type in STATELESS and len(node.upstream) == 1:
            node = self.graph.node(node.upstream[0])
        return node.operator_id if node.operator_type == OperatorType.SOURCE else None

    def _lower_window(self, node: StreamOperatorNode) -> Pipeline:
        (child_id,) = node.upstream
        p = node.parameters
        spec = WindowSpec.from_dict(p["window"])
        early = None if p.get("early") is None else p["early"] / 1e6
        schema = self.graph.node(child_id).output_schema
        child = self._breaker_input(child_id)
        return self._stateful(
            node,
            lambda state: window_operator(spec, p["keys"], p["aggs"], schema, state),
            lambda op: run_windows(op, child.run(self.config), self.config.batch_size, early=early),
        )


def _observed(
    items: Iterator[Any], node: StreamOperatorNode, on_scan: ScanObserver
) -> Iterator[Any]:
    """``items`` of source ``node``, telling ``on_scan`` of each batch and of the end."""
    for item in items:
        if isinstance(item, pa.RecordBatch):
            on_scan(node.operator_id, item.num_rows, False)
        yield item
    on_scan(node.operator_id, 0, True)


def _readers(graph: JobGraph, outputs: Sequence[str]) -> dict[str, int]:
    """How many readers each operator needed for ``outputs`` has: the operators needed that
    read it, and each time it is itself one of the outputs."""
    needed: set[str] = set()
    for output in outputs:
        needed |= {n.operator_id for n in graph.subgraph(output)}
    readers = {i: sum(d in needed for d in graph.node(i).downstream) for i in needed}
    for output in outputs:
        readers[output] += 1
    return readers


def stateless_steps(members: list[StreamOperatorNode], input_schema: pa.Schema) -> list[Step]:
    """The per-batch steps of a chain of stateless operators (one operator, or the members of a
    fused one). A filter followed by a pure column selection becomes one step that copies only
    the selected columns.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1, 2], "y": [3, 4]}).filter(sl.col("x") > 1).select("y")
    >>> g = s.optimize().graph
    >>> (fused,) = [n for n in g if n.operator_type == OperatorType.FUSED]
    >>> [step.label for step in stateless_steps(fused_members(fused), g.node(fused.upstream[0]).output_schema)]
    ['filter (filter_...) + select (select_...)']
    """
    steps: list[Step] = []
    i = 0
    while i < len(members):
        node, params = members[i], members[i].parameters
        label = f"{node.name} ({node.operator_id})"
        after = members[i + 1] if i + 1 < len(members) else None
        kind, schema = node.operator_type, node.output_schema
        if kind == OperatorType.FILTER and after is not None and _pure_selection(after):
            names = [e.param("name") for e in after.parameters["exprs"]]
            label += f" + {after.name} ({after.operator_id})"
            fn = partial(filter_batch, predicate=params["predicate"], columns=names)
            i += 1
        elif kind == OperatorType.FILTER:
            fn = partial(filter_batch, predicate=params["predicate"])
        elif kind == OperatorType.SELECT:
            fn = partial(project_batch, exprs=params["exprs"], schema=schema)
        elif kind == OperatorType.MAP:
            fn = partial(
                map_batch, fn=params["fn"], schema=schema, label=label, input_schema=input_schema
            )
        elif kind == OperatorType.FLAT_MAP:
            fn = partial(flat_map_batch, fn=params["fn"], schema=schema, label=label)
        else:
            raise PlanError(f"{label} is not a per-batch operator")
        steps.append(Step(label, fn))
        input_schema = members[i].output_schema
        i += 1
    return steps


def _pure_selection(node: StreamOperatorNode) -> bool:
    return node.operator_type == OperatorType.SELECT and all(
        e.op == "col" for e in node.parameters["exprs"]
    )
