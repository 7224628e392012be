"""Window table functions in the ``FROM`` clause, as in Flink SQL, onto
:meth:`~sabot_lab.stream.Stream.window`:

- ``TUMBLE(TABLE t, DESCRIPTOR(time), size)``: :func:`~sabot_lab.window_specs.tumbling`;
- ``HOP(TABLE t, DESCRIPTOR(time), slide, size)``: :func:`~sabot_lab.window_specs.sliding`;
- ``SESSION(TABLE t [PARTITION BY keys], DESCRIPTOR(time), gap)``: :func:`~sabot_lab.window_specs.session`;
- ``CUMULATE(TABLE t, DESCRIPTOR(time), step, size)``: windows starting every ``size`` that
  grow by ``step`` (``[s, s + step)``, ``[s, s + 2 step)``, ... ``[s, s + size)``), lowered
  onto tumbling windows of ``step``: each row is repeated once per window that holds it (a
  cross join with the ``size / step`` window ends), at a helper time just before that
  window's end, and the grouped windows' ``window_start`` is rounded down to ``size``.

On the processing time (a ``PROCTIME()`` column) of an unbounded stream, the windows are
the wall clock's (:meth:`~sabot_lab.stream.Stream.with_processing_time`): a row's window is
the one holding the time it is processed at, and a window closes when the clock passes its
end; on a bounded stream they are grouped once the input ends.

Arguments may be named (``SIZE => INTERVAL '10' SECONDS``). The relation has the table's
columns and ``window_start``, ``window_end``; its rows are aggregated with ``GROUP BY
window_start, window_end, ...``.

>>> import datetime as dt, sabot_lab as sl
>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.parse import WindowFunction, parse
>>> bids = sl.from_pydict({"t": [dt.datetime(2026, 1, 1)], "auction": [1]})
>>> ctx = Context("SELECT * FROM TABLE(HOP(TABLE bids, DESCRIPTOR(t), INTERVAL '2' SECONDS, INTERVAL '10' SECONDS))", {"bids": bids})
>>> window_relation(parse(ctx.text).find(WindowFunction), None, ctx).window.spec
sliding(10s, 2s, on='t')
"""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
from sqlglot import exp

from sabot_lab.expr import col
from sabot_lab.logical.termination import flow
from sabot_lab.sql.context import Context
from sabot_lab.sql.parse import WindowFunction
from sabot_lab.sql.proctime import is_processing_time
from sabot_lab.sql.relation import Binding, Relation, WindowInput
from sabot_lab.stream import Stream, from_arrow
from sabot_lab.window_specs import (
    Duration,
    WindowSpec,
    duration_us,
    session,
    sliding,
    tumbling,
    unit_to_us,
)

__all__ = ["WINDOW_BOUNDS", "interval", "window_relation"]

WINDOW_BOUNDS = ("window_start", "window_end")
"""The columns a window table function adds to its table's."""

_PARAMETERS = {
    "TUMBLE": ("TIMECOL", "SIZE"),
    "HOP": ("TIMECOL", "SLIDE", "SIZE"),
    "SESSION": ("TIMECOL", "GAP"),
    "CUMULATE": ("TIMECOL", "STEP", "SIZE"),
}
_UNITS = {"MICROSECOND": "us", "MILLISECOND": "ms", "SECOND": "s", "MINUTE": "m", "HOUR": "h",
          "DAY": "d"}  # fmt: skip
_AMOUNT = re.compile(r"\s*(\d+)\s*([A-Za-z]*)\s*")


def interval(node: exp.Expr, ctx: Context) -> Duration:
    """A duration from ``INTERVAL '10' SECONDS``, ``INTERVAL '10 seconds'`` or ``INTERVAL 10 SECOND``.

    >>> from sabot_lab.sql.parse import parse
    >>> interval(parse("SELECT INTERVAL '90' SECONDS FROM t").expressions[0], Context("", {}))
    '90s'
    """
    if not isinstance(node, exp.Interval):
        raise ctx.error(
            f"expected an interval such as INTERVAL '10' SECONDS, got {node.sql()}", node
        )
    found = _AMOUNT.fullmatch(str(node.this.name)) if node.this is not None else None
    unit = str(node.args["unit"].name) if node.args.get("unit") is not None else ""
    if found is not None and not unit:
        unit = found.group(2)
    elif found is not None and found.group(2):
        found = None
    unit = unit.upper().removesuffix("S")
    if found is None or unit not in _UNITS:
        raise ctx.unsupported(
            f"the interval {node.sql()} (use a whole number of "
            f"{', '.join(u.lower() + 's' for u in _UNITS)})",
            node,
        )
    return f"{found.group(1)}{_UNITS[unit]}"


def _arguments(node: WindowFunction, ctx: Context) -> dict[str, exp.Expr]:
    """The call's arguments by name (positional ones take the names in Flink's order)."""
    expected = _PARAMETERS[node.kind]
    params, names = node.args.get("params") or [], node.args.get("names") or []
    found: dict[str, exp.Expr] = {}
    for i, (param, name) in enumerate(zip(params, names, strict=True)):
        key = str(name) if name else (expected[i] if i < len(expected) else "")
        if key not in expected:
            raise ctx.error(
                f"{node.kind} takes (TABLE t, DESCRIPTOR(time), "
                f"{', '.join(e.lower() for e in expected[1:])}); "
                f"unexpected argument {param.sql()}",
                param,
            )
        found[key] = param
    missing = [e for e in expected if e not in found]
    if missing:
        raise ctx.error(f"{node.kind} is missing its {', '.join(m.lower() for m in missing)}", node)
    return found


def window_relation(node: WindowFunction, alias: str | None, ctx: Context) -> Relation:
    """The relation of a window table function: the table's columns and the window bounds,
    waiting to be grouped by them."""
    table = node.args["table"]
    qualifier = alias or table.name
    base = Relation.of(ctx.table(table), qualifier)
    args = _arguments(node, ctx)
    descriptor = args["TIMECOL"]
    if not (
        isinstance(descriptor, exp.Anonymous)
        and descriptor.name.upper() == "DESCRIPTOR"
        and len(descriptor.expressions) == 1
        and isinstance(descriptor.expressions[0], exp.Column)
    ):
        raise ctx.error(
            f"{node.kind} takes its time column as DESCRIPTOR(column), got {descriptor.sql()}",
            descriptor,
        )
    time = base.resolve(descriptor.expressions[0], ctx).column
    assert time is not None  # a table's own columns are all known
    stream, starts_every = base.stream, None
    if is_processing_time(stream, time) and not flow(stream.graph, stream.node_id).ends:
        stream = stream.with_processing_time(time)  # windows close as the wall clock passes
    with ctx.building(node, node.kind):
        spec: WindowSpec
        if node.kind == "TUMBLE":
            spec = tumbling(interval(args["SIZE"], ctx), on=time)
        elif node.kind == "HOP":
            spec = sliding(interval(args["SIZE"], ctx), interval(args["SLIDE"], ctx), on=time)
        elif node.kind == "CUMULATE":
            step, size = interval(args["STEP"], ctx), interval(args["SIZE"], ctx)
            stream, spec = _cumulated(stream, time, step, size, node, ctx)
            starts_every = _every(size)
        else:
            spec = session(interval(args["GAP"], ctx), on=time)
    partition = []
    for column in node.args.get("partition") or []:
        found = base.resolve(column, ctx).column
        assert found is not None
        partition.append(found)
    bounds = tuple(Binding(qualifier, name, None) for name in WINDOW_BOUNDS)
    window = WindowInput(spec, tuple(partition), node, starts_every)
    return Relation(stream, base.bindings + bounds, window)


def _every(size: Duration) -> str:
    """A duration as ``dt.truncate`` takes it: a count of one unit among h, m, s, ms, us."""
    us = duration_us(size)
    for unit, per in (("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000)):
        if us % per == 0:
            return f"{us // per}{unit}"
    return f"{us}us"


def _cumulated(
    stream: Stream, time: str, step: Duration, size: Duration, node: WindowFunction, ctx: Context
) -> tuple[Stream, WindowSpec]:
    """``stream``'s rows, each once per cumulating window holding it with a helper time
    column just before that window's end, and the tumbling windows of ``step`` on it."""
    step_us, size_us = duration_us(step), duration_us(size)
    if step_us <= 0 or size_us % step_us:
        raise ctx.error(f"CUMULATE's size ({size}) must be a whole number of steps ({step})", node)
    kind = stream.schema.field(time).type
    if not pa.types.is_timestamp(kind):
        raise ctx.error(f"CUMULATE needs a timestamp time column; '{time}' is {kind}", node)
    tick = unit_to_us(1, kind.unit) or 1  # the column's smallest step, in microseconds
    if step_us % tick:
        raise ctx.error(f"CUMULATE's step ({step}) is finer than '{time}' ({kind.unit})", node)
    taken = [*stream.columns, "window_start", "window_end"]
    offset, at = ctx.fresh("cumulate_offset", taken), ctx.fresh("cumulate_time", taken)
    offsets = [
        dt.timedelta(microseconds=k * step_us - tick) for k in range(1, size_us // step_us + 1)
    ]
    ends = from_arrow(pa.table({offset: pa.array(offsets, pa.duration(kind.unit))}))
    start = col(time).dt.truncate(_every(size))
    repeated = (
        stream.join(ends, how="cross")
        .with_columns((start + col(offset)).alias(at))
        .filter(col(at) >= col(time))
        .drop(offset)
    )
    return repeated, tumbling(step, on=at)
