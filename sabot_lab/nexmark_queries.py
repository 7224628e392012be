"""The Nexmark queries written with the Stream API (names as in the Flink/RisingWave suites).

Each ``qN(gen)`` takes the streams of one generator run (:func:`sabot_lab.nexmark`) and returns
the query's result stream; they run bounded (a fixed number of events) or unbounded alike.
Windowed queries track event time with the generator's watermark rule: the latest time seen
minus 4 seconds.

>>> import sabot_lab as sl
>>> from sabot_lab.nexmark_queries import QUERIES
>>> gen = sl.nexmark(events=10_000, seed=1)
>>> QUERIES["q2"](gen).collect().column("auction").to_pylist()[:3]
[1107, 1107, 1107]
"""

from __future__ import annotations

from collections.abc import Callable

from sabot_lab.expr import col, count
from sabot_lab.nexmark import Nexmark
from sabot_lab.stream import Stream
from sabot_lab.windows import session, sliding, tumbling

__all__ = ["QUERIES", "q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8", "q11"]

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
    """Hot items: in every 10-second window sliding by 2 s, the auctions with the most bids."""
    windows = sliding("10s", "2s", on="dateTime")
    counts = _timed(gen.bids.select("auction", "dateTime")).window(windows)
    per_auction = counts.group_by("auction").agg(num=count())
    most = per_auction.group_by("window_start").agg(maxn=col("num").max())
    hot = per_auction.join(most, on="window_start").filter(col("num") >= col("maxn"))
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
