"""The check of Nexmark q12's processing-time windows over the never-ending generator: the
windows read are wall-clock aligned, each whole, and together count each bid of a prefix of
the generator once (rows are stamped in the generator's order, so whole windows that follow
one another from the first cover its first bids). Shared by the in-process and cluster tests."""

from __future__ import annotations

import pyarrow as pa

import sabot_lab as sl
from tests.support.reference import duckdb_table


def assert_windows_count_a_prefix_of_the_bids(rows: pa.Table, size_s: int, rate: int) -> int:
    """Check q12's result ``rows`` (``bidder, bid_count, starttime, endtime``: the windows
    from the first on, each whole) against DuckDB over the generator's first bids (as many
    as the windows count, the generator run at ``rate`` events per second); the number of
    bids counted."""
    assert rows.num_rows > 0
    for start, end in zip(rows["starttime"].to_pylist(), rows["endtime"].to_pylist(), strict=True):
        assert (end - start).total_seconds() == size_s
        assert start.timestamp() % size_s == 0
    counted = int(pa.compute.sum(rows["bid_count"]).as_py())
    events = counted * 50 // 46 + 100  # bids are 46 events in 50
    bids = sl.nexmark(events=events, event_rate=rate).bids.select("bidder").collect()
    assert bids.num_rows >= counted
    first = bids.slice(0, counted)  # the generator's first bids, in its order
    expected = duckdb_table("SELECT bidder, count(*) AS n FROM first GROUP BY bidder", first=first)
    ours = duckdb_table("SELECT bidder, sum(bid_count) AS n FROM rows GROUP BY bidder", rows=rows)
    assert sorted(ours.to_pylist(), key=lambda r: r["bidder"]) == sorted(
        expected.to_pylist(), key=lambda r: r["bidder"]
    )
    return counted
