"""Bad input raises the named error, at plan-build time where possible, with a helpful message;
empty inputs and nulls follow SQL semantics."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from tests.support.reference import assert_same_rows, duckdb_table

QUOTES = sl.from_pydict({"price": [1.0, 2.0], "name": ["a", "b"], "size": [3, 4]})


@pytest.mark.parametrize(
    "build",
    [
        lambda s: s.filter(col("prise") > 1),
        lambda s: s.select("prise"),
        lambda s: s.with_columns(x=col("prise") * 2),
        lambda s: s.group_by("prise").agg(sl.count()),
        lambda s: s.agg(col("prise").sum()),
        lambda s: s.sort("prise"),
        lambda s: s.rename({"prise": "p"}),
        lambda s: s.join(QUOTES, on="prise"),
        lambda s: s.join(QUOTES, left_on="price", right_on="prise"),
    ],
    ids=[
        "filter",
        "select",
        "with_columns",
        "group_by",
        "agg",
        "sort",
        "rename",
        "join",
        "join_right",
    ],
)
def test_unknown_column_is_named_with_suggestion_and_choices_when_built(
    build: Callable[[sl.Stream], sl.Stream],
) -> None:
    with pytest.raises(sl.SchemaError) as err:
        build(QUOTES)  # raised while building: collect() is never reached
    message = str(err.value)
    assert "'prise' not found" in message
    assert "Did you mean 'price'?" in message
    assert "Available columns: price, name, size" in message


@pytest.mark.parametrize(
    ("build", "error", "pattern"),
    [
        (
            lambda s: s.select(col("name") > 3),
            sl.SchemaError,
            r"'>' does not accept \(string, int64\)",
        ),
        (lambda s: s.select(col("name") + col("size")), sl.SchemaError, r"'\+' does not accept"),
        (lambda s: s.select(col("price").dt.year()), sl.SchemaError, "takes a date or timestamp"),
        (lambda s: s.select(col("size").str.lower()), sl.SchemaError, "cannot evaluate"),
        (lambda s: s.select(col("price") // 2), sl.SchemaError, "integer"),
        (lambda s: s.filter(col("price") + 1), sl.SchemaError, "has type double, expected bool"),
        (lambda s: s.filter(col("price").sum() > 1), sl.SchemaError, "aggregate"),
        (lambda s: s.select(col("price").sum()), sl.SchemaError, "aggregate"),
        (lambda s: s.agg(col("price")), sl.SchemaError, "is not an aggregate"),
        (lambda s: s.select(col("price").cast("nonsense")), sl.SchemaError, "unknown data type"),
        (lambda s: s.select(col("name").str.contains(3)), TypeError, "takes a string"),
        (lambda s: s.select("price", col("size").alias("price")), sl.SchemaError, "'price' twice"),
        (lambda s: s.rename({"price": "name"}), sl.SchemaError, "'name' twice"),
        (
            lambda s: s.join(QUOTES, on="price", how="outer"),
            sl.PlanError,
            "unknown join kind 'outer'",
        ),
        (lambda s: s.join(QUOTES), sl.PlanError, "needs on= or both"),
        (lambda s: s.join(QUOTES, on="price", left_on="price"), sl.PlanError, "either on="),
        (
            lambda s: s.join(QUOTES, left_on=["price", "size"], right_on="price"),
            sl.PlanError,
            "must pair up",
        ),
        (
            lambda s: s.join(QUOTES, left_on="price", right_on="name"),
            sl.SchemaError,
            "left 'price' is double, right 'name' is string",
        ),
        (lambda s: s.union(sl.from_pydict({"a": [1]})), sl.SchemaError, "missing"),
        (
            lambda s: s.union(s.with_columns(price=col("name"))),
            sl.SchemaError,
            "incompatible column types",
        ),
        (lambda s: s.limit(-1), sl.PlanError, "non-negative"),
        (lambda s: s.sort([]), sl.PlanError, "at least one key"),
        (lambda s: s.sort(["price", "size"], descending=[True]), sl.PlanError, "descending flags"),
        (lambda s: s.filter(), sl.PlanError, "at least one predicate"),
        (
            lambda s: (col("price") > 1) and (col("size") > 1),
            TypeError,
            "combine conditions with &",
        ),
    ],
)
def test_plan_errors_are_clear(
    build: Callable[[sl.Stream], object], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        build(QUOTES)


def test_compute_errors_name_the_operator_and_expression() -> None:
    s = sl.from_pydict({"x": [1, 2**62], "t": ["1", "abc"], "z": [0, 0]})
    stream = s.select(col("x") * 4)  # builds fine: the overflow depends on the data
    with pytest.raises(
        sl.ComputeError, match=r"in select \(select_\d+\).*col\(\"x\"\) \* 4.*overflow"
    ):
        stream.collect()
    with pytest.raises(
        sl.ComputeError,
        match=r"in select \(select_\d+\).*cannot cast col\(\"t\"\) value 'abc' to int64.*strict=False",
    ):
        s.select(col("t").cast("int64")).collect()
    with pytest.raises(sl.ComputeError, match="divide by zero"):
        s.select(col("x") % col("z")).collect()


def failing_udf(batch: pa.RecordBatch) -> pa.RecordBatch:
    if batch.num_rows:
        raise ValueError("price feed is corrupt")
    return batch


def test_failing_udf_surfaces_its_own_traceback_wrapped_with_the_operator_name() -> None:
    with pytest.raises(sl.UDFError) as err:
        QUOTES.map_batches(failing_udf).collect()
    message = str(err.value)
    assert re.search(r"user function in map_batches \(map_\d+\) raised ValueError", message)
    assert "price feed is corrupt" in message
    assert "in failing_udf" in message  # the user's frame is in the traceback text
    assert isinstance(err.value.__cause__, ValueError)

    with pytest.raises(sl.UDFError, match=r"flat_map \(flat_map_\d+\) raised ZeroDivisionError"):
        QUOTES.flat_map(lambda row: [{"a": 1 // 0}], schema={"a": "int64"}).collect()

    with pytest.raises(sl.UDFError, match=r"cannot learn the output schema.*pass schema="):
        QUOTES.map_batches(lambda b: 1 / 0)


def test_source_errors() -> None:
    with pytest.raises(sl.SourceError, match=r"'/no/such/quotes\.parquet' does not exist"):
        sl.from_parquet("/no/such/quotes.parquet")
    with pytest.raises(sl.SourceError, match="does not exist"):
        sl.from_csv("/no/such/quotes.csv")
    once = sl.from_iterable({"x": i} for i in range(3))
    assert once.collect().num_rows == 3
    with pytest.raises(sl.SourceError, match="already consumed"):
        once.collect()
    again = sl.from_iterable(lambda: ({"x": i} for i in range(3)))
    assert again.collect().num_rows == again.collect().num_rows == 3


def test_corrupt_parquet_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(sl.SourceError, match=r"broken\.parquet"):
        sl.from_parquet(path).collect()


EMPTY = pa.table({"k": pa.array([], pa.int64()), "v": pa.array([], pa.float64())})
SOME = pa.table({"k": [1, None, 2, None], "v": [1.0, 2.0, None, 4.0]})


@pytest.mark.parametrize(
    ("build", "sql"),
    [
        (lambda e, s: e.filter(col("v") > 0), "SELECT * FROM e WHERE v > 0"),
        (
            lambda e, s: e.agg(col("v").sum(), n=sl.count()),
            "SELECT sum(v) AS v, count(*) AS n FROM e",
        ),
        (
            lambda e, s: e.group_by("k").agg(col("v").sum()),
            "SELECT k, sum(v) AS v FROM e GROUP BY k",
        ),
        (lambda e, s: s.join(e, on="k"), "SELECT s.k, s.v, e.v AS v_right FROM s JOIN e USING (k)"),
        (
            lambda e, s: s.join(e, on="k", how="left"),
            "SELECT s.k, s.v, e.v AS v_right FROM s LEFT JOIN e ON s.k = e.k",
        ),
        (lambda e, s: s.join(e, on="k", how="anti"), "SELECT * FROM s ANTI JOIN e ON s.k = e.k"),
        (
            lambda e, s: e.join(s, on="k", how="left"),
            "SELECT e.k, e.v, s.v AS v_right FROM e LEFT JOIN s ON e.k = s.k",
        ),
        (lambda e, s: e.union(s).sort("k"), "SELECT * FROM e UNION ALL SELECT * FROM s"),
        (lambda e, s: e.sort("v").limit(3), "SELECT * FROM e LIMIT 3"),
        (lambda e, s: e.distinct(), "SELECT DISTINCT * FROM e"),
        # null keys: never equal in joins, one group in group_by / distinct
        (
            lambda e, s: s.join(s, on="k"),
            "SELECT a.k, a.v, b.v AS v_right FROM s a JOIN s b ON a.k = b.k",
        ),
        (
            lambda e, s: s.group_by("k").agg(n=sl.count()),
            "SELECT k, count(*) AS n FROM s GROUP BY k",
        ),
        (lambda e, s: s.select("k").distinct(), "SELECT DISTINCT k FROM s"),
    ],
)
def test_empty_inputs_and_null_keys_follow_sql(
    build: Callable[[sl.Stream, sl.Stream], sl.Stream], sql: str
) -> None:
    result = build(sl.from_arrow(EMPTY), sl.from_arrow(SOME)).collect()
    assert_same_rows(result, duckdb_table(sql, e=EMPTY, s=SOME))
