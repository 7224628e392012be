"""Predicate algebra shared by the rules: conjunctions, column substitution, literal bounds, and
translation of a safe subset of predicates to ``pyarrow.dataset`` filters.

>>> from sabot_lab import col
>>> [repr(c) for c in split_conjunction((col("a") > 1) & (col("b") == "x") & col("c"))]
['(col("a") > 1)', '(col("b") == "x")', 'col("c")']
>>> conjoin([col("a") > 1, col("b").is_null()])
((col("a") > 1) & col("b").is_null())
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.expr import Expr, lit
from sabot_lab.expr.decimals import decimal_literal
from sabot_lab.expr.literals import decode_value, literal_scalar
from sabot_lab.expr.nodes import Alias, Column, Literal, UserFunction

__all__ = [
    "COMPARISONS",
    "conjoin",
    "is_deterministic",
    "is_literal",
    "literal_value",
    "split_conjunction",
    "substitute",
    "to_arrow_filter",
    "unaliased",
    "with_decimal_constants",
]

COMPARISONS = {"eq": "ne", "ne": "eq", "lt": "ge", "le": "gt", "gt": "le", "ge": "lt"}
MIRRORED = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}


def split_conjunction(predicate: Expr) -> list[Expr]:
    """The conjuncts of ``a & b & c`` (a predicate that is no conjunction is its own)."""
    if predicate.op == "and":
        return [c for arg in predicate.args for c in split_conjunction(arg)]
    return [predicate]


def conjoin(conjuncts: Sequence[Expr]) -> Expr:
    """``c1 & c2 & ...`` (``lit(True)`` for none)."""
    if not conjuncts:
        return lit(True)
    out = conjuncts[0]
    for c in conjuncts[1:]:
        out = out & c
    return out


def unaliased(expr: Expr) -> Expr:
    """The expression under any aliases.

    >>> from sabot_lab import col
    >>> unaliased((col("p") * 2).alias("n").alias("m"))
    (col("p") * 2)
    """
    while isinstance(expr, Alias):
        expr = expr.args[0]
    return expr


def substitute(expr: Expr, mapping: Mapping[str, Expr]) -> Expr:
    """Replace column references by expressions (aliases of the replacements are dropped).

    >>> from sabot_lab import col
    >>> substitute(col("n") > 3, {"n": (col("p") * 2).alias("n")})
    ((col("p") * 2) > 3)
    """
    if isinstance(expr, Column):
        replacement = mapping.get(expr.param("name"))
        return expr if replacement is None else unaliased(replacement)
    if not expr.args:
        return expr
    args = [substitute(a, mapping) for a in expr.args]
    if all(new is old for new, old in zip(args, expr.args, strict=True)):
        return expr  # nothing replaced: the same object
    return expr.with_args(args)


def is_deterministic(expr: Expr) -> bool:
    """False if ``expr`` calls a user function declared ``deterministic=False``: the optimizer
    then never duplicates, folds, merges or moves it.

    >>> import sabot_lab as sl
    >>> noisy = sl.udf(lambda x: x, return_dtype="float64", deterministic=False)
    >>> is_deterministic(sl.col("a") + 1), is_deterministic(noisy(sl.col("a")) > 1)
    (True, False)
    """
    return not any(
        isinstance(node, UserFunction) and node.param("deterministic") is False
        for node in expr.walk()
    )


def is_literal(expr: Expr) -> bool:
    """True for a constant."""
    return isinstance(expr, Literal)


def literal_value(expr: Expr) -> Any:
    """The Python value of a constant.

    >>> literal_value(lit(3)), literal_value(lit(None))
    (3, None)
    """
    value = expr.param("value")
    plain = value is None or type(value) in (bool, float, str)
    plain = plain or (type(value) is int and -(1 << 63) <= value < 1 << 63)
    if plain and expr.param("dtype") is None:
        return value  # a plain Python constant: no Arrow round trip
    return literal_scalar(expr.param("value"), expr.param("dtype")).as_py()


_ARROW_COMPARE = {name: getattr(operator, name) for name in ("eq", "ne", "lt", "le", "gt", "ge")}


def _decimal_column(expr: Expr, schema: pa.Schema) -> pa.DataType | None:
    """The type of ``expr`` if it is a decimal column of ``schema``."""
    if isinstance(expr, Column) and expr.param("name") in schema.names:
        dtype = schema.field(expr.param("name")).type
        return dtype if pa.types.is_decimal(dtype) else None
    return None


def _exact_decimal(value: Any) -> Any:
    """A number constant as the decimal its text shows (others as they are)."""
    if isinstance(value, float):
        return decimal_literal(value).as_py()
    if isinstance(value, int) and not isinstance(value, bool):
        return decimal.Decimal(value)
    return value


def with_decimal_constants(predicate: Expr, schema: pa.Schema) -> Expr:
    """``predicate`` with each number constant compared with (or listed in an ``IN`` for) a
    decimal column written as the decimal its text shows, as the engine reads it: a filter
    rendered for DuckDB or Arrow then compares exactly, not as doubles.

    >>> from sabot_lab import col
    >>> print(with_decimal_constants(col("p") > 0.05, pa.schema([("p", pa.decimal128(15, 2))])).to_sql())
    ("p" > CAST('0.05' AS DECIMAL(3,2)))
    """
    if predicate.op in _ARROW_COMPARE:
        args = list(predicate.args)
        for i in (0, 1):
            other = args[1 - i]
            if (
                isinstance(other, Literal)
                and other.param("dtype") is None
                and _decimal_column(args[i], schema) is not None
            ):
                args[1 - i] = lit(_exact_decimal(literal_value(other)))
        return predicate.with_args(args)
    if predicate.op == "is_in" and _decimal_column(predicate.args[0], schema) is not None:
        values = [_exact_decimal(decode_value(v)) for v in predicate.param("values")]
        return predicate.args[0].is_in(values)
    if predicate.op in ("and", "or", "not"):
        return predicate.with_args([with_decimal_constants(a, schema) for a in predicate.args])
    return predicate


def to_arrow_filter(predicate: Expr, schema: pa.Schema) -> pc.Expression | None:
    """The same filter as a ``pyarrow.dataset`` expression, or None if it cannot be translated
    exactly (only comparisons of columns and constants, null tests, IN lists and ``& |``, with
    ``~`` over comparisons and null tests, whose null semantics match SQL's in a WHERE clause).

    >>> from sabot_lab import col
    >>> schema = pa.schema([("a", pa.int64()), ("s", pa.string())])
    >>> to_arrow_filter((col("a") > 1) & col("s").is_in(["x"]), schema)
    <pyarrow.compute.Expression ((a > 1) and is_in(s, {value_set=string:[
      "x"
    ], null_matching_behavior=MATCH}))>
    >>> to_arrow_filter(col("a") + 1 > 2, schema) is None
    True

    A timestamp at midnight compared with a date column is that date (``DATE '1998-12-01' -
    INTERVAL '90' DAY`` is a timestamp, as in DuckDB), so the scan compares dates:

    >>> import datetime as dt
    >>> to_arrow_filter(col("d") <= dt.datetime(1998, 9, 2), pa.schema([("d", pa.date32())]))
    <pyarrow.compute.Expression (d <= 1998-09-02)>

    Constants next to decimal columns are typed as the column (as exact decimals); one the
    column's type cannot hold exactly leaves the filter to the engine:

    >>> money = pa.schema([("p", pa.decimal128(15, 2))])
    >>> to_arrow_filter(col("p") > 0.05, money)
    <pyarrow.compute.Expression (p > 0.05)>
    >>> to_arrow_filter(col("p") > 0.055, money) is None
    True
    """
    return _translate(with_decimal_constants(predicate, schema), schema, negated=False)


def _mixed_decimal_columns(comparison: Expr, schema: pa.Schema) -> bool:
    """True for two columns of different types, one of them a decimal."""
    left, right = (_decimal_column(a, schema) for a in comparison.args)
    if (left is None and right is None) or not all(isinstance(a, Column) for a in comparison.args):
        return False
    return len({schema.field(a.param("name")).type for a in comparison.args}) > 1


def _decimal_partner(comparison: Expr, operand: Expr, schema: pa.Schema) -> pa.DataType | None:
    """The decimal type of the column ``operand`` is compared with, if any."""
    left, right = comparison.args
    return _decimal_column(right if operand is left else left, schema)


def _date_partner(comparison: Expr, operand: Expr, schema: pa.Schema) -> bool:
    """True if ``operand`` is compared with a date column."""
    left, right = comparison.args
    other = right if operand is left else left
    return (
        isinstance(other, Column)
        and other.param("name") in schema.names
        and pa.types.is_date(schema.field(other.param("name")).type)
    )


def _operand(
    expr: Expr,
    schema: pa.Schema,
    decimal_type: pa.DataType | None = None,
    beside_date: bool = False,
) -> pc.Expression | None:
    """A column or a constant (typed as ``decimal_type`` if given, exactly or not at all; a
    timestamp at midnight compared with a date column as a date)."""
    if isinstance(expr, Column) and expr.param("name") in schema.names:
        return pc.field(expr.param("name"))
    if isinstance(expr, Literal) and literal_value(expr) is not None:
        scalar = literal_scalar(expr.param("value"), expr.param("dtype"))
        if decimal_type is not None:
            try:
                scalar = scalar.cast(decimal_type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                return None
        return pc.scalar(_as_date(scalar) if beside_date else scalar)
    return None


def _as_date(scalar: pa.Scalar) -> pa.Scalar:
    """A timestamp constant at midnight (without a zone) as the date it is, which compares
    with a date column the same way and lets the scan use the column's statistics as they
    are (``DATE '1998-12-01' - INTERVAL '90' DAY`` is such a timestamp)."""
    if pa.types.is_timestamp(scalar.type) and scalar.type.tz is None and scalar.is_valid:
        date = scalar.cast(pa.date32())
        if date.cast(scalar.type) == scalar:
            return date
    return scalar


def _translate(expr: Expr, schema: pa.Schema, negated: bool) -> pc.Expression | None:
    op = expr.op
    if op in ("and", "or") and not negated:
        left, right = (_translate(a, schema, negated) for a in expr.args)
        if left is None or right is None:
            return None
        return (left & right) if op == "and" else (left | right)
    if op == "not":
        inner = _translate(expr.args[0], schema, negated=True)
        return None if inner is None else ~inner
    if op in _ARROW_COMPARE:
        if all(isinstance(x, Literal) for x in expr.args):
            return None
        if _mixed_decimal_columns(expr, schema):
            return None  # Arrow's scan may refuse their common type: the engine compares them
        a, b = (
            _operand(x, schema, _decimal_partner(expr, x, schema), _date_partner(expr, x, schema))
            for x in expr.args
        )
        if a is None or b is None:
            return None
        return _ARROW_COMPARE[op](a, b)
    if op in ("is_null", "is_not_null") and isinstance(expr.args[0], Column):
        field = _operand(expr.args[0], schema)
        if field is None:
            return None
        return field.is_null() if op == "is_null" else field.is_valid()
    if op == "is_in" and not negated and isinstance(expr.args[0], Column):
        field = _operand(expr.args[0], schema)
        values = [decode_value(v) for v in expr.param("values")]
        if field is None or any(v is None for v in values) or not values:
            return None
        dtype = schema.field(expr.args[0].param("name")).type
        try:
            return field.isin(pa.array(values).cast(dtype))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            return None
    return None
