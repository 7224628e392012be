"""Compiled user functions: numba nopython loops over column buffers, compiled once per process.

:func:`compile_scalar` compiles a scalar Python function for its argument types and wraps it in
a loop over numpy views of the Arrow buffers (:func:`run_scalar`); :func:`compile_vectorized`
compiles a function of whole arrays (or keeps it as plain numpy when numba cannot). Text
arguments and results (:data:`TEXT`) travel as UTF-8 bytes and offsets
(:class:`TextColumn`): the loop decodes each row's bytes into a numba string for the
function, and encodes the strings it returns into a new buffer.
:func:`nopython` is the one numba dispatcher of a function, shared by every compilation of it,
and :func:`compile_for` the one place that compiles a function for argument types and turns
numba's failure into a :class:`~sabot_lab.errors.UDFCompileError` naming the construct and its
line. Every result is cached per process, keyed by the function and the argument types; the
machine code of the functions (and of :mod:`.text_codecs`) is kept on disk by numba and
loaded by later processes (see :func:`nopython`).

A leaf: imports numpy and :mod:`sabot_lab.errors`; numba (and :mod:`.text_codecs`) is imported
on the first compile, so ``import sabot_lab`` does not load it.

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
>>> def initials(name):
...     return name[:1].upper() + "."
>>> words = TextColumn(np.array([0, 3, 8]), np.frombuffer("annélise".encode(), np.uint8))
>>> out, _ = run_scalar(compile_scalar(initials, (TEXT,)), [words], None, 2)
>>> out.strings()
['A.', 'É.']
"""

from __future__ import annotations

import inspect
import itertools
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from sabot_lab.errors import UDFCompileError

__all__ = [
    "TEXT",
    "ScalarKernel",
    "TextColumn",
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

TEXT = np.dtype("O")
"""The argument or result type of text (UTF-8 strings), given as a :class:`TextColumn`."""


class TextColumn(NamedTuple):
    """A column of text as Arrow lays it out: row ``i`` is ``data[offsets[i]:offsets[i + 1]]``
    (UTF-8), ``offsets`` int64."""

    offsets: np.ndarray
    data: np.ndarray

    def strings(self) -> list[str]:
        """The rows as Python strings (for tests and examples).

        >>> TextColumn(np.array([0, 1, 1]), np.frombuffer(b"a", np.uint8)).strings()
        ['a', '']
        """
        raw = self.data.tobytes()
        bounds = self.offsets.tolist()
        return [raw[a:b].decode() for a, b in itertools.pairwise(bounds)]


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
    """The numba nopython dispatcher of ``fn`` (one per function and process), whose machine
    code numba keeps on disk by what ``fn`` computes (see :mod:`.function_cache`): a
    process that compiles a function, or a copy of it a plan carried by value, for argument
    types another process of the host compiled it for loads that code instead.

    >>> def twice(x):
    ...     return 2 * x
    >>> nopython(twice) is nopython(twice)
    True
    """
    with _LOCK:
        dispatcher = _DISPATCHERS.get(fn)
        if dispatcher is None:
            import numba  # first compile only: numba takes a second to import

            from sabot_lab.kernels.function_cache import cached

            dispatcher = _DISPATCHERS[fn] = numba.njit(fn)
            cached(dispatcher)
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

            result = compile_for(fn, [_numba_type(d) for d in arg_dtypes])
            optional = isinstance(result, numba.types.Optional)
            value_type = result.type if optional else result
            try:
                dtype = (
                    TEXT
                    if value_type == numba.types.unicode_type
                    else numba.np.numpy_support.as_dtype(value_type)
                )
            except Exception:
                raise UDFCompileError(
                    f"user function {_name(fn)!r} returns {value_type} for "
                    f"({_type_list(arg_dtypes)}), which is not a number, a boolean, a "
                    "timestamp or a string; return one of those, or use compile=False"
                ) from None
            kernel = _SCALARS[key] = ScalarKernel(fn, tuple(arg_dtypes), dtype, optional)
        return kernel


def run_scalar(
    kernel: ScalarKernel,
    values: Sequence[np.ndarray | TextColumn],
    valid: np.ndarray | None,
    length: int,
) -> tuple[np.ndarray | TextColumn, np.ndarray | None]:
    """Map ``kernel`` over the ``length`` rows of ``values`` (a :class:`TextColumn` for each
    text argument); rows where ``valid`` is False are skipped.

    Returns the results (a :class:`TextColumn` for text) and their validity (None: every row
    is valid). A null result (the function returned None) is invalid too.

    >>> def inverse(x):
    ...     return None if x == 0 else 1 / x
    >>> k = compile_scalar(inverse, [np.dtype("float64")])
    >>> out, ok = run_scalar(k, [np.array([2.0, 0.0])], None, 2)
    >>> out[0], ok.tolist()
    (np.float64(0.5), [True, False])
    """
    text = kernel.return_dtype == TEXT
    out = np.empty(length + 1, np.int64) if text else np.empty(length, kernel.return_dtype)
    loop = _loop(kernel, masked=valid is not None)
    flat = [part for v in values for part in (v if isinstance(v, TextColumn) else (v,))]
    out_valid = np.empty(length, dtype=np.bool_) if kernel.may_return_none else None
    extra = [out_valid] if out_valid is not None else []
    data = loop(length, *flat, *([valid] if valid is not None else []), out, *extra)
    result = TextColumn(out, data) if text else out
    return result, (out_valid if out_valid is not None else valid)


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


def _numba_type(dtype: np.dtype) -> Any:
    """The numba type a function sees for an argument of numpy type ``dtype``."""
    import numba

    return numba.types.unicode_type if dtype == TEXT else numba.from_dtype(dtype)


def _loop(kernel: ScalarKernel, masked: bool) -> Callable[..., Any]:
    """The compiled loop applying ``kernel`` to every (``masked``: every valid) row of ``n``.

    Its arguments: ``n``, each argument's values (offsets and bytes for text), ``valid`` when
    ``masked``, ``out`` (the results, or the results' offsets for text), ``out_valid`` when
    the function may return None. It returns the results' bytes for text, else None.
    """
    key = (kernel.function, kernel.arg_dtypes, masked)
    with _LOCK:
        loop = _LOOPS.get(key)
        if loop is None:
            import numba

            args, row = [], []
            for i, dtype in enumerate(kernel.arg_dtypes):
                if dtype == TEXT:
                    args += [f"o{i}", f"d{i}"]
                    row.append(f"decode(d{i}, o{i}[i], o{i}[i + 1])")
                else:
                    args.append(f"a{i}")
                    row.append(f"a{i}[i]")
            call = f"fn({', '.join(row)})"
            text = kernel.return_dtype == TEXT

            def store(pad: str) -> str:  # the result r of row i kept
                if text:
                    return f"{pad}data, used = encode(r, data, used)\n{pad}out[i + 1] = used\n"
                return f"{pad}out[i] = r\n"

            empty = "            out[i + 1] = used\n" if text else ""  # a null's offsets
            head = ", ".join(["n", *args, *(["valid"] if masked else []), "out"])
            if kernel.may_return_none:
                head += ", out_valid"
                body = (
                    f"        r = {call}\n        if r is None:\n"
                    f"            out_valid[i] = False\n{empty}        else:\n"
                    f"{store(' ' * 12)}            out_valid[i] = True\n"
                )
                skip = f"            out_valid[i] = False\n{empty}            continue\n"
            else:
                body = f"        r = {call}\n{store(' ' * 8)}"
                skip = f"{empty}            continue\n"
            guard = f"        if not valid[i]:\n{skip}" if masked else ""
            start = "    data = np.empty(64, np.uint8)\n    used = 0\n    out[0] = 0\n"
            source = (
                f"def loop({head}):\n{start if text else ''}    for i in range(n):\n"
                f"{guard}{body}    return {'data[:used]' if text else 'None'}\n"
            )
            decode, encode = _text_codecs()
            namespace: dict[str, Any] = {
                "fn": nopython(kernel.function),
                "np": np,
                "decode": decode,
                "encode": encode,
            }
            exec(source, namespace)  # the loop's arity is the function's: built per arity
            loop = _LOOPS[key] = numba.njit(namespace["loop"])
        return loop


def _text_codecs() -> tuple[Any, Any]:
    """numba functions between UTF-8 bytes and numba strings: ``decode(data, start, end)``
    and ``encode(text, data, used) -> (data, used)`` (see :mod:`.text_codecs`; imported on
    the first compile of a function of text)."""
    from sabot_lab.kernels.text_codecs import decode, encode

    return decode, encode
