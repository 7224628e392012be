"""Stream joins against DuckDB: interval joins and as-of joins over out-of-order input (within
the watermark delay) on both state backends, a lookup join of an unbounded stream against a
table, and state bounded by watermarks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.config import get_config, set_config
from tests.support.reference import duckdb_connection, timed_rows
from tests.support.running import run_to_end

SPAN_MS = 60_000
INPUTS = {  # a seed for the rows, how many, and the batch size they are read in
    "seed": st.integers(0, 2**32 - 1),
    "n": st.integers(1, 1_500),
    "batch_size": st.sampled_from([9, 100, 10_000]),
}
EXAMPLES = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def side(seed: int, n: int, value: str, distinct_times: bool = False) -> pa.Table:
    """``t`` (arriving up to 3 s out of order), a key ``k`` (sometimes null) and a value."""
    rng = np.random.default_rng(seed)
    if distinct_times:
        times = np.sort(rng.choice(SPAN_MS, n, replace=False))
    else:
        times = np.sort(rng.integers(0, SPAN_MS, n))
    order = np.argsort(times + rng.uniform(0, 3_000, n), kind="stable")
    keys = pa.array(rng.integers(0, 12, n)[order], mask=rng.random(n) < 0.05)
    return pa.table(
        {
            "t": pa.array(times[order], pa.timestamp("ms")),
            "k": keys,
            value: pa.array(rng.integers(0, 1_000_000, n)[order]),
        }
    )


@pytest.fixture
def config() -> Iterator[None]:
    old = get_config()
    yield
    set_config(old)


def duck(sql: str, **tables: pa.Table) -> pa.Table:
    con = duckdb_connection()
    for name, table in tables.items():
        con.register(name, table.append_column("ms", table["t"].cast(pa.int64())))
    return con.sql(sql).to_arrow_table()


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
@EXAMPLES
@given(
    **INPUTS,
    bounds=st.sampled_from([(-2_000, 1_000), (0, 5_000), (-5_000, -1_000), (0, 0)]),
)
def test_interval_join_over_out_of_order_input_equals_duckdb(
    config: None, backend: str, seed: int, n: int, batch_size: int, bounds: tuple[int, int]
) -> None:
    set_config(get_config().replace(batch_size=batch_size, state_backend=backend))
    left, right = side(seed, n, "v"), side(seed + 1, max(n // 3, 1), "w")
    lower, upper = bounds
    joined = sl.from_arrow(left).with_watermark("t", "4s").join_interval(
        sl.from_arrow(right).with_watermark("t", "4s"),
        on="k", time="t", lower=f"{lower}ms" if lower >= 0 else f"-{-lower}ms",
        upper=f"{upper}ms" if upper >= 0 else f"-{-upper}ms",
    )  # fmt: skip
    result = joined.run()
    expected = duck(
        f"""SELECT l.t, l.k, l.v, r.t AS t_right, r.w FROM l JOIN r ON l.k = r.k
            AND l.ms BETWEEN r.ms + {lower} AND r.ms + {upper}""",
        l=left, r=right,
    )  # fmt: skip
    assert result.table.schema.names == ["t", "k", "v", "t_right", "w"]
    assert timed_rows(result.table) == timed_rows(expected)
    assert result.metrics_total("late_rows") == 0


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
@EXAMPLES
@given(
    **INPUTS,
    tolerance_ms=st.sampled_from([None, 0, 700, 5_000]),
)
def test_asof_join_over_out_of_order_input_equals_duckdb(
    config: None, backend: str, seed: int, n: int, batch_size: int, tolerance_ms: int | None
) -> None:
    set_config(get_config().replace(batch_size=batch_size, state_backend=backend))
    trades, quotes = side(seed, n, "v"), side(seed + 1, max(n // 2, 1), "w", distinct_times=True)
    tolerance = None if tolerance_ms is None else f"{tolerance_ms}ms"
    joined = (
        sl.from_arrow(trades)
        .with_watermark("t", "4s")
        .join_asof(
            sl.from_arrow(quotes).with_watermark("t", "4s"), on="t", by="k", tolerance=tolerance
        )
    )
    result = joined.run()
    within = "TRUE" if tolerance_ms is None else f"l.ms - r.ms <= {tolerance_ms}"
    expected = duck(
        f"""SELECT l.t, l.k, l.v, CASE WHEN {within} THEN r.w END AS w
            FROM l ASOF LEFT JOIN r ON l.k = r.k AND l.ms >= r.ms""",
        l=trades, r=quotes,
    )  # fmt: skip
    assert timed_rows(result.table) == timed_rows(expected)
    times = result.table["t"].cast(pa.int64()).to_numpy()
    assert (np.diff(times) >= 0).all()  # answered in time order


def test_a_lookup_join_enriches_an_unbounded_stream_from_a_table() -> None:
    sectors = pa.table({"sid": list(range(10)), "sector": [f"s{i % 3}" for i in range(10)]})

    def quotes(i: int) -> pa.Table:  # 100 rows a call, 84 of them with a known sid
        return pa.table({"sid": np.arange(100) % 12, "px": np.full(100, float(i))})

    stream = sl.from_generator(quotes)
    assert not stream.bounded
    enriched = stream.join(sectors, on="sid").limit(250).collect()  # ends: 2 calls and a part
    assert enriched.num_rows == 250
    con = duckdb_connection()
    con.register("d", sectors)
    for calls, got in ((2, enriched.filter(pa.compute.less(enriched["px"], 2.0))),
                       (3, enriched)):  # fmt: skip
        con.register("s", pa.concat_tables([quotes(i) for i in range(calls)]))
        expected = con.sql(
            "SELECT s.sid, s.px, d.sector FROM s JOIN d USING (sid)"
        ).to_arrow_table()
        if calls == 2:
            assert timed_rows(got) == timed_rows(expected)
        else:
            assert set(timed_rows(got)) <= set(timed_rows(expected))


def test_interval_join_state_stays_bounded_as_the_stream_grows(config: None) -> None:
    set_config(get_config().replace(batch_size=500))

    def peak(seconds: int) -> int:
        def chunk(offset: int) -> Any:
            def make(i: int) -> pa.Table | None:
                if i >= seconds:
                    return None
                ms = np.arange(i * 1_000, (i + 1) * 1_000, 2) + offset
                return pa.table({"t": pa.array(ms, pa.timestamp("ms")), "k": (ms // 2) % 50})

            return make

        left = sl.from_generator(chunk(0)).with_watermark("t", "1s")
        right = sl.from_generator(chunk(1)).with_watermark("t", "1s")
        run = run_to_end(left.join_interval(right, on="k", time="t", lower="-2s", upper="2s"))
        assert run.table.num_rows > 0
        return run.metrics_total("peak_state_rows")

    short, long = peak(20), peak(200)
    assert 0 < long <= short * 1.2


def test_stream_joins_take_columns_a_hash_join_encoded() -> None:
    """A hash join's right-side strings travel dictionary-encoded inside the engine; the
    stream joins after it get plain columns."""
    at = [dt.datetime(2026, 1, 1, 0, 0, s) for s in (1, 5, 9)]
    names = pa.table({"k": [1, 2], "name": ["ann", "bob"]})
    trades = sl.from_pydict({"t": at, "k": [1, 2, 1]}).join(names, on="k")
    quotes = sl.from_pydict({"t": [at[0], at[1]], "k": [1, 2], "px": [10.0, 20.0]})
    asof = trades.join_asof(quotes, on="t", by="k").sort("t").collect()
    assert asof.to_pydict() == {
        "t": at, "k": [1, 2, 1], "name": ["ann", "bob", "ann"], "px": [10.0, 20.0, 10.0]
    }  # fmt: skip
    near = trades.join_interval(quotes, on="k", time="t", lower="0s", upper="5s")
    assert near.sort("t").collect().column("name").to_pylist() == ["ann", "bob"]
