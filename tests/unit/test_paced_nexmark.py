"""The Nexmark table with ``'max-emit-speed' = 'false'`` gives its events at their rate in
wall-clock time, the same events as the unpaced generator."""

from __future__ import annotations

import time

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from tests.support.reference import assert_same_rows


def _bids(paced: bool) -> sl.Stream:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=500, rate=1_000, paced=paced))
    bids = ctx.execute("SELECT * FROM bid")
    assert isinstance(bids, sl.Stream)
    return bids


def test_paced_events_come_at_their_rate_and_are_the_same_events() -> None:
    started = time.monotonic()
    paced = _bids(paced=True).collect()
    assert time.monotonic() - started >= 0.5  # 500 events at 1,000 a second
    assert paced.num_rows == 460
    assert_same_rows(paced, _bids(paced=False).collect(), ordered=True)
