"""Inputs of the tests of window functions over event time on unbounded streams: random
events arriving out of order within the watermark delay (keys and values sometimes null,
some rows late when asked), the rows a watermark assigner keeps of them, and window queries
in SQL that DuckDB computes the same way over the same rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["DELAY_MS", "QUERIES", "TIED_QUERIES", "events", "on_time"]

DELAY_MS = 4_000
"""The watermark delay the streams of these tests use (``with_watermark("t", "4s")``)."""


def events(seed: int, n: int, ties: bool = False, late: float = 0.0) -> pa.Table:
    """``n`` events over 60 s: ``t`` (milliseconds; distinct unless ``ties``; arriving up to
    3 s out of order, and a ``late`` share of them 4 to 10 s later than their time), a key
    ``k`` and values ``x`` (int) and ``y`` (float), sometimes null."""
    rng = np.random.default_rng(seed)
    span = 60_000
    times = rng.integers(0, span // 20, n) * 20 if ties else rng.permutation(span)[:n]
    times = np.sort(times)
    arrival = times + rng.uniform(0, 3_000, n)
    delayed = rng.random(n) < late
    arrival[delayed] += rng.uniform(DELAY_MS + 1_000, 10_000, int(delayed.sum()))
    order = np.argsort(arrival, kind="stable")
    return pa.table(
        {
            "t": pa.array(times[order], pa.timestamp("ms")),
            "k": pa.array(rng.integers(0, 6, n), mask=rng.random(n) < 0.05),
            "x": pa.array(rng.integers(-50, 100, n), mask=rng.random(n) < 0.1),
            "y": pa.array(rng.normal(0, 10, n), mask=rng.random(n) < 0.1),
        }
    )


def on_time(table: pa.Table, delay_ms: int = DELAY_MS) -> pa.Table:
    """The rows of ``table`` (in arrival order) a watermark with ``delay_ms`` keeps: those not
    older than the latest time before them (or their own) less the delay."""
    times = np.asarray(table["t"].cast(pa.int64()).to_numpy(zero_copy_only=False))
    latest = np.maximum.accumulate(times)
    return table.filter(pa.array(times >= latest - delay_ms))


QUERIES = {
    "avg over the last 10 rows (Nexmark q6's frame)": "AVG(x) OVER (PARTITION BY k ORDER BY t "
    "ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)",
    "sum and min of rows before the current one": "SUM(y) OVER (PARTITION BY k ORDER BY t ROWS "
    "BETWEEN 3 PRECEDING AND 1 PRECEDING) AS s3, MIN(x) OVER (PARTITION BY k ORDER BY t ROWS "
    "BETWEEN 2 PRECEDING AND CURRENT ROW)",
    "running aggregates": "SUM(x) OVER (PARTITION BY k ORDER BY t) AS s, COUNT(*) OVER "
    "(PARTITION BY k ORDER BY t) AS c, COUNT(x) OVER (PARTITION BY k ORDER BY t) AS cx, "
    "AVG(y) OVER (PARTITION BY k ORDER BY t) AS a, MIN(y) OVER (ORDER BY t) AS lo, MAX(x) OVER "
    "(PARTITION BY k ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS hi",
    "sums and counts over the last seconds": "SUM(x) OVER (PARTITION BY k ORDER BY t RANGE "
    "BETWEEN INTERVAL '1500' MILLISECOND PRECEDING AND CURRENT ROW) AS s, COUNT(*) OVER (ORDER "
    "BY t RANGE BETWEEN INTERVAL 2 SECOND PRECEDING AND INTERVAL '100' MILLISECOND PRECEDING) "
    "AS c, AVG(y) OVER (PARTITION BY k ORDER BY t RANGE INTERVAL '5' SECOND PRECEDING) AS a",
    "lag": "LAG(x) OVER (PARTITION BY k ORDER BY t) AS p1, LAG(y, 3, -1.0) OVER (ORDER BY t) AS p3",
    "values of the frame": "FIRST_VALUE(x) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 3 "
    "PRECEDING AND CURRENT ROW) AS f, LAST_VALUE(y) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN "
    "2 PRECEDING AND 1 PRECEDING) AS l, NTH_VALUE(x, 2) OVER (ORDER BY t ROWS 4 PRECEDING) AS n2",
    "ranks by time": "ROW_NUMBER() OVER (PARTITION BY k ORDER BY t) AS rn, RANK() OVER "
    "(PARTITION BY k ORDER BY t) AS r, DENSE_RANK() OVER (ORDER BY t) AS d",
}
"""Window columns (SELECT items after ``k, t, x, y``) whose values DuckDB and a stream agree
on when times are distinct."""

TIED_QUERIES = {
    "ranks and running aggregates with ties in time": "RANK() OVER (PARTITION BY k ORDER BY t) "
    "AS r, DENSE_RANK() OVER (PARTITION BY k ORDER BY t) AS d, COUNT(*) OVER (PARTITION BY k "
    "ORDER BY t) AS c, SUM(x) OVER (ORDER BY t) AS s, MAX(y) OVER (PARTITION BY k ORDER BY t "
    "RANGE BETWEEN CURRENT ROW AND CURRENT ROW) AS peak, MIN(x) OVER (PARTITION BY k ORDER BY "
    "t RANGE BETWEEN INTERVAL '1' SECOND PRECEDING AND CURRENT ROW) AS low",
}
"""Window columns whose values do not depend on the order of rows with equal times."""
