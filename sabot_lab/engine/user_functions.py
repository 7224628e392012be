"""User scalar functions (``@sl.udf``) as the engine runs them: typed at plan build, applied to
Arrow arrays.

A :class:`RowFunction` is what a :class:`~sabot_lab.expr.nodes.UserFunction` node carries
(cloudpickled, so it travels with the plan to every agent). :meth:`RowFunction.output_type`
compiles the function for the argument types when the plan is built, so a compile failure or
a result type that does not fit ``return_dtype`` fails there, not mid-run;
:meth:`RowFunction.apply` runs it on a batch's argument arrays: compiled with numba over the
Arrow buffers (:mod:`sabot_lab.kernels.udf_compile`), as a numpy function of whole arrays
(``vectorized``), or per row in plain Python (``compile=False``).

Imports pyarrow, numpy, cloudpickle, :mod:`sabot_lab.errors`, :mod:`sabot_lab.expr` and
:mod:`sabot_lab.kernels`.

>>> import math
>>> def hyp(a, b):
...     return math.sqrt(a * a + b * b)
>>> f = RowFunction(hyp, pa.float64())
>>> f.output_type([pa.int64(), pa.float64()])
DataType(double)
>>> f.apply([pa.array([3, None]), pa.array([4.0, 1.0])], 2).to_pylist()
[5.0, None]
"""

from __future__ import annotations

import base64
import functools
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Literal

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import ComputeError, SchemaError, UDFCompileError, UDFError, in_package
from sabot_lab.expr import Expr
from sabot_lab.expr.dtypes import dtype_name
from sabot_lab.expr.nodes import UserFunction
from sabot_lab.kernels.udf_compile import (
    TEXT,
    TextColumn,
    compile_scalar,
    compile_vectorized,
    run_scalar,
)

__all__ = ["NULL_HANDLING", "RowFunction"]

NullHandling = Literal["propagate", "call"]
NULL_HANDLING: tuple[str, ...] = ("propagate", "call")
"""``propagate``: a null argument gives a null result, the function is not called (SQL's
``RETURNS NULL ON NULL INPUT``); ``call``: the function is called with None for nulls (SQL's
``CALLED ON NULL INPUT``; plain Python only)."""


class RowFunction:
    """A user's scalar function with its declared result type and options.

    ``vectorized``: ``fn`` takes and returns numpy arrays (nulls given as 0, results masked);
    ``compile``: numba nopython (False: plain Python per row); ``deterministic``: equal
    inputs give equal results.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        return_dtype: pa.DataType,
        *,
        null_handling: NullHandling = "propagate",
        vectorized: bool = False,
        compile: bool = True,
        deterministic: bool = True,
    ) -> None:
        if null_handling not in NULL_HANDLING:
            raise _option_error(
                fn, f"null_handling takes one of {NULL_HANDLING}, got {null_handling!r}"
            )
        if null_handling == "call" and (compile or vectorized):
            raise _option_error(
                fn,
                "null_handling='call' hands None to the function, which compiled and vectorized "
                "functions cannot take; use compile=False, or null_handling='propagate'",
            )
        self.fn = fn
        self.name = str(getattr(fn, "__name__", "udf"))
        self.return_dtype = return_dtype
        self.null_handling = null_handling
        self.vectorized = vectorized
        self.compile = compile
        self.deterministic = deterministic
        self._payload: str | None = None

    def expression(self, args: Sequence[Expr]) -> Expr:
        """The expression applying this function to ``args`` row by row.

        >>> from sabot_lab.expr import col
        >>> RowFunction(abs, pa.int64(), compile=False).expression([col("x")])
        abs(col("x"))
        """
        if self._payload is None:
            self._payload = base64.b64encode(cloudpickle.dumps(self)).decode()
        return UserFunction.of(
            self,
            self._payload,
            args,
            name=self.name,
            return_dtype=dtype_name(self.return_dtype),
            deterministic=self.deterministic,
        )

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_payload"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _payload=None)

    # -- plan build -----------------------------------------------------------------------
    def output_type(self, arg_types: Sequence[pa.DataType]) -> pa.DataType:
        """Check the function against its argument types (compiling it) and return its type.

        >>> def ratio(a, b):
        ...     return a / b
        >>> RowFunction(ratio, pa.int64()).output_type([pa.int64(), pa.int64()])
        Traceback (most recent call last):
        ...
        sabot_lab.errors.SchemaError: user function 'ratio' returns float64 for (int64, int64), but its return_dtype is int64; ...
        """
        if self.compile and not self.vectorized:
            kernel = compile_scalar(
                self.fn, [self._numpy_type(t, i) for i, t in enumerate(arg_types)]
            )
            self._check_result(kernel.return_dtype, arg_types)
        elif self.vectorized:
            empty = [np.empty(0, self._numpy_type(t, i)) for i, t in enumerate(arg_types)]
            try:
                result = np.asarray(self._vectorized(empty)(*empty))
            except Exception as exc:
                raise self._raised(exc) from None
            self._check_result(result.dtype, arg_types)
        return self.return_dtype

    def _numpy_type(self, dtype: pa.DataType, position: int) -> np.dtype:
        """The numpy type the function sees for an argument of Arrow type ``dtype``."""
        if pa.types.is_dictionary(dtype):
            dtype = dtype.value_type
        if (
            pa.types.is_integer(dtype)
            or pa.types.is_floating(dtype)
            or pa.types.is_boolean(dtype)
            or pa.types.is_timestamp(dtype)
            or pa.types.is_duration(dtype)
            or pa.types.is_date(dtype)
        ):
            return _numpy_dtype(dtype)
        if _is_text(dtype) and not self.vectorized:
            return TEXT
        takes = "numbers, booleans, dates and timestamps" + ("" if self.vectorized else ", strings")
        raise UDFCompileError(
            f"user function {self.name!r} takes {dtype} as argument {position + 1}; "
            f"{'vectorized' if self.vectorized else 'compiled'} functions take {takes}: cast it "
            '(e.g. .cast("float64")) or use @sl.udf(..., compile=False)'
        )

    def _check_result(self, result: np.dtype, arg_types: Sequence[pa.DataType]) -> None:
        """Refuse a result type that ``return_dtype`` cannot hold exactly."""
        target = self.return_dtype
        wanted = _result_kinds(target)
        if not wanted:
            raise SchemaError(
                f"user function {self.name!r} declares return_dtype {target}; compiled "
                "functions return numbers, booleans, dates, timestamps or strings "
                "(vectorized ones no strings): use @sl.udf(..., compile=False) for other types"
            )
        if result.kind not in wanted:
            raise SchemaError(
                f"user function {self.name!r} returns {result} for "
                f"({', '.join(map(str, arg_types))}), but its return_dtype is {target}; "
                f"declare the type it returns or convert the result in the function"
            )

    def _vectorized(self, values: Sequence[np.ndarray]) -> Callable[..., Any]:
        if not self.compile:
            return self.fn
        return compile_vectorized(self.fn, [v.dtype for v in values])

    # -- run --------------------------------------------------------------------------------
    def apply(self, args: Sequence[pa.Array], length: int) -> pa.Array:
        """The function's results for the ``length`` rows of ``args`` (arrays of that length).

        >>> RowFunction(lambda x: x * 10, pa.int64(), compile=False).apply([pa.array([1, None])], 2)
        <pyarrow.lib.Int64Array object at ...>
        [
          10,
          null
        ]
        """
        args = [a.dictionary_decode() if pa.types.is_dictionary(a.type) else a for a in args]
        try:
            if not self.compile and not self.vectorized:
                return self._per_row(args, length)
            valid_bits = _all_valid(args)
            valid = None if valid_bits is None else valid_bits.to_numpy(zero_copy_only=False)
            out: np.ndarray | TextColumn
            if self.vectorized:
                values = [_filled(a).to_numpy(zero_copy_only=False) for a in args]
                result = np.asarray(self._vectorized(values)(*values))
                if result.shape != (length,):
                    raise UDFError(
                        f"vectorized user function {self.name!r} returned shape {result.shape} "
                        f"for {length} rows; return one value per row"
                    )
                out, out_valid = result, valid
            else:
                buffers = [_buffer_values(a) for a in args]
                kernel = compile_scalar(
                    self.fn, [TEXT if isinstance(v, TextColumn) else v.dtype for v in buffers]
                )
                out, out_valid = run_scalar(kernel, buffers, valid, length)
        except (UDFError, SchemaError, UDFCompileError):
            raise
        except Exception as exc:
            raise self._raised(exc) from None
        try:
            return _arrow_result(out, out_valid, valid_bits if out_valid is valid else None).cast(
                self.return_dtype
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise ComputeError(
                f"user function {self.name!r}: its results do not fit {self.return_dtype}: {exc}"
            ) from None

    def _per_row(self, args: Sequence[pa.Array], length: int) -> pa.Array:
        columns = [a.to_pylist() for a in args]
        rows = zip(*columns, strict=True) if columns else iter([()] * length)
        propagate = self.null_handling == "propagate"
        fn = self.fn
        try:
            results = [
                None if propagate and any(v is None for v in row) else fn(*row) for row in rows
            ]
        except Exception as exc:
            raise self._raised(exc) from None
        try:
            return pa.array(results, type=self.return_dtype)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ComputeError(
                f"user function {self.name!r} returned values that are not {self.return_dtype}: "
                f"{exc}; declare the type it returns with return_dtype="
            ) from None

    def _raised(self, exc: BaseException) -> UDFError:
        """The error of this function raising ``exc``, with the user's own frames."""
        tb = exc.__traceback__
        while tb is not None and in_package(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        user_tb = "".join(traceback.format_exception(type(exc), exc, tb))
        return UDFError(
            f"user function {self.name!r} raised {type(exc).__name__}: {exc}\n\n{user_tb}"
        )


def _option_error(fn: Callable[..., Any], problem: str) -> SchemaError:
    """The error for a user function ``fn`` declared with a wrong option."""
    return SchemaError(f"@sl.udf on {getattr(fn, '__name__', fn)!r}: {problem}")


def _result_kinds(target: pa.DataType) -> str:
    """The numpy kinds of results a column of type ``target`` holds exactly ("": none)."""
    if pa.types.is_floating(target):
        return "biuf"
    if pa.types.is_integer(target):
        return "biu"
    if pa.types.is_boolean(target):
        return "b"
    if pa.types.is_timestamp(target) or pa.types.is_date(target):
        return "M"
    if pa.types.is_duration(target):
        return "m"
    if _is_text(target):
        return TEXT.kind
    return ""


def _is_text(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def _all_valid(args: Sequence[pa.Array]) -> pa.BooleanArray | None:
    """Where every argument is valid, without nulls (None: everywhere)."""
    with_nulls = [a for a in args if a.null_count]
    if not with_nulls:
        return None
    valid = pc.is_valid(with_nulls[0])
    for a in with_nulls[1:]:
        valid = pc.and_(valid, pc.is_valid(a))
    return valid


def _buffer_values(array: pa.Array) -> np.ndarray | TextColumn:
    """The values of ``array`` as numpy, without copying when its buffer has numpy's layout
    (whatever null slots hold is skipped by the loop); other types with nulls filled; text
    as its UTF-8 bytes and offsets."""
    if _is_text(array.type):
        if not pa.types.is_large_string(array.type):
            array = array.cast(pa.large_string())
        _, offsets, data = array.buffers()
        bounds = np.frombuffer(offsets, np.int64, count=len(array) + 1, offset=array.offset * 8)
        return TextColumn(bounds, np.frombuffer(data, np.uint8) if data else np.empty(0, np.uint8))
    dtype = _numpy_dtype(array.type)
    if not array.null_count or dtype.itemsize * 8 != array.type.bit_width:
        return _filled(array).to_numpy(zero_copy_only=False)
    data = array.buffers()[1]
    return np.frombuffer(data, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


@functools.cache
def _numpy_dtype(dtype: pa.DataType) -> np.dtype:
    """The numpy type pyarrow gives a column of ``dtype``."""
    return np.dtype(pa.array([], dtype).to_numpy(zero_copy_only=False).dtype)


def _arrow_result(
    out: np.ndarray | TextColumn, out_valid: np.ndarray | None, valid_bits: pa.BooleanArray | None
) -> pa.Array:
    """The results as Arrow: ``valid_bits``' bitmap reused as the validity when it is the
    results' (no copy), else ``out_valid`` as a mask."""
    if isinstance(out, TextColumn):
        if valid_bits is None and out_valid is not None:
            valid_bits = pa.array(out_valid)
        bitmap = None if valid_bits is None else _bitmap(valid_bits)
        return pa.Array.from_buffers(
            pa.large_string(),
            len(out.offsets) - 1,
            [bitmap, pa.py_buffer(out.offsets), pa.py_buffer(out.data)],
        )
    if (
        valid_bits is not None
        and valid_bits.offset == 0
        and out.dtype != np.bool_  # Arrow packs booleans in bits, numpy in bytes
    ):
        dtype = pa.from_numpy_dtype(out.dtype)
        bitmap = valid_bits.buffers()[1]
        return pa.Array.from_buffers(dtype, len(out), [bitmap, pa.py_buffer(out)])
    return pa.array(out, mask=None if out_valid is None else ~out_valid)


def _bitmap(valid: pa.BooleanArray) -> pa.Buffer:
    """The validity bitmap of rows where ``valid`` is True (starting at bit 0)."""
    if valid.offset == 0 and not valid.null_count:
        return valid.buffers()[1]
    bits = np.packbits(valid.to_numpy(zero_copy_only=False), bitorder="little")
    return pa.py_buffer(bits)


def _filled(array: pa.Array) -> pa.Array:
    """``array`` with nulls replaced by zero (their rows are skipped or masked)."""
    if not array.null_count:
        return array
    zero = pa.scalar(False) if pa.types.is_boolean(array.type) else pa.scalar(0).cast(array.type)
    return pc.fill_null(array, zero)
