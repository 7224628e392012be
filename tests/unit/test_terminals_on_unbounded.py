"""Terminals that read a stream to its end refuse one that never ends before reading a row;
those that stop (``head(n)``, ``iter_batches()``) keep working on unbounded streams.

The unbounded source counts the rows it is asked for, and fails past a guard, so a terminal
that would read forever fails fast instead of filling the memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.errors import PlanError

GUARD = 10_000  # rows a refused terminal would have read past
BATCH = 100
START = dt.datetime(2026, 1, 1)


class Endless:
    """An unbounded generator source of ``BATCH`` rows a call (``t`` one second apart, ``k``
    cycling 0..4), counting the rows it gives."""

    def __init__(self) -> None:
        self.pulled = 0

    def __call__(self, i: int) -> pa.Table:
        if self.pulled >= GUARD:
            raise RuntimeError(f"read {self.pulled} rows of an endless stream")
        self.pulled += BATCH
        n = list(range(i * BATCH, (i + 1) * BATCH))
        return pa.table(
            {
                "n": n,
                "k": [x % 5 for x in n],
                "t": pa.array([START + dt.timedelta(seconds=x) for x in n], pa.timestamp("us")),
            }
        )

    def stream(self) -> sl.Stream:
        stream = sl.from_generator(self, schema=self(0).schema)
        self.pulled = 0  # the schema's call does not count
        return stream


def window(stream: sl.Stream) -> sl.Stream:
    return stream.window(sl.tumbling("10s", on="t")).agg(n=sl.count())


READ_ALL: dict[str, Callable[[sl.Stream, Path], object]] = {
    "collect": lambda s, _: s.collect(),
    "run": lambda s, _: s.run(),
    "to_pandas": lambda s, _: s.to_pandas(),
    "to_parquet": lambda s, tmp: s.to_parquet(tmp / "out.parquet"),
}


@pytest.mark.parametrize("terminal", READ_ALL)
def test_reading_an_unbounded_stream_to_its_end_is_refused_before_a_row_is_read(
    terminal: str, tmp_path: Path
) -> None:
    source = Endless()
    with pytest.raises(PlanError) as refused:
        READ_ALL[terminal](source.stream().filter(sl.col("n") >= 0), tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{terminal}() reads the stream to its end, and this one never ends")
    assert all(fix in message for fix in ("head(n)", "iter_batches()", "submit()"))
    assert source.pulled == 0
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize(
    ("build", "cause"),
    [
        (lambda s: s.group_by("k").agg(n=sl.count()), "never ends"),
        (lambda s: s.sort("n").limit(3), "sort() orders the rows once its input has ended"),
        (lambda s: s.distinct().head(3), "distinct() gives its rows when its input ends"),
        (lambda s: window(s).head(3), "add with_watermark(column, max_delay)"),
        (lambda s: window(s.select("t")).head(3), "with_watermark"),
    ],
    ids=["group_by_agg", "sort_limit", "distinct_head", "window_head", "window_after_select"],
)
def test_plans_that_never_end_or_never_emit_are_refused(
    build: Callable[[sl.Stream], sl.Stream], cause: str
) -> None:
    source = Endless()
    with pytest.raises(PlanError, match=cause.replace("(", r"\(").replace(")", r"\)")):
        build(source.stream()).collect()
    assert source.pulled == 0


def test_iter_batches_refuses_a_plan_that_would_never_yield_a_row() -> None:
    source = Endless()
    with pytest.raises(PlanError, match=r"iter_batches\(\) would wait forever: sort\(\)"):
        source.stream().sort("n").iter_batches()
    assert source.pulled == 0


def test_bounded_parts_of_unbounded_streams_still_run() -> None:
    stream = Endless().stream()
    assert stream.head(3).collect().column("n").to_pylist() == [0, 1, 2]
    assert stream.filter(sl.col("k") == 4).limit(2).to_pandas()["n"].tolist() == [4, 9]
    running = stream.group_by("k").agg(n=sl.count()).head(5).collect()
    assert sorted(running.column("k").to_pylist()) == [0, 1, 2, 3, 4]
    timed = window(stream.with_watermark("t", "0s")).head(2).collect()
    assert timed.column("n").to_pylist() == [10, 10]
    first = next(iter(stream.iter_batches()))
    assert first.column("n").to_pylist()[:3] == [0, 1, 2]


def test_bounded_windows_sorts_and_distincts_still_run() -> None:
    t = [START + dt.timedelta(seconds=s) for s in (1, 4, 12, 12)]
    stream = sl.from_pydict({"t": t, "x": [3, 1, 2, 2]})
    assert window(stream).collect().column("n").to_pylist() == [2, 2]
    assert stream.sort("x").limit(2).collect().column("x").to_pylist() == [1, 2]
    assert stream.distinct().collect().num_rows == 3
