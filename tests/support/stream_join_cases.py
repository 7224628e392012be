"""Inputs of the tests of SQL stream joins: random sides arriving out of order within the
watermark delay (keys, values and times sometimes null), sources the plan cannot know end,
and Nexmark's join queries as the Flink suite writes them (nexmark/nexmark, nexmark-flink
queries) with DuckDB references."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

import sabot_lab as sl
from tests.support.reference import duckdb_connection

__all__ = [
    "DELAY", "Q3", "Q4_JOIN", "Q4_JOIN_DUCKDB", "Q7", "Q8", "REGULAR", "SELECT", "duck",
    "endless", "nexmark_tables", "pieces", "side", "timed", "until_side",
]  # fmt: skip

SPAN_MS = 40_000
DELAY = "4s"


def side(seed: int, n: int, value: str) -> pa.Table:
    """``t`` (arriving up to 3 s out of order, sometimes null), a key ``k`` (sometimes null)
    and a value (sometimes null)."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, SPAN_MS, n))
    order = np.argsort(times + rng.uniform(0, 3_000, n), kind="stable")
    return pa.table(
        {
            "t": pa.array(times[order], pa.timestamp("ms"), mask=rng.random(n) < 0.03),
            "k": pa.array(rng.integers(0, 8, n), mask=rng.random(n) < 0.05),
            value: pa.array(rng.integers(0, 100, n), mask=rng.random(n) < 0.05),
        }
    )


def timed(table: pa.Table) -> sl.Stream:
    return sl.from_arrow(table).with_watermark("t", DELAY)


def duck(sql: str, **tables: pa.Table) -> pa.Table:
    con = duckdb_connection()
    for name, table in tables.items():
        con.register(name, table)
    return con.sql(sql).to_arrow_table()


SELECT = "SELECT l.k, l.t, l.v, r.t AS rt, r.w "
"""The columns the joins of two sides select."""

# Nexmark's joins as the Flink suite writes them (nexmark/nexmark, nexmark-flink queries)
Q7 = """
SELECT B.auction, B.price, B.bidder, B.`dateTime`, B.extra
from bid B
JOIN (
  SELECT MAX(price) AS maxprice, window_end as `dateTime`
  FROM TABLE(
          TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.`dateTime` BETWEEN B1.`dateTime`  - INTERVAL '10' SECOND AND B1.`dateTime`"""

Q8 = """
SELECT P.id, P.name, P.starttime
FROM (
  SELECT P.id, P.name,
         TUMBLE_START(P.`dateTime`, INTERVAL '10' SECOND) AS starttime,
         TUMBLE_END(P.`dateTime`, INTERVAL '10' SECOND) AS endtime
  FROM person P
  GROUP BY P.id, P.name, TUMBLE(P.`dateTime`, INTERVAL '10' SECOND)
) P
JOIN (
  SELECT A.seller,
         TUMBLE_START(A.`dateTime`, INTERVAL '10' SECOND) AS starttime,
         TUMBLE_END(A.`dateTime`, INTERVAL '10' SECOND) AS endtime
  FROM auction A
  GROUP BY A.seller, TUMBLE(A.`dateTime`, INTERVAL '10' SECOND)
) A
ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime"""

Q3 = """
SELECT P.name, P.city, P.state, A.id
FROM auction AS A INNER JOIN person AS P on A.seller = P.id
WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA')"""


def nexmark_tables(gen: sl.Nexmark) -> dict[str, sl.Stream]:
    """Flink's table names, each tracking event time as the generator's watermark does."""
    return {
        name: getattr(gen, kind).with_watermark("dateTime", DELAY)
        for name, kind in (("bid", "bids"), ("person", "persons"), ("auction", "auctions"))
    }


Q4_JOIN = """
SELECT A.id, A.category, B.price, B.`dateTime`
FROM auction A, bid B
WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires"""
Q4_JOIN_DUCKDB = """SELECT A.id, A.category, B.price, B.dateTime FROM auctions A JOIN bids B
    ON A.id = B.auction WHERE B.dateTime BETWEEN A.dateTime AND A.expires"""


def pieces(table: pa.Table, size: int) -> Callable[[int], pa.Table | None]:
    """``table`` in slices of ``size`` rows, as a generator the plan cannot know ends."""
    return lambda i: table.slice(i * size, size) if i * size < table.num_rows else None


def endless(table: pa.Table, size: int, watermark: bool = True) -> sl.Stream:
    stream = sl.from_generator(pieces(table, size), schema=table.schema)
    return stream.with_watermark("t", DELAY) if watermark else stream


def until_side(seed: int, n: int, value: str) -> pa.Table:
    """:func:`side` with ``u``: a time 0 to 6 s after ``t`` (sometimes null)."""
    table = side(seed, n, value)
    rng = np.random.default_rng(seed + 7)
    later = pa.array(rng.integers(0, 6_000, n), pa.duration("ms"), mask=rng.random(n) < 0.03)
    return table.append_column("u", pa.compute.add(table["t"], later))


REGULAR = {
    "keys only": ("FROM l JOIN r ON l.k = r.k AND l.v <> r.w", False),
    "freed by a column of each side": (
        "FROM l JOIN r ON l.k = r.k AND r.t BETWEEN l.t AND l.u",
        True,
    ),
}
