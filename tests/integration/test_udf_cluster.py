"""A compiled user function on a two-agent cluster: it travels with the plan (a closure,
pickled by value), compiles on each agent, and gives the Python function's answers."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.user_functions import per_row


@pytest.fixture(scope="module")
def udf_cluster() -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=2, slots=2) as cluster:
        yield cluster


def random_table(rows: int, seed: int) -> pa.Table:
    rng = random.Random(seed)

    def maybe(value: object) -> object:
        return None if rng.random() < 0.15 else value

    return pa.table(
        {
            "k": pa.array([maybe(rng.randrange(5)) for _ in range(rows)], pa.int64()),
            "x": pa.array([maybe(rng.uniform(-50, 150)) for _ in range(rows)], pa.float64()),
            "n": pa.array([maybe(rng.randrange(-20, 20)) for _ in range(rows)], pa.int64()),
        }
    )


def test_a_udf_submitted_to_two_agents_gives_the_python_functions_answers(
    udf_cluster: sl.LocalCluster,
) -> None:
    discount = 0.9  # read by the closure: the function travels by value

    def score(x: float, n: int) -> float:
        if x > 100.0:
            return x * discount
        total = 0.0
        for i in range(abs(n) % 4):
            total += math.cos(x) * i
        return total - n

    def bucket(k: int, n: int) -> int:
        return (k * 7 + n) % 3

    table = random_table(5_000, seed=27)
    fast_score = sl.udf(score, return_dtype="float64")
    fast_bucket = sl.udf(bucket, return_dtype="int64")
    stream = (
        sl.from_arrow(table)
        .filter(fast_score(col("x"), col("n")) > 0)
        .group_by(fast_bucket(col("k"), col("n")).alias("b"))
        .agg(fast_score(col("x"), col("n")).sum().alias("total"), sl.count().alias("rows"))
    )
    python = pa.table(
        {
            "s": pa.array(per_row(score, table, ("x", "n")), pa.float64()),
            "b": pa.array(per_row(bucket, table, ("k", "n")), pa.int64()),
        }
    )
    expected = duckdb_table(
        "SELECT b, SUM(s) AS total, COUNT(*) AS rows FROM p WHERE s > 0 GROUP BY b", p=python
    )
    result = stream.submit(udf_cluster, partitions=2).result(timeout=120)
    assert_same_rows(result, expected, rel=1e-9)
    assert_same_rows(stream.collect(), expected, rel=1e-9)


def test_a_string_udf_groups_rows_on_two_agents_as_its_python_function_does(
    udf_cluster: sl.LocalCluster,
) -> None:
    names = ("Zürich", "oslo", "東京", "", "lima")  # a tuple: numba reads it as a constant

    def city(k: int, n: int) -> str | None:
        name = names[k]
        if name == "":
            return None
        return name.upper() if n > 0 else name[:2]

    table = random_table(5_000, seed=28)
    keyed = sl.udf(city, return_dtype="string")
    stream = sl.from_arrow(table).group_by(keyed(col("k"), col("n")).alias("c")).agg(sl.count())
    python = pa.table({"c": pa.array(per_row(city, table, ("k", "n")), pa.string())})
    expected = duckdb_table("SELECT c, COUNT(*) AS count FROM p GROUP BY c", p=python)
    result = stream.submit(udf_cluster, partitions=2).result(timeout=120)
    assert_same_rows(result, expected)
