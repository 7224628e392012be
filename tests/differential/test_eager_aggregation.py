"""Group-bys split around an inner join (``aggregate_before_joins``): random facts with null
keys and values grouped by columns of a dimension table joined on a key, that dimension
unique on its key (its columns depend on the key) or not (repeated keys, columns that do
not depend on it), directly, through computed columns, or below a second join the rule re-associates: the same rows
and types optimized and as written; the rule fires where the facts repeat their key and
never where the aggregates read the dimension or a key comes from the facts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows, duckdb_table

RULE = "aggregate_before_joins"


def _ints(rng: np.random.Generator, rows: int, high: int, null_share: float) -> pa.Array:
    return pa.array(rng.integers(0, high, rows), pa.int64(), mask=rng.random(rows) < null_share)


def _tables(
    rng: np.random.Generator, unique: bool, null_share: float
) -> tuple[sl.Stream, sl.Stream, sl.Stream]:
    """Facts (``fk``, ``ok``, values ``x``, ``d``), orders (``ok`` -> ``ck``) and a dimension
    (``id`` -> ``name``, ``grp``): ``id`` unique or repeated."""
    rows = int(rng.integers(150, 300))
    facts = pa.table(
        {
            "fk": _ints(rng, rows, 8, null_share),
            "ok": _ints(rng, rows, 12, null_share),
            "x": _ints(rng, rows, 100, null_share),
            "d": pa.array(rng.integers(-999, 999, rows) / 100, mask=rng.random(rows) < null_share)
            .cast(pa.float64())
            .cast(pa.decimal128(9, 2)),
        }
    )
    ids = np.arange(10) if unique else rng.integers(0, 8, 10)
    names = np.array(["a", "b", "c"])[rng.integers(0, 3, 10)]
    dims = pa.table(
        {
            "id": pa.array(ids, pa.int64(), mask=rng.random(10) < null_share),
            "name": pa.array(names, mask=rng.random(10) < null_share),
            "grp": _ints(rng, 10, 3, null_share),
        }
    )
    orders = pa.table({"o_key": np.arange(12), "ck": _ints(rng, 12, 8, null_share)})
    return sl.from_arrow(facts), sl.from_arrow(orders), sl.from_arrow(dims)


AGGREGATES = [
    col("x").sum().alias("total"),
    col("d").sum().alias("money"),
    col("x").min().alias("low"),
    col("d").max().alias("high"),
    col("x").count().alias("n"),
    sl.count().alias("rows"),
]


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    unique=st.booleans(),
    shape=st.sampled_from(["direct", "with_key", "computed", "reassociated"]),
    null_share=st.sampled_from([0.0, 0.2]),
)
def test_split_group_bys_give_the_rows_as_written(
    seed: int, unique: bool, shape: str, null_share: float
) -> None:
    facts, orders, dims = _tables(np.random.default_rng(seed), unique, null_share)
    if shape == "reassociated":
        joined = facts.join(
            orders.join(dims, left_on="ck", right_on="id"), left_on="ok", right_on="o_key"
        )
        stream = joined.group_by("name", "ck").agg(*AGGREGATES)
    else:
        joined = facts.join(dims, left_on="fk", right_on="id")
        keys = {"direct": ["name", "grp"], "with_key": ["fk", "name"], "computed": ["key"]}[shape]
        if shape == "computed":  # the key renamed, the values computed above the join
            joined = joined.select(col("fk").alias("key"), col("x") * 2 - 1, d=col("d") + 1)
        stream = joined.group_by(*keys).agg(*AGGREGATES)
    fired = RULE in stream.optimize().trace.render()
    assert fired  # a few hundred facts on at most a dozen keys
    optimized, written = stream.collect(), stream.collect(optimize=False)
    assert optimized.schema == written.schema
    assert_same_rows(optimized, written)


def test_group_bys_reading_the_dimension_or_other_fact_columns_stay_whole() -> None:
    facts, _, dims = _tables(np.random.default_rng(7), True, 0.2)
    joined = facts.join(dims, left_on="fk", right_on="id")
    for stream in (
        joined.group_by("name").agg(col("grp").sum()),  # reads the dimension
        joined.group_by("name", "ok").agg(col("x").sum()),  # a fact column other than the key
        joined.group_by("name").agg(col("x").mean()),  # no partial of a mean here
    ):
        assert RULE not in stream.optimize().trace.render()
        assert_same_rows(stream.collect(), stream.collect(optimize=False))


def test_a_group_by_of_far_fewer_groups_than_join_keys_groups_the_joined_rows() -> None:
    """The fintech query's shape: 11 sectors over 5,000 securities; pre-grouping every quote
    by its security first would cost more than the join and group-by it saves."""
    rng = np.random.default_rng(5)
    quotes = pa.table({"sid": rng.integers(0, 5_000, 40_000), "x": rng.integers(0, 99, 40_000)})
    ids = np.arange(5_000)
    securities = pa.table({"id": ids, "sector": pa.array([f"s{i % 11}" for i in ids])})
    stream = (
        sl.from_arrow(quotes)
        .join(sl.from_arrow(securities), left_on="sid", right_on="id")
        .group_by("sector")
        .agg(*AGGREGATES[:1], *AGGREGATES[-2:])
    )
    assert RULE not in stream.optimize().trace.render()
    expected = duckdb_table(
        "SELECT sector, sum(x) AS total, count(x) AS n, count(*) AS rows "
        "FROM q JOIN s ON sid = id GROUP BY sector",
        q=quotes,
        s=securities,
    )
    assert_same_rows(stream.collect(), expected)


def test_a_split_group_by_runs_as_wide_as_it_was_asked_to() -> None:
    facts, _, dims = _tables(np.random.default_rng(3), True, 0.2)
    stream = (
        facts.join(dims, left_on="fk", right_on="id")
        .group_by("name", "grp")
        .agg(*AGGREGATES)
        .with_parallelism(6)
    )
    optimized = stream.optimize()
    assert RULE in optimized.trace.render()
    added = [n for n in optimized.graph.nodes.values() if RULE in n.operator_id]
    assert added and {n.parallelism for n in added} == {6}
    assert_same_rows(stream.collect(), stream.collect(optimize=False))
