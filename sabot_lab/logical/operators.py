"""The typed logical operators: one frozen dataclass per kind of operator.

Each class declares its fields (checked on construction), how many inputs it reads, its
properties (``stateful``, ``per_batch``, ``preserves_order``, the columns its state is keyed
by), its output schema computed from its fields and input schemas (:meth:`Operator.schema`:
the one place plans get output schemas from; None only where a user function decides it),
and the one-line label plans print (:meth:`Operator.describe`). A plan node
(:class:`~sabot_lab.logical.graph.StreamOperatorNode`) holds one operator beside its id,
edges, schema and parallelism.

Fields a later phase fills in have defaults: a source's ``columns``, ``predicate`` and
``limit`` (optimizer), a sort's ``top_n`` (optimizer), an aggregate's ``phase`` and
``input_schema`` (physical planner), a join's ``left_payload`` and ``payload_names``
(optimizer).

>>> from sabot_lab.expr import col
>>> f = Filter(predicate=col("x") > 1)
>>> f.kind.value, f.describe(), f.parameters()
('filter', '(col("x") > 1)', {'predicate': (col("x") > 1)})
>>> Limit(n=-1)
Traceback (most recent call last):
...
sabot_lab.errors.PlanError: limit: n must be a non-negative int, got -1
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from sabot_lab.errors import PlanError, SchemaError
from sabot_lab.expr import Expr
from sabot_lab.expr.capabilities import require_hashable, require_sortable
from sabot_lab.expr.nodes import Alias, Column, Over
from sabot_lab.logical.layouts import engine_schema
from sabot_lab.logical.sources import SourceSpec

if TYPE_CHECKING:
    from sabot_lab.logical.graph import StreamOperatorNode

__all__ = [
    "RUNNING_DISTINCT",
    "Aggregate",
    "AsofJoin",
    "Distinct",
    "Filter",
    "FlatMap",
    "Fused",
    "GroupBy",
    "HashJoin",
    "IntervalJoin",
    "Limit",
    "Map",
    "Operator",
    "OperatorType",
    "OverWindow",
    "Project",
    "RowIndex",
    "SessionWindow",
    "Sink",
    "SlidingWindow",
    "Sort",
    "Source",
    "SymmetricJoin",
    "TopN",
    "TumblingWindow",
    "Union",
    "Watermark",
    "Window",
    "WindowFunctions",
    "join_output_names",
    "operator_class",
    "operator_classes",
]


class OperatorType(str, enum.Enum):
    """The name each operator class goes by in JSON plans (``Operator.kind``)."""

    SOURCE = "source"
    FILTER = "filter"
    MAP = "map"
    FLAT_MAP = "flat_map"
    SELECT = "select"
    UNION = "union"
    AGGREGATE = "aggregate"
    DISTINCT = "distinct"
    GROUP_BY = "group_by"
    HASH_JOIN = "hash_join"
    INTERVAL_JOIN = "interval_join"
    ASOF_JOIN = "asof_join"
    SYMMETRIC_JOIN = "symmetric_join"
    TUMBLING_WINDOW = "tumbling_window"
    SLIDING_WINDOW = "sliding_window"
    SESSION_WINDOW = "session_window"
    CASCADED_WINDOW = "cascaded_window"
    WATERMARK = "watermark"
    LIMIT = "limit"
    SORT = "sort"
    ROW_INDEX = "row_index"
    WINDOW_FUNCTIONS = "window_functions"
    TOP_N = "top_n"
    OVER_WINDOW = "over_window"
    FUSED = "fused"
    SINK = "sink"


_CLASSES: dict[OperatorType, type[Operator]] = {}

JOIN_KINDS = ("inner", "left", "semi", "anti")
"""What a :class:`HashJoin` keeps (a full join is composed of a left and an anti join)."""
LEFT_BUILDS = ("semi", "anti", "left")
"""The joins that may build their hash table on the left input (``build_side="left"``)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Operator:
    """Base of the logical operators.

    Class attributes every operator declares:
        kind: its name in JSON plans.
        inputs: (fewest, most) inputs it reads; most None for any number.
        stateful: keeps state across batches.
        per_batch: handles each batch on its own (chains of these are fused).
        preserves_order: its rows come out in the order of its (first) input's.
        job_output: where a job's rows go, taken off the plan before it is optimized,
            planned or run (:class:`Sink`); the phases never see it.
    """

    kind: ClassVar[OperatorType]
    inputs: ClassVar[tuple[int, int | None]] = (1, 1)
    stateful: ClassVar[bool] = False
    per_batch: ClassVar[bool] = False
    preserves_order: ClassVar[bool] = True
    job_output: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            _CLASSES[cls.kind] = cls

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise :class:`PlanError` when a field holds a value the operator cannot run with."""

    def emits_updates(self) -> bool:
        """True if a row it outputs may be replaced by a later one (an upsert changelog)."""
        return False

    def changelog_key(self, schema: pa.Schema) -> tuple[str, ...]:
        """The columns of an upsert changelog's key, when it :meth:`emits_updates` with
        output ``schema``: a later row replaces the earlier one with the same values there."""
        return self.key_by(schema)

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        """The columns its state (and the exchange before it) is partitioned by, for an
        operator whose output schema is ``schema``; ``()`` when not keyed."""
        return ()

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema | None:
        """The output schema, computed from the fields and ``inputs`` (the input schemas, in
        input order), exactly as the engine outputs it; None where only a user function
        knows it (:class:`Map`), and then the plan node keeps the schema learned from the
        function. Every operator class overrides this (a unit test checks it), those
        returning None saying why.

        >>> from sabot_lab.expr import col
        >>> Filter(predicate=col("x") > 1).schema([pa.schema([("x", pa.int64())])])
        x: int64
        """
        return None

    def describe(self, name: str = "") -> str:
        """The operator's arguments in one line (plans print ``name`` and this); ``name`` is
        the API verb that built it."""
        return ""

    def parameters(self) -> dict[str, Any]:
        """The fields whose value is not the default, by name (the JSON plan's
        ``parameters``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and _same(value, f.default):
                continue
            out[f.name] = value
        return out

    def replace(self, **changes: Any) -> Operator:
        """A copy with some fields changed (checked again).

        >>> Limit(n=3).replace(offset=2).parameters()
        {'n': 3, 'offset': 2}
        """
        return dataclasses.replace(self, **changes)

    def _fail(self, message: str) -> None:
        raise PlanError(f"{self.kind.value}: {message}")


def _same(value: Any, default: Any) -> bool:
    return value is default or (type(value) is type(default) and value == default)


def operator_class(kind: OperatorType | str) -> type[Operator]:
    """The operator class of a kind.

    >>> operator_class("limit").__name__
    'Limit'
    """
    try:
        return _CLASSES[OperatorType(kind)]
    except (KeyError, ValueError):
        raise PlanError(f"unknown operator kind {kind!r}") from None


def operator_classes() -> list[type[Operator]]:
    """Every operator class plans run, in :class:`OperatorType` order (not :class:`Sink`,
    the job's output, which is taken off a plan before any phase sees it).

    >>> [c.__name__ for c in operator_classes()][:3]
    ['Source', 'Filter', 'Map']
    """
    return [_CLASSES[k] for k in OperatorType if not _CLASSES[k].job_output]


def _names(value: Any, what: str, op: Operator) -> None:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        op._fail(f"{what} must be a list of column names, got {value!r}")


def _exprs(value: Any, what: str, op: Operator) -> None:
    if isinstance(value, Expr) or not all(isinstance(v, Expr) for v in value):
        op._fail(f"{what} must be a list of expressions, got {value!r}")


def _count(value: Any, what: str, op: Operator) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        op._fail(f"{what} must be a non-negative int, got {value!r}")


# ----------------------------------------------------------------------------- sources
@dataclass(frozen=True, kw_only=True, eq=False)
class Source(Operator):
    """Rows of a :class:`SourceSpec`; the optimizer narrows the read to ``columns``, the rows
    where ``predicate`` holds (one the source accepted) and the first ``limit`` rows. The rows
    come in the engine's layouts (:func:`~sabot_lab.logical.layouts.engine_schema`)."""

    kind = OperatorType.SOURCE
    inputs = (0, 0)

    source: SourceSpec
    columns: list[str] | None = None
    predicate: Expr | None = None
    limit: int | None = None

    def check(self) -> None:
        if not isinstance(self.source, SourceSpec):
            self._fail(f"source must be a SourceSpec, got {self.source!r}")
        if self.columns is not None:
            _names(self.columns, "columns", self)
        if self.predicate is not None and not isinstance(self.predicate, Expr):
            self._fail(f"predicate must be an expression, got {self.predicate!r}")
        if self.limit is not None:
            _count(self.limit, "limit", self)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        full = engine_schema(self.source.schema)
        if self.columns is None:
            return full
        return pa.schema([full.field(n) for n in self.columns])

    def describe(self, name: str = "") -> str:
        """The source's description, without the words the operator's ``name`` already
        says (a plan prints both).

        >>> import sabot_lab as sl
        >>> bids = sl.nexmark(events=None).bids
        >>> node = bids.graph.node(bids.node_id)
        >>> node.name, node.op.describe(node.name), node.label()
        ('nexmark bids', '(unbounded, seed 0)', 'nexmark bids (unbounded, seed 0)')
        """
        text = str(self.source.describe())
        if name and text.startswith(f"{name} "):
            text = text[len(name) + 1 :]
        if self.columns:
            text += f" columns=[{', '.join(self.columns)}]"
        if self.predicate is not None:
            text += f" filter={self.predicate!r}"
        return text + (f" limit={self.limit}" if self.limit is not None else "")


# ----------------------------------------------------------------------------- the job's output
@dataclass(frozen=True, kw_only=True, eq=False)
class Sink(Operator):
    """Where a submitted job's rows go: ``target``, the JSON form of a commit sink (a
    Parquet directory, a Kafka topic, a PostgreSQL table; see
    :mod:`sabot_lab.connectors.sink`), written exactly once as the job commits. A sink is
    the last operator of a hand-built :class:`~sabot_lab.logical.graph.JobGraph`; it is taken
    off the plan before optimization and execution (the JobManager commits the rows).

    >>> Sink(target={"kind": "parquet", "location": "/tmp/out"}).describe()
    'parquet /tmp/out'
    """

    kind = OperatorType.SINK
    job_output = True

    target: dict[str, Any]

    def check(self) -> None:
        if not isinstance(self.target, Mapping) or not isinstance(self.target.get("kind"), str):
            self._fail(f"target must be a sink's dict with its 'kind', got {self.target!r}")

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        return inputs[0]

    def describe(self, name: str = "") -> str:
        where = [str(v) for k, v in self.target.items() if k in _SINK_PLACES]
        return " ".join([self.target["kind"], *where])


_SINK_PLACES = ("location", "topic", "table")
"""The fields of a sink's dict that say where it writes (what a plan prints of it)."""


# ----------------------------------------------------------------------------- per batch
@dataclass(frozen=True, kw_only=True, eq=False)
class Filter(Operator):
    """The rows where ``predicate`` is true (null counts as false)."""

    kind = OperatorType.FILTER
    per_batch = True

    predicate: Expr

    def check(self) -> None:
        if not isinstance(self.predicate, Expr):
            self._fail(f"predicate must be an expression, got {self.predicate!r}")

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        return inputs[0]

    def describe(self, name: str = "") -> str:
        return repr(self.predicate)


@dataclass(frozen=True, kw_only=True, eq=False)
class Project(Operator):
    """One output column per expression (``select``, ``with_columns``, ``rename``)."""

    kind = OperatorType.SELECT
    per_batch = True

    exprs: list[Expr]

    def check(self) -> None:
        _exprs(self.exprs, "exprs", self)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        return pa.schema([e.output_field(inputs[0]) for e in self.exprs])

    def passed_columns(self) -> dict[str, str]:
        """The output columns that are input columns (under aliases): output name to input
        name.

        >>> from sabot_lab.expr import col
        >>> Project(exprs=[col("a").alias("b"), col("c"), col("a") + 1]).passed_columns()
        {'b': 'a', 'c': 'c'}
        """
        passed = {}
        for expr in self.exprs:
            inner = expr
            while isinstance(inner, Alias):
                inner = inner.args[0]
            if isinstance(inner, Column):
                passed[expr.output_name()] = str(inner.param("name"))
        return passed

    def describe(self, name: str = "") -> str:
        exprs = self.exprs
        if name == "with_columns":  # the columns passed through go without saying
            exprs = [e for e in exprs if not isinstance(e, Column)]
        return ", ".join(repr(e) for e in exprs)


@dataclass(frozen=True, kw_only=True, eq=False)
class Map(Operator):
    """A user function over whole batches; ``preserves`` names the columns it passes through
    unchanged row by row (filters on them may run before it). Its output schema is the
    function's (learned by the Stream API)."""

    kind = OperatorType.MAP
    per_batch = True

    fn: Callable[..., Any]
    preserves: Sequence[str] = ()

    def check(self) -> None:
        if not callable(self.fn):
            self._fail(f"fn must be callable, got {self.fn!r}")
        _names(self.preserves, "preserves", self)

    def schema(self, inputs: Sequence[pa.Schema]) -> None:
        """None: the output is whatever the user function returns, which its fields do not
        say (the Stream API learns it from the function, or takes it from the user).

        >>> Map(fn=lambda batch: batch).schema([pa.schema([("x", pa.int64())])]) is None
        True
        """
        return None

    def describe(self, name: str = "") -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


@dataclass(frozen=True, kw_only=True, eq=False)
class FlatMap(Operator):
    """A user function from one row to any number of rows; ``row_schema``: the columns of
    the rows it returns (given by the user)."""

    kind = OperatorType.FLAT_MAP
    per_batch = True

    fn: Callable[..., Any]
    row_schema: pa.Schema

    def check(self) -> None:
        if not callable(self.fn):
            self._fail(f"fn must be callable, got {self.fn!r}")
        if not isinstance(self.row_schema, pa.Schema):
            self._fail(f"row_schema must be a pyarrow Schema, got {self.row_schema!r}")

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The ``row_schema`` the user gave.

        >>> FlatMap(fn=list, row_schema=pa.schema([("ch", pa.string())])).schema([pa.schema([])])
        ch: string
        """
        return self.row_schema

    def describe(self, name: str = "") -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


@dataclass(frozen=True, kw_only=True, eq=False)
class Fused(Operator):
    """A chain of per-batch operators run in one pass per batch (``operators``: their plan
    nodes, in execution order); made by the optimizer's fusion rule."""

    kind = OperatorType.FUSED
    per_batch = True

    operators: list[StreamOperatorNode]

    def check(self) -> None:
        if not self.operators or not all(m.op.per_batch for m in self.operators):
            self._fail("operators must be a non-empty list of per-batch operators")

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema | None:
        return self.operators[-1].schema

    def describe(self, name: str = "") -> str:
        return " → ".join(m.label() for m in self.operators)


@dataclass(frozen=True, kw_only=True, eq=False)
class Watermark(Operator):
    """Assigns event-time watermarks ``delay`` microseconds behind the largest ``column`` seen
    (``idle_timeout``: microseconds without rows after which an input holds nothing back);
    ``keep``: the ``on_time`` rows and watermarks, or the ``late`` rows. With
    ``processing_time``, ``column`` is the processing time: the operator stamps it with the
    wall clock as the rows pass, in order, and its watermarks are the wall clock, also when
    no rows come (``delay`` 0, every row on time)."""

    kind = OperatorType.WATERMARK

    column: str
    delay: int
    idle_timeout: int | None = None
    keep: str = "on_time"
    processing_time: bool = False

    def check(self) -> None:
        for what in ("delay", "idle_timeout"):
            value = getattr(self, what)
            if not isinstance(value, int) and not (what == "idle_timeout" and value is None):
                self._fail(f"{what} must be microseconds as an int, got {value!r}")
        if self.keep not in ("on_time", "late"):
            self._fail(f"keep must be 'on_time' or 'late', got {self.keep!r}")
        if self.processing_time and (self.delay or self.keep != "on_time"):
            self._fail("a processing-time watermark has no delay and keeps every row")

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        return inputs[0]


# ----------------------------------------------------------------------------- joins
@dataclass(frozen=True, kw_only=True, eq=False)
class HashJoin(Operator):
    """Rows of the left input (probe) matched on equal keys with the right input (build,
    read first); ``right_payload``: the right columns it outputs (by ``inner`` and ``left``
    joins), named with ``suffix`` where a left input column has the name, or as in
    ``payload_names`` when the optimizer set them (it keeps the names when it prunes the left
    column that clashed); ``left_payload``: the left columns it outputs when the optimizer
    pruned some (None: all); ``build_side``: ``"left"`` when a ``semi``, ``anti`` or ``left``
    join of bounded inputs builds its hash table on the (smaller) left input and streams the
    right one through it, then outputs the (unmatched) left rows in their order (the optimizer
    sets it)."""

    kind = OperatorType.HASH_JOIN
    inputs = (2, 2)
    stateful = True

    how: str
    left_on: list[str]
    right_on: list[str]
    right_payload: list[str]
    suffix: str = "_right"
    left_payload: list[str] | None = None
    payload_names: list[str] | None = None
    build_side: str = "right"

    def check(self) -> None:
        if self.how not in JOIN_KINDS:
            self._fail(f"how must be one of {', '.join(JOIN_KINDS)}, got {self.how!r}")
        if self.build_side not in ("right", "left"):
            self._fail(f"build_side must be right or left, got {self.build_side!r}")
        if self.build_side == "left" and self.how not in LEFT_BUILDS:
            self._fail(
                f"only semi, anti and left joins build on the left side, not {self.how} joins"
            )
        for what in ("left_on", "right_on", "right_payload"):
            _names(getattr(self, what), what, self)
        if len(self.left_on) != len(self.right_on):
            self._fail(f"left_on {self.left_on} and right_on {self.right_on} differ in length")
        if self.payload_names is not None:
            _names(self.payload_names, "payload_names", self)
            if len(self.payload_names) != len(self.right_payload):
                self._fail(
                    f"payload_names {self.payload_names} and right_payload "
                    f"{self.right_payload} differ in length"
                )

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        return tuple(self.left_on)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The left columns (``left_payload`` of them when set), then for ``inner`` and
        ``left`` joins the ``right_payload`` columns of the right input, renamed.

        >>> left = pa.schema([("k", pa.int64()), ("x", pa.string())])
        >>> right = pa.schema([("id", pa.int64()), ("x", pa.float64())])
        >>> join = HashJoin(how="left", left_on=["k"], right_on=["id"], right_payload=["x"])
        >>> join.schema([left, right]).names
        ['k', 'x', 'x_right']
        >>> join.replace(how="anti").schema([left, right]).names
        ['k', 'x']
        """
        left, right = inputs
        for side, keys in ((left, self.left_on), (right, self.right_on)):
            for key in keys:
                if key in side.names:
                    require_hashable(key, side.field(key).type, "a join key")
        fields = list(left if self.left_payload is None else map(left.field, self.left_payload))
        if self.how in ("semi", "anti"):
            return pa.schema(fields)
        names = self.payload_names
        if names is None:
            names = join_output_names(self.right_payload, left.names, self.suffix)
        payload = [right.field(c) for c in self.right_payload]
        return pa.schema(fields + [f.with_name(n) for f, n in zip(payload, names, strict=True)])

    def describe(self, name: str = "") -> str:
        keys = f"left_on=[{', '.join(self.left_on)}] right_on=[{', '.join(self.right_on)}]"
        return keys if self.build_side == "right" else f"{keys} build_side=left"


def join_output_names(payload: Sequence[str], left: Sequence[str], suffix: str) -> list[str]:
    """The output names of a join's right ``payload`` columns: ``suffix`` added to those
    named like a ``left`` column.

    >>> join_output_names(["x", "y"], ["k", "x"], "_right")
    ['x_right', 'y']
    """
    return [n + suffix if n in left else n for n in payload]


@dataclass(frozen=True, kw_only=True, eq=False)
class IntervalJoin(Operator):
    """Inner join of two streams on equal keys and times within ``[lower, upper]``
    microseconds (``other_time + lower <= time <= other_time + upper``)."""

    kind = OperatorType.INTERVAL_JOIN
    inputs = (2, 2)
    stateful = True
    preserves_order = False

    left_on: list[str]
    right_on: list[str]
    time: str
    other_time: str
    lower: int
    upper: int
    right_payload: list[str]
    payload_names: list[str]

    def check(self) -> None:
        for what in ("left_on", "right_on", "right_payload", "payload_names"):
            _names(getattr(self, what), what, self)
        if self.lower > self.upper:
            self._fail(f"lower {self.lower} is above upper {self.upper}")

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        return tuple(self.left_on)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The left columns, then the ``right_payload`` columns named ``payload_names``.

        >>> join = IntervalJoin(left_on=["k"], right_on=["k"], time="t", other_time="t",
        ...     lower=0, upper=1, right_payload=["x"], payload_names=["x_right"])
        >>> join.schema([pa.schema([("k", pa.int64()), ("x", pa.int8())]), pa.schema([("x", pa.string())])])
        k: int64
        x: int8
        x_right: string
        """
        return _with_payload(inputs, self.right_payload, self.payload_names)


@dataclass(frozen=True, kw_only=True, eq=False)
class SymmetricJoin(Operator):
    """Inner join of two streams on equal keys, both read at once: each side's rows are kept
    and every batch meets the other side's rows kept so far. A left row is kept until the
    watermark passes its ``left_until`` column plus ``left_slack`` microseconds (a right row:
    ``right_until``, ``right_slack``); without such a column, forever (the state grows with
    the stream). The output carries no event time: watermarks stop here until the end, unless
    ``passes_watermark`` (both sides name an ``until`` column): then the watermark passes on,
    lowered by the larger slack, and every row out has both ``until`` columns at or above it
    (each row of a pair is still kept, or has just come)."""

    kind = OperatorType.SYMMETRIC_JOIN
    inputs = (2, 2)
    stateful = True
    preserves_order = False

    left_on: list[str]
    right_on: list[str]
    right_payload: list[str]
    payload_names: list[str]
    left_until: str | None = None
    left_slack: int = 0
    right_until: str | None = None
    right_slack: int = 0
    passes_watermark: bool = False

    def check(self) -> None:
        if self.passes_watermark and (self.left_until is None or self.right_until is None):
            self._fail("passes_watermark needs an until column on both sides")
        for what in ("left_on", "right_on", "right_payload", "payload_names"):
            _names(getattr(self, what), what, self)
        for side in ("left", "right"):
            until, slack = getattr(self, f"{side}_until"), getattr(self, f"{side}_slack")
            if until is not None and not isinstance(until, str):
                self._fail(f"{side}_until must be a column name or None, got {until!r}")
            if not isinstance(slack, int) or isinstance(slack, bool):
                self._fail(f"{side}_slack must be microseconds as an int, got {slack!r}")

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        return tuple(self.left_on)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The left columns, then the ``right_payload`` columns named ``payload_names``.

        >>> join = SymmetricJoin(left_on=["k"], right_on=["k"], right_payload=["x"], payload_names=["x_right"])
        >>> join.schema([pa.schema([("k", pa.int64()), ("x", pa.int8())]), pa.schema([("x", pa.string())])]).names
        ['k', 'x', 'x_right']
        """
        return _with_payload(inputs, self.right_payload, self.payload_names)

    def describe(self, name: str = "") -> str:
        """The keys, and how long each side's rows are kept (the state's growth).

        >>> SymmetricJoin(left_on=["k"], right_on=["id"], right_payload=[], payload_names=[],
        ...     right_until="t", right_slack=2_000_000).describe()
        'left_on=[k] right_on=[id] state: left rows kept forever (grows without bound), right rows until the watermark passes t + 2s'
        """
        kept = [
            f"{side} rows kept forever (grows without bound)"
            if until is None
            else f"{side} rows until the watermark passes {until}"
            + (f" {'+' if slack > 0 else '-'} {abs(slack) / 1e6:g}s" if slack else "")
            for side, until, slack in (
                ("left", self.left_until, self.left_slack),
                ("right", self.right_until, self.right_slack),
            )
        ]
        keys = f"left_on=[{', '.join(self.left_on)}] right_on=[{', '.join(self.right_on)}]"
        passes = "; passes the watermark on" if self.passes_watermark else ""
        return f"{keys} state: {', '.join(kept)}{passes}"


@dataclass(frozen=True, kw_only=True, eq=False)
class AsofJoin(Operator):
    """Each left row with the latest right row of the same ``by`` keys at or before its time
    (column ``on``), at most ``tolerance`` microseconds older (None: any)."""

    kind = OperatorType.ASOF_JOIN
    inputs = (2, 2)
    stateful = True
    preserves_order = False

    on: str
    by: list[str]
    tolerance: int | None
    right_payload: list[str]
    payload_names: list[str]

    def check(self) -> None:
        for what in ("by", "right_payload", "payload_names"):
            _names(getattr(self, what), what, self)
        if self.tolerance is not None:
            _count(self.tolerance, "tolerance", self)

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        return tuple(self.by)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The left columns, then the ``right_payload`` columns named ``payload_names``
        (null where no right row matched).

        >>> join = AsofJoin(on="t", by=[], tolerance=None, right_payload=["px"], payload_names=["px"])
        >>> join.schema([pa.schema([("t", pa.timestamp("us"))]), pa.schema([("px", pa.float64())])]).names
        ['t', 'px']
        """
        return _with_payload(inputs, self.right_payload, self.payload_names)


def _with_payload(
    inputs: Sequence[pa.Schema], payload: Sequence[str], names: Sequence[str]
) -> pa.Schema:
    """The left input's columns, then the right input's ``payload`` columns as ``names``."""
    left, right = inputs
    renamed = [right.field(c).with_name(n) for c, n in zip(payload, names, strict=True)]
    return pa.schema([*left, *renamed])


# ----------------------------------------------------------------------------- aggregates
AGGREGATE_PHASES = (None, "partial", "final")

RUNNING_DISTINCT = ("n_unique",)
"""The holistic aggregates a running aggregate (over an unbounded input) computes: its state
keeps each group's distinct values, so it grows with them (``explain()`` says so)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class Aggregate(Operator):
    """One row of ``aggs`` over all rows (:class:`GroupBy`: per value of ``keys``);
    ``running``: emit updates as rows come (an unbounded input); ``updates_of``: the input is
    an upsert changelog with this key, whose rows replace the earlier rows of their key (the
    aggregate keeps the last row of each key and takes back its contribution when it changes;
    it runs in one task, as each key's rows and each group's must meet). The physical planner
    splits it in a ``partial`` phase per batch and a ``final`` one merging partials of an
    aggregate over ``input_schema``."""

    kind = OperatorType.AGGREGATE
    stateful = True
    preserves_order = False

    keys: list[str] = dataclasses.field(default_factory=list)
    aggs: list[Expr]
    running: bool = False
    phase: str | None = None
    input_schema: pa.Schema | None = None
    updates_of: list[str] | None = None

    def check(self) -> None:
        _names(self.keys, "keys", self)
        _exprs(self.aggs, "aggs", self)
        if self.phase not in AGGREGATE_PHASES:
            self._fail(f"phase must be 'partial', 'final' or None, got {self.phase!r}")
        if self.updates_of is not None:
            _names(self.updates_of, "updates_of", self)
            if not self.running or self.phase is not None:
                self._fail("an aggregate of updates (updates_of) runs whole, with running=True")

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        return () if self.updates_of is not None else tuple(self.keys)

    def changelog_key(self, schema: pa.Schema) -> tuple[str, ...]:
        return tuple(self.keys)

    def emits_updates(self) -> bool:
        return self.running

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema | None:
        """The keys, then one column per aggregate, typed by the expression type rules
        (:mod:`sabot_lab.expr.types`); a ``final`` phase has the same output, over the rows
        of ``input_schema`` whose partials it merges. A ``partial`` phase gives None: its
        rows are the engine's partial results, whose columns (a mean as a sum and a count,
        named after the aggregate's internal inputs, typed by Arrow's hash kernels) are the
        engine's decomposition of the aggregates, not fields of the plan; the physical
        planner asks the engine for them.

        >>> from sabot_lab.expr import col
        >>> rows = pa.schema([("k", pa.string()), ("x", pa.int32())])
        >>> GroupBy(keys=["k"], aggs=[col("x").sum(), col("x").mean().alias("m")]).schema([rows])
        k: string
        x: int64
        m: double
        >>> GroupBy(keys=["k"], aggs=[col("x").mean()], phase="partial").schema([rows]) is None
        True
        """
        if self.phase == "partial":
            return None
        rows = inputs[0]
        if self.phase == "final":
            if self.input_schema is None:
                self._fail("a final phase needs the input_schema of the rows it aggregates")
            rows = self.input_schema
        keys = [rows.field(k) for k in self.keys]
        for key in keys:
            require_hashable(key.name, key.type, "a group_by key")
        return pa.schema([*keys, *(a.output_field(rows) for a in self.aggs)])

    def describe(self, name: str = "") -> str:
        """The keys and aggregates; a running aggregate keeping distinct values says so.

        >>> from sabot_lab.expr import col
        >>> GroupBy(keys=["k"], aggs=[col("x").n_unique()], running=True).describe()
        'keys=[k] aggs=[col("x").n_unique()] state: the distinct values of [x] per group (grows with them)'
        """
        aggs = ", ".join(repr(a) for a in self.aggs)
        keys = f"keys=[{', '.join(self.keys)}] " if self.keys else ""
        kept = [
            f"[{', '.join(e.args[0].columns())}]"
            for a in self.aggs
            for e in a.walk()
            if self.running and e.op == "agg" and e.param("fn") in RUNNING_DISTINCT
        ]
        state = f" state: the distinct values of {', '.join(kept)} per group (grows with them)"
        updates = ""
        if self.updates_of is not None:
            updates = (
                f" of updates keyed by [{', '.join(self.updates_of)}] (state: the last row of each)"
            )
        return f"{keys}aggs=[{aggs}]" + updates + (state if kept else "")


@dataclass(frozen=True, kw_only=True, eq=False)
class GroupBy(Aggregate):
    """An :class:`Aggregate` per value of ``keys`` (at least one)."""

    kind = OperatorType.GROUP_BY

    def check(self) -> None:
        super().check()
        if not self.keys:
            self._fail("a group_by needs at least one key")


@dataclass(frozen=True, kw_only=True, eq=False)
class Distinct(Operator):
    """Each distinct row once; keyed by every column."""

    kind = OperatorType.DISTINCT
    stateful = True
    preserves_order = False

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        return () if schema is None else tuple(schema.names)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        for field in inputs[0]:
            require_hashable(field.name, field.type, "a distinct() column")
        return inputs[0]


@dataclass(frozen=True, kw_only=True, eq=False)
class Window(Operator):
    """Aggregates per key and event-time window (``window``: a
    :class:`~sabot_lab.window_specs.WindowSpec` as a dict), emitted as the watermark passes each
    window's end; ``early``: microseconds between early partial results (None: none)."""

    stateful = True
    preserves_order = False

    window: dict[str, Any]
    keys: list[str]
    aggs: list[Expr]
    early: int | None = None

    def check(self) -> None:
        _names(self.keys, "keys", self)
        _exprs(self.aggs, "aggs", self)
        if not isinstance(self.window, Mapping) or "on" not in self.window:
            self._fail(f"window must be a window spec dict, got {self.window!r}")

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        return tuple(self.keys)

    def emits_updates(self) -> bool:
        return self.early is not None

    def changelog_key(self, schema: pa.Schema) -> tuple[str, ...]:
        return (*self.keys, "window_start")

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The keys, ``window_start`` and ``window_end`` (of the type of the window's time
        column), then one column per aggregate, typed by the expression type rules.

        >>> from sabot_lab.expr import count
        >>> rows = pa.schema([("k", pa.string()), ("t", pa.timestamp("ms"))])
        >>> window = {"kind": "tumbling", "size": 10_000_000, "slide": 10_000_000, "on": "t"}
        >>> TumblingWindow(window=window, keys=["k"], aggs=[count()]).schema([rows])
        k: string
        window_start: timestamp[ms]
        window_end: timestamp[ms]
        count: int64
        """
        rows = inputs[0]
        time = rows.field(self.window["on"]).type
        bounds = [pa.field("window_start", time), pa.field("window_end", time)]
        aggs = [a.output_field(rows) for a in self.aggs]
        return pa.schema([*map(rows.field, self.keys), *bounds, *aggs])


@dataclass(frozen=True, kw_only=True, eq=False)
class TumblingWindow(Window):
    """A :class:`Window` of fixed, adjacent windows."""

    kind = OperatorType.TUMBLING_WINDOW


@dataclass(frozen=True, kw_only=True, eq=False)
class SlidingWindow(Window):
    """A :class:`Window` of fixed windows starting every ``slide``."""

    kind = OperatorType.SLIDING_WINDOW


@dataclass(frozen=True, kw_only=True, eq=False)
class SessionWindow(Window):
    """A :class:`Window` of sessions closed by a gap of ``size``."""

    kind = OperatorType.SESSION_WINDOW


@dataclass(frozen=True, kw_only=True, eq=False)
class CascadedWindow(Window):
    """Aggregates of rows already cut into windows, grouped by their window bounds (and other
    ``keys``): Flink's window aggregate over propagated window attributes (Nexmark q5's
    ``GROUP BY starttime, endtime`` over window counts). ``window`` is a tumbling window one
    unit of its ``on`` column long, ``on`` a group key carrying event time (a window bound):
    no row still to come has ``on`` below the watermark, so each group is final, and emitted
    once, when the watermark passes its ``on``. The output is the keys and the aggregates
    (the bounds are keys); an append stream."""

    kind = OperatorType.CASCADED_WINDOW

    def check(self) -> None:
        super().check()
        if self.window["on"] not in self.keys:
            self._fail(f"the window's column {self.window['on']!r} must be a group key")
        if self.early is not None:
            self._fail("a cascaded window gives each group once: it has no early results")

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The keys, then one column per aggregate.

        >>> from sabot_lab.expr import col
        >>> rows = pa.schema([("ends", pa.timestamp("ms")), ("n", pa.int64())])
        >>> window = {"kind": "tumbling", "size": 1_000, "slide": 1_000, "on": "ends"}
        >>> CascadedWindow(window=window, keys=["ends"], aggs=[col("n").max()]).schema([rows])
        ends: timestamp[ms]
        n: int64
        """
        rows = inputs[0]
        aggs = [a.output_field(rows) for a in self.aggs]
        return pa.schema([*map(rows.field, self.keys), *aggs])

    def describe(self, name: str = "") -> str:
        """The keys, the aggregates and when a group is emitted.

        >>> from sabot_lab.expr import count
        >>> window = {"kind": "tumbling", "size": 1_000, "slide": 1_000, "on": "ends"}
        >>> CascadedWindow(window=window, keys=["ends"], aggs=[count()]).describe()
        'keys=[ends] aggs=[count()] each group once, when the watermark passes ends'
        """
        aggs = ", ".join(repr(a) for a in self.aggs)
        when = f"each group once, when the watermark passes {self.window['on']}"
        return f"keys=[{', '.join(self.keys)}] aggs=[{aggs}] {when}"


# ----------------------------------------------------------------------------- combining and order
@dataclass(frozen=True, kw_only=True, eq=False)
class Union(Operator):
    """The rows of every input (two or more, with the same column names), cast to one schema."""

    kind = OperatorType.UNION
    inputs = (2, None)
    preserves_order = False

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The first input's columns, each of the type every input's column casts to
        (``int32`` with ``int64`` gives ``int64``); :class:`SchemaError` when there is none.

        >>> Union().schema([pa.schema([("x", pa.int32()), ("y", pa.string())]), pa.schema([("y", pa.string()), ("x", pa.int64())])])
        x: int64
        y: string
        """
        try:
            unified = pa.unify_schemas(list(inputs), promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(f"union inputs have incompatible column types: {exc}") from exc
        return pa.schema([unified.field(n) for n in inputs[0].names])


@dataclass(frozen=True, kw_only=True, eq=False)
class Sort(Operator):
    """The rows ordered by ``by`` (``descending`` per key); ``top_n``: only the first rows
    are needed (set by the optimizer under a limit)."""

    kind = OperatorType.SORT
    stateful = True

    by: list[Expr]
    descending: list[bool]
    top_n: int | None = None

    def check(self) -> None:
        _exprs(self.by, "by", self)
        if len(self.by) != len(self.descending):
            self._fail(f"{len(self.by)} keys but {len(self.descending)} descending flags")
        if self.top_n is not None:
            _count(self.top_n, "top_n", self)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        for key in self.by:
            field = key.output_field(inputs[0])
            require_sortable(field.name, field.type)
        return inputs[0]

    def describe(self, name: str = "") -> str:
        order = [
            f"{e!r}{' desc' if d else ''}" for e, d in zip(self.by, self.descending, strict=True)
        ]
        top = f" top_n={self.top_n}" if self.top_n is not None else ""
        return f"by=[{', '.join(order)}]{top}"


@dataclass(frozen=True, kw_only=True, eq=False)
class Limit(Operator):
    """The first ``n`` rows after skipping ``offset``."""

    kind = OperatorType.LIMIT

    n: int
    offset: int = 0

    def check(self) -> None:
        _count(self.n, "n", self)
        _count(self.offset, "offset", self)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        return inputs[0]

    def describe(self, name: str = "") -> str:
        return f"n={self.n}" + (f" offset={self.offset}" if self.offset else "")


@dataclass(frozen=True, kw_only=True, eq=False)
class RowIndex(Operator):
    """A first column ``name`` numbering the rows from ``offset`` in the order they arrive
    (the input's order where it has one); it runs as a single task, which counts them."""

    kind = OperatorType.ROW_INDEX
    stateful = True

    name: str = "index"
    offset: int = 0

    def check(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            self._fail(f"name must be a column name, got {self.name!r}")
        _count(self.offset, "offset", self)

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        """The index (int64), then the input's columns.

        >>> RowIndex(name="n").schema([pa.schema([("x", pa.string())])])
        n: int64
        x: string
        """
        return pa.schema([pa.field(self.name, pa.int64()), *inputs[0]])

    def describe(self, name: str = "") -> str:
        return f"name={self.name}" + (f" offset={self.offset}" if self.offset else "")


@dataclass(frozen=True, kw_only=True, eq=False)
class WindowFunctions(Operator):
    """The input's rows, each with one more column per window expression of ``exprs``
    (``Expr.over``: an aggregate or window function over the rows of its partition, in
    their order), once the input has ended. Keyed by the partition columns every
    expression shares, so a shuffle by them runs it in parallel.

    >>> from sabot_lab.expr import col
    >>> op = WindowFunctions(exprs=[col("x").sum().over("k", order_by="t").alias("s")])
    >>> op.schema([pa.schema([("k", pa.string()), ("t", pa.int64()), ("x", pa.int32())])]).names
    ['k', 't', 'x', 's']
    >>> op.key_by(None)
    ('k',)
    """

    kind = OperatorType.WINDOW_FUNCTIONS
    stateful = True

    exprs: list[Expr]

    def check(self) -> None:
        _exprs(self.exprs, "exprs", self)
        for e in self.exprs:
            if not isinstance(e, Alias) or not isinstance(e.args[0], Over):
                self._fail(f"exprs must be aliased window expressions (over()), got {e!r}")

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        shared: list[str] | None = None
        for e in self.exprs:
            over = e.args[0]
            keys = over.args[1 : 1 + int(over.param("partitions"))]
            names = [k.param("name") for k in keys if isinstance(k, Column)]
            shared = names if shared is None else [n for n in shared if n in names]
        return tuple(dict.fromkeys(shared or []))

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        return pa.schema([*inputs[0], *(e.output_field(inputs[0]) for e in self.exprs)])

    def describe(self, name: str = "") -> str:
        return ", ".join(repr(e) for e in self.exprs)


@dataclass(frozen=True, kw_only=True, eq=False)
class TopN(Operator):
    """The first ``n`` rows of each partition of an unbounded stream by the order of
    ``rank`` (an aliased ``row_number().over(partition columns, order_by=...)``), each with
    its row number in the column ``rank`` names. Without ``window_end`` it emits an upsert
    changelog: after each batch, the rows now at the rank positions the batch changed (a row
    replaces the earlier one of the same partition and row number). With ``window_end`` (a
    partition column: the end of an event-time window) it emits each window's rows once, as
    the watermark passes that end, and forgets the window. With ``first_at`` (the event-time
    column ``rank`` orders by, ascending: a deduplication keeping each partition's first row)
    it emits each partition's first row once, when the watermark passes its time, and drops
    the later rows of that partition (it keeps the first rows of every partition seen). With
    ``ends_at`` (an input column: the time after which no row of a row's partition comes, as
    an auction's ``expires`` bounds the bids joined to it) and ``time`` (an event-time column
    it passes on) it emits each partition's rows once, when the watermark passes their end,
    and forgets them; its watermark waits for the rows still held (their ``time``) and its
    output leaves out ``ends_at``.

    >>> from sabot_lab.expr.windows import row_number
    >>> op = TopN(rank=row_number().over("k", order_by="x", descending=True).alias("rn"), n=2)
    >>> op.schema([pa.schema([("k", pa.string()), ("x", pa.int64())])]).names
    ['k', 'x', 'rn']
    >>> op.key_by(None), op.emits_updates(), op.describe()
    (('k',), True, 'rn <= 2 by row_number().over("k", order_by="x", descending=True) (upserts; keeps the rows of every partition seen)')
    """

    kind = OperatorType.TOP_N
    stateful = True
    preserves_order = False

    rank: Expr
    n: int
    window_end: str | None = None
    first_at: str | None = None
    ends_at: str | None = None
    time: str | None = None

    def check(self) -> None:
        over = self.rank.args[0] if isinstance(self.rank, Alias) and self.rank.args else None
        fn = over.args[0] if isinstance(over, Over) else None
        if fn is None or fn.param("fn") != "row_number":
            self._fail(f"rank must be an aliased row_number().over(...), got {self.rank!r}")
        if not all(isinstance(k, Column) for k in self.partitions()):
            self._fail(f"rank must partition by columns, got {self.rank!r}")
        _count(self.n, "n", self)
        if self.n < 1:
            self._fail("n must be at least 1")
        if self.window_end is not None and self.window_end not in self.key_by(None):
            self._fail(f"window_end {self.window_end!r} must be a partition column")
        if self.first_at is not None:
            over = self.rank.args[0]
            orders = over.args[1 + int(over.param("partitions")) :]
            by = orders[0] if len(orders) == 1 and isinstance(orders[0], Column) else None
            if self.n != 1 or by is None or by.param("name") != self.first_at:
                self._fail(f"first_at {self.first_at!r} must be the one order key of a top 1")
            if over.param("descending")[0]:
                self._fail("first_at keeps the first row: its order must be ascending")
        modes = [m for m in (self.window_end, self.first_at, self.ends_at) if m is not None]
        if len(modes) > 1:
            self._fail(
                "a top-N is per window (window_end), keeps first rows (first_at) or ends "
                "with its partitions (ends_at): one of them"
            )
        if (self.ends_at is None) != (self.time is None):
            self._fail("ends_at and time go together: the end of each partition, the event time")

    def partitions(self) -> list[Expr]:
        """The partition keys of ``rank``."""
        over = self.rank.args[0]
        return list(over.args[1 : 1 + int(over.param("partitions"))])

    def key_by(self, schema: pa.Schema | None) -> tuple[str, ...]:
        return tuple(k.param("name") for k in self.partitions())

    def emits_updates(self) -> bool:
        return self.window_end is None and self.first_at is None and self.ends_at is None

    def changelog_key(self, schema: pa.Schema) -> tuple[str, ...]:
        """The partition columns and the rank; a top 1's rank is always 1, so its rows are
        keyed by the partition columns alone (a query may leave out its constant rank)."""
        if self.n == 1:
            return self.key_by(schema)
        return (*self.key_by(schema), self.rank.output_name())

    def schema(self, inputs: Sequence[pa.Schema]) -> pa.Schema:
        passed = [f for f in inputs[0] if f.name != self.ends_at]
        return pa.schema([*passed, self.rank.output_field(inputs[0])])

    def describe(self, name: str = "") -> str:
        if self.window_end:
            state = f"per window, emitted and forgotten as the watermark passes {self.window_end}"
        elif self.first_at:
            state = (
                f"first rows, emitted as the watermark passes {self.first_at}; keeps the first "
                "row of every partition seen"
            )
        elif self.ends_at:
            state = (
                f"emitted and forgotten as the watermark passes {self.ends_at}; the watermark "
                f"waits for the {self.time} of the rows held"
            )
        else:
            state = "upserts; keeps the rows of every partition seen"
        return f"{self.rank.output_name()} <= {self.n} by {self.rank.args[0]!r} ({state})"


@dataclass(frozen=True, kw_only=True, eq=False)
class OverWindow(WindowFunctions):
    """Window functions on an unbounded stream, each ordered by its event-time column
    ``time``: a row comes out with its window columns once the watermark passes its time
    (append-only; see :mod:`sabot_lab.logical.over_windows` for which expressions qualify and
    :mod:`sabot_lab.engine.stream_window_functions` for the state kept).

    >>> from sabot_lab.expr import col
    >>> op = OverWindow(exprs=[col("x").sum().over("k", order_by="t").alias("s")], time="t")
    >>> op.describe(), op.key_by(None)
    ('col("x").sum().over("k", order_by="t").alias("s") as rows pass t', ('k',))
    """

    kind = OperatorType.OVER_WINDOW

    time: str

    def check(self) -> None:
        super().check()
        if not isinstance(self.time, str) or not self.time:
            self._fail(f"time must be the event-time column's name, got {self.time!r}")

    def describe(self, name: str = "") -> str:
        return f"{super().describe(name)} as rows pass {self.time}"
