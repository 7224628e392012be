"""Projections and aggregates that compute repeated subexpressions and shared aggregate inputs
once give exactly what evaluating every expression on its own gives (random expressions with
repeats over integers, decimals and floats with nulls); grouped sums, means and counts of one
input match pyarrow's own group-by."""

from __future__ import annotations

import decimal
import operator
from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sabot_lab.engine.aggregate import HashAggregate
from sabot_lab.engine.evaluate import evaluate
from sabot_lab.engine.shared_subexpressions import SharedProjection
from sabot_lab.engine.stateless import project_batch
from sabot_lab.expr import Expr, col, lit

SCHEMA = pa.schema(
    [("k", pa.int64()), ("a", pa.int64()), ("d", pa.decimal128(9, 2)), ("f", pa.float64())]
)
OPERATORS = [operator.add, operator.sub, operator.mul]


@st.composite
def batches(draw: st.DrawFn) -> pa.RecordBatch:
    """Up to 30 rows of ``SCHEMA``, about one value in five null."""
    n = draw(st.integers(1, 30))

    def values(strategy: Any) -> list[Any]:
        return draw(st.lists(st.none() | strategy, min_size=n, max_size=n))

    cents = st.integers(-99999, 99999).map(lambda c: decimal.Decimal(c).scaleb(-2))
    return pa.record_batch(
        {
            "k": pa.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), pa.int64()),
            "a": pa.array(values(st.integers(-50, 50)), pa.int64()),
            "d": pa.array(values(cents), SCHEMA.field("d").type),
            "f": pa.array(values(st.floats(-100, 100).map(lambda x: round(x, 2))), pa.float64()),
        },
        schema=SCHEMA,
    )


@st.composite
def repeating_expressions(draw: st.DrawFn) -> list[Expr]:
    """Up to five expressions built from a few shared parts (so parts repeat)."""
    leaves = st.sampled_from([col("a"), col("d"), col("f"), lit(1), lit(2)])
    parts: list[Expr] = []
    for _ in range(draw(st.integers(1, 3))):
        pool = st.sampled_from(parts) | leaves if parts else leaves
        parts.append(draw(st.sampled_from(OPERATORS))(draw(pool), draw(pool)))
    pieces = st.sampled_from(parts) | leaves
    outputs = [
        draw(st.sampled_from(OPERATORS))(draw(pieces), draw(pieces))
        for _ in range(draw(st.integers(1, 5)))
    ]
    return [e.alias(f"out{i}") for i, e in enumerate(outputs)]


def _outcome(fn: Any, *args: Any) -> Any:
    """The rows ``fn(*args)`` gives, or the class of the error it raises."""
    try:
        return fn(*args).to_pylist()
    except Exception as exc:  # an overflow must be one in both evaluations
        return type(exc)


@settings(max_examples=100, deadline=None)
@given(repeating_expressions(), batches())
def test_projections_sharing_subexpressions_match_evaluating_each(
    exprs: list[Expr], batch: pa.RecordBatch
) -> None:
    projection = SharedProjection(exprs, SCHEMA)
    each = _outcome(project_batch, batch, exprs, projection.output_schema)
    assert _outcome(projection, batch) == each


@settings(max_examples=40, deadline=None)
@given(batches())
def test_sums_means_and_counts_of_one_input_match_pyarrow(batch: pa.RecordBatch) -> None:
    x = col("d") * (lit(1) - col("d"))
    aggs = [
        col("d").sum().alias("s"),
        col("d").mean().alias("m"),
        col("d").count().alias("n"),
        x.sum().alias("xs"),
        (x * (lit(1) + col("a"))).sum().alias("ys"),
        x.mean().alias("xm"),
    ]
    agg = HashAggregate(["k"], aggs, SCHEMA)
    halves = [batch.slice(0, batch.num_rows // 2), batch.slice(batch.num_rows // 2)]
    got = agg.finish([agg.partial(b) for b in halves if b.num_rows]).sort_by("k")
    table = pa.Table.from_batches([batch])
    y = x * (lit(1) + col("a"))
    table = table.append_column("x", evaluate(x, batch)).append_column("y", evaluate(y, batch))
    expected = (
        table.group_by("k")
        .aggregate([("d", "sum"), ("d", "count"), ("x", "sum"), ("x", "count"), ("y", "sum")])
        .sort_by("k")
    )
    assert got["k"].to_pylist() == expected["k"].to_pylist()
    for name, reference in [("s", "d_sum"), ("n", "d_count"), ("xs", "x_sum"), ("ys", "y_sum")]:
        assert got[name].to_pylist() == expected[reference].to_pylist(), name
    for name, column in [("m", "d"), ("xm", "x")]:
        sums, counts = (
            expected[f"{column}_sum"].to_pylist(),
            expected[f"{column}_count"].to_pylist(),
        )
        means = [
            None if n == 0 else float(total) / n for total, n in zip(sums, counts, strict=True)
        ]
        for value, want in zip(got[name].to_pylist(), means, strict=True):
            assert (value is None) == (want is None), name
            if value is not None and want is not None:
                assert abs(value - want) <= 1e-9 * max(1.0, abs(want)), name
