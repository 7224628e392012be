"""Expressions: immutable trees the optimizer can see into, evaluated on Arrow batches.

An :class:`Expr` is built with :func:`col`, :func:`lit`, operators and methods; it knows which
columns it reads (:meth:`Expr.columns`), its output name and type against a schema
(:meth:`Expr.output_field`), how to evaluate itself on a ``pyarrow.RecordBatch``
(:func:`evaluate`), how to render as DuckDB SQL (:meth:`Expr.to_sql`) and how to serialize
(:meth:`Expr.to_dict`). Semantics follow SQL (DuckDB is the reference): nulls propagate,
``&``/``|`` use three-valued logic, ``/`` is true division, integer overflow is an error.

>>> import pyarrow as pa
>>> from sabot_lab.expr import col, lit, evaluate
>>> e = (col("price") * col("size")).alias("notional")
>>> e
(col("price") * col("size")).alias("notional")
>>> e.columns()
['price', 'size']
>>> batch = pa.record_batch({"price": [1.5, None], "size": [2, 3]})
>>> evaluate(e, batch).to_pylist()
[3.0, None]
>>> e.to_sql()
'("price" * "size") AS "notional"'
"""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import decimal
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import ComputeError, SchemaError, column_not_found
from sabot_lab.kernels.arith import divide_by_constant

__all__ = [
    "AGGREGATES",
    "Expr",
    "col",
    "concat_str",
    "count",
    "evaluate",
    "lit",
    "max_horizontal",
    "min_horizontal",
    "parse_dtype",
    "when",
]

AGGREGATES = ("sum", "mean", "min", "max", "count", "n_unique", "first", "last")
"""Names of the aggregate functions an :class:`Expr` can apply."""

_BINARY_SYMBOLS = {
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
_SQL_SYMBOLS = {**_BINARY_SYMBOLS, "eq": "=", "ne": "<>", "and": "AND", "or": "OR"}
_STR_PARAMS: dict[str, tuple[str, ...]] = {  # each string function's parameters, in order
    "contains": ("pattern",),
    "like": ("pattern",),
    "starts_with": ("pattern",),
    "ends_with": ("pattern",),
    "lower": (),
    "upper": (),
    "len": (),
    "slice": ("offset", "length"),
    "head": ("n",),
    "tail": ("n",),
    "strip_chars": ("characters",),
    "strip_chars_start": ("characters",),
    "strip_chars_end": ("characters",),
    "replace_all": ("pattern", "value"),
}
_WHITESPACE = " \t\n\v\f\r"
_TRUNCATE_UNITS = {
    "y": "year",
    "q": "quarter",
    "mo": "month",
    "w": "week",
    "d": "day",
    "h": "hour",
    "m": "minute",
    "s": "second",
    "ms": "millisecond",
    "us": "microsecond",
}


def parse_dtype(dtype: pa.DataType | str) -> pa.DataType:
    """Turn a type name (``"int64"``, ``"float64"``, ``"string"``, ``"timestamp[us]"``…) into a type.

    >>> parse_dtype("float64")
    DataType(double)
    >>> parse_dtype("decimal")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: unknown data type 'decimal'; use a pyarrow type or a name such as 'int64', 'float64', 'string', 'bool', 'date32', 'timestamp[us]'
    """
    if isinstance(dtype, pa.DataType):
        return dtype
    try:
        return pa.type_for_alias(dtype)
    except (ValueError, KeyError):
        raise SchemaError(
            f"unknown data type {dtype!r}; use a pyarrow type or a name such as 'int64', "
            "'float64', 'string', 'bool', 'date32', 'timestamp[us]'"
        ) from None


def _dtype_name(dtype: pa.DataType) -> str:
    name = str(dtype)
    try:
        if pa.type_for_alias(name) == dtype:
            return name
    except (ValueError, KeyError):
        pass
    raise SchemaError(f"data type {dtype} cannot be used in an expression; cast to a simpler type")


# ----------------------------------------------------------------------------- the tree


class Expr:
    """An immutable expression node: an operation, child expressions and JSON-safe parameters.

    Build expressions with :func:`col`, :func:`lit`, :func:`when`, :func:`count`, Python
    operators (``+ - * / // % == != < <= > >= & | ~``) and the methods below. Use ``&``, ``|``
    and ``~`` for boolean logic: Python's ``and``/``or``/``not`` cannot be overloaded.

    >>> (col("a") + 1 > 2) & ~col("b").is_null()
    (((col("a") + 1) > 2) & ~col("b").is_null())
    """

    __slots__ = ("_columns", "_key", "_name", "_repr", "args", "op", "params")

    op: str
    args: tuple[Expr, ...]
    params: tuple[tuple[str, Any], ...]
    _key: tuple[Any, ...]  # set on first use: the tree never changes
    _columns: tuple[str, ...]
    _repr: str
    _name: str

    def __init__(self, op: str, args: Sequence[Expr] = (), **params: Any) -> None:
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "args", tuple(args))
        object.__setattr__(self, "params", tuple(sorted(params.items())))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Expr is immutable; methods return new expressions")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by structure (the slots are read-only).

        >>> import pickle
        >>> pickle.loads(pickle.dumps(col("a") + 1)).equals(col("a") + 1)
        True
        """
        return (_rebuild, (self.op, self.args, self.params))

    def param(self, name: str, default: Any = None) -> Any:
        """Return the parameter ``name`` of this node.

        >>> col("x").param("name")
        'x'
        """
        for key, value in self.params:
            if key == name:
                return value
        return default

    def with_args(self, args: Sequence[Expr]) -> Expr:
        """Return a copy of this node with other children (used by rewrites).

        >>> (col("a") + 1).with_args([col("b"), lit(2)])
        (col("b") + 2)
        """
        return Expr(self.op, args, **dict(self.params))

    def equals(self, other: Expr) -> bool:
        """Structural equality (``==`` builds a comparison expression instead).

        >>> (col("a") + 1).equals(col("a") + 1), (col("a") + 1).equals(col("a") + 2)
        (True, False)
        """
        return self.key() == other.key()

    def key(self) -> tuple[Any, ...]:
        """A hashable structural key of the whole tree.

        >>> col("a").key() == col("a").key()
        True
        """
        try:
            return self._key
        except AttributeError:
            key = (self.op, tuple(a.key() for a in self.args), _hashable(self.params))
            object.__setattr__(self, "_key", key)  # immutable tree: computed once
            return key

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError(
            "an expression has no truth value; combine conditions with & | ~ "
            "instead of and/or/not, and compare expressions with .equals()"
        )

    # -- introspection ---------------------------------------------------------------
    def walk(self) -> Iterable[Expr]:
        """Yield this node and all descendants, parents first.

        >>> [e.op for e in (col("a") + 1).walk()]
        ['add', 'col', 'lit']
        """
        yield self
        for arg in self.args:
            yield from arg.walk()

    def columns(self) -> list[str]:
        """Names of the columns this expression reads, in first-use order.

        >>> (col("b") * col("a") + col("b")).columns()
        ['b', 'a']
        """
        try:
            return list(self._columns)
        except AttributeError:
            seen: dict[str, None] = {}
            for node in self.walk():
                if node.op == "col":
                    seen[node.param("name")] = None
            object.__setattr__(self, "_columns", tuple(seen))
            return list(seen)

    def is_aggregate(self) -> bool:
        """True if this expression contains an aggregate function.

        >>> col("x").sum().alias("s").is_aggregate(), col("x").is_aggregate()
        (True, False)
        """
        return any(node.op == "agg" for node in self.walk())

    def output_name(self) -> str:
        """The column name this expression produces: its alias, else its first column's name.

        >>> (col("price") * 2).output_name(), count().output_name(), lit(1).output_name()
        ('price', 'count', 'literal')
        """
        try:
            return self._name
        except AttributeError:
            pass
        if self.op in ("alias", "col"):
            name = str(self.param("name"))
        elif self.op == "agg" and not self.args:
            name = "count"
        else:
            names = [a.output_name() for a in self.args] if self.op != "lit" else []
            name = next((n for n in names if n != "literal"), "literal")
        object.__setattr__(self, "_name", name)
        return name

    def output_field(self, schema: pa.Schema) -> pa.Field:
        """The field (name and type) this expression produces on inputs of ``schema``.

        Raises :class:`~sabot_lab.errors.SchemaError` for unknown columns or operand types no
        kernel accepts, so mistakes surface when the plan is built, not when it runs.

        >>> schema = pa.schema([("name", pa.string()), ("price", pa.float64())])
        >>> (col("price") * 2).output_field(schema)
        pyarrow.Field<price: double>
        >>> col("name") > 3
        (col("name") > 3)
        >>> (col("name") > 3).output_field(schema)
        Traceback (most recent call last):
        ...
        sabot_lab.errors.SchemaError: cannot evaluate (col("name") > 3): '>' does not accept (string, int64)
        """
        for name in self.columns():
            if name not in schema.names:
                raise column_not_found(name, schema.names)
        if self.is_aggregate():
            dtype = _aggregate_type(self, schema)
        else:
            empty = pa.RecordBatch.from_pylist([], schema=schema)
            dtype = _eval(self, empty, build_time=True).type
        return pa.field(self.output_name(), dtype)

    # -- naming and conversion ------------------------------------------------------
    def alias(self, name: str) -> Expr:
        """Name the output column.

        >>> (col("a") + 1).alias("b").output_name()
        'b'
        """
        return Expr("alias", [self], name=name)

    def cast(self, dtype: pa.DataType | str) -> Expr:
        """Convert to ``dtype``; floats round half to even when cast to integers (as DuckDB
        does for doubles).

        >>> evaluate(col("x").cast("int64"), pa.record_batch({"x": [2.5, -2.5, 3.5]})).to_pylist()
        [2, -2, 4]
        """
        return Expr("cast", [self], dtype=_dtype_name(parse_dtype(dtype)))

    # -- operators ------------------------------------------------------------------
    def _binary(self, op: str, other: Any, reflected: bool = False) -> Expr:
        other_expr = _to_expr(other)
        return Expr(op, [other_expr, self] if reflected else [self, other_expr])

    def __add__(self, other: Any) -> Expr:
        return self._binary("add", other)

    def __radd__(self, other: Any) -> Expr:
        return self._binary("add", other, reflected=True)

    def __sub__(self, other: Any) -> Expr:
        return self._binary("sub", other)

    def __rsub__(self, other: Any) -> Expr:
        return self._binary("sub", other, reflected=True)

    def __mul__(self, other: Any) -> Expr:
        return self._binary("mul", other)

    def __rmul__(self, other: Any) -> Expr:
        return self._binary("mul", other, reflected=True)

    def __truediv__(self, other: Any) -> Expr:
        return self._binary("truediv", other)

    def __rtruediv__(self, other: Any) -> Expr:
        return self._binary("truediv", other, reflected=True)

    def __floordiv__(self, other: Any) -> Expr:
        return self._binary("floordiv", other)

    def __rfloordiv__(self, other: Any) -> Expr:
        return self._binary("floordiv", other, reflected=True)

    def __mod__(self, other: Any) -> Expr:
        return self._binary("mod", other)

    def __rmod__(self, other: Any) -> Expr:
        return self._binary("mod", other, reflected=True)

    def __neg__(self) -> Expr:
        return Expr("neg", [self])

    def __eq__(self, other: Any) -> Expr:  # type: ignore[override]
        return self._binary("eq", other)

    def __ne__(self, other: Any) -> Expr:  # type: ignore[override]
        return self._binary("ne", other)

    def __lt__(self, other: Any) -> Expr:
        return self._binary("lt", other)

    def __le__(self, other: Any) -> Expr:
        return self._binary("le", other)

    def __gt__(self, other: Any) -> Expr:
        return self._binary("gt", other)

    def __ge__(self, other: Any) -> Expr:
        return self._binary("ge", other)

    def __and__(self, other: Any) -> Expr:
        return self._binary("and", other)

    def __rand__(self, other: Any) -> Expr:
        return self._binary("and", other, reflected=True)

    def __or__(self, other: Any) -> Expr:
        return self._binary("or", other)

    def __ror__(self, other: Any) -> Expr:
        return self._binary("or", other, reflected=True)

    def __pow__(self, other: Any) -> Expr:
        return self._binary("pow", other)

    def __rpow__(self, other: Any) -> Expr:
        return self._binary("pow", other, reflected=True)

    def __invert__(self) -> Expr:
        return Expr("not", [self])

    # -- predicates and null handling -----------------------------------------------
    def is_null(self) -> Expr:
        """True where the value is null.

        >>> evaluate(col("x").is_null(), pa.record_batch({"x": [1, None]})).to_pylist()
        [False, True]
        """
        return Expr("is_null", [self])

    def is_not_null(self) -> Expr:
        """True where the value is not null.

        >>> evaluate(col("x").is_not_null(), pa.record_batch({"x": [1, None]})).to_pylist()
        [True, False]
        """
        return Expr("is_not_null", [self])

    def is_in(self, values: Iterable[Any]) -> Expr:
        """SQL ``IN``: true if the value is one of ``values`` (null for a null input).

        >>> evaluate(col("s").is_in(["OR", "CA"]), pa.record_batch({"s": ["OR", "WA", None]})).to_pylist()
        [True, False, None]
        """
        return Expr("is_in", [self], values=[_encode_value(v) for v in values])

    def fill_null(self, value: Any) -> Expr:
        """Replace nulls with ``value`` (SQL ``COALESCE``).

        >>> evaluate(col("x").fill_null(0), pa.record_batch({"x": [1, None]})).to_pylist()
        [1, 0]
        """
        return Expr("fill_null", [self, _to_expr(value)])

    # -- numbers --------------------------------------------------------------------
    def round(self, decimals: int = 0) -> Expr:
        """Round to ``decimals`` digits (negative: to tens, hundreds…), halves away from zero
        (SQL ``ROUND``). Floats keep their type; as in DuckDB the exact binary value is rounded,
        so a decimal fraction that floats cannot hold exactly may round down (``1.15`` is
        stored as 1.1499… and rounds to ``1.1``). Integers stay integers (an error if the
        result overflows); float32 values are rounded as float64.

        >>> evaluate(col("x").round(), pa.record_batch({"x": [2.5, -2.5, 0.4, None]})).to_pylist()
        [3.0, -3.0, 0.0, None]
        >>> evaluate(col("n").round(-1), pa.record_batch({"n": [15, -15, 14]})).to_pylist()
        [20, -20, 10]
        """
        if not isinstance(decimals, int) or isinstance(decimals, bool):
            raise TypeError(f"round() takes a whole number of decimals, got {decimals!r}")
        return Expr("round", [self], decimals=decimals)

    def _math(self, fn: str) -> Expr:
        return Expr("math", [self], fn=fn)

    def floor(self) -> Expr:
        """The largest whole number not above the value; integers become float64 (as in DuckDB).

        >>> evaluate(col("x").floor(), pa.record_batch({"x": [2.5, -2.5]})).to_pylist()
        [2.0, -3.0]
        """
        return self._math("floor")

    def ceil(self) -> Expr:
        """The smallest whole number not below the value; integers become float64 (as in DuckDB).

        >>> evaluate(col("x").ceil(), pa.record_batch({"x": [2.5, -2.5]})).to_pylist()
        [3.0, -2.0]
        """
        return self._math("ceil")

    def sqrt(self) -> Expr:
        """Square root as float64; NaN for negative numbers (as in DuckDB).

        >>> evaluate(col("x").sqrt(), pa.record_batch({"x": [4, -1]})).to_pylist()
        [2.0, nan]
        """
        return self._math("sqrt")

    def exp(self) -> Expr:
        """``e`` to the power of the value, as float64.

        >>> evaluate(col("x").exp(), pa.record_batch({"x": [0]})).to_pylist()
        [1.0]
        """
        return self._math("exp")

    def log(self, base: float = math.e) -> Expr:
        """Logarithm to ``base`` (natural by default; SQL ``LN``, ``LOG(b, x)``) as float64:
        ``-inf`` for 0 and NaN for negative numbers, as in DuckDB.

        >>> evaluate(col("x").log(2), pa.record_batch({"x": [8, 0]})).to_pylist()
        [3.0, -inf]
        """
        if isinstance(base, bool) or not isinstance(base, int | float) or base <= 0 or base == 1:
            raise ValueError(f"log() takes a positive base other than 1, got {base!r}")
        return Expr("log", [self], base=float(base))

    def log10(self) -> Expr:
        """Base-10 logarithm (SQL ``LOG10``, and DuckDB's one-argument ``LOG``).

        >>> evaluate(col("x").log10(), pa.record_batch({"x": [1000]})).to_pylist()
        [3.0]
        """
        return self.log(10)

    def sign(self) -> Expr:
        """-1, 0 or 1 as int8 (SQL ``SIGN``; 0 for NaN, as in DuckDB).

        >>> evaluate(col("x").sign(), pa.record_batch({"x": [-2.5, 0.0, 7.0, None]})).to_pylist()
        [-1, 0, 1, None]
        """
        return self._math("sign")

    def pow(self, exponent: Any) -> Expr:
        """The value to the power ``exponent`` (also ``**``), as float64 (SQL ``POWER``).

        >>> evaluate(col("x").pow(2), pa.record_batch({"x": [3, -2]})).to_pylist()
        [9.0, 4.0]
        """
        return self._binary("pow", exponent)

    # -- aggregates -----------------------------------------------------------------
    def _agg(self, fn: str) -> Expr:
        return Expr("agg", [self], fn=fn)

    def sum(self) -> Expr:
        """Sum of non-null values (null if there are none).

        >>> col("x").sum()
        col("x").sum()
        """
        return self._agg("sum")

    def mean(self) -> Expr:
        """Arithmetic mean of non-null values, as float64.

        >>> col("x").mean().alias("avg_x").output_name()
        'avg_x'
        """
        return self._agg("mean")

    def min(self) -> Expr:
        """Smallest non-null value.

        >>> col("x").min()
        col("x").min()
        """
        return self._agg("min")

    def max(self) -> Expr:
        """Largest non-null value.

        >>> col("x").max()
        col("x").max()
        """
        return self._agg("max")

    def count(self) -> Expr:
        """Number of non-null values (use :func:`count` for all rows).

        >>> col("x").count()
        col("x").count()
        """
        return self._agg("count")

    def n_unique(self) -> Expr:
        """Number of distinct non-null values (SQL ``COUNT(DISTINCT x)``).

        >>> col("x").n_unique()
        col("x").n_unique()
        """
        return self._agg("n_unique")

    def first(self) -> Expr:
        """Value of the group's first row in input order (null if that value is null).

        >>> col("x").first()
        col("x").first()
        """
        return self._agg("first")

    def last(self) -> Expr:
        """Value of the group's last row in input order (null if that value is null).

        >>> col("x").last()
        col("x").last()
        """
        return self._agg("last")

    # -- namespaces -----------------------------------------------------------------
    @property
    def str(self) -> StringNamespace:
        """String functions: ``contains``, ``like``, ``starts_with``, ``ends_with``, ``lower``,
        ``upper``, ``len``, ``slice``, ``head``, ``tail``, ``strip_chars[_start|_end]``,
        ``replace_all``.

        >>> col("name").str.lower()
        col("name").str.lower()
        """
        return StringNamespace(self)

    @property
    def dt(self) -> TemporalNamespace:
        """Temporal functions: ``truncate`` and the parts ``year`` … ``second``, ``quarter``,
        ``weekday``, ``ordinal_day``, ``week``.

        >>> col("ts").dt.truncate("1h")
        col("ts").dt.truncate("1h")
        """
        return TemporalNamespace(self)

    # -- rendering ------------------------------------------------------------------
    def __repr__(self) -> builtins.str:
        try:
            return self._repr
        except AttributeError:
            text = _python_style(self, [repr(a) for a in self.args])
            object.__setattr__(self, "_repr", text)  # plan traces print the same trees often
            return text

    def to_sql(self) -> builtins.str:
        """Render as a DuckDB SQL expression.

        >>> when(col("x") > 0).then(lit("pos")).otherwise(lit("neg")).to_sql()
        'CASE WHEN ("x" > CAST(0 AS BIGINT)) THEN \\'pos\\' ELSE \\'neg\\' END'
        """
        return _render(self, _sql_style)

    def to_dict(self) -> dict[builtins.str, Any]:
        """A JSON-safe dict that :meth:`from_dict` turns back into an equal expression.

        >>> e = col("x").is_in([1, 2]).alias("hit")
        >>> Expr.from_dict(e.to_dict()).equals(e)
        True
        """
        out: dict[builtins.str, Any] = {"op": self.op}
        if self.args:
            out["args"] = [a.to_dict() for a in self.args]
        if self.params:
            out["params"] = dict(self.params)
        return out

    @staticmethod
    def from_dict(data: dict[builtins.str, Any]) -> Expr:
        """Rebuild an expression from :meth:`to_dict` output.

        >>> Expr.from_dict({"op": "col", "params": {"name": "a"}})
        col("a")
        """
        args = [Expr.from_dict(a) for a in data.get("args", [])]
        return Expr(data["op"], args, **data.get("params", {}))


class StringNamespace:
    """String functions on an expression (``col("s").str.contains("x")``)."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def _fn(self, fn: str, **params: Any) -> Expr:
        for value in params.values():
            if not isinstance(value, builtins.str):
                raise TypeError(f"str.{fn}() takes a string, got {type(value).__name__} {value!r}")
        return Expr("str", [self._expr], fn=fn, **params)

    def _counted(self, fn: str, **params: int | None) -> Expr:
        for value in params.values():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(
                    f"str.{fn}() takes whole numbers, got {type(value).__name__} {value!r}"
                )
        return Expr("str", [self._expr], fn=fn, **params)

    def contains(self, pattern: str) -> Expr:
        """True where the string contains ``pattern`` (a literal, not a regex).

        >>> evaluate(col("s").str.contains("ab"), pa.record_batch({"s": ["xabx", "b", None]})).to_pylist()
        [True, False, None]
        """
        return self._fn("contains", pattern=pattern)

    def like(self, pattern: str) -> Expr:
        """SQL ``LIKE``: ``%`` matches any run of characters and ``_`` any one character; there
        is no escape character (a backslash stands for itself).

        >>> evaluate(col("s").str.like("a%c_"), pa.record_batch({"s": ["abcd", "abc", "xac1", None]})).to_pylist()
        [True, False, False, None]
        """
        return self._fn("like", pattern=pattern)

    def starts_with(self, prefix: str) -> Expr:
        """True where the string starts with ``prefix``.

        >>> evaluate(col("s").str.starts_with("a"), pa.record_batch({"s": ["ab", "ba"]})).to_pylist()
        [True, False]
        """
        return self._fn("starts_with", pattern=prefix)

    def ends_with(self, suffix: str) -> Expr:
        """True where the string ends with ``suffix``.

        >>> evaluate(col("s").str.ends_with("a"), pa.record_batch({"s": ["ab", "ba"]})).to_pylist()
        [False, True]
        """
        return self._fn("ends_with", pattern=suffix)

    def lower(self) -> Expr:
        """Lower-case the string.

        >>> evaluate(col("s").str.lower(), pa.record_batch({"s": ["AbC"]})).to_pylist()
        ['abc']
        """
        return self._fn("lower")

    def upper(self) -> Expr:
        """Upper-case the string.

        >>> evaluate(col("s").str.upper(), pa.record_batch({"s": ["AbC"]})).to_pylist()
        ['ABC']
        """
        return self._fn("upper")

    def len(self) -> Expr:
        """Number of characters, as int64.

        >>> evaluate(col("s").str.len(), pa.record_batch({"s": ["héllo"]})).to_pylist()
        [5]
        """
        return self._fn("len")

    def slice(self, offset: int, length: int | None = None) -> Expr:
        """``length`` characters (all the rest if None) from the 0-based ``offset``; a negative
        offset counts from the end. Positions before the start or past the end are simply
        absent, so ``slice(-7, 3)`` of ``"hello"`` is ``"h"`` (SQL ``SUBSTRING``, whose 1-based
        positions sl.sql() translates).

        >>> b = pa.record_batch({"s": ["hello", "hi", None]})
        >>> evaluate(col("s").str.slice(1, 3), b).to_pylist(), evaluate(col("s").str.slice(-3), b).to_pylist()
        (['ell', 'i', None], ['llo', 'hi', None])
        """
        if length is not None and not (isinstance(length, int) and length >= 0):
            raise ValueError(f"str.slice() takes a length of 0 or more, got {length!r}")
        return self._counted("slice", offset=offset, length=length)

    def head(self, n: int) -> Expr:
        """The first ``n`` characters; for a negative ``n`` all but the last ``-n`` (SQL ``LEFT``).

        >>> evaluate(col("s").str.head(2), pa.record_batch({"s": ["hello"]})).to_pylist()
        ['he']
        >>> evaluate(col("s").str.head(-2), pa.record_batch({"s": ["hello"]})).to_pylist()
        ['hel']
        """
        return self._counted("head", n=n)

    def tail(self, n: int) -> Expr:
        """The last ``n`` characters; for a negative ``n`` all but the first ``-n`` (SQL ``RIGHT``).

        >>> evaluate(col("s").str.tail(2), pa.record_batch({"s": ["hello"]})).to_pylist()
        ['lo']
        >>> evaluate(col("s").str.tail(-2), pa.record_batch({"s": ["hello"]})).to_pylist()
        ['llo']
        """
        return self._counted("tail", n=n)

    def strip_chars(self, characters: str | None = None) -> Expr:
        """Remove any of ``characters`` from both ends (None: ASCII whitespace; SQL ``TRIM``
        takes ``" "``).

        >>> evaluate(col("s").str.strip_chars(), pa.record_batch({"s": ["\\t a b \\n"]})).to_pylist()
        ['a b']
        >>> evaluate(col("s").str.strip_chars("xy"), pa.record_batch({"s": ["xyaxx"]})).to_pylist()
        ['a']
        """
        return self._fn("strip_chars", characters=_WHITESPACE if characters is None else characters)

    def strip_chars_start(self, characters: str | None = None) -> Expr:
        """Remove any of ``characters`` from the start (None: ASCII whitespace; SQL ``LTRIM``).

        >>> evaluate(col("s").str.strip_chars_start(), pa.record_batch({"s": ["  a "]})).to_pylist()
        ['a ']
        """
        chars = _WHITESPACE if characters is None else characters
        return self._fn("strip_chars_start", characters=chars)

    def strip_chars_end(self, characters: str | None = None) -> Expr:
        """Remove any of ``characters`` from the end (None: ASCII whitespace; SQL ``RTRIM``).

        >>> evaluate(col("s").str.strip_chars_end(), pa.record_batch({"s": ["  a "]})).to_pylist()
        ['  a']
        """
        return self._fn(
            "strip_chars_end", characters=_WHITESPACE if characters is None else characters
        )

    def replace_all(self, pattern: str, value: str) -> Expr:
        """Replace every occurrence of ``pattern`` (a literal, not a regex) by ``value``; an
        empty pattern changes nothing (SQL ``REPLACE``).

        >>> evaluate(col("s").str.replace_all("a", "bb"), pa.record_batch({"s": ["aXa", None]})).to_pylist()
        ['bbXbb', None]
        """
        return self._fn("replace_all", pattern=pattern, value=value)


class TemporalNamespace:
    """Date/time functions on an expression (``col("ts").dt.truncate("1h")``)."""

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def truncate(self, every: str) -> Expr:
        """Round timestamps down to a multiple of ``every``: ``"1h"``, ``"15m"``, ``"1d"``, ``"1mo"``…

        Units: ``y q mo w d h m s ms us`` (``q``: quarter); multiples above one are allowed for
        ``h m s ms us`` (buckets aligned to the Unix epoch). Weeks start on Monday.

        >>> import datetime as dt
        >>> b = pa.record_batch({"ts": [dt.datetime(2024, 5, 17, 13, 47, 5)]})
        >>> evaluate(col("ts").dt.truncate("15m"), b).to_pylist()
        [datetime.datetime(2024, 5, 17, 13, 45)]
        """
        multiple, unit = _parse_every(every)
        return Expr("dt_truncate", [self._expr], every=every, multiple=multiple, unit=unit)

    def _part(self, part: str) -> Expr:
        return Expr("dt_part", [self._expr], part=part)

    def year(self) -> Expr:
        """The year, as int64.

        >>> evaluate(col("d").dt.year(), pa.record_batch({"d": [dt.date(2024, 5, 17)]})).to_pylist()
        [2024]
        """
        return self._part("year")

    def month(self) -> Expr:
        """The month (1-12), as int64.

        >>> evaluate(col("d").dt.month(), pa.record_batch({"d": [dt.date(2024, 5, 17)]})).to_pylist()
        [5]
        """
        return self._part("month")

    def day(self) -> Expr:
        """The day of the month, as int64.

        >>> evaluate(col("d").dt.day(), pa.record_batch({"d": [dt.date(2024, 5, 17)]})).to_pylist()
        [17]
        """
        return self._part("day")

    def hour(self) -> Expr:
        """The hour (0-23), as int64.

        >>> evaluate(col("t").dt.hour(), pa.record_batch({"t": [dt.datetime(2024, 5, 17, 13)]})).to_pylist()
        [13]
        """
        return self._part("hour")

    def minute(self) -> Expr:
        """The minute (0-59), as int64.

        >>> evaluate(col("t").dt.minute(), pa.record_batch({"t": [dt.datetime(2024, 1, 1, 0, 7)]})).to_pylist()
        [7]
        """
        return self._part("minute")

    def second(self) -> Expr:
        """The second (0-59), as int64.

        >>> evaluate(col("t").dt.second(), pa.record_batch({"t": [dt.datetime(2024, 1, 1, 0, 0, 9)]})).to_pylist()
        [9]
        """
        return self._part("second")

    def quarter(self) -> Expr:
        """The quarter of the year (1-4), as int64.

        >>> evaluate(col("d").dt.quarter(), pa.record_batch({"d": [dt.date(2024, 5, 17)]})).to_pylist()
        [2]
        """
        return self._part("quarter")

    def weekday(self) -> Expr:
        """The ISO day of the week, Monday 1 to Sunday 7, as int64 (SQL ``ISODOW``).

        >>> evaluate(col("d").dt.weekday(), pa.record_batch({"d": [dt.date(2024, 5, 19)]})).to_pylist()
        [7]
        """
        return self._part("weekday")

    def ordinal_day(self) -> Expr:
        """The day of the year (1-366), as int64 (SQL ``DOY``).

        >>> evaluate(col("d").dt.ordinal_day(), pa.record_batch({"d": [dt.date(2024, 2, 1)]})).to_pylist()
        [32]
        """
        return self._part("ordinal_day")

    def week(self) -> Expr:
        """The ISO week of the year (1-53), as int64 (SQL ``WEEK``).

        >>> evaluate(col("d").dt.week(), pa.record_batch({"d": [dt.date(2024, 12, 30)]})).to_pylist()
        [1]
        """
        return self._part("week")


class When:
    """Builder returned by :func:`when`; call :meth:`then` next."""

    def __init__(self, branches: tuple[tuple[Expr, Expr], ...], condition: Expr) -> None:
        self._branches = branches
        self._condition = condition

    def then(self, value: Any) -> Then:
        """The value where the condition holds.

        >>> when(col("x") > 0).then(1).otherwise(0)
        when((col("x") > 0)).then(1).otherwise(0)
        """
        return Then((*self._branches, (self._condition, _to_expr(value))))


class Then(Expr):
    """A CASE expression that can take more ``when`` branches or an ``otherwise`` value."""

    __slots__ = ()

    def __init__(self, branches: tuple[tuple[Expr, Expr], ...], otherwise: Expr | None = None):
        flat = [e for pair in branches for e in pair]
        super().__init__("case", [*flat, otherwise if otherwise is not None else lit(None)])

    def _pairs(self) -> tuple[tuple[Expr, Expr], ...]:
        a = self.args
        return tuple((a[i], a[i + 1]) for i in range(0, len(a) - 1, 2))

    def when(self, condition: Expr) -> When:
        """Add another condition, tested when the earlier ones do not hold.

        >>> when(col("x") > 9).then("big").when(col("x") > 0).then("small").otherwise("none").op
        'case'
        """
        return When(self._pairs(), condition)

    def otherwise(self, value: Any) -> Expr:
        """The value where no condition holds (null if never given).

        >>> when(col("x") > 0).then(1).otherwise(0).op
        'case'
        """
        return Then(self._pairs(), _to_expr(value))


def col(name: str) -> Expr:
    """Refer to the input column ``name``.

    >>> col("price") > 100
    (col("price") > 100)
    """
    if not isinstance(name, str):
        raise TypeError(f"col() takes a column name (str), got {type(name).__name__}")
    return Expr("col", name=name)


def lit(value: Any, dtype: pa.DataType | str | None = None) -> Expr:
    """A constant; ``dtype`` fixes its type (else it is inferred: int64, float64, string…).

    >>> lit(0.908), lit(None), lit(3, "int32")
    (0.908, None, lit(3, "int32"))
    """
    if isinstance(value, Expr):
        return value
    params: dict[str, Any] = {"value": _encode_value(value)}
    if dtype is not None:
        params["dtype"] = _dtype_name(parse_dtype(dtype))
    return Expr("lit", **params)


def count() -> Expr:
    """Number of rows (SQL ``COUNT(*)``).

    >>> count().alias("n")
    count().alias("n")
    """
    return Expr("agg", fn="count")


def concat_str(exprs: Iterable[Any], *, separator: str = "", ignore_nulls: bool = False) -> Expr:
    """Join strings row by row with ``separator``. Nulls make the result null, or with
    ``ignore_nulls`` are left out (SQL ``CONCAT``, ``CONCAT_WS``; ``||`` propagates nulls).
    Integers and booleans are turned into text; other types need a ``cast("string")`` first.

    >>> b = pa.record_batch({"a": ["x", None], "n": [1, 2]})
    >>> evaluate(concat_str([col("a"), col("n")], separator="-"), b).to_pylist()
    ['x-1', None]
    >>> evaluate(concat_str([col("a"), col("n")], ignore_nulls=True), b).to_pylist()
    ['x1', '2']
    """
    args = [_to_expr(e) for e in exprs]
    if not args:
        raise ValueError("concat_str() needs at least one expression")
    if not isinstance(separator, str):
        raise TypeError(f"concat_str() takes a string separator, got {separator!r}")
    return Expr("concat_str", args, separator=separator, ignore_nulls=bool(ignore_nulls))


def _horizontal(fn: str, exprs: Sequence[Any]) -> Expr:
    if not exprs:
        raise ValueError(f"{fn}_horizontal() needs at least one expression")
    return Expr("horizontal", [_to_expr(e) for e in exprs], fn=fn)


def max_horizontal(*exprs: Any) -> Expr:
    """The largest of several values in each row, ignoring nulls (null if all are); NaN is
    larger than any number, as in DuckDB's ``GREATEST``. Values take their common type.

    >>> b = pa.record_batch({"x": [1, None, None], "y": [2.5, 3.0, None]})
    >>> evaluate(max_horizontal(col("x"), col("y")), b).to_pylist()
    [2.5, 3.0, None]
    """
    return _horizontal("max", exprs)


def min_horizontal(*exprs: Any) -> Expr:
    """The smallest of several values in each row, ignoring nulls (null if all are), as SQL's
    ``LEAST``.

    >>> evaluate(min_horizontal(col("x"), 0), pa.record_batch({"x": [-1, 5, None]})).to_pylist()
    [-1, 0, 0]
    """
    return _horizontal("min", exprs)


def when(condition: Expr) -> When:
    """Start a CASE expression: ``when(cond).then(v).when(...).then(...).otherwise(v)``.

    A null condition counts as false, as in SQL.

    >>> b = pa.record_batch({"x": [5, -1, None]})
    >>> evaluate(when(col("x") > 0).then(lit("pos")).otherwise(lit("other")), b).to_pylist()
    ['pos', 'other', 'other']
    """
    return When((), condition)


def _rebuild(op: str, args: tuple[Expr, ...], params: tuple[tuple[str, Any], ...]) -> Expr:
    return Expr(op, args, **dict(params))


def _to_expr(value: Any) -> Expr:
    return value if isinstance(value, Expr) else lit(value)


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return value


def _parse_every(every: str) -> tuple[int, str]:
    digits = "".join(ch for ch in every if ch.isdigit())
    suffix = every[len(digits) :]
    if not digits or suffix not in _TRUNCATE_UNITS or not every.startswith(digits):
        raise ValueError(
            f"cannot truncate to {every!r}; use a count and a unit like '1h', '15m', '1d' "
            f"(units: {', '.join(_TRUNCATE_UNITS)})"
        )
    multiple, unit = int(digits), _TRUNCATE_UNITS[suffix]
    if multiple < 1 or (multiple > 1 and unit in ("year", "quarter", "month", "week", "day")):
        raise ValueError(f"cannot truncate to {every!r}: use 1 for calendar units (y, q, mo, w, d)")
    return multiple, unit


# ----------------------------------------------------------------------------- literal values

_TAGGED = ("$datetime", "$date", "$decimal", "$bytes", "$timedelta")


def _encode_value(value: Any) -> Any:
    """Turn a Python literal into a JSON-safe value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if hasattr(value, "item"):  # numpy scalars
        return _encode_value(value.item())
    raise TypeError(f"cannot use {value!r} ({type(value).__name__}) as a literal")


def _decode_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    (tag, raw), *_ = value.items()
    decoders: dict[str, Callable[[Any], Any]] = {
        "$datetime": dt.datetime.fromisoformat,
        "$date": dt.date.fromisoformat,
        "$timedelta": lambda s: dt.timedelta(seconds=s),
        "$decimal": decimal.Decimal,
        "$bytes": base64.b64decode,
    }
    return decoders[tag](raw)


def _literal_scalar(expr: Expr) -> pa.Scalar:
    value = _decode_value(expr.param("value"))
    dtype = expr.param("dtype")
    return pa.scalar(value, type=parse_dtype(dtype) if dtype else None)


# ----------------------------------------------------------------------------- evaluation

Value: TypeAlias = "pa.Array | pa.ChunkedArray | pa.Scalar"


def evaluate(expr: Expr, batch: pa.RecordBatch) -> pa.Array:
    """Evaluate a row-wise expression on a batch; constants are broadcast to the batch length.

    Raises :class:`~sabot_lab.errors.ComputeError` naming the expression when the data makes
    evaluation fail (integer overflow, division by zero, a failed cast).

    >>> evaluate(lit(7) // col("x"), pa.record_batch({"x": [2, -2]})).to_pylist()
    [3, -3]
    >>> evaluate(lit(7) // col("x"), pa.record_batch({"x": [0]}))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ComputeError: cannot evaluate (7 // col("x")): divide by zero
    """
    result = _eval(expr, batch, build_time=False)
    if isinstance(result, pa.Scalar):
        return pa.repeat(result, batch.num_rows)
    if isinstance(result, pa.ChunkedArray):
        return result.combine_chunks()
    return result


def _eval(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    try:
        return _EVALUATORS[expr.op](expr, batch, build_time)
    except (SchemaError, ComputeError):
        raise
    except KeyError as exc:
        if expr.op not in _EVALUATORS:
            raise SchemaError(f"unknown expression operation {expr.op!r}") from None
        raise ComputeError(f"cannot evaluate {expr!r}: {exc}") from exc
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise SchemaError(
            f"cannot evaluate {expr!r}: {_explain_type_error(expr, batch, exc)}"
        ) from None
    except (pa.ArrowInvalid, ValueError, ZeroDivisionError, OverflowError) as exc:
        kind = SchemaError if build_time else ComputeError
        raise kind(f"cannot evaluate {expr!r}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _explain_type_error(expr: Expr, batch: pa.RecordBatch, exc: Exception) -> str:
    symbol = _BINARY_SYMBOLS.get(expr.op, expr.param("fn") or expr.op)
    try:
        types = ", ".join(str(_eval(a, batch, True).type) for a in expr.args)
    except Exception:  # a child's own error is reported when it is evaluated first
        return _first_line(exc)
    return f"'{symbol}' does not accept ({types})"


def _args(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> list[Value]:
    values = [_eval(a, batch, build_time) for a in expr.args]
    typed = [v.type for v in values if not pa.types.is_null(v.type)]
    if typed and len(typed) < len(values):  # a NULL literal takes its partner's type
        values = [v.cast(typed[0]) if pa.types.is_null(v.type) else v for v in values]
    return values


def _is_integer(value: Value) -> bool:
    return pa.types.is_integer(value.type)


def _is_number(value: Value) -> bool:
    t = value.type
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _as_float(value: Value) -> Value:
    t = value.type
    if pa.types.is_integer(t) or pa.types.is_decimal(t) or pa.types.is_null(t):
        return value.cast(pa.float64())
    return value


def _eval_col(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    name = expr.param("name")
    index = batch.schema.get_field_index(name)
    if index < 0:
        raise column_not_found(name, batch.schema.names)
    column = batch.column(index)
    if pa.types.is_dictionary(column.type):  # kernels take the plain values
        return column.dictionary_decode()
    return column


def _eval_lit(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    return _literal_scalar(expr)


def _checked(name: str) -> Callable[[Expr, pa.RecordBatch, bool], Value]:
    fn = getattr(pc, name)

    def evaluate_checked(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
        return fn(*_args(expr, batch, build_time))

    return evaluate_checked


def _eval_truediv(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    left, right = (_as_float(v) for v in _args(expr, batch, build_time))
    return pc.divide(left, right)


def _integer_operands(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> list[Value]:
    values = _args(expr, batch, build_time)
    if not all(_is_integer(v) for v in values):
        symbol = _BINARY_SYMBOLS[expr.op]
        types = ", ".join(str(v.type) for v in values)
        raise SchemaError(
            f"cannot evaluate {expr!r}: '{symbol}' takes integers, got ({types}); "
            "use '/' for true division"
        )
    return values


def _eval_floordiv(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    left, right = _integer_operands(expr, batch, build_time)
    fast = _by_constant(left, right, remainder=False)
    if fast is not None:
        return fast
    return pc.divide_checked(left, right)  # integer division truncates toward zero, as in SQL


def _eval_mod(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    values = _args(expr, batch, build_time)
    if all(_is_number(v) for v in values) and not all(_is_integer(v) for v in values):
        left, right = values
        return _float_remainder(left, right, batch.num_rows)
    left, right = _integer_operands(expr, batch, build_time)
    fast = _by_constant(left, right, remainder=True)
    if fast is not None:
        return fast
    quotient = pc.divide_checked(left, right)
    return pc.subtract_checked(left, pc.multiply_checked(quotient, right))


def _float_remainder(left: Value, right: Value, length: int) -> pa.Array:
    """``left % right`` of floats as C's ``fmod`` (the sign of ``left``; NaN for ``x % 0``)."""
    a, b = (_broadcast(_as_float(v).cast(pa.float64()), length) for v in (left, right))
    missing = pc.or_(pc.is_null(a), pc.is_null(b)).to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        out = np.fmod(a.to_numpy(zero_copy_only=False), b.to_numpy(zero_copy_only=False))
    return pa.array(out, type=pa.float64(), mask=missing)


def _by_constant(left: Value, right: Value, remainder: bool) -> pa.Array | None:
    """``left // right`` or ``left % right`` by the division kernel when ``left`` is an int64
    column and ``right`` a constant of at most 2**31 in size, other than 0 and -1; None
    otherwise (the checked kernels then handle it, errors included)."""
    if not (
        isinstance(left, pa.Array)
        and left.type == pa.int64()
        and isinstance(right, pa.Scalar)
        and right.is_valid
        and right.as_py() not in (0, -1)
        and abs(right.as_py()) <= 1 << 31
    ):
        return None
    values = np.frombuffer(left.buffers()[1], dtype=np.int64, count=left.offset + len(left))
    out = np.empty(len(left), dtype=np.int64)
    divide_by_constant(values[left.offset :], right.as_py(), out, remainder)
    validity = left.buffers()[0] if left.null_count else None
    if validity is not None and left.offset:
        validity = pc.is_valid(left).buffers()[1]
    return pa.Array.from_buffers(pa.int64(), len(left), [validity, pa.py_buffer(out)])


def _eval_is_in(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    (value,) = _args(expr, batch, build_time)
    raw = [_decode_value(v) for v in expr.param("values")]
    has_null = any(v is None for v in raw)
    value_set = pa.array([v for v in raw if v is not None], type=None if raw else value.type)
    if len(value_set) and value_set.type != value.type:
        value_set = value_set.cast(value.type)
    found = pc.is_in(value, value_set=value_set.cast(value.type))
    # SQL: NULL IN (...) is NULL; x IN (..., NULL) is NULL when x is not found.
    unknown = pc.is_null(value)
    if has_null:
        unknown = pc.or_(unknown, pc.invert(found))
    return pc.if_else(unknown, pa.scalar(None, pa.bool_()), found)


def _eval_fill_null(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    value, fill = _args(expr, batch, build_time)
    if fill.type != value.type:
        fill = fill.cast(value.type)
    return pc.coalesce(value, fill)


def _eval_cast(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    (value,) = _args(expr, batch, build_time)
    target = parse_dtype(expr.param("dtype"))
    if pa.types.is_floating(value.type) and pa.types.is_integer(target):
        value = pc.round(value, round_mode="half_to_even")
    return pc.cast(value, target, safe=True)


def _eval_case(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    values = [_eval(a, batch, build_time) for a in expr.args]  # NULL branches take the result type
    *pairs, otherwise = values
    conditions = [_broadcast(c, batch.num_rows) for c in pairs[0::2]]
    choices = [*pairs[1::2], otherwise]
    target = _common_type(choices)
    choices = [_broadcast(c.cast(target), batch.num_rows) for c in choices]
    return pc.case_when(pc.make_struct(*conditions), *choices)


def _common_type(values: Sequence[Value]) -> pa.DataType:
    """The type all of ``values`` convert to (int64 and float64 give float64); null if none
    has a type."""
    typed = [v.type for v in values if not pa.types.is_null(v.type)]
    target = typed[0] if typed else pa.null()
    for t in typed[1:]:
        if t != target:
            target = (
                pa.unify_schemas(
                    [pa.schema([("v", target)]), pa.schema([("v", t)])],
                    promote_options="permissive",
                )
                .field("v")
                .type
            )
    return target


def _broadcast(value: Value, length: int) -> pa.Array:
    if isinstance(value, pa.Scalar):
        return pa.repeat(value, length)
    return value


def _slice(value: Value, offset: int, length: int | None) -> Value:
    """Characters ``[offset, offset + length)``, a negative offset counting from the end;
    positions outside the string are dropped (so a window reaching past the start is cut
    there rather than moved)."""
    stop = None if length is None else offset + length
    if offset < 0 and stop is not None and stop >= 0:
        stop = None  # the window reaches the end of every string
    return pc.utf8_slice_codeunits(value, start=offset, stop=stop)


def _tail(value: Value, n: int) -> Value:
    if n == 0:
        return pc.utf8_slice_codeunits(value, start=0, stop=0)
    return pc.utf8_slice_codeunits(value, start=-n)


def _replace_all(value: Value, pattern: str, replacement: str) -> Value:
    if not pattern:  # as in DuckDB (and Arrow's kernel would never finish)
        return value
    return pc.replace_substring(value, pattern=pattern, replacement=replacement)


_STR_KERNELS: dict[str, Callable[..., Value]] = {
    "contains": lambda v, p: pc.match_substring(v, pattern=p["pattern"]),
    "like": lambda v, p: pc.match_substring_regex(v, pattern=_like_regex(p["pattern"])),
    "starts_with": lambda v, p: pc.starts_with(v, pattern=p["pattern"]),
    "ends_with": lambda v, p: pc.ends_with(v, pattern=p["pattern"]),
    "lower": lambda v, p: pc.utf8_lower(v),
    "upper": lambda v, p: pc.utf8_upper(v),
    "len": lambda v, p: pc.utf8_length(v).cast(pa.int64()),
    "slice": lambda v, p: _slice(v, p["offset"], p["length"]),
    "head": lambda v, p: pc.utf8_slice_codeunits(v, start=0, stop=p["n"]),
    "tail": lambda v, p: _tail(v, p["n"]),
    "strip_chars": lambda v, p: pc.utf8_trim(v, characters=p["characters"]),
    "strip_chars_start": lambda v, p: pc.utf8_ltrim(v, characters=p["characters"]),
    "strip_chars_end": lambda v, p: pc.utf8_rtrim(v, characters=p["characters"]),
    "replace_all": lambda v, p: _replace_all(v, p["pattern"], p["value"]),
}


def _like_regex(pattern: str) -> str:
    """A LIKE pattern as an anchored regular expression (``%`` any run, ``_`` any character)."""
    wildcards = {"%": ".*", "_": "."}
    return "(?s)^" + "".join(wildcards.get(ch) or re.escape(ch) for ch in pattern) + "$"


def _eval_str(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    (value,) = _args(expr, batch, build_time)
    if not (pa.types.is_string(value.type) or pa.types.is_large_string(value.type)):
        raise SchemaError(
            f"cannot evaluate {expr!r}: str.{expr.param('fn')} takes strings, got {value.type}"
        )
    return _STR_KERNELS[expr.param("fn")](value, dict(expr.params))


def _require_temporal(expr: Expr, value: Value) -> None:
    if not pa.types.is_temporal(value.type):
        raise SchemaError(f"cannot evaluate {expr!r}: takes a date or timestamp, got {value.type}")


def _eval_dt_truncate(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    (value,) = _args(expr, batch, build_time)
    _require_temporal(expr, value)
    return pc.floor_temporal(value, multiple=expr.param("multiple"), unit=expr.param("unit"))


_PART_KERNELS: dict[str, Callable[[Value], Value]] = {
    "weekday": lambda v: pc.day_of_week(v, count_from_zero=False, week_start=1),
    "ordinal_day": pc.day_of_year,
    "week": pc.iso_week,
}


def _eval_dt_part(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    (value,) = _args(expr, batch, build_time)
    _require_temporal(expr, value)
    part = expr.param("part")
    kernel = _PART_KERNELS.get(part) or getattr(pc, part)
    return kernel(value).cast(pa.int64())


def _require_number(expr: Expr, value: Value) -> None:
    if not (_is_number(value) or pa.types.is_null(value.type)):
        name = expr.param("fn") or expr.op
        raise SchemaError(f"cannot evaluate {expr!r}: {name} takes numbers, got {value.type}")


def _eval_math(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    (value,) = _args(expr, batch, build_time)
    _require_number(expr, value)
    fn = expr.param("fn")
    if fn == "sign":
        if pa.types.is_null(value.type):
            return value.cast(pa.int8())
        if pa.types.is_floating(value.type):  # NaN has sign 0 in DuckDB
            value = pc.if_else(pc.is_nan(value), pa.scalar(0, value.type), value)
        return pc.sign(value).cast(pa.int8())
    if fn in ("floor", "ceil"):
        if not pa.types.is_floating(value.type):
            value = _as_float(value)
        return pc.floor(value) if fn == "floor" else pc.ceil(value)
    value = _as_float(value).cast(pa.float64())
    return pc.sqrt(value) if fn == "sqrt" else pc.exp(value)


def _eval_log(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    (value,) = _args(expr, batch, build_time)
    _require_number(expr, value)
    value = _as_float(value).cast(pa.float64())
    base = expr.param("base")
    if base == math.e:
        return pc.ln(value)
    if base == 10:
        return pc.log10(value)
    if base == 2:
        return pc.log2(value)
    return pc.divide(pc.ln(value), math.log(base))


def _eval_pow(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    values = _args(expr, batch, build_time)
    for value in values:
        _require_number(expr, value)
    base, exponent = (_as_float(v).cast(pa.float64()) for v in values)
    return pc.power(base, exponent)


def _eval_round(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    (value,) = _args(expr, batch, build_time)
    _require_number(expr, value)
    decimals = expr.param("decimals")
    if _is_integer(value):
        return _round_integer(expr, value, decimals)
    if pa.types.is_decimal(value.type):
        return pc.round(value, ndigits=decimals, round_mode="half_towards_infinity")
    rounded = _round_float(_broadcast(value, batch.num_rows).cast(pa.float64()), decimals)
    return rounded.cast(value.type) if pa.types.is_floating(value.type) else rounded


def _round_float(values: pa.Array, decimals: int) -> pa.Array:
    """Doubles rounded to ``decimals`` as DuckDB does it: the exact binary value is rounded,
    halves away from zero. ``x * 10**d`` is rounded, with its rounding error (computed
    exactly, Dekker's product) settling products that look like halves; where the result is
    not finite a finite value gives itself (``d >= 0``) or 0 (``d < 0``)."""
    x = values.to_numpy(zero_copy_only=False)
    scale = 10.0 ** abs(decimals) if abs(decimals) <= 308 else math.inf
    with np.errstate(all="ignore"):
        if decimals >= 0:
            y = x * scale
            error = _product_error(x, scale, y)  # x * scale - y, exactly
        else:
            y = x / scale
            back = y * scale
            error = (x - back) - _product_error(y, scale, back)  # (x - y * scale), its sign
        whole = np.trunc(y)
        half = np.abs(y - whole)
        away = (half > 0.5) | ((half == 0.5) & (error * y >= 0))
        rounded = whole + np.where(away, np.sign(y), 0.0)
        out = rounded / scale if decimals >= 0 else rounded * scale
        fallback = x if decimals >= 0 else np.where(np.isfinite(x), 0.0, x)
        out = np.where(np.isfinite(out), out, fallback)
    return pa.array(out, type=pa.float64(), mask=pc.is_null(values).to_numpy(zero_copy_only=False))


def _product_error(a: np.ndarray, b: float, product: np.ndarray) -> np.ndarray:
    """``a * b - product`` exactly, for ``product = a * b`` rounded (Dekker's TwoProduct)."""

    def split(v: Any) -> tuple[Any, Any]:
        c = 134217729.0 * v  # 2**27 + 1
        high = c - (c - v)
        return high, v - high

    a_high, a_low = split(a)
    b_high, b_low = split(b)
    return ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low


def _round_integer(expr: Expr, value: Value, decimals: int) -> Value:
    """Integers rounded to ``10**-decimals`` with halves away from zero, in their own type."""
    if decimals >= 0:
        return value
    if -decimals > 18:
        raise SchemaError(
            f"cannot evaluate {expr!r}: 10**{-decimals} does not fit in 64 bits; "
            "cast the value to float64 to round it"
        )
    step = 10**-decimals
    wide = value.cast(pa.int64())
    quotient = pc.divide(wide, step)  # truncates toward zero
    remainder = pc.subtract(wide, pc.multiply(quotient, step))
    away = pc.greater_equal(pc.multiply(pc.abs(remainder), 2), step)
    quotient = pc.add(quotient, pc.if_else(away, pc.sign(wide).cast(pa.int64()), 0))
    return pc.multiply_checked(quotient, step).cast(value.type)


def _eval_concat_str(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    values = []
    for value in (_eval(a, batch, build_time) for a in expr.args):
        t = value.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            if not (pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_null(t)):
                raise SchemaError(
                    f"cannot evaluate {expr!r}: concat_str takes strings, integers and "
                    f'booleans, got {t}; cast the value with .cast("string") first'
                )
            value = value.cast(pa.string())
        values.append(value)
    separator = expr.param("separator")
    if not expr.param("ignore_nulls"):
        return pc.binary_join_element_wise(*values, separator)
    # Each present value with the separator in front (absent ones empty), joined, without the
    # first separator. (Arrow's own null_handling="skip" drops rows where all are null.)
    pieces = [pc.fill_null(pc.binary_join_element_wise(separator, v, ""), "") for v in values]
    return pc.utf8_slice_codeunits(pc.binary_join_element_wise(*pieces, ""), start=len(separator))


def _eval_horizontal(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    values = [_eval(a, batch, build_time) for a in expr.args]
    target = _common_type(values)
    values = [v.cast(target) for v in values]
    if len(values) == 1:
        return values[0]
    maximum = expr.param("fn") == "max"
    kernel = pc.max_element_wise if maximum else pc.min_element_wise
    result = kernel(*values, skip_nulls=True)
    if maximum and pa.types.is_floating(target):  # NaN is the largest number in DuckDB
        nan = pc.fill_null(pc.is_nan(values[0]), False)
        for v in values[1:]:
            nan = pc.or_(nan, pc.fill_null(pc.is_nan(v), False))
        result = pc.if_else(nan, pa.scalar(math.nan, target), result)
    return result


def _eval_alias(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    return _eval(expr.args[0], batch, build_time)


def _eval_agg(expr: Expr, batch: pa.RecordBatch, build_time: bool) -> Value:
    raise SchemaError(
        f"aggregate {expr!r} used where a row-wise expression is expected; "
        "use it inside group_by(...).agg(...) or agg(...)"
    )


_EVALUATORS: dict[str, Callable[[Expr, pa.RecordBatch, bool], Value]] = {
    "col": _eval_col,
    "lit": _eval_lit,
    "alias": _eval_alias,
    "add": _checked("add_checked"),
    "sub": _checked("subtract_checked"),
    "mul": _checked("multiply_checked"),
    "neg": _checked("negate_checked"),
    "truediv": _eval_truediv,
    "floordiv": _eval_floordiv,
    "mod": _eval_mod,
    "eq": _checked("equal"),
    "ne": _checked("not_equal"),
    "lt": _checked("less"),
    "le": _checked("less_equal"),
    "gt": _checked("greater"),
    "ge": _checked("greater_equal"),
    "and": _checked("and_kleene"),
    "or": _checked("or_kleene"),
    "not": _checked("invert"),
    "is_null": _checked("is_null"),
    "is_not_null": _checked("is_valid"),
    "is_in": _eval_is_in,
    "fill_null": _eval_fill_null,
    "cast": _eval_cast,
    "case": _eval_case,
    "str": _eval_str,
    "dt_truncate": _eval_dt_truncate,
    "dt_part": _eval_dt_part,
    "math": _eval_math,
    "log": _eval_log,
    "pow": _eval_pow,
    "round": _eval_round,
    "concat_str": _eval_concat_str,
    "horizontal": _eval_horizontal,
    "agg": _eval_agg,
}


def _aggregate_type(expr: Expr, schema: pa.Schema) -> pa.DataType:
    """Output type of an expression containing aggregates, checked against the input schema."""
    if expr.op == "alias":
        return _aggregate_type(expr.args[0], schema)
    if expr.op != "agg":
        # An expression over aggregates, e.g. col("x").sum() / count(): type it on a
        # one-row batch where every aggregate is replaced by a typed null column.
        fields = []
        replaced: list[Expr] = []
        for i, arg in enumerate(expr.args):
            if arg.is_aggregate():
                name = f"__agg{i}"
                fields.append(pa.field(name, _aggregate_type(arg, schema)))
                replaced.append(col(name))
            else:
                replaced.append(arg)
        inner = pa.schema([*schema, *fields])
        return expr.with_args(replaced).output_field(inner).type
    fn = expr.param("fn")
    if not expr.args:
        return pa.int64()
    (arg,) = expr.args
    if arg.is_aggregate():
        raise SchemaError(f"cannot nest aggregates in {expr!r}")
    input_type = arg.output_field(schema).type
    if fn in ("count", "n_unique"):
        return pa.int64()
    if fn in ("first", "last"):
        return input_type
    if fn == "mean":
        if not (pa.types.is_integer(input_type) or pa.types.is_floating(input_type)):
            raise SchemaError(f"cannot evaluate {expr!r}: mean takes numbers, got {input_type}")
        return pa.float64()
    kernel = {"sum": pc.sum, "min": pc.min, "max": pc.max}[fn]
    try:
        return kernel(pa.array([], type=input_type)).type
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise SchemaError(f"cannot evaluate {expr!r}: {fn} does not accept {input_type}") from None


# ----------------------------------------------------------------------------- rendering


def _python_literal(expr: Expr) -> str:
    value = _decode_value(expr.param("value"))
    dtype = expr.param("dtype")
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return f'lit({text}, "{dtype}")' if dtype else text


def _python_style(expr: Expr, args: list[str]) -> str:
    op = expr.op
    if op == "col":
        return f'col("{expr.param("name")}")'
    if op == "lit":
        return _python_literal(expr)
    if op in _BINARY_SYMBOLS:
        return f"({args[0]} {_BINARY_SYMBOLS[op]} {args[1]})"
    if op == "neg":
        return f"-{args[0]}"
    if op == "not":
        return f"~{args[0]}"
    if op in ("is_null", "is_not_null"):
        return f"{args[0]}.{op}()"
    if op == "alias":
        return f'{args[0]}.alias("{expr.param("name")}")'
    if op == "cast":
        return f'{args[0]}.cast("{expr.param("dtype")}")'
    if op == "is_in":
        return f"{args[0]}.is_in({[_decode_value(v) for v in expr.param('values')]!r})"
    if op == "fill_null":
        return f"{args[0]}.fill_null({args[1]})"
    if op == "agg":
        return f"{args[0]}.{expr.param('fn')}()" if args else "count()"
    if op == "str":
        fn = expr.param("fn")
        values = [expr.param(name) for name in _STR_PARAMS[fn]]
        if fn.startswith("strip_chars") and values == [_WHITESPACE]:
            values = []
        while values and values[-1] is None:
            values.pop()
        inner = ", ".join(f'"{v}"' if isinstance(v, builtins.str) else repr(v) for v in values)
        return f"{args[0]}.str.{fn}({inner})"
    if op in ("math", "log", "round"):
        value = {"math": "", "log": expr.param("base"), "round": expr.param("decimals")}[op]
        name = expr.param("fn") or op
        if op == "log" and value in (10.0, math.e):
            name, value = ("log10", "") if value == 10.0 else ("log", "")
        return f"{args[0]}.{name}({value})"
    if op == "concat_str":
        options = "" if not expr.param("separator") else f', separator="{expr.param("separator")}"'
        options += ", ignore_nulls=True" if expr.param("ignore_nulls") else ""
        return f"concat_str([{', '.join(args)}]{options})"
    if op == "horizontal":
        return f"{expr.param('fn')}_horizontal({', '.join(args)})"
    if op == "dt_truncate":
        return f'{args[0]}.dt.truncate("{expr.param("every")}")'
    if op == "dt_part":
        return f"{args[0]}.dt.{expr.param('part')}()"
    if op == "case":
        parts = [f"when({args[i]}).then({args[i + 1]})" for i in range(0, len(args) - 1, 2)]
        return ".".join(parts) + f".otherwise({args[-1]})"
    return f"{op}({', '.join(args)})"


def _sql_literal(expr: Expr) -> str:
    value = _decode_value(expr.param("value"))
    dtype = expr.param("dtype")
    if value is None:
        text = "NULL"
    elif isinstance(value, bool):
        text = "TRUE" if value else "FALSE"
    elif isinstance(value, int):
        text = f"CAST({value} AS BIGINT)"
    elif isinstance(value, float):
        text = f"CAST('{value!r}' AS DOUBLE)"
    elif isinstance(value, str):
        text = "'" + value.replace("'", "''") + "'"
    elif isinstance(value, dt.datetime):
        text = f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    elif isinstance(value, dt.date):
        text = f"DATE '{value.isoformat()}'"
    else:
        text = f"'{value}'"
    return f"CAST({text} AS {_sql_type(parse_dtype(dtype))})" if dtype else text


def _sql_type(dtype: pa.DataType) -> str:
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
    raise SchemaError(f"no SQL type for {dtype}")


def _sql_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_style(expr: Expr, args: list[str]) -> str:
    op = expr.op
    if op == "col":
        return _sql_quote(expr.param("name"))
    if op == "lit":
        return _sql_literal(expr)
    if op in ("truediv",):
        return f"(CAST({args[0]} AS DOUBLE) / {args[1]})"
    if op == "pow":
        return f"power({args[0]}, {args[1]})"
    if op in _SQL_SYMBOLS:
        return f"({args[0]} {_SQL_SYMBOLS[op]} {args[1]})"
    simple = {
        "neg": "(-{0})",
        "not": "(NOT {0})",
        "is_null": "({0} IS NULL)",
        "is_not_null": "({0} IS NOT NULL)",
        "fill_null": "COALESCE({0}, {1})",
    }
    if op in simple:
        return simple[op].format(*args)
    if op == "alias":
        return f"{args[0]} AS {_sql_quote(expr.param('name'))}"
    if op == "cast":
        target = parse_dtype(expr.param("dtype"))
        return f"CAST({args[0]} AS {_sql_type(target)})"
    if op == "is_in":
        values = [_sql_literal(lit(_decode_value(v))) for v in expr.param("values")]
        return f"({args[0]} IN ({', '.join(values)}))" if values else "(NULL AND FALSE)"
    if op == "agg":
        fn = expr.param("fn")
        if not args:
            return "COUNT(*)"
        templates = {
            "mean": "AVG({0})",
            "n_unique": "COUNT(DISTINCT {0})",
            "first": "FIRST({0})",
            "last": "LAST({0})",
        }
        return templates.get(fn, f"{fn.upper()}({{0}})").format(args[0])
    if op == "str":
        return _sql_string_function(expr, args[0])
    if op == "math":
        return f"{expr.param('fn')}({args[0]})"
    if op == "log":
        base = expr.param("base")
        if base == math.e:
            return f"ln({args[0]})"
        return f"log10({args[0]})" if base == 10 else f"log({base!r}, {args[0]})"
    if op == "round":
        return f"round({args[0]}, {expr.param('decimals')})"
    if op == "concat_str":
        separator = _sql_string(expr.param("separator"))
        if expr.param("ignore_nulls"):
            return f"concat_ws({separator}, {', '.join(args)})"
        return "(" + f" || {separator} || ".join(f"CAST({a} AS VARCHAR)" for a in args) + ")"
    if op == "horizontal":
        return f"{'greatest' if expr.param('fn') == 'max' else 'least'}({', '.join(args)})"
    if op == "dt_truncate":
        multiple, unit = expr.param("multiple"), expr.param("unit")
        if multiple == 1:
            return f"date_trunc('{unit}', {args[0]})"
        return f"time_bucket(INTERVAL '{multiple} {unit}', {args[0]}, TIMESTAMP '1970-01-01')"
    if op == "dt_part":
        part = expr.param("part")
        function = {"weekday": "isodow", "ordinal_day": "dayofyear"}.get(part, part)
        return f"CAST({function}({args[0]}) AS BIGINT)"
    if op == "case":
        parts = [f"WHEN {args[i]} THEN {args[i + 1]}" for i in range(0, len(args) - 1, 2)]
        return f"CASE {' '.join(parts)} ELSE {args[-1]} END"
    raise SchemaError(f"no SQL rendering for expression operation {op!r}")


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_string_function(expr: Expr, value: str) -> str:
    fn = expr.param("fn")
    p = {name: expr.param(name) for name in _STR_PARAMS[fn]}
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
        offset, length = p["offset"], p["length"]
        start = offset + 1 if offset >= 0 else offset
        return f"substring({value}, {start}{'' if length is None else f', {length}'})"
    if fn in ("head", "tail"):
        return f"{'left' if fn == 'head' else 'right'}({value}, {p['n']})"
    if fn.startswith("strip_chars"):
        sql_fn = {"strip_chars": "trim", "strip_chars_start": "ltrim"}.get(fn, "rtrim")
        text = p["characters"]
        printable = text.isprintable()
        chars = _sql_string(text) if printable else " || ".join(f"chr({ord(c)})" for c in text)
        return f"{sql_fn}({value}, {chars})"
    return f"replace({value}, {quoted['pattern']}, {quoted['value']})"


def _render(expr: Expr, style: Callable[[Expr, list[str]], str]) -> str:
    return style(expr, [_render(a, style) for a in expr.args])
