"""Window state larger than memory: tumbling and sliding windows keep their partials by pane
and read only the panes of the windows they close, so with the RocksDB backend a windowed
aggregation holding about three times the memory budget in state keeps the process's peak
resident memory under the budget, while the memory backend goes over it; both give DuckDB's
answer. Each run is measured in a fresh process, so every spike counts, by the peak RSS of its
own memory (``VmHWM``; ``ru_maxrss`` starts from the peak of the process that started it).
Also against DuckDB: panes when the size is not a multiple of the slide, partials that do not
merge (``n_unique``), and a state saved before partials were kept by pane."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.config import get_config, set_config
from sabot_lab.engine.items import Watermark
from sabot_lab.engine.state import open_state
from sabot_lab.engine.stream_operator import drive
from sabot_lab.engine.window_aggregate import window_operator
from tests.support.reference import normalized_rows
from tests.support.windows import AGGS, SQL_AGGS, assert_same_windows, out_of_order_events

ROWS_PER_WINDOW = 16_384  # distinct keys in each one-second window
WINDOWS = 840
DELAY_S = 800  # the watermark trails the latest time by this much: ~800 windows stay open
ROWS_PER_BATCH = 32_768
STATE_ROW_BYTES = 32  # a held (key, window) at least: key, window start, count, sum (int64)
BUDGET = 128 * 2**20  # peak RSS growth allowed while the windows run
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from sabot_lab.config import get_config, set_config
    from tests.support.peak_memory import peak_rss
    from tests.integration.test_state_larger_than_memory import windowed_summary

    set_config(get_config().replace(state_backend=sys.argv[1], progress=False))
    warm = windowed_summary(windows=2).run()  # opens a state backend, starts the threads
    baseline = peak_rss()
    start = time.perf_counter()
    result = windowed_summary().run()
    seconds = time.perf_counter() - start
    peak = peak_rss()
    print(json.dumps({
        "summary": result.table.to_pylist()[0],
        "peak_state_rows": result.metrics_total("peak_state_rows"),
        "growth": peak - baseline,
        "seconds": seconds,
    }))
    """
)

REFERENCE_SQL = """
    SELECT count(*) AS rows, sum(n) AS n, sum(s) AS s, sum(k) AS k, sum(k % 1000 * ws) AS ks
    FROM (SELECT k, epoch_ms(time_bucket(INTERVAL 1 second, t::TIMESTAMP)) AS ws,
                 count(*) AS n, sum(x) AS s
          FROM batches GROUP BY k, ws)
"""


def generated(windows: int = WINDOWS) -> Iterator[pa.RecordBatch]:
    """Rows in time order, ``ROWS_PER_WINDOW`` a second, each with a new key."""
    total = ROWS_PER_WINDOW * windows
    for low in range(0, total, ROWS_PER_BATCH):
        i = np.arange(low, min(low + ROWS_PER_BATCH, total), dtype=np.int64)
        t = pa.array(i * 1000 // ROWS_PER_WINDOW, pa.timestamp("ms"))
        yield pa.record_batch({"k": i, "x": i % 1000, "t": t})


def windowed_summary(windows: int = WINDOWS) -> sl.Stream:
    """Count and sum per key and one-second window, with ``DELAY_S`` of out-of-orderness
    allowed (so the state holds ~``DELAY_S`` windows at once), reduced to checksums."""
    per_window = (
        sl.from_iterable(lambda: generated(windows))
        .with_watermark("t", f"{DELAY_S}s")
        .window(sl.tumbling("1s", on="t"))
        .group_by("k")
        .agg(n=sl.count(), s=col("x").sum())
    )
    start_ms = col("window_start").cast(pa.int64())
    return per_window.agg(
        rows=sl.count(), n=col("n").sum(), s=col("s").sum(), k=col("k").sum(),
        ks=(col("k") % 1000 * start_ms).sum(),
    )  # fmt: skip


def _measured(backend: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, backend],
        capture_output=True, text=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    return {backend: _measured(backend) for backend in ("rocksdb", "memory")}


def test_both_backends_give_duckdbs_windows(runs: dict[str, dict[str, Any]]) -> None:
    batches = pa.RecordBatchReader.from_batches(next(generated(1)).schema, generated())
    con = duckdb.connect()
    con.register("batches", batches)
    (expected,) = normalized_rows(con.sql(REFERENCE_SQL).to_arrow_table())
    for backend, run in runs.items():
        assert tuple(run["summary"].values()) == expected, backend
    assert runs["rocksdb"]["peak_state_rows"] == runs["memory"]["peak_state_rows"]


def test_rocksdb_holds_window_state_three_times_the_budget_under_it(
    runs: dict[str, dict[str, Any]],
) -> None:
    rocks = runs["rocksdb"]
    held = rocks["peak_state_rows"] * STATE_ROW_BYTES
    assert held >= 3 * BUDGET, f"only {held / 2**20:.0f} MiB of state held"
    growth = rocks["growth"]
    assert growth < BUDGET, (
        f"peak RSS grew by {growth / 2**20:.0f} MiB holding {held / 2**20:.0f} MiB of state"
    )


def test_memory_backend_goes_over_the_budget(runs: dict[str, dict[str, Any]]) -> None:
    growth = runs["memory"]["growth"]
    assert growth > BUDGET, f"peak RSS grew by only {growth / 2**20:.0f} MiB"


@pytest.fixture
def config() -> Iterator[None]:
    old = get_config()
    yield
    set_config(old)


def sliding_reference(events: pa.Table, size_ms: int, slide_ms: int, aggs: str) -> pa.Table:
    """Sliding windows in DuckDB for any size and slide: each row in every window starting at
    a multiple of the slide in ``(ms - size, ms]``."""
    con = duckdb.connect()
    con.register("ev", events.append_column("ms", events["t"].cast(pa.int64())))
    return con.sql(
        f"""WITH w AS (
              SELECT *, unnest(generate_series(
                  (ms // {slide_ms} - {size_ms} // {slide_ms} - 1) * {slide_ms},
                  (ms // {slide_ms}) * {slide_ms}, {slide_ms})) AS ws
              FROM ev WHERE t IS NOT NULL)
            SELECT k, ws, ws + {size_ms} AS we, {aggs}
            FROM w WHERE ms < ws + {size_ms} GROUP BY k, ws"""
    ).to_arrow_table()


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
@pytest.mark.parametrize(("size_ms", "slide_ms"), [(5_000, 2_000), (3_000, 2_000), (10_000, 4_000)])
def test_sliding_windows_of_a_size_not_a_multiple_of_the_slide_equal_duckdb(
    config: None, backend: str, size_ms: int, slide_ms: int
) -> None:
    set_config(get_config().replace(batch_size=64, state_backend=backend))
    events = out_of_order_events(seed=size_ms + slide_ms, n=3_000, disorder_ms=3_000)
    spec = sl.sliding(f"{size_ms}ms", f"{slide_ms}ms", on="t")
    result = sl.from_arrow(events).with_watermark("t", "4s").window(spec).group_by("k").agg(**AGGS)
    expected = sliding_reference(events, size_ms, slide_ms, SQL_AGGS)
    assert_same_windows(result.run().table, expected)


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_distinct_counts_whose_partials_do_not_merge_equal_duckdb(
    config: None, backend: str
) -> None:
    set_config(get_config().replace(batch_size=2, state_backend=backend))  # many per pane
    events = out_of_order_events(seed=3, n=2_000, disorder_ms=3_000)
    aggs = {"n": sl.count(), "u": col("y").n_unique()}
    spec = sl.sliding("10s", "2s", on="t")
    result = sl.from_arrow(events).with_watermark("t", "4s").window(spec).group_by("k").agg(**aggs)
    ours = result.run().table.rename_columns(["k", "ws", "we", "n", "u"])
    ours = ours.set_column(1, "ws", ours["ws"].cast(pa.int64()))
    expected = sliding_reference(events, 10_000, 2_000, "count(*) AS n, count(DISTINCT y) AS u")
    rows = ["k", "ws", "n", "u"]
    assert sorted(ours.select(rows).to_pylist(), key=repr) == sorted(
        expected.select(rows).to_pylist(), key=repr
    )


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_a_state_saved_before_partials_were_kept_by_pane_is_restored(
    backend: str, tmp_path: Path
) -> None:
    """A state of the earlier layout (partials of many panes under plain keys) is split into
    panes on restore; the windows come out as from one uninterrupted run."""
    events = out_of_order_events(seed=11, n=2_000, disorder_ms=1_000)
    items: list[Any] = []
    for i, batch in enumerate(events.to_batches(max_chunksize=100)):
        items.append(batch)
        items.append(Watermark((i + 1) * 5_000_000 - 10_000_000))  # microseconds
    spec, aggs = sl.sliding("10s", "2s", on="t"), [sl.count().alias("n"), col("x").max()]
    whole = list(
        drive(window_operator(spec, ["k"], aggs, events.schema, open_state()), iter(items))
    )

    cut = len(items) // 2
    state = open_state(backend)
    emitted = list(
        drive(
            window_operator(spec, ["k"], aggs, events.schema, state), iter(items[:cut]), final=False
        )
    )
    keys = state.keys()
    panes = [k for k in keys if k.startswith("p")]
    assert len(panes) > 1
    held = [state.pop(k) for k in panes]
    state.put("0000000000000001", pa.concat_tables([t for t in held if t is not None]))
    resumed = window_operator(spec, ["k"], aggs, events.schema, state)
    assert resumed.state_rows == sum(t.num_rows for t in held if t is not None)
    emitted += list(drive(resumed, iter(items[cut:])))
    left = state.keys()
    assert [k for k in left if not k.startswith("~")] == []
    state.close()

    def rows(out: list[Any]) -> list[tuple[Any, ...]]:
        batches = [b for b in out if isinstance(b, pa.RecordBatch)]
        return sorted(normalized_rows(pa.Table.from_batches(batches)), key=repr)

    assert rows(emitted) == rows(whole)
