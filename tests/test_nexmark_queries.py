"""Each Nexmark query on a 1 M-event run equals DuckDB SQL over the same generated events
(windows written with integer arithmetic on epoch milliseconds, sessions with window
functions), and the windowed ones see no late rows."""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.nexmark_queries import QUERIES

EVENTS = 1_000_000
RATE = 10_000  # events per second of event time: a 100-second run, many windows

REFERENCES = {
    "q0": "SELECT auction, bidder, price, channel, url, dateTime, extra FROM bids",
    "q1": "SELECT auction, bidder, 0.908::DOUBLE * price AS price, dateTime, extra FROM bids",
    "q2": "SELECT auction, price FROM bids WHERE auction % 123 = 0",
    "q3": """SELECT P.name, P.city, P.state, A.id FROM auctions A JOIN persons P ON A.seller = P.id
             WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')""",
    "q4": """SELECT category, avg(final) AS avg_price FROM (
               SELECT A.id, A.category, max(B.price) AS final FROM auctions A JOIN bids B
               ON A.id = B.auction WHERE B.dateTime BETWEEN A.dateTime AND A.expires
               GROUP BY A.id, A.category) GROUP BY category""",
    "q5": """WITH w AS (
               SELECT auction, ms, unnest(generate_series((ms // 2000) * 2000 - 8000,
                                                          (ms // 2000) * 2000, 2000)) AS ws
               FROM bids),
             c AS (SELECT auction, ws, count(*) AS num FROM w WHERE ms < ws + 10000
                   GROUP BY auction, ws),
             m AS (SELECT ws, max(num) AS maxn FROM c GROUP BY ws)
             SELECT c.auction, c.num, c.ws, c.ws + 10000 AS we FROM c JOIN m USING (ws)
             WHERE c.num >= m.maxn""",
    "q7": """WITH m AS (SELECT max(price) AS maxprice, (ms // 10000) * 10000 + 10000 AS we
                       FROM bids GROUP BY ms // 10000)
             SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra FROM bids B
             JOIN m ON B.price = m.maxprice WHERE B.ms BETWEEN m.we - 10000 AND m.we""",
    "q8": """WITH p AS (SELECT DISTINCT id, name, (ms // 10000) * 10000 AS ws FROM persons),
                  a AS (SELECT DISTINCT seller, (ms // 10000) * 10000 AS ws FROM auctions)
             SELECT p.id, p.name, p.ws FROM p JOIN a ON p.id = a.seller AND p.ws = a.ws""",
    "q11": """WITH o AS (SELECT bidder, ms, lag(ms) OVER (PARTITION BY bidder ORDER BY ms) AS prev
                       FROM bids),
              s AS (SELECT *, sum(CASE WHEN prev IS NULL OR ms - prev >= 10000 THEN 1 ELSE 0 END)
                              OVER (PARTITION BY bidder ORDER BY ms ROWS UNBOUNDED PRECEDING) AS sid
                    FROM o)
              SELECT bidder, min(ms) AS ws, max(ms) + 10000 AS we, count(*) AS bid_count
              FROM s GROUP BY bidder, sid""",
}


@pytest.fixture(scope="module")
def gen() -> sl.Nexmark:
    return sl.nexmark(events=EVENTS, rate=RATE, seed=42)


@pytest.fixture(scope="module")
def con(gen: sl.Nexmark) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in ("persons", "auctions", "bids"):
        table = getattr(gen, name).collect()
        con.register(name, table.append_column("ms", table["dateTime"].cast(pa.int64())))
    return con


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """The rows as sortable tuples: times as epoch milliseconds, floats rounded."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        values = column.to_pylist()
        if pa.types.is_floating(column.type):
            values = [None if v is None else round(v, 6) for v in values]
        columns.append(values)
    return sorted(zip(*columns, strict=True), key=repr)


@pytest.mark.parametrize("name", list(QUERIES))
def test_query_equals_duckdb(gen: sl.Nexmark, con: duckdb.DuckDBPyConnection, name: str) -> None:
    result = QUERIES[name](gen).run()
    expected = con.sql(REFERENCES[name]).to_arrow_table()
    assert result.table.num_rows == expected.num_rows > 0
    assert rows(result.table) == rows(expected)
    assert result.metrics_total("late_rows") == 0


def test_unbounded_nexmark_refuses_a_join_without_time_bounds() -> None:
    gen = sl.nexmark(events=None)
    with pytest.raises(sl.PlanError, match="state would grow without bound"):
        gen.bids.join(gen.auctions, left_on="auction", right_on="id")
    with pytest.raises(sl.PlanError, match="put the unbounded stream on the left"):
        sl.nexmark(events=10).auctions.join(gen.bids, left_on="id", right_on="auction")
