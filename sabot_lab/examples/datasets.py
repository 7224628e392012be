"""Seeded synthetic data sets used by the demo, the notebooks, the tests and the benchmarks.

>>> from sabot_lab.examples.datasets import quotes, securities
>>> q = quotes(1_000, n_securities=100, seed=1)
>>> q.column_names
['quote_id', 'security_id', 'price', 'size', 'rating', 'ts']
>>> q.equals(quotes(1_000, n_securities=100, seed=1))
True
>>> securities(100).num_rows
100
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

__all__ = ["SECTORS", "quotes", "securities"]

SECTORS = (
    "communication",
    "consumer_discretionary",
    "consumer_staples",
    "energy",
    "financials",
    "health_care",
    "industrials",
    "materials",
    "real_estate",
    "technology",
    "utilities",
)


def quotes(n: int, n_securities: int = 100_000, seed: int = 0) -> pa.Table:
    """``n`` market quotes: security id, price (1 to 500), size, analyst rating (1 to 5), timestamp.

    About 3 % of ``security_id`` values reference no security (unknown listings), so inner and
    left joins differ.
    """
    rng = np.random.default_rng(seed)
    start = np.datetime64(dt.datetime(2024, 1, 2, 9, 30), "us")
    offsets = np.sort(rng.integers(0, 6 * 3600 * 1_000_000, n))
    return pa.table(
        {
            "quote_id": np.arange(n, dtype=np.int64),
            "security_id": rng.integers(0, int(n_securities * 1.03) + 1, n),
            "price": np.round(rng.uniform(1.0, 500.0, n), 2),
            "size": rng.integers(1, 1_000, n),
            "rating": rng.integers(1, 6, n),
            "ts": pa.array(start + offsets.astype("timedelta64[us]"), type=pa.timestamp("us")),
        }
    )


def securities(n: int = 100_000, seed: int = 0) -> pa.Table:
    """``n`` securities with ids ``0..n-1``, a sector and a ticker."""
    rng = np.random.default_rng(seed + 1)
    sector_codes = rng.integers(0, len(SECTORS), n).astype(np.int32)
    sectors = pa.DictionaryArray.from_arrays(pa.array(sector_codes), pa.array(SECTORS))
    return pa.table(
        {
            "id": np.arange(n, dtype=np.int64),
            "sector": sectors.cast(pa.string()),
            "ticker": pa.array([f"T{i:06d}" for i in range(n)]),
        }
    )
