"""What a group by of window bounds is planned as: a cascaded window over an unbounded
append stream of windows (closing on the window start when it is a key, else on the end),
keeping the bounds' event time; a running aggregate over early results; a plain aggregate on
a bounded stream."""

from __future__ import annotations

import pyarrow as pa

import sabot_lab as sl
from sabot_lab.logical import CascadedWindow, GroupBy
from sabot_lab.logical.over_windows import event_time_columns

ROWS = pa.table({"t": pa.array([0, 1_500, 4_000], pa.timestamp("ms")), "k": [1, 1, 2]})


def counts(early: str | None = None, bounded: bool = False) -> sl.Stream:
    source = sl.from_arrow(ROWS) if bounded else sl.from_generator(lambda i: None if i else ROWS)
    windows = source.with_watermark("t", "1s").window(sl.sliding("4s", "2s", on="t"), early=early)
    per_key = windows.group_by("k").agg(n=sl.count())
    return per_key.select("k", "n", s=sl.col("window_start"), e=sl.col("window_end"))


def test_grouped_by_both_bounds_it_closes_on_the_start_and_keeps_both_as_event_time() -> None:
    top = counts().group_by("e", "s").agg(m=sl.col("n").max())
    op = top.graph.node(top.node_id).op
    assert isinstance(op, CascadedWindow) and op.window["on"] == "s"
    assert op.window["size"] == 1_000  # one millisecond: a pane per window start
    assert event_time_columns(top.graph, top.node_id) == {"s", "e"}
    assert top.changelog == "append" and top.columns == ["e", "s", "m"]


def test_grouped_by_the_end_alone_it_closes_on_the_end() -> None:
    top = counts().group_by("k", "e").agg(m=sl.col("n").max())
    op = top.graph.node(top.node_id).op
    assert isinstance(op, CascadedWindow) and op.window["on"] == "e"
    assert event_time_columns(top.graph, top.node_id) == {"e"}


def test_windows_with_early_results_are_updates_aggregated_as_they_come() -> None:
    top = counts(early="1s").group_by("s", "e").agg(m=sl.col("n").max())
    op = top.graph.node(top.node_id).op
    assert isinstance(op, GroupBy) and op.running and top.changelog == "upsert"


def test_on_a_bounded_stream_it_is_a_grouped_aggregate() -> None:
    top = counts(bounded=True).group_by("s", "e").agg(m=sl.col("n").max())
    op = top.graph.node(top.node_id).op
    assert isinstance(op, GroupBy) and not op.running
    assert top.sort("s").collect().column("m").to_pylist() == [2, 2, 1, 1]
