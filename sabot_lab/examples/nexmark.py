"""``sl.nexmark(...)``: the Nexmark auction streams of one generator run.

>>> import sabot_lab as sl
>>> gen = sl.nexmark(events=1_000, seed=7)
>>> gen.bids.collect().num_rows, gen.auctions.collect().num_rows, gen.persons.collect().num_rows
(920, 60, 20)
"""

from __future__ import annotations

from dataclasses import dataclass

from sabot_lab.connectors.nexmark import NexmarkSource
from sabot_lab.stream import Stream, from_source

__all__ = ["Nexmark", "nexmark"]


@dataclass(frozen=True)
class Nexmark:
    """The streams of one Nexmark run: ``count`` events (None: no end) at ``rate`` events per
    second of event time, from ``seed``. Each stream regenerates its events (identically)
    every time it runs."""

    count: int | None
    rate: float
    seed: int

    def _stream(self, kind: str) -> Stream:
        return from_source(NexmarkSource(kind, self.count, self.rate, self.seed), f"nexmark {kind}")

    @property
    def persons(self) -> Stream:
        """New users: ``id, name, emailAddress, creditCard, city, state, dateTime, extra``."""
        return self._stream("persons")

    @property
    def auctions(self) -> Stream:
        """New auctions: ``id, itemName, description, initialBid, reserve, dateTime, expires,
        seller, category, extra``."""
        return self._stream("auctions")

    @property
    def bids(self) -> Stream:
        """Bids: ``auction, bidder, price, channel, url, dateTime, extra``."""
        return self._stream("bids")

    @property
    def events(self) -> Stream:
        """All events in order: ``event_type`` (0 person, 1 auction, 2 bid), one struct column
        per kind (null for the other kinds) and ``dateTime``."""
        return self._stream("events")


def nexmark(events: int | None = 1_000_000, rate: float = 1_000_000.0, seed: int = 0) -> Nexmark:
    """The Nexmark generator: ``events`` events (``None``: unbounded), event time advancing
    at ``rate`` events per second, deterministic for ``seed``.

    >>> import sabot_lab as sl
    >>> sl.nexmark(events=100).bids.select("auction", "price").head(2).collect().to_pylist()
    [{'auction': 1001, 'price': 64694}, {'auction': 1000, 'price': 77794}]
    """
    NexmarkSource("events", events, rate, seed)  # bad settings fail here, not when run
    return Nexmark(events, float(rate), seed)
