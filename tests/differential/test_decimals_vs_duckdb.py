"""Random decimal expressions against DuckDB: the same result type and exactly the same values
(or an error on both sides, for a value too large for the result type).

Tables hold decimals of random precision and scale (negative values and nulls), integers and
floats; expressions mix them with ``+ - *``, integer and decimal-looking float constants,
comparisons with constants, casts to decimals and ``round``."""

from __future__ import annotations

import decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col, lit, max_horizontal, when
from tests.support.reference import duckdb_table

ROWS = 6


@st.composite
def decimal_types(draw: st.DrawFn) -> pa.DataType:
    precision = draw(st.sampled_from([1, 3, 5, 9, 12, 15, 18, 20, 28, 38]))
    scale = draw(st.integers(0, min(precision, 10)))
    return pa.decimal128(precision, scale)


def decimal_values(dtype: pa.DataType) -> st.SearchStrategy[Any]:
    whole = 10 ** min(dtype.precision, 12) - 1  # some room before the type's own limit
    units = st.integers(-whole, whole)
    return units.map(lambda n: decimal.Decimal(n).scaleb(-dtype.scale))


@st.composite
def decimal_tables(draw: st.DrawFn) -> pa.Table:
    """Decimals ``a`` and ``b`` of random types, int32 ``i``, int64 ``j``, float ``f``."""
    columns: dict[str, pa.Array] = {}
    for name in ("a", "b"):
        dtype = draw(decimal_types())
        values = draw(st.lists(st.none() | decimal_values(dtype), min_size=ROWS, max_size=ROWS))
        columns[name] = pa.array(values, dtype)
    ints = st.none() | st.integers(-1000, 1000)
    columns["i"] = pa.array(draw(st.lists(ints, min_size=ROWS, max_size=ROWS)), pa.int32())
    columns["j"] = pa.array(draw(st.lists(ints, min_size=ROWS, max_size=ROWS)), pa.int64())
    floats = st.none() | st.floats(-1e3, 1e3).map(lambda v: round(v, 3))
    columns["f"] = pa.array(draw(st.lists(floats, min_size=ROWS, max_size=ROWS)), pa.float64())
    columns["rn"] = pa.array(range(ROWS), pa.int64())
    return pa.table(columns)


CONSTANTS = st.one_of(
    st.integers(-100, 100),
    st.sampled_from([0.05, 0.06, -12.5, 1.0, 0.1, 100.25, 3.125, 0.001]),
)


def _sql_constant(value: float | int) -> str:
    return f"({value!r})"


@st.composite
def decimal_expressions(draw: st.DrawFn, depth: int = 2) -> tuple[sl.Expr, str]:
    """An expression over ``a``, ``b`` (decimals), ``i``, ``j`` (integers) and constants, and
    the same in DuckDB's SQL; every operation has a decimal column among its operands (``%``
    included: a remainder of decimals is a decimal, exact, with the dividend's sign)."""
    if depth == 0 or draw(st.booleans()):
        name = draw(st.sampled_from(["a", "b", "a", "b", "i", "j"]))
        return col(name), name
    left, left_sql = draw(decimal_expressions(depth - 1))
    op = draw(st.sampled_from(["+", "-", "*", "%"]))
    if draw(st.booleans()):
        value = draw(CONSTANTS)
        right, right_sql = lit(value), _sql_constant(value)
    else:
        right, right_sql = draw(decimal_expressions(depth - 1))
    if not {"a", "b"} & {*left.columns(), *right.columns()}:
        left, left_sql = col("a"), "a"  # integers alone follow integer rules, not these
    if draw(st.booleans()):
        left, right, left_sql, right_sql = right, left, right_sql, left_sql
    python = {
        "+": lambda x, y: x + y,
        "-": lambda x, y: x - y,
        "*": lambda x, y: x * y,
        "%": lambda x, y: x % y,
    }[op]
    return python(left, right), f"({left_sql} {op} {right_sql})"


def _run_both(expr: sl.Expr, sql: str, table: pa.Table) -> tuple[Any, Any]:
    """(sabot-lab's result or its error, DuckDB's result or its error) as (type, values)."""
    try:
        duck = duckdb_table(f"SELECT {sql} AS out FROM t ORDER BY rn", t=table)
        expected: Any = (duck.schema.field("out").type, duck["out"].to_pylist())
    except duckdb.Error:
        expected = "error"
    try:
        ours = sl.from_arrow(table).select("rn", expr.alias("out")).sort("rn").collect()
        actual: Any = (ours.schema.field("out").type, ours["out"].to_pylist())
    except sl.ComputeError:
        actual = "error"
    return actual, expected


def _has_decimal(expr: sl.Expr, table: pa.Table) -> bool:
    return any(pa.types.is_decimal(table.schema.field(c).type) for c in expr.columns())


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(table=decimal_tables(), data=st.data())
def test_decimal_arithmetic_matches_duckdb(table: pa.Table, data: st.DataObject) -> None:
    expr, sql = data.draw(decimal_expressions())
    if not _has_decimal(expr, table):
        return
    actual, expected = _run_both(expr, sql, table)
    assert actual == expected, f"{expr!r} / {sql}"


@pytest.mark.parametrize("divisor", ["b * j", "CAST(b AS DECIMAL(36, 0))"])
def test_a_remainder_wider_than_a_decimal_holds_is_a_double_as_in_duckdb(divisor: str) -> None:
    D = decimal.Decimal
    # (a + a) is DECIMAL(4, 2) and b * j DECIMAL(37, 0): their common type would need 39
    # digits, so DuckDB takes the remainder of doubles; with 36 whole digits it fits in 38
    table = pa.table(
        {
            "a": pa.array([D("1.23"), D("-4.50"), None, D("9.99")], pa.decimal128(3, 2)),
            "b": pa.array([D(5), D(2), D(1), None], pa.decimal128(18, 0)),
            "j": pa.array([1, 3, 1, 1], pa.int64()),
            "rn": pa.array(range(4), pa.int64()),
        }
    )
    right = col("b") * col("j") if "j" in divisor else col("b").cast(pa.decimal128(36, 0))
    actual, expected = _run_both((col("a") + col("a")) % right, f"(a + a) % ({divisor})", table)
    assert actual == expected


@SETTINGS
@given(table=decimal_tables(), data=st.data())
def test_comparison_with_a_constant_is_exact(table: pa.Table, data: st.DataObject) -> None:
    expr, sql = data.draw(decimal_expressions(depth=1))
    value = data.draw(CONSTANTS | st.sampled_from([0.055, 1.005, -0.3]))
    op = data.draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    compared = {
        "<": expr < value,
        "<=": expr <= value,
        ">": expr > value,
        ">=": expr >= value,
        "==": expr == value,
        "!=": expr != value,
    }[op]
    duck_op = "=" if op == "==" else op
    actual, expected = _run_both(compared, f"{sql} {duck_op} {_sql_constant(value)}", table)
    assert actual == expected, f"{compared!r}"


@SETTINGS
@given(table=decimal_tables(), target=decimal_types(), data=st.data())
def test_cast_to_decimal_rounds_as_duckdb(
    table: pa.Table, target: pa.DataType, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(["a", "b", "i", "f"]))
    p, s = target.precision, target.scale
    actual, expected = _run_both(col(name).cast(target), f"CAST({name} AS DECIMAL({p},{s}))", table)
    assert actual == expected
    sql_cast = sl.sql(f"SELECT rn, CAST({name} AS DECIMAL({p}, {s})) AS out FROM t", t=table)
    if expected != "error":
        result = sql_cast.sort("rn").collect()
        assert (result.schema.field("out").type, result["out"].to_pylist()) == expected


@SETTINGS
@given(table=decimal_tables(), digits=st.integers(-2, 12))
def test_round_of_decimals_matches_duckdb(table: pa.Table, digits: int) -> None:
    if digits < 0:  # DuckDB keeps the scale of a decimal rounded to tens: not this rule
        return
    actual, expected = _run_both(col("a").round(digits), f"round(a, {digits})", table)
    assert actual == expected


def test_money_types_follow_duckdb() -> None:
    money = pa.decimal128(15, 2)
    table = pa.table(
        {
            "price": pa.array([decimal.Decimal("10.25"), None], money),
            "disc": pa.array([decimal.Decimal("0.05"), decimal.Decimal("0.10")], money),
            "qty": pa.array([3, 4], pa.int64()),
            "rn": [0, 1],
        }
    )
    cases = [
        (col("price") * (1 - col("disc")), "price * (1 - disc)"),
        (col("price") * col("disc"), "price * disc"),
        (col("price") + 0.5, "price + 0.5"),
        (col("price") * col("qty"), "price * qty"),
        (col("price") / col("disc"), "price / disc"),
    ]
    for expr, sql in cases:
        actual, expected = _run_both(expr, sql, table)
        assert actual == expected, sql
    assert sl.from_arrow(table).select((col("price") * col("disc")).alias("x")).schema.field(
        "x"
    ).type == pa.decimal128(18, 4)


def test_overflow_is_an_error_naming_the_column() -> None:
    big = pa.decimal128(15, 2)
    table = pa.table({"price": pa.array([decimal.Decimal("9999999999999.99")] * 2, big)})
    stream = sl.from_arrow(table).select((col("price") * col("price")).alias("sq"))
    with pytest.raises(sl.ComputeError, match=r'col\("price"\).*decimal128\(18, 4\)'):
        stream.collect()


def test_products_of_38_digit_decimals_are_exact() -> None:
    """Wider than Arrow's own decimal kernels take: computed exactly all the same."""
    wide = pa.decimal128(38, 2)
    table = pa.table(
        {
            "a": pa.array(
                [decimal.Decimal("123456789012.25"), None, decimal.Decimal("-1.5")], wide
            ),
            "b": pa.array([decimal.Decimal("3.10"), 1, decimal.Decimal("9" * 32 + ".99")], wide),
            "rn": [0, 1, 2],
        }
    )
    for expr, sql in [(col("a") * col("b"), "a * b"), (col("a") * col("a"), "a * a")]:
        actual, expected = _run_both(expr, sql, table)
        assert actual == expected
        assert actual[0] == pa.decimal128(38, 4)


def test_small_constants_python_writes_with_an_exponent_are_decimals_too() -> None:
    fine = pa.decimal128(20, 18)
    values = [decimal.Decimal("0.000002"), decimal.Decimal("0.000001999999999999"), None]
    table = pa.table({"v": pa.array(values, fine), "rn": [0, 1, 2]})
    cases = [
        (col("v") + 2e-06, "v + 0.000002"),
        (col("v") * 1e-05, "v * 0.00001"),
        (col("v") >= 2e-06, "v >= 0.000002"),
    ]
    for expr, sql in cases:
        actual, expected = _run_both(expr, sql, table)
        assert actual == expected, sql


MIXED = pa.table(
    {
        "a": pa.array(
            [decimal.Decimal(v) for v in ("1.25", "-3.50", "99.99", "0.07")] + [None],
            pa.decimal128(4, 2),
        ),
        "b": pa.array(
            [decimal.Decimal("0.5"), None, decimal.Decimal("1"), 2, 3], pa.decimal128(5, 1)
        ),
        "i": pa.array([1, 2, None, 3, 4], pa.int32()),
        "f": [0.5, None, 99.99, 0.07, 1.0],
        "rn": range(5),
    }
)
MIXED_CASES = [
    (col("a") == col("f"), "a = f"),
    (col("a") * col("f"), "a * f"),
    (col("a") + col("f"), "a + f"),
    (col("a") / col("b"), "a / b"),
    (col("a").cast("float64"), "CAST(a AS DOUBLE)"),
    (col("a").floor(), "floor(a)"),
    (col("a").ceil(), "ceil(a)"),
    (max_horizontal(col("a"), col("f")), "greatest(a, f)"),
    (max_horizontal(col("a"), col("i")), "greatest(a, i)"),
    (when(col("i") > 1).then(col("a")).otherwise(col("b")), "CASE WHEN i > 1 THEN a ELSE b END"),
    (when(col("i") > 1).then(col("a")).otherwise(col("i")), "CASE WHEN i > 1 THEN a ELSE i END"),
    (when(col("i") > 1).then(col("a")).otherwise(col("f")), "CASE WHEN i > 1 THEN a ELSE f END"),
]


@pytest.mark.parametrize(("expr", "sql"), MIXED_CASES, ids=[c[1] for c in MIXED_CASES])
def test_decimals_with_floats_integers_and_branches_match_duckdb(expr: sl.Expr, sql: str) -> None:
    """Decimals become doubles as DuckDB converts them (99.99 stays the double 99.99), and
    branches of decimals and integers share DuckDB's decimal type."""
    actual, expected = _run_both(expr, sql, MIXED)
    assert actual == expected


SQL_CONSTANTS = [
    "a * 0.0001000000",  # the scale is the digits written, trailing zeros too (TPC-H Q11)
    "0.2 * a",
    "i * 0.5",
    "f * 0.5",
    "1.5",
    "00.50",
    ".5 + a",
    "-1.5 * i",
    "1e3 * a",  # an exponent makes a double
    "f * 1e-3",
    "i IN (1.0, 2.5)",
    "a IN (1.25, 0.5)",
    "f > 0.5",
    "a % 2",
    "a % 0.5",
    "a % b",
    "i % 1.5",
    "a % -2",
    "-0.5 * i",
    "-1e2 * a",
]


@pytest.mark.parametrize("expression", SQL_CONSTANTS)
def test_sql_number_constants_have_duckdbs_types(expression: str) -> None:
    """A number with a point is a decimal of the digits it is written with; with an exponent,
    a double."""
    query = f"SELECT {expression} AS r FROM t ORDER BY rn"
    ours = sl.sql(query, t=MIXED).collect()
    theirs = duckdb.sql(query.replace("FROM t", "FROM MIXED")).to_arrow_table()
    assert ours.schema.field("r").type == theirs.schema.field("r").type
    assert ours["r"].to_pylist() == theirs["r"].to_pylist()


def test_a_null_remainder_by_zero_is_null_and_a_number_by_zero_an_error() -> None:
    dec = pa.decimal128(1, 0)
    table = pa.table(
        {
            "a": pa.array([None, decimal.Decimal(0), decimal.Decimal(3)], dec),
            "b": pa.array([None, None, decimal.Decimal(2)], dec),
            "rn": [0, 1, 2],
        }
    )
    actual, expected = _run_both((sl.col("a") + sl.col("b")) % sl.col("a"), "(a + b) % a", table)
    assert actual == expected == (pa.decimal128(2, 0), [None, None, 2])
    assert _run_both(sl.col("b") % sl.col("a"), "b % a", table.slice(2)) != ("error", "error")
    zero = table.slice(1, 1).set_column(1, "b", pa.array([decimal.Decimal(4)], dec))
    assert _run_both(sl.col("b") % sl.col("a"), "b % a", zero) == ("error", "error")
    wide = pa.table(  # a common type of 39 digits: DuckDB's doubles, yet x % 0 an error
        {
            "a": pa.array([None, decimal.Decimal("0.0")], pa.decimal128(1, 1)),
            "b": pa.array([0, 0], pa.decimal128(38, 0)),
            "rn": [0, 1],
        }
    )
    remainder = ((sl.col("a") + sl.col("a")) % (sl.col("b") + sl.col("b")), "(a + a) % (b + b)")
    assert _run_both(*remainder, wide) == ("error", "error")
    null_by_zero = (pa.float64(), [None])
    assert _run_both(*remainder, wide.slice(0, 1)) == (null_by_zero, null_by_zero)
