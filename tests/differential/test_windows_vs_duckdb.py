"""Event-time windows against DuckDB: tumbling, sliding and session windows over out-of-order
input (within the watermark delay), in many small batches so windows close incrementally,
on both state backends; late rows; unbounded input; bad input."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.config import get_config, set_config
from tests.support.running import run_to_end
from tests.support.windows import (
    AGGS,
    assert_same_windows,
    out_of_order_events,
    reference,
)


@pytest.fixture
def config() -> Iterator[None]:
    old = get_config()
    yield
    set_config(old)


def window_of(kind: str, size: str, slide: str) -> sl.WindowSpec:
    if kind == "tumbling":
        return sl.tumbling(size, on="t")
    if kind == "sliding":
        return sl.sliding(size, slide, on="t")
    return sl.session(size, on="t")


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
@pytest.mark.parametrize("kind", ["tumbling", "sliding", "session"])
@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3_000),
    batch_size=st.sampled_from([7, 64, 500, 100_000]),
    size_s=st.sampled_from([1, 5, 10]),
)
def test_windows_over_out_of_order_input_equal_duckdb(
    config: None, backend: str, kind: str, seed: int, n: int, batch_size: int, size_s: int
) -> None:
    set_config(get_config().replace(batch_size=batch_size, state_backend=backend))
    events = out_of_order_events(seed, n, disorder_ms=3_000)
    spec = window_of(kind, f"{size_s}s", f"{max(size_s // 5, 1)}s")
    stream = sl.from_arrow(events).with_watermark("t", "4s")
    result = stream.window(spec).group_by("k").agg(**AGGS).run()
    assert result.metrics_total("late_rows") == 0
    slide = max(size_s // 5, 1) * 1000 if kind == "sliding" else size_s * 1000
    assert_same_windows(result.table, reference(events, kind, size_s * 1000, slide))


@pytest.mark.parametrize("kind", ["tumbling", "sliding", "session"])
def test_bounded_input_without_watermarks_gives_the_same_windows(config: None, kind: str) -> None:
    set_config(get_config().replace(batch_size=1_000))
    events = out_of_order_events(3, 20_000, disorder_ms=60_000)  # far beyond any delay
    spec = window_of(kind, "10s", "2s")
    table = sl.from_arrow(events).window(spec).group_by("k").agg(**AGGS).collect()
    slide = 2_000 if kind == "sliding" else 10_000
    assert_same_windows(table, reference(events, kind, 10_000, slide))


@pytest.mark.parametrize("kind", ["tumbling", "sliding", "session"])
def test_dictionary_encoded_keys_give_the_same_windows_and_sort(config: None, kind: str) -> None:
    # Parquet files read string columns dictionary-encoded; Arrow sorts no dictionary column
    set_config(get_config().replace(batch_size=1_000))
    events = out_of_order_events(5, 5_000, disorder_ms=60_000)
    encoded = events.set_column(1, "k", events["k"].dictionary_encode())
    spec = window_of(kind, "10s", "2s")
    windows = sl.from_arrow(encoded).window(spec).group_by("k").agg(**AGGS)
    table = windows.sort(["k", "window_start"]).collect()
    assert pa.types.is_dictionary(table.schema.field("k").type)
    decoded = table.set_column(0, "k", table["k"].cast(pa.string()))
    assert (
        decoded.to_pydict()
        == decoded.sort_by([("k", "ascending"), ("window_start", "ascending")]).to_pydict()
    )
    slide = 2_000 if kind == "sliding" else 10_000
    assert_same_windows(decoded, reference(events, kind, 10_000, slide))


def test_late_rows_are_counted_routed_to_late_and_left_out_of_windows(config: None) -> None:
    set_config(get_config().replace(batch_size=256))
    events = out_of_order_events(11, 5_000, disorder_ms=9_000)  # beyond the 2 s delay
    times = events["t"].cast(pa.int64()).to_numpy(zero_copy_only=False).copy()
    nulls = np.random.default_rng(0).random(len(times)) < 0.01
    events = events.set_column(0, "t", pa.array(times, pa.timestamp("ms"), mask=nulls))
    seen = np.maximum.accumulate(np.where(nulls, np.iinfo(np.int64).min // 2, times))
    late = nulls | (times < seen - 2_000)
    assert 50 < late.sum() < 4_000

    stream = sl.from_arrow(events).with_watermark("t", "2s")
    result = stream.window(sl.tumbling("5s", on="t")).group_by("k").agg(**AGGS).run()
    assert result.metrics_total("late_rows") == late.sum()
    assert_same_windows(
        result.table, reference(events.filter(pa.array(~late)), "tumbling", 5_000, 5_000)
    )
    side = stream.late().collect()
    assert side.equals(events.filter(pa.array(late)))


def test_an_unbounded_generator_emits_windows_as_the_watermark_passes() -> None:
    base = dt.datetime(2026, 1, 1)

    def second(i: int) -> pa.Table:  # one row per millisecond, forever
        ms = np.arange(i * 1_000, (i + 1) * 1_000)
        return pa.table({"t": pa.array(np.datetime64(base, "ms") + ms), "v": np.full(1_000, i)})

    ticks = sl.from_generator(second).with_watermark("t", "100ms")
    per_second = ticks.window(sl.tumbling("1s", on="t")).agg(n=sl.count(), total=sl.col("v").sum())
    first = per_second.limit(3).collect()  # ends although the input does not
    assert first.column("n").to_pylist() == [1_000] * 3
    assert first.column("total").to_pylist() == [0, 1_000, 2_000]
    assert first.column("window_start").to_pylist() == [
        base + dt.timedelta(seconds=s) for s in range(3)
    ]


@pytest.mark.parametrize(
    ("spec", "windows_per_row"),
    [(sl.sliding("10s", "2s", on="t"), 5), (sl.session("500ms", on="t"), 1)],
)
def test_window_state_stays_bounded_as_the_stream_grows(
    config: None, spec: sl.WindowSpec, windows_per_row: int
) -> None:
    """Sliding windows close as time passes; these sessions never close (every key has a row
    every 97 ms) yet hold one row per key and piece, not their rows."""
    set_config(get_config().replace(batch_size=1_000))

    def peak_state(seconds: int) -> int:
        def chunk(i: int) -> pa.Table | None:
            if i >= seconds:
                return None
            ms = np.arange(i * 1_000, (i + 1) * 1_000)
            return pa.table({"t": pa.array(ms, pa.timestamp("ms")), "k": ms % 97})

        stream = sl.from_generator(chunk).with_watermark("t", "1s")
        run = run_to_end(stream.window(spec).group_by("k").agg(n=sl.count()))
        counted = sum(run.table.column("n").to_pylist())
        assert run.table.num_rows > 0 and counted == seconds * 1_000 * windows_per_row
        return run.metrics_total("peak_state_rows")

    short, long = peak_state(30), peak_state(300)
    assert 0 < long <= short * 1.1


def test_bad_window_and_watermark_settings_get_clear_errors() -> None:
    s = sl.from_pydict({"t": [dt.datetime(2026, 1, 1)], "n": [1]})
    with pytest.raises(sl.SchemaError, match="'n' is int64"):
        s.window(sl.tumbling("1s", on="n"))
    with pytest.raises(sl.SchemaError, match=r"column .time. not found\. Available columns: t, n"):
        s.with_watermark("time", "1s")
    with pytest.raises(sl.PlanError, match="cannot read duration '10 sec'"):
        sl.tumbling("10 sec", on="t")
    with pytest.raises(sl.PlanError, match=r"slide .* must not exceed its size"):
        sl.sliding("1s", "2s", on="t")
    with pytest.raises(sl.PlanError, match="right after with_watermark"):
        s.late()
    with pytest.raises(sl.SchemaError, match="not an aggregate"):
        s.window(sl.tumbling("1s", on="t")).agg(sl.col("n"))


def test_an_idle_input_stops_holding_back_the_windows_of_a_union() -> None:
    base = np.datetime64("2026-01-01T00:00:00", "ms")

    def busy(i: int) -> pa.Table:  # 200 rows per second of event time, forever
        ms = np.arange(i * 200, (i + 1) * 200) * 5
        return pa.table({"t": pa.array(base + ms), "src": np.zeros(200, dtype=np.int64)})

    def stalls(i: int) -> pa.Table | None:  # one row, then nothing for a long while
        if i == 0:
            return pa.table({"t": pa.array([base]), "src": np.ones(1, dtype=np.int64)})
        time.sleep(3)
        return None

    def first_windows(idle_timeout: str | None) -> tuple[pa.Table, float]:
        quiet = sl.from_generator(stalls, schema=busy(0).schema)
        merged = (
            sl.from_generator(busy)
            .with_watermark("t", "0s")
            .union(quiet.with_watermark("t", "0s", idle_timeout=idle_timeout))
        )
        counts = merged.window(sl.tumbling("1s", on="t")).agg(n=sl.count())
        started = time.monotonic()
        return counts.limit(3).collect(), time.monotonic() - started

    table, seconds = first_windows("100ms")
    assert table.column("n").to_pylist() == [201, 200, 200]  # the quiet row is in the first
    assert seconds < 2.5  # the windows closed while the quiet input was still stalled
    table, seconds = first_windows(None)
    assert table.column("n").to_pylist() == [201, 200, 200]
    assert seconds >= 2.5  # without the timeout they waited for it to end


def test_early_results_update_open_windows_and_end_at_the_final_rows(config: None) -> None:
    set_config(get_config().replace(batch_size=200))
    events = out_of_order_events(5, 4_000, disorder_ms=3_000)
    stream = sl.from_arrow(events).with_watermark("t", "4s")
    windowed = stream.window(sl.sliding("10s", "5s", on="t"), early="0s")
    updates = windowed.group_by("k").agg(**AGGS)
    assert updates.changelog == "upsert"
    table = updates.collect()
    latest: dict[tuple[object, object], dict[str, object]] = {}
    for row in table.to_pylist():  # the last row of a key and window wins
        latest[(row["k"], row["window_start"])] = row
    final = pa.Table.from_pylist(list(latest.values()), schema=table.schema)
    assert table.num_rows > 2 * final.num_rows  # windows were reported before they closed
    assert_same_windows(final, reference(events, "sliding", 10_000, 5_000))
    with pytest.raises(sl.PlanError, match="fixed bounds"):
        stream.window(sl.session("1s", on="t"), early="1s")
