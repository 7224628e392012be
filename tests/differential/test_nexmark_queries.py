"""Each Nexmark query on a 1 M-event run equals its DuckDB SQL over the same generated events,
and the windowed ones see no late rows."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL, QUERIES
from tests.support.reference import duckdb_connection, timed_rows

EVENTS = 1_000_000
RATE = 10_000  # events per second of event time: a 100-second run, many windows


@pytest.fixture(scope="module")
def gen() -> sl.Nexmark:
    return sl.nexmark(events=EVENTS, event_rate=RATE, seed=42)


@pytest.fixture(scope="module")
def con(gen: sl.Nexmark) -> duckdb.DuckDBPyConnection:
    con = duckdb_connection()
    for name in ("persons", "auctions", "bids"):
        table = getattr(gen, name).collect()
        con.register(name, table.append_column("ms", table["dateTime"].cast(pa.int64())))
    return con


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_equals_duckdb(gen: sl.Nexmark, con: duckdb.DuckDBPyConnection, name: str) -> None:
    result = QUERIES[name](gen).run()
    expected = con.sql(DUCKDB_SQL[name]).to_arrow_table()
    assert result.table.num_rows == expected.num_rows > 0
    assert timed_rows(result.table) == timed_rows(expected)
    assert result.metrics_total("late_rows") == 0


def test_unbounded_nexmark_refuses_a_join_without_time_bounds() -> None:
    gen = sl.nexmark(events=None)
    with pytest.raises(sl.PlanError, match="state would grow without bound"):
        gen.bids.join(gen.auctions, left_on="auction", right_on="id")
    with pytest.raises(sl.PlanError, match="put the unbounded stream on the left"):
        sl.nexmark(events=10).auctions.join(gen.bids, left_on="id", right_on="auction")
    people = sl.nexmark(events=10).persons
    with pytest.raises(sl.PlanError, match=r"full join .* the left side is unbounded"):
        gen.auctions.join(people, left_on="seller", right_on="id", how="full")
