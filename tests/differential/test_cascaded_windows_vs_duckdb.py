"""A ``GROUP BY`` of window bounds over windowed counts on a stream planned as unbounded (a
generator function that ends): each group comes once, as the watermark passes its window,
and the join of those groups back to the counts on the bounds (Nexmark q5's shape) gives
DuckDB's rows, over out-of-order input in small batches, on both state backends. The same
query on a bounded stream keeps its plan (a grouped aggregate and a hash join)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.config import get_config, set_config
from sabot_lab.logical import CascadedWindow, GroupBy
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.running import run_to_end
from tests.support.windows import out_of_order_events

COUNTS = """
    SELECT k, COUNT(*) AS n, window_start AS s, window_end AS e
    FROM TABLE(HOP(TABLE ev, DESCRIPTOR(t), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
    GROUP BY k, window_start, window_end"""
HOT = f"""
    SELECT c.k, c.n, c.e FROM ({COUNTS}) AS c
    JOIN (SELECT MAX(n) AS m, s, e FROM ({COUNTS}) GROUP BY s, e) AS x
    ON c.s = x.s AND c.e = x.e AND c.n >= x.m"""
PER_END = f"SELECT e, SUM(n) AS total, MAX(n) AS top FROM ({COUNTS}) GROUP BY e"
"""Grouped by the window end alone: the groups close as the watermark passes it."""

WINDOWS = """
    WITH w AS (SELECT k, ms // 2000 * 2000 - 2000 * r.i AS ws FROM ev, range(0, 5) AS r(i)
               WHERE t IS NOT NULL),
         c AS (SELECT k, ws, count(*) AS n FROM w GROUP BY k, ws)"""
REFERENCES = {
    HOT: f"""{WINDOWS}
        SELECT k, n, epoch_ms(ws + 10000) FROM c
        JOIN (SELECT ws, max(n) AS m FROM c GROUP BY ws) USING (ws) WHERE n >= m""",
    PER_END: f"{WINDOWS} SELECT epoch_ms(ws + 10000), sum(n), max(n) FROM c GROUP BY ws",
}


@pytest.fixture
def config() -> Iterator[None]:
    old = get_config()
    yield
    set_config(old)


def _unbounded(events: pa.Table, rows: int) -> sl.Stream:
    """``events`` from a generator function, ``rows`` at a time: a stream planned as
    unbounded that ends."""
    return sl.from_generator(
        lambda i: events.slice(i * rows, rows) if i * rows < events.num_rows else None,
        schema=events.schema,
    )


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
@pytest.mark.parametrize("query", [HOT, PER_END], ids=["joined", "per_end"])
def test_groups_of_window_bounds_come_once_and_equal_duckdb(
    config: None, backend: str, query: str
) -> None:
    set_config(get_config().replace(batch_size=64, state_backend=backend))
    events = out_of_order_events(seed=5, n=3_000, disorder_ms=2_000)
    stream = sl.sql(query, ev=_unbounded(events, 64).with_watermark("t", "3s"))
    operators = [n.op for n in stream.graph]
    assert any(isinstance(op, CascadedWindow) for op in operators)
    assert not any(isinstance(op, GroupBy) and op.running for op in operators)
    assert stream.changelog == "append"
    expected = duckdb_table(
        REFERENCES[query], ev=events.append_column("ms", events["t"].cast(pa.int64()))
    )
    rows = run_to_end(stream).table
    assert rows.num_rows > 10
    assert_same_rows(rows, expected)


def test_on_a_bounded_stream_the_plan_is_unchanged() -> None:
    events = out_of_order_events(seed=5, n=300, disorder_ms=2_000)
    stream = sl.sql(HOT, ev=sl.from_arrow(events).with_watermark("t", "3s"))
    assert not any(isinstance(n.op, CascadedWindow) for n in stream.graph)
