"""Compiled user functions: numba nopython loops over column buffers, compiled once per process.

:func:`compile_scalar` compiles a scalar Python function for its argument types and wraps it in
a loop over numpy views of the Arrow buffers (:func:`run_scalar`); :func:`compile_vectorized`
compiles a function of whole arrays (or keeps it as plain numpy when numba cannot).
:func:`nopython` is the one numba dispatcher of a function, shared by every compilation of it,
and :func:`compile_for` the one place that compiles a function for argument types and turns
numba's failure into a :class:`~sabot_lab.errors.UDFCompileError` naming the construct and its
line. Every result is cached per process, keyed by the function and the argument types.

A leaf: imports numpy and :mod:`sabot_lab.errors`; numba is imported on the first compile, so
``import sabot_lab`` does not load it.

>>> import math
>>> import numpy as np
>>> def hyp(a, b):
...     return math.sqrt(a * a + b * b)
>>> kernel = compile_scalar(hyp, (np.dtype("float64"), np.dtype("int64")))
>>> kernel.return_dtype
dtype('float64')
>>> out, valid = run_scalar(kernel, [np.array([3.0, 1.0]), np.array([4, 0])], np.array([True, False]), 2)
>>> out[0], valid.tolist()
(np.float64(5.0), [True, False])
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sabot_lab.errors import UDFCompileError

__all__ = [
    "ScalarKernel",
    "compile_for",
    "compile_scalar",
    "compile_vectorized",
    "nopython",
    "run_scalar",
]

_LOCK = threading.RLock()  # one compile of a function at a time (threads share the caches)
_DISPATCHERS: dict[Callable[..., Any], Any] = {}
_RESULTS: dict[tuple[Any, ...], Any] = {}
_SCALARS: dict[tuple[Any, ...], ScalarKernel] = {}
_LOOPS: dict[tuple[Any, ...], Callable[..., None]] = {}
_VECTORIZED: dict[tuple[Any, ...], Callable[..., Any]] = {}


@dataclass(frozen=True)
class ScalarKernel:
    """A scalar function compiled for its argument types, with the loop that maps it over rows.

    ``return_dtype`` is the numpy type of its results; ``may_return_none`` is True when some
    path of the function returns None (a null result).
    """

    function: Callable[..., Any]
    arg_dtypes: tuple[np.dtype, ...]
    return_dtype: np.dtype
    may_return_none: bool


def nopython(fn: Callable[..., Any]) -> Any:
    """The numba nopython dispatcher of ``fn`` (one per function and process).

    >>> def twice(x):
    ...     return 2 * x
    >>> nopython(twice) is nopython(twice)
    True
    """
    with _LOCK:
        dispatcher = _DISPATCHERS.get(fn)
        if dispatcher is None:
            import numba  # first compile only: numba takes a second to import

            dispatcher = _DISPATCHERS[fn] = numba.njit(fn)
        return dispatcher


def compile_for(fn: Callable[..., Any], arg_types: Sequence[Any]) -> Any:
    """Compile ``fn`` for the numba types ``arg_types``; return the numba type of its result.

    Raises :class:`~sabot_lab.errors.UDFCompileError` naming the construct numba could not
    compile, its line in ``fn``, and the fix.

    >>> import numba
    >>> def halve(x):
    ...     return x / 2
    >>> compile_for(halve, [numba.int64])
    float64
    >>> def bad(x):
    ...     return object()
    >>> compile_for(bad, [numba.int64])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sabot_lab.errors.UDFCompileError: cannot compile user function 'bad' for (int64): Untyped global name 'object'... at line 2 of the function: `return object()`; ...
    """
    key = (fn, tuple(arg_types))
    with _LOCK:
        if key not in _RESULTS:
            dispatcher = nopython(fn)
            try:
                dispatcher.compile(tuple(arg_types))
            except Exception as exc:  # numba's TypingError, LoweringError, UnsupportedError...
                raise compile_error(fn, arg_types, exc) from None
            _RESULTS[key] = dispatcher.overloads[tuple(arg_types)].signature.return_type
        return _RESULTS[key]


def compile_scalar(fn: Callable[..., Any], arg_dtypes: Sequence[np.dtype]) -> ScalarKernel:
    """Compile the scalar function ``fn`` for arguments of the numpy types ``arg_dtypes``.

    >>> def clip(x):
    ...     return x if x < 10 else 10
    >>> compile_scalar(clip, [np.dtype("int32")]).return_dtype
    dtype('int64')
    """
    key = (fn, tuple(arg_dtypes))
    with _LOCK:
        kernel = _SCALARS.get(key)
        if kernel is None:
            import numba

            result = compile_for(fn, [numba.from_dtype(d) for d in arg_dtypes])
            optional = isinstance(result, numba.types.Optional)
            value_type = result.type if optional else result
            try:
                dtype = numba.np.numpy_support.as_dtype(value_type)
            except Exception:
                raise UDFCompileError(
                    f"user function {_name(fn)!r} returns {value_type} for "
                    f"({_type_list(arg_dtypes)}), which is not a number, a boolean or a "
                    "timestamp; return one of those, or use compile=False"
                ) from None
            kernel = _SCALARS[key] = ScalarKernel(fn, tuple(arg_dtypes), dtype, optional)
        return kernel


def run_scalar(
    kernel: ScalarKernel, values: Sequence[np.ndarray], valid: np.ndarray | None, length: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Map ``kernel`` over the ``length`` rows of ``values``; rows where ``valid`` is False are
    skipped.

    Returns the results and their validity (None: every row is valid). A null result (the
    function returned None) is invalid too.

    >>> def inverse(x):
    ...     return None if x == 0 else 1 / x
    >>> k = compile_scalar(inverse, [np.dtype("float64")])
    >>> out, ok = run_scalar(k, [np.array([2.0, 0.0])], None, 2)
    >>> out[0], ok.tolist()
    (np.float64(0.5), [True, False])
    """
    out = np.empty(length, dtype=kernel.return_dtype)
    loop = _loop(kernel, masked=valid is not None)
    if kernel.may_return_none:
        out_valid = np.empty(length, dtype=np.bool_)
        loop(*values, *([valid] if valid is not None else []), out, out_valid)
        return out, out_valid
    loop(*values, *([valid] if valid is not None else []), out)
    return out, valid


def compile_vectorized(
    fn: Callable[..., Any], arg_dtypes: Sequence[np.dtype]
) -> Callable[..., Any]:
    """``fn`` of whole arrays compiled with numba when it can be, else ``fn`` itself (numpy).

    >>> def scaled(x):
    ...     return x * 2.5
    >>> compile_vectorized(scaled, [np.dtype("float64")])(np.array([2.0])).tolist()
    [5.0]
    """
    key = (fn, tuple(arg_dtypes))
    with _LOCK:
        compiled = _VECTORIZED.get(key)
        if compiled is None:
            import numba

            try:
                compile_for(fn, [numba.from_dtype(d)[::1] for d in arg_dtypes])
                compiled = nopython(fn)
            except UDFCompileError:
                compiled = fn  # plain numpy: still whole-array speed
            _VECTORIZED[key] = compiled
        return compiled


def compile_error(
    fn: Callable[..., Any], arg_types: Sequence[Any], exc: Exception
) -> UDFCompileError:
    """The error for numba's failure ``exc`` to compile ``fn``: the construct, the line, the fix.

    >>> def f(x):
    ...     return x
    >>> print(compile_error(f, ["int64"], ValueError("no way")))  # doctest: +ELLIPSIS
    cannot compile user function 'f' for (int64): no way; use @sl.udf(..., compile=False) to run it as plain Python per row (much slower)
    """
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    construct = next(
        (
            ln
            for ln in lines
            if not ln.startswith(("Failed in", "During:", "File ", "^", "<source elided>"))
            and "Traceback" not in ln
        ),
        lines[0] if lines else type(exc).__name__,
    )
    construct = re.sub(r"Module\(<module '([^']+)'[^>]*>\)", r"module '\1'", construct)
    where = ""
    match = re.search(r'File "([^"]*)", line (\d+)', text)
    if match:
        where = _line_in(fn, match.group(1), int(match.group(2)))
    return UDFCompileError(
        f"cannot compile user function {_name(fn)!r} for ({_type_list(arg_types)}): "
        f"{construct}{where}; use @sl.udf(..., compile=False) to run it as plain Python per "
        "row (much slower)"
    )


def _line_in(fn: Callable[..., Any], filename: str, line: int) -> str:
    """`` at line N of the function: `source` `` for a line number of ``fn``'s file."""
    try:
        source, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return f" at line {line} of {filename}"
    offset = line - first
    if 0 <= offset < len(source):
        return f" at line {offset + 1} of the function: `{source[offset].strip()}`"
    return f" at line {line} of {filename}"


def _name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__name__", repr(fn)))


def _type_list(types: Sequence[Any]) -> str:
    return ", ".join(str(t) for t in types)


def _loop(kernel: ScalarKernel, masked: bool) -> Callable[..., None]:
    """The compiled loop applying ``kernel`` to every (``masked``: every valid) row."""
    key = (kernel.function, kernel.arg_dtypes, masked)
    with _LOCK:
        loop = _LOOPS.get(key)
        if loop is None:
            import numba

            args = [f"a{i}" for i in range(len(kernel.arg_dtypes))]
            row = ", ".join(f"{a}[i]" for a in args)
            head = ", ".join([*args, *(["valid"] if masked else []), "out"])
            if kernel.may_return_none:
                body = (
                    f"        r = fn({row})\n"
                    "        if r is None:\n"
                    "            out_valid[i] = False\n"
                    "        else:\n"
                    "            out[i] = r\n"
                    "            out_valid[i] = True\n"
                )
                head += ", out_valid"
                skip = "            out_valid[i] = False\n            continue\n"
            else:
                body = f"        out[i] = fn({row})\n"
                skip = "            continue\n"
            guard = f"        if not valid[i]:\n{skip}" if masked else ""
            source = f"def loop({head}):\n    for i in range(out.shape[0]):\n{guard}{body}"
            namespace: dict[str, Any] = {"fn": nopython(kernel.function)}
            exec(source, namespace)  # the loop's arity is the function's: built per arity
            loop = _LOOPS[key] = numba.njit(namespace["loop"])
        return loop
