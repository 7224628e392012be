"""Rendering expressions as Python (their ``repr``) and as DuckDB SQL.

One table per style maps each node class to its renderer, which receives the node and its
children already rendered. The SQL is what filter and projection pushdown hand to DuckDB.
Imports pyarrow, :mod:`sabot_lab.errors` and the modules of :mod:`sabot_lab.expr` that
define nodes and literals.

>>> from sabot_lab.expr import col, lit
>>> to_sql((col("x") / 2).alias("half"))
'(CAST("x" AS DOUBLE) / CAST(2 AS BIGINT)) AS "half"'
>>> python_style(col("x") + lit(1), ['col("x")', "1"])
'(col("x") + 1)'
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Callable

import pyarrow as pa

from sabot_lab.errors import SchemaError
from sabot_lab.expr.dtypes import parse_dtype
from sabot_lab.expr.literals import decode_value
from sabot_lab.expr.namespaces import WHITESPACE
from sabot_lab.expr.nodes import (
    Aggregate,
    Alias,
    Binary,
    Case,
    Cast,
    Column,
    ConcatStr,
    Expr,
    FillNull,
    FormatTemporal,
    Horizontal,
    IsIn,
    Literal,
    Log,
    MathFunction,
    Over,
    ParseTemporal,
    Round,
    StringFunction,
    StructField,
    TemporalPart,
    TemporalTruncate,
    Unary,
    UserAggregate,
    UserFunction,
    WindowFunction,
)
from sabot_lab.expr.windows import (
    python_over,
    python_window_function,
    sql_over,
    sql_window_function,
)

__all__ = [
    "BINARY_SYMBOLS",
    "PYTHON_RENDERERS",
    "SQL_RENDERERS",
    "python_style",
    "sql_style",
    "sql_type",
    "to_sql",
]

Renderer = Callable[[Expr, list[str]], str]

BINARY_SYMBOLS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "truediv": "/",
    "floordiv": "//",
    "mod": "%",
    "pow": "**",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "and": "&",
    "or": "|",
}
"""Each binary operation's Python operator."""

_SQL_SYMBOLS = {**BINARY_SYMBOLS, "eq": "=", "ne": "<>", "and": "AND", "or": "OR"}


def python_style(expr: Expr, args: list[str]) -> str:
    """The Python source of ``expr`` given its children's (its ``repr``).

    >>> python_style(col("s").str.head(2), ['col("s")'])
    'col("s").str.head(2)'
    """
    return PYTHON_RENDERERS[type(expr)](expr, args)


def sql_style(expr: Expr, args: list[str]) -> str:
    """The DuckDB SQL of ``expr`` given its children's.

    >>> sql_style(col("x").is_null(), ['"x"'])
    '("x" IS NULL)'
    """
    return SQL_RENDERERS[type(expr)](expr, args)


def to_sql(expr: Expr) -> str:
    """Render the whole tree of ``expr`` as a DuckDB SQL expression.

    >>> to_sql(col("x").is_in(["a", "b"]))
    '("x" IN (\\'a\\', \\'b\\'))'
    """
    return sql_style(expr, [to_sql(a) for a in expr.args])


# ----------------------------------------------------------------------------- Python


def _python_literal(expr: Expr, args: list[str]) -> str:
    value = decode_value(expr.param("value"))
    dtype = expr.param("dtype")
    if isinstance(value, pa.MonthDayNano):
        return f"lit(pa.MonthDayNano([{value.months}, {value.days}, {value.nanoseconds}]))"
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return f'lit({text}, "{dtype}")' if dtype else text


def _python_unary(expr: Expr, args: list[str]) -> str:
    if expr.op == "neg":
        return f"-{args[0]}"
    if expr.op == "not":
        return f"~{args[0]}"
    return f"{args[0]}.{expr.op}()"


def _python_string(expr: Expr, args: list[str]) -> str:
    fn = expr.param("fn")
    values = [expr.param(name) for name in StringFunction.STRING_PARAMS[fn]]
    if fn.startswith("strip_chars") and values == [WHITESPACE]:
        values = []
    while values and values[-1] is None:
        values.pop()
    inner = ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in values)
    return f"{args[0]}.str.{fn}({inner})"


def _python_log(expr: Expr, args: list[str]) -> str:
    base = expr.param("base")
    if base == 10.0:
        return f"{args[0]}.log10()"
    return f"{args[0]}.log()" if base == math.e else f"{args[0]}.log({base})"


def _python_concat_str(expr: Expr, args: list[str]) -> str:
    options = "" if not expr.param("separator") else f', separator="{expr.param("separator")}"'
    options += ", ignore_nulls=True" if expr.param("ignore_nulls") else ""
    return f"concat_str([{', '.join(args)}]{options})"


def _python_aggregate(expr: Expr, args: list[str]) -> str:
    if not args:
        return "count()"
    fn = expr.param("fn")
    options = ""
    if fn in ("std", "var") and expr.param("ddof") != 1:
        options = f"ddof={expr.param('ddof')}"
    if fn == "quantile":
        options = f'{expr.param("quantile")!r}, interpolation="{expr.param("interpolation")}"'
    return f"{args[0]}.{fn}({options})"


def _user_call(expr: Expr, args: list[str]) -> str:
    """A user function's call, as Python and SQL write it: ``name(args)``."""
    return f"{expr.param('name')}({', '.join(args)})"


def _python_strptime(expr: Expr, args: list[str]) -> str:
    lenient = ", strict=False" if expr.param("strict") is False else ""
    return f'{args[0]}.str.strptime("{expr.param("dtype")}", "{expr.param("format")}"{lenient})'


def _python_case(expr: Expr, args: list[str]) -> str:
    parts = [f"when({args[i]}).then({args[i + 1]})" for i in range(0, len(args) - 1, 2)]
    return ".".join(parts) + f".otherwise({args[-1]})"


PYTHON_RENDERERS: dict[type[Expr], Renderer] = {
    Column: lambda e, a: f'col("{e.param("name")}")',
    Literal: _python_literal,
    Alias: lambda e, a: f'{a[0]}.alias("{e.param("name")}")',
    Binary: lambda e, a: f"({a[0]} {BINARY_SYMBOLS[e.op]} {a[1]})",
    Unary: _python_unary,
    IsIn: lambda e, a: f"{a[0]}.is_in({[decode_value(v) for v in e.param('values')]!r})",
    FillNull: lambda e, a: f"{a[0]}.fill_null({a[1]})",
    Cast: lambda e, a: (
        f'{a[0]}.cast("{e.param("dtype")}"'
        + (", strict=False)" if e.param("strict") is False else ")")
    ),
    Case: _python_case,
    StringFunction: _python_string,
    TemporalTruncate: lambda e, a: f'{a[0]}.dt.truncate("{e.param("every")}")',
    StructField: lambda e, a: f'{a[0]}.struct.field("{e.param("name")}")',
    TemporalPart: lambda e, a: (
        f'{a[0]}.dt.epoch("{e.param("time_unit")}")'
        if e.param("part") == "epoch"
        else f"{a[0]}.dt.{e.param('part')}()"
    ),
    ParseTemporal: _python_strptime,
    FormatTemporal: lambda e, a: f'{a[0]}.dt.strftime("{e.param("format")}")',
    MathFunction: lambda e, a: f"{a[0]}.{e.param('fn')}()",
    Log: _python_log,
    Round: lambda e, a: f"{a[0]}.round({e.param('decimals')})",
    ConcatStr: _python_concat_str,
    Horizontal: lambda e, a: f"{e.param('fn')}_horizontal({', '.join(a)})",
    Aggregate: _python_aggregate,
    UserAggregate: _user_call,
    WindowFunction: python_window_function,
    Over: python_over,
    UserFunction: lambda e, a: f"{e.param('name')}({', '.join(a)})",
}
"""The Python renderer of each node class."""


# ----------------------------------------------------------------------------- SQL


def _sql_literal(expr: Expr, args: list[str]) -> str:
    return _sql_value(decode_value(expr.param("value")), expr.param("dtype"))


def _sql_value(value: object, dtype: str | None) -> str:
    """A constant as a typed DuckDB SQL literal: no value can end the literal early.

    >>> _sql_value("it's", None), _sql_value(b"x'", None)
    ("'it''s'", "from_hex('7827')")
    >>> _sql_value(decimal.Decimal("-1.50"), None), _sql_value(dt.timedelta(seconds=1), None)
    ("CAST('-1.50' AS DECIMAL(3,2))", 'to_microseconds(CAST(1000000 AS BIGINT))')
    """
    text = _sql_constant(value)
    return f"CAST({text} AS {sql_type(parse_dtype(dtype))})" if dtype else text


def _sql_constant(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"CAST({int(value)} AS BIGINT)"
    if isinstance(value, float):
        return f"CAST('{float(value)!r}' AS DOUBLE)"
    if isinstance(value, str):
        return _sql_string(value)
    if isinstance(value, bytes):
        return f"from_hex('{value.hex()}')"
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP {_sql_string(value.isoformat(sep=' '))}"
    if isinstance(value, dt.date):
        return f"DATE {_sql_string(value.isoformat())}"
    if isinstance(value, dt.timedelta):
        return f"to_microseconds(CAST({value // dt.timedelta(microseconds=1)} AS BIGINT))"
    if isinstance(value, decimal.Decimal):
        return _sql_decimal(value)
    if isinstance(value, pa.MonthDayNano):
        return (
            f"(to_months(CAST({value.months} AS INTEGER)) + to_days(CAST({value.days} AS INTEGER))"
            f" + to_microseconds(CAST({value.nanoseconds // 1000} AS BIGINT)))"
        )
    raise SchemaError(f"no SQL literal for {value!r} ({type(value).__name__})")


def _sql_decimal(value: decimal.Decimal) -> str:
    text = _sql_string(str(value))
    if not value.is_finite():
        return f"CAST({text} AS DOUBLE)"
    digits, exponent = value.as_tuple()[1:]
    assert isinstance(exponent, int)  # a finite decimal's exponent
    scale = max(-exponent, 0)
    precision = max(len(digits) + exponent, 1) + scale
    if precision > _SQL_DECIMAL_DIGITS:
        return f"CAST({text} AS DOUBLE)"  # wider than any DuckDB DECIMAL
    return f"CAST({text} AS DECIMAL({precision},{scale}))"


_SQL_DECIMAL_DIGITS = 38
"""The most digits a DuckDB DECIMAL holds."""


def sql_type(dtype: pa.DataType) -> str:
    """The DuckDB name of an Arrow type.

    >>> sql_type(pa.int32()), sql_type(pa.timestamp("ms")), sql_type(pa.decimal128(15, 2))
    ('INTEGER', 'TIMESTAMP', 'DECIMAL(15,2)')
    """
    names = {
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.uint8(): "UTINYINT",
        pa.uint16(): "USMALLINT",
        pa.uint32(): "UINTEGER",
        pa.uint64(): "UBIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.string(): "VARCHAR",
        pa.large_string(): "VARCHAR",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    if dtype in names:
        return names[dtype]
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP"
    if pa.types.is_decimal(dtype) and dtype.precision <= _SQL_DECIMAL_DIGITS:
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    raise SchemaError(f"no SQL type for {dtype}")


def _sql_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_binary(expr: Expr, args: list[str]) -> str:
    if expr.op == "truediv":
        return f"(CAST({args[0]} AS DOUBLE) / {args[1]})"
    if expr.op == "pow":
        return f"power({args[0]}, {args[1]})"
    return f"({args[0]} {_SQL_SYMBOLS[expr.op]} {args[1]})"


_SQL_UNARY = {
    "neg": "(-{0})",
    "not": "(NOT {0})",
    "is_null": "({0} IS NULL)",
    "is_not_null": "({0} IS NOT NULL)",
}


def _sql_is_in(expr: Expr, args: list[str]) -> str:
    values = [_sql_value(decode_value(v), None) for v in expr.param("values")]
    return f"({args[0]} IN ({', '.join(values)}))" if values else "(NULL AND FALSE)"


_SQL_AGGREGATES = {
    "mean": "AVG({0})",
    "n_unique": "COUNT(DISTINCT {0})",
    "first": "FIRST({0})",
    "last": "LAST({0})",
}


def _sql_word(value: object) -> str:
    """``value`` checked to be a lowercase word (a function, unit or part name) before it is
    written into SQL: a plan decoded from JSON may hold anything there.

    >>> _sql_word("floor")
    'floor'
    >>> _sql_word("x') OR 1=1 --")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: cannot write "x') OR 1=1 --" into SQL: not a function, unit or part name
    """
    if not (isinstance(value, str) and value.isascii() and value.isidentifier()):
        raise SchemaError(f"cannot write {value!r} into SQL: not a function, unit or part name")
    return value.lower()


def _sql_number(value: object, integer: bool = True) -> str:
    """``value`` checked to be an integer (or, not ``integer``, a finite number) before it is
    written into SQL.

    >>> _sql_number(3), _sql_number(2.5, integer=False)
    ('3', '2.5')
    >>> _sql_number("1); DROP TABLE t; --")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: cannot write '1); DROP TABLE t; --' into SQL: not an integer
    """
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    number = isinstance(value, kinds) and not isinstance(value, bool)
    if not number or not math.isfinite(value):  # type: ignore[arg-type]
        raise SchemaError(
            f"cannot write {value!r} into SQL: not {'an integer' if integer else 'a number'}"
        )
    return repr(value)


def _sql_aggregate(expr: Expr, args: list[str]) -> str:
    if not args:
        return "COUNT(*)"
    fn = _sql_word(expr.param("fn"))
    if fn in ("std", "var"):
        return _sql_spread(fn, int(_sql_number(expr.param("ddof"))), args[0])
    if fn == "quantile":
        return _sql_quantile(expr, args[0])
    return _SQL_AGGREGATES.get(fn, f"{fn.upper()}({{0}})").format(args[0])


def _sql_spread(fn: str, ddof: int, value: str) -> str:
    """``std``/``var`` with ``ddof``: DuckDB's own functions for 0 and 1, else the population
    variance rescaled to ``n - ddof``."""
    if ddof in (0, 1):
        name = {"std": "stddev", "var": "var"}[fn] + ("_pop" if ddof == 0 else "_samp")
        return f"{name}({value})"
    n = f"COUNT({value})"
    variance = f"(var_pop({value}) * {n} / ({n} - {ddof}))"
    scaled = f"sqrt{variance}" if fn == "std" else variance
    return f"CASE WHEN {n} > {ddof} THEN {scaled} END"


def _sql_quantile(expr: Expr, value: str) -> str:
    """A quantile as DuckDB SQL: ``quantile_cont`` is the linear one, ``quantile_disc`` the
    equiprobable one; the other methods pick between the two values around the position."""
    q = _sql_number(expr.param("quantile"), integer=False)
    method = _sql_word(expr.param("interpolation"))
    if method == "linear":
        return f"quantile_cont({value}, {q})"
    if method == "equiprobable":
        return f"CAST(quantile_disc({value}, {q}) AS DOUBLE)"
    position = f"((COUNT({value}) - 1) * {q})"
    values = f"list_sort(list({value}) FILTER (WHERE {value} IS NOT NULL))"
    index = {
        "lower": f"floor{position}",
        "higher": f"ceil{position}",
        "nearest": f"floor({position} + 0.5)",
    }.get(method)
    if index is not None:  # the value at a whole position: list_sort's 1-based element
        return f"CAST({values}[CAST({index} AS BIGINT) + 1] AS DOUBLE)"
    low = f"{values}[CAST(floor{position} AS BIGINT) + 1]"
    high = f"{values}[CAST(ceil{position} AS BIGINT) + 1]"
    return f"((CAST({low} AS DOUBLE) + CAST({high} AS DOUBLE)) / 2)"


def _sql_string_function(expr: Expr, args: list[str]) -> str:
    value = args[0]
    fn = expr.param("fn")
    p = {name: expr.param(name) for name in StringFunction.STRING_PARAMS[fn]}
    quoted = {k: _sql_string(v) for k, v in p.items() if isinstance(v, str)}
    if fn in ("lower", "upper"):
        return f"{fn}({value})"
    if fn == "len":
        return f"CAST(length({value}) AS BIGINT)"
    if fn == "like":
        return f"({value} LIKE {quoted['pattern']})"
    if fn in ("contains", "starts_with", "ends_with"):
        return f"{fn}({value}, {quoted['pattern']})"
    if fn == "slice":  # SQL positions are 1-based; a negative one counts from the end alike
        offset, length = int(_sql_number(p["offset"])), p["length"]
        start = offset + 1 if offset >= 0 else offset
        return f"substring({value}, {start}{'' if length is None else f', {_sql_number(length)}'})"
    if fn in ("head", "tail"):
        return f"{'left' if fn == 'head' else 'right'}({value}, {_sql_number(p['n'])})"
    if fn.startswith("strip_chars"):
        sql_fn = {"strip_chars": "trim", "strip_chars_start": "ltrim"}.get(fn, "rtrim")
        text = p["characters"]
        printable = text.isprintable()
        chars = _sql_string(text) if printable else " || ".join(f"chr({ord(c)})" for c in text)
        return f"{sql_fn}({value}, {chars})"
    if fn == "extract":  # null where it does not match, as in the engine
        pattern = quoted["pattern"]
        return (
            f"CASE WHEN regexp_matches({value}, {pattern}) "
            f"THEN regexp_extract({value}, {pattern}, {int(p['n'])}) END"
        )
    if fn == "replace":
        return f"regexp_replace({value}, {quoted['pattern']}, {quoted['value']})"
    if fn == "split_part":
        return f"split_part({value}, {quoted['pattern']}, {int(p['n'])})"
    if fn == "split_index":  # null past the last part and for an empty string
        n, by = int(p["n"]), quoted["pattern"]
        return (
            f"CASE WHEN {value} <> '' AND len(string_split({value}, {by})) > {n} "
            f"THEN split_part({value}, {by}, {n + 1}) END"
        )
    return f"replace({value}, {quoted['pattern']}, {quoted['value']})"


def _sql_log(expr: Expr, args: list[str]) -> str:
    base = expr.param("base")
    if base == math.e:
        return f"ln({args[0]})"
    return f"log10({args[0]})" if base == 10 else f"log({_sql_number(base, False)}, {args[0]})"


def _sql_concat_str(expr: Expr, args: list[str]) -> str:
    separator = _sql_string(expr.param("separator"))
    if expr.param("ignore_nulls"):
        return f"concat_ws({separator}, {', '.join(args)})"
    return "(" + f" || {separator} || ".join(f"CAST({a} AS VARCHAR)" for a in args) + ")"


def _sql_truncate(expr: Expr, args: list[str]) -> str:
    multiple, unit = _sql_number(expr.param("multiple")), _sql_word(expr.param("unit"))
    if multiple == "1":
        return f"date_trunc('{unit}', {args[0]})"
    return f"time_bucket(INTERVAL '{multiple} {unit}', {args[0]}, TIMESTAMP '1970-01-01')"


_SQL_EPOCHS = {
    "ns": "epoch_ns({0})",
    "us": "epoch_us({0})",
    "ms": "CAST(floor(epoch_us({0}) / 1000) AS BIGINT)",
    "s": "CAST(floor(epoch_us({0}) / 1000000) AS BIGINT)",
    "d": "CAST(floor(epoch_us({0}) / 86400000000) AS BIGINT)",
}


def _sql_part(expr: Expr, args: list[str]) -> str:
    part = _sql_word(expr.param("part"))
    if part == "epoch":
        return _SQL_EPOCHS[expr.param("time_unit")].format(args[0])
    function = {"weekday": "isodow", "ordinal_day": "dayofyear"}.get(part, part)
    return f"CAST({function}({args[0]}) AS BIGINT)"


def _sql_strptime(expr: Expr, args: list[str]) -> str:
    function = "try_strptime" if expr.param("strict") is False else "strptime"
    parsed = f"{function}({args[0]}, {_sql_string(expr.param('format'))})"
    return f"CAST({parsed} AS {sql_type(parse_dtype(expr.param('dtype')))})"


def _sql_case(expr: Expr, args: list[str]) -> str:
    parts = [f"WHEN {args[i]} THEN {args[i + 1]}" for i in range(0, len(args) - 1, 2)]
    return f"CASE {' '.join(parts)} ELSE {args[-1]} END"


SQL_RENDERERS: dict[type[Expr], Renderer] = {
    Column: lambda e, a: _sql_quote(e.param("name")),
    Literal: _sql_literal,
    Alias: lambda e, a: f"{a[0]} AS {_sql_quote(e.param('name'))}",
    Binary: _sql_binary,
    Unary: lambda e, a: _SQL_UNARY[e.op].format(*a),
    IsIn: _sql_is_in,
    FillNull: lambda e, a: f"COALESCE({a[0]}, {a[1]})",
    Cast: lambda e, a: (
        f"{'TRY_CAST' if e.param('strict') is False else 'CAST'}"
        f"({a[0]} AS {sql_type(parse_dtype(e.param('dtype')))})"
    ),
    Case: _sql_case,
    StringFunction: _sql_string_function,
    TemporalTruncate: _sql_truncate,
    TemporalPart: _sql_part,
    StructField: lambda e, a: f"struct_extract({a[0]}, {_sql_string(e.param('name'))})",
    ParseTemporal: _sql_strptime,
    FormatTemporal: lambda e, a: f"strftime({a[0]}, {_sql_string(e.param('format'))})",
    MathFunction: lambda e, a: f"{_sql_word(e.param('fn'))}({a[0]})",
    Log: _sql_log,
    Round: lambda e, a: f"round({a[0]}, {_sql_number(e.param('decimals'))})",
    ConcatStr: _sql_concat_str,
    Horizontal: lambda e, a: f"{'greatest' if e.param('fn') == 'max' else 'least'}({', '.join(a)})",
    Aggregate: _sql_aggregate,
    UserAggregate: _user_call,
    WindowFunction: sql_window_function,
    Over: sql_over,
    UserFunction: lambda e, a: f"{_sql_quote(e.param('name'))}({', '.join(a)})",
}
"""The DuckDB SQL renderer of each node class."""
