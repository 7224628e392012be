"""Interval join of two streams: rows with equal keys whose times are close.

A left row with time ``t`` matches a right row with time ``r`` when
``r + lower <= t <= r + upper``. Both sides are kept in a state backend and every batch
probes the other side's rows as it arrives, so matches come out as soon as both rows are
there. Watermarks bound the state: once the watermark is ``W``, a left row can match only
right rows still to come (``r >= W``), so left rows with ``t < W + lower`` go; right rows
with ``r + upper < W`` go likewise. Windowed joins are interval joins on ``window_start``
with both bounds zero. The output's watermark is held back by the lower bound when it is
negative (matches keep the left row's time, which may be that much behind).

>>> import pyarrow as pa
>>> from sabot_lab.engine.state import open_state
>>> ts = pa.timestamp("s")
>>> bids = pa.record_batch({"a": [1, 1, 2], "t": pa.array([5, 30, 6], ts)})
>>> auctions = pa.record_batch({"id": [1, 2], "t": pa.array([0, 0], ts), "item": ["pen", "cup"]})
>>> join = IntervalJoin(["a"], ["id"], "t", "t", 0, 20_000_000, ["item"], ["item"], open_state())
>>> join.on_batch(auctions, 1)
[]
>>> join.on_batch(bids, 0)[0].to_pydict()
{'a': [1, 2], 't': [datetime.datetime(1970, 1, 1, 0, 0, 5), datetime.datetime(1970, 1, 1, 0, 0, 6)], 'item': ['pen', 'cup']}
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.engine.items import Batch, Watermark
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.stateful import StatefulOperator
from sabot_lab.window_specs import END_OF_TIME, us_to_unit

__all__ = ["IntervalJoin"]


class IntervalJoin(StatefulOperator):
    """The state and matching of an interval join; ``lower``/``upper`` in microseconds,
    ``payload`` the right columns in the output, named ``names``."""

    def __init__(
        self,
        left_on: Sequence[str],
        right_on: Sequence[str],
        left_time: str,
        right_time: str,
        lower: int,
        upper: int,
        payload: Sequence[str],
        names: Sequence[str],
        state: StateBackend,
    ) -> None:
        self.left_on, self.right_on = list(left_on), list(right_on)
        self.times = (left_time, right_time)
        self.lower_us, self.upper_us = lower, upper
        self.payload, self.names = list(payload), list(names)
        super().__init__(state)

    def _load(self) -> None:
        super()._load()
        self._chunks: tuple[list[tuple[str, int]], list[tuple[str, int]]] = ([], [])
        self._unit: str | None = None
        for key, table in self.state.items():
            side = int(key[0])
            self._chunks[side].append((key, pc.max(table[self.times[side]]).value))
            self._unit = table.schema.field(self.times[side]).type.unit

    def on_batch(self, batch: Batch, side: int = 0) -> list[pa.Table]:
        """Keep a batch of side ``side`` (0 left, 1 right); its matches with the other side."""
        time = batch.column(self.times[side])
        if time.null_count:  # a row without a time is within no interval
            batch = batch.filter(pc.is_valid(time))
        if not batch.num_rows:
            return []
        self._unit = self._unit or batch.schema.field(self.times[side]).type.unit
        if side == 1:
            batch = batch.select(
                list(dict.fromkeys([*self.right_on, self.times[1], *self.payload]))
            )
        table = pa.Table.from_batches([batch])
        others = [self.state.get(key) for key, _ in self._chunks[1 - side]]
        other = [t for t in others if t is not None]
        matches = None
        if other:
            rest = pa.concat_tables(other)
            matches = self._match(table, rest) if side == 0 else self._match(rest, table)
        key = self._put_new(table, f"{side}/")
        self._chunks[side].append((key, pc.max(table[self.times[side]]).value))
        return [] if matches is None else [matches]

    def _match(self, left: pa.Table, right: pa.Table) -> pa.Table | None:
        """Rows of ``left`` and ``right`` with equal keys and times within the bounds; the hash
        table is built on the smaller of the two (a new batch, or the rows kept)."""
        ours = [f"__l{i}" for i in range(left.num_columns)]
        theirs = [f"__r{i}" for i in range(right.num_columns)]
        l_name = dict(zip(left.column_names, ours, strict=True))
        r_name = dict(zip(right.column_names, theirs, strict=True))
        sides = [
            (left.rename_columns(ours), [l_name[k] for k in self.left_on]),
            (right.rename_columns(theirs), [r_name[k] for k in self.right_on]),
        ]
        (probe, probe_keys), (build, build_keys) = sorted(sides, key=lambda s: -s[0].num_rows)
        joined = probe.join(
            build, keys=probe_keys, right_keys=build_keys, join_type="inner",
            coalesce_keys=False, use_threads=False,
        )  # fmt: skip
        if not joined.num_rows:
            return None
        t = joined[l_name[self.times[0]]]
        r = joined[r_name[self.times[1]]].cast(pa.int64())
        unit = left.schema.field(self.times[0]).type.unit
        low = pc.add(r, us_to_unit(self.lower_us, unit)).cast(t.type)
        high = pc.add(r, us_to_unit(self.upper_us, unit)).cast(t.type)
        joined = joined.filter(pc.and_(pc.greater_equal(t, low), pc.less_equal(t, high)))
        if not joined.num_rows:
            return None
        columns = [joined[n] for n in ours] + [joined[r_name[p]] for p in self.payload]
        return pa.Table.from_arrays(columns, names=[*left.column_names, *self.names])

    def on_watermark(self, watermark: Watermark) -> Iterator[Watermark]:
        """Forget the rows no row still to come can match; the watermark, held back by a
        negative lower bound."""
        self.evict(watermark.time)
        if watermark.time == END_OF_TIME:
            yield watermark
        else:
            yield Watermark(watermark.time + min(self.lower_us, 0))

    def evict(self, watermark: int) -> None:
        """Forget the rows no row still to come can match, given the watermark (microseconds)."""
        if watermark == END_OF_TIME or self._unit is None:
            return
        for side, cutoff_us in ((0, watermark + self.lower_us), (1, watermark - self.upper_us)):
            cutoff = us_to_unit(cutoff_us, self._unit)
            kept = []
            for key, latest in self._chunks[side]:
                if latest >= cutoff:
                    table = self.state.get(key)
                    if table is not None and pc.min(table[self.times[side]]).value < cutoff:
                        stays = table.filter(
                            pc.greater_equal(table[self.times[side]].cast(pa.int64()), cutoff)
                        )
                        self.state.put(key, stays)
                        self._held(stays.num_rows - table.num_rows)
                    kept.append((key, latest))
                    continue
                table = self.state.pop(key)
                self._held(-(0 if table is None else table.num_rows))
            self._chunks[side][:] = kept
