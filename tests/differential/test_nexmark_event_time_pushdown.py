"""The Nexmark table's ``person``, ``auction`` and ``bid`` views read only what they use: the
table's computed ``dateTime`` (a ``CASE`` over the three kinds' times) is the generator's own
event time, so a view reads its kind's struct column alone, and its filter on the kind, moved
below the table's watermark (the generator's times never decrease), is the generator's: it
makes that kind's events only. Their rows equal those of the plan left as built (``optimize=False``: every kind made)
and DuckDB's ``CASE`` over the whole events."""

from __future__ import annotations

import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from sabot_lab.logical import Source
from tests.support.reference import assert_same_rows, duckdb_table

EVENTS, RATE = 5_000, 1_000
EVENT_TIME = (
    'CASE WHEN event_type = 0 THEN person."dateTime" WHEN event_type = 1 '
    'THEN auction."dateTime" ELSE bid."dateTime" END'
)


@pytest.mark.parametrize(("view", "event_type"), [("person", 0), ("auction", 1), ("bid", 2)])
def test_a_view_reads_one_kind_and_gives_the_rows_of_every_event(
    view: str, event_type: int
) -> None:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=EVENTS, rate=RATE))
    rows = ctx.execute(f"SELECT * FROM {view}")
    assert isinstance(rows, sl.Stream)
    [source] = [n.op for n in rows.optimize().graph if isinstance(n.op, Source)]
    assert source.columns == [view, "dateTime"]
    assert source.predicate is not None  # the generator makes the view's kind only
    pushed = rows.collect()
    assert_same_rows(pushed, rows.collect(optimize=False), ordered=True)
    events = sl.nexmark(events=EVENTS, event_rate=RATE).events.collect()
    columns = [
        f'{EVENT_TIME} AS "dateTime"' if name == "dateTime" else f'{view}."{name}"'
        for name in pushed.column_names
    ]
    expected = duckdb_table(
        f"SELECT {', '.join(columns)} FROM events WHERE event_type = {event_type}", events=events
    )
    assert pushed.num_rows == expected.num_rows > 0
    assert_same_rows(pushed, expected, ordered=True)
