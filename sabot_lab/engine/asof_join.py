"""As-of join of two streams: each left row with the latest right row of the same key at or
before its time (within a tolerance), or nulls (a left join).

A left row with time ``t`` is answered once the watermark passes ``t``: then every right row
at or before ``t`` has arrived. Right rows are kept while a left row still to come may pick
them: those at or after ``watermark - tolerance``, and without a tolerance also the latest
row of each key before the watermark. Watermarks pass unchanged, after the answers they
release.

>>> import pyarrow as pa
>>> from sabot_lab.window_specs import END_OF_TIME
>>> from sabot_lab.engine.items import Watermark
>>> from sabot_lab.engine.state import open_state
>>> ts = pa.timestamp("s")
>>> trades = pa.record_batch({"t": pa.array([5, 9], ts), "sym": ["A", "A"]})
>>> quotes = pa.record_batch({"t": pa.array([4, 6, 10], ts), "sym": ["A", "A", "A"], "px": [1.0, 2.0, 3.0]})
>>> join = AsofJoin("t", ["sym"], None, ["px"], ["px"], quotes.schema, open_state())
>>> join.on_batch(trades, 0), join.on_batch(quotes, 1)
((), ())
>>> answers, watermark = join.on_watermark(Watermark(END_OF_TIME))
>>> answers.column("px").to_pylist(), watermark == Watermark(END_OF_TIME)
([1.0, 2.0], True)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.items import Batch, Watermark
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.stateful import StatefulOperator
from sabot_lab.window_specs import END_OF_TIME, us_to_unit

__all__ = ["AsofJoin"]

_FOREVER = 2**62  # a tolerance no two times exceed
_SINCE = "__since"


class AsofJoin(StatefulOperator):
    """The state and matching of an as-of join on time column ``on`` and keys ``by``;
    ``tolerance`` in microseconds (None: any age); ``payload`` the columns of the right side
    (schema ``right``) in the output, named ``names``."""

    def __init__(
        self,
        on: str,
        by: Sequence[str],
        tolerance: int | None,
        payload: Sequence[str],
        names: Sequence[str],
        right: pa.Schema,
        state: StateBackend,
    ) -> None:
        self.on, self.by, self.tolerance_us = on, list(by), tolerance
        self.payload, self.names = list(payload), list(names)
        self._empty_right = pa.Table.from_pylist(
            [], schema=pa.schema([right.field(c) for c in [on, *self.by, *self.payload]])
        )
        super().__init__(state)

    def _load(self) -> None:
        super()._load()
        self._schema: pa.Schema | None = None  # of the left side
        for key, table in self.state.items():
            if key.startswith("0/"):
                self._schema = table.schema

    def on_batch(self, batch: Batch, side: int = 0) -> tuple[()]:
        """Keep a batch of the left (0) or right (1) side until the watermark passes it."""
        if side == 0:
            self._schema = batch.schema
        else:
            batch = batch.select([self.on, *self.by, *self.payload])
            batch = batch.filter(_complete(batch, [self.on, *self.by]))  # others never match
        self._keep(side, pa.Table.from_batches([batch]))
        return ()

    def _take(self, side: int) -> pa.Table | None:
        held = self.state.keys()
        tables = [self.state.pop(k) for k in held if k.startswith(f"{side}/")]
        present = [t for t in tables if t is not None]
        if not present:
            return None
        table = pa.concat_tables(present)
        self._held(-table.num_rows)
        return table

    def _keep(self, side: int, table: pa.Table) -> None:
        if table.num_rows:
            self._put_new(table, f"{side}/")

    def on_watermark(self, watermark: Watermark) -> Iterator[pa.Table | Watermark]:
        """The answers for the left rows before the watermark, then the watermark."""
        answers = self.fire(watermark.time)
        if answers is not None:
            yield answers
        yield watermark

    def fire(self, watermark: int) -> pa.Table | None:
        """The answers for the left rows before ``watermark`` (microseconds)."""
        left, right = self._take(0), self._take(1)
        if left is None or self._schema is None:
            if right is not None:
                self._keep(1, self._still_needed(right, watermark))
            return None
        unit = self._schema.field(self.on).type.unit
        time = left[self.on]
        if watermark == END_OF_TIME:
            ready = pc.fill_null(pc.is_valid(time), True)
        else:
            cutoff = pa.scalar(us_to_unit(watermark, unit), pa.int64()).cast(time.type)
            ready = pc.fill_null(pc.less(time, cutoff), True)  # no time: answered at once
        self._keep(0, left.filter(pc.invert(ready)))
        answered = self._answer(
            left.filter(ready), right if right is not None else self._empty_right, unit
        )
        if right is not None:
            self._keep(1, self._still_needed(right, watermark))
        return answered

    def _answer(self, left: pa.Table, right: pa.Table, unit: str) -> pa.Table:
        inner = [f"__r{i}" for i in range(len(self.payload))]
        matchable = _complete(left, [self.on, *self.by])  # null times and keys match nothing
        tolerance = _FOREVER if self.tolerance_us is None else us_to_unit(self.tolerance_us, unit)
        probe = left.filter(matchable).sort_by(self.on)
        # Acero's as-of join wants ascending, non-negative times: match on times since the
        # earliest one of either side instead (only order and differences matter)
        times = [probe[self.on].cast(pa.int64()), right[self.on].cast(pa.int64())]
        start = min((pc.min(t).as_py() for t in times if len(t)), default=0)
        probe = probe.append_column(_SINCE, pc.subtract(times[0], start))
        build = right.rename_columns([_SINCE, *self.by, *inner])
        build = build.set_column(0, _SINCE, pc.subtract(times[1], start)).sort_by(_SINCE)
        joined = probe.join_asof(build, on=_SINCE, by=self.by, tolerance=-tolerance).drop_columns(
            [_SINCE]
        )
        unmatched = left.filter(pc.invert(matchable))
        if unmatched.num_rows:
            nulls = [pa.nulls(unmatched.num_rows, joined[c].type) for c in inner]
            joined = pa.concat_tables(
                [joined, pa.Table.from_arrays([*unmatched.columns, *nulls], schema=joined.schema)]
            ).sort_by(self.on)
        return joined.rename_columns([*left.column_names, *self.names])

    def _still_needed(self, right: pa.Table, watermark: int) -> pa.Table:
        if watermark == END_OF_TIME:
            return right.slice(0, 0)
        unit = right.schema.field(self.on).type.unit
        times = right[self.on].cast(pa.int64())
        now = us_to_unit(watermark, unit)
        if self.tolerance_us is not None:
            return right.filter(pc.greater_equal(times, now - us_to_unit(self.tolerance_us, unit)))
        recent = right.filter(pc.greater_equal(times, now))
        older = right.filter(pc.less(times, now)).sort_by(self.on)
        if not older.num_rows:
            return recent
        numbered = older.append_column("__row", pa.array(range(older.num_rows), pa.int64()))
        last = numbered.group_by(self.by, use_threads=False).aggregate([("__row", "max")])
        return pa.concat_tables([older.take(last["__row_max"]), recent])


def _complete(table: pa.Table | pa.RecordBatch, columns: Sequence[str]) -> pa.Array:
    """True for the rows with a value in every one of ``columns``."""
    mask = pc.is_valid(table.column(columns[0]))
    for name in columns[1:]:
        mask = pc.and_(mask, pc.is_valid(table.column(name)))
    return mask
