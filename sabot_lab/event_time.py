"""The plans of a :class:`~sabot_lab.stream.Stream`'s event-time verbs: watermarks, the late side
output, and windowed aggregation (``stream.window(spec).group_by(...).agg(...)``). Each function
checks a verb's arguments and returns the :class:`PlanStep` it appends; the stream appends it.

May import: the plan, expressions and window specifications; not :mod:`sabot_lab.stream`
(which imports this module). The steps' output schemas are their operators' (``op.schema``).

>>> import datetime as dt, sabot_lab as sl
>>> t = [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 2, 12, 3, 25)]
>>> clicks = sl.from_pydict({"t": t, "user": ["a", "b", "a", "a", "b"]}).with_watermark("t", "5s")
>>> clicks.late().collect().column("user").to_pylist()  # 00:00:03 arrived after 00:00:12 - 5s
['a']
>>> per_user = clicks.window(sl.tumbling("10s", on="t")).group_by("user").agg(n=sl.count())
>>> per_user.sort(["window_start", "user"]).collect().to_pydict()["n"]
[1, 1, 1, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from sabot_lab.engine.user_aggregate import check_user_aggregates
from sabot_lab.errors import PlanError, SchemaError, column_not_found
from sabot_lab.expr import Expr
from sabot_lab.logical import (
    Operator,
    SessionWindow,
    SlidingWindow,
    StreamOperatorNode,
    TumblingWindow,
    Watermark,
    Window,
)
from sabot_lab.window_specs import Duration, WindowSpec, duration_us, require_timestamp

__all__ = [
    "PlanStep",
    "check_aggregates",
    "late_step",
    "processing_time_step",
    "watermark_step",
    "window_early",
    "window_step",
]

WINDOW_KINDS: dict[str, type[Window]] = {
    "tumbling": TumblingWindow,
    "sliding": SlidingWindow,
    "session": SessionWindow,
}


@dataclass(frozen=True)
class PlanStep:
    """One operator a verb appends to a stream's plan: the typed operator and its name (its
    output schema is the operator's)."""

    op: Operator
    name: str


def watermark_step(
    schema: pa.Schema, column: str, max_delay: Duration, idle_timeout: Duration | None
) -> PlanStep:
    """The watermark on ``column`` (see :meth:`Stream.with_watermark
    <sabot_lab.stream.Stream.with_watermark>`).

    >>> import pyarrow as pa
    >>> watermark_step(pa.schema({"t": pa.timestamp("us")}), "t", "2s", None).op.delay
    2000000
    """
    require_timestamp(schema, column, "with_watermark")
    delay = duration_us(max_delay)
    idle = None if idle_timeout is None else duration_us(idle_timeout)
    watermark = Watermark(column=column, delay=delay, idle_timeout=idle, keep="on_time")
    return PlanStep(watermark, "with_watermark")


def processing_time_step(schema: pa.Schema, column: str) -> PlanStep:
    """The processing-time clock on ``column`` (see :meth:`Stream.with_processing_time
    <sabot_lab.stream.Stream.with_processing_time>`).

    >>> import pyarrow as pa
    >>> watermark_op = processing_time_step(pa.schema({"p": pa.timestamp("ms")}), "p").op
    >>> watermark_op.processing_time, watermark_op.delay
    (True, 0)
    """
    require_timestamp(schema, column, "with_processing_time")
    watermark = Watermark(column=column, delay=0, processing_time=True)
    return PlanStep(watermark, "with_processing_time")


def late_step(watermark: StreamOperatorNode) -> PlanStep:
    """The late side output of ``watermark`` (a stream's last operator), to append to the
    watermark's input (see :meth:`Stream.late <sabot_lab.stream.Stream.late>`).

    >>> import datetime as dt, sabot_lab as sl
    >>> s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1)]}).with_watermark("t", "1s")
    >>> late_step(s.graph.node(s.node_id)).op.keep
    'late'
    """
    op = watermark.op
    if not isinstance(op, Watermark) or op.keep != "on_time" or op.processing_time:
        raise PlanError(
            "late() gives the rows a watermark left out: call it right after "
            "with_watermark(...), e.g. s.with_watermark('ts', '4s').late()"
        )
    return PlanStep(op.replace(keep="late"), "late")


def check_aggregates(schema: pa.Schema, aggs: Sequence[Expr]) -> None:
    """A clear error unless every expression is an aggregate over the columns of ``schema``.

    >>> import pyarrow as pa, sabot_lab as sl
    >>> check_aggregates(pa.schema({"x": pa.int64()}), [sl.col("x").sum()])
    >>> check_aggregates(pa.schema({"x": pa.int64()}), [sl.col("x")])
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: col("x") is not an aggregate; ...
    """
    for expr in aggs:
        if not expr.is_aggregate():
            raise SchemaError(
                f"{expr!r} is not an aggregate; wrap it in one (e.g. .first(), .sum()) "
                "or add it to the group keys"
            )
    for expr in aggs:
        for name in expr.columns():
            if name not in schema.names:
                raise column_not_found(name, schema.names)
    check_user_aggregates(schema, aggs)  # compiled now: errors at plan build, not mid-run


def window_early(schema: pa.Schema, spec: WindowSpec, early: Duration | None) -> int | None:
    """Check that ``spec`` can cut rows of ``schema`` (with early results every ``early``);
    return ``early`` in microseconds.

    >>> import pyarrow as pa, sabot_lab as sl
    >>> window_early(pa.schema({"t": pa.timestamp("us")}), sl.tumbling("10s", on="t"), "1s")
    1000000
    """
    require_timestamp(schema, spec.on, "window")
    if early is not None and spec.kind == "session":
        raise PlanError(
            "early results need windows with fixed bounds (tumbling or sliding): a "
            "session's bounds change while it grows"
        )
    return None if early is None else duration_us(early)


def window_step(
    schema: pa.Schema, spec: WindowSpec, keys: list[str], aggs: list[Expr], early: int | None
) -> PlanStep:
    """The aggregation of rows of ``schema`` per key in ``keys`` and window of ``spec``, with
    early results every ``early`` microseconds (see :meth:`Stream.window
    <sabot_lab.stream.Stream.window>`).

    >>> import pyarrow as pa, sabot_lab as sl
    >>> rows = pa.schema({"t": pa.timestamp("us")})
    >>> step = window_step(rows, sl.tumbling("10s", on="t"), [], [sl.count()], None)
    >>> type(step.op).__name__, step.op.schema([rows]).names
    ('TumblingWindow', ['window_start', 'window_end', 'count'])
    """
    if not aggs and not keys:
        raise PlanError("agg() needs at least one aggregate expression")
    check_aggregates(schema, aggs)
    clash = {"window_start", "window_end"} & set(keys)
    if clash:
        raise SchemaError(f"{sorted(clash)} name the window's bounds; rename the key first")
    window = WINDOW_KINDS[spec.kind](window=spec.to_dict(), keys=keys, aggs=aggs, early=early)
    return PlanStep(window, f"window {spec!r}")
