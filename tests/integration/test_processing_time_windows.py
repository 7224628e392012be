"""Windows on the processing time of an unbounded stream (``with_processing_time``): a live
feed that goes idle still has its windows closed by the wall clock, and a run stopped at any
moment and restored from its last complete checkpoint keeps its open windows: the rows
released before that checkpoint and the restored run's count each input row once, in
wall-clock aligned windows, on both state backends."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from tests.support.reference import duckdb_table
from tests.support.restores import crash_and_restore

ROWS = pa.table(
    {
        "k": pa.array(np.random.default_rng(12).integers(0, 20, 2_000)),
        "p": pa.array([dt.datetime(2000, 1, 1)] * 2_000, pa.timestamp("ms")),
    }
)
"""Keys, and a time the processing time replaces."""


def _pieces(size: int, idle: int = 0) -> Callable[[int], pa.Table | None]:
    """ROWS in slices of ``size``; then no rows ``idle`` times, 50 ms apart (an idle live
    feed), then the end."""

    def piece(i: int) -> pa.Table | None:
        if i * size < ROWS.num_rows:
            return ROWS.slice(i * size, size)
        if i * size >= ROWS.num_rows + idle * size:
            return None
        time.sleep(0.05)
        return ROWS.slice(0, 0)

    return piece


def _counts(
    fn: Callable[[int], pa.Table | None], rows_per_second: float | None, event_time: bool = False
) -> sl.Stream:
    """Each key's rows per 200 ms of the clock (``event_time``: behind a watermark on the
    event time, as Flink SQL tables have)."""
    feed = sl.from_generator(fn, rows_per_second, schema=ROWS.schema)
    if event_time:
        feed = feed.with_watermark("p", "0s")
    windows = feed.with_processing_time("p").window(sl.tumbling("200ms", on="p"))
    return windows.group_by("k").agg(n=sl.count())


def _assert_each_row_counted_once(windows: pa.Table) -> None:
    for start, end in zip(
        windows["window_start"].to_pylist(), windows["window_end"].to_pylist(), strict=True
    ):
        assert end - start == dt.timedelta(milliseconds=200)
        assert start.timestamp() * 1000 % 200 == 0
    ours = duckdb_table("SELECT k, sum(n) AS n FROM w GROUP BY k ORDER BY k", w=windows)
    expected = duckdb_table("SELECT k, count(*) AS n FROM r GROUP BY k ORDER BY k", r=ROWS)
    assert ours.to_pylist() == expected.to_pylist()


@pytest.mark.parametrize("event_time", [False, True])
def test_the_wall_clock_closes_the_windows_of_an_idle_live_feed(event_time: bool) -> None:
    # every row comes at once, then none for 30 s (then the end, which would close every
    # window): only the clock can close their windows before
    started = time.monotonic()
    counted, read = 0, []
    for batch in _counts(_pieces(500, idle=600), None, event_time).iter_batches():
        read.append(batch)
        counted += pa.compute.sum(batch["n"]).as_py() or 0
        if counted >= ROWS.num_rows:
            break
    assert time.monotonic() - started < 30
    _assert_each_row_counted_once(pa.Table.from_batches(read))


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_a_restored_run_keeps_its_open_windows_and_counts_each_row_once(
    tmp_path: Path, backend: str
) -> None:
    # 2000 rows over about 2 s of wall clock: windows close while the rows come
    rows, restored = crash_and_restore(
        lambda: _counts(_pieces(20), 1_000), tmp_path, backend, requests=(1, 2)
    )
    assert restored  # the restored run goes on counting
    _assert_each_row_counted_once(rows)
