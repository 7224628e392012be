"""User aggregates (``@sl.udaf``) in the two-phase hash aggregation.

A user aggregate call's partial result is its state, kept as Arrow columns beside the
built-in aggregates' partials: ``<prefix>_rows`` (rows accumulated per group) and one column
per state element (``<prefix>_state0``, ...). So partials merge after a shuffle, windows keep
them in their state backend and checkpoints save them like any partial. The loops over the
rows and partial states are compiled by :mod:`sabot_lab.kernels.user_aggregates`; the group
of each row comes from the aggregation's grouping (:class:`HashAggregate
<sabot_lab.engine.aggregate.HashAggregate>`). Rows with a null in any input are skipped, and
a group without any other row gives null, as SQL aggregates do.

>>> import pyarrow as pa, sabot_lab as sl
>>> @sl.udaf(return_dtype=pa.float64())
... class SumOfSquares:
...     def init():
...         return 0.0
...     def accumulate(state, x):
...         return state + x * x
...     def merge(state, other):
...         return state + other
...     def finalize(state):
...         return state
>>> call = UserAggregateCall(SumOfSquares(sl.col("x")), ["x"], "__in0", pa.schema({"x": pa.int64()}))
>>> [f.name for f in call.partial_fields]
['__in0_rows', '__in0_state0']
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from typing import Any

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import SchemaError, UDFError
from sabot_lab.expr import Expr
from sabot_lab.expr.dtypes import parse_dtype
from sabot_lab.expr.nodes import UserAggregate
from sabot_lab.kernels.user_aggregates import (
    AggregateFunctions,
    GroupedLoops,
    compiled_loops,
    result_fits,
)

__all__ = ["UserAggregateCall", "check_user_aggregates", "functions_of"]


@functools.lru_cache(maxsize=256)
def functions_of(payload: str) -> AggregateFunctions:
    """The functions a :class:`~sabot_lab.expr.nodes.UserAggregate` node carries (decoded
    once per process)."""
    functions = cloudpickle.loads(base64.b64decode(payload))
    assert isinstance(functions, AggregateFunctions)
    return functions


def _numpy_type(dtype: pa.DataType) -> np.dtype:
    return np.dtype(dtype.to_pandas_dtype())


class UserAggregateCall:
    """One user aggregate call: ``node`` reading the pre-aggregation columns ``inputs`` (of
    ``pre_schema``), its partial columns named from ``prefix``."""

    def __init__(
        self, node: Expr, inputs: Sequence[str], prefix: str, pre_schema: pa.Schema
    ) -> None:
        self.functions = functions_of(node.param("function"))
        self.dtype = parse_dtype(node.param("dtype"))
        self.inputs = list(inputs)
        self.rows_column = f"{prefix}_rows"
        self.state_columns = [f"{prefix}_state{j}" for j in range(len(self.functions.init))]
        self._input_dtypes = tuple(_numpy_type(pre_schema.field(c).type) for c in self.inputs)

    @property
    def partial_fields(self) -> list[pa.Field]:
        """The columns this call adds to partial results."""
        states = [pa.from_numpy_dtype(d) for d in self.functions.state_dtypes]
        return [
            pa.field(self.rows_column, pa.int64()),
            *(pa.field(n, t) for n, t in zip(self.state_columns, states, strict=True)),
        ]

    @functools.cached_property
    def loops(self) -> GroupedLoops:
        """The compiled loops (compiled on first use, once per process)."""
        return compiled_loops(self.functions, self._input_dtypes)

    def partial(
        self, pre: pa.Table | pa.RecordBatch, ids: np.ndarray, count: int
    ) -> dict[str, pa.Array]:
        """The partial columns of ``count`` groups from the rows of ``pre`` (``ids``: their
        groups)."""
        valid = np.ones(pre.num_rows, dtype=np.bool_)
        values = []
        for name in self.inputs:
            column = pre.column(name)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            if column.null_count:
                valid &= pc.is_valid(column).to_numpy(zero_copy_only=False)
                column = column.fill_null(False if pa.types.is_boolean(column.type) else 0)
            values.append(np.ascontiguousarray(column.to_numpy(zero_copy_only=False)))
        rows, states = self._run("accumulate", self.loops.accumulate, ids, count, valid, values)
        return self._columns(rows, states)

    def merge(self, merged: pa.Table, ids: np.ndarray, count: int) -> dict[str, pa.Array]:
        """Partial columns of ``merged`` (``ids``: each row's group) merged per group."""
        rows, states = self._run("merge", self.loops.merge, ids, count, *self._states_of(merged))
        return self._columns(rows, states)

    def final(self, merged: pa.Table, ids: np.ndarray, count: int) -> pa.Array:
        """Each group's value from the partial columns of ``merged`` (``ids``: each row's
        group)."""
        rows, states = self._run("merge", self.loops.merge, ids, count, *self._states_of(merged))
        values, present = self._run(
            "finalize", self.loops.finalize, rows, states, _numpy_type(self.dtype)
        )
        try:
            return _exactly(values, self.dtype, ~present)
        except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(
                f"user aggregate {self.functions.name}: finalize returned a value that is "
                f"not a {self.dtype} ({exc}); change return_dtype or what finalize returns"
            ) from None

    def _states_of(self, merged: pa.Table) -> tuple[np.ndarray, list[np.ndarray]]:
        rows = merged[self.rows_column].combine_chunks().to_numpy()
        states = [
            np.ascontiguousarray(merged[n].combine_chunks().to_numpy(zero_copy_only=False))
            for n in self.state_columns
        ]
        return rows, states

    def _columns(self, rows: np.ndarray, states: Sequence[np.ndarray]) -> dict[str, pa.Array]:
        columns = {self.rows_column: pa.array(rows, type=pa.int64())}
        for field, state in zip(self.partial_fields[1:], states, strict=True):
            try:
                columns[field.name] = _exactly(state, field.type)
            except (TypeError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise SchemaError(
                    f"user aggregate {self.functions.name}: its state element "
                    f"{self.state_columns.index(field.name)} starts as a {field.type} but "
                    f"became another type ({exc}); start it as that type (e.g. 0.0 instead "
                    "of 0)"
                ) from None
        return columns

    def _run(self, method: str, loop: Any, *args: Any) -> Any:
        try:
            return loop(*args)
        except SchemaError:
            raise
        except Exception as exc:
            raise UDFError(
                f"user aggregate {self.functions.name} raised {type(exc).__name__} in "
                f"{method}: {exc}"
            ) from exc


def _exactly(values: np.ndarray, dtype: pa.DataType, mask: Any = None) -> pa.Array:
    """``values`` as an Arrow array of ``dtype``; a TypeError where Python values (of
    functions run as plain Python) would change kind (floats into integers are truncated by
    Arrow otherwise).

    >>> _exactly(np.array([1, 2.5], dtype=object), pa.int64())
    Traceback (most recent call last):
    ...
    TypeError: got float64 values
    """
    if values.dtype == object:
        kept = values if mask is None else values[~np.asarray(mask)]
        inferred = np.asarray(kept.tolist())
        if inferred.size and not np.can_cast(inferred.dtype, _numpy_type(dtype), "same_kind"):
            raise TypeError(f"got {inferred.dtype} values")
    return pa.array(values, type=dtype, mask=mask)


def check_user_aggregates(schema: pa.Schema, aggs: Sequence[Expr]) -> None:
    """Compile the user aggregates among ``aggs`` (over rows of ``schema``) and check that
    what each one's ``finalize`` returns fits its ``return_dtype``: plan-build errors
    rather than failures mid-run.

    >>> import pyarrow as pa, sabot_lab as sl
    >>> @sl.udaf(return_dtype=pa.int64())
    ... class Mean:
    ...     def init():
    ...         return (0.0, 0)
    ...     def accumulate(state, x):
    ...         return (state[0] + x, state[1] + 1)
    ...     def merge(state, other):
    ...         return (state[0] + other[0], state[1] + other[1])
    ...     def finalize(state):
    ...         return state[0] / state[1]
    >>> check_user_aggregates(pa.schema({"x": pa.float64()}), [Mean(sl.col("x"))])
    Traceback (most recent call last):
    ...
    sabot_lab.errors.SchemaError: user aggregate Mean: finalize returns float64, which return_dtype=int64 cannot hold; declare return_dtype=pa.float64() or convert in finalize
    """
    for agg in aggs:
        for node in agg.walk():
            if not isinstance(node, UserAggregate):
                continue
            dtype = node.output_field(schema).type
            functions = functions_of(node.param("function"))
            inputs = [_numpy_type(a.output_field(schema).type) for a in node.args]
            loops = compiled_loops(functions, inputs)
            if loops.result_type is not None and not result_fits(
                loops.result_type, _numpy_type(dtype)
            ):
                raise SchemaError(
                    f"user aggregate {functions.name}: finalize returns {loops.result_type}, "
                    f"which return_dtype={dtype} cannot hold; declare return_dtype="
                    f"pa.{_suggested(loops.result_type)}() or convert in finalize"
                )


def _suggested(result_type: Any) -> str:
    name = str(getattr(result_type, "type", result_type))  # an Optional's value type
    return {"float64": "float64", "float32": "float32", "bool": "bool_"}.get(name, "int64")
