"""``sl.nexmark(...)``: the Nexmark auction streams of one generator run.

>>> import sabot_lab as sl
>>> gen = sl.nexmark(events=1_000, seed=7)
>>> gen.bids.collect().num_rows, gen.auctions.collect().num_rows, gen.persons.collect().num_rows
(920, 60, 20)
"""

from __future__ import annotations

from dataclasses import dataclass

from sabot_lab.connectors.nexmark import NexmarkSource
from sabot_lab.deprecations import renamed
from sabot_lab.stream import Stream, from_source

__all__ = ["Nexmark", "nexmark"]


@dataclass(frozen=True)
class Nexmark:
    """The streams of one Nexmark run: ``count`` events (None: no end), ``event_rate`` events
    per second of event time, from ``seed``. Each stream regenerates its events (identically)
    every time it runs."""

    count: int | None
    event_rate: float
    seed: int

    def _stream(self, kind: str) -> Stream:
        source = NexmarkSource(kind, self.count, self.event_rate, self.seed)
        return from_source(source, f"nexmark {kind}")

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


def nexmark(
    events: int | None = 1_000_000,
    event_rate: float = 1_000_000.0,
    seed: int = 0,
    *,
    rate: float | None = None,
) -> Nexmark:
    """The Nexmark generator: ``events`` events (``None``: unbounded), deterministic for
    ``seed``.

    ``event_rate`` is the spacing of the events in *event time* (their ``dateTime``): one
    event every ``1 / event_rate`` seconds. It does not pace the generator, which produces
    rows as fast as they are read (millions per second of wall-clock time); to pace a feed
    in wall-clock time, see ``from_generator(max_rows_per_second=...)``. ``rate`` is the
    former name of ``event_rate`` (deprecated).

    >>> import sabot_lab as sl
    >>> sl.nexmark(events=100).bids.select("auction", "price").head(2).collect().to_pylist()
    [{'auction': 1001, 'price': 64694}, {'auction': 1000, 'price': 77794}]
    >>> times = sl.nexmark(events=3, event_rate=2.0).events.collect().column("dateTime")
    >>> [str(t) for t in times.to_pylist()][1:]  # half a second apart
    ['2026-01-01 00:00:00.500000', '2026-01-01 00:00:01']
    """
    event_rate = renamed("nexmark", "rate", rate, "event_rate", event_rate)
    NexmarkSource("events", events, event_rate, seed)  # bad settings fail here, not when run
    return Nexmark(events, float(event_rate), seed)
