"""Window expressions: the window functions (:func:`row_number`, :func:`rank`,
:func:`dense_rank`, :func:`percent_rank`, :func:`cume_dist`, :func:`ntile`,
:func:`nth_value`; ``Expr.shift`` lives on the node) and :func:`over`, which turns the
aggregates and window functions of an expression into :class:`~sabot_lab.expr.nodes.Over`
nodes, plus :func:`window_parts` to read such a node back.

Also their type rules and renderers (the type and render modules register them).

Imports pyarrow, :mod:`sabot_lab.errors` and the ``nodes``, ``builders`` and ``capabilities``
modules beside it.

>>> e = (col("x") - col("x").mean()).over("k")
>>> e
(col("x") - col("x").mean().over("k"))
>>> window_parts(e.args[1]).partition_by
[col("k")]
"""

from __future__ import annotations

import builtins
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sabot_lab.errors import SchemaError
from sabot_lab.expr.builders import col
from sabot_lab.expr.capabilities import require_sortable
from sabot_lab.expr.nodes import Aggregate, Column, Expr, Over, WindowFunction

__all__ = [
    "FRAMED_FUNCTIONS",
    "RANKS",
    "WINDOW_AGGREGATES",
    "WindowParts",
    "cume_dist",
    "dense_rank",
    "has_offsets",
    "is_number",
    "is_timestamp",
    "is_value_rank",
    "nth_value",
    "ntile",
    "over",
    "over_type",
    "percent_rank",
    "python_over",
    "python_window_function",
    "rank",
    "row_number",
    "shift_default",
    "sql_over",
    "sql_window_function",
    "window_function_type",
    "window_parts",
]

WINDOW_AGGREGATES = ("sum", "mean", "min", "max", "count", "first", "last")
"""The aggregates a window computes (over its frame)."""

RANKS = ("row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile")
"""The window functions of a row's place in the partition's order (no frame)."""

FRAMED_FUNCTIONS = ("first_value", "last_value", "nth_value")
"""The window functions, besides the aggregates, that read the frame (``first()`` and
``last()`` over a window are ``first_value`` and ``last_value``: values of the frame's ends,
of any type)."""

FRAME_KINDS = ("rows", "range")


def row_number() -> Expr:
    """The row's number in its partition's order, from 1 (SQL ``ROW_NUMBER()``); use it
    with ``.over(...)``.

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [3, 1, 2]})
    >>> s.with_columns(sl.row_number().over(order_by="t")).collect()["row_number"].to_pylist()
    [3, 1, 2]
    """
    return WindowFunction("window_fn", fn="row_number")


def rank() -> Expr:
    """1 plus the number of rows before the row's peers (rows with the same ``order_by``
    values) in its partition: ties share a rank and leave gaps (SQL ``RANK()``).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [5, 5, 7]})
    >>> s.select(sl.rank().over(order_by="t")).collect()["rank"].to_pylist()
    [1, 1, 3]
    """
    return WindowFunction("window_fn", fn="rank")


def dense_rank() -> Expr:
    """The number of distinct ``order_by`` values up to the row's (SQL ``DENSE_RANK()``).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [5, 5, 7]})
    >>> s.select(sl.dense_rank().over(order_by="t")).collect()["dense_rank"].to_pylist()
    [1, 1, 2]
    """
    return WindowFunction("window_fn", fn="dense_rank")


def percent_rank() -> Expr:
    """``(rank - 1) / (rows in the partition - 1)``, 0 for a single row (SQL
    ``PERCENT_RANK()``).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [5, 5, 7]})
    >>> s.select(sl.percent_rank().over(order_by="t")).collect()["percent_rank"].to_pylist()
    [0.0, 0.0, 1.0]
    """
    return WindowFunction("window_fn", fn="percent_rank")


def cume_dist() -> Expr:
    """The share of the partition's rows up to the row's last peer (SQL ``CUME_DIST()``).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [5, 5, 7, 8]})
    >>> s.select(sl.cume_dist().over(order_by="t")).collect()["cume_dist"].to_pylist()
    [0.5, 0.5, 0.75, 1.0]
    """
    return WindowFunction("window_fn", fn="cume_dist")


def ntile(n: int) -> Expr:
    """The bucket (1 to ``n``) of the row when its partition's order is cut in ``n`` buckets
    of sizes differing by at most one, larger first (SQL ``NTILE(n)``).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [1, 2, 3, 4, 5]})
    >>> s.select(sl.ntile(2).over(order_by="t")).collect()["ntile"].to_pylist()
    [1, 1, 1, 2, 2]
    """
    return WindowFunction("window_fn", fn="ntile", n=_positive(n, "ntile()"))


def nth_value(value: Expr | builtins.str, n: int) -> Expr:
    """The ``n``-th value (from 1) of the row's frame, null when the frame is shorter (SQL
    ``NTH_VALUE``).

    >>> import sabot_lab as sl
    >>> s = sl.from_pydict({"t": [1, 2, 3], "x": [7, 8, 9]})
    >>> s.select(sl.nth_value("x", 2).over(order_by="t")).collect()["x"].to_pylist()
    [8, 8, 8]
    """
    expr = col(value) if isinstance(value, builtins.str) else value
    return WindowFunction("window_fn", [expr], fn="nth_value", n=_positive(n, "nth_value()"))


@dataclass(frozen=True)
class WindowParts:
    """An :class:`Over` node's parts: the function, the partition and order expressions,
    each order key's direction and null placement, and the frame (None: whole partition)."""

    function: Expr
    partition_by: list[Expr]
    order_by: list[Expr]
    descending: list[bool]
    nulls_last: list[bool]
    frame: tuple[builtins.str, int | None, int | None] | None


def window_parts(node: Expr) -> WindowParts:
    """The parts of the :class:`Over` ``node``.

    >>> parts = window_parts(col("x").sum().over("k", order_by="t", descending=True))
    >>> parts.order_by, parts.descending, parts.nulls_last, parts.frame
    ([col("t")], [True], [True], None)
    """
    if not isinstance(node, Over):
        raise SchemaError(f"{node!r} is not a window expression")
    partitions = int(node.param("partitions"))
    frame = node.param("frame")
    return WindowParts(
        function=node.args[0],
        partition_by=list(node.args[1 : 1 + partitions]),
        order_by=list(node.args[1 + partitions :]),
        descending=[bool(d) for d in node.param("descending")],
        nulls_last=[bool(n) for n in node.param("nulls_last")],
        frame=None if frame is None else (str(frame[0]), frame[1], frame[2]),
    )


def over(
    expr: Expr,
    partition_by: Sequence[Any],
    order_by: Any,
    descending: bool | Sequence[bool],
    nulls_last: bool | Sequence[bool],
    frame: tuple[builtins.str, Any, Any] | None,
) -> Expr:
    """``expr`` with each of its aggregates and window functions computed per window
    (:meth:`Expr.over <sabot_lab.expr.nodes.Expr.over>`).

    >>> over(col("x").sum() * 2, ["k"], None, False, True, None)
    (col("x").sum().over("k") * 2)
    >>> over(col("x"), ["k"], None, False, True, None)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: over() applies aggregates and window functions per window, and col("x") has none: e.g. col("x").sum().over("k")
    """
    partitions = _exprs(partition_by)
    orders = _exprs([order_by])
    directions = _flags(descending, len(orders), "descending")
    nulls = _flags(nulls_last, len(orders), "nulls_last")
    checked = _frame(frame)
    if checked is not None and has_offsets(checked) and len(orders) != 1:
        raise SchemaError(
            f"over() got frame={frame!r}: a range frame with offsets needs one order_by key, "
            f"got {len(orders)}"
        )
    params: dict[builtins.str, Any] = {
        "partitions": len(partitions),
        "descending": directions,
        "nulls_last": nulls,
    }
    found: list[Expr] = []

    def wrap(node: Expr) -> Expr:
        if isinstance(node, Over):
            raise SchemaError(f"{node!r} is a window expression already: call over() once")
        if isinstance(node, Aggregate | WindowFunction):
            _check_function(node)
            found.append(node)
            if isinstance(node, Aggregate) and node.param("fn") in ("first", "last"):
                node = WindowFunction("window_fn", node.args, fn=f"{node.param('fn')}_value")
            framed = isinstance(node, Aggregate) or node.param("fn") in FRAMED_FUNCTIONS
            extra = {"frame": list(checked)} if framed and checked is not None else {}
            if is_value_rank(node):  # ordered by its own values
                if orders:
                    raise SchemaError(f"{node!r} ranks by its own values: drop order_by")
                own = {"descending": [bool(node.param("descending"))], "nulls_last": [True]}
                return Over("over", [node, *partitions, node.args[0]], **{**params, **own})
            return Over("over", [node, *partitions, *orders], **params, **extra)
        if not node.args:
            return node
        return node.with_args([wrap(a) for a in node.args])

    out = wrap(expr)
    if not found:
        raise SchemaError(
            f"over() applies aggregates and window functions per window, and {expr!r} has "
            f'none: e.g. {expr!r}.sum().over("k")'
        )
    return out


def has_offsets(frame: Sequence[Any]) -> bool:
    """True for a ``range`` frame bounded by values at an offset from the row's.

    >>> has_offsets(("range", -2, 0)), has_offsets(("range", None, 0)), has_offsets(("rows", -2, 0))
    (True, False, False)
    """
    return frame[0] == "range" and any(b not in (None, 0) for b in frame[1:])


def is_value_rank(node: Expr) -> bool:
    """True for ``Expr.rank`` (the rank of a value), not the SQL ``rank()`` of the order.

    >>> is_value_rank(col("x").rank()), is_value_rank(rank())
    (True, False)
    """
    return isinstance(node, WindowFunction) and node.param("method") is not None


def _exprs(values: Sequence[Any]) -> list[Expr]:
    out: list[Expr] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, builtins.str | Expr):
            out.append(col(value) if isinstance(value, builtins.str) else value)
        elif isinstance(value, Sequence):
            out.extend(_exprs(value))
        else:
            raise TypeError(f"over() takes column names or expressions, got {value!r}")
    for e in out:
        if e.is_aggregate() or e.is_window():
            raise SchemaError(f"over() keys are row-wise expressions, got {e!r}")
    return out


def _flags(value: bool | Sequence[bool], n: int, what: builtins.str) -> list[bool]:
    flags = [value] * n if isinstance(value, bool) else list(value)
    if len(flags) != n or not all(isinstance(f, bool) for f in flags):
        raise SchemaError(f"over() got {what}={value!r} for {n} order_by keys")
    return flags


def _frame(
    frame: tuple[builtins.str, Any, Any] | None,
) -> tuple[builtins.str, int | None, int | None] | None:
    if frame is None:
        return None
    usage = "frame=('rows' or 'range', start, end) with offsets from the current row or None"
    if not isinstance(frame, tuple | list) or len(frame) != 3 or frame[0] not in FRAME_KINDS:
        raise SchemaError(f"over() got frame={frame!r}; use {usage}")
    kind, start, end = frame
    if kind == "range":  # over a timestamp: offsets as timedeltas, kept in microseconds
        start, end = (_microseconds(b) for b in (start, end))
    for bound in (start, end):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int)):
            raise SchemaError(f"over() got frame={frame!r}; use {usage}")
    if start is not None and end is not None and start > end:
        raise SchemaError(f"over() got frame={frame!r}: its start is after its end")
    return (str(kind), start, end)


def _microseconds(bound: Any) -> Any:
    """A range frame's bound, a ``datetime.timedelta`` as its microseconds.

    >>> _microseconds(datetime.timedelta(seconds=-10)), _microseconds(3)
    (-10000000, 3)
    """
    if isinstance(bound, datetime.timedelta):
        return bound // datetime.timedelta(microseconds=1)
    return bound


def _check_function(node: Expr) -> None:
    if isinstance(node, Aggregate) and node.param("fn") not in WINDOW_AGGREGATES:
        raise SchemaError(
            f"{node!r} cannot run over a window; windows compute "
            + ", ".join(WINDOW_AGGREGATES)
            + " and the window functions"
        )
    for arg in node.args:
        if arg.is_aggregate() or arg.is_window():
            raise SchemaError(f"cannot nest aggregates or windows in {node!r}")


def _positive(n: Any, what: builtins.str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SchemaError(f"{what} takes a whole number of 1 or more, got {n!r}")
    return n


def shift_default(node: Expr) -> Expr | None:
    """The value a ``shift`` gives where there is no row (None: null).

    >>> shift_default(col("x").shift(1, fill_value=0))
    0
    """
    return node.args[1] if len(node.args) > 1 else None


# ----------------------------------------------------------------------------- rendering


def python_window_function(node: Expr, args: list[builtins.str]) -> builtins.str:
    """The Python source of a :class:`WindowFunction` given its children's.

    >>> python_window_function(ntile(4), []), python_window_function(col("x").shift(-1), ['col("x")'])
    ('ntile(4)', 'col("x").shift(-1)')
    """
    fn, n = node.param("fn"), node.param("n")
    if is_value_rank(node):
        desc = ", descending=True" if node.param("descending") else ""
        return f'{args[0]}.rank("{node.param("method")}"{desc})'
    if fn == "shift":
        fill = f", fill_value={args[1]}" if len(args) > 1 else ""
        return f"{args[0]}.shift({n}{fill})"
    if fn == "nth_value":
        return f"nth_value({args[0]}, {n})"
    if fn in ("first_value", "last_value"):
        return f"{args[0]}.{builtins.str(fn)[: -len('_value')]}()"
    return f"{fn}({n if n is not None else ''})"


def python_over(node: Expr, args: list[builtins.str]) -> builtins.str:
    """The Python source of an :class:`Over` node given its children's.

    >>> python_over(rank().over("k", order_by="t"), ["rank()", 'col("k")', 'col("t")'])
    'rank().over("k", order_by="t")'
    """
    parts = window_parts(node)
    keys = [
        f'"{e.param("name")}"' if isinstance(e, Column) else text
        for e, text in zip(node.args[1:], args[1:], strict=True)
    ]
    partitions = keys[: len(parts.partition_by)]
    orders = keys[len(parts.partition_by) :]
    words = list(partitions)
    if is_value_rank(parts.function):  # ordered by its own value
        return f"{args[0]}.over({', '.join(words)})"
    if orders:
        words.append(f"order_by={orders[0] if len(orders) == 1 else '[' + ', '.join(orders) + ']'}")
    for what, flags, default in (
        ("descending", parts.descending, False),
        ("nulls_last", parts.nulls_last, True),
    ):
        if any(f != default for f in flags):
            words.append(f"{what}={flags[0] if len(set(flags)) == 1 else flags}")
    if parts.frame is not None:
        words.append(f"frame={parts.frame!r}")
    return f"{args[0]}.over({', '.join(words)})"


_SQL_RANKS = {"row_number", "rank", "dense_rank", "percent_rank", "cume_dist"}


def sql_window_function(node: Expr, args: list[builtins.str]) -> builtins.str:
    """The DuckDB SQL of a :class:`WindowFunction` given its children's.

    >>> sql_window_function(col("x").shift(2, fill_value=0), ['"x"', "0"])
    'LAG("x", 2, 0)'
    """
    fn, n = node.param("fn"), node.param("n")
    if fn in _SQL_RANKS:
        return f"{builtins.str(fn).upper()}()"
    if fn == "ntile":
        return f"NTILE({int(n)})"
    if fn == "nth_value":
        return f"NTH_VALUE({args[0]}, {int(n)})"
    if fn in ("first_value", "last_value"):
        return f"{builtins.str(fn).upper()}({args[0]})"
    if fn == "shift":
        word, offset = ("LAG", int(n)) if int(n) >= 0 else ("LEAD", -int(n))
        return f"{word}({', '.join([args[0], builtins.str(offset), *args[1:]])})"
    raise SchemaError(f"unknown window function {fn!r}")


def sql_over(node: Expr, args: list[builtins.str]) -> builtins.str:
    """The DuckDB SQL of an :class:`Over` node given its children's; a frame is always
    written out (SQL's default one differs from :meth:`Expr.over`'s).

    >>> sql_over(col("x").sum().over("k"), ['SUM("x")', '"k"'])
    'SUM("x") OVER (PARTITION BY "k" ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)'
    """
    parts = window_parts(node)
    window = _sql_window(parts, args)
    fn = parts.function
    if is_value_rank(fn):
        return _sql_value_rank(fn, window, args[-1])
    function = args[0]
    if isinstance(fn, Aggregate) or fn.param("fn") in FRAMED_FUNCTIONS:
        kind, start, end = parts.frame or ("rows", None, None)
        start_text, end_text = _bound(start, "PRECEDING"), _bound(end, "FOLLOWING")
        window = f"{window} {kind.upper()} BETWEEN {start_text} AND {end_text}".strip()
    return f"{function} OVER ({window})"


def _sql_window(parts: WindowParts, args: list[builtins.str]) -> builtins.str:
    """``PARTITION BY ... ORDER BY ...`` of a window, from its rendered children."""
    clauses = []
    split = 1 + len(parts.partition_by)
    if parts.partition_by:
        clauses.append("PARTITION BY " + ", ".join(args[1:split]))
    if parts.order_by:
        keys = [
            f"{text} {'DESC' if d else 'ASC'} NULLS {'LAST' if last else 'FIRST'}"
            for text, d, last in zip(args[split:], parts.descending, parts.nulls_last, strict=True)
        ]
        clauses.append("ORDER BY " + ", ".join(keys))
    return " ".join(clauses)


_SQL_VALUE_RANKS = {"min": "RANK()", "dense": "DENSE_RANK()", "ordinal": "ROW_NUMBER()"}


def _sql_value_rank(fn: Expr, window: builtins.str, value: builtins.str) -> builtins.str:
    """``Expr.rank`` in DuckDB SQL: the SQL rank of its method over the ``window`` ordered by
    the ``value`` (``max``: the rows up to the last peer; ``average``: the mean of ``min``
    and ``max``), null for a null value.

    >>> _sql_value_rank(col("x").rank("max"), 'ORDER BY "x" ASC NULLS LAST', '"x"')
    'CASE WHEN "x" IS NULL THEN NULL ELSE COUNT(*) OVER (ORDER BY "x" ASC NULLS LAST RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) END'
    """
    method = fn.param("method")
    peers = f"COUNT(*) OVER ({window} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    if method == "max":
        text = peers
    elif method == "average":
        text = f"((RANK() OVER ({window}) + {peers}) / 2)"
    else:
        text = f"{_SQL_VALUE_RANKS[builtins.str(method)]} OVER ({window})"
    return f"CASE WHEN {value} IS NULL THEN NULL ELSE {text} END"


def _bound(offset: int | None, unbounded: builtins.str) -> builtins.str:
    if offset is None:
        return f"UNBOUNDED {unbounded}"
    if offset == 0:
        return "CURRENT ROW"
    return f"{abs(int(offset))} {'PRECEDING' if offset < 0 else 'FOLLOWING'}"


# ----------------------------------------------------------------------------- types


def window_function_type(node: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    """The type of a :class:`WindowFunction`: int64 ranks, float64 for ``percent_rank`` and
    ``cume_dist``, the value's type for ``shift`` and ``nth_value``.

    >>> window_function_type(rank(), [], pa.schema([]))
    DataType(int64)
    """
    fn = node.param("fn")
    if fn in ("percent_rank", "cume_dist") or node.param("method") == "average":
        return pa.float64()
    if fn in RANKS:
        return pa.int64()
    return types[0]


def is_number(dtype: pa.DataType) -> bool:
    """True for integers, floats and decimals.

    >>> is_number(pa.int8()), is_number(pa.date32())
    (True, False)
    """
    return bool(
        pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype)
    )


def over_type(node: Expr, types: list[pa.DataType], schema: pa.Schema) -> pa.DataType:
    """The type of an :class:`Over` node: its function's; its keys must be sortable.

    >>> over_type(rank().over("k"), [pa.int64(), pa.string()], pa.schema([]))
    DataType(int64)
    """
    for key, dtype in zip(node.args[1:], types[1:], strict=True):
        require_sortable(key.output_name(), dtype)
    frame = node.param("frame")
    key = types[-1]
    if frame is not None and has_offsets(frame) and not (is_number(key) or is_timestamp(key)):
        raise SchemaError(
            f"a range frame with offsets orders by numbers or timestamps, and {node.args[-1]!r} "
            f"is {key}: use a rows frame"
        )
    return types[0]


def is_timestamp(dtype: pa.DataType) -> bool:
    """True for timestamps, whose range frames count offsets in microseconds.

    >>> is_timestamp(pa.timestamp("ms")), is_timestamp(pa.date32())
    (True, False)
    """
    return bool(pa.types.is_timestamp(dtype))
