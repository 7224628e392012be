"""The StreamOperator protocol and its driver: the order of the hooks, markers in place,
snapshots at barriers; and every stateful operator (windows, sessions, interval and as-of
joins, running aggregates) going on from a snapshot taken at a barrier, restored into a new
operator, as if the run had not stopped."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sabot_lab.engine.asof_join import AsofJoin
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.interval_join import IntervalJoin
from sabot_lab.engine.items import Barrier, RuntimeItem, SplitMark, Tagged, Watermark
from sabot_lab.engine.running import RunningAggregate
from sabot_lab.engine.state import StateBackend, open_state
from sabot_lab.engine.stream_operator import StreamOperator, drive
from sabot_lab.engine.window_aggregate import CascadedWindows, window_operator
from sabot_lab.expr import col, count
from sabot_lab.location import LocationLike
from sabot_lab.window_specs import END_OF_TIME, session, sliding, tumbling

SECOND = 1_000_000  # microseconds


class Recorder:
    """A StreamOperator noting each hook called; every batch comes back as a result."""

    def __init__(self, timer: float | None = None) -> None:
        self.timer = timer
        self.calls: list[Any] = []

    def on_batch(self, batch: pa.RecordBatch, side: int = 0) -> Iterable[pa.Table]:
        self.calls.append(("batch", side, batch.num_rows))
        return [pa.Table.from_batches([batch])]

    def on_watermark(self, watermark: Watermark) -> Iterable[pa.Table | Watermark]:
        self.calls.append(("watermark", watermark.time))
        yield Watermark(watermark.time - 1)

    def on_timer(self) -> Iterable[pa.Table]:
        self.calls.append("timer")
        return ()

    def on_end(self) -> Iterable[pa.Table]:
        self.calls.append("end")
        yield pa.table({"x": [-1]})

    def snapshot(self, location: LocationLike, shared: LocationLike | None) -> None:
        self.calls.append(("snapshot", str(location), str(shared)))

    def restore(self, location: LocationLike, shared: LocationLike | None) -> None:
        self.calls.append(("restore", str(location), str(shared)))


def _shown(items: Iterable[Any]) -> list[Any]:
    return [x.to_pydict() if isinstance(x, pa.RecordBatch) else x for x in items]


def test_the_driver_calls_the_hooks_in_the_order_of_the_items_and_passes_markers_in_place(
    tmp_path: Path,
) -> None:
    op = Recorder()
    checkpoints = Checkpoints(tmp_path)
    items: list[RuntimeItem | Tagged] = [
        pa.record_batch({"x": [1, 2]}),
        Watermark(10),
        SplitMark("0"),
        (1, pa.record_batch({"x": [3]})),
        Barrier(1),
    ]
    out = _shown(drive(op, iter(items), checkpoints=checkpoints, name="000-op"))
    assert out == [
        {"x": [1, 2]},
        Watermark(9),
        SplitMark("0"),
        {"x": [3]},
        Barrier(1),
        {"x": [-1]},
    ]
    part = checkpoints.path(1, "000-op")
    assert op.calls == [
        ("batch", 0, 2),
        ("watermark", 10),
        ("batch", 1, 1),
        ("snapshot", str(part), str(checkpoints.shared("000-op"))),
        "end",
    ]


def test_the_driver_cuts_results_into_batches_and_skips_the_end_of_a_stopped_input() -> None:
    op = Recorder()
    out = list(drive(op, iter([pa.record_batch({"x": [1, 2, 3]})]), batch_size=2, final=False))
    assert [b.num_rows for b in out] == [2, 1]
    assert "end" not in op.calls


def test_a_barrier_without_checkpoints_only_passes() -> None:
    op = Recorder()
    assert list(drive(op, iter([Barrier(3)]), final=False)) == [Barrier(3)]
    assert op.calls == []


def test_the_timer_hook_runs_every_timer_seconds_before_an_item() -> None:
    op = Recorder(timer=0.0)
    list(drive(op, iter([pa.record_batch({"x": [1]}), Watermark(5)]), final=False))
    assert op.calls == ["timer", ("batch", 0, 1), "timer", ("watermark", 5)]


# -- every stateful operator, through the protocol ----------------------------------------

_TIME = pa.timestamp("s")


def _rows(times: list[int], keys: list[str], xs: list[int]) -> pa.RecordBatch:
    return pa.record_batch({"t": pa.array(times, _TIME), "k": keys, "x": xs})


_LEFT = [
    _rows([1, 2, 4], ["a", "b", "a"], [1, 2, 3]),
    _rows([6, 7, 7], ["a", "a", "b"], [4, 5, 6]),
    _rows([12, 15, 13], ["b", "a", "a"], [7, 8, 9]),
    _rows([21, 24, 30], ["a", "b", "b"], [10, 11, 12]),
]
_RIGHT = [
    _rows([0, 3], ["a", "b"], [100, 200]),
    _rows([5, 9], ["a", "b"], [300, 400]),
    _rows([11, 14], ["a", "a"], [500, 600]),
    _rows([20, 29], ["b", "a"], [700, 800]),
]
_WATERMARKS = [Watermark(s * SECOND) for s in (3, 8, 14, 25)]
_SCHEMA = _LEFT[0].schema
_SUM_X = col("x").sum().alias("sx")

Build = Callable[[StateBackend], StreamOperator]

OPERATORS: dict[str, tuple[Build, bool]] = {  # name: (build, whether it reads two inputs)
    "sliding windows": (
        lambda s: window_operator(
            sliding("10s", "5s", on="t"), ["k"], [count(), _SUM_X], _SCHEMA, s
        ),
        False,
    ),
    "session windows": (
        lambda s: window_operator(session("3s", on="t"), ["k"], [count(), _SUM_X], _SCHEMA, s),
        False,
    ),
    "cascaded windows": (
        lambda s: CascadedWindows(
            tumbling("1s", on="t"), ["t", "k"], [count(), _SUM_X], _SCHEMA, s
        ),
        False,
    ),
    "running aggregate": (lambda s: RunningAggregate(["k"], [_SUM_X], _SCHEMA, s), False),
    "interval join": (
        lambda s: IntervalJoin(["k"], ["k"], "t", "t", -3 * SECOND, 2 * SECOND, ["x"], ["rx"], s),
        True,
    ),
    "as-of join": (lambda s: AsofJoin("t", ["k"], None, ["x"], ["rx"], _SCHEMA, s), True),
}


def _items(two_inputs: bool) -> list[RuntimeItem | Tagged]:
    items: list[RuntimeItem | Tagged] = []
    for i, watermark in enumerate(_WATERMARKS):
        items += [(0, _LEFT[i]), (1, _RIGHT[i])] if two_inputs else [_LEFT[i]]
        items.append(watermark)
    items.append(Watermark(END_OF_TIME))
    return items


def _outcome(items: Iterator[RuntimeItem]) -> list[Any]:
    """The rows (in order) and watermarks out of an operator; barriers left out."""
    return [
        x.to_pylist() if isinstance(x, pa.RecordBatch) else x
        for x in items
        if not isinstance(x, Barrier)
    ]


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
@pytest.mark.parametrize("name", list(OPERATORS))
def test_an_operator_goes_on_from_the_snapshot_of_a_barrier(
    name: str, backend: str, tmp_path: Path
) -> None:
    build, two_inputs = OPERATORS[name]
    items = _items(two_inputs)
    with open_state(backend) as state:
        whole = _outcome(drive(build(state), iter(items)))
    assert any(isinstance(x, list) and x for x in whole)  # the operator gave rows

    cut = len(items) // 2
    checkpoints = Checkpoints(tmp_path)
    with open_state(backend) as state:
        before = [*items[:cut], Barrier(1)]
        first = _outcome(drive(build(state), iter(before), 2, checkpoints, "op", final=False))
    with open_state(backend) as state:
        op = build(state)
        op.restore(checkpoints.path(1, "op"), checkpoints.shared("op"))
        rest = _outcome(drive(op, iter(items[cut:])))
    assert _rows_and_watermarks(first + rest) == _rows_and_watermarks(whole)


def _rows_and_watermarks(outcome: list[Any]) -> list[Any]:
    """Rows flattened (batch boundaries differ with the batch size), watermarks in place."""
    flat: list[Any] = []
    for x in outcome:
        flat += x if isinstance(x, list) else [x]
    return flat
