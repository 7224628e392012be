"""Lowers a logical :class:`~sabot_lab.logical.JobGraph` into fused pipelines and runs them.

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

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import chain
from typing import Any

import pyarrow as pa

from sabot_lab.config import Config, get_config
from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.engine.asof_join import AsofJoin as AsofJoinOperator
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.fields_filter import FieldsFilter
from sabot_lab.engine.interval_join import IntervalJoin as IntervalJoinOperator
from sabot_lab.engine.items import (
    Barrier,
    Idle,
    Marker,
    RuntimeItem,
    SplitMark,
    Tagged,
    batches_only,
    is_marker,
)
from sabot_lab.engine.join import HashJoin as HashJoinOperator
from sabot_lab.engine.join_checkpoints import KeptBuild
from sabot_lab.engine.left_build_join import LeftBuildJoin
from sabot_lab.engine.memory_pools import use_memory_pool
from sabot_lab.engine.merge import merge_streams
from sabot_lab.engine.operator_rows import OperatorRows
from sabot_lab.engine.order import limit_batches, number_rows, sort_table, top_rows
from sabot_lab.engine.pipeline import Pipeline, Step
from sabot_lab.engine.processing_time import ProcessingTimeClock
from sabot_lab.engine.retracting import RetractingAggregate
from sabot_lab.engine.running import RunningAggregate
from sabot_lab.engine.selections import select_rows
from sabot_lab.engine.shared import shared_pipeline
from sabot_lab.engine.shared_subexpressions import SharedProjection
from sabot_lab.engine.state import StateBackend, open_state
from sabot_lab.engine.stateless import (
    align_batch,
    filter_batch,
    flat_map_batch,
    map_batch,
    materialize,
    project_batch,
    struct_fields_read,
)
from sabot_lab.engine.stream_operator import StreamOperator, drive
from sabot_lab.engine.stream_window_functions import StreamWindowFunctions
from sabot_lab.engine.symmetric_join import SymmetricJoin as SymmetricJoinOperator
from sabot_lab.engine.top_n import TopN as TopNOperator
from sabot_lab.engine.watermarks import WatermarkAssigner
from sabot_lab.engine.window_aggregate import CascadedWindows, window_operator
from sabot_lab.engine.window_functions import window_columns
from sabot_lab.errors import PlanError
from sabot_lab.expr import Expr, col
from sabot_lab.expr.nodes import Column
from sabot_lab.logical import (
    Aggregate,
    AsofJoin,
    CascadedWindow,
    Distinct,
    Filter,
    FlatMap,
    Fused,
    HashJoin,
    IntervalJoin,
    JobGraph,
    Limit,
    Map,
    OverWindow,
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
from sabot_lab.logical.layouts import engine_schema, to_engine_layout
from sabot_lab.logical.sources import ReplayableSource
from sabot_lab.window_specs import WindowSpec

__all__ = [
    "BATCH_STEPS",
    "LOWERING",
    "Executor",
    "ScanObserver",
    "checkpoint_names",
    "stateless_steps",
]

ScanObserver = Callable[[str, int, bool], None]
"""``(source operator id, rows in a batch it yielded, whether the source has ended)``:
called on the thread reading the source."""

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
        use_memory_pool(self.config.engine.memory_pool)
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
        self._encoded: dict[str, list[str]] = {}  # scan id -> text keys it may keep encoded
        self._marked_scans: set[str] = set()  # scans whose filter prunes: rows marked after

    def metrics(self) -> dict[str, dict[str, int]]:
        """Counters of the operators run so far: ``{operator id: {"late_rows": n, ...}}``."""
        return {
            node_id: {c: getattr(op, c) for c in _COUNTERS if hasattr(op, c)}
            for node_id, op in self._counted.items()
        }

    def run(self, node_id: str) -> Iterator[pa.RecordBatch]:
        """Yield the output batches of operator ``node_id``."""
        return batches_only(self.run_items(node_id)[0])

    def count_rows(self, node_id: str) -> int:
        """How many rows operator ``node_id`` gives, read to its end: its batches are counted
        as they leave their pipeline, text the pipeline keeps encoded left so (a discarding
        sink's work).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"x": [1, 2, 3]}).filter(sl.col("x") > 1)
        >>> Executor(s.graph).count_rows(s.node_id)
        2
        """
        self._readers = _readers(self.graph, (node_id,))
        items = self._lower(node_id).run(self.config)
        return sum(batch.num_rows for batch in batches_only(items))

    def run_items(self, *node_ids: str) -> list[Iterator[RuntimeItem]]:
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

    def _items(self, pipeline: Pipeline, schema: pa.Schema) -> Iterator[RuntimeItem]:
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
        lower = LOWERING.get(node.op)
        if lower is None:
            raise PlanError(
                f"the in-process engine cannot run {node.operator_type.value} operators yet "
                f"({node.name} ({node.operator_id}))"
            )
        return lower(self, node)

    def _lower_source(self, node: StreamOperatorNode) -> Pipeline:
        return Pipeline(partial(self._scan, node), (), (node.operator_id,))

    def _lower_per_batch(self, node: StreamOperatorNode) -> Pipeline:
        input_schema = self.graph.node(node.upstream[0]).output_schema
        pipeline = self._lower(node.upstream[0])
        for step in stateless_steps(fused_members(node), input_schema):
            pipeline = pipeline.extend(step)
        return pipeline.with_node(node.operator_id)

    def _scan(self, node: StreamOperatorNode) -> Iterator[RuntimeItem]:
        op = node.op
        assert isinstance(op, Source)
        source, args = op.source, (op.columns, op.predicate)
        checkpoints = self.checkpoints
        if checkpoints is not None and checkpoints.finished:
            return iter(())  # it had read everything before the checkpoint restored
        marked = node.operator_id in self._split_watermarks
        batches: Iterator[RuntimeItem]
        schema = node.output_schema
        encoded = self._encoded.get(node.operator_id)
        pruned = node.operator_id in self._marked_scans  # rows marked by the step after
        if (encoded or pruned) and checkpoints is None and not marked:
            assert isinstance(source, ReplayableSource)
            options: dict[str, Any] = {"encoded": encoded} if encoded else {}
            if pruned:
                options["filter_rows"] = False
                schema = _with_filter_columns(schema, source.schema, op.predicate)
            replay = source.replay(self.config.engine.batch_size, *args, **options)
            batches = (batch for batch, _ in replay if batch is not None)
            if encoded:
                schema = _encoded_schema(schema, encoded)
        elif not isinstance(source, ReplayableSource) or (
            checkpoints is None and not marked and source.bounded
        ):
            batches = source.scan(self.config.engine.batch_size, *args)
        else:
            if checkpoints is None:  # (a live feed says when it has nothing new)
                replay = self._polls(source.replay(self.config.engine.batch_size, *args))
                batches = (Idle() if item is None else item for item, _ in replay)
            else:
                position = checkpoints.load(self._saved_as(node.operator_id))
                replay = source.replay(self.config.engine.batch_size, *args, position=position)
                batches = self._barriers(self._saved_as(node.operator_id), self._polls(replay))
            if not marked:  # no watermark follows the source's splits here
                batches = (item for item in batches if not isinstance(item, SplitMark))
        if op.limit is not None:
            batches = limit_batches(batches, op.limit)
        batches = _in_engine_layout(batches, schema)
        return batches if self.on_scan is None else _observed(batches, node, self.on_scan)

    def _polls(self, replay: Iterator[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        """A source's ``replay`` that stops at its next poll once the task was cancelled
        (see :meth:`OperatorRows.check`): a live source read to its end polls on without a
        row, and nothing downstream would see the cancel (its worker thread, its task slot
        on an agent, would stay taken for ever)."""
        if self.rows is None:
            return replay
        return _checked_each(replay, self.rows.check)

    def _saved_as(self, operator_id: str) -> str:
        """The name an operator's part of a checkpoint is kept under: its place in the plan
        and its kind, the same when the same pipeline is built again (operator ids are not)."""
        if not self._names:
            self._names = checkpoint_names(self.graph)
        return self._names[operator_id]

    def _barriers(
        self, operator_id: str, replay: Iterator[tuple[pa.RecordBatch | SplitMark | None, Any]]
    ) -> Iterator[RuntimeItem]:
        """A source's batches with a barrier after the batch during which each checkpoint was
        requested, its position saved first."""
        checkpoints = self.checkpoints
        assert checkpoints is not None
        sent = checkpoints.restore or 0
        for batch, position in replay:
            yield Idle() if batch is None else batch
            while sent < checkpoints.requested():
                sent += 1
                checkpoints.save(sent, operator_id, position)
                yield Barrier(sent)

    def _new_pipeline(self, node: StreamOperatorNode, source: Any) -> Pipeline:
        return Pipeline(source, (), (node.operator_id,))

    def _lower_join(self, node: StreamOperatorNode) -> Pipeline:
        """A hash join built on its right input; in a job that takes checkpoints, each one
        keeps the build rows (:mod:`~sabot_lab.engine.join_checkpoints`). A semi, anti or left
        join the optimizer built on its left input is built on its right one there (the
        left-built join's marks are kept in no checkpoint)."""
        left_id, right_id = node.upstream
        op, label = node.op, f"{node.name} ({node.operator_id})"
        assert isinstance(op, HashJoin)
        checkpoints = self.checkpoints
        if op.build_side == "left" and checkpoints is None:
            return self._lower_left_build_join(node)
        build = self._breaker_input(right_id)
        build_schema = self.graph.node(right_id).output_schema
        kept = None
        if checkpoints is not None:
            kept = KeptBuild(checkpoints, self._saved_as(node.operator_id), build_schema)

        def build_rows() -> Iterator[pa.RecordBatch]:
            rows = build.run_batches(self.config)
            return rows if kept is None else kept.rows(rows)

        join = HashJoinOperator(
            how=op.how,
            left_on=op.left_on,
            right_on=op.right_on,
            right_payload=op.right_payload,
            left_payload=op.left_payload,
            schema=node.output_schema,
            build_input=build_rows,
            build_schema=build_schema,
            probe_schema=self.graph.node(left_id).output_schema,
        )
        joined = self._lower(left_id).extend(
            Step(label, join.probe, join.prepare), node.operator_id
        )
        if kept is None:
            return joined

        def source() -> Iterator[RuntimeItem]:
            for item in joined.run(self.config):
                if isinstance(item, Barrier):
                    kept.save(item.checkpoint)
                yield item

        return self._new_pipeline(node, source)

    def _lower_left_build_join(self, node: StreamOperatorNode) -> Pipeline:
        """A semi, anti or left join built on its left input: the right input's batches mark
        the left rows they match (a left join's matched rows come out meanwhile), then the
        kept left rows come out."""
        left_id, right_id = node.upstream
        op = node.op
        assert isinstance(op, HashJoin)
        left = self._breaker_input(left_id)
        join = LeftBuildJoin(
            how=op.how,
            left_on=op.left_on,
            right_on=op.right_on,
            left_payload=op.left_payload,
            schema=node.output_schema,
            build_input=lambda: left.run_batches(self.config),
            build_schema=self.graph.node(left_id).output_schema,
            right_payload=op.right_payload,
        )
        label = f"{node.name} ({node.operator_id})"
        step = join.probe if op.how == "left" else join.mark
        right = self._breaker_input(right_id, Step(label, step, join.prepare), node.operator_id)

        def source() -> Iterator[pa.RecordBatch]:
            yield from right.run_batches(self.config)  # a semi or anti join's marks yield none
            yield from join.result(self.config.engine.batch_size)

        return self._new_pipeline(node, source)

    def _lower_aggregate(self, node: StreamOperatorNode) -> Pipeline:
        """An aggregate in one operator, or split into phases that run in different tasks
        (``phase``: ``partial`` per batch, merged per task at the end of a bounded input in
        a job without checkpoints (:meth:`~.HashAggregate.combined_partials`); ``final``
        merges partials, reading the partial rows of an aggregate over ``input_schema``)."""
        (child_id,) = node.upstream
        op = node.op
        assert isinstance(op, Aggregate | Distinct)
        input_schema = self.graph.node(child_id).output_schema
        phase = None
        if isinstance(op, Distinct):
            keys, aggs = list(input_schema.names), []
        else:
            keys, aggs, phase = op.keys, op.aggs, op.phase
            input_schema = op.input_schema or input_schema
            if op.running:
                child = self._breaker_input(child_id)
                schema, updates_of = input_schema, op.updates_of
                return self._stateful(
                    node,
                    lambda state: (
                        RunningAggregate(keys, aggs, schema, state)
                        if updates_of is None
                        else RetractingAggregate(keys, aggs, schema, state, updates_of)
                    ),
                    lambda: child.run(self.config),
                )
        aggregate = HashAggregate(keys, aggs, input_schema)
        label = f"{node.name} ({node.operator_id}) partial"
        if phase == "partial" and (
            self.checkpoints is not None or not self.graph.bounded(child_id)
        ):
            pipeline = self._lower(child_id).extend(Step(label, aggregate.partial_batch))
            return pipeline.with_node(node.operator_id)
        encoded: list[str] = []
        if isinstance(op, Aggregate) and phase is None and self._scans_only_for(child_id):
            # the partials group a Parquet file's dictionary-encoded keys by their codes
            encoded = [k for k in keys if _is_text(input_schema.field(k).type)]
        if phase != "final" and aggregate.takes_selections(encoded):
            self._select_for(child_id)
        if phase == "partial":  # a task's partials merged at its input's end
            parts = self._breaker_input(child_id, Step(label, aggregate.partial), node.operator_id)

            def combined() -> Iterator[pa.RecordBatch]:
                tables = _as_tables(parts.run_batches(self.config))
                for table in aggregate.combined_partials(tables):
                    yield from table.to_batches(max_chunksize=self.config.engine.batch_size)

            return self._new_pipeline(node, combined)
        if encoded:
            self._encoded[child_id] = encoded
        step = None if phase == "final" else Step(label, aggregate.partial)
        child = self._breaker_input(child_id, step, node.operator_id)

        def source() -> Iterator[pa.RecordBatch]:
            table = aggregate.finish(list(_as_tables(child.run_batches(self.config))))
            return iter(table.to_batches(max_chunksize=self.config.engine.batch_size))

        return self._new_pipeline(node, source)

    def _select_for(self, node_id: str) -> None:
        """Lower ``node_id``, when it is a filter only the aggregate after it reads, or a
        source whose filter may mark its rows (:meth:`_marks_rows`), to mark the rows it
        keeps rather than copy them (:mod:`~.selections`): that aggregate's partial counts
        them by mask."""
        node = self.graph.node(node_id)
        if self._readers.get(node_id, 1) > 1 or node_id in self._lowered:
            return
        if isinstance(node.op, Filter):
            upstream = self._lower(node.upstream[0])
        elif isinstance(node.op, Source) and self._marks_rows(node):
            self._marked_scans.add(node_id)
            upstream = self._lower_source(node)
        else:
            return
        assert node.op.predicate is not None
        label = f"{node.name} ({node.operator_id})"
        step = Step(label, partial(select_rows, predicate=node.op.predicate))
        pipeline = upstream.extend(step)
        if node_id not in pipeline.node_ids:
            pipeline = pipeline.with_node(node_id)
        if self.rows is not None:
            pipeline = self.rows.counted(pipeline, node_id)
        self._lowered[node_id] = pipeline

    def _marks_rows(self, node: StreamOperatorNode) -> bool:
        """True if the source ``node``'s filter may only prune its files and row groups,
        its rows then marked by a step after it: a bounded file scan without checkpoints
        or a limit (:meth:`~sabot_lab.logical.sources.ReplayableSource.prunes_only`)."""
        op = node.op
        assert isinstance(op, Source)
        source = op.source
        return (
            op.predicate is not None
            and op.limit is None
            and self.checkpoints is None
            and node.operator_id not in self._split_watermarks
            and isinstance(source, ReplayableSource)
            and source.bounded
            and source.prunes_only(op.predicate)
        )

    def _scans_only_for(self, node_id: str) -> bool:
        """True if ``node_id`` is a source that keeps dictionaries whose batches only one
        operator reads."""
        node = self.graph.node(node_id)
        return (
            isinstance(node.op, Source)
            and isinstance(node.op.source, ReplayableSource)
            and node.op.source.keeps_dictionaries
            and self._readers.get(node_id, 1) == 1
            and node_id not in self._lowered
        )

    def _lower_sort(self, node: StreamOperatorNode) -> Pipeline:
        (child_id,) = node.upstream
        op = node.op
        assert isinstance(op, Sort)
        by, descending, top_n = op.by, op.descending, op.top_n
        input_schema = self.graph.node(child_id).output_schema
        names = [
            e.param("name") if isinstance(e, Column) else f"__sort{i}" for i, e in enumerate(by)
        ]
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

        def source() -> Iterator[pa.RecordBatch]:
            batches = (materialize(b, wide) for b in child.run_batches(self.config))
            if top_n is None:
                table = pa.Table.from_batches(list(batches), schema=wide)
            else:
                table = top_rows(batches, wide, names, descending, top_n)
            ordered = sort_table(table, names, descending).select(input_schema.names)
            return iter(
                ordered.combine_chunks().to_batches(max_chunksize=self.config.engine.batch_size)
            )

        return self._new_pipeline(node, source)

    def _lower_window_functions(self, node: StreamOperatorNode) -> Pipeline:
        """The input's rows with their window columns, once the input has ended."""
        (child_id,) = node.upstream
        op = node.op
        assert isinstance(op, WindowFunctions)
        input_schema = self.graph.node(child_id).output_schema
        child = self._breaker_input(child_id)

        def source() -> Iterator[pa.RecordBatch]:
            batches = [materialize(b, input_schema) for b in child.run_batches(self.config)]
            table = pa.Table.from_batches(batches, schema=input_schema)
            out = window_columns(table, op.exprs, node.output_schema)
            return iter(
                out.combine_chunks().to_batches(max_chunksize=self.config.engine.batch_size)
            )

        return self._new_pipeline(node, source)

    def _lower_top_n(self, node: StreamOperatorNode) -> Pipeline:
        """Each partition's first rows, updated as rows come (or emitted as windows close)."""
        (child_id,) = node.upstream
        op = node.op
        assert isinstance(op, TopN)
        rows, schema = self.graph.node(child_id).output_schema, node.output_schema
        ends = None if op.ends_at is None or op.time is None else (op.ends_at, op.time)
        child = self._breaker_input(child_id)
        return self._stateful(
            node,
            lambda state: TopNOperator(
                op.rank, op.n, rows, schema, state, op.window_end, op.first_at, ends
            ),
            lambda: child.run(self.config),
        )

    def _lower_over_window(self, node: StreamOperatorNode) -> Pipeline:
        """The input's rows with their window columns, each once the watermark passes its
        time (:mod:`~sabot_lab.engine.stream_window_functions`)."""
        op = node.op
        assert isinstance(op, OverWindow)
        child = self._breaker_input(node.upstream[0])
        schema = node.output_schema
        return self._stateful(
            node,
            lambda state: StreamWindowFunctions(op.exprs, op.time, schema, state),
            lambda: child.run(self.config),
        )

    def _lower_limit(self, node: StreamOperatorNode) -> Pipeline:
        """The first rows of the input; a checkpoint keeps how many came out, so a restored
        run gives only the rest (an offset is skipped again unless rows came out already)."""
        child = self._breaker_input(node.upstream[0])
        op = node.op
        assert isinstance(op, Limit)
        n, offset = op.n, op.offset
        checkpoints, name = self.checkpoints, self._saved_as(node.operator_id)

        def source() -> Iterator[RuntimeItem]:
            out = (checkpoints.load(name) or {}).get("rows", 0) if checkpoints else 0
            skip = offset if out == 0 else 0
            for item in limit_batches(child.run(self.config), n - out, skip):
                if isinstance(item, Barrier):
                    assert checkpoints is not None
                    checkpoints.save(item.checkpoint, name, {"rows": out})
                elif not isinstance(item, Marker):
                    out += item.num_rows
                yield item

        return self._new_pipeline(node, source)

    def _lower_row_index(self, node: StreamOperatorNode) -> Pipeline:
        """The rows numbered in the order they come; a checkpoint keeps how many came out,
        so a restored run numbers on from there."""
        child = self._breaker_input(node.upstream[0])
        op = node.op
        assert isinstance(op, RowIndex)
        checkpoints, name = self.checkpoints, self._saved_as(node.operator_id)
        input_schema = self.graph.node(node.upstream[0]).output_schema

        def source() -> Iterator[RuntimeItem]:
            out = (checkpoints.load(name) or {}).get("rows", 0) if checkpoints else 0
            for item in child.run(self.config):
                if isinstance(item, Barrier):
                    assert checkpoints is not None
                    checkpoints.save(item.checkpoint, name, {"rows": out})
                elif not isinstance(item, Marker):
                    item = number_rows(materialize(item, input_schema), op.name, op.offset + out)
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
        p = node.op
        assert isinstance(p, IntervalJoin)
        inputs = self._merged_inputs(node, tagged=True)
        return self._stateful(
            node,
            lambda state: IntervalJoinOperator(
                p.left_on, p.right_on, p.time, p.other_time, p.lower, p.upper,
                p.right_payload, p.payload_names, state,
            ),
            inputs,
        )  # fmt: skip

    def _lower_symmetric_join(self, node: StreamOperatorNode) -> Pipeline:
        p = node.op
        assert isinstance(p, SymmetricJoin)
        inputs = self._merged_inputs(node, tagged=True)
        return self._stateful(
            node,
            lambda state: SymmetricJoinOperator(
                p.left_on, p.right_on, p.right_payload, p.payload_names, state,
                (p.left_until, p.right_until), (p.left_slack, p.right_slack),
                p.passes_watermark,
            ),
            inputs,
        )  # fmt: skip

    def _lower_asof_join(self, node: StreamOperatorNode) -> Pipeline:
        p = node.op
        assert isinstance(p, AsofJoin)
        inputs = self._merged_inputs(node, tagged=True)
        right = self.graph.node(node.upstream[1]).output_schema
        return self._stateful(
            node,
            lambda state: AsofJoinOperator(
                p.on, p.by, p.tolerance, p.right_payload, p.payload_names, right, state
            ),
            inputs,
        )  # fmt: skip

    def _stateful(
        self,
        node: StreamOperatorNode,
        build: Callable[[StateBackend], StreamOperator],
        inputs: Callable[[], Iterator[RuntimeItem | Tagged]],
    ) -> Pipeline:
        """A pipeline driving a stateful streaming operator made by ``build`` with a fresh
        state backend (closed when the run ends) over ``inputs``, restored from the
        checkpoint restored; it snapshots as a barrier reaches it (see
        :func:`~sabot_lab.engine.stream_operator.drive`). Its counters are reported by
        metrics()."""
        checkpoints, name = self.checkpoints, self._saved_as(node.operator_id)

        def source() -> Iterator[RuntimeItem]:
            state = open_state(self.config.engine.state_backend)
            try:
                op = build(state)
                restored = (
                    checkpoints.restored(name) if checkpoints and checkpoints.restore else None
                )
                if restored is not None:
                    assert checkpoints is not None
                    op.restore(restored, checkpoints.shared(name))
                self._counted[node.operator_id] = op
                yield from drive(op, inputs(), self.config.engine.batch_size, checkpoints, name)
            finally:
                state.close()

        return self._new_pipeline(node, source)

    def _lower_watermark(self, node: StreamOperatorNode) -> Pipeline:
        op = node.op
        assert isinstance(op, Watermark)
        unit = node.output_schema.field(op.column).type.unit
        assigner: WatermarkAssigner | ProcessingTimeClock
        if op.processing_time:
            assigner = ProcessingTimeClock(op.column, unit)
        else:
            assigner = WatermarkAssigner(op.column, unit, op.delay, op.keep)
            self._counted[node.operator_id] = assigner
            scan = self._scan_through_row_steps(node.upstream[0])
            if scan is not None:
                self._split_watermarks.add(scan)
        child = self._breaker_input(node.upstream[0])
        checkpoints, name = self.checkpoints, self._saved_as(node.operator_id)

        def source() -> Iterator[RuntimeItem]:
            if checkpoints is not None and (saved := checkpoints.load(name)):
                assigner.restore(saved)
            # a live source's idle marks pass on, to move a processing-time clock on
            for item in assigner.run(child.run(self.config, keep_idle=True)):
                if isinstance(item, Barrier):
                    assert checkpoints is not None
                    checkpoints.save(item.checkpoint, name, assigner.state())
                yield item

        return self._new_pipeline(node, source)

    def _scan_through_row_steps(self, operator_id: str) -> str | None:
        """The source feeding ``operator_id`` through row-by-row operators only, if any."""
        node = self.graph.node(operator_id)
        while node.op.per_batch and len(node.upstream) == 1:
            node = self.graph.node(node.upstream[0])
        return node.operator_id if isinstance(node.op, Source) else None

    def _lower_window(self, node: StreamOperatorNode) -> Pipeline:
        (child_id,) = node.upstream
        p = node.op
        assert isinstance(p, Window)
        spec = WindowSpec.from_dict(p.window)
        early = None if p.early is None else p.early / 1e6
        schema = self.graph.node(child_id).output_schema
        child = self._breaker_input(child_id)

        def operator(state: StateBackend) -> StreamOperator:
            if isinstance(p, CascadedWindow):  # grouped by a bound of windows upstream
                return CascadedWindows(spec, p.keys, p.aggs, schema, state)
            return window_operator(spec, p.keys, p.aggs, schema, state, early)

        return self._stateful(node, operator, lambda: child.run(self.config))


def _in_engine_layout(items: Iterator[RuntimeItem], schema: pa.Schema) -> Iterator[RuntimeItem]:
    """A source's ``items`` with its batches in the engine's layouts (views cast, fields
    nullable and without metadata: ``schema``, the SOURCE operator's)."""
    for item in items:
        yield to_engine_layout(item, schema) if isinstance(item, pa.RecordBatch) else item


def _as_tables(partials: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[pa.Table]:
    """Each partial aggregate a table (a pipeline's step gives either)."""
    for p in partials:
        yield p if isinstance(p, pa.Table) else pa.Table.from_batches([p])


def _is_text(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)


def _with_filter_columns(
    schema: pa.Schema, source_schema: pa.Schema, predicate: Expr | None
) -> pa.Schema:
    """A scan's output ``schema`` with the columns its ``predicate`` reads besides, in the
    engine's layout: what it yields when it does not filter its rows.

    >>> from sabot_lab.expr import col
    >>> source = pa.schema([("x", pa.int64()), ("d", pa.string_view())])
    >>> _with_filter_columns(pa.schema([("x", pa.int64())]), source, col("d") == "a").names
    ['x', 'd']
    """
    names = [] if predicate is None else predicate.columns()
    extra = [source_schema.field(c) for c in names if c not in schema.names]
    return pa.schema([*schema, *engine_schema(pa.schema(extra))], metadata=schema.metadata)


def _encoded_schema(schema: pa.Schema, encoded: Sequence[str]) -> pa.Schema:
    """``schema`` with the text columns ``encoded`` as dictionaries (int32 codes).

    >>> _encoded_schema(pa.schema([("k", pa.string()), ("n", pa.int64())]), ["k"]).types
    [DictionaryType(dictionary<values=string, indices=int32, ordered=0>), DataType(int64)]
    """
    return pa.schema(
        [f.with_type(pa.dictionary(pa.int32(), f.type)) if f.name in encoded else f for f in schema]
    )


def _checked_each(items: Iterator[Any], check: Callable[[], None]) -> Iterator[Any]:
    """``items``, calling ``check`` (which may raise) before each."""
    for item in items:
        check()
        yield item


def _observed(
    items: Iterator[RuntimeItem], node: StreamOperatorNode, on_scan: ScanObserver
) -> Iterator[RuntimeItem]:
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
    >>> (fused,) = [n for n in g if isinstance(n.op, Fused)]
    >>> [step.label for step in stateless_steps(fused_members(fused), g.node(fused.upstream[0]).output_schema)]
    ['filter (filter_...) + select (select_...)']
    """
    steps: list[Step] = []
    i = 0
    while i < len(members):
        node = members[i]
        label = f"{node.name} ({node.operator_id})"
        after = members[i + 1] if i + 1 < len(members) else None
        fn: Callable[[pa.RecordBatch], pa.RecordBatch | None]
        if isinstance(node.op, Filter) and after is not None and _pure_selection(after):
            assert isinstance(after.op, Project)
            names = [e.param("name") for e in after.op.exprs]
            label += f" + {after.name} ({after.operator_id})"
            fn = partial(filter_batch, predicate=node.op.predicate, columns=names)
            i += 1
        elif (
            isinstance(node.op, Filter)
            and after is not None
            and isinstance(after.op, Project)
            and struct_fields_read(after.op.exprs)
        ):
            label += f" + {after.name} ({after.operator_id})"
            exprs, schema = after.op.exprs, after.output_schema
            fn = FieldsFilter(node.op.predicate, exprs, schema, input_schema)
            i += 1
        else:
            step = BATCH_STEPS.get(node.op)
            if step is None:
                raise PlanError(f"{label} is not a per-batch operator")
            fn = step(node, label, input_schema)
        steps.append(Step(label, fn))
        input_schema = members[i].output_schema
        i += 1
    return steps


def _filter_step(node: StreamOperatorNode, label: str, input_schema: pa.Schema) -> Any:
    assert isinstance(node.op, Filter)
    return partial(filter_batch, predicate=node.op.predicate)


def _project_step(node: StreamOperatorNode, label: str, input_schema: pa.Schema) -> Any:
    assert isinstance(node.op, Project)
    shared = SharedProjection(node.op.exprs, input_schema)
    if shared.shared:  # (q14's four HOUR(dateTime) computed once)
        return shared
    return partial(project_batch, exprs=node.op.exprs, schema=node.output_schema)


def _map_step(node: StreamOperatorNode, label: str, input_schema: pa.Schema) -> Any:
    assert isinstance(node.op, Map)
    schema = node.output_schema
    return partial(map_batch, fn=node.op.fn, schema=schema, label=label, input_schema=input_schema)


def _flat_map_step(node: StreamOperatorNode, label: str, input_schema: pa.Schema) -> Any:
    assert isinstance(node.op, FlatMap)
    return partial(flat_map_batch, fn=node.op.fn, schema=node.output_schema, label=label)


BATCH_STEPS: PhaseTable[Callable[[StreamOperatorNode, str, pa.Schema], Any]] = PhaseTable(
    "per-batch steps",
    {Filter: _filter_step, Project: _project_step, Map: _map_step, FlatMap: _flat_map_step},
    skip=[Fused],  # its members are the steps
    scope=lambda cls: cls.per_batch,
)
"""The per-batch function of each per-batch operator."""

LOWERING: PhaseTable[Callable[[Executor, StreamOperatorNode], Pipeline]] = PhaseTable(
    "lowering to the engine",
    {
        Source: Executor._lower_source,
        Filter: Executor._lower_per_batch,
        Project: Executor._lower_per_batch,
        Map: Executor._lower_per_batch,
        FlatMap: Executor._lower_per_batch,
        Fused: Executor._lower_per_batch,
        HashJoin: Executor._lower_join,
        Aggregate: Executor._lower_aggregate,
        Distinct: Executor._lower_aggregate,
        Sort: Executor._lower_sort,
        WindowFunctions: Executor._lower_window_functions,
        TopN: Executor._lower_top_n,
        OverWindow: Executor._lower_over_window,
        Limit: Executor._lower_limit,
        RowIndex: Executor._lower_row_index,
        Union: Executor._lower_union,
        Watermark: Executor._lower_watermark,
        Window: Executor._lower_window,
        IntervalJoin: Executor._lower_interval_join,
        SymmetricJoin: Executor._lower_symmetric_join,
        AsofJoin: Executor._lower_asof_join,
    },
)
"""How the engine runs each operator class: a pipeline of the operator over its inputs'."""


def _pure_selection(node: StreamOperatorNode) -> bool:
    return isinstance(node.op, Project) and all(isinstance(e, Column) for e in node.op.exprs)
