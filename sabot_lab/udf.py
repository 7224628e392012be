"""User scalar functions: ``@sl.udf`` turns a Python function of scalars into an expression
builder, compiled with numba into a loop over the Arrow buffers.

A :class:`UDF` called with expressions returns an expression (usable in ``with_columns``,
``filter``, ``group_by`` keys and aggregates; it travels with the plan to a cluster), and
called with plain values calls the Python function. The engine side (compiling, checking the
result type at plan build, running over batches) is :mod:`sabot_lab.engine.user_functions`.

May import: :mod:`sabot_lab.expr`, :mod:`sabot_lab.engine` and the errors.

>>> import math, pyarrow as pa, sabot_lab as sl
>>> @sl.udf(return_dtype=pa.float64())
... def hyp(a, b):
...     return math.sqrt(a * a + b * b)
>>> s = sl.from_pydict({"a": [3.0, None], "b": [4.0, 1.0]})
>>> s.with_columns(hyp(sl.col("a"), sl.col("b")).alias("h")).collect().to_pydict()["h"]
[5.0, None]
>>> hyp(3.0, 4.0)
5.0
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from sabot_lab.engine.user_functions import NullHandling, RowFunction
from sabot_lab.errors import SchemaError
from sabot_lab.expr import Expr
from sabot_lab.expr.dtypes import parse_dtype
from sabot_lab.expr.nodes import to_expr

__all__ = ["UDF", "udf"]


class UDF:
    """A user function as an expression builder (made by :func:`udf`).

    >>> import pyarrow as pa, sabot_lab as sl
    >>> double = UDF(lambda x: 2 * x, pa.int64())
    >>> double(sl.col("x"))
    <lambda>(col("x"))
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        return_dtype: pa.DataType | str,
        *,
        null_handling: NullHandling = "propagate",
        vectorized: bool = False,
        compile: bool = True,
        deterministic: bool = True,
    ) -> None:
        if not callable(fn):
            raise SchemaError(f"@sl.udf decorates a function, got {type(fn).__name__}")
        self.function = RowFunction(
            fn,
            parse_dtype(return_dtype),
            null_handling=null_handling,
            vectorized=vectorized,
            compile=compile,
            deterministic=deterministic,
        )
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any) -> Any:
        """An expression if any argument is one (or there are none), else the Python
        function's value."""
        if args and not any(isinstance(a, Expr) for a in args):
            return self.function.fn(*args)
        return self.function.expression([to_expr(a) for a in args])

    def __repr__(self) -> str:
        f = self.function
        return (
            f"<sl.udf {f.name} -> {f.return_dtype}"
            f"{', vectorized' if f.vectorized else ''}{'' if f.compile else ', not compiled'}"
            f"{'' if f.deterministic else ', not deterministic'}>"
        )


def udf(
    fn: Callable[..., Any] | None = None,
    *,
    return_dtype: pa.DataType | str | None = None,
    null_handling: NullHandling = "propagate",
    vectorized: bool = False,
    compile: bool = True,
    deterministic: bool = True,
) -> Any:
    """Make a Python function of scalars usable in expressions, compiled with numba.

    The function takes one scalar per argument (numbers, booleans, dates and timestamps as
    numpy ``datetime64``, strings) and may use branches, loops, ``math`` and numpy scalar functions;
    it is compiled in nopython mode for the argument types when the plan is built, then runs
    as a loop over the Arrow buffers. A path that returns None gives a null.

    Parameters
    ----------
    return_dtype
        The Arrow type of its results (a ``pyarrow.DataType`` or a name such as ``"int64"``);
        required.
        A function whose results this type cannot hold (a float for ``int64``) is refused
        when the plan is built.
    null_handling
        ``"propagate"`` (default): a null argument gives a null result, the function is not
        called. ``"call"``: the function is called with None (only with ``compile=False``).
    vectorized
        The function takes and returns numpy arrays (nulls given as 0 and masked in the
        result); compiled with numba when it can be, else run as numpy.
    compile
        False runs the function in plain Python, row by row (any types, much slower).
    deterministic
        False: equal inputs may give different results; the optimizer then never duplicates,
        folds or moves it.

    Returns
    -------
    UDF
        Called with expressions (``f(sl.col("a"), 2)``) or with none, an expression; with
        plain values, the function's value.

    Raises
    ------
    UDFCompileError
        numba cannot compile the function (naming the construct and its line; offers
        ``compile=False``), when an expression using it is added to a plan.

    See Also
    --------
    Stream.map_batches : a function of whole record batches.

    Examples
    --------
    >>> import pyarrow as pa, sabot_lab as sl
    >>> @sl.udf(return_dtype=pa.int64())
    ... def collatz_steps(n):
    ...     steps = 0
    ...     while n > 1:
    ...         n = n // 2 if n % 2 == 0 else 3 * n + 1
    ...         steps += 1
    ...     return steps
    >>> sl.from_pydict({"n": [6, 7, None]}).select(collatz_steps(sl.col("n"))).collect().to_pydict()
    {'n': [8, 16, None]}
    >>> import statistics
    >>> @sl.udf(return_dtype="float64")
    ... def smooth(x):
    ...     return statistics.mean([x, 1.0])
    >>> sl.from_pydict({"x": [1.0]}).select(smooth(sl.col("x")))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.UDFCompileError: cannot compile user function 'smooth' for (float64): Unknown attribute 'mean' of type module 'statistics' at line 3 of the function: `return statistics.mean([x, 1.0])`; use @sl.udf(..., compile=False) to run it as plain Python per row (much slower)
    """

    if return_dtype is None:
        raise SchemaError(
            "@sl.udf needs return_dtype=, the Arrow type of the function's results "
            "(e.g. @sl.udf(return_dtype=pa.float64()))"
        )

    def wrap(function: Callable[..., Any]) -> UDF:
        assert return_dtype is not None
        return UDF(
            function,
            return_dtype,
            null_handling=null_handling,
            vectorized=vectorized,
            compile=compile,
            deterministic=deterministic,
        )

    return wrap if fn is None else wrap(fn)
