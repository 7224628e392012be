"""Expression nodes: the immutable :class:`Expr` tree and one node class per operation family.

Every node stores an operation name (``op``), child expressions (``args``) and JSON-safe
parameters (``params``); that triple is what rewrites (:meth:`Expr.with_args`), structural
equality, pickling and the JSON codec (:meth:`Expr.to_dict`, :meth:`Expr.from_dict`) work on.
Each class checks on construction that the operation is one of its own, the parameters are
among its ``FIELDS`` and the number of children within its ``ARITY``.
Operations that share their shape are one class with an explicit list of its operations
(``OPS``): the fifteen binary operators are :class:`Binary`, the six one-argument math
functions :class:`MathFunction`, the string functions :class:`StringFunction`; a class per
operator would repeat the same constructor, arity and rendering fifteen times. The phases
(type rules in :mod:`sabot_lab.expr.types`, renderers in :mod:`sabot_lab.expr.render`, the
evaluator in :mod:`sabot_lab.engine.evaluate`) each dispatch on the node class.

Imports pyarrow, :mod:`sabot_lab.errors` and the ``dtypes``/``literals`` modules beside it;
the methods that need the type rules, renderers or namespaces import them when called.

>>> e = (col("price") * col("size")).alias("notional")
>>> type(e).__name__, type(e.args[0]).__name__, e.args[0].op
('Alias', 'Binary', 'mul')
>>> e.columns()
['price', 'size']
"""

from __future__ import annotations

import builtins
import datetime
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from sabot_lab.errors import SchemaError, column_not_found
from sabot_lab.expr.dtypes import dtype_name, engine_type, parse_dtype
from sabot_lab.expr.literals import encode_value

if TYPE_CHECKING:
    from sabot_lab.expr.namespaces import StringNamespace, StructNamespace, TemporalNamespace

__all__ = [
    "AGGREGATES",
    "HOLISTIC_AGGREGATES",
    "NODE_CLASSES",
    "QUANTILE_METHODS",
    "RANK_METHODS",
    "Aggregate",
    "Alias",
    "Binary",
    "Case",
    "Cast",
    "Column",
    "ConcatStr",
    "Expr",
    "FillNull",
    "FormatTemporal",
    "Horizontal",
    "IsIn",
    "Literal",
    "Log",
    "MathFunction",
    "Over",
    "ParseTemporal",
    "Round",
    "StringFunction",
    "StructField",
    "TemporalPart",
    "TemporalTruncate",
    "Unary",
    "UserAggregate",
    "UserFunction",
    "When",
    "WindowFunction",
    "node_class",
    "to_expr",
]

AGGREGATES = (
    "sum",
    "mean",
    "min",
    "max",
    "count",
    "n_unique",
    "first",
    "last",
    "std",
    "var",
    "median",
    "quantile",
)
"""Names of the aggregate functions an :class:`Expr` can apply."""

HOLISTIC_AGGREGATES = ("n_unique", "median", "quantile")
"""Aggregates that need every value of a group at once: their per-batch partials are the
values themselves, so they cannot be folded into a fixed-size state."""

RANK_METHODS = ("average", "min", "max", "dense", "ordinal")
"""The ``method`` choices of :meth:`Expr.rank` (as in Polars, but ``random``)."""

QUANTILE_METHODS = ("nearest", "higher", "lower", "midpoint", "linear", "equiprobable")
"""The ``interpolation`` choices of :meth:`Expr.quantile` (as in Polars)."""


class Expr:
    """An immutable expression node: an operation, child expressions and JSON-safe parameters.

    Build expressions with :func:`~sabot_lab.expr.col`, :func:`~sabot_lab.expr.lit`,
    :func:`~sabot_lab.expr.when`, :func:`~sabot_lab.expr.count`, Python operators
    (``+ - * / // % == != < <= > >= & | ~``) and the methods below. Use ``&``, ``|`` and ``~``
    for boolean logic: Python's ``and``/``or``/``not`` cannot be overloaded.

    >>> (col("a") + 1 > 2) & ~col("b").is_null()
    (((col("a") + 1) > 2) & ~col("b").is_null())
    """

    __slots__ = ("_columns", "_key", "_name", "_repr", "args", "op", "params")

    OPS: ClassVar[tuple[str, ...]] = ()
    """The operations this node class stands for."""
    FIELDS: ClassVar[tuple[str, ...]] = ()
    """The parameters its nodes may have."""
    ARITY: ClassVar[tuple[int, int | None]] = (1, 1)
    """The least and the most children its nodes have (None: no limit)."""

    op: str
    args: tuple[Expr, ...]
    params: tuple[tuple[str, Any], ...]
    _key: tuple[Any, ...]  # set on first use: the tree never changes
    _columns: tuple[str, ...]
    _repr: str
    _name: str

    def __init__(self, op: str, args: Sequence[Expr] = (), **params: Any) -> None:
        if op not in self.OPS:
            raise SchemaError(f"unknown expression operation {op!r}")
        unknown = sorted(set(params) - set(self.FIELDS))
        if unknown:
            raise SchemaError(f"expression operation {op!r} has no parameter {unknown[0]!r}")
        low, high = self.ARITY
        if len(args) < low or (high is not None and len(args) > high):
            raise SchemaError(f"expression operation {op!r} cannot take {len(args)} operands")
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
        return type(self)(self.op, args, **dict(self.params))

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
                if isinstance(node, Column):
                    seen[node.param("name")] = None
            object.__setattr__(self, "_columns", tuple(seen))
            return list(seen)

    def is_aggregate(self) -> bool:
        """True if this expression contains an aggregate function.

        >>> col("x").sum().alias("s").is_aggregate(), col("x").is_aggregate()
        (True, False)
        """
        return any(isinstance(node, Aggregate) for node in self.walk_rows())

    def walk_rows(self) -> Iterable[Expr]:
        """Yield this node and its descendants as :meth:`walk` does, but not the insides of
        window expressions (:meth:`over`): those see other rows of the window, not this one.

        >>> [e.op for e in (col("a") + col("a").sum().over("k")).walk_rows()]
        ['add', 'col', 'over']
        """
        yield self
        if not isinstance(self, Over):
            for arg in self.args:
                yield from arg.walk_rows()

    def is_window(self) -> bool:
        """True if this expression contains a window expression (:meth:`over`) or a window
        function (outside ``over``: over all rows).

        >>> (col("x") - col("x").mean().over("k")).is_window(), col("x").sum().is_window()
        (True, False)
        """
        return any(isinstance(node, Over | WindowFunction) for node in self.walk_rows())

    def output_name(self) -> str:
        """The column name this expression produces: its alias, else its first column's name.

        >>> (col("price") * 2).output_name(), count().output_name(), lit(1).output_name()
        ('price', 'count', 'literal')
        """
        try:
            return self._name
        except AttributeError:
            pass
        if isinstance(self, Alias | Column):
            name = str(self.param("name"))
        elif isinstance(self, Aggregate | WindowFunction) and not self.args:
            name = "count" if isinstance(self, Aggregate) else str(self.param("fn"))
        else:
            names = [a.output_name() for a in self.args]
            name = next((n for n in names if n != "literal"), "literal")
        object.__setattr__(self, "_name", name)
        return name

    def output_field(self, schema: pa.Schema) -> pa.Field:
        """The field (name and type) this expression produces on inputs of ``schema``.

        The type follows from the input types by the rules of :mod:`sabot_lab.expr.types`.
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
        from sabot_lab.expr.types import output_type  # the type rules dispatch on these classes

        for name in self.columns():
            # by index first (no list of names built); -1 also stands for a name held twice,
            # which the type rule of the column reports
            if schema.get_field_index(name) < 0 and name not in schema.names:
                raise column_not_found(name, schema.names)
        return pa.field(self.output_name(), output_type(self, schema))

    # -- naming and conversion ------------------------------------------------------
    def alias(self, name: str) -> Expr:
        """Name the output column.

        >>> (col("a") + 1).alias("b").output_name()
        'b'
        """
        return Alias("alias", [self], name=name)

    def cast(self, dtype: pa.DataType | str, strict: bool = True) -> Expr:
        """Convert to ``dtype``; floats round half to even when cast to integers (as DuckDB
        does for doubles); a view layout (``string_view``, ``binary_view``) gives the
        engine's ``string``/``binary``. A value that does not convert (text that is not a
        number, a number out of the type's range) is an error naming it, or null with
        ``strict=False`` (SQL ``TRY_CAST``).

        >>> evaluate(col("x").cast("int64"), pa.record_batch({"x": [2.5, -2.5, 3.5]})).to_pylist()
        [2, -2, 4]
        >>> evaluate(col("s").cast("int8", strict=False), pa.record_batch({"s": ["7", "x", "300"]})).to_pylist()
        [7, None, None]
        >>> col("x").cast("string_view")
        col("x").cast("string")
        """
        if not isinstance(strict, bool):
            raise TypeError(f"cast() takes strict=True or False, got {strict!r}")
        lenient = {} if strict else {"strict": False}
        return Cast("cast", [self], dtype=dtype_name(engine_type(parse_dtype(dtype))), **lenient)

    # -- operators ------------------------------------------------------------------
    def _binary(self, op: str, other: Any, reflected: bool = False) -> Expr:
        other_expr = to_expr(other)
        return Binary(op, [other_expr, self] if reflected else [self, other_expr])

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
        return Unary("neg", [self])

    def __eq__(self, other: Any) -> Expr:  # type: ignore[override]
        if other is None:
            _warn_null_comparison(self, "==", "is_null")
        return self._binary("eq", other)

    def __ne__(self, other: Any) -> Expr:  # type: ignore[override]
        if other is None:
            _warn_null_comparison(self, "!=", "is_not_null")
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
        return Unary("not", [self])

    # -- predicates and null handling -----------------------------------------------
    def is_null(self) -> Expr:
        """True where the value is null.

        >>> evaluate(col("x").is_null(), pa.record_batch({"x": [1, None]})).to_pylist()
        [False, True]
        """
        return Unary("is_null", [self])

    def is_not_null(self) -> Expr:
        """True where the value is not null.

        >>> evaluate(col("x").is_not_null(), pa.record_batch({"x": [1, None]})).to_pylist()
        [True, False]
        """
        return Unary("is_not_null", [self])

    def is_in(self, values: Iterable[Any]) -> Expr:
        """SQL ``IN``: true if the value is one of ``values`` (null for a null input).

        >>> evaluate(col("s").is_in(["OR", "CA"]), pa.record_batch({"s": ["OR", "WA", None]})).to_pylist()
        [True, False, None]
        """
        return IsIn("is_in", [self], values=[encode_value(v) for v in values])

    def fill_null(self, value: Any) -> Expr:
        """Replace nulls with ``value`` (SQL ``COALESCE``).

        >>> evaluate(col("x").fill_null(0), pa.record_batch({"x": [1, None]})).to_pylist()
        [1, 0]
        """
        return FillNull("fill_null", [self, to_expr(value)])

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
        return Round("round", [self], decimals=decimals)

    def _math(self, fn: str) -> Expr:
        return MathFunction("math", [self], fn=fn)

    def abs(self) -> Expr:
        """The absolute value, in the input's type (SQL ``ABS``); an error if it does not fit
        (the smallest integer of its type).

        >>> evaluate(col("x").abs(), pa.record_batch({"x": [-2, 3, None]})).to_pylist()
        [2, 3, None]
        """
        return self._math("abs")

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
        return Log("log", [self], base=float(base))

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
    def _agg(self, fn: str, **params: Any) -> Expr:
        return Aggregate("agg", [self], fn=fn, **params)

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

    def std(self, ddof: int = 1) -> Expr:
        """Standard deviation of non-null values as float64, divided by ``n - ddof`` (``ddof=1``:
        the sample's, SQL ``STDDEV_SAMP``; ``ddof=0``: the population's, ``STDDEV_POP``); null
        when ``n <= ddof`` (a group of one row has no sample deviation).

        >>> col("x").std(), col("x").std(ddof=0)
        (col("x").std(), col("x").std(ddof=0))
        """
        return self._agg("std", ddof=_ddof(ddof))

    def var(self, ddof: int = 1) -> Expr:
        """Variance of non-null values as float64, divided by ``n - ddof`` (SQL ``VAR_SAMP``,
        ``VAR_POP`` with ``ddof=0``); null when ``n <= ddof``.

        >>> col("x").var(ddof=0)
        col("x").var(ddof=0)
        """
        return self._agg("var", ddof=_ddof(ddof))

    def median(self) -> Expr:
        """Median of non-null values as float64: the mean of the two middle values when their
        number is even (SQL ``MEDIAN``).

        >>> col("x").median()
        col("x").median()
        """
        return self._agg("median")

    def quantile(self, quantile: float, interpolation: str = "nearest") -> Expr:
        """The ``quantile`` (0 to 1) of non-null values as float64, as Polars computes it: at
        position ``(n - 1) * quantile`` of the sorted values, between two values taking the
        ``nearest`` one, the ``lower``, the ``higher``, their ``midpoint`` or a ``linear``
        interpolation (SQL ``QUANTILE_CONT``); ``equiprobable`` takes the value at position
        ``ceil(n * quantile) - 1`` (SQL ``QUANTILE_DISC``).

        >>> col("x").quantile(0.9, interpolation="linear")
        col("x").quantile(0.9, interpolation="linear")
        """
        if isinstance(quantile, bool) or not isinstance(quantile, int | float):
            raise TypeError(f"quantile() takes a number from 0 to 1, got {quantile!r}")
        if not 0 <= quantile <= 1:
            raise ValueError(f"quantile() takes a number from 0 to 1, got {quantile!r}")
        if interpolation not in QUANTILE_METHODS:
            raise ValueError(
                f"quantile() got interpolation={interpolation!r}; use one of "
                + ", ".join(repr(m) for m in QUANTILE_METHODS)
            )
        return self._agg("quantile", quantile=float(quantile), interpolation=interpolation)

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

    # -- window functions -------------------------------------------------------------
    def over(
        self,
        partition_by: Any = None,
        *more_exprs: Any,
        order_by: Any = None,
        descending: bool | Sequence[bool] = False,
        nulls_last: bool | Sequence[bool] = True,
        frame: tuple[builtins.str, int | datetime.timedelta | None, int | datetime.timedelta | None]
        | None = None,
    ) -> Expr:
        """Compute the aggregates and window functions in this expression per window of
        rows (Polars' ``over``; SQL ``OVER (PARTITION BY ... ORDER BY ...)``): each row gets
        the value of its partition (rows with equal ``partition_by`` values; none: all rows),
        ordered by ``order_by`` (``descending``, nulls last unless ``nulls_last=False``).
        Aggregates see the whole partition unless ``frame`` narrows it to
        ``("rows", start, end)`` (row offsets from the current row: ``-2`` two rows before,
        ``0`` the row itself, None unbounded) or ``("range", start, end)`` (``start`` None
        and ``end`` 0: up to the row and the rows with the same order values, SQL's default
        frame with ``ORDER BY``; over a timestamp, offsets are ``datetime.timedelta``:
        ``("range", -timedelta(seconds=10), 0)``, the last ten seconds). Columns outside
        aggregates stay per row.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"k": ["a", "a", "b"], "t": [1, 2, 3], "x": [1, 2, 5]})
        >>> s.with_columns(share=sl.col("x") / sl.col("x").sum().over("k")).collect()["share"].to_pylist()
        [0.3333333333333333, 0.6666666666666666, 1.0]
        >>> s.select(sl.col("x").sum().over("k", order_by="t", frame=("rows", None, 0))).collect()["x"].to_pylist()
        [1, 3, 5]
        """
        from sabot_lab.expr.windows import over  # it rewrites trees of these nodes

        return over(self, [partition_by, *more_exprs], order_by, descending, nulls_last, frame)

    def rank(self, method: builtins.str = "average", *, descending: bool = False) -> Expr:
        """The rank of each value among the values of its window (``.over(...)``; without
        it: of all rows), as Polars ranks: ties share the ``average`` of their positions
        (float64), the ``min`` or ``max`` of them, ``dense`` ranks without gaps, or ``ordinal``
        numbers in row order; nulls get no rank.

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"x": [3, None, 3, 1]})
        >>> s.select(sl.col("x").rank("min")).collect()["x"].to_pylist()
        [2, None, 2, 1]
        """
        if method not in RANK_METHODS:
            raise ValueError(
                f"rank() got method={method!r}; use one of " + ", ".join(map(repr, RANK_METHODS))
            )
        if not isinstance(descending, bool):
            raise TypeError(f"rank() takes descending=True or False, got {descending!r}")
        return WindowFunction("window_fn", [self], fn="rank", method=method, descending=descending)

    def shift(self, n: int = 1, *, fill_value: Any = None) -> Expr:
        """The value ``n`` rows earlier in the window (``.over(...)``; negative ``n``: later),
        ``fill_value`` where there is no such row (SQL ``LAG``/``LEAD``).

        >>> import sabot_lab as sl
        >>> s = sl.from_pydict({"t": [2, 1, 3], "x": [20, 10, 30]})
        >>> s.select(sl.col("x").shift(1, fill_value=0).over(order_by="t")).collect()["x"].to_pylist()
        [10, 0, 20]
        """
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"shift() takes a whole number of rows, got {n!r}")
        args = [self] if fill_value is None else [self, to_expr(fill_value)]
        return WindowFunction("window_fn", args, fn="shift", n=n)

    # -- namespaces -----------------------------------------------------------------
    @property
    def str(self) -> StringNamespace:
        """String functions: ``contains``, ``like``, ``starts_with``, ``ends_with``, ``lower``,
        ``upper``, ``len``, ``slice``, ``head``, ``tail``, ``strip_chars[_start|_end]``,
        ``replace_all``, ``replace``, ``extract``, ``split_part``, ``split_index``, ``strptime``,
        ``to_date``, ``to_datetime``.

        >>> col("name").str.lower()
        col("name").str.lower()
        """
        from sabot_lab.expr.namespaces import StringNamespace  # it builds these nodes

        return StringNamespace(self)

    @property
    def struct(self) -> StructNamespace:
        """Struct functions: ``field``.

        >>> col("bid").struct.field("price")
        col("bid").struct.field("price")
        """
        from sabot_lab.expr.namespaces import StructNamespace  # it builds these nodes

        return StructNamespace(self)

    @property
    def dt(self) -> TemporalNamespace:
        """Temporal functions: ``truncate``, ``strftime``, ``offset_by``, ``epoch`` and the parts
        ``year`` … ``second``, ``quarter``, ``weekday``, ``ordinal_day``, ``week``.

        >>> col("ts").dt.truncate("1h")
        col("ts").dt.truncate("1h")
        """
        from sabot_lab.expr.namespaces import TemporalNamespace  # it builds these nodes

        return TemporalNamespace(self)

    # -- rendering ------------------------------------------------------------------
    def __repr__(self) -> builtins.str:
        try:
            return self._repr
        except AttributeError:
            from sabot_lab.expr.render import python_style  # renderers dispatch on these classes

            text = python_style(self, [repr(a) for a in self.args])
            object.__setattr__(self, "_repr", text)  # plan traces print the same trees often
            return text

    def to_sql(self) -> builtins.str:
        """Render as a DuckDB SQL expression.

        >>> when(col("x") > 0).then(lit("pos")).otherwise(lit("neg")).to_sql()
        'CASE WHEN ("x" > CAST(0 AS BIGINT)) THEN \\'pos\\' ELSE \\'neg\\' END'
        """
        from sabot_lab.expr.render import to_sql  # renderers dispatch on these classes

        return to_sql(self)

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
        return node_class(data["op"])(data["op"], args, **data.get("params", {}))


# ----------------------------------------------------------------------------- node classes


class Column(Expr):
    """The input column ``name`` (built by :func:`~sabot_lab.expr.col`)."""

    __slots__ = ()
    OPS = ("col",)
    FIELDS = ("name",)
    ARITY = (0, 0)


class Literal(Expr):
    """A constant: an encoded ``value`` and an optional ``dtype`` name (else inferred)."""

    __slots__ = ()
    OPS = ("lit",)
    FIELDS = ("value", "dtype")
    ARITY = (0, 0)

    @classmethod
    def of(cls, value: Any, dtype: pa.DataType | builtins.str | None = None) -> Literal:
        """The literal of the Python ``value`` (see :func:`~sabot_lab.expr.lit`).

        >>> Literal.of(3, "int32").params
        (('dtype', 'int32'), ('value', 3))
        """
        params: dict[builtins.str, Any] = {"value": encode_value(value)}
        if dtype is not None:
            params["dtype"] = dtype_name(parse_dtype(dtype))
        return cls("lit", **params)


class Alias(Expr):
    """Its one child, output under the column ``name``."""

    __slots__ = ()
    OPS = ("alias",)
    FIELDS = ("name",)


class Binary(Expr):
    """Two operands and an operator: arithmetic, comparison or boolean logic."""

    __slots__ = ()
    OPS = (
        "add",
        "sub",
        "mul",
        "truediv",
        "floordiv",
        "mod",
        "pow",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "and",
        "or",
    )
    ARITY = (2, 2)


class Unary(Expr):
    """One operand and an operator: negation, logical not, null tests."""

    __slots__ = ()
    OPS = ("neg", "not", "is_null", "is_not_null")


class IsIn(Expr):
    """SQL ``IN``: its child against a list of encoded ``values``."""

    __slots__ = ()
    OPS = ("is_in",)
    FIELDS = ("values",)


class FillNull(Expr):
    """SQL ``COALESCE`` of its two children."""

    __slots__ = ()
    OPS = ("fill_null",)
    ARITY = (2, 2)


class Cast(Expr):
    """Its child converted to the type named ``dtype``; ``strict`` False (stored only then):
    null where a value does not convert."""

    __slots__ = ()
    OPS = ("cast",)
    FIELDS = ("dtype", "strict")


class Case(Expr):
    """A CASE expression: children are condition, value pairs then the ``otherwise`` value.

    Built by :func:`~sabot_lab.expr.when`; it takes more branches (:meth:`when`) or its
    ``otherwise`` value (:meth:`otherwise`, null if never given).
    """

    __slots__ = ()
    OPS = ("case",)
    ARITY = (3, None)

    @classmethod
    def of(cls, branches: Sequence[tuple[Expr, Expr]], otherwise: Expr | None = None) -> Case:
        """The CASE of (condition, value) ``branches`` and an ``otherwise`` value.

        >>> Case.of([(col("x") > 0, lit(1))], lit(0))
        when((col("x") > 0)).then(1).otherwise(0)
        """
        flat = [e for pair in branches for e in pair]
        return cls("case", [*flat, otherwise if otherwise is not None else Literal.of(None)])

    def pairs(self) -> tuple[tuple[Expr, Expr], ...]:
        """The (condition, value) branches, in order.

        >>> len(when(col("x") > 0).then(1).pairs())
        1
        """
        a = self.args
        return tuple((a[i], a[i + 1]) for i in range(0, len(a) - 1, 2))

    def when(self, condition: Expr) -> When:
        """Add another condition, tested when the earlier ones do not hold.

        >>> when(col("x") > 9).then("big").when(col("x") > 0).then("small").otherwise("none").op
        'case'
        """
        return When(self.pairs(), condition)

    def otherwise(self, value: Any) -> Expr:
        """The value where no condition holds (null if never given).

        >>> when(col("x") > 0).then(1).otherwise(0).op
        'case'
        """
        return Case.of(self.pairs(), to_expr(value))


class When:
    """Builder returned by :func:`~sabot_lab.expr.when`; call :meth:`then` next."""

    def __init__(self, branches: tuple[tuple[Expr, Expr], ...], condition: Expr) -> None:
        self._branches = branches
        self._condition = condition

    def then(self, value: Any) -> Case:
        """The value where the condition holds.

        >>> when(col("x") > 0).then(1).otherwise(0)
        when((col("x") > 0)).then(1).otherwise(0)
        """
        return Case.of((*self._branches, (self._condition, to_expr(value))))


class StringFunction(Expr):
    """A string function ``fn`` of its child with the parameters :data:`STRING_PARAMS` lists."""

    __slots__ = ()
    OPS = ("str",)
    FIELDS = ("fn", "pattern", "offset", "length", "n", "characters", "value")

    STRING_PARAMS: ClassVar[dict[builtins.str, tuple[builtins.str, ...]]] = {
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
        "replace": ("pattern", "value"),
        "extract": ("pattern", "n"),
        "split_part": ("pattern", "n"),
        "split_index": ("pattern", "n"),
    }
    """Each string function's parameters, in order."""


class TemporalTruncate(Expr):
    """Timestamps rounded down to ``multiple`` of ``unit`` (written ``every``, as ``"15m"``)."""

    __slots__ = ()
    OPS = ("dt_truncate",)
    FIELDS = ("every", "multiple", "unit")


class StructField(Expr):
    """The field ``name`` of a struct column."""

    __slots__ = ()
    OPS = ("struct_field",)
    FIELDS = ("name",)


class TemporalPart(Expr):
    """A ``part`` of a date, time or timestamp (``year``, ``weekday``…), as int64; the part
    ``epoch`` is the time since 1970-01-01 in ``time_unit``."""

    __slots__ = ()
    OPS = ("dt_part",)
    FIELDS = ("part", "time_unit")


class ParseTemporal(Expr):
    """Its strings parsed by the strptime ``format`` into the date or timestamp type named
    ``dtype``; ``strict`` False (stored only then): null where a string does not parse."""

    __slots__ = ()
    OPS = ("strptime",)
    FIELDS = ("dtype", "format", "strict")


class FormatTemporal(Expr):
    """Its dates or timestamps written as text by the strftime ``format``."""

    __slots__ = ()
    OPS = ("strftime",)
    FIELDS = ("format",)


class MathFunction(Expr):
    """A one-argument math function ``fn``: ``abs``, ``floor``, ``ceil``, ``sqrt``, ``exp``,
    ``sign``."""

    __slots__ = ()
    OPS = ("math",)
    FIELDS = ("fn",)


class Log(Expr):
    """The logarithm of its child to ``base``."""

    __slots__ = ()
    OPS = ("log",)
    FIELDS = ("base",)


class Round(Expr):
    """Its child rounded to ``decimals`` digits, halves away from zero."""

    __slots__ = ()
    OPS = ("round",)
    FIELDS = ("decimals",)


class ConcatStr(Expr):
    """Its children joined as text with ``separator`` (nulls skipped with ``ignore_nulls``)."""

    __slots__ = ()
    OPS = ("concat_str",)
    FIELDS = ("separator", "ignore_nulls")
    ARITY = (1, None)


class Horizontal(Expr):
    """The row-wise ``fn`` (``max`` or ``min``) of its children, ignoring nulls."""

    __slots__ = ()
    OPS = ("horizontal",)
    FIELDS = ("fn",)
    ARITY = (1, None)


class Aggregate(Expr):
    """The aggregate ``fn`` (one of :data:`AGGREGATES`) of its child; no child: ``COUNT(*)``.
    ``std`` and ``var`` have a ``ddof``, ``quantile`` its ``quantile`` and ``interpolation``."""

    __slots__ = ()
    OPS = ("agg",)
    FIELDS = ("fn", "ddof", "quantile", "interpolation")
    ARITY: ClassVar[tuple[int, int | None]] = (0, 1)


class UserAggregate(Aggregate):
    """A user aggregate (``@sl.udaf``) of its children: ``name`` (the user's), ``function``
    (its functions, cloudpickled and base64-encoded: the node stays JSON-safe and travels
    with the plan) and ``dtype`` (the declared ``return_dtype``). ``fn`` is ``"udaf"``."""

    __slots__ = ()
    OPS = ("udaf",)
    FIELDS = ("fn", "name", "function", "dtype")
    ARITY: ClassVar[tuple[int, int | None]] = (1, None)


class WindowFunction(Expr):
    """A value from the row's place in its window (an :class:`Over`; outside one, the
    window of all rows): the ranks (``row_number``, ``rank``, ``dense_rank``,
    ``percent_rank``, ``cume_dist``, ``ntile`` of ``n`` buckets) of no child, ``rank`` of
    its child's values by ``method`` (``descending``), ``shift`` (the value ``n`` rows
    before; a second child: the value where there is none) and ``nth_value`` (the frame's
    ``n``-th value)."""

    __slots__ = ()
    OPS = ("window_fn",)
    FIELDS = ("fn", "n", "method", "descending")
    ARITY = (0, 2)


class Over(Expr):
    """Its first child (an :class:`Aggregate` or a :class:`WindowFunction`) per window: the
    rows with the same values of the next ``partitions`` children, ordered by the others
    (``descending`` and ``nulls_last`` per order key); ``frame``: None (the whole
    partition) or ``[kind, start, end]`` (``rows`` or ``range``; offsets from the current
    row, None for unbounded)."""

    __slots__ = ()
    OPS = ("over",)
    FIELDS = ("partitions", "descending", "nulls_last", "frame")
    ARITY = (1, None)


class UserFunction(Expr):
    """A user function (``@sl.udf``) of its children, row by row: ``function`` is the
    base64 cloudpickle of the engine's function object (it travels with the plan),
    ``name`` the function's name, ``return_dtype`` its declared result type, and
    ``deterministic`` False when equal inputs may give different results (the optimizer then
    never duplicates, folds or moves it)."""

    __slots__ = ()
    OPS = ("udf",)
    FIELDS = ("name", "function", "return_dtype", "deterministic")
    ARITY = (0, None)

    @classmethod
    def of(
        cls, function: Any, payload: builtins.str, args: Sequence[Expr], **params: Any
    ) -> UserFunction:
        """The node applying ``function`` (pickled as ``payload``) to ``args``; this process
        keeps using ``function`` itself (its source stays readable for compile errors).

        >>> UserFunction.of(len, "bGVu", [col("s")], name="len").function() is len
        True
        """
        _USER_FUNCTIONS.setdefault(payload, function)
        return cls("udf", list(args), function=payload, **params)

    def function(self) -> Any:
        """The function object, unpickled once per process (the compiled code is cached on it).

        >>> UserFunction("udf", [], name="f", function="bm90IGEgcGlja2xl").function()
        Traceback (most recent call last):
        ...
        sabot_lab.errors.SchemaError: cannot load user function 'f' from the plan: ...
        """
        payload = self.param("function")
        function = _USER_FUNCTIONS.get(payload)
        if function is None:
            import base64

            import cloudpickle

            try:
                function = cloudpickle.loads(base64.b64decode(payload))
            except Exception as exc:
                raise SchemaError(
                    f"cannot load user function {self.param('name')!r} from the plan: {exc}; "
                    "define it in a module every process can import, or in the notebook"
                ) from None
            _USER_FUNCTIONS[payload] = function
        return function


_USER_FUNCTIONS: dict[builtins.str, Any] = {}
"""Unpickled user functions by payload: one object (and one compile) per process."""


NODE_CLASSES: tuple[type[Expr], ...] = (
    Column,
    Literal,
    Alias,
    Binary,
    Unary,
    IsIn,
    FillNull,
    Cast,
    Case,
    StringFunction,
    StructField,
    TemporalTruncate,
    TemporalPart,
    ParseTemporal,
    FormatTemporal,
    MathFunction,
    Log,
    Round,
    ConcatStr,
    Horizontal,
    Aggregate,
    UserAggregate,
    WindowFunction,
    Over,
    UserFunction,
)
"""Every node class; each phase (types, rendering, evaluation) has an entry for each."""

_BY_OP: dict[builtins.str, type[Expr]] = {op: cls for cls in NODE_CLASSES for op in cls.OPS}


def node_class(op: builtins.str) -> type[Expr]:
    """The node class of the operation ``op``.

    >>> node_class("add").__name__
    'Binary'
    >>> node_class("nope")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: unknown expression operation 'nope'
    """
    try:
        return _BY_OP[op]
    except KeyError:
        raise SchemaError(f"unknown expression operation {op!r}") from None


def to_expr(value: Any) -> Expr:
    """``value`` itself if it is an expression, else its literal.

    >>> to_expr(col("a")), to_expr(2)
    (col("a"), 2)
    """
    return value if isinstance(value, Expr) else Literal.of(value)


def _ddof(ddof: Any) -> int:
    if isinstance(ddof, bool) or not isinstance(ddof, int) or ddof < 0:
        raise TypeError(f"ddof takes a whole number of 0 or more, got {ddof!r}")
    return ddof


def _warn_null_comparison(expr: Expr, symbol: builtins.str, method: builtins.str) -> None:
    """Warn that comparing with None gives null for every row (SQL), so a filter on it keeps
    nothing: a pandas habit that should be ``is_null()``."""
    warnings.warn(
        f"{expr!r} {symbol} None compares with NULL and is null on every row (SQL semantics), "
        f"so a filter on it keeps no row; use {expr!r}.{method}() instead",
        UserWarning,
        stacklevel=3,
    )


def _rebuild(
    op: builtins.str, args: tuple[Expr, ...], params: tuple[tuple[builtins.str, Any], ...]
) -> Expr:
    return node_class(op)(op, args, **dict(params))


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    return value
