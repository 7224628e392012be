"""The user API: a lazy :class:`Stream` whose methods build a bigger :class:`~sabot_lab.logical.JobGraph`.

Nothing runs until a terminal method (:meth:`Stream.collect`, :meth:`Stream.iter_batches`,
:meth:`Stream.to_pandas`, :meth:`Stream.to_parquet`). Every method checks its arguments
against the input schema at once, so a wrong column name fails where it is written.

>>> import sabot_lab as sl
>>> quotes = sl.from_pydict({"sym": ["A", "B", "A"], "px": [10.0, 20.0, 30.0]})
>>> out = quotes.filter(sl.col("px") > 15).group_by("sym").agg(sl.col("px").sum().alias("total"))
>>> out.sort("sym").collect().to_pydict()
{'sym': ['A', 'B'], 'total': [30.0, 20.0]}
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, get_args

import duckdb
import pyarrow as pa

from sabot_lab import display, reshape, table_preview, top_n_plans, window_columns
from sabot_lab.column_ops import (
    column_names,
    filled,
    kept_after_drop,
    null_filter,
    unused_name,
)
from sabot_lab.config import get_config
from sabot_lab.connectors import (
    ArrowSource,
    DuckDBSource,
    IterableSource,
    write_csv,
    write_json,
    write_parquet,
)
from sabot_lab.connectors.changelog_sinks import refuse_updates
from sabot_lab.connectors.generator import Generated, as_table
from sabot_lab.cross_joins import cross_join, join_where
from sabot_lab.deprecations import renamed
from sabot_lab.engine import Executor
from sabot_lab.engine.stateless import conform
from sabot_lab.errors import PlanError, SchemaError, SourceError, UDFError, column_not_found
from sabot_lab.event_time import (
    PlanStep,
    check_aggregates,
    late_step,
    processing_time_step,
    watermark_step,
    window_early,
    window_step,
)
from sabot_lab.expr import HOLISTIC_AGGREGATES, Expr, col, lit, parse_dtype
from sabot_lab.expr.nodes import Aggregate as AggregateExpr
from sabot_lab.expr.nodes import Column
from sabot_lab.extras import require
from sabot_lab.kernels import is_integer_like
from sabot_lab.logical import (
    Aggregate,
    AsofJoin,
    Distinct,
    Filter,
    FlatMap,
    HashJoin,
    IntervalJoin,
    JobGraph,
    Limit,
    Map,
    Operator,
    Project,
    RowIndex,
    Sort,
    Source,
    SourceSpec,
    Union,
    join_output_names,
)
from sabot_lab.logical import GroupBy as GroupByOperator
from sabot_lab.logical.changelogs import carry_changelog_key, changelog_key
from sabot_lab.logical.operators import RUNNING_DISTINCT
from sabot_lab.logical.termination import require_end, require_row_numbers, require_rows
from sabot_lab.logical.window_bounds import cascaded_window
from sabot_lab.optimizer import OptimizedPlan, PlanOptimizer, warn_large_cross_products
from sabot_lab.snapshot_writes import write_changelog
from sabot_lab.summaries import QuantileMethod, bounded_rows, describe_table, sample_table
from sabot_lab.window_specs import Duration, WindowSpec, duration_us, require_timestamp

if TYPE_CHECKING:
    from sabot_lab.client import Cluster, Job
    from sabot_lab.connectors.kafka import KafkaFormat, KafkaStart, KafkaStop, SinkFormat
    from sabot_lab.connectors.sink import CommitSink
    from sabot_lab.runtime.protocol import Assignment

__all__ = [
    "GroupBy",
    "JoinHow",
    "RunResult",
    "Stream",
    "WindowedGroupBy",
    "WindowedStream",
    "from_arrow",
    "from_duckdb",
    "from_generator",
    "from_iterable",
    "from_kafka",
    "from_pandas",
    "from_pydict",
    "from_source",
]

JoinHow: TypeAlias = Literal["inner", "left", "full", "semi", "anti", "cross"]
JOIN_KINDS: tuple[JoinHow, ...] = get_args(JoinHow)
MAX_ROWS = 2**63 - 1
"""The most rows a limit takes (Arrow counts rows in 64-bit integers)."""
SchemaLike: TypeAlias = (
    "pa.Schema | Mapping[str, pa.DataType | str] | Sequence[tuple[str, pa.DataType | str]]"
)
IntoExpr: TypeAlias = "Expr | str"


class ExplainText(str):
    """A plan printout that displays as text (not a quoted string) in notebooks and the REPL."""

    def __repr__(self) -> str:
        return str(self)


class Stream:
    """A lazy pipeline of operators over Arrow record batches.

    Build one with a source function (:func:`from_parquet`, :func:`from_arrow`, …), transform it
    with the methods below (each returns a new ``Stream``), and run it with :meth:`collect`.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"x": [1, 2, 3]}).filter(sl.col("x") >= 2)
    >>> s.collect().to_pydict(), len(s.graph)
    ({'x': [2, 3]}, 2)
    """

    def __init__(self, graph: JobGraph, node_id: str) -> None:
        self._graph = graph
        self._node_id = node_id

    # -- plan access ---------------------------------------------------------------
    @property
    def graph(self) -> JobGraph:
        """The logical plan (operators this stream depends on).

        >>> import sabot_lab as sl
        >>> [n.operator_type.value for n in sl.from_pydict({"x": [1]}).head(1).graph.topological_sort()]
        ['source', 'limit']
        """
        return self._graph

    @staticmethod
    def from_graph(graph: JobGraph) -> Stream:
        """The stream of a plan's output, back in the lazy API: a hand-built
        :class:`~sabot_lab.logical.JobGraph` (validated first: its operators declared by
        parameters are built), an optimized plan, or a stream's :attr:`graph`. For a graph
        that ends in a sink, the stream of the rows the sink gets (``cluster.submit_job(graph)``
        writes them there).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"x": [1, 2, 3]}).filter(sl.col("x") > 1)
        >>> sl.Stream.from_graph(s.graph).collect().to_pydict()
        {'x': [2, 3]}
        """
        plan, _ = graph.resolved().without_sink()
        return Stream(plan, plan.output())

    @property
    def node_id(self) -> str:
        """Id of the operator whose output this stream is.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"x": [1]}).head(1)
        >>> s.graph.node(s.node_id).name
        'limit'
        """
        return self._node_id

    @property
    def schema(self) -> pa.Schema:
        """The output schema.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": [1]}).with_columns((sl.col("x") / 2).alias("h")).schema
        x: int64
        h: double
        """
        return self._graph.node(self._node_id).output_schema

    @property
    def columns(self) -> list[str]:
        """Output column names.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"a": [1], "b": [2]}).columns
        ['a', 'b']
        """
        return list(self.schema.names)

    def _extend(
        self,
        op: Operator,
        name: str,
        inputs: Sequence[Stream] = (),
        learned: pa.Schema | None = None,
    ) -> Stream:
        """This stream with ``op`` appended, reading it and ``inputs``; the new operator's
        output schema is ``op.schema`` of the input schemas, or ``learned`` for an operator
        whose fields do not give it (a :class:`~sabot_lab.logical.Map`'s, learned from its
        function)."""
        schema = op.schema([s.schema for s in (self, *inputs)])
        if schema is None:
            if learned is None:
                raise PlanError(f"{name}(): the output schema of a {op.kind.value} is unknown")
            schema = learned
        _check_unique(schema.names, name)
        graph = self._graph.copy()
        for other in inputs:
            graph = graph.merge(other._graph)
        upstream = [s._node_id for s in (self, *inputs)]
        return Stream(graph, graph.add_new_operator(op, name, upstream, schema))

    def _append(self, step: PlanStep) -> Stream:
        return self._extend(step.op, step.name)

    def with_parallelism(self, tasks: int) -> Stream:
        """Run this stream's last operator (and the stage it belongs to) as ``tasks``
        parallel tasks on a cluster, instead of the job's default.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"k": [1, 2]}).with_parallelism(3)
        >>> s.graph.node(s.node_id).parallelism
        3
        """
        if tasks < 1:
            raise PlanError(f"parallelism must be at least 1, got {tasks}")
        graph = self._graph.copy()
        graph.replace_operator(graph.node(self._node_id).replace(parallelism=tasks))
        return Stream(graph, self._node_id)

    # -- row-wise verbs ------------------------------------------------------------
    def filter(self, *predicates: Expr) -> Stream:
        """Keep rows where every predicate is true (null counts as false, as in SQL ``WHERE``).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"px": [50, 150, None], "rating": [5, 4, 1]})
        >>> s.filter((sl.col("px") > 100) & (sl.col("rating") >= 3)).collect().to_pydict()
        {'px': [150], 'rating': [4]}
        """
        if not predicates:
            raise PlanError("filter() needs at least one predicate")
        predicate = predicates[0]
        for extra in predicates[1:]:
            predicate = predicate & extra
        if predicate.is_window():
            return window_columns.filter_windows(self, predicate)
        if predicate.is_aggregate():
            raise SchemaError(
                f"filter() got aggregate {predicate!r}; aggregate first with group_by(...).agg(...)"
                " and filter its output"
            )
        field = _field(predicate, self.schema)
        if not pa.types.is_boolean(field.type) and not pa.types.is_null(field.type):
            raise SchemaError(
                f"filter predicate {predicate!r} has type {field.type}, expected bool"
            )
        return top_n_plans.plan_top_n(self._extend(Filter(predicate=predicate), "filter"))

    def select(self, *exprs: IntoExpr, **named: IntoExpr) -> Stream:
        """Compute exactly these columns (names or expressions; keywords name them).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"px": [1.5, 2.0], "qty": [2, 3]})
        >>> s.select("qty", notional=sl.col("px") * sl.col("qty")).collect().to_pydict()
        {'qty': [2, 3], 'notional': [3.0, 6.0]}
        """
        items = _named_exprs(exprs, named)
        if not items:
            raise PlanError("select() needs at least one column or expression")
        return self._project(items, "select")

    def with_columns(self, *exprs: IntoExpr, **named: IntoExpr) -> Stream:
        """Add columns, or replace those with the same name (in place).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"px": [1.0, 2.0], "qty": [2, 3]})
        >>> s.with_columns((sl.col("px") * sl.col("qty")).alias("notional")).columns
        ['px', 'qty', 'notional']
        """
        new = _named_exprs(exprs, named)
        by_name = {e.output_name(): e for e in new}
        if len(by_name) != len(new):
            _check_unique([e.output_name() for e in new], "with_columns")
        items = [by_name.pop(name, col(name)) for name in self.schema.names]
        items += list(by_name.values())
        return self._project(items, "with_columns")

    def rename(self, mapping: Mapping[str, str]) -> Stream:
        """Rename columns (``{"old": "new"}``), keeping their order.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"a": [1], "b": [2]}).rename({"a": "x"}).columns
        ['x', 'b']
        """
        for old in mapping:
            if old not in self.schema.names:
                raise column_not_found(old, self.schema.names)
        items = [col(n).alias(mapping[n]) if n in mapping else col(n) for n in self.schema.names]
        return self._project(items, "rename")

    def drop(self, *columns: str | Sequence[str], strict: bool = True) -> Stream:
        """Remove columns (names or lists of names), keeping the others in their order.

        An unknown name is a :class:`~sabot_lab.errors.SchemaError` naming the available
        columns, unless ``strict=False`` (then it is ignored).

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"a": [1], "b": [2], "c": [3]}).drop("a", ["c"]).columns
        ['b']
        """
        kept = kept_after_drop(self.schema, column_names(columns), strict=strict)
        return self._project([col(n) for n in kept], "drop")

    def fill_null(self, value: Any) -> Stream:
        """Replace nulls by ``value`` in every column whose type takes it, as Polars does: a
        whole number fills integer and float columns, a float the float columns, a string the
        string columns, a boolean, date or datetime the columns of its type. Columns keep
        their types; the other columns are left as they are.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"i": [1, None], "f": [None, 2.5], "s": ["a", None]})
        >>> s.fill_null(0).collect().to_pydict()
        {'i': [1, 0], 'f': [0.0, 2.5], 's': ['a', None]}
        """
        return self._project(filled(self.schema, value), "fill_null")

    def drop_nulls(self, subset: str | Sequence[str] | None = None) -> Stream:
        """Remove the rows with a null in any column of ``subset`` (all columns if None).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"a": [1, None, 3], "b": [None, 2, 3]})
        >>> s.drop_nulls().collect().to_pydict(), s.drop_nulls("a").collect().num_rows
        ({'a': [3], 'b': [3]}, 2)
        """
        return self.filter(null_filter(self.schema, subset))

    def _project(self, items: list[Expr], verb: str) -> Stream:
        if any(e.is_window() for e in items):
            return window_columns.project_windows(self, items, verb)
        for e in items:
            if e.is_aggregate():
                raise SchemaError(
                    f"{verb}() got aggregate {e!r}; use group_by(...).agg(...) or agg(...)"
                )
        return self._extend(Project(exprs=items), verb)

    def map_batches(
        self,
        fn: Callable[[pa.RecordBatch], Any],
        schema: SchemaLike | None = None,
        preserves: Sequence[str] = (),
    ) -> Stream:
        """Apply ``fn(batch) -> batch`` (a user function over Arrow batches).

        ``fn`` may return a RecordBatch, Table, dict of columns or pandas DataFrame. Give
        ``schema`` for its output; without it, ``fn`` is called once, on an empty batch with
        the input's schema, to learn it (as the plan is built). Then ``fn`` runs once per batch.
        An exception in ``fn`` is raised as :class:`~sabot_lab.errors.UDFError` carrying the
        operator name and ``fn``'s own traceback.

        The optimizer treats ``fn`` as opaque. Name in ``preserves`` the columns ``fn`` passes
        through unchanged, handling each row on its own (no row depends on another), to let
        filters on those columns run before it.

        >>> import pyarrow.compute as pc, sabot_lab as sl
        >>> s = sl.from_pydict({"x": [1, 2]})
        >>> s.map_batches(lambda b: {"x": b["x"], "sq": pc.multiply(b["x"], b["x"])}).collect().to_pydict()
        {'x': [1, 2], 'sq': [1, 4]}
        """
        label = "map_batches"
        if schema is None:
            empty = pa.RecordBatch.from_pylist([], schema=self.schema)
            try:
                out = fn(empty)
                out_schema = conform(out, _infer_schema_of(out), label).schema
            except UDFError:
                raise
            except Exception as exc:
                raise UDFError(
                    f"cannot learn the output schema of {label}: calling the function on an empty "
                    f"batch raised {type(exc).__name__}: {exc}; pass schema=..."
                ) from exc
        else:
            out_schema = _as_schema(schema)
        for name in preserves:
            for side, names in (("input", self.schema.names), ("output", out_schema.names)):
                if name not in names:
                    raise SchemaError(
                        f"map_batches(preserves=...) on its {side}: {column_not_found(name, names)}"
                    )
        op = Map(fn=fn, preserves=list(preserves) if preserves else ())
        return self._extend(op, label, learned=out_schema)

    def flat_map(
        self, fn: Callable[[dict[str, Any]], Iterable[dict[str, Any]]], schema: SchemaLike
    ) -> Stream:
        """Apply ``fn(row) -> rows`` to each row (a dict), emitting zero or more rows (dicts).

        Runs Python per row: prefer :meth:`map_batches` or expressions on hot paths.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"word": ["ab", "c"]})
        >>> s.flat_map(lambda r: ({"ch": c} for c in r["word"]), schema={"ch": "string"}).collect().to_pydict()
        {'ch': ['a', 'b', 'c']}
        """
        return self._extend(FlatMap(fn=fn, row_schema=_as_schema(schema)), "flat_map")

    # -- joins -----------------------------------------------------------------------
    def join(
        self,
        other: Stream | pa.Table,
        on: str | Sequence[str] | None = None,
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
        how: JoinHow = "inner",
        suffix: str = "_right",
    ) -> Stream:
        """Hash-join with ``other`` (the build side) on equal keys; null keys never match.

        ``how``: ``inner``, ``left`` (keep unmatched left rows, nulls on the right), ``full``
        (also the unmatched right rows, nulls on the left; both sides bounded), ``semi`` (left
        rows having a match), ``anti`` (left rows having none) or ``cross`` (every left row
        with every right row, without keys; see also :meth:`join_where`). The right key columns are
        dropped from the output, except by ``full`` (where only the right side has the row,
        the left keys are null); right columns whose names clash get ``suffix``.

        >>> import sabot_lab as sl
        >>> quotes = sl.from_pydict({"sid": [1, 2, 3], "px": [10, 20, 30]})
        >>> secs = sl.from_pydict({"id": [1, 3], "sector": ["tech", "energy"]})
        >>> quotes.join(secs, left_on="sid", right_on="id").sort("sid").collect().to_pydict()
        {'sid': [1, 3], 'px': [10, 30], 'sector': ['tech', 'energy']}
        >>> quotes.join(secs, left_on="sid", right_on="id", how="anti").collect().to_pydict()
        {'sid': [2], 'px': [20]}
        >>> sl.from_pydict({"id": [3, 4]}).join(secs, on="id", how="full").sort("id_right").collect().to_pydict()
        {'id': [None, 3, 4], 'id_right': [1, 3, None], 'sector': ['tech', 'energy', None]}
        """
        right = other if isinstance(other, Stream) else from_arrow(other)
        if how not in JOIN_KINDS:
            raise PlanError(f"unknown join kind {how!r}; use one of {', '.join(JOIN_KINDS)}")
        if not right.bounded:
            if not self.bounded:
                raise PlanError(
                    "join() of two unbounded streams has no time bound: it would keep every row "
                    "of both sides forever, so its state would grow without bound. Bound it "
                    "with join_interval(...) (rows within a time range of each other; join "
                    "windows on window_start with lower=upper='0s'), or join against a bounded "
                    "table (a lookup join)"
                )
            raise PlanError(
                "join() reads all of its right side first, and that side is unbounded here: "
                "put the unbounded stream on the left (the bounded one is the lookup table)"
            )
        if how == "cross":
            if on is not None or left_on is not None or right_on is not None:
                raise PlanError(
                    "join(how='cross') pairs every row with every row and takes no keys: "
                    "drop on=/left_on=/right_on= (join_where(...) joins on conditions)"
                )
            return cross_join(self, right, suffix)
        left_keys, right_keys, payload = self._join_columns(right, on, left_on, right_on, how)
        if how == "full":
            return _full_join(self, right, left_keys, right_keys, suffix)
        join = HashJoin(
            how=how, left_on=left_keys, right_on=right_keys, right_payload=payload, suffix=suffix
        )
        return self._extend(join, f"{how}_join", inputs=[right])

    def join_interval(
        self,
        other: Stream,
        on: str | Sequence[str] | None = None,
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
        time: str,
        lower: Duration,
        upper: Duration,
        other_time: str | None = None,
        suffix: str = "_right",
    ) -> Stream:
        """Inner-join rows with equal keys whose times are close: a row of this stream with
        time ``t`` (column ``time``) matches a row of ``other`` with time ``r`` (column
        ``other_time``, default the same name) when ``r + lower <= t <= r + upper``.

        Works on unbounded streams: watermarks tell when a row can no longer match and its
        state is dropped. Join windows by joining on ``window_start`` with
        ``time="window_start", lower="0s", upper="0s"``.

        >>> import datetime as dt, sabot_lab as sl
        >>> at = lambda s: dt.datetime(2026, 1, 1, 0, 0, s)
        >>> bids = sl.from_pydict({"auction": [1, 1, 2], "t": [at(5), at(40), at(9)]})
        >>> auctions = sl.from_pydict({"id": [1, 2], "t": [at(0), at(0)], "item": ["pen", "cup"]})
        >>> live = bids.join_interval(auctions, left_on="auction", right_on="id", time="t", lower="0s", upper="20s")
        >>> live.sort("auction").collect().to_pydict()["item"]
        ['pen', 'cup']
        """
        right_time = other_time or time
        left_keys, right_keys, payload = self._join_columns(other, on, left_on, right_on, "inner")
        left_type = require_timestamp(self.schema, time, "join_interval")
        right_type = require_timestamp(other.schema, right_time, "join_interval")
        if left_type != right_type:
            raise SchemaError(
                f"join_interval compares {time!r} ({left_type}) with {right_time!r} "
                f"({right_type}); cast one so both have the same type"
            )
        low, high = duration_us(lower), duration_us(upper)
        if low > high:
            raise PlanError(f"join_interval needs lower <= upper, got {lower!r} > {upper!r}")
        join = IntervalJoin(
            left_on=left_keys,
            right_on=right_keys,
            time=time,
            other_time=right_time,
            lower=low,
            upper=high,
            right_payload=payload,
            payload_names=join_output_names(payload, self.schema.names, suffix),
        )
        return self._extend(join, "join_interval", inputs=[other])

    def join_asof(
        self,
        other: Stream | pa.Table,
        on: str,
        by: str | Sequence[str] = (),
        tolerance: Duration | None = None,
        suffix: str = "_right",
    ) -> Stream:
        """For each row, the latest row of ``other`` with the same ``by`` keys whose time
        (column ``on`` on both sides) is at or before this row's, and at most ``tolerance``
        older; nulls when there is none (a left join). Rows come out once the watermark
        passes their time, in time order.

        >>> import datetime as dt, sabot_lab as sl
        >>> at = lambda s: dt.datetime(2026, 1, 1, 0, 0, s)
        >>> trades = sl.from_pydict({"t": [at(5), at(9), at(30)], "sym": ["A", "A", "A"]})
        >>> quotes = sl.from_pydict({"t": [at(4), at(6), at(10)], "sym": ["A", "A", "A"], "px": [1.0, 2.0, 3.0]})
        >>> trades.join_asof(quotes, on="t", by="sym", tolerance="5s").collect().column("px").to_pylist()
        [1.0, 2.0, None]
        """
        right = other if isinstance(other, Stream) else from_arrow(other)
        keys = _names(by)
        left_type = require_timestamp(self.schema, on, "join_asof")
        right_type = require_timestamp(right.schema, on, "join_asof")
        if left_type != right_type:
            raise SchemaError(
                f"join_asof compares {on!r} of both sides: {left_type} vs {right_type}; "
                "cast one so both have the same type"
            )
        _, _, payload = self._join_columns(right, [on, *keys], None, None, "inner")
        if tolerance is not None and duration_us(tolerance) < 0:
            raise PlanError(f"join_asof needs a tolerance of zero or more, got {tolerance!r}")
        join = AsofJoin(
            on=on,
            by=keys,
            tolerance=None if tolerance is None else duration_us(tolerance),
            right_payload=payload,
            payload_names=join_output_names(payload, self.schema.names, suffix),
        )
        return self._extend(join, "join_asof", inputs=[right])

    # -- reshaping, joins without keys and summaries ----------------------------------
    def join_where(
        self, other: Stream | pa.Table, *predicates: Expr, suffix: str = "_right"
    ) -> Stream:
        """Inner-join with ``other`` on any conditions (a non-equi join, as Polars'
        ``join_where``): the pairs of rows where every predicate is true (null counts as
        false). A right column whose name the left side has is named with ``suffix``, in the
        predicates as in the output. ``other`` is read first and held, so it must be bounded;
        each batch of this stream meets all of it (a filtered cross join; an equality of a
        left and a right integer or string column makes it a hash join on them).

        >>> import sabot_lab as sl
        >>> trips = sl.from_pydict({"t": [1, 5, 9]})
        >>> shifts = sl.from_pydict({"start": [0, 6], "end": [6, 12], "crew": ["a", "b"]})
        >>> trips.join_where(shifts, sl.col("t") >= sl.col("start"), sl.col("t") < sl.col("end")).sort("t").collect()["crew"].to_pylist()
        ['a', 'a', 'b']
        """
        right = other if isinstance(other, Stream) else from_arrow(other)
        return join_where(self, right, predicates, suffix)

    def explode(
        self,
        columns: str | Sequence[str],
        *more_columns: str,
        empty_as_null: bool = False,
        keep_nulls: bool = True,
    ) -> Stream:
        """One row per element of the list ``columns``, the other columns repeated, in order
        (Polars' ``explode``; SQL's ``UNNEST``). An empty list gives no row (a row with a
        null if ``empty_as_null``); a null list a row with a null (none unless
        ``keep_nulls``). Columns exploded together need lists of equal length on each row.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"k": ["a", "b", "c"], "xs": [[1, 2], [], None]})
        >>> s.explode("xs").collect().to_pydict()
        {'k': ['a', 'a', 'c'], 'xs': [1, 2, None]}
        """
        names = [columns] if isinstance(columns, str) else list(columns)
        return reshape.explode(self, [*names, *more_columns], empty_as_null, keep_nulls)

    def unnest(self, columns: str | Sequence[str], *more_columns: str) -> Stream:
        """The struct ``columns`` replaced, where they stand, by their fields as columns
        (null where the struct is null), as Polars' ``unnest``.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"id": [1, 2], "pt": [{"x": 1.0, "y": 2.0}, None]})
        >>> s.unnest("pt").collect().to_pydict()
        {'id': [1, 2], 'x': [1.0, None], 'y': [2.0, None]}
        """
        names = [columns] if isinstance(columns, str) else list(columns)
        return reshape.unnest(self, [*names, *more_columns])

    def unpivot(
        self,
        on: str | Sequence[str] | None = None,
        *,
        index: str | Sequence[str] | None = None,
        variable_name: str | None = None,
        value_name: str | None = None,
    ) -> Stream:
        """Columns into rows (a "wide to long" reshape, Polars' ``unpivot``): for each row
        and each ``on`` column (default: every column not in ``index``), a row of the
        ``index`` columns, the column's name (``variable_name``, default ``variable``) and
        its value (``value_name``, default ``value``, of the type all ``on`` columns cast
        to). Rows come in no particular order; it streams.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"day": [1, 2], "open": [10, 11], "close": [12, 9]})
        >>> s.unpivot(index="day").sort(["day", "variable"]).collect().to_pydict()
        {'day': [1, 1, 2, 2], 'variable': ['close', 'open', 'close', 'open'], 'value': [12, 10, 9, 11]}
        """
        return reshape.unpivot(self, on, index, variable_name or "variable", value_name or "value")

    def pivot(
        self,
        on: str,
        on_columns: Sequence[Any] | None = None,
        *,
        index: str | Sequence[str] | None = None,
        values: str | Sequence[str] | None = None,
        aggregate_function: reshape.PivotAgg = "first",
        separator: str = "_",
    ) -> Stream:
        """Rows into columns (a "long to wide" reshape, Polars' ``pivot``): one row per value
        of the ``index`` columns (default: all but ``on`` and ``values``), one column per
        value of ``on`` holding the ``aggregate_function`` (``first``, ``last``, ``sum``,
        ``min``, ``max``, ``mean``, ``len``) of the ``values`` of its rows (where there are
        none: null, or 0 for ``sum`` and ``len``, as Polars gives). The columns are named after the values of ``on`` (``null``,
        ``true``, ``1``...; ``{value}{separator}{on value}`` with several ``values``), in
        the order ``on_columns`` gives; without it, the stream is run once to find them, in
        the order they first appear, which needs a bounded stream. Rows come in no
        particular order.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"day": [1, 1, 2], "sym": ["A", "B", "A"], "px": [10.0, 20.0, 30.0]})
        >>> s.pivot("sym", index="day", values="px").sort("day").collect().to_pydict()
        {'day': [1, 2], 'A': [10.0, 30.0], 'B': [20.0, None]}
        """
        return reshape.pivot(self, on, index, values, aggregate_function, on_columns, separator)

    def with_row_index(self, name: str = "index", offset: int = 0) -> Stream:
        """A first column ``name`` (int64) numbering the rows from ``offset``, in the order
        the rows come: the input's order (a source's rows as read, a sort's output). On a
        cluster it runs as a single task with the operators before it up to the last
        exchange, so a source is read in order by one task.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": ["a", "b"]}).with_row_index(offset=1).collect().to_pydict()
        {'index': [1, 2], 'x': ['a', 'b']}
        """
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise PlanError(f"with_row_index(offset={offset!r}) takes a non-negative int")
        return self._extend(RowIndex(name=name, offset=offset), "with_row_index")

    def describe(
        self,
        percentiles: Sequence[float] | float | None = (0.25, 0.5, 0.75),
        *,
        interpolation: QuantileMethod = "nearest",
    ) -> pa.Table:
        """Summary statistics of every column (Polars' ``describe``), computed now over all
        rows: a column ``statistic`` (``count`` of values not null, ``null_count``,
        ``mean``, ``std`` (sample), ``min``, a row per percentile, ``max``), then one column
        per column: float64 for numbers and booleans, text for the others (their counts,
        minimum and maximum). Percentiles interpolate as ``interpolation`` says (the methods
        of ``pyarrow.compute.quantile``). A bounded stream only.

        >>> import sabot_lab as sl
        >>> summary = sl.from_pydict({"x": [1.0, 2.0, 3.0, None]}).describe()
        >>> dict(zip(summary["statistic"].to_pylist(), summary["x"].to_pylist()))["mean"]
        2.0
        """
        if percentiles is None:
            percentiles = ()
        elif isinstance(percentiles, int | float):
            percentiles = (percentiles,)
        table = bounded_rows(self, "describe")
        return describe_table(table, percentiles, interpolation)

    def sample(
        self,
        n: int | None = None,
        *,
        fraction: float | None = None,
        with_replacement: bool = False,
        shuffle: bool = False,
        seed: int | None = None,
    ) -> Stream:
        """``n`` rows drawn at random (or ``fraction`` of the rows, rounded down; one row if
        neither is given), each at most once unless ``with_replacement``, in the stream's
        order unless ``shuffle``; the same ``seed`` draws the same rows. The stream (bounded)
        is run now; the sample is a stream over the rows drawn.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"x": list(range(100))})
        >>> a, b = s.sample(5, seed=7).collect(), s.sample(5, seed=7).collect()
        >>> a.num_rows, a.equals(b)
        (5, True)
        """
        table = bounded_rows(self, "sample")
        return from_arrow(sample_table(table, n, fraction, with_replacement, shuffle, seed))

    @property
    def bounded(self) -> bool:
        """True when every source this stream reads ends (files, tables, a Nexmark run with an
        event count); False when one may not (an endless generator, ``nexmark(events=None)``).

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": [1]}).bounded, sl.nexmark(events=None).bids.bounded
        (True, False)
        """
        return self._graph.bounded(self._node_id)

    @property
    def changelog(self) -> str:
        """How to read this stream's rows: ``"append"`` (each row is final) or ``"upsert"``
        (an aggregate over an unbounded stream: a row replaces the earlier row with the same
        group keys).

        >>> import sabot_lab as sl
        >>> bids = sl.nexmark(events=None).bids
        >>> bids.changelog, bids.group_by("auction").agg(n=sl.count()).changelog
        ('append', 'upsert')
        """
        graph = self._graph.subgraph(self._node_id)
        return "upsert" if any(n.op.emits_updates() for n in graph) else "append"

    def _join_columns(
        self,
        right: Stream,
        on: str | Sequence[str] | None,
        left_on: str | Sequence[str] | None,
        right_on: str | Sequence[str] | None,
        how: str,
    ) -> tuple[list[str], list[str], list[str]]:
        """Checked join keys of both sides and the right columns a join of kind ``how``
        outputs."""
        if on is not None:
            if left_on is not None or right_on is not None:
                raise PlanError("join() takes either on= or left_on=/right_on=, not both")
            left_keys = right_keys = _names(on)
        elif left_on is not None and right_on is not None:
            left_keys, right_keys = _names(left_on), _names(right_on)
        else:
            raise PlanError("join() needs on= or both left_on= and right_on=")
        if len(left_keys) != len(right_keys) or not left_keys:
            raise PlanError(f"join keys must pair up: left {left_keys} vs right {right_keys}")
        for side, keys, schema in (
            ("left", left_keys, self.schema),
            ("right", right_keys, right.schema),
        ):
            for key in keys:
                if key not in schema.names:
                    err = column_not_found(key, schema.names)
                    raise SchemaError(f"join key on the {side} side: {err}")
        for lk, rk in zip(left_keys, right_keys, strict=True):
            _check_join_key_types(lk, self.schema.field(lk).type, rk, right.schema.field(rk).type)
        payload: list[str] = []
        if how in ("inner", "left"):
            payload = [n for n in right.schema.names if n not in right_keys]
        return left_keys, right_keys, payload

    # -- aggregation -----------------------------------------------------------------
    def group_by(self, *keys: IntoExpr) -> GroupBy:
        """Group rows by key columns (or expressions); finish with :meth:`GroupBy.agg`.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"k": ["a", "b", "a"], "x": [1, 2, None]})
        >>> s.group_by("k").agg(sl.col("x").sum(), sl.count().alias("n")).sort("k").collect().to_pydict()
        {'k': ['a', 'b'], 'x': [1, 2], 'n': [2, 1]}
        """
        if not keys:
            raise PlanError("group_by() needs at least one key; use agg() for a global aggregate")
        exprs = _named_exprs(keys, {})
        names = [e.output_name() for e in exprs]
        base = self
        if any(not isinstance(e, Column) for e in exprs):
            base = self.with_columns(*[e for e in exprs if not isinstance(e, Column)])
        for name in names:
            if name not in base.schema.names:
                raise column_not_found(name, base.schema.names)
        return GroupBy(base, names)

    def agg(self, *aggs: Expr, **named: Expr) -> Stream:
        """Aggregate all rows into one row (SQL aggregate without ``GROUP BY``).

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": [1, 2, 3]}).agg(sl.col("x").mean(), n=sl.count()).collect().to_pydict()
        {'x': [2.0], 'n': [3]}
        """
        return _aggregate(self, [], _named_exprs(aggs, named))

    # -- event time ----------------------------------------------------------------
    def with_watermark(
        self, column: str, max_delay: Duration = "0s", idle_timeout: Duration | None = None
    ) -> Stream:
        """Track event time on the timestamp ``column``: rows may arrive up to ``max_delay``
        out of order. The watermark (the latest time seen minus ``max_delay``) closes windows;
        rows older than it when they arrive, or without a time, are late: left out, counted
        (``late_rows`` in :meth:`run` metrics) and available from :meth:`late`.
        ``idle_timeout``: where this stream meets others (``union``), it stops holding their
        watermark back after this long without a row.

        >>> import datetime as dt, sabot_lab as sl
        >>> t = [dt.datetime(2026, 1, 1, 0, 0, s) for s in (5, 1, 9, 2)]
        >>> sl.from_pydict({"t": t}).with_watermark("t", "3s").run().metrics_total("late_rows")
        2
        """
        return self._append(watermark_step(self.schema, column, max_delay, idle_timeout))

    def with_processing_time(self, column: str) -> Stream:
        """Make the timestamp ``column`` the processing time (Flink's ``PROCTIME()``): each
        row gets the wall-clock time at which it passes here (rows of a batch share one;
        it never goes back), and the watermark is the wall clock, so windows on ``column``
        close when the clock passes their end, on an unbounded stream too, also while no
        rows come from a live source read through row-by-row steps only (its idle marks, and
        checkpoint barriers, move the clock on). No row is late. A checkpoint keeps the
        windows still open; rows read again after a restore are stamped anew.

        >>> import datetime as dt, sabot_lab as sl
        >>> s = sl.from_pydict({"x": [1, 2], "p": [dt.datetime(2000, 1, 1)] * 2})
        >>> out = s.with_processing_time("p").window(sl.tumbling("10s", on="p")).agg(n=sl.count())
        >>> row = out.collect().to_pylist()[0]
        >>> row["n"], row["window_start"] > dt.datetime(2020, 1, 1)
        (2, True)
        """
        return self._append(processing_time_step(self.schema, column))

    def late(self) -> Stream:
        """The rows :meth:`with_watermark` leaves out as late (the side output).

        >>> import datetime as dt, sabot_lab as sl
        >>> t = [dt.datetime(2026, 1, 1, 0, 0, s) for s in (5, 1, 9, 2)]
        >>> sl.from_pydict({"t": t}).with_watermark("t", "3s").late().collect().num_rows
        2
        """
        watermark = self._graph.node(self._node_id)
        step = late_step(watermark)
        (upstream,) = watermark.upstream
        return Stream(self._graph.subgraph(upstream), upstream)._append(step)

    def window(self, spec: WindowSpec, early: Duration | None = None) -> WindowedStream:
        """Cut the stream into event-time windows (:func:`~sabot_lab.tumbling`,
        :func:`~sabot_lab.sliding`, :func:`~sabot_lab.session`), then ``.group_by(...).agg(...)``
        or ``.agg(...)``. A window's rows come out once the watermark passes its end (all
        of them at the end of a bounded input). ``early``: also every this long (processing
        time), the current rows of the windows still open; the stream is then an upsert
        changelog keyed by the group keys and ``window_start`` (a later row replaces an
        earlier one; the row emitted when the window closes is final).

        >>> import datetime as dt, sabot_lab as sl
        >>> s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 4, 12)], "x": [1, 2, 3]})
        >>> s.window(sl.tumbling("10s", on="t")).agg(total=sl.col("x").sum()).collect().column("total").to_pylist()
        [3, 3]
        """
        return WindowedStream(self, spec, early)

    def distinct(self) -> Stream:
        """Drop duplicate rows (nulls compare equal, as in SQL ``DISTINCT``).

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": [1, 1, None, None]}).distinct().sort("x").collect().to_pydict()
        {'x': [1, None]}
        """
        return self._extend(Distinct(), "distinct")

    # -- combining and ordering ------------------------------------------------------
    def top_k(
        self,
        k: int,
        *,
        by: IntoExpr | Sequence[IntoExpr],
        over: str | Sequence[str] = (),
        reverse: bool | Sequence[bool] = False,
        name: str = "rank",
    ) -> Stream:
        """The ``k`` rows with the largest ``by`` (``reverse``: the smallest) of each
        partition of rows with equal ``over`` columns, numbered from 1 in the column
        ``name`` (SQL's ``ROW_NUMBER() OVER (PARTITION BY over ORDER BY by DESC) <= k``).
        On an unbounded stream the result is an upsert changelog keyed by ``over`` and
        ``name`` (see :mod:`sabot_lab.top_n_plans`).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"k": ["a", "a", "b"], "x": [1, 5, 2]})
        >>> s.top_k(1, by="x", over="k").sort("k").collect().to_pydict()
        {'k': ['a', 'b'], 'x': [5, 2], 'rank': [1, 1]}
        """
        return top_n_plans.top_k(self, k, by=by, over=over, reverse=reverse, name=name)

    def bottom_k(
        self,
        k: int,
        *,
        by: IntoExpr | Sequence[IntoExpr],
        over: str | Sequence[str] = (),
        reverse: bool | Sequence[bool] = False,
        name: str = "rank",
    ) -> Stream:
        """:meth:`top_k` of the smallest ``by`` (``reverse``: the largest).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"k": ["a", "a", "b"], "x": [1, 5, 2]})
        >>> s.bottom_k(1, by="x", over="k").sort("k").collect().to_pydict()
        {'k': ['a', 'b'], 'x': [1, 2], 'rank': [1, 1]}
        """
        flags = not reverse if isinstance(reverse, bool) else [not r for r in reverse]
        return top_n_plans.top_k(self, k, by=by, over=over, reverse=flags, name=name)

    def union(self, *others: Stream | pa.Table) -> Stream:
        """All rows of this stream and the others (SQL ``UNION ALL``), matching columns by name.

        Column types are promoted to a common type (``int32`` with ``int64`` gives ``int64``).

        >>> import sabot_lab as sl
        >>> a, b = sl.from_pydict({"x": [1], "y": ["a"]}), sl.from_pydict({"y": ["b"], "x": [2]})
        >>> a.union(b).collect().to_pydict()
        {'x': [1, 2], 'y': ['a', 'b']}
        """
        if not others:
            raise PlanError("union() needs at least one other stream")
        streams = [o if isinstance(o, Stream) else from_arrow(o) for o in others]
        names = set(self.schema.names)
        for i, other in enumerate(streams, start=1):
            if set(other.schema.names) != names:
                missing = sorted(names - set(other.schema.names))
                extra = sorted(set(other.schema.names) - names)
                raise SchemaError(
                    f"union input {i} has different columns: missing {missing}, extra {extra}"
                )
        return self._extend(Union(), "union", inputs=streams)

    def sort(
        self, by: IntoExpr | Sequence[IntoExpr], descending: bool | Sequence[bool] = False
    ) -> Stream:
        """Order rows by columns or expressions; nulls sort last; ties keep input order.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"k": ["a", "b", "c"], "x": [2, None, 9]})
        >>> s.sort("x", descending=True).collect()["k"].to_pylist()
        ['c', 'a', 'b']
        """
        keys = _named_exprs([by] if isinstance(by, str | Expr) else list(by), {})
        if not keys:
            raise PlanError("sort() needs at least one key")
        flags = [descending] * len(keys) if isinstance(descending, bool) else list(descending)
        if len(flags) != len(keys):
            raise PlanError(f"sort() got {len(keys)} keys but {len(flags)} descending flags")
        for key in keys:
            _field(key, self.schema)
        return self._extend(Sort(by=keys, descending=flags), "sort")

    def limit(self, n: int, offset: int = 0) -> Stream:
        """The first ``n`` rows (after skipping ``offset``) in stream order.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": [5, 6, 7]}).limit(2, offset=1).collect().to_pydict()
        {'x': [6, 7]}
        """
        for what, value in (("n", n), ("offset", offset)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise PlanError(
                    f"limit() takes a whole number of rows as {what}, got {value!r} "
                    f"({type(value).__name__})"
                )
            if not 0 <= value <= MAX_ROWS:
                raise PlanError(
                    f"limit() takes a non-negative {what} of at most {MAX_ROWS:,} (2**63 - 1) "
                    f"rows, got {value:,}"
                    + (
                        "; to take the last rows, sort descending, then head(n)"
                        if value < 0
                        else ""
                    )
                )
        if n + offset > MAX_ROWS:
            n = MAX_ROWS - offset  # rows past the largest row index never come
        return self._extend(Limit(n=n, offset=offset), "limit")

    def head(self, n: int = 5) -> Stream:
        """The first ``n`` rows (same as :meth:`limit`). Lazy, as Polars' ``LazyFrame.head``:
        it returns a stream; to look at the rows, use :meth:`show`.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": [5, 6, 7]}).head(1).collect().to_pydict()
        {'x': [5]}
        """
        return self.limit(n)

    def show(self, n: int = 10) -> None:
        """Run the stream for its first ``n`` rows and display them: a table with the column
        names and types in a terminal (a ``…`` row when the stream has more rows), a rich
        HTML table in a notebook. Eager, unlike :meth:`head`; it reads only ``n + 1`` rows,
        so it works on unbounded streams too.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"sym": ["A", "B", None], "px": [1.5, 20.0, 3.0]}).show(2)
        shape: (more than 2, 2)
        ┌────────┬────────┐
        │ sym    ┆ px     │
        │ ---    ┆ ---    │
        │ string ┆ double │
        ╞════════╪════════╡
        │ "A"    ┆ 1.5    │
        │ "B"    ┆ 20.0   │
        │ …      ┆ …      │
        └────────┴────────┘
        """
        if not isinstance(n, int) or n < 0:
            raise PlanError(f"show() takes a number of rows of 0 or more, got {n!r}")
        rows = self.head(n + 1).collect()
        more = rows.num_rows > n
        preview = table_preview.TablePreview(rows.slice(0, n), max_rows=None, more=more)
        table_preview.display(preview)

    # -- terminals -------------------------------------------------------------------
    def optimize(self) -> OptimizedPlan:
        """The plan after the optimizer's rewrites, with the trace of what each rule changed.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"a": [1], "b": [2]}).select("b")
        >>> plan = s.optimize()
        >>> plan.graph.node(s.node_id).schema.names, len(plan.trace)
        (['b'], 1)
        """
        return PlanOptimizer().optimize(self._graph)

    def _runnable(self, optimize: bool) -> tuple[JobGraph, str]:
        """The graph to run and the id of its output operator."""
        if not optimize:
            return self._graph, self._node_id
        plan = self.optimize()
        warn_large_cross_products(plan, stacklevel=3)  # counted from collect()'s caller
        return plan.graph, plan.output

    def iter_batches(self, optimize: bool = True) -> Iterator[pa.RecordBatch]:
        """Run the pipeline and yield output batches as they are produced (bounded memory
        for pipelines without a blocking operator). ``optimize=False`` skips the optimizer.
        The way to read an unbounded stream in-process: stop iterating when done. Refused
        (:class:`~sabot_lab.errors.PlanError`) when it would never yield a row, e.g. a
        ``sort()`` of an unbounded stream.

        >>> import sabot_lab as sl
        >>> [b.num_rows for b in sl.from_pydict({"x": list(range(5))}).iter_batches()]
        [5]
        """
        require_rows(self._graph, self._node_id, "iter_batches()")
        changelog_key(self._graph, self._node_id)  # refuses a changelog nobody can apply
        graph, output = self._runnable(optimize)
        return Executor(graph, get_config()).run(output)

    def count_rows(self, optimize: bool = True) -> int:
        """Run the pipeline to its end, keeping no row, and return how many rows it gave (a
        discarding sink, as Nexmark's blackhole): text the last pipeline keeps
        dictionary-encoded is counted so, never decoded. The checks of :meth:`iter_batches`
        apply.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": list(range(5))}).filter(sl.col("x") > 1).count_rows()
        3
        """
        require_rows(self._graph, self._node_id, "count_rows()")
        changelog_key(self._graph, self._node_id)
        graph, output = self._runnable(optimize)
        return Executor(graph, get_config()).count_rows(output)

    def collect(self, optimize: bool = True) -> pa.Table:
        """Run the pipeline and return all its rows as a ``pyarrow.Table``.

        A collect running longer than ``Config.progress_delay`` shows a progress bar (in a
        notebook, or on stderr when it is a terminal; the notebook plug-in draws it, see
        :mod:`sabot_lab.display`). A stream without an end (an unbounded source and no
        ``head(n)``) is refused before any row is read, with a
        :class:`~sabot_lab.errors.PlanError` naming ``head(n)``, ``iter_batches()`` and
        ``submit()``.

        >>> import sabot_lab as sl
        >>> sl.from_pydict({"x": [1, 2]}).collect().num_rows
        2
        """
        require_end(self._graph, self._node_id, "collect()")
        config = get_config()
        if not config.notebook.progress:
            return pa.Table.from_batches(list(self.iter_batches(optimize)), schema=self.schema)
        graph, output = self._runnable(optimize)
        with display.progress("collect", graph, output, config) as on_scan:
            batches = list(Executor(graph, config, on_scan=on_scan).run(output))
        return pa.Table.from_batches(batches, schema=self.schema)

    def run(self, optimize: bool = True) -> RunResult:
        """Run the pipeline and return its rows with the operators' counters (late and
        dropped rows).

        >>> import sabot_lab as sl
        >>> result = sl.from_pydict({"x": [1, 2]}).run()
        >>> result.table.num_rows, result.metrics
        (2, {})
        """
        require_end(self._graph, self._node_id, "run()")
        graph, output = self._runnable(optimize)
        executor = Executor(graph, get_config())
        table = pa.Table.from_batches(list(executor.run(output)), schema=self.schema)
        return RunResult(table, executor.metrics())

    async def collect_async(self, optimize: bool = True) -> pa.Table:
        """:meth:`collect` on a worker thread, for ``await`` in notebooks and async code: the
        event loop (the Jupyter kernel's included) keeps running meanwhile.

        >>> import asyncio, sabot_lab as sl
        >>> asyncio.run(sl.from_pydict({"x": [1, 2]}).collect_async()).num_rows
        2
        """
        return await asyncio.to_thread(self.collect, optimize)

    def submit(
        self,
        cluster: Cluster,
        name: str | None = None,
        partitions: int | None = None,
        assignment: Assignment = "round_robin",
        checkpoint_interval: float | None = None,
        sink: CommitSink | None = None,
        from_savepoint: str | None = None,
    ) -> Job:
        """Run the pipeline on a cluster (:class:`~sabot_lab.client.LocalCluster` or
        :func:`~sabot_lab.client.connect`); returns a :class:`~sabot_lab.client.Job` as soon
        as the JobManager has durably accepted it. The JobManager optimizes the plan; an
        unbounded job takes a checkpoint every ``checkpoint_interval`` seconds; ``sink``
        also gets the rows, exactly once; ``from_savepoint`` starts it where a job of the same
        pipeline stopped (see :meth:`~sabot_lab.client.Cluster.submit`).
        """
        from sabot_lab.client.plan_submission import submit_plan

        require_row_numbers(self._graph, self._node_id)
        plan = self.graph.subgraph(self.node_id)
        return submit_plan(
            cluster, plan, name, partitions, assignment, checkpoint_interval, sink, from_savepoint
        )

    def to_pandas(self, optimize: bool = True) -> Any:
        """Run the pipeline and return a ``pandas.DataFrame`` (pandas comes with
        ``pip install "sabot-lab[pandas]"``; without it this says so before any work).

        >>> import sabot_lab as sl
        >>> int(sl.from_pydict({"x": [1, 2]}).to_pandas()["x"].sum())
        3
        """
        require("pandas", "to_pandas()")
        require_end(self._graph, self._node_id, "to_pandas()")
        return self.collect(optimize).to_pandas()

    def to_parquet(
        self,
        path: str | os.PathLike[str],
        *,
        compression: str = "zstd",
        partition_by: str | Sequence[str] | None = None,
        optimize: bool = True,
        mode: Literal["append", "snapshot"] = "append",
    ) -> int:
        """Run the pipeline, streaming its rows into a Parquet file (``compression``: zstd,
        snappy, gzip, lz4, brotli or uncompressed), or with ``partition_by`` into a
        directory of ``key=value`` subdirectories (hive layout); return the row count. The
        file or directory appears whole, or not at all if the run fails. An upsert
        :attr:`changelog` needs ``mode="snapshot"``: the file then holds the last row of each
        key (and replaces the one at ``path`` whole).

        >>> import sabot_lab as sl, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "out.parquet")
        >>> sl.from_pydict({"x": [1, 2]}).to_parquet(p)
        2
        """
        require_end(self._graph, self._node_id, "to_parquet()")
        if mode != "append" or self.changelog == "upsert":
            return write_changelog(self, path, mode, compression, partition_by, optimize)
        return write_parquet(
            self.iter_batches(optimize), self.schema, path, compression, partition_by
        )

    def to_csv(
        self,
        path: str | os.PathLike[str],
        *,
        separator: str = ",",
        include_header: bool = True,
        optimize: bool = True,
    ) -> int:
        """Run the pipeline, streaming its rows into a CSV file (nulls as empty fields);
        return the row count. The file appears whole, or not at all if the run fails.

        >>> import sabot_lab as sl, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "out.csv")
        >>> sl.from_pydict({"x": [1, None]}).to_csv(p, separator=";")
        2
        >>> open(p).read()
        '"x"\\n1\\n\\n'
        """
        require_end(self._graph, self._node_id, "to_csv()")
        refuse_updates(self._graph, self._node_id, "to_csv()")
        return write_csv(self.iter_batches(optimize), self.schema, path, separator, include_header)

    def to_json(self, path: str | os.PathLike[str], *, optimize: bool = True) -> int:
        """Run the pipeline, streaming its rows into a newline-delimited JSON file (one
        object a row); return the row count. The file appears whole, or not at all if the
        run fails.

        >>> import sabot_lab as sl, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "out.ndjson")
        >>> sl.from_pydict({"x": [1, 2]}).to_json(p)
        2
        """
        require_end(self._graph, self._node_id, "to_json()")
        refuse_updates(self._graph, self._node_id, "to_json()")
        return write_json(self.iter_batches(optimize), self.schema, path)

    def to_kafka(
        self,
        topic: str,
        bootstrap: str,
        key: str | None = None,
        format: SinkFormat = "json",
        schema_id: int | None = None,
    ) -> int:
        """Run the pipeline, sending its rows to a Kafka topic: one JSON object per row keyed
        by column ``key``, one Avro datum per row (``format="avro"``, in the Avro schema
        derived from the columns; with ``schema_id``, after Confluent's header naming it), or
        (``format="arrow"``) Arrow IPC records of up to about 512 KB of rows; return the
        records sent. The producer is idempotent when the broker supports
        it, else at-least-once (a retried send may repeat a record), with a warning saying
        so. A bounded stream only: an unbounded one would never return (take ``head(n)``
        first, or submit it to a cluster with ``sink=sl.KafkaSink(...)``)."""
        from sabot_lab.connectors.kafka import write_kafka

        require_end(
            self._graph,
            self._node_id,
            "to_kafka()",
            fix="take head(n) first, or submit the pipeline to a cluster with "
            "sink=sl.KafkaSink(...)",
        )
        refuse_updates(self._graph, self._node_id, "to_kafka()")
        return write_kafka(self.iter_batches(), topic, bootstrap, key, format, schema_id)[0]

    async def to_kafka_async(
        self,
        topic: str,
        bootstrap: str,
        key: str | None = None,
        format: SinkFormat = "json",
        schema_id: int | None = None,
    ) -> int:
        """:meth:`to_kafka` on a worker thread, for ``await`` in notebooks."""
        return await asyncio.to_thread(self.to_kafka, topic, bootstrap, key, format, schema_id)

    def explain(self, optimized: bool = True, trace: bool = False) -> ExplainText:
        """The plan as text: one operator a line (inputs indented below), its arguments, its
        estimated rows, its id and the fused pipeline (``P1``, ``P2``…) that runs it. ``optimized=False`` shows the plan as
        written; ``trace=True`` appends what each optimizer rule changed.

        >>> import sabot_lab as sl
        >>> print(sl.from_pydict({"x": [1]}).filter(sl.col("x") > 0).explain())  # doctest: +ELLIPSIS
        [P1] filter (col("x") > 0)  (~1 rows)  #filter_...
          [P1] source arrow table (1 rows, 1 columns)  (~1 rows)  #source_...
        output: x int64
        pipelines (operators fused per batch):
          P1: source → filter
        """
        from sabot_lab.explain import render_plan

        plan = self.optimize()
        if optimized:
            text = render_plan(plan.graph, plan.output, plan.estimated_rows)
        else:
            text = render_plan(self._graph, self._node_id)
        if trace:
            text += "\noptimizer trace:\n" + plan.trace.render()
        return ExplainText(text)

    def show_plan(self, job: Job | None = None, partitions: int | None = None) -> Any:
        """The plan as an interactive widget: logical, optimized and physical views, details
        of an operator on click; with ``job`` (this stream submitted to a cluster), live rows,
        rows/s, busy and backpressure per stage while it runs (see
        :class:`~sabot_lab.notebook.plan_widget.PlanWidget`; ``partitions``: tasks per stage of the
        physical view).

        >>> import sabot_lab as sl
        >>> w = sl.from_pydict({"x": [1]}).filter(sl.col("x") > 0).show_plan()
        >>> [n["label"] for n in w.views["optimized"]["nodes"]]
        ['source', 'filter']
        """
        return display.render("stream.widget", self, job, partitions)

    def __repr__(self) -> str:
        return f"<Stream {self._node_id}>\n{self.explain()}"

    def _repr_html_(self) -> str | None:
        return display.html("stream", self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> display.Bundle:
        return display.mimebundle("stream", self)


@dataclass(frozen=True)
class RunResult:
    """The rows of a :meth:`Stream.run` and its counters per operator id."""

    table: pa.Table
    metrics: dict[str, dict[str, int]]

    def metrics_total(self, name: str) -> int:
        """The counter ``name`` summed over the operators.

        >>> RunResult(pa.table({}), {"a": {"late_rows": 2}, "b": {"late_rows": 1}}).metrics_total("late_rows")
        3
        """
        return sum(counters.get(name, 0) for counters in self.metrics.values())


class GroupBy:
    """Rows grouped by keys, waiting for :meth:`agg`.

    >>> import sabot_lab as sl
    >>> sl.from_pydict({"k": ["a", "b", "a"]}).group_by("k").agg(n=sl.count()).sort("k").collect().to_pydict()
    {'k': ['a', 'b'], 'n': [2, 1]}
    """

    def __init__(self, stream: Stream, keys: list[str]) -> None:
        self._stream = stream
        self._keys = keys

    def agg(self, *aggs: Expr, **named: Expr) -> Stream:
        """One row per group: the keys, then each aggregate (keywords name them).

        Aggregates: ``sum mean min max count n_unique first last std var median quantile`` on a
        column or expression, ``sl.count()`` for rows, and arithmetic over them
        (``col("x").sum() / sl.count()``).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"k": [1, 1, 2], "x": [1.0, 3.0, 5.0]})
        >>> s.group_by("k").agg(avg=sl.col("x").mean(), hi=sl.col("x").max()).sort("k").collect().to_pydict()
        {'k': [1, 2], 'avg': [2.0, 5.0], 'hi': [3.0, 5.0]}
        """
        return _aggregate(self._stream, self._keys, _named_exprs(aggs, named))


class WindowedStream:
    """A stream cut into event-time windows, waiting for :meth:`group_by` or :meth:`agg`.

    >>> import datetime as dt, sabot_lab as sl
    >>> s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 4, 12)]})
    >>> s.window(sl.sliding("10s", "5s", on="t")).agg(n=sl.count()).collect().column("n").to_pylist()
    [2, 2, 1, 1]
    """

    def __init__(self, stream: Stream, spec: WindowSpec, early: Duration | None = None) -> None:
        self._early = window_early(stream.schema, spec, early)
        self._stream, self._spec = stream, spec

    def group_by(self, *keys: str) -> WindowedGroupBy:
        """Windows per key."""
        for key in keys:
            if key not in self._stream.schema.names:
                raise column_not_found(key, self._stream.schema.names)
        return WindowedGroupBy(self._stream, self._spec, list(keys), self._early)

    def agg(self, *aggs: IntoExpr, **named: IntoExpr) -> Stream:
        """One row per window: ``window_start``, ``window_end``, then the aggregates."""
        return WindowedGroupBy(self._stream, self._spec, [], self._early).agg(*aggs, **named)


class WindowedGroupBy:
    """Rows grouped by keys within windows, waiting for :meth:`agg`."""

    def __init__(
        self, stream: Stream, spec: WindowSpec, keys: list[str], early: int | None = None
    ) -> None:
        self._stream, self._spec, self._keys, self._early = stream, spec, keys, early

    def agg(self, *aggs: IntoExpr, **named: IntoExpr) -> Stream:
        """One row per key and window, emitted when the watermark passes the window's end
        (or when a bounded input ends): keys, ``window_start``, ``window_end``, aggregates.

        >>> import datetime as dt, sabot_lab as sl
        >>> t = [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 4, 30)]
        >>> s = sl.from_pydict({"t": t, "k": ["a", "a", "a"]})
        >>> s.window(sl.session("10s", on="t")).group_by("k").agg(n=sl.count()).collect().column("n").to_pylist()
        [2, 1]
        """
        exprs = _named_exprs(aggs, named)
        step = window_step(self._stream.schema, self._spec, self._keys, exprs, self._early)
        return self._stream._append(step)


def _aggregate(stream: Stream, keys: list[str], aggs: list[Expr]) -> Stream:
    if not aggs and not keys:
        raise PlanError("agg() needs at least one aggregate expression")
    check_aggregates(stream.schema, aggs)
    graph, node_id, key = carry_changelog_key(stream.graph, stream.node_id)
    stream = Stream(graph, node_id)  # (selects after the changelog keep its key)
    updates_of = None if key is None else list(key)  # the rows an update replaces
    running = not stream.bounded or updates_of is not None  # emit updates as rows come
    if running and updates_of is None and keys:  # by a window's bounds: each group once
        cascaded = cascaded_window(stream.graph, stream.node_id, keys, aggs)
        if cascaded is not None:
            return stream._extend(cascaded, "group_by")
    holistic = [
        e.param("fn")
        for a in aggs
        for e in a.walk()
        if isinstance(e, AggregateExpr) and e.param("fn") in HOLISTIC_AGGREGATES
        if e.param("fn") not in RUNNING_DISTINCT  # kept as distinct values, per group
    ]
    if running and holistic:
        raise PlanError(
            f"{holistic[0]}() over an unbounded stream would keep every value forever; "
            "aggregate within windows (stream.window(...)) instead"
        )
    if keys:
        op = GroupByOperator(keys=keys, aggs=aggs, running=running, updates_of=updates_of)
        return stream._extend(op, "group_by")
    return stream._extend(
        Aggregate(keys=keys, aggs=aggs, running=running, updates_of=updates_of), "agg"
    )


# ----------------------------------------------------------------------------- helpers


def _full_join(
    left: Stream, right: Stream, left_keys: list[str], right_keys: list[str], suffix: str
) -> Stream:
    """``left`` full-joined with ``right``: the left join, where the right side also keeps its
    keys, and the right rows without a match (an anti join) with nulls on the left."""
    if not left.bounded:
        raise PlanError(
            "a full join gives the right rows without a match once its left side has ended, "
            "and the left side is unbounded here: use how='left', or bound it (limit, stop=)"
        )
    taken = {*left.columns, *right.columns}
    keys = [unused_name(f"{k}_key", taken) for k in right_keys]
    with_keys = right.with_columns(
        *[col(k).alias(c) for k, c in zip(right_keys, keys, strict=True)]
    )
    matched = left.join(with_keys, left_on=left_keys, right_on=keys, how="left", suffix=suffix)
    names = matched.columns[len(left.columns) :]
    unmatched = right.join(left, left_on=right_keys, right_on=left_keys, how="anti").select(
        *[lit(None, f.type).alias(f.name) for f in left.schema],
        *[col(c).alias(n) for c, n in zip(right.columns, names, strict=True)],
    )
    return matched.union(unmatched)


def _field(expr: Expr, schema: pa.Schema) -> pa.Field:
    return expr.output_field(schema)


def _names(keys: str | Sequence[str]) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def _named_exprs(exprs: Sequence[IntoExpr], named: Mapping[str, IntoExpr]) -> list[Expr]:
    items: list[Expr] = []
    for e in exprs:
        if isinstance(e, str):
            items.append(col(e))
        elif isinstance(e, Expr):
            items.append(e)
        elif isinstance(e, list | tuple):
            items.extend(_named_exprs(e, {}))
        else:
            raise PlanError(f"expected a column name or expression, got {e!r} ({type(e).__name__})")
    for name, e in named.items():
        items.append((col(e) if isinstance(e, str) else e).alias(name))
    return items


def _check_unique(names: Sequence[str], verb: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SchemaError(
                f"{verb}() would produce the column '{name}' twice; rename one with .alias()"
            )
        seen.add(name)


def _check_join_key_types(lk: str, lt: pa.DataType, rk: str, rt: pa.DataType) -> None:
    def family(t: pa.DataType) -> str:
        if is_integer_like(t) and not pa.types.is_temporal(t):
            return "integer"
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return "string"
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return "binary"
        if pa.types.is_floating(t):
            return "float"
        return str(t)

    if family(lt) != family(rt):
        raise SchemaError(
            f"join keys have incompatible types: left '{lk}' is {lt}, right '{rk}' is {rt}; "
            "cast one side with with_columns(col(...).cast(...))"
        )


def _as_schema(schema: SchemaLike) -> pa.Schema:
    if isinstance(schema, pa.Schema):
        return schema
    items = schema.items() if isinstance(schema, Mapping) else schema
    return pa.schema([(name, parse_dtype(dtype)) for name, dtype in items])


def _infer_schema_of(data: Any) -> pa.Schema:
    if isinstance(data, pa.RecordBatch | pa.Table):
        return data.schema
    if isinstance(data, dict):
        return pa.table(data).schema
    if hasattr(data, "to_dict"):
        return pa.Table.from_pandas(data, preserve_index=False).schema
    raise UDFError(f"map_batches function returned {type(data).__name__}, expected a RecordBatch")


# ----------------------------------------------------------------------------- sources


def from_source(source: SourceSpec, name: str = "source") -> Stream:
    """A stream over any :class:`~sabot_lab.logical.SourceSpec` (a connector of one's own).

    >>> import pyarrow as pa, sabot_lab as sl
    >>> from sabot_lab.connectors import ArrowSource
    >>> sl.from_source(ArrowSource(pa.table({"x": [1]}))).collect().num_rows
    1
    """
    graph = JobGraph("job")
    op = Source(source=source)
    return Stream(graph, graph.add_new_operator(op, name, [], op.schema([])))


def from_arrow(data: pa.Table | pa.RecordBatch | pa.RecordBatchReader) -> Stream:
    """A stream over an in-memory Arrow table (zero-copy).

    >>> import pyarrow as pa, sabot_lab as sl
    >>> sl.from_arrow(pa.table({"x": [1, 2]})).collect().num_rows
    2
    """
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    elif isinstance(data, pa.RecordBatchReader):
        data = data.read_all()
    if not isinstance(data, pa.Table):
        raise PlanError(
            f"from_arrow takes a pyarrow Table, RecordBatch or reader, got {type(data).__name__}"
        )
    return from_source(ArrowSource(data), "source")


def from_pydict(data: Mapping[str, Sequence[Any]], schema: SchemaLike | None = None) -> Stream:
    """A stream over columns given as a dict of lists.

    >>> import sabot_lab as sl
    >>> sl.from_pydict({"x": [1, 2]}, schema={"x": "int32"}).schema
    x: int32
    """
    return from_arrow(
        pa.table(dict(data), schema=_as_schema(schema) if schema is not None else None)
    )


def from_pandas(df: Any) -> Stream:
    """A stream over a pandas DataFrame (converted to Arrow once; the index is dropped).

    >>> import pandas as pd, sabot_lab as sl
    >>> sl.from_pandas(pd.DataFrame({"x": [1, 2]})).collect().to_pydict()
    {'x': [1, 2]}
    """
    return from_arrow(pa.Table.from_pandas(df, preserve_index=False))


def from_duckdb(query: str | duckdb.DuckDBPyRelation, database: str = ":memory:") -> Stream:
    """A stream over a DuckDB query (SQL on ``database``) or relation, streamed in batches.

    >>> import sabot_lab as sl
    >>> sl.from_duckdb("SELECT range AS x FROM range(3)").collect().to_pydict()
    {'x': [0, 1, 2]}
    """
    if isinstance(query, str):
        return from_source(DuckDBSource(query, database), "source")
    return from_source(DuckDBSource(relation=query), "source")


def from_generator(
    fn: Callable[[int], Any],
    max_rows_per_second: float | None = None,
    schema: SchemaLike | None = None,
    *,
    rate: float | None = None,
) -> Stream:
    """A stream from a function: ``fn(i)`` for ``i = 0, 1, 2, …`` gives the next rows (a
    record batch, a table, a dict of columns or a list of row dicts), or None to end; the
    stream counts as unbounded (planning cannot tell that ``fn`` ends): take a bounded part
    with :meth:`Stream.head`, read it with :meth:`Stream.iter_batches`, or aggregate it in
    windows. The schema is taken from ``fn(0)`` unless given. Restored from a checkpoint,
    it goes on at the ``i`` it had reached (``fn`` is not called for the earlier ones again).

    ``max_rows_per_second`` paces the source in *wall-clock* time, as a live feed would: it
    waits so as to give at most this many rows per second (None: as fast as they are read).
    It says nothing of event time (for the event-time spacing of Nexmark events, see
    ``nexmark(event_rate=...)``). ``rate`` is its former name (deprecated).

    >>> import sabot_lab as sl
    >>> ticks = sl.from_generator(lambda i: {"n": list(range(3 * i, 3 * i + 3))})
    >>> ticks.limit(5).collect().column("n").to_pylist()
    [0, 1, 2, 3, 4]
    >>> paced = sl.from_generator(lambda i: {"n": [i]}, max_rows_per_second=1000)
    >>> paced.head(3).collect().column("n").to_pylist()
    [0, 1, 2]
    """
    pace = renamed("from_generator", "rate", rate, "max_rows_per_second", max_rows_per_second)
    if schema is None:
        first = fn(0)
        if first is None:
            raise SourceError("the generator function returned None for i=0: nothing to read")
        schema = as_table(first).schema
    return from_source(IterableSource(Generated(fn, pace), _as_schema(schema)), "generator")


def from_kafka(
    topic: str,
    bootstrap: str,
    group: str | None = None,
    format: KafkaFormat = "json",
    schema: SchemaLike | Mapping[str, Any] | str | None = None,
    start: KafkaStart = "earliest",
    dead_letter: str | None = None,
    stop: KafkaStop = None,
    avro_header: str | None = None,
) -> Stream:
    """A stream of the records of a Kafka topic (see
    :mod:`sabot_lab.connectors.kafka`): ``format`` ``"json"`` (columns ``schema``, inferred from
    the first records when not given), ``"raw"`` (key, value, partition, offset, timestamp),
    ``"arrow"`` or ``"avro"`` (``schema``: the Avro record schema, dict or JSON, or Arrow
    columns; ``avro_header="confluent"`` for Confluent's wire format). ``start``:
    ``"earliest"``, ``"latest"`` or a time, for partitions without an offset committed by
    ``group``. Malformed records go to the ``dead_letter`` topic with the
    reason and are counted; the read goes on. The stream is unbounded, unless ``stop`` is
    ``"latest"`` (the records the topic holds now) or an end offset per partition; ``head(n)``
    reads ``n`` records and ends.

    >>> import sabot_lab as sl
    >>> sl.from_kafka("trades", "127.0.0.1:1", format="xml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SourceError: unknown Kafka format 'xml'; use one of json, raw, arrow, avro
    """
    from sabot_lab.connectors.avro import is_avro_schema
    from sabot_lab.connectors.kafka import KafkaSource

    if schema is not None and not (format == "avro" and is_avro_schema(schema)):
        schema = _as_schema(schema)  # Arrow columns
    source = KafkaSource(
        topic, bootstrap, format, schema, group, start, dead_letter=dead_letter, stop=stop,
        avro_header=avro_header,
    )  # fmt: skip
    return from_source(source, f"kafka {topic}")


def from_iterable(
    items: Iterable[Any] | Callable[[], Iterable[Any]], schema: SchemaLike | None = None
) -> Stream:
    """A stream over Python rows (dicts or tuples), record batches or tables.

    Pass a list, or a function returning a fresh iterator, to be able to run the stream more
    than once (or restore it from a checkpoint: it skips the items sent before); a generator
    object can be run once.

    >>> import sabot_lab as sl
    >>> sl.from_iterable([{"x": 1}, {"x": 2}]).collect().to_pydict()
    {'x': [1, 2]}
    >>> sl.from_iterable(lambda: ((i, str(i)) for i in range(2)), schema={"n": "int64", "s": "string"}).collect().to_pydict()
    {'n': [0, 1], 's': ['0', '1']}
    """
    return from_source(
        IterableSource(items, _as_schema(schema) if schema is not None else None), "source"
    )
