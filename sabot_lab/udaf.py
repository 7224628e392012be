"""User aggregates compiled with numba: ``@sl.udaf``.

A user aggregate is a class of four functions over a *state* (a number, or a tuple of numbers
and booleans), the shape Flink's ``AggregateFunction`` (createAccumulator / accumulate / merge
/ getValue) and Spark's ``Aggregator`` (zero / reduce / merge / finish) give it:

- ``init()``: the empty state, e.g. ``(0.0, 0.0)``; its values fix the state's types;
- ``accumulate(state, *values)``: the state after one more row (one value per input);
- ``merge(state, other)``: two partial states as one (partials of batches, of agents);
- ``finalize(state)``: the group's value; None gives null.

The functions are plain functions of numbers (no ``self``): numba compiles them in nopython
mode into loops over the Arrow buffers, so they run at native speed. A call on expressions
is an aggregate expression, used like ``col("x").sum()`` in ``group_by(...).agg(...)``,
``agg(...)`` and windows; it is merged across partial aggregates (in-process batches, a
cluster's agents) and checkpointed with the other aggregates' state. Rows with a null in
any input are skipped; a group without any other row gives null, as SQL's ``SUM`` does.
Compile errors and a ``finalize`` result that ``return_dtype`` cannot hold are reported when
the plan is built, naming the function and line; ``compile=False`` runs the same functions
as plain Python (much slower), for code numba cannot compile.

SQL: a registered function that is a :class:`UserAggregateFunction` becomes an aggregate
when called with the argument expressions (``fn(*args)`` returns the expression).

>>> import pyarrow as pa, sabot_lab as sl
>>> @sl.udaf(return_dtype=pa.float64())
... class WeightedMean:
...     def init():
...         return (0.0, 0.0)
...     def accumulate(state, x, w):
...         return (state[0] + x * w, state[1] + w)
...     def merge(state, other):
...         return (state[0] + other[0], state[1] + other[1])
...     def finalize(state):
...         return state[0] / state[1] if state[1] != 0 else None
>>> df = sl.from_pydict({"k": ["a", "a", "b"], "x": [1.0, 3.0, 5.0], "w": [1.0, 3.0, None]})
>>> df.group_by("k").agg(WeightedMean(sl.col("x"), sl.col("w")).alias("wm")).sort("k").collect().to_pylist()
[{'k': 'a', 'wm': 2.5}, {'k': 'b', 'wm': None}]
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Callable
from typing import Any, overload

import cloudpickle
import pyarrow as pa

from sabot_lab.expr import Expr, col, parse_dtype
from sabot_lab.expr.dtypes import dtype_name
from sabot_lab.expr.nodes import UserAggregate
from sabot_lab.kernels.user_aggregates import AggregateFunctions, state_dtype

__all__ = ["UserAggregateFunction", "udaf"]

_METHODS = ("init", "accumulate", "merge", "finalize")


class UserAggregateFunction:
    """A user aggregate made by :func:`udaf`: call it on expressions (or column names) to
    get its aggregate expression.

    >>> import pyarrow as pa, sabot_lab as sl
    >>> @sl.udaf(return_dtype="int64")
    ... class CountPositive:
    ...     def init():
    ...         return 0
    ...     def accumulate(n, x):
    ...         return n + (1 if x > 0 else 0)
    ...     def merge(n, other):
    ...         return n + other
    ...     def finalize(n):
    ...         return n
    >>> CountPositive
    udaf CountPositive(return_dtype=int64)
    >>> CountPositive("x").alias("n")
    CountPositive(col("x")).alias("n")
    """

    def __init__(self, functions: AggregateFunctions, return_dtype: pa.DataType) -> None:
        self.functions = functions
        self.return_dtype = return_dtype
        self.__name__ = functions.name
        self._payload = base64.b64encode(cloudpickle.dumps(functions)).decode()

    def __call__(self, *inputs: Expr | str) -> Expr:
        """The aggregate of ``inputs`` (expressions, or column names), one per value
        ``accumulate`` takes after the state."""
        expected = len(inspect.signature(self.functions.accumulate).parameters) - 1
        if len(inputs) != expected:
            raise TypeError(
                f"{self.__name__} takes {expected} input(s) (accumulate's parameters after "
                f"the state), got {len(inputs)}"
            )
        args = [col(e) if isinstance(e, str) else e for e in inputs]
        for arg in args:
            if not isinstance(arg, Expr):
                raise TypeError(
                    f"{self.__name__} takes expressions or column names, got {arg!r}; "
                    f"e.g. {self.__name__}(sl.col('x'))"
                )
        return UserAggregate(
            "udaf",
            args,
            fn="udaf",
            name=self.__name__,
            function=self._payload,
            dtype=dtype_name(self.return_dtype),
        )

    def __repr__(self) -> str:
        return f"udaf {self.__name__}(return_dtype={self.return_dtype})"


@overload
def udaf(
    cls: type, *, return_dtype: pa.DataType | str, compile: bool = True
) -> UserAggregateFunction: ...
@overload
def udaf(
    cls: None = None, *, return_dtype: pa.DataType | str, compile: bool = True
) -> Callable[[type], UserAggregateFunction]: ...
def udaf(
    cls: type | None = None, *, return_dtype: pa.DataType | str, compile: bool = True
) -> UserAggregateFunction | Callable[[type], UserAggregateFunction]:
    """Make a class of ``init``, ``accumulate``, ``merge`` and ``finalize`` functions a user
    aggregate (see the module's documentation for what each does).

    Parameters
    ----------
    return_dtype
        The type of the aggregate's values: a number type or ``bool``, as a pyarrow type or
        its name (``"float64"``).
    compile
        Compile the functions with numba in nopython mode (the default); False runs them as
        plain Python, for code numba cannot compile (much slower).

    >>> import math, pyarrow as pa, sabot_lab as sl
    >>> @sl.udaf(return_dtype=pa.float64())
    ... class GeometricMean:
    ...     def init():
    ...         return (0.0, 0)
    ...     def accumulate(state, x):
    ...         return (state[0] + math.log(x), state[1] + 1)
    ...     def merge(state, other):
    ...         return (state[0] + other[0], state[1] + other[1])
    ...     def finalize(state):
    ...         return math.exp(state[0] / state[1])
    >>> sl.from_pydict({"x": [1.0, 4.0, 16.0]}).agg(GeometricMean("x")).collect().to_pylist()
    [{'x': 4.0}]
    """
    dtype = parse_dtype(return_dtype)
    if not (
        pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)
    ):
        raise TypeError(
            f"udaf return_dtype must be a number type or bool, got {dtype}; return numbers "
            "from finalize and convert the column afterwards"
        )

    def wrap(cls: type) -> UserAggregateFunction:
        if not isinstance(cls, type):
            raise TypeError(
                "@sl.udaf decorates a class with init, accumulate, merge and finalize "
                f"functions, got {cls!r}"
            )
        found = {m: _function(cls, m) for m in _METHODS}
        initial = found["init"]()
        values = initial if isinstance(initial, tuple) else (initial,)
        if not values:
            raise TypeError(f"{cls.__name__}.init returns an empty tuple; return the state")
        for value in values:
            state_dtype(value)
        functions = AggregateFunctions(
            cls.__name__,
            values,
            found["accumulate"],
            found["merge"],
            found["finalize"],
            tuple_state=isinstance(initial, tuple),
            compile=compile,
        )
        return UserAggregateFunction(functions, dtype)

    return wrap if cls is None else wrap(cls)


def _function(cls: type, name: str) -> Callable[..., Any]:
    found = inspect.getattr_static(cls, name, None)
    if isinstance(found, staticmethod | classmethod):
        found = found.__func__
    if not callable(found):
        raise TypeError(
            f"{cls.__name__} has no {name} function; a user aggregate defines "
            + ", ".join(_METHODS)
            + " (plain functions, without self)"
        )
    return found
