"""The division kernel against Python's exact integer arithmetic, truncated toward zero."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sabot_lab.kernels.arith import divide_by_constant

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import duckdb_table

EDGES = [0, 1, -1, 2, -2, 2**50 - 1, 2**50, -(2**50) + 1, -(2**50), 2**63 - 1, -(2**63)]


def truncated(x: int, d: int) -> tuple[int, int]:
    q = abs(x) // abs(d) * (1 if (x >= 0) == (d > 0) else -1)
    return q, x - q * d


@pytest.mark.parametrize("d", [1, 2, 3, 7, 123, 1000, -2, -3, -7, 2**31, -(2**31)])
def test_quotient_and_remainder_equal_exact_arithmetic(d: int) -> None:
    rng = np.random.default_rng(abs(d))
    x = np.concatenate(
        [
            rng.integers(-(2**63), 2**63 - 1, 5_000, dtype=np.int64),
            rng.integers(-(10**7), 10**7, 5_000, dtype=np.int64),
            np.array(EDGES, dtype=np.int64),
            np.arange(-3 * abs(d), 3 * abs(d) + 1, max(1, abs(d) // 7), dtype=np.int64),
        ]
    )
    q, r = np.empty_like(x), np.empty_like(x)
    divide_by_constant(x, d, q, False)
    divide_by_constant(x, d, r, True)
    expected = [truncated(int(v), d) for v in x]
    assert [(int(a), int(b)) for a, b in zip(q, r, strict=True)] == expected


def test_modulo_and_division_by_constants_equal_duckdb_on_sliced_columns_with_nulls() -> None:
    values = [None if i % 11 == 0 else (i * 7919 - 50_000) * 3 for i in range(30_000)]
    table = pa.table({"x": pa.array(values, pa.int64())}).slice(7)  # an offset, and nulls
    stream = sl.from_arrow(table).select(
        (col("x") % 123).alias("m"), (col("x") // -7).alias("q"), (col("x") % 1).alias("one")
    )
    expected = duckdb_table(
        "SELECT x % 123 AS m, CAST(trunc(x / -7) AS BIGINT) AS q, x % 1 AS one FROM t", t=table
    )
    assert stream.collect().to_pylist() == expected.to_pylist()
