"""The std/var/median/quantile aggregates on a local cluster: partial aggregates in two tasks,
merged after a hash shuffle, give DuckDB's answer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows, duckdb_table


@pytest.fixture(scope="module")
def cluster() -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=2, slots=2, heartbeat_interval=0.3) as c:
        yield c


def rows(n: int = 20_000) -> pa.Table:
    rng = np.random.default_rng(5)
    keys = pa.array(rng.integers(0, 40, n), mask=rng.random(n) < 0.02)
    x = pa.array(rng.normal(100, 15, n), mask=rng.random(n) < 0.1)
    keys = pa.concat_arrays([keys, pa.array([98, 99, 99], pa.int64())])  # one row; all null
    x = pa.concat_arrays([x, pa.array([1.5, None, None])])
    return pa.table({"k": keys, "x": x, "y": pa.array(rng.integers(-9, 9, n + 3))})


def test_spreads_and_quantiles_over_two_partitions_equal_duckdb(cluster: sl.LocalCluster) -> None:
    table = rows()
    stream = (
        sl.from_iterable(table.to_batches(max_chunksize=1_000), schema=table.schema)
        .group_by("k")
        .agg(
            sd=col("x").std(),
            v=col("y").var(ddof=0),
            med=col("x").median(),
            q=col("y").quantile(0.75, "equiprobable"),
        )
    )
    result = stream.submit(cluster, partitions=2).result(timeout=120)
    expected = duckdb_table(
        "SELECT k, stddev_samp(x) AS sd, var_pop(y) AS v, median(x) AS med, "
        "quantile_disc(y, 0.75) AS q FROM t GROUP BY k",
        t=table,
    )
    assert_same_rows(result, expected)
    sql = "SELECT k, stddev(x) AS sd, percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS p FROM t GROUP BY k"
    assert_same_rows(sl.sql(sql, t=table).submit(cluster, partitions=2).result(timeout=120),
                     duckdb_table(sql, t=table))  # fmt: skip
