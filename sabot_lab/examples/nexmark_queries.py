"""The Nexmark queries written with the Stream API (names as in the Flink/RisingWave suites).

Each ``qN(gen)`` takes the streams of one generator run (:func:`sabot_lab.nexmark`, see :mod:`sabot_lab.examples.nexmark`) and returns
the query's result stream; they run bounded (a fixed number of events) or unbounded alike.
Windowed queries track event time with the generator's watermark rule: the latest time seen
minus 4 seconds.

>>> import sabot_lab as sl
>>> from sabot_lab.examples.nexmark_queries import QUERIES
>>> gen = sl.nexmark(events=10_000, seed=1)
>>> QUERIES["q2"](gen).collect().column("auction").to_pylist()[:3]
[1107, 1107, 1107]
"""

from __future__ import annotations

from collections.abc import Callable

from sabot_lab.examples.nexmark import Nexmark
from sabot_lab.expr import col, count
from sabot_lab.stream import Stream
from sabot_lab.window_specs import session, sliding, tumbling

__all__ = ["DUCKDB_SQL", "QUERIES", "q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11"]

DELAY = "4s"
"""Bounded out-of-orderness of the generator's event time."""


def _timed(stream: Stream) -> Stream:
    return stream.with_watermark("dateTime", DELAY)


def q0(gen: Nexmark) -> Stream:
    """Pass-through: every bid."""
    return gen.bids


def q1(gen: Nexmark) -> Stream:
    """Currency conversion: bids with the price in euros (``price * 0.908``)."""
    return gen.bids.select(
        "auction", "bidder", (col("price") * 0.908).alias("price"), "dateTime", "extra"
    )


def q2(gen: Nexmark) -> Stream:
    """Selection: the bids on every 123rd auction."""
    return gen.bids.filter(col("auction") % 123 == 0).select("auction", "price")


def q3(gen: Nexmark) -> Stream:
    """Local item suggestion: category-10 auctions of sellers in Oregon, Idaho or California."""
    auctions = gen.auctions.filter(col("category") == 10)
    sellers = gen.persons.filter(col("state").is_in(["OR", "ID", "CA"]))
    joined = auctions.join(sellers, left_on="seller", right_on="id")
    return joined.select("name", "city", "state", "id")


def q4(gen: Nexmark) -> Stream:
    """Average winning price per category: the highest bid made during each auction's life
    (an auction lasts at most 20 s), averaged over the auctions of a category."""
    auctions = gen.auctions.select("id", "category", "dateTime", "expires")
    bids = _timed(gen.bids.select("auction", "price", "dateTime"))
    during = bids.join_interval(
        _timed(auctions), left_on="auction", right_on="id",
        time="dateTime", lower="0s", upper="20s",
    ).filter(col("dateTime") <= col("expires"))  # fmt: skip
    winning = during.group_by("auction", "category").agg(final=col("price").max())
    return winning.group_by("category").agg(avg_price=col("final").mean())


def q5(gen: Nexmark) -> Stream:
    """Hot items: in every 10-second window sliding by 2 s, the auctions with the most bids.

    The highest count of each window is a second window aggregate (2-second windows on
    ``window_start`` hold one sliding window each), joined back to the counts of the same
    window, so the query runs unbounded too."""
    windows = sliding("10s", "2s", on="dateTime")
    counts = _timed(gen.bids.select("auction", "dateTime")).window(windows)
    per_auction = counts.group_by("auction").agg(num=count())
    most = per_auction.window(tumbling("2s", on="window_start")).agg(maxn=col("num").max())
    hot = per_auction.join_interval(
        most.select("window_start", "maxn"), on="window_start",
        time="window_start", lower="0s", upper="0s",
    ).filter(col("num") >= col("maxn"))  # fmt: skip
    return hot.select("auction", "num", "window_start", "window_end")


def q7(gen: Nexmark) -> Stream:
    """Highest bid: the bids at the highest price of each 10-second window (the window's end
    and the 10 s before it, both ends included)."""
    bids = _timed(gen.bids.select("auction", "bidder", "price", "dateTime", "extra"))
    highest = bids.window(tumbling("10s", on="dateTime")).agg(maxprice=col("price").max())
    return bids.join_interval(
        highest, left_on="price", right_on="maxprice",
        time="dateTime", other_time="window_end", lower="-10s", upper="0s",
    ).select("auction", "price", "bidder", "dateTime", "extra")  # fmt: skip


def q8(gen: Nexmark) -> Stream:
    """Monitor new users: people who created an auction in the 10-second window in which they
    registered."""
    windows = tumbling("10s", on="dateTime")
    people = _timed(gen.persons).window(windows).group_by("id", "name").agg()
    sellers = _timed(gen.auctions).window(windows).group_by("seller").agg()
    joined = people.join_interval(
        sellers, left_on=["id", "window_start"], right_on=["seller", "window_start"],
        time="window_start", lower="0s", upper="0s",
    )  # fmt: skip
    return joined.select("id", "name", "window_start")


def q11(gen: Nexmark) -> Stream:
    """User sessions: bids per bidder in sessions closed by 10 s without a bid."""
    sessions = _timed(gen.bids).window(session("10s", on="dateTime"))
    return sessions.group_by("bidder").agg(bid_count=count())


QUERIES: dict[str, Callable[[Nexmark], Stream]] = {
    "q0": q0, "q1": q1, "q2": q2, "q3": q3, "q4": q4,
    "q5": q5, "q7": q7, "q8": q8, "q11": q11,
}  # fmt: skip


DUCKDB_SQL = {
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
                              OVER (PARTITION BY bidder ORDER BY ms RANGE UNBOUNDED PRECEDING) AS sid
                    FROM o)
              SELECT bidder, min(ms) AS ws, max(ms) + 10000 AS we, count(*) AS bid_count
              FROM s GROUP BY bidder, sid""",
}
"""Each query in DuckDB SQL over tables ``persons``, ``auctions`` and ``bids`` holding a run's
events with an extra column ``ms`` (``dateTime`` in epoch milliseconds): an independent
reference for the results. Windows are integer arithmetic on ``ms``, sessions come from
window functions (framed by ``RANGE``, so bids of one bidder at the same time, tied in the
order, share a session whatever order they are read in)."""
