"""Flink SQL's group windows as the window table functions they stand for.

``GROUP BY k, TUMBLE(time, size)`` over one table is
``FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(time), size)) GROUP BY k, window_start, window_end``,
and ``TUMBLE_START(time, size)`` / ``TUMBLE_END(...)`` are ``window_start`` / ``window_end``;
the same for ``HOP(time, slide, size)`` and ``SESSION(time, gap)`` (a session per group of
the other keys) with their ``HOP_*`` and ``SESSION_*`` bounds. :func:`lower_group_windows` rewrites a ``SELECT`` so; the window table
functions do the rest (:mod:`sabot_lab.sql.window_tables`).

>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.parse import parse
>>> text = '''SELECT auction, TUMBLE_END(dateTime, INTERVAL '10' SECOND) AS ends, COUNT(*) AS n
... FROM bid GROUP BY auction, TUMBLE(dateTime, INTERVAL '10' SECOND)'''
>>> lowered = lower_group_windows(parse(text), Context(text, {}))
>>> lowered.find(WindowFunction).kind, [e.sql() for e in lowered.args["group"].expressions]
('TUMBLE', ['auction', 'window_start', 'window_end'])
>>> lowered.expressions[1].sql()
'window_end AS ends'
"""

from __future__ import annotations

from sqlglot import exp

from sabot_lab.sql.context import Context
from sabot_lab.sql.parse import WINDOW_FUNCTIONS, GroupWindow, WindowFunction
from sabot_lab.sql.window_tables import WINDOW_BOUNDS

__all__ = ["BOUND_FUNCTIONS", "lower_group_windows"]

BOUND_FUNCTIONS = {
    f"{kind}_{end}": bound
    for kind in WINDOW_FUNCTIONS
    for end, bound in zip(("START", "END"), WINDOW_BOUNDS, strict=True)
}
"""Flink's window bound functions, and the column each stands for."""


def lower_group_windows(select: exp.Select, ctx: Context) -> exp.Select:
    """``select`` with its group window (if any) written as a window table function."""
    group = select.args.get("group")
    windows = [e for e in (group.expressions if group is not None else []) if _is_window(e)]
    if not windows:
        return select
    if len(windows) > 1:
        raise ctx.error("a GROUP BY takes one group window", windows[1])
    window = windows[0]
    assert isinstance(window, GroupWindow)
    source = select.args.get("from_")
    table = source.this if source is not None else None
    if (
        select.args.get("joins")
        or not isinstance(table, exp.Table)
        or not isinstance(table.this, exp.Identifier)
    ):
        raise ctx.unsupported(
            f"GROUP BY {window.kind}(...) over anything but one table (name the input in a "
            f"WITH clause, or write FROM TABLE({window.kind}(TABLE t, DESCRIPTOR(time), ...)))",
            window,
        )
    time, *sizes = window.args.get("params") or [None]
    if not isinstance(time, exp.Column):
        raise ctx.error(f"{window.kind}(...) takes the time column first", window)
    lowered = select.copy()
    keys = [e for e in lowered.args["group"].expressions if not _is_window(e)]
    call = WindowFunction(
        this=window.kind,
        table=exp.Table(this=table.this.copy()),
        # a session is per group: the GROUP BY's other keys
        partition=[k.copy() for k in keys] if window.kind == "SESSION" else [],
        params=[exp.Anonymous(this="DESCRIPTOR", expressions=[time.copy()]), *sizes],
        names=[None] * (1 + len(sizes)),
    )
    alias = table.args.get("alias")
    lowered.set("from_", exp.From(this=exp.Table(this=call, alias=alias and alias.copy())))
    lowered.args["group"].set("expressions", [*keys, *map(exp.column, WINDOW_BOUNDS)])
    transformed = lowered.transform(lambda node: _bound(node, window.kind, ctx))
    assert isinstance(transformed, exp.Select)  # only nodes within it are replaced
    return transformed


def _is_window(node: exp.Expr) -> bool:
    return isinstance(node, GroupWindow)


def _bound(node: exp.Expr, kind: str, ctx: Context) -> exp.Expr:
    """A window bound function as the bound's column; any other node as it is."""
    if not isinstance(node, exp.Anonymous):
        return node
    name = str(node.name).upper()
    if name not in BOUND_FUNCTIONS:
        return node
    if not name.startswith(f"{kind}_"):
        raise ctx.error(f"{name}() is not a bound of the GROUP BY's {kind} window", node)
    return exp.column(BOUND_FUNCTIONS[name])
