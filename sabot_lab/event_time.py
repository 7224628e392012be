"""Event-time verbs of a :class:`~sabot_lab.stream.Stream`: watermarks, the late side output,
and windowed aggregation (``stream.window(spec).group_by(...).agg(...)``).

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
from typing import TYPE_CHECKING

from sabot_lab.engine.window_aggregate import window_schema
from sabot_lab.errors import PlanError, SchemaError, column_not_found
from sabot_lab.expr import Expr
from sabot_lab.logical import SessionWindow, SlidingWindow, TumblingWindow, Watermark, Window
from sabot_lab.windows import Duration, WindowSpec, duration_us, require_timestamp

if TYPE_CHECKING:
    from sabot_lab.stream import IntoExpr, Stream

__all__ = ["WindowedGroupBy", "WindowedStream", "late_rows", "with_watermark"]

WINDOW_KINDS: dict[str, type[Window]] = {
    "tumbling": TumblingWindow,
    "sliding": SlidingWindow,
    "session": SessionWindow,
}


def with_watermark(
    stream: Stream, column: str, max_delay: Duration, idle_timeout: Duration | None
) -> Stream:
    """See :meth:`Stream.with_watermark`."""
    require_timestamp(stream.schema, column, "with_watermark")
    delay = duration_us(max_delay)
    idle = None if idle_timeout is None else duration_us(idle_timeout)
    watermark = Watermark(column=column, delay=delay, idle_timeout=idle, keep="on_time")
    return stream._extend(watermark, "with_watermark", stream.schema)


def late_rows(stream: Stream) -> Stream:
    """See :meth:`Stream.late`."""
    from sabot_lab.stream import Stream

    node = stream.graph.node(stream.node_id)
    if not isinstance(node.op, Watermark) or node.op.keep != "on_time":
        raise PlanError(
            "late() gives the rows a watermark left out: call it right after "
            "with_watermark(...), e.g. s.with_watermark('ts', '4s').late()"
        )
    (upstream,) = node.upstream
    late = node.op.replace(keep="late")
    return Stream(stream.graph.subgraph(upstream), upstream)._extend(
        late, "late", node.output_schema
    )


def check_aggregates(stream: Stream, aggs: Sequence[Expr]) -> None:
    """A clear error unless every expression is an aggregate over the stream's columns."""
    for expr in aggs:
        if not expr.is_aggregate():
            raise SchemaError(
                f"{expr!r} is not an aggregate; wrap it in one (e.g. .first(), .sum()) "
                "or add it to the group keys"
            )
    for expr in aggs:
        for name in expr.columns():
            if name not in stream.schema.names:
                raise column_not_found(name, stream.schema.names)


class WindowedStream:
    """A stream cut into event-time windows, waiting for :meth:`group_by` or :meth:`agg`.

    >>> import datetime as dt, sabot_lab as sl
    >>> s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 4, 12)]})
    >>> s.window(sl.sliding("10s", "5s", on="t")).agg(n=sl.count()).collect().column("n").to_pylist()
    [2, 2, 1, 1]
    """

    def __init__(self, stream: Stream, spec: WindowSpec, early: Duration | None = None) -> None:
        require_timestamp(stream.schema, spec.on, "window")
        if early is not None and spec.kind == "session":
            raise PlanError(
                "early results need windows with fixed bounds (tumbling or sliding): a "
                "session's bounds change while it grows"
            )
        self._stream, self._spec = stream, spec
        self._early = None if early is None else duration_us(early)

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
        from sabot_lab.stream import _named_exprs

        exprs = _named_exprs(aggs, named)
        if not exprs and not self._keys:
            raise PlanError("agg() needs at least one aggregate expression")
        check_aggregates(self._stream, exprs)
        schema = window_schema(self._keys, exprs, self._stream.schema, self._spec.on)
        clash = {"window_start", "window_end"} & set(self._keys)
        if clash:
            raise SchemaError(f"{sorted(clash)} name the window's bounds; rename the key first")
        window = WINDOW_KINDS[self._spec.kind](
            window=self._spec.to_dict(), keys=self._keys, aggs=exprs, early=self._early
        )
        return self._stream._extend(window, f"window {self._spec!r}", schema)
