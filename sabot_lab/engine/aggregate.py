"""Two-phase hash aggregation: a partial aggregate per batch (fused into the input pipeline,
run in parallel) and a final merge of the partials.

Aggregate expressions may be any expression over aggregates (``col("x").sum() / count()``).
They are decomposed into *pre* expressions (the aggregates' inputs, evaluated per batch),
distinct aggregate calls (each with a partial and a final form) and *post* expressions over
the merged results. Group keys with nulls form their own group, as in SQL ``GROUP BY``.

>>> import pyarrow as pa
>>> from sabot_lab.expr import col, count
>>> t = pa.table({"k": ["a", "b", "a"], "x": [1, 2, 3]})
>>> agg = HashAggregate(["k"], [col("x").sum().alias("s"), count().alias("n")], t.schema)
>>> agg.finish([agg.partial(b) for b in t.to_batches(max_chunksize=2)]).to_pylist()
[{'k': 'a', 's': 4, 'n': 2}, {'k': 'b', 's': 2, 'n': 1}]
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.selections import Selected
from sabot_lab.engine.shared_subexpressions import SharedProjection
from sabot_lab.engine.stateless import project_batch
from sabot_lab.engine.unscaled_decimals import UnscaledDecimal, unscaled_decimal
from sabot_lab.engine.user_aggregate import UserAggregateCall
from sabot_lab.expr import Expr, col, lit
from sabot_lab.expr.decimals import decimal_from_unscaled, unscaled_int64, unscaled_values
from sabot_lab.expr.nodes import (
    HOLISTIC_AGGREGATES,
    Aggregate,
    Alias,
    Column,
    Literal,
    UserAggregate,
)
from sabot_lab.kernels.grouped_sums import count_by_code, sum_float64_by_code, sum_int64_by_code

__all__ = ["COMBINED_ROWS", "HashAggregate", "aggregate_schema", "mean_of"]

COMBINED_ROWS = 1 << 20
"""Partial rows a task keeps before merging them (:meth:`HashAggregate.combined_partials`)."""

_ORDERED = pc.ScalarAggregateOptions(skip_nulls=False)
_VALID = pc.CountOptions(mode="only_valid")
_POPULATION = pc.VarianceOptions(ddof=0)
_GLOBAL_KEY = "__global"  # a global aggregate groups by this constant: one code path for both


_SPREAD = ("std", "var")  # merged from count, sum and variance partials (Chan's formula)
_ORDER_STATISTICS = ("median", "quantile")  # computed from each group's list of values
_AS_FLOAT = _SPREAD + _ORDER_STATISTICS  # their inputs are read as float64
_USER = "udaf"  # a user aggregate (``@sl.udaf``): its partials are its state columns
_ROW = "__row"  # row numbers, listed per group to find each row's group


@dataclass(frozen=True)
class _Call:
    """One distinct aggregate call: function name, the pre-column it reads (None: rows) and
    the options of ``std``/``var`` (``ddof``) and quantiles (``quantile``, ``interpolation``)."""

    fn: str
    column: str | None
    output: str
    ddof: int = 1
    quantile: float = 0.5
    interpolation: str = "linear"


def aggregate_schema(keys: Sequence[str], aggs: Sequence[Expr], schema: pa.Schema) -> pa.Schema:
    """Output schema of grouping ``schema`` by ``keys`` and computing ``aggs``.

    >>> from sabot_lab.expr import col
    >>> aggregate_schema(["k"], [col("x").mean()], pa.schema([("k", pa.string()), ("x", pa.int64())]))
    k: string
    x: double
    """
    fields = [schema.field(k) for k in keys]
    fields += [a.output_field(schema) for a in aggs]
    return pa.schema(fields)


class HashAggregate:
    """Grouped (or global, with no keys) aggregation in two phases."""

    def __init__(self, keys: Sequence[str], aggs: Sequence[Expr], input_schema: pa.Schema) -> None:
        self.keys = list(keys)
        self.schema = aggregate_schema(keys, aggs, input_schema)
        self._calls: list[_Call] = []
        self._group_keys = self.keys or [_GLOBAL_KEY]
        pre: dict[str, Expr] = {k: col(k) for k in self.keys} or {
            _GLOBAL_KEY: lit(0).alias(_GLOBAL_KEY)
        }
        seen: dict[Any, _Call] = {}
        inputs_of: dict[Any, str] = {}  # an input's key -> its pre column (shared by calls)
        users: dict[str, tuple[Expr, str, list[str]]] = {}  # output -> (node, prefix, inputs)

        def replace(expr: Expr) -> Expr:
            if not isinstance(expr, Aggregate):
                return expr.with_args([replace(a) for a in expr.args])
            key = expr.key()
            if key not in seen:
                index = len(seen)
                column = None
                fn = expr.param("fn")
                if isinstance(expr, UserAggregate):
                    column = f"__in{index}"
                    inputs = [f"{column}_{j}" for j in range(len(expr.args))]
                    pre.update((n, a.alias(n)) for n, a in zip(inputs, expr.args, strict=True))
                    users[f"__agg{index}"] = (expr, column, inputs)
                elif expr.args:
                    # sum(x), avg(x) and count(x) read one column and share its partials
                    value = expr.args[0].cast("float64") if fn in _AS_FLOAT else expr.args[0]
                    column = inputs_of.setdefault(value.key(), f"__in{index}")
                    pre[column] = value.alias(column)
                options = {
                    name: expr.param(name)
                    for name in ("ddof", "quantile", "interpolation")
                    if expr.param(name) is not None
                }
                seen[key] = _Call(fn, column, f"__agg{index}", **options)
                self._calls.append(seen[key])
            return col(seen[key].output)

        self._post = [*(col(k) for k in self.keys), *(replace(a) for a in aggs)]
        self._call_of = seen
        self._pre = list(pre.values())
        self._pre_schema = pa.schema([e.output_field(input_schema) for e in self._pre])
        self._project_inputs = SharedProjection(self._pre, input_schema)
        self._unscaled = {} if users else _summed_decimals(self._calls, pre, self._pre_schema)
        self._project_others = SharedProjection(
            [e for name, e in pre.items() if name not in self._unscaled], input_schema
        )
        # inputs whose evaluation may fail on a row a filter leaves out (``x // y``)
        self._fallible = {name for name, e in pre.items() if not _infallible(e)}
        self._users = {
            output: UserAggregateCall(node, inputs, prefix, self._pre_schema)
            for output, (node, prefix, inputs) in users.items()
        }
        self._final_schema = pa.schema(
            [*(input_schema.field(k) for k in self.keys)]
            + [
                pa.field(
                    c.output,
                    self._users[c.output].dtype
                    if c.fn == _USER
                    else _call_type(c, self._pre_schema),
                )
                for c in self._calls
            ]
        )

    # -- phase 1 -------------------------------------------------------------------
    def takes_selections(self, encoded: Collection[str] = ()) -> bool:
        """Whether :meth:`partial` may count a filter's :class:`~.selections.Selected` rows
        without copying them: every call a count, sum or mean, and every key an integer or
        dictionary-encoded column, or text of ``encoded`` (a scan keeps it encoded): groups
        numbered without hashing (:meth:`_dense_codes`).

        >>> schema = pa.schema([("k", pa.int64()), ("s", pa.string()), ("x", pa.float64())])
        >>> HashAggregate(["k"], [col("x").sum(), col("x").count()], schema).takes_selections()
        True
        >>> agg = HashAggregate(["s"], [col("x").sum()], schema)
        >>> agg.takes_selections(), agg.takes_selections(encoded=["s"])
        (False, True)
        """
        return (
            bool(self.keys)
            and not self._users
            and all(c.fn in ("count", "sum", "mean") for c in self._calls)
            and all(
                k in encoded or pa.types.is_integer(t) or pa.types.is_dictionary(t)
                for k, t in ((k, self._pre_schema.field(k).type) for k in self.keys)
            )
        )

    def partial(self, batch: pa.RecordBatch | Selected) -> pa.Table:
        """Aggregate one batch into partial results (one row per group in the batch); of a
        :class:`~.selections.Selected` batch, the rows it keeps.

        >>> from sabot_lab.engine.selections import select_rows
        >>> t = pa.table({"k": [1, 2, 1, 2], "x": [1, 2, 3, 4]})
        >>> agg = HashAggregate(["k"], [col("x").sum().alias("s")], t.schema)
        >>> agg.partial(select_rows(t.to_batches()[0], col("x") != 3)).to_pylist()
        [{'k': 1, '__in0_sum': 1}, {'k': 2, '__in0_sum': 6}]
        """
        if isinstance(batch, Selected):
            counted = self._selected_partial(batch)
            if counted is not None:
                return counted
            batch = batch.materialized()
        unscaled = self._unscaled_inputs(batch)
        if unscaled is None:
            return self._partial_of_inputs(self._project_inputs(batch))
        return self._partial_of_inputs(self._project_others(batch), unscaled)

    def _selected_partial(self, selected: Selected) -> pa.Table | None:
        """The partial aggregate of the rows ``selected`` keeps, counted by mask
        (:meth:`_dense_partial`); None when the batch's keys or values do not allow it."""
        if not self.takes_selections(encoded=self.keys):  # (keys that are not: no codes below)
            return None
        batch = selected.batch
        unscaled = self._unscaled_inputs(batch) or {}
        if not self._fallible <= unscaled.keys():
            return None  # computed on the rows kept only (after the filter's guard)
        if not unscaled:
            return self._dense_partial(self._project_inputs(batch), {}, selected.kept)
        return self._dense_partial(self._project_others(batch), unscaled, selected.kept)

    def _unscaled_inputs(self, batch: pa.RecordBatch) -> dict[str, UnscaledDecimal] | None:
        """The decimal inputs that are only summed and counted, as unscaled 64-bit integers
        (:mod:`~sabot_lab.engine.unscaled_decimals`), when every one of them has them and no
        sum of the batch can overflow; None otherwise."""
        if not self._unscaled or not batch.num_rows:
            return None
        found: dict[str, UnscaledDecimal] = {}
        memo: dict[Any, Any] = {}
        for name, expr in self._unscaled.items():
            value = unscaled_decimal(expr, batch, memo)
            if (
                value is None
                or value.dtype != self._pre_schema.field(name).type
                or value.bound * batch.num_rows >= 1 << 63
            ):
                return None
            found[name] = value
        return found

    @property
    def partial_schema(self) -> pa.Schema:
        """Schema of :meth:`partial` results: what a partial aggregate sends to the final one
        when the two run in different tasks.

        >>> from sabot_lab.expr import col
        >>> HashAggregate(["k"], [col("x").mean()], pa.schema([("k", pa.string()), ("x", pa.int64())])).partial_schema.names
        ['k', '__in0_sum', '__in0_count']
        """
        return self._partial_of_inputs(
            pa.RecordBatch.from_pylist([], schema=self._pre_schema)
        ).schema

    def partial_column(self, call: Expr) -> str:
        """The column of :meth:`partial` results holding the aggregate ``call`` (one of this
        aggregate's ``min`` or ``max`` calls, without an alias).

        >>> agg = HashAggregate([], [col("x").max().alias("hi")], pa.schema([("x", pa.int64())]))
        >>> agg.partial_column(col("x").max())
        '__in0_max'
        """
        found = self._call_of[call.key()]
        return f"{found.column}_{found.fn}"

    def partial_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """:meth:`partial` as one record batch."""
        table = self.partial(batch).combine_chunks()
        batches = table.to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)

    def _partial_of_inputs(
        self, pre: pa.RecordBatch, unscaled: dict[str, UnscaledDecimal] | None = None
    ) -> pa.Table:
        """The partial aggregate of the aggregates' inputs ``pre``, and of the ``unscaled``
        ones computed as integers instead (:meth:`_unscaled_inputs`)."""
        unscaled = unscaled or {}
        dense = self._dense_partial(pre, unscaled)
        if dense is not None:
            return dense
        specs: list[tuple[Any, ...]] = []
        for call in self._calls:
            if call.fn != _USER:
                specs.extend(_partial_specs(call))
        specs = _distinct_specs(specs)
        table = pa.Table.from_batches([pre])
        if not self._users:
            table, sums = _summed_unscaled(pre, specs, unscaled)
            grouped = table.group_by(self._group_keys, use_threads=False).aggregate(specs)
            for column, dtype in sums.items():
                name = f"{column}_sum"
                index = grouped.schema.get_field_index(name)
                summed = grouped[name].combine_chunks()
                grouped = grouped.set_column(index, name, decimal_from_unscaled(summed, dtype))
            return grouped
        # one grouping for all: the built-in partials and each group's rows (for user ones)
        rows = pa.array(np.arange(pre.num_rows, dtype=np.int64))
        grouped = (
            table.append_column(_ROW, rows)
            .group_by(self._group_keys, use_threads=False)
            .aggregate([*specs, (_ROW, "list")])
        )
        groups = _Groups.of_lists(grouped[f"{_ROW}_list"], pre.num_rows)
        grouped = grouped.drop_columns([f"{_ROW}_list"])
        for user in self._users.values():
            for name, column in user.partial(table, groups.ids, groups.count).items():
                grouped = grouped.append_column(name, column)
        return grouped

    def _dense_partial(
        self,
        pre: pa.RecordBatch,
        unscaled: dict[str, UnscaledDecimal],
        kept: np.ndarray | None = None,
    ) -> pa.Table | None:
        """The partial aggregate by counting into arrays, when the groups can be numbered
        densely (:meth:`_dense_codes`) and every call is a count, or a sum or mean of floats,
        integers or decimals of at most 18 digits (exact, in 64-bit integers), without
        nulls; None otherwise. With ``kept`` (a bool per row), of those rows only: the others
        are counted in one more group, left out.

        >>> t = pa.table({"k": pa.array(["a", "b", "a"]).dictionary_encode(), "x": [1.0, 2.0, 3.0]})
        >>> agg = HashAggregate(["k"], [col("x").sum()], t.schema)
        >>> agg.partial(t.to_batches()[0]).to_pylist()
        [{'k': 'a', '__in0_sum': 4.0}, {'k': 'b', '__in0_sum': 2.0}]
        >>> t = pa.table({"k": [7, 5, 7], "w": [0, 10, 0]})
        >>> HashAggregate(["k", "w"], [col("k").count()], t.schema).partial(t.to_batches()[0]).to_pylist()
        [{'k': 5, 'w': 10, '__in0_count': 1}, {'k': 7, 'w': 0, '__in0_count': 2}]
        """
        dense = self._dense_codes(pre)
        if dense is None:
            return None
        codes, size, keys_of = dense
        slots = size
        if kept is not None:
            codes = np.where(kept, codes, size)
            slots += 1
        counts = np.zeros(slots, dtype=np.int64)
        count_by_code(codes, counts)
        present = np.flatnonzero(counts[:size])
        columns: dict[str, Any] = keys_of(present)
        for call in self._calls:
            if call.fn == _USER:
                continue  # after the built-in aggregates, as in the hashed partial
            found = unscaled.get(call.column or "")
            values = None if call.column is None or found else pre.column(call.column)
            if values is not None and values.null_count:
                return None
            if call.fn == "count":
                columns[f"{call.column}_count" if call.column else "count_all"] = counts[present]
                continue
            if call.fn not in ("sum", "mean") or call.column is None:
                return None
            if f"{call.column}_sum" not in columns:  # (a sum and a mean of one input: once)
                sums = (
                    _dense_sums(codes, slots, values)
                    if found is None
                    else _int64_sums(codes, slots, found.values, found.dtype)
                )
                if sums is None:
                    return None
                columns[f"{call.column}_sum"] = sums.take(present)
            if call.fn == "mean":
                columns[f"{call.column}_count"] = counts[present]
        for user in self._users.values():  # (never with ``kept``: see takes_selections)
            states = user.partial(pre, codes.astype(np.int64, copy=False), size)
            columns.update((name, column.take(present)) for name, column in states.items())
        return pa.table(columns)

    def _dense_codes(
        self, pre: pa.RecordBatch
    ) -> tuple[np.ndarray, int, Callable[[np.ndarray], dict[str, Any]]] | None:
        """Group numbers ``0 .. size-1`` of the rows and a function giving the key columns of
        numbered groups (int64 numbers), when the keys allow it without hashing: dictionary-encoded keys (a
        join's build-side column, a Parquet column read through its dictionary: their codes), one text key of user aggregates (encoded: one
        hash per row, where the hashed partial would list each group's rows), or integer keys without nulls whose ranges
        multiply to a few times the rows at most (window starts, ids of a time range)."""
        if not self.keys or not pre.num_rows:
            return None
        columns = [pre.column(k) for k in self.keys]
        if all(pa.types.is_dictionary(c.type) for c in columns):
            return _dictionary_codes(self.keys, columns, pre.num_rows)
        if len(columns) == 1 and self._users and _is_text(columns[0].type):
            return _encoded_codes(self.keys[0], columns[0])
        if any(not pa.types.is_integer(c.type) or c.null_count for c in columns):
            return None
        # each key as (value - lowest) / step, step the values' common divisor (window starts
        # are multiples of the slide), so the numbers are dense; three passes over a key of
        # step 1 (its lowest, the offsets made, their highest)
        offsets, lows, steps = [], [], []
        for column in columns:
            values = column.to_numpy()
            lows.append(int(values.min()))
            offset = np.subtract(values, lows[-1], dtype=np.int64)
            steps.append(_common_divisor(offset))
            if steps[-1] != 1:
                offset //= steps[-1]
            offsets.append(offset)
        spans = [int(v.max()) + 1 for v in offsets]
        size = int(np.prod(spans, dtype=object))
        if size > max(4 * pre.num_rows, 1 << 16):
            return None
        codes = offsets[-1]  # (the last key varies fastest: its offsets are its codes)
        strides = [1]
        for v, span in zip(reversed(offsets[:-1]), reversed(spans[1:]), strict=True):
            strides.append(strides[-1] * span)
            v *= strides[-1]
            codes += v
        strides.reverse()

        def integer_keys(present: np.ndarray) -> dict[str, Any]:
            return {
                name: pa.array((present // stride) % span * step + low, type=column.type)
                for name, column, low, step, span, stride in zip(
                    self.keys, columns, lows, steps, spans, strides, strict=True
                )
            }

        return codes, size, integer_keys

    def combine(self, partials: Sequence[pa.Table], flag: str | None = None) -> pa.Table:
        """Merge partial results into one partial table (one row per group), for state that
        grows batch by batch: the value lists of ``n_unique``, ``median`` and ``quantile``
        are joined per group. ``flag``: a boolean column of the partials, kept as its OR over
        each group's rows.

        >>> t = pa.table({"k": ["a", "b", "a"], "x": [1, 2, 3]})
        >>> agg = HashAggregate(["k"], [col("x").mean()], t.schema)
        >>> agg.combine([agg.partial(b) for b in t.to_batches(max_chunksize=1)]).sort_by("k").to_pylist()
        [{'k': 'a', '__in0_sum': 4, '__in0_count': 2}, {'k': 'b', '__in0_sum': 2, '__in0_count': 1}]
        >>> agg = HashAggregate(["k"], [col("x").n_unique()], t.schema)
        >>> agg.combine([agg.partial(b) for b in t.to_batches(max_chunksize=1)]).sort_by("k").to_pylist()
        [{'k': 'a', '__in0_distinct': [1, 3]}, {'k': 'b', '__in0_distinct': [2]}]
        """
        merged = pa.concat_tables(partials, promote_options="permissive").combine_chunks()
        specs = _distinct_specs(
            [
                spec
                for call in self._calls
                if call.fn not in (*HOLISTIC_AGGREGATES, _USER)
                for spec in _final_specs(call)
            ]
        )
        if flag is not None:
            specs.append((flag, "max"))
        grouped = merged.group_by(self._group_keys, use_threads=False).aggregate(specs)
        columns: dict[str, Any] = {spec[0]: grouped[f"{spec[0]}_{spec[1]}"] for spec in specs}
        columns.update((k, grouped[k]) for k in self._group_keys)
        groups = None
        for call in self._calls:
            if call.fn in _SPREAD:
                groups = groups or _Groups.of(merged, self._group_keys)
                n, _, m2 = _moments(call, merged, groups)
                with np.errstate(all="ignore"):
                    columns[f"{call.column}_variance"] = pa.array(m2 / n, mask=n == 0)
            elif call.fn in HOLISTIC_AGGREGATES:
                groups = groups or _Groups.of(merged, self._group_keys)
                name = f"{call.column}_{'distinct' if call.fn == 'n_unique' else 'list'}"
                columns[name] = _joined_lists(merged[name], groups, distinct=call.fn == "n_unique")
            elif call.fn == _USER:
                groups = groups or _Groups.of(merged, self._group_keys)
                columns.update(self._users[call.output].merge(merged, groups.ids, groups.count))
        return pa.table([columns[n] for n in merged.schema.names], schema=merged.schema)

    def combined_partials(
        self, partials: Iterable[pa.Table], limit: int = COMBINED_ROWS
    ) -> Iterator[pa.Table]:
        """The ``partials`` of one task's batches merged (:meth:`combine`) at their end, so
        one row per group of the task crosses an exchange rather than one per group and
        batch; merged early each time ``limit`` partial rows wait. When a merge keeps more
        than half of the rows it read (groups barely repeat across batches), the rest pass on
        as they come.

        >>> t = pa.table({"k": [1, 2, 1, 2, 1, 3], "x": [1, 2, 3, 4, 5, 6]})
        >>> agg = HashAggregate(["k"], [col("x").sum()], t.schema)
        >>> parts = (agg.partial(b) for b in t.to_batches(max_chunksize=2))
        >>> [p.num_rows for p in agg.combined_partials(parts)]
        [3]
        >>> t = pa.table({"k": [1, 2, 3, 4, 1, 5], "x": [1, 2, 3, 4, 5, 6]})
        >>> parts = (agg.partial(b) for b in t.to_batches(max_chunksize=2))
        >>> [p.num_rows for p in agg.combined_partials(parts, limit=4)]  # 4 rows, 4 groups
        [4, 2]
        """
        kept: list[pa.Table] = []
        rows = 0
        for part in partials:
            kept.append(part)
            rows += part.num_rows
            if rows < limit:
                continue
            merged = self.combine(kept)
            if merged.num_rows * 2 > rows:  # barely fewer rows: merging is not worth it
                yield merged
                yield from partials
                return
            kept, rows = [merged], merged.num_rows
        if kept:
            yield self.combine(kept) if len(kept) > 1 else kept[0]

    # -- phase 2 -------------------------------------------------------------------
    def finish(self, partials: Sequence[pa.Table]) -> pa.Table:
        """Merge partial results (in input order) into the final table."""
        if not partials:
            partials = [
                self._partial_of_inputs(pa.RecordBatch.from_pylist([], schema=self._pre_schema))
            ]
        merged = pa.concat_tables(partials).combine_chunks()
        specs: list[tuple[Any, ...]] = []
        for call in self._calls:
            if call.fn not in (*HOLISTIC_AGGREGATES, *_SPREAD, _USER):
                specs.extend(_final_specs(call))
        specs = _distinct_specs(specs)
        grouped = merged.group_by(self._group_keys, use_threads=False).aggregate(specs)
        columns: dict[str, pa.ChunkedArray | pa.Array] = {k: grouped[k] for k in self.keys}
        groups = None
        for call in self._calls:
            if call.fn in _SPREAD + _ORDER_STATISTICS:
                groups = groups or _Groups.of(merged, self._group_keys)
                columns[call.output] = _by_groups(call, merged, groups)
            elif call.fn == _USER:
                groups = groups or _Groups.of(merged, self._group_keys)
                columns[call.output] = self._users[call.output].final(
                    merged, groups.ids, groups.count
                )
            else:
                columns[call.output] = self._final_column(call, grouped, merged)
        if self.keys or grouped.num_rows:
            final = pa.table(columns).cast(self._final_schema)
        else:  # SQL: an aggregate without GROUP BY has one row, even over no input
            final = pa.table(
                {c.output: [0 if c.fn in ("count", "n_unique") else None] for c in self._calls},
                schema=self._final_schema,
            )
        batches = final.combine_chunks().to_batches()
        batch = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=self._final_schema)
        out = pa.Table.from_batches([project_batch(batch, self._post, self.schema)])
        return out.cast(self.schema)  # (a key column declared not null stays so in ``out``)

    def _final_column(self, call: _Call, grouped: pa.Table, merged: pa.Table) -> pa.ChunkedArray:
        c = call.column
        if call.fn == "count":
            name = f"{c}_count_sum" if c else "count_all_sum"
            return grouped[name].fill_null(0)
        if call.fn == "mean":
            total, n = grouped[f"{c}_sum_sum"], grouped[f"{c}_count_sum"]
            return pc.if_else(pc.equal(n, 0), pa.scalar(None, pa.float64()), mean_of(total, n))
        if call.fn == "n_unique":
            return self._count_distinct(call, merged)
        suffix = {
            "sum": "sum_sum",
            "min": "min_min",
            "max": "max_max",
            "first": "first_first",
            "last": "last_last",
        }
        return grouped[f"{c}_{suffix[call.fn]}"]

    def _count_distinct(self, call: _Call, merged: pa.Table) -> pa.ChunkedArray:
        """Distinct count from per-batch distinct lists.

        The lists are exploded under their group keys; every merged row is also kept once with
        a null value, so each group appears first where it appears in ``merged`` and the
        single-threaded group-by lists groups in the same order as the main final group-by.
        """
        lists = merged[f"{call.column}_distinct"].combine_chunks()
        keys = merged.select(self._group_keys)
        values = pc.list_flatten(lists)
        exploded = keys.take(pc.list_parent_indices(lists)).append_column("v", values)
        anchors = keys.append_column("v", pa.nulls(merged.num_rows, type=values.type))
        table = pa.concat_tables([anchors, exploded])
        counted = table.group_by(self._group_keys, use_threads=False).aggregate(
            [("v", "count_distinct", _VALID)]
        )
        return counted["v_count_distinct"]


@dataclass(frozen=True)
class _Groups:
    """The group of each row of a merged partial table, numbered ``0 .. count-1`` in the order
    a single-threaded group-by of the same table lists them (first appearance)."""

    ids: np.ndarray
    count: int

    @staticmethod
    def of(merged: pa.Table, keys: Sequence[str]) -> _Groups:
        rows = pa.array(np.arange(merged.num_rows, dtype=np.int64))
        numbered = merged.select(keys).append_column(_ROW, rows)
        lists = numbered.group_by(keys, use_threads=False).aggregate([(_ROW, "list")])
        return _Groups.of_lists(lists[f"{_ROW}_list"], merged.num_rows)

    @staticmethod
    def of_lists(lists: pa.ChunkedArray, rows: int) -> _Groups:
        """The groups of ``rows`` rows from each group's list of row numbers."""
        combined = lists.combine_chunks()
        ids = np.empty(rows, dtype=np.int64)
        ids[pc.list_flatten(combined).to_numpy()] = pc.list_parent_indices(combined).to_numpy()
        return _Groups(ids, len(combined))


def _is_text(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(dtype)
        or pa.types.is_large_string(dtype)
        or pa.types.is_string_view(dtype)
    )


def _encoded_codes(
    name: str, key: pa.Array
) -> tuple[np.ndarray, int, Callable[[np.ndarray], dict[str, Any]]]:
    """Group numbers of a text key by dictionary-encoding it (one hash per row, nulls one
    group), and the key column of numbered groups in the key's own type.

    >>> codes, size, keys_of = _encoded_codes("k", pa.array(["b", None, "b", "a"]))
    >>> codes.tolist(), size, keys_of(np.array([0, 1, 2]))["k"].to_pylist()
    ([0, 1, 0, 2], 3, ['b', None, 'a'])
    """
    encoded = pc.dictionary_encode(key, null_encoding="encode")

    def text_keys(present: np.ndarray) -> dict[str, Any]:
        return {name: encoded.dictionary.take(pa.array(present)).cast(key.type)}

    return encoded.indices.to_numpy().astype(np.int64), len(encoded.dictionary), text_keys


def _joined_lists(lists: pa.ChunkedArray, groups: _Groups, distinct: bool) -> pa.ListArray:
    """Each group's lists joined into one (without repeats if ``distinct``), in group order."""
    lists = lists.combine_chunks()
    values = pc.list_flatten(lists)
    owners = pa.array(groups.ids[pc.list_parent_indices(lists).to_numpy()])
    pairs = pa.table({"group": owners, "value": values})
    if distinct:
        pairs = pairs.group_by(["group", "value"], use_threads=False).aggregate([])
        pairs = pairs.filter(pc.is_valid(pairs["value"]))
    order = pc.sort_indices(pairs["group"])  # stable: each group's values keep their order
    pairs = pairs.take(order)
    counts = np.bincount(pairs["group"].to_numpy(), minlength=groups.count)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(
        pa.array(offsets), pairs["value"].combine_chunks(), type=lists.type
    )


def _floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A column as float64 numbers, nulls as 0."""
    return np.asarray(column.cast(pa.float64()).fill_null(0.0).to_numpy(), dtype=np.float64)


def _moments(call: _Call, merged: pa.Table, groups: _Groups) -> tuple[Any, Any, Any]:
    """Each group's count, sum and sum of squared deviations from its mean, merged from the
    partials' counts, sums and population variances (Chan et al.'s pairwise formula: exact
    up to rounding, without the cancellation of a sum of squares)."""
    c, size = call.column, groups.count
    n_i = _floats(merged[f"{c}_count"])
    s_i = _floats(merged[f"{c}_sum"])
    m2_i = _floats(merged[f"{c}_variance"]) * n_i
    n = np.bincount(groups.ids, weights=n_i, minlength=size)
    total = np.bincount(groups.ids, weights=s_i, minlength=size)
    with np.errstate(all="ignore"):
        mean = total / n
        mean_i = np.where(n_i > 0, s_i / np.where(n_i > 0, n_i, 1), 0.0)
        shift = np.where(n_i > 0, n_i * (mean_i - mean[groups.ids]) ** 2, 0.0)
    m2 = np.bincount(groups.ids, weights=m2_i + shift, minlength=size)
    return n, total, m2


def _by_groups(call: _Call, merged: pa.Table, groups: _Groups) -> pa.Array:
    """The final values of a ``std``, ``var``, ``median`` or ``quantile`` call, one per group."""
    if call.fn in _SPREAD:
        n, _, m2 = _moments(call, merged, groups)
        known = n > call.ddof
        with np.errstate(all="ignore"):
            variance = m2 / np.where(known, n - call.ddof, 1)
        values = np.sqrt(variance) if call.fn == "std" else variance
        return pa.array(values, type=pa.float64(), mask=~known)
    return _quantiles(call, merged, groups)


def _quantiles(call: _Call, merged: pa.Table, groups: _Groups) -> pa.Array:
    """Each group's quantile from the partials' lists of values, as Polars computes it."""
    lists = merged[f"{call.column}_list"].combine_chunks()
    values = pc.list_flatten(lists)
    owners = groups.ids[pc.list_parent_indices(lists).to_numpy()]
    present = pc.is_valid(values).to_numpy(zero_copy_only=False)
    numbers = np.asarray(values.filter(present).to_numpy(), dtype=np.float64)
    owners = owners[present]
    order = np.lexsort((numbers, owners))  # by group, then value (NaN last, as in DuckDB)
    numbers = numbers[order]
    n = np.bincount(owners, minlength=groups.count)
    starts = np.cumsum(n) - n
    known = n > 0
    q = 0.5 if call.fn == "median" else call.quantile
    last = np.maximum(n - 1, 0)
    position = last * q
    low, high = np.floor(position).astype(np.int64), np.ceil(position).astype(np.int64)
    method = "linear" if call.fn == "median" else call.interpolation
    if method == "nearest":
        low = high = np.where(position - low >= 0.5, high, low)
    elif method == "lower":
        high = low
    elif method == "higher":
        low = high
    elif method == "equiprobable":
        low = high = np.maximum(np.ceil(n * q).astype(np.int64) - 1, 0)
    pick = numbers if numbers.size else np.zeros(1)
    below = pick[np.where(known, starts + np.minimum(low, last), 0)]
    above = pick[np.where(known, starts + np.minimum(high, last), 0)]
    with np.errstate(all="ignore"):
        if method == "midpoint":
            result = np.where(low == high, below, (below + above) / 2)
        else:  # linear, or one value (low == high)
            result = np.where(low == high, below, below + (position - low) * (above - below))
    return pa.array(result, type=pa.float64(), mask=~known)


def mean_of(total: pa.ChunkedArray, n: pa.ChunkedArray) -> pa.Array:
    """``total / n`` as doubles. A decimal128 total is divided as DuckDB divides it: its
    unscaled integer by ``n * 10**scale`` in extended precision, rounded to a double once (so
    AVG of money gives DuckDB's double, not one a rounding away).

    >>> from decimal import Decimal
    >>> total = pa.chunked_array([pa.array([Decimal("-9.45"), None], pa.decimal128(38, 2))])
    >>> mean_of(total, pa.chunked_array([[3, 0]])).to_pylist()
    [-3.15, None]
    """
    if not isinstance(total.type, pa.Decimal128Type):
        return pc.divide(total.cast(pa.float64()), n.cast(pa.float64()))
    values = total.combine_chunks()
    unscaled = unscaled_values(values, np.longdouble)
    counts = n.combine_chunks().cast(pa.float64()).to_numpy(zero_copy_only=False)
    divisor = counts.astype(np.longdouble) * np.longdouble(10.0**total.type.scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (unscaled / divisor).astype(np.float64)
    missing = pc.or_(pc.is_null(values), pc.equal(n.combine_chunks(), 0))
    return pa.array(
        ratio, pa.float64(), mask=missing.fill_null(True).to_numpy(zero_copy_only=False)
    )


def _dictionary_codes(
    names: Sequence[str], columns: Sequence[Any], rows: int
) -> tuple[np.ndarray, int, Callable[[np.ndarray], dict[str, Any]]] | None:
    """Group numbers of dictionary-encoded key ``columns`` (without nulls) from their codes,
    the first key's varying slowest; None when their dictionaries' sizes multiply to more
    than a few times the rows.

    >>> k = [pa.array(["a", "b", "a"]).dictionary_encode(), pa.array(["x", "x", "y"]).dictionary_encode()]
    >>> codes, size, keys_of = _dictionary_codes(["k", "j"], k, 3)
    >>> codes.tolist(), size, keys_of(np.array([1, 2]))["j"].to_pylist()
    ([0, 2, 1], 4, ['y', 'x'])
    """
    if any(c.null_count or c.dictionary.null_count for c in columns):
        return None
    spans = [max(len(c.dictionary), 1) for c in columns]
    size = int(np.prod(spans, dtype=object))
    if size > max(4 * rows, 1 << 16):
        return None
    codes = columns[0].indices.to_numpy()  # one key of 32- or 64-bit indices: the codes
    if len(columns) > 1 or codes.dtype not in (np.int32, np.int64):
        codes = codes.astype(np.int64)  # (a new array: the codes)
        for column, span in zip(columns[1:], spans[1:], strict=True):
            codes *= span
            codes += column.indices.to_numpy()
    strides = [int(np.prod(spans[i + 1 :], dtype=object)) for i in range(len(spans))]

    def dictionary_keys(present: np.ndarray) -> dict[str, Any]:
        return {  # keeps the encoding
            name: pa.DictionaryArray.from_arrays(
                pa.array(present // stride % span, type=column.type.index_type), column.dictionary
            )
            for name, column, span, stride in zip(names, columns, spans, strides, strict=True)
        }

    return codes, size, dictionary_keys


def _dense_sums(codes: np.ndarray, size: int, values: pa.Array) -> pa.Array | None:
    """The sums of ``values`` (without nulls) per group number ``codes``, in Arrow's sum
    type: floats in row order, integers and decimals of at most 18 digits exactly in 64-bit
    integers (:func:`_int64_sums`); None for other types and when a sum overflows.

    >>> from decimal import Decimal
    >>> _dense_sums(np.array([1, 0, 1]), 2, pa.array([Decimal("1.5"), Decimal("2"), Decimal("-0.25")])).to_pylist()
    [Decimal('2.00'), Decimal('1.25')]
    """
    dtype = values.type
    if dtype == pa.float64():
        floats = np.zeros(size, dtype=np.float64)
        sum_float64_by_code(codes, values.to_numpy(), floats)
        return pa.array(floats)
    if pa.types.is_signed_integer(dtype):
        numbers = values.cast(pa.int64()).to_numpy()
    elif isinstance(dtype, pa.Decimal128Type) and dtype.precision <= 18:
        unscaled = unscaled_int64(values)
        if unscaled is None:
            return None
        numbers = unscaled.to_numpy()
    else:
        return None
    return _int64_sums(codes, size, numbers, dtype)


def _int64_sums(
    codes: np.ndarray, size: int, numbers: np.ndarray, dtype: pa.DataType
) -> pa.Array | None:
    """The sums of int64 ``numbers`` (the unscaled values of a ``dtype`` decimal, or integers
    of ``dtype``) per group number ``codes``, in Arrow's sum type of ``dtype``; None when a
    sum overflows 64 bits.

    >>> _int64_sums(np.array([1, 0, 1]), 2, np.array([150, 200, -25]), pa.decimal128(4, 2)).to_pylist()
    [Decimal('2.00'), Decimal('1.25')]
    >>> _int64_sums(np.array([0, 0]), 1, np.array([2**62, 2**62]), pa.int64()) is None
    True
    """
    sums = np.zeros(size, dtype=np.int64)
    if not sum_int64_by_code(codes, numbers, sums):
        return None
    if pa.types.is_decimal(dtype):
        return decimal_from_unscaled(pa.array(sums), _sum_type(dtype))
    return pa.array(sums, type=_sum_type(dtype))


def _summed_unscaled(
    pre: pa.RecordBatch,
    specs: Sequence[tuple[Any, ...]],
    computed: dict[str, UnscaledDecimal] | None = None,
) -> tuple[pa.Table, dict[str, pa.DataType]]:
    """``pre`` as a table in which each decimal column of at most 18 digits that is only
    summed and counted holds its unscaled int64 values (summed in 64-bit integers several
    times faster than decimal128 ones), when its magnitudes prove no sum of the batch
    overflows; with each such column's sum type, to turn the sums back into decimals. The
    inputs ``computed`` as unscaled integers already join the table so.

    >>> from decimal import Decimal
    >>> pre = pa.record_batch({"k": [1, 1], "x": pa.array([Decimal("1.5"), None], pa.decimal128(4, 1))})
    >>> table, sums = _summed_unscaled(pre, [("x", "sum"), ("x", "count", _VALID)])
    >>> table["x"].to_pylist(), sums
    ([15, None], {'x': Decimal128Type(decimal128(38, 1))})
    """
    uses: dict[str, set[str]] = {}
    for spec in specs:
        if isinstance(spec[0], str):
            uses.setdefault(spec[0], set()).add(spec[1])
    columns, sums = list(pre.columns), {}
    computed = computed or {}
    for name, fns in uses.items():
        if name in computed:
            continue
        index = pre.schema.get_field_index(name)
        dtype = pre.schema.field(index).type
        if not (isinstance(dtype, pa.Decimal128Type) and dtype.precision <= 18) or not (
            "sum" in fns and fns <= {"sum", "count"}
        ):
            continue
        unscaled = unscaled_int64(pre.column(index))
        if unscaled is None:
            continue
        columns[index] = unscaled
        sums[name] = _sum_type(dtype)
    names = list(pre.schema.names)
    for name, found in computed.items():
        columns.append(pa.array(found.values, pa.int64()))
        names.append(name)
        sums[name] = _sum_type(found.dtype)
    return pa.Table.from_arrays(columns, names=names), sums


def _infallible(expr: Expr) -> bool:
    """Whether ``expr`` evaluates on any row without an error: a column or a constant
    (its alias). Arithmetic may divide by zero or overflow on a row a filter leaves out.

    >>> _infallible(col("x").alias("y")), _infallible(col("x") // col("y"))
    (True, False)
    """
    if isinstance(expr, Alias):
        return _infallible(expr.args[0])
    return isinstance(expr, (Column, Literal))


def _summed_decimals(
    calls: Sequence[_Call], pre: dict[str, Expr], pre_schema: pa.Schema
) -> dict[str, Expr]:
    """The aggregates' inputs (of ``pre``, by column) that are decimals of at most 18
    digits and only summed, averaged and counted: computed as unscaled integers when they can
    be (:meth:`HashAggregate._unscaled_inputs`).

    >>> schema = pa.schema([("x", pa.decimal128(15, 2))])
    >>> agg = HashAggregate([], [col("x").sum(), (col("x") * 2).max()], schema)
    >>> list(agg._unscaled)
    ['__in0']
    """
    fns: dict[str, set[str]] = {}
    for call in calls:
        if call.column is not None:
            fns.setdefault(call.column, set()).add(call.fn)
    return {
        name: pre[name]
        for name, used in fns.items()
        if used <= {"sum", "mean", "count"}
        and used & {"sum", "mean"}
        and isinstance(dtype := pre_schema.field(name).type, pa.Decimal128Type)
        and dtype.precision <= 18
    }


@functools.cache
def _sum_type(dtype: pa.DataType) -> pa.DataType:
    """The type of a sum of ``dtype`` values (Arrow's rule: decimals widen to 38 digits)."""
    return pc.sum(pa.array([], type=dtype)).type


def _call_type(call: _Call, pre_schema: pa.Schema) -> pa.DataType:
    if call.fn in ("count", "n_unique"):
        return pa.int64()
    if call.fn in ("mean", *_SPREAD, *_ORDER_STATISTICS):
        return pa.float64()
    assert call.column is not None
    input_type = pre_schema.field(call.column).type
    if call.fn == "sum":
        return _sum_type(input_type)
    return input_type


def _partial_specs(call: _Call) -> list[tuple[Any, ...]]:
    c = call.column
    if call.fn == "count":
        return [(c, "count", _VALID)] if c else [([], "count_all")]
    if call.fn == "mean":
        return [(c, "sum"), (c, "count", _VALID)]
    if call.fn == "n_unique":
        return [(c, "distinct", _VALID)]
    if call.fn in _SPREAD:
        return [(c, "count", _VALID), (c, "sum"), (c, "variance", _POPULATION)]
    if call.fn in _ORDER_STATISTICS:
        return [(c, "list")]
    if call.fn in ("first", "last"):
        return [(c, call.fn, _ORDERED)]
    return [(c, call.fn)]


def _distinct_specs(specs: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """``specs`` without repeats of one function of one column (calls sharing an input).

    >>> _distinct_specs([("x", "sum"), ("x", "count", _VALID), ("x", "sum"), ([], "count_all")])
    [('x', 'sum'), ('x', 'count', CountOptions(mode=NON_NULL)), ([], 'count_all')]
    """
    seen: set[tuple[str, str]] = set()
    kept = []
    for spec in specs:
        key = (repr(spec[0]), spec[1])
        if key not in seen:
            seen.add(key)
            kept.append(spec)
    return kept


def _final_specs(call: _Call) -> list[tuple[Any, ...]]:
    c = call.column
    if call.fn == "count":
        return [(f"{c}_count" if c else "count_all", "sum")]
    if call.fn in ("mean", *_SPREAD):
        return [(f"{c}_sum", "sum"), (f"{c}_count", "sum")]
    if call.fn in ("first", "last"):
        return [(f"{c}_{call.fn}", call.fn, _ORDERED)]
    return [(f"{c}_{call.fn}", call.fn)]


def _common_divisor(values: np.ndarray) -> int:
    """The greatest common divisor of non-negative ``values`` (1 when they are all zero):
    that of their first few, when it divides every one (one remainder per value, not a gcd;
    most keys' first values already have 1)."""
    step = int(np.gcd.reduce(values[:64]))
    if step == 1:
        return 1
    if step == 0 or np.any(values % step):
        step = int(np.gcd.reduce(values))
    return step or 1
