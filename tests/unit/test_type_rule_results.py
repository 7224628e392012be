"""The type rules' kept results: expressions that differ only in a constant (its Python type,
its decimal places, its value) or in an operand's type each get the type the engine computes,
whichever was typed first; a refused expression is refused again."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col, lit
from sabot_lab.engine.evaluate import evaluate
from sabot_lab.errors import SchemaError
from sabot_lab.expr.types import output_type

BATCH = pa.record_batch(
    {
        "i": pa.array([1, 2], pa.int64()),
        "n": pa.array([1, 2], pa.int32()),
        "d": pa.array([Decimal("1.25"), Decimal("2.50")], pa.decimal128(15, 2)),
        "s": ["a", "b"],
    }
)

# neighbours: each pair has the same operation and differs in a constant or an operand type
EXPRESSIONS = [
    col("i") + 1,
    col("i") + 1.0,
    col("n") + 1,
    col("d") * lit(Decimal("0.0001")),
    col("d") * lit(Decimal("0.1")),
    col("d") > lit(Decimal("1.5")),
    col("d") > 1.5,
    col("i").cast("int8"),
    col("i").cast("float32"),
    col("n").is_in([1, 2]),
    col("n").sum(),
    col("d").sum(),
    lit(1),
    lit(1.0),
    lit(True),
]


@pytest.mark.parametrize("order", [1, -1], ids=["forward", "backward"])
def test_each_expression_gets_the_type_the_engine_computes(order: int) -> None:
    for expr in EXPRESSIONS[::order]:
        typed = output_type(expr, BATCH.schema)
        if expr.is_aggregate():
            computed = sl.from_arrow(pa.Table.from_batches([BATCH])).agg(expr.alias("v"))
            assert computed.collect().schema.field("v").type == typed, expr
        else:
            assert evaluate(expr, BATCH).type == typed, expr


def test_a_refused_expression_is_refused_every_time() -> None:
    assert output_type(col("i") + 1, BATCH.schema) == pa.int64()
    assert output_type(col("s") > "3", BATCH.schema) == pa.bool_()
    for _ in range(2):  # 1 and True are equal keys of a dict, not equal constants here
        with pytest.raises(SchemaError, match="does not accept"):
            output_type(col("i") + True, BATCH.schema)
        with pytest.raises(SchemaError, match="does not accept"):
            output_type(col("s") > 3, BATCH.schema)
