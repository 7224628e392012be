"""Time-bounded SQL joins of streams, onto :meth:`~sabot_lab.stream.Stream.join_interval`.

An inner equi-join whose conditions (in ``ON`` or ``WHERE``) also bound the difference of two
event-time columns, one of each side, by constants is an interval join, as Flink runs it:

- ``b.t BETWEEN a.t - INTERVAL '10' SECOND AND a.t + INTERVAL '5' SECOND``, or the same as
  two comparisons (``b.t >= a.t AND b.t <= a.t + INTERVAL '5' SECOND``), either side first;
- a window join: ``a.window_start = b.window_start`` (and ``window_end``) of two windowed
  queries (window table functions or group windows), the bounds both zero.

Each side's time column must carry its stream's event time, so that the watermark frees the
rows no later row can match: the column of the side's ``with_watermark``, or a window bound
of a windowed aggregate (:func:`event_time_columns`). The conditions stay filters on the
joined rows (a strict ``<`` is a ``<=`` for the interval), so the result is the join as
written. Such a join is planned as an interval join whenever both sides carry event time,
bounded or not (the same rows as a hash join; state freed as the watermark passes).

Any other inner equi-join of an unbounded right side (Flink's regular join: Nexmark q3,
``auction JOIN person ON seller = id``) is a symmetric hash join
(:class:`~sabot_lab.logical.SymmetricJoin`): both sides kept, each new row meeting the other
side's. Its state grows with the streams, as ``explain()`` says, except where the conditions
bound one way a column of one side by an event-time column of the other (Nexmark q4:
``B.dateTime BETWEEN A.dateTime AND A.expires`` frees an auction once the watermark passes
its ``expires``, a bid once it passes its ``dateTime``). A join of two unbounded streams
without a key is refused, naming the SQL to write.

May import: :mod:`sabot_lab.stream`, the logical operators, ``sqlglot`` and the SQL
modules below ``joins`` (context, relation, window tables).

>>> import datetime as dt, sabot_lab as sl
>>> at = lambda s: dt.datetime(2026, 1, 1, 0, 0, s)
>>> bids = sl.from_pydict({"auction": [1, 1, 2], "t": [at(5), at(40), at(9)]}).with_watermark("t", "1m")
>>> auctions = sl.from_pydict({"id": [1, 2], "t": [at(0), at(0)]}).with_watermark("t", "1s")
>>> query = '''SELECT b.auction, b.t FROM bids b JOIN auctions a ON b.auction = a.id
...            AND b.t BETWEEN a.t AND a.t + INTERVAL '20' SECOND'''
>>> joined = sl.sql(query, bids=bids, auctions=auctions)
>>> "join_interval" in joined.explain(optimized=False)
True
>>> joined.sort("auction").collect().to_pydict()["auction"]
[1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pyarrow as pa
from sqlglot import exp

from sabot_lab.logical import over_windows
from sabot_lab.logical.operators import SymmetricJoin, join_output_names
from sabot_lab.sql.context import Context
from sabot_lab.sql.relation import Relation
from sabot_lab.sql.window_tables import interval
from sabot_lab.stream import Stream
from sabot_lab.window_specs import duration_us

__all__ = ["TimeBound", "event_time_columns", "refusal", "time_bound", "time_bounded_join"]

_FIX = (
    "bound the two sides' event times in the ON or WHERE clause so the watermark frees the "
    "rows: AND b.t BETWEEN a.t - INTERVAL '10' SECOND AND a.t + INTERVAL '10' SECOND (an "
    "interval join), or join two windowed queries on equal window_start and window_end (a "
    "window join); the time columns must carry the event time (with_watermark, or a "
    "window's bounds)"
)


@dataclass(frozen=True)
class TimeBound:
    """``lower <= left - right <= upper`` (microseconds) for the stream columns ``left`` (of
    the left side) and ``right`` (of the right side)."""

    left: str
    right: str
    lower: int | None = None
    upper: int | None = None

    def meet(self, other: TimeBound) -> TimeBound:
        """Both bounds at once: the tighter of each.

        >>> TimeBound("t", "r", 0, None).meet(TimeBound("t", "r", -5, 10))
        TimeBound(left='t', right='r', lower=0, upper=10)
        """
        lows = [b for b in (self.lower, other.lower) if b is not None]
        highs = [b for b in (self.upper, other.upper) if b is not None]
        return TimeBound(
            self.left,
            self.right,
            max(lows) if lows else None,
            min(highs) if highs else None,
        )


def event_time_columns(stream: Stream) -> set[str]:
    """The columns of ``stream`` no row after a watermark ``W`` has below ``W``: the column
    a ``with_watermark`` tracks (late rows are dropped there), a windowed aggregate's
    ``window_start`` and ``window_end``, and these passed on by filters and projections.

    >>> import datetime as dt, sabot_lab as sl
    >>> s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1)], "x": [1]})
    >>> sorted(event_time_columns(s.with_watermark("t", "1s").select("x", sl.col("t").alias("u"))))
    ['u']
    >>> event_time_columns(s)
    set()
    """
    return over_windows.event_time_columns(stream.graph, stream.node_id)


def _term(node: exp.Expr, ctx: Context) -> tuple[exp.Column, int] | None:
    """``column`` or ``column ± INTERVAL``: the column and the microseconds added."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        return node, 0
    if isinstance(node, exp.Add | exp.Sub):
        first, second = node.this, node.expression
        if isinstance(node, exp.Add) and isinstance(first, exp.Interval):
            first, second = second, first
        inner = _term(first, ctx)
        if inner is None or not isinstance(second, exp.Interval):
            return None
        amount = duration_us(interval(second, ctx))
        return inner[0], inner[1] + (-amount if isinstance(node, exp.Sub) else amount)
    return None


_COMPARISONS = {exp.GTE: (True, False), exp.GT: (True, False), exp.LTE: (False, True),
                exp.LT: (False, True), exp.EQ: (True, True)}  # fmt: skip
"""Which bounds ``x OP y`` sets on ``x - y``: (a lower bound, an upper bound)."""


def _comparisons(condition: exp.Expr) -> list[tuple[exp.Expr, type[exp.Binary], exp.Expr]]:
    """The comparisons ``x OP y`` a condition stands for (a ``BETWEEN`` is two)."""
    if isinstance(condition, exp.Between) and not condition.args.get("symmetric"):
        return [(condition.this, exp.GTE, condition.args["low"]),
                (condition.this, exp.LTE, condition.args["high"])]  # fmt: skip
    kind = type(condition)
    if issubclass(kind, exp.Binary) and kind in _COMPARISONS:
        return [(condition.this, kind, condition.expression)]
    return []


def time_bound(
    conditions: Sequence[exp.Expr], left: Relation, right: Relation, ctx: Context
) -> list[TimeBound]:
    """The bounds the conditions set on the difference of a left and a right column, one per
    pair of columns (stream column names; the right ones as ``right``'s stream has them).

    >>> import sabot_lab as sl
    >>> from sabot_lab.sql.parse import parse
    >>> from sabot_lab.sql.relation import Binding
    >>> text = "SELECT 1 FROM a, b WHERE b.t BETWEEN a.t - INTERVAL '2' SECOND AND a.t AND a.k = b.k"
    >>> a = Relation.of(sl.from_pydict({"k": [1], "t": [0]}), "a")
    >>> b = Relation.of(sl.from_pydict({"k": [1], "t": [0]}).rename({"t": "_t0"}), "b")
    >>> b = Relation(b.stream, tuple(Binding("b", x, c) for x, c in (("k", "k"), ("t", "_t0"))))
    >>> from sabot_lab.sql.joins import conjuncts
    >>> time_bound(conjuncts(parse(text).args["where"].this), a, b, Context(text, {}))
    [TimeBound(left='t', right='_t0', lower=0, upper=2000000), TimeBound(left='k', right='k', lower=0, upper=0)]
    """
    found: dict[tuple[str, str], TimeBound] = {}
    for condition in conditions:
        for x, op, y in _comparisons(condition):
            terms = _term(x, ctx), _term(y, ctx)
            if terms[0] is None or terms[1] is None:
                continue
            (x_col, x_add), (y_col, y_add) = terms[0], terms[1]
            x_side, y_side = _side(x_col, left, right), _side(y_col, left, right)
            if x_side is None or y_side is None or x_side[0] == y_side[0]:
                continue
            lower, upper = _COMPARISONS[op]
            # x + x_add OP y + y_add, i.e. x - y OP y_add - x_add; flipped if x is the right
            shift = y_add - x_add
            names = (x_side[1], y_side[1])
            if x_side[0] == "right":
                lower, upper, shift, names = upper, lower, -shift, (y_side[1], x_side[1])
            bound = TimeBound(*names, shift if lower else None, shift if upper else None)
            known = found.get(names)
            found[names] = bound if known is None else known.meet(bound)
    return list(found.values())


def _side(column: exp.Column, left: Relation, right: Relation) -> tuple[str, str] | None:
    """``("left" | "right", stream column)`` of a column reference, if it means one column
    of exactly one side."""
    qualifier = column.table or None
    sides = [
        (name, found[0].column)
        for name, relation in (("left", left), ("right", right))
        if len(found := relation.find(column.name, qualifier)) == 1
    ]
    if len(sides) != 1 or sides[0][1] is None:
        return None
    return sides[0][0], sides[0][1]


def time_bounded_join(
    left: Relation, right: Relation, left_keys: list[str], right_keys: list[str],
    conditions: Sequence[exp.Expr], ctx: Context,
) -> Stream | None:  # fmt: skip
    """The streaming join of an inner equi-join on ``left_keys``/``right_keys``: an interval
    join where ``conditions`` bound the difference of two event-time columns both ways; else,
    when the right side is unbounded, a symmetric hash join keeping each side's rows as long
    as the bounds let a row still to come match them (forever without one); else None (a
    hash join, reading the bounded right side first). ``right`` is as the join reads it: its
    bindings of key columns point at the left keys (which stand for them in the output)."""
    times = event_time_columns(left.stream), event_time_columns(right.stream)
    bounds = []
    for found in time_bound(conditions, left, right, ctx):
        bound = replace(found, right=_right_column(found.right, left_keys, right_keys))
        types = [s.schema.field(c).type for s, c in ((left.stream, bound.left),
                                                     (right.stream, bound.right))]  # fmt: skip
        if all(pa.types.is_timestamp(t) for t in types):  # not a key, nor other numbers
            bounds.append(bound)
            if types[0] == types[1] and _both_ways(bound, times):
                assert bound.lower is not None and bound.upper is not None
                return left.stream.join_interval(
                    right.stream, left_on=left_keys, right_on=right_keys, time=bound.left,
                    other_time=bound.right, lower=f"{bound.lower}us", upper=f"{bound.upper}us",
                )  # fmt: skip
    if right.stream.bounded:
        return None
    return _symmetric_join(left.stream, right.stream, left_keys, right_keys, bounds, times)


def _both_ways(bound: TimeBound, times: tuple[set[str], set[str]]) -> bool:
    """True if ``bound`` frees the rows of both sides: both its ends set, on columns carrying
    their side's event time."""
    ends = bound.lower is not None and bound.upper is not None
    return ends and bound.left in times[0] and bound.right in times[1]


def _symmetric_join(
    left: Stream, right: Stream, left_keys: list[str], right_keys: list[str],
    bounds: Sequence[TimeBound], times: tuple[set[str], set[str]],
) -> Stream:  # fmt: skip
    """The symmetric hash join, its state freed as ``bounds`` allow: given the watermark
    ``W`` (no row still to come has an event-time column below it), a left row can meet no
    later right row once its ``left - right >= lower`` needs ``right < W``, i.e. once
    ``left - lower < W``; a right row likewise once ``right + upper < W`` (the left column
    carrying the event time)."""
    left_until: tuple[str, int] | None = None
    right_until: tuple[str, int] | None = None
    for bound in bounds:
        if bound.lower is not None and bound.right in times[1]:
            found = (bound.left, -bound.lower)
            left_until = found if left_until is None else min(left_until, found, key=_slack)
        if bound.upper is not None and bound.left in times[0]:
            found = (bound.right, bound.upper)
            right_until = found if right_until is None else min(right_until, found, key=_slack)
    _, _, payload = left._join_columns(right, None, left_keys, right_keys, "inner")
    join = SymmetricJoin(
        left_on=left_keys,
        right_on=right_keys,
        right_payload=payload,
        payload_names=join_output_names(payload, left.columns, "_right"),
        left_until=None if left_until is None else left_until[0],
        left_slack=0 if left_until is None else left_until[1],
        right_until=None if right_until is None else right_until[0],
        right_slack=0 if right_until is None else right_until[1],
    )
    return left._extend(join, "symmetric_join", inputs=[right])


def _slack(until: tuple[str, int]) -> int:
    return until[1]


def refusal(ctx: Context, node: exp.Expr | None) -> Exception:
    """The error for a join of two unbounded streams without a key, naming the SQL to write.

    >>> str(refusal(Context("", {}), None)).split(":")[0]
    'a join of two unbounded streams needs a key (an equality between the sides)'
    """
    return ctx.error(
        "a join of two unbounded streams needs a key (an equality between the sides): without "
        "one every row meets every row of the other side, and both sides are kept forever. "
        "Join on a key (ON a.id = b.id) and " + _FIX,
        node,
    )


def _right_column(column: str, left_keys: list[str], right_keys: list[str]) -> str:
    """The right stream's column a right binding points at: a key's binding points at the
    left key standing for it."""
    return right_keys[left_keys.index(column)] if column in left_keys else column
