"""SQL expressions (sqlglot syntax trees) as :class:`~sabot_lab.expr.Expr` trees the optimizer can
see into: arithmetic, comparisons, boolean logic, ``CASE``, ``CAST``, ``IN``, ``BETWEEN``,
``LIKE``, ``IS NULL``, ``COALESCE``, string and date functions, and the aggregates ``COUNT``
(``*``, a value, ``DISTINCT``), ``SUM``, ``AVG``, ``MIN``, ``MAX``, ``STDDEV[_SAMP|_POP]``,
``VARIANCE``, ``VAR_SAMP``, ``VAR_POP``, ``MEDIAN``, ``QUANTILE_CONT``, ``QUANTILE_DISC`` and
``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x)``; a name SQL does not know calls the user
function of that name (:mod:`sabot_lab.sql.functions`).

A :class:`Scope` says what a column reference means where the expression stands (a row of
the ``FROM`` clause, or a group after ``GROUP BY``).

>>> import sabot_lab as sl
>>> from sabot_lab.sql.context import Context
>>> from sabot_lab.sql.parse import parse
>>> from sabot_lab.sql.relation import Relation
>>> ctx = Context("SELECT price * size BETWEEN 10 AND 20 FROM t", {})
>>> rows = RowScope(Relation.of(sl.from_pydict({"price": [2.0], "size": [6]})), ctx, "SELECT")
>>> translate(parse(ctx.text).expressions[0], rows)
(((col("price") * col("size")) >= 10) & ((col("price") * col("size")) <= 20))
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Callable
from typing import Any, Protocol

import pyarrow as pa
from sqlglot import exp

from sabot_lab.errors import SQLError
from sabot_lab.expr import (
    Expr,
    col,
    concat_str,
    count,
    lit,
    max_horizontal,
    min_horizontal,
    when,
)
from sabot_lab.expr.decimals import decimal_constant
from sabot_lab.sql.context import Context
from sabot_lab.sql.dates import (
    DIFF_UNITS,
    PARTS,
    date_difference,
    date_part,
    interval_constant,
    java_date_format,
)
from sabot_lab.sql.functions import find_function
from sabot_lab.sql.parse import SabotDialect, written, written_name
from sabot_lab.sql.proctime import proctime
from sabot_lab.sql.relation import Relation
from sabot_lab.sql.windows import window_expression

__all__ = [
    "RowScope",
    "Scope",
    "aggregate",
    "as_written",
    "contains_aggregate",
    "output_name",
    "sql_text",
    "translate",
]

_CAST_TYPES = {
    "TINYINT": "int8", "SMALLINT": "int16", "INT": "int32", "BIGINT": "int64",
    "UTINYINT": "uint8", "USMALLINT": "uint16", "UINT": "uint32", "UBIGINT": "uint64",
    "FLOAT": "float32", "DOUBLE": "float64", "VARCHAR": "string", "TEXT": "string",
    "BOOLEAN": "bool", "DATE": "date32", "TIMESTAMP": "timestamp[us]", "TIME": "time64[us]",
    "TIMESTAMPNTZ": "timestamp[us]",
}  # fmt: skip
_TRUNCATE = {
    "YEAR": "1y", "QUARTER": "1q", "MONTH": "1mo", "WEEK": "1w", "DAY": "1d", "HOUR": "1h",
    "MINUTE": "1m", "SECOND": "1s", "MILLISECOND": "1ms", "MICROSECOND": "1us",
}  # fmt: skip


class Scope(Protocol):
    """What names mean where an expression stands."""

    ctx: Context

    def column(self, node: exp.Column) -> Expr:
        """The expression a column reference stands for."""
        ...

    def replace(self, node: exp.Expr) -> Expr | None:
        """An expression standing for the whole of ``node`` (an aggregate, a group key), or
        None to translate ``node`` part by part."""
        ...


class RowScope:
    """Columns of a relation, row by row (``WHERE``, ``ON``, a ``SELECT`` without grouping);
    aggregates are an error naming the ``clause``.

    >>> import sabot_lab as sl
    >>> from sabot_lab.sql.parse import parse
    >>> ctx = Context("SELECT x FROM t WHERE SUM(x) > 1", {})
    >>> rows = RowScope(Relation.of(sl.from_pydict({"x": [1]})), ctx, "WHERE")
    >>> translate(parse(ctx.text).args["where"].this, rows)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SQLError: line 1, column 23: aggregate SUM(x) is not allowed in WHERE; filter groups with HAVING
      SELECT x FROM t WHERE SUM(x) > 1
                            ^
    """

    def __init__(self, relation: Relation, ctx: Context, clause: str) -> None:
        self.relation, self.ctx, self.clause = relation, ctx, clause

    def column(self, node: exp.Column) -> Expr:
        """The stream column a reference resolves to."""
        binding = self.relation.resolve(node, self.ctx)
        if binding.column is None:
            raise self.ctx.error(
                f"{binding.name} is known once the windows are grouped: use it in SELECT, "
                "HAVING or ORDER BY of a query with GROUP BY window_start, window_end",
                node,
            )
        return col(binding.column)

    def replace(self, node: exp.Expr) -> Expr | None:
        """Refuse aggregates."""
        if isinstance(node, exp.AggFunc | exp.WithinGroup):
            hint = "; filter groups with HAVING" if self.clause == "WHERE" else ""
            raise self.ctx.error(
                f"aggregate {as_written(node)} is not allowed in {self.clause}{hint}", node
            )
        return None


def sql_text(node: exp.Expr) -> str:
    """A node as SQL text, for messages and default column names.

    >>> from sabot_lab.sql.parse import parse
    >>> sql_text(parse("SELECT price*size FROM t").expressions[0])
    'price * size'
    """
    return node.sql(dialect=SabotDialect)


def output_name(node: exp.Expr) -> str:
    """The column name a ``SELECT`` item gets: its alias, its column's name, or its SQL text.

    >>> from sabot_lab.sql.parse import parse
    >>> [output_name(e) for e in parse("SELECT a AS x, t.b, COUNT(*) FROM t").expressions]
    ['x', 'b', 'COUNT(*)']
    """
    if isinstance(node, exp.Alias | exp.Column):
        return str(node.alias_or_name)
    return sql_text(node)


def contains_aggregate(node: exp.Expr) -> bool:
    """True if an aggregate function appears in ``node`` (outside window functions and
    subqueries).

    >>> from sabot_lab.sql.parse import parse
    >>> [contains_aggregate(e) for e in parse("SELECT a + 1, SUM(a) + 1, SUM(a) OVER (), (SELECT SUM(b) FROM u) FROM t").expressions]
    [False, True, False, False]
    """
    inside = (exp.Window, exp.Subquery, exp.Query, exp.Exists)
    parts = node.walk(prune=lambda n: isinstance(n, inside))
    return any(isinstance(n, exp.AggFunc) for n in parts)


def translate(node: exp.Expr, scope: Scope) -> Expr:
    """The :class:`~sabot_lab.expr.Expr` for a SQL expression; a
    :class:`~sabot_lab.errors.SQLError` at constructs without one."""
    replaced = scope.replace(node)
    if replaced is not None:
        return replaced
    rule = _RULES.get(type(node))
    if rule is None:
        raise scope.ctx.unsupported(_describe(node), node)
    return rule(node, scope)


def aggregate(node: exp.AggFunc | exp.WithinGroup, rows: Scope) -> Expr:
    """The aggregate :class:`~sabot_lab.expr.Expr` of a call like ``SUM(price * size)``, its
    argument read row by row in ``rows``.

    >>> import sabot_lab as sl
    >>> from sabot_lab.sql.parse import parse
    >>> ctx = Context("SELECT COUNT(DISTINCT x) FROM t", {})
    >>> aggregate(parse(ctx.text).expressions[0], RowScope(Relation.of(sl.from_pydict({"x": [1]})), ctx, "COUNT"))
    col("x").n_unique()
    """
    ctx = rows.ctx
    arg = node.this
    if isinstance(node, exp.Count):
        if isinstance(arg, exp.Star):
            return count()
        if isinstance(arg, exp.Distinct):
            if len(arg.expressions) != 1:
                raise ctx.unsupported("COUNT(DISTINCT ...) of several values", node)
            return translate(arg.expressions[0], rows).n_unique()
        return translate(arg, rows).count()
    if isinstance(node, exp.WithinGroup):
        return _within_group(node, rows)
    spread = _SPREADS.get(type(node))
    if spread is not None:
        return spread(translate(_single_argument(node, rows), rows))
    if isinstance(node, exp.Median):
        return translate(_single_argument(node, rows), rows).median()
    if isinstance(node, exp.PercentileCont | exp.PercentileDisc | exp.Quantile):
        q = node.args.get("quantile") or node.expression
        value = translate(_single_argument(node, rows), rows)
        return value.quantile(_quantile_constant(q, node, rows), _quantile_method(node))
    method = {exp.Sum: "sum", exp.Avg: "mean", exp.Min: "min", exp.Max: "max"}.get(type(node))
    if method is None:
        raise ctx.unsupported(f"the aggregate function {_function_name(node)}", node)
    if isinstance(arg, exp.Distinct):
        raise ctx.unsupported(f"{_function_name(node)}(DISTINCT ...)", node)
    if node.args.get("expressions"):
        raise ctx.unsupported(f"{_function_name(node)} of several values", node)
    result: Expr = getattr(translate(arg, rows), method)()
    return result


_SPREADS: dict[type[exp.Expr], Callable[[Expr], Expr]] = {
    exp.Stddev: lambda v: v.std(), exp.StddevSamp: lambda v: v.std(),
    exp.StddevPop: lambda v: v.std(ddof=0), exp.Variance: lambda v: v.var(),
    exp.VariancePop: lambda v: v.var(ddof=0),
}  # fmt: skip
"""Each SQL standard deviation and variance function as an aggregate of its value."""


def _single_argument(node: exp.Expr, rows: Scope) -> exp.Expr:
    """The one value an aggregate reads; an error for ``DISTINCT`` or several values."""
    if isinstance(node.this, exp.Distinct):
        raise rows.ctx.unsupported(f"{_function_name(node)}(DISTINCT ...)", node)
    if node.this is None or isinstance(node.this, exp.Star):
        raise rows.ctx.unsupported(f"{_function_name(node)} without a value", node)
    return node.this


def _quantile_method(node: exp.Expr) -> str:
    """``QUANTILE_DISC`` picks a value (Polars' equiprobable method), the others interpolate."""
    return "equiprobable" if isinstance(node, exp.PercentileDisc) else "linear"


def _quantile_constant(node: exp.Expr | None, where: exp.Expr, rows: Scope) -> float:
    ok, value = (False, None) if node is None else _literal_value(node)
    if not ok or isinstance(value, str | bool) or value is None or not 0 <= value <= 1:
        raise rows.ctx.unsupported(
            f"{_function_name(where)} with a quantile that is not a constant from 0 to 1", where
        )
    return float(value)


def _within_group(node: exp.WithinGroup, rows: Scope) -> Expr:
    """``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x)`` (and ``PERCENTILE_DISC``)."""
    function, order = node.this, node.expression
    keys = order.expressions if isinstance(order, exp.Order) else []
    if not isinstance(function, exp.PercentileCont | exp.PercentileDisc) or len(keys) != 1:
        raise rows.ctx.unsupported(
            f"'{as_written(function)} WITHIN GROUP (ORDER BY ...)' (only PERCENTILE_CONT and "
            "PERCENTILE_DISC with one ORDER BY key)",
            node,
        )
    (key,) = keys
    q = _quantile_constant(function.this, function, rows)
    if key.args.get("desc"):
        if isinstance(function, exp.PercentileDisc):  # its pick is not symmetric
            raise rows.ctx.unsupported("PERCENTILE_DISC ... (ORDER BY x DESC)", key)
        q = 1 - q
    return translate(key.this, rows).quantile(q, _quantile_method(function))


# ----------------------------------------------------------------------------- rules


def _function_name(node: exp.Expr) -> str:
    """A function's name as the user wrote it (sqlglot's name for calls made here)."""
    name = written_name(node)
    if name is not None:
        return name
    if isinstance(node, exp.Anonymous):
        return str(node.name).upper()
    if isinstance(node, exp.Func):
        return str(node.sql_name())
    return type(node).__name__.upper()


def _describe(node: exp.Expr) -> str:
    if isinstance(node, exp.Subquery | exp.Exists):
        return "a subquery here (subqueries work in FROM, WHERE, SELECT and HAVING)"
    if isinstance(node, exp.Func):
        return f"the function {_function_name(node)}()"
    return f"'{as_written(node)}'"


def as_written(node: exp.Expr) -> str:
    """A function call's text as the user wrote it, for messages; other nodes as SQL text.

    >>> from sabot_lab.sql.parse import parse
    >>> [as_written(e) for e in parse("SELECT Sum(x), x+1 FROM t").expressions]
    ['Sum(x)', 'x + 1']
    """
    return written(node) or sql_text(node)


def _literal_value(node: exp.Expr) -> tuple[bool, Any]:
    """(True, value) for a constant: a number, string, boolean or NULL, maybe negated."""
    if isinstance(node, exp.Null):
        return True, None
    if isinstance(node, exp.Boolean):
        return True, bool(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return True, str(node.this)
        return True, int(node.this) if node.is_int else float(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        ok, value = _literal_value(node.this)
        return ok, -value
    return False, None


def _literal(node: exp.Expr, scope: Scope) -> Expr:
    """A constant (maybe negated); a number with a point and no exponent is a decimal of the
    digits it is written with, as in DuckDB (``0.0001000000`` is ``DECIMAL(11, 10)``, ``1e3``
    a double)."""
    value = _literal_value(node)[1]
    sign, number = ("-", node.this) if isinstance(node, exp.Neg) else ("", node)
    if isinstance(number, exp.Literal) and number.is_number and not number.is_int:
        constant = decimal_constant(sign + str(number.this))
        if constant is None:
            return lit(value, pa.float64())
        return lit(constant.as_py(), constant.type)
    return lit(value)


def _string_argument(node: exp.Expr, scope: Scope, what: str) -> str:
    ok, value = _literal_value(node)
    if not ok or not isinstance(value, str):
        raise scope.ctx.unsupported(f"{what} with a pattern that is not a string constant", node)
    return value


def _constant(node: exp.Expr, scope: Scope, what: str, kind: type[int] | type[str]) -> Any:
    """The value of a constant argument (None for NULL); an error at ``node`` otherwise."""
    ok, value = _literal_value(node)
    if ok and (value is None or (isinstance(value, kind) and not isinstance(value, bool))):
        return value
    noun = "a whole number" if kind is int else "a string"
    raise scope.ctx.unsupported(f"{what} with an argument that is not {noun} constant", node)


_EXACT = {
    "__add__": lambda a, b: a + b,
    "__sub__": lambda a, b: a - b,
    "__mul__": lambda a, b: a * b,
}


def _folded_decimal(node: exp.Expr, method: str) -> Expr | None:
    """``+ - *`` of two number constants, one with a decimal point, computed exactly as
    DuckDB's decimal constants (``.06 - 0.01`` is 0.05, not 0.049999999999999996)."""
    constants = [_literal_value(n) for n in (node.this, node.expression)]
    numbers = [v for ok, v in constants if ok and type(v) in (int, float)]
    if method not in _EXACT or len(numbers) != 2 or not any(type(v) is float for v in numbers):
        return None
    if any(not math.isfinite(v) for v in numbers):
        return None
    exact = _EXACT[method](*(decimal.Decimal(repr(v)) for v in numbers))
    return lit(float(exact))


def _binary(method: str) -> Callable[[exp.Expr, Scope], Expr]:
    def rule(node: exp.Expr, scope: Scope) -> Expr:
        folded = _folded_decimal(node, method)
        if folded is not None:
            return folded
        left = translate(node.this, scope)
        right = translate(node.expression, scope)
        result: Expr = getattr(left, method)(right)
        return result

    return rule


def _unary(build: Callable[[Expr], Expr]) -> Callable[[exp.Expr, Scope], Expr]:
    return lambda node, scope: build(translate(node.this, scope))


def _not(node: exp.Expr, scope: Scope) -> Expr:
    inner = node.this
    if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
        return translate(inner.this, scope).is_not_null()
    return ~translate(inner, scope)


def _is(node: exp.Expr, scope: Scope) -> Expr:
    if not isinstance(node.expression, exp.Null):
        raise scope.ctx.unsupported(f"'{sql_text(node)}' (only IS NULL and IS NOT NULL)", node)
    value = translate(node.this, scope)
    return value.is_not_null() if node.args.get("negate") else value.is_null()


def _in(node: exp.Expr, scope: Scope) -> Expr:
    if node.args.get("query"):
        raise scope.ctx.unsupported(
            "IN (SELECT ...) here (subqueries work in FROM, WHERE, SELECT and HAVING)", node
        )
    if node.args.get("unnest") or node.args.get("field"):
        raise scope.ctx.unsupported(f"'{sql_text(node)}'", node)
    value = translate(node.this, scope)
    options = node.expressions
    constants = [_literal_value(o) for o in options]
    kinds = {type(v) for ok, v in constants if v is not None}
    if options and all(ok for ok, _ in constants) and len(kinds) <= 1 and float not in kinds:
        return value.is_in([v for _, v in constants])
    if not options:
        raise scope.ctx.error("IN () needs at least one value", node)
    result = value == translate(options[0], scope)
    for option in options[1:]:
        result = result | (value == translate(option, scope))
    return result


def _between(node: exp.Expr, scope: Scope) -> Expr:
    if node.args.get("symmetric"):
        raise scope.ctx.unsupported("BETWEEN SYMMETRIC", node)
    value = translate(node.this, scope)
    return (value >= translate(node.args["low"], scope)) & (
        value <= translate(node.args["high"], scope)
    )


def _like(node: exp.Expr, scope: Scope) -> Expr:
    pattern = _string_argument(node.expression, scope, "LIKE")
    value = translate(node.this, scope)
    if isinstance(node, exp.ILike):
        value, pattern = value.str.lower(), pattern.lower()
    result = value.str.like(pattern)
    return ~result if node.args.get("negate") else result


def _string_test(method: str) -> Callable[[exp.Expr, Scope], Expr]:
    def rule(node: exp.Expr, scope: Scope) -> Expr:
        pattern = _string_argument(node.expression, scope, _function_name(node))
        result: Expr = getattr(translate(node.this, scope).str, method)(pattern)
        return result

    return rule


def _case(node: exp.Expr, scope: Scope) -> Expr:
    operand = node.this
    subject = translate(operand, scope) if operand is not None else None
    branches = node.args.get("ifs") or []
    result: Any = None
    for branch in branches:
        condition = translate(branch.this, scope)
        if subject is not None:
            condition = subject == condition
        start = when(condition) if result is None else result.when(condition)
        result = start.then(translate(branch.args["true"], scope))
    default = node.args.get("default")
    if result is None:
        raise scope.ctx.error("CASE needs at least one WHEN ... THEN ...", node)
    return result.otherwise(translate(default, scope)) if default is not None else result


def _if(node: exp.Expr, scope: Scope) -> Expr:
    otherwise = node.args.get("false")
    branch = when(translate(node.this, scope)).then(translate(node.args["true"], scope))
    return branch.otherwise(translate(otherwise, scope)) if otherwise is not None else branch


def _cast(node: exp.Expr, scope: Scope) -> Expr:
    target = node.args["to"]
    name = target.this.name if isinstance(target, exp.DataType) else ""
    dtype = _CAST_TYPES.get(name)
    if name == "DECIMAL":
        precision, scale = (*(int(p.this.this) for p in target.expressions), 0)[:2]
        dtype = f"decimal({precision}, {scale})"
    elif dtype is None or target.expressions:
        raise scope.ctx.unsupported(f"CAST to {sql_text(target)}", node)
    return translate(node.this, scope).cast(dtype, strict=not isinstance(node, exp.TryCast))


def _coalesce(node: exp.Expr, scope: Scope) -> Expr:
    values = [node.this, *node.expressions]
    result = translate(values[-1], scope)
    for value in reversed(values[:-1]):
        result = translate(value, scope).fill_null(result)
    return result


def _nullif(node: exp.Expr, scope: Scope) -> Expr:
    value = translate(node.this, scope)
    return when(value == translate(node.expression, scope)).then(lit(None)).otherwise(value)


def _round(node: exp.Expr, scope: Scope) -> Expr:
    if node.args.get("truncate"):
        raise scope.ctx.unsupported(f"'{as_written(node)}'", node)
    decimals = node.args.get("decimals")
    places = 0 if decimals is None else _constant(decimals, scope, _function_name(node), int)
    value = translate(node.this, scope)
    return lit(None, "float64") if places is None else value.round(places)


def _rounding(method: str) -> Callable[[exp.Expr, Scope], Expr]:
    def rule(node: exp.Expr, scope: Scope) -> Expr:
        if node.args.get("decimals") is not None or node.args.get("to") is not None:
            raise scope.ctx.unsupported(f"{_function_name(node)} with a second argument", node)
        result: Expr = getattr(translate(node.this, scope), method)()
        return result

    return rule


def _log(node: exp.Expr, scope: Scope) -> Expr:
    if node.expression is None:  # DuckDB's LOG(x) is the base-10 logarithm
        return translate(node.this, scope).log10()
    ok, base = _literal_value(node.this)
    if not ok or isinstance(base, str | bool) or base is None or base <= 0 or base == 1:
        raise scope.ctx.unsupported(
            f"{_function_name(node)} with a base that is not a positive constant", node.this
        )
    return translate(node.expression, scope).log(base)


def _substring(node: exp.Expr, scope: Scope) -> Expr:
    """SQL's 1-based ``SUBSTRING(s, start[, length])`` (a negative start counts from the end,
    a negative length goes backwards from start) as the 0-based :meth:`str.slice`."""
    value, name = translate(node.this, scope), _function_name(node)
    start = _constant(node.args["start"], scope, name, int)
    length_node = node.args.get("length")
    length = None if length_node is None else _constant(length_node, scope, name, int)
    if start is None or (length_node is not None and length is None):
        return lit(None, "string")
    if length is None:
        return value.str.slice(start if start < 0 else max(start - 1, 0))
    low, high = start + min(length, 0), start + max(length, 0)
    if start < 0:  # positions counted from the end
        return value.str.slice(low, high - low)
    low = max(low, 1)
    return value.str.slice(low - 1, max(high - low, 0))


def _concat(node: exp.Expr, scope: Scope) -> Expr:
    if isinstance(node, exp.DPipe):
        parts = [node.this, node.expression]
        return concat_str([translate(p, scope) for p in parts])
    parts, separator = list(node.expressions), ""
    if isinstance(node, exp.ConcatWs):
        separator = _constant(parts.pop(0), scope, _function_name(node), str)
        if separator is None:
            return lit(None, "string")
    return concat_str([translate(p, scope) for p in parts], separator=separator, ignore_nulls=True)


def _trim(node: exp.Expr, scope: Scope) -> Expr:
    if node.args.get("collation"):
        raise scope.ctx.unsupported(f"{_function_name(node)} with COLLATE", node)
    chars_node = node.expression
    chars = " " if chars_node is None else _constant(chars_node, scope, _function_name(node), str)
    if chars is None:
        return lit(None, "string")
    position = str(node.args.get("position") or "BOTH").upper()
    method = {"LEADING": "strip_chars_start", "TRAILING": "strip_chars_end"}.get(
        position, "strip_chars"
    )
    result: Expr = getattr(translate(node.this, scope).str, method)(chars)
    return result


def _replace(node: exp.Expr, scope: Scope) -> Expr:
    pattern = _constant(node.expression, scope, _function_name(node), str)
    value = _constant(node.args["replacement"], scope, _function_name(node), str)
    if pattern is None or value is None:
        return lit(None, "string")
    return translate(node.this, scope).str.replace_all(pattern, value)


def _regexp_extract(node: exp.Expr, scope: Scope) -> Expr:
    """DuckDB's ``regexp_extract(s, pattern[, group])``: '' where it does not match."""
    name = _function_name(node)
    pattern = _constant(node.expression, scope, name, str)
    group = node.args.get("group")
    n = 0 if group is None else _constant(group, scope, name, int)
    if pattern is None or n is None:
        return lit(None, "string")
    value = translate(node.this, scope)
    with scope.ctx.building(node, name):
        found = value.str.extract(pattern, n)
    return when(value.is_null()).then(lit(None, "string")).otherwise(found.fill_null(""))


def _column(node: exp.Column, scope: Scope) -> Expr:
    """A column; ``s.f`` (or ``t.s.f``) where ``s`` is no table but a struct column is the
    struct's field ``f``."""
    try:
        return scope.column(node)
    except SQLError as missing:
        if not node.table:
            raise
        struct = exp.Column(this=exp.to_identifier(node.table), table=node.args.get("db"))
        struct.meta.update(node.meta)
        try:
            value = scope.column(struct)
        except SQLError:
            raise missing from None
        return value.struct.field(node.name)


_REGEX_SPECIAL = re.compile(r"[.^$*+?{}\[\]\\|()]")
"""The characters that make a pattern more than its plain text."""


def _regexp_replace(node: exp.Expr, scope: Scope) -> Expr:
    """DuckDB's ``regexp_replace(s, pattern, replacement)``: the first match; with the
    flag ``'g'`` every match, for a pattern without special characters."""
    name = _function_name(node)
    pattern = _constant(node.expression, scope, name, str)
    value = _constant(node.args["replacement"], scope, name, str)
    flags = node.args.get("modifiers")
    flag = "" if flags is None else _constant(flags, scope, name, str)
    if pattern is None or value is None or flag is None:
        return lit(None, "string")
    text = translate(node.this, scope)
    if flag == "":
        with scope.ctx.building(node, name):
            return text.str.replace(pattern, value)
    if flag == "g" and not _REGEX_SPECIAL.search(pattern) and "\\" not in value:
        return text.str.replace_all(pattern, value)
    raise scope.ctx.unsupported(
        f"{name}() with the flags {flag!r} (the flag 'g' works with a plain pattern; "
        "other regular expressions replace their first match)",
        node,
    )


def _split_part(node: exp.Expr, scope: Scope) -> Expr:
    name = _function_name(node)
    by = _constant(node.args["delimiter"], scope, name, str)
    n = _constant(node.args["part_index"], scope, name, int)
    if by is None or n is None:
        return lit(None, "string")
    if by == "" or n == 0:
        raise scope.ctx.unsupported(f"{name}() with an empty delimiter or part 0", node)
    return translate(node.this, scope).str.split_part(by, n)


def _split_index(node: exp.Anonymous, scope: Scope) -> Expr:
    """Flink's ``SPLIT_INDEX(s, delimiter, index)``: part ``index`` (0 the first) of ``s``
    split at each ``delimiter``; null where there is no such part, ``index`` is negative or
    ``s`` is empty (DuckDB's ``split_part`` counts from 1 and gives '' there)."""
    if len(node.expressions) != 3:
        raise scope.ctx.error("SPLIT_INDEX takes (string, delimiter, index)", node)
    value, delimiter, position = node.expressions
    by = _constant(delimiter, scope, "SPLIT_INDEX", str)
    index = _constant(position, scope, "SPLIT_INDEX", int)
    if by is None or index is None or index < 0:
        return lit(None, "string")
    if by == "":
        raise scope.ctx.unsupported("SPLIT_INDEX() with an empty delimiter", node)
    return translate(value, scope).str.split_index(by, index)


def _left_right(method: str) -> Callable[[exp.Expr, Scope], Expr]:
    def rule(node: exp.Expr, scope: Scope) -> Expr:
        n = _constant(node.expression, scope, _function_name(node), int)
        if n is None:
            return lit(None, "string")
        result: Expr = getattr(translate(node.this, scope).str, method)(n)
        return result

    return rule


def _extreme(build: Callable[..., Expr]) -> Callable[[exp.Expr, Scope], Expr]:
    return lambda node, scope: build(*(translate(v, scope) for v in [node.this, *node.expressions]))


def _unit(node: exp.Expr, scope: Scope, table: dict[str, str] | tuple[str, ...]) -> str:
    unit = node.args.get("unit") if not isinstance(node, exp.Extract) else node.this
    name = str(unit.name if unit is not None else "").upper()
    if name not in table:
        raise scope.ctx.unsupported(f"the unit {name or '?'} in {_function_name(node)}", node)
    return name


def _truncate(node: exp.Expr, scope: Scope) -> Expr:
    every = _TRUNCATE[_unit(node, scope, _TRUNCATE)]
    return translate(node.this, scope).dt.truncate(every)


def _extract(node: exp.Expr, scope: Scope) -> Expr:
    return date_part(_unit(node, scope, PARTS), translate(node.expression, scope))


def _date_diff(node: exp.Expr, scope: Scope) -> Expr:
    """``DATE_DIFF(unit, start, end)`` (sqlglot's ``this`` is the end)."""
    unit = _unit(node, scope, DIFF_UNITS)
    return date_difference(unit, translate(node.expression, scope), translate(node.this, scope))


def _interval(node: exp.Interval, scope: Scope) -> Expr:
    return lit(interval_constant(node, scope.ctx))


def _negate(node: exp.Expr, scope: Scope) -> Expr:
    if isinstance(node.this, exp.Interval):
        return lit(interval_constant(node.this, scope.ctx, negate=True))
    if isinstance(node.this, exp.Literal) and node.this.is_number:  # a constant, as written
        return _literal(node, scope)
    return -translate(node.this, scope)


def _part(part: str) -> Callable[[exp.Expr, Scope], Expr]:
    return lambda node, scope: getattr(translate(node.this, scope).dt, part)()


def _strptime(node: exp.Expr, scope: Scope, strict: bool = True) -> Expr:
    """DuckDB's ``strptime(text, format)`` (a timestamp), ``try_strptime`` when not ``strict``."""
    fmt = _constant(node.args["format"], scope, _function_name(node), str)
    if fmt is None:
        return lit(None, "timestamp[us]")
    return translate(node.this, scope).str.to_datetime(fmt, strict=strict)


def _strftime(node: exp.Expr, scope: Scope) -> Expr:
    fmt = _constant(node.args["format"], scope, _function_name(node), str)
    if fmt is None:
        return lit(None, "string")
    return translate(node.this, scope).dt.strftime(fmt)


def _anonymous(node: exp.Anonymous, scope: Scope) -> Expr:
    """The functions sqlglot does not know by name: user functions (a call's own or
    registered ones), DuckDB's ``try_strptime`` and ``date_part``, Flink's ``DATE_FORMAT``,
    ``SPLIT_INDEX`` and ``PROCTIME``."""
    function = find_function(str(node.name), scope.ctx.functions)
    if function is not None:
        return _user_call(function, node, scope)
    name = str(node.name).upper()
    if name == "PROCTIME" and not node.expressions:
        return proctime()
    if name == "TRY_STRPTIME" and len(node.expressions) == 2:
        text, fmt = node.expressions
        call = exp.StrToTime(this=text, format=fmt)
        call.meta.update(node.meta)  # its name and place as written
        return _strptime(call, scope, strict=False)
    if name == "DATE_PART" and len(node.expressions) == 2:
        part, value = node.expressions
        text = _constant(part, scope, "DATE_PART", str)
        extract = exp.Extract(this=exp.var(str(text)), expression=value)
        extract.meta.update(node.meta)
        return _extract(extract, scope)
    if name == "SPLIT_INDEX":
        return _split_index(node, scope)
    if name == "DATE_FORMAT" and len(node.expressions) == 2:  # Flink's, with Java's letters
        value, pattern = node.expressions
        text = _constant(pattern, scope, "DATE_FORMAT", str)
        if text is None:
            return lit(None, "string")
        try:
            fmt = java_date_format(text)
        except ValueError as exc:
            raise scope.ctx.unsupported(str(exc), pattern) from None
        return translate(value, scope).dt.strftime(fmt)
    raise scope.ctx.error(
        f"{_describe(node)} is not supported by sl.sql(); a user function (@sl.udf) is called "
        f"by name once given as sl.sql(..., functions={{{str(node.name)!r}: fn}}) or "
        "registered with sl.register_function",
        node,
    )


def _user_call(function: Any, node: exp.Anonymous, scope: Scope) -> Expr:
    """A user function applied to its translated arguments."""
    args = [translate(a, scope) for a in node.expressions]
    with scope.ctx.building(node, f"{node.name}()"):
        result = function(*args)
    if not isinstance(result, Expr):
        raise scope.ctx.error(
            f"function {node.name!r} returned {type(result).__name__}, not an expression: "
            "register functions made with @sl.udf",
            node,
        )
    return result


_RULES: dict[type[exp.Expr], Callable[[Any, Scope], Expr]] = {
    exp.Column: _column,
    exp.Paren: lambda node, scope: translate(node.this, scope),
    exp.Alias: lambda node, scope: translate(node.this, scope),
    exp.Literal: _literal,
    exp.Boolean: _literal,
    exp.Null: _literal,
    exp.Add: _binary("__add__"),
    exp.Sub: _binary("__sub__"),
    exp.Mul: _binary("__mul__"),
    exp.Div: _binary("__truediv__"),
    exp.IntDiv: _binary("__floordiv__"),
    exp.Mod: _binary("__mod__"),
    exp.EQ: _binary("__eq__"),
    exp.NEQ: _binary("__ne__"),
    exp.LT: _binary("__lt__"),
    exp.LTE: _binary("__le__"),
    exp.GT: _binary("__gt__"),
    exp.GTE: _binary("__ge__"),
    exp.And: _binary("__and__"),
    exp.Or: _binary("__or__"),
    exp.Neg: _negate,
    exp.Interval: _interval,
    exp.DateDiff: _date_diff,
    exp.Not: _not,
    exp.Is: _is,
    exp.In: _in,
    exp.Between: _between,
    exp.Like: _like,
    exp.ILike: _like,
    exp.Case: _case,
    exp.If: _if,
    exp.Cast: _cast,
    exp.TryCast: _cast,
    exp.Coalesce: _coalesce,
    exp.Nullif: _nullif,
    exp.Abs: _unary(lambda v: v.abs()),
    exp.Round: _round,
    exp.Floor: _rounding("floor"),
    exp.Ceil: _rounding("ceil"),
    exp.Sqrt: _unary(lambda v: v.sqrt()),
    exp.Exp: _unary(lambda v: v.exp()),
    exp.Ln: _unary(lambda v: v.log()),
    exp.Log: _log,
    exp.Sign: _unary(lambda v: v.sign()),
    exp.Pow: _binary("pow"),
    exp.Greatest: _extreme(max_horizontal),
    exp.Least: _extreme(min_horizontal),
    exp.Substring: _substring,
    exp.Concat: _concat,
    exp.ConcatWs: _concat,
    exp.DPipe: _concat,
    exp.Trim: _trim,
    exp.Replace: _replace,
    exp.RegexpExtract: _regexp_extract,
    exp.RegexpReplace: _regexp_replace,
    exp.SplitPart: _split_part,
    exp.Left: _left_right("head"),
    exp.Right: _left_right("tail"),
    exp.Lower: _unary(lambda v: v.str.lower()),
    exp.Upper: _unary(lambda v: v.str.upper()),
    exp.Length: _unary(lambda v: v.str.len()),
    exp.StartsWith: _string_test("starts_with"),
    exp.EndsWith: _string_test("ends_with"),
    exp.Contains: _string_test("contains"),
    exp.TimestampTrunc: _truncate,
    exp.DateTrunc: _truncate,
    exp.Extract: _extract,
    exp.Year: _part("year"),
    exp.Month: _part("month"),
    exp.Day: _part("day"),
    exp.Hour: _part("hour"),
    exp.Minute: _part("minute"),
    exp.Second: _part("second"),
    exp.Quarter: _part("quarter"),
    exp.DayOfYear: _part("ordinal_day"),
    exp.DayOfWeekIso: _part("weekday"),
    exp.DayOfWeek: _unary(lambda v: v.dt.weekday() % 7),
    exp.WeekOfYear: _part("week"),
    exp.StrToTime: _strptime,
    exp.TimeToStr: _strftime,
    exp.Anonymous: _anonymous,
    exp.Window: window_expression,
}
