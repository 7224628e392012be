"""Interval join of two streams: rows with equal keys whose times are close.

A left row with time ``t`` matches a right row with time ``r`` when
``r + lower <= t <= r + upper``: a symmetric hash join
(:mod:`sabot_lab.engine.symmetric_join`) keeping the pairs within the bounds, so matches come
out as soon as both rows are there. Watermarks bound the state: once the watermark is ``W``, a left row can match only
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

from sabot_lab.engine.items import Watermark
from sabot_lab.engine.state import StateBackend
from sabot_lab.engine.symmetric_join import SymmetricJoin
from sabot_lab.window_specs import END_OF_TIME, us_to_unit

__all__ = ["IntervalJoin"]


class IntervalJoin(SymmetricJoin):
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
        self.times = (left_time, right_time)
        self.lower_us, self.upper_us = lower, upper
        # a left row meets right rows still to come (r >= W) while t >= W + lower; a right
        # row meets left ones (t >= W) while r + upper >= W
        super().__init__(
            left_on, right_on, payload, names, state, (left_time, right_time), (-lower, upper)
        )

    def _kept(
        self, joined: pa.Table, left: dict[str, str], right: dict[str, str], schema: pa.Schema
    ) -> pa.Table:
        """The pairs whose times are within the bounds."""
        t = joined[left[self.times[0]]]
        r = joined[right[self.times[1]]].cast(pa.int64())
        unit = schema.field(self.times[0]).type.unit
        low = pc.add(r, us_to_unit(self.lower_us, unit)).cast(t.type)
        high = pc.add(r, us_to_unit(self.upper_us, unit)).cast(t.type)
        return joined.filter(pc.and_(pc.greater_equal(t, low), pc.less_equal(t, high)))

    def on_watermark(self, watermark: Watermark) -> Iterator[Watermark]:
        """Forget the rows no row still to come can match; the watermark, held back by a
        negative lower bound."""
        self.evict(watermark.time)
        if watermark.time == END_OF_TIME:
            yield watermark
        else:
            yield Watermark(watermark.time + min(self.lower_us, 0))
