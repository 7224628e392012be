"""A filter of several conjuncts evaluates them one after the other and, once at most a third
of the rows are left, the later ones on those rows only: against DuckDB on random tables with
nulls (integers, short decimals, dates), conjunct chains whose first parts keep few rows, many
or none, and the filter's columns returned or not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, lit
from tests.support.reference import assert_same_rows, duckdb_table

ROWS = 3_000
START = dt.date(1994, 1, 1)


def _table(seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    nulls = lambda: rng.random(ROWS) < 0.1  # noqa: E731
    cents = rng.integers(0, 11, ROWS)
    return pa.table(
        {
            "n": pa.array(rng.integers(0, 100, ROWS), mask=nulls()),
            "price": pa.array(
                [Decimal(int(c)).scaleb(-2) for c in cents], pa.decimal128(15, 2), mask=nulls()
            ),
            "day": pa.array(
                [START + dt.timedelta(days=int(d)) for d in rng.integers(0, 365, ROWS)],
                pa.date32(),
                mask=nulls(),
            ),
            "key": np.arange(ROWS),
        }
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    n_low=st.integers(-1, 101),
    days=st.integers(0, 366),
    price=st.integers(0, 11),
    returned=st.sampled_from([["key"], ["key", "price", "n"]]),
)
def test_staged_conjuncts_match_duckdb(
    seed: int, n_low: int, days: int, price: int, returned: list[str]
) -> None:
    table = _table(seed)
    until = START + dt.timedelta(days=days)
    cut = Decimal(price).scaleb(-2)
    predicate = (
        (col("n") >= n_low)
        & (col("day") < until)
        & (col("price") <= lit(cut, "decimal128(3, 2)"))
        & ((col("n") % 3) != 1)
    )
    actual = sl.from_arrow(table).filter(predicate).select(*returned).collect()
    expected = duckdb_table(
        f"SELECT {', '.join(returned)} FROM t WHERE n >= {n_low} AND day < DATE '{until}'"
        f" AND price <= {cut} AND n % 3 <> 1",
        t=table,
    )
    assert_same_rows(actual, expected)
