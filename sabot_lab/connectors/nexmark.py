"""The Nexmark auction generator as a source: persons, auctions and bids, vectorized.

Event number ``n`` (from 0) is a person when ``n % 50 == 0``, an auction when ``n % 50`` is 1 to
3, and a bid otherwise (1 : 3 : 46). Every field of event ``n`` is a function of the seed and
``n`` alone (a counter-based random stream: splitmix64 of the seed and the event number), so
any range of events is generated on its own, in whole numpy batches, identically however the
range is split into batches or tasks. Event time advances by ``1 / rate`` seconds per event.
The draws and the price rule live in one Cython kernel (:mod:`sabot_lab.kernels.nexmark`):
bids, 46 events in 50, are made there with all their columns in one pass; persons and
auctions are made from the kernel's draws with numpy, their strings with Arrow compute.

The choices follow the Flink/Beam generators: ids start at 1000; a bid goes to a "hot"
auction (the newest even-numbered one) half the time and otherwise to one of the 100 newest
auctions; a bidder is hot (the newest person id that is 1 modulo 4) three times in four,
otherwise one of the 1,000 newest persons; sellers are hot three times in four likewise;
``category = 10 + rand(5)``; ``price = round(10 ** (6 U) * 100)`` cents; an auction lasts
10 to 20 seconds of event time.

>>> source = NexmarkSource("bids", events=100, seed=1)
>>> batch = next(source.scan(1000))
>>> batch.num_rows, batch.schema.names[:3]
(92, ['auction', 'bidder', 'price'])
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sabot_lab.errors import SourceError
from sabot_lab.expr import Expr
from sabot_lab.kernels.nexmark import bid_columns, draws, prices
from sabot_lab.plan.sources import SourceSpec, register_source

__all__ = ["KINDS", "SCHEMAS", "NexmarkSource"]

FIRST_ID = 1000
FIRST_CATEGORY = 10
PERIOD = 50  # one person, three auctions and 46 bids in every 50 events
BASE_TIME = dt.datetime(2026, 1, 1)
STATES = np.array(["AZ", "CA", "ID", "OR", "WA", "WY"])
CITIES = np.array(["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"])  # fmt: skip
FIRST_NAMES = np.array(["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"])  # fmt: skip
LAST_NAMES = np.array(["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"])  # fmt: skip
CHANNELS = [b"Google", b"Facebook", b"Baidu", b"Apple"]
URLS = [b"https://nexmark.com/" + c.lower() for c in CHANNELS]

_STRING = pa.string()
_TIME = pa.timestamp("ms")
SCHEMAS = {
    "persons": pa.schema(
        [
            ("id", pa.int64()),
            ("name", _STRING),
            ("emailAddress", _STRING),
            ("creditCard", _STRING),
            ("city", _STRING),
            ("state", _STRING),
            ("dateTime", _TIME),
            ("extra", _STRING),
        ]
    ),
    "auctions": pa.schema(
        [
            ("id", pa.int64()),
            ("itemName", _STRING),
            ("description", _STRING),
            ("initialBid", pa.int64()),
            ("reserve", pa.int64()),
            ("dateTime", _TIME),
            ("expires", _TIME),
            ("seller", pa.int64()),
            ("category", pa.int64()),
            ("extra", _STRING),
        ]
    ),
    "bids": pa.schema(
        [
            ("auction", pa.int64()),
            ("bidder", pa.int64()),
            ("price", pa.int64()),
            ("channel", _STRING),
            ("url", _STRING),
            ("dateTime", _TIME),
            ("extra", _STRING),
        ]
    ),
}
"""The schema of each kind of event."""
SCHEMAS["events"] = pa.schema(
    [
        ("event_type", pa.int8()),  # 0 person, 1 auction, 2 bid
        ("person", pa.struct(list(SCHEMAS["persons"]))),
        ("auction", pa.struct(list(SCHEMAS["auctions"]))),
        ("bid", pa.struct(list(SCHEMAS["bids"]))),
        ("dateTime", _TIME),
    ]
)
KINDS = tuple(SCHEMAS)
"""``persons``, ``auctions``, ``bids`` and ``events`` (all three, in event order)."""


class _Random:
    """Random draws for events ``n`` under ``seed`` (:func:`~sabot_lab.kernels.nexmark.draws`):
    draw ``salt`` of event ``n`` is the same whichever batch computes it."""

    def __init__(self, n: np.ndarray, seed: int) -> None:
        self._n = np.ascontiguousarray(n, dtype=np.int64)
        self._seed = seed % (1 << 64)

    def bits(self, salt: int) -> np.ndarray:
        return draws(self._n, self._seed, salt)

    def below(self, salt: int, bound: np.ndarray | int) -> np.ndarray:
        """Integers in ``[0, bound)`` (``bound`` below 2**32, per event or one for all) from
        the low 32 bits of draw ``salt``: ``low * bound >> 32``."""
        low = self.bits(salt) & np.uint64(0xFFFFFFFF)
        return ((low * np.asarray(bound, dtype=np.uint64)) >> np.uint64(32)).astype(np.int64)


def _strings(choices: np.ndarray, index: np.ndarray) -> pa.Array:
    return pa.array(choices).take(pa.array(index, type=pa.int32()))


def _empty_strings(count: int) -> pa.Array:
    offsets = pa.py_buffer(np.zeros(count + 1, dtype=np.int32).tobytes())
    return pa.StringArray.from_buffers(count, offsets, pa.py_buffer(b""))


def _persons_before(n: np.ndarray) -> np.ndarray:
    return (n + PERIOD - 1) // PERIOD


def _auctions_before(n: np.ndarray) -> np.ndarray:
    return (n // PERIOD) * 3 + np.clip(n % PERIOD - 1, 0, 3)


@register_source
class NexmarkSource(SourceSpec):
    """Events ``first`` to ``first + events - 1`` of one kind (:data:`KINDS`); ``events=None``
    never ends. ``rate``: events per second of event time."""

    kind = "nexmark"

    def __init__(
        self,
        stream: str,
        events: int | None = 1_000_000,
        rate: float = 1_000_000.0,
        seed: int = 0,
        first: int = 0,
    ) -> None:
        if stream not in SCHEMAS:
            raise SourceError(f"unknown Nexmark stream {stream!r}; use one of {', '.join(KINDS)}")
        if events is not None and events < 0:
            raise SourceError(f"events must be >= 0 (or None for no end), got {events}")
        if rate <= 0:
            raise SourceError(f"rate must be a positive number of events per second, got {rate}")
        self.stream, self.events, self.rate, self.seed, self.first = (
            stream,
            events,
            float(rate),
            int(seed),
            int(first),
        )
        self._step_us = 1e6 / self.rate
        self._base_us = int(BASE_TIME.timestamp() * 1e6)

    @property
    def bounded(self) -> bool:
        return self.events is not None

    @property
    def schema(self) -> pa.Schema:
        return SCHEMAS[self.stream]

    def scan(
        self, batch_size: int, columns: list[str] | None = None, predicate: Expr | None = None
    ) -> Iterator[pa.RecordBatch]:
        start, end = self.first, None if self.events is None else self.first + self.events
        while end is None or start < end:
            stop = start + batch_size if end is None else min(start + batch_size, end)
            batch = self.batch(start, stop)
            if batch.num_rows:
                yield batch if columns is None else batch.select(columns)
            start = stop

    def batch(self, start: int, stop: int) -> pa.RecordBatch:
        """The ``stream``'s rows among events ``start`` to ``stop - 1``.

        >>> NexmarkSource("persons").batch(0, 101)["id"].to_pylist()
        [1000, 1001, 1002]
        """
        if self.stream == "events":
            return self._events(start, stop)
        return self._rows(self.stream, start, stop)

    def _rows(self, kind: str, start: int, stop: int) -> pa.RecordBatch:
        """The rows of ``kind`` among events ``start`` to ``stop - 1``."""
        if kind == "bids":
            return self._bids(start, stop)
        n = np.arange(start, stop, dtype=np.int64)
        phase = n % PERIOD
        n = n[phase == 0] if kind == "persons" else n[(phase >= 1) & (phase <= 3)]
        if not len(n):
            return pa.RecordBatch.from_pylist([], schema=SCHEMAS[kind])
        return self._persons(n) if kind == "persons" else self._auctions(n)

    def _time(self, n: np.ndarray) -> np.ndarray:
        micros = self._base_us + (n * self._step_us).astype(np.int64)
        return (micros // 1000).astype("datetime64[ms]")

    def _persons(self, n: np.ndarray) -> pa.RecordBatch:
        r = _Random(n, self.seed)
        pid = FIRST_ID + n // PERIOD
        first = _strings(FIRST_NAMES, r.below(1, len(FIRST_NAMES)))
        last = _strings(LAST_NAMES, r.below(2, len(LAST_NAMES)))
        ids = pa.array(pid).cast(pa.string())
        card = pa.array(r.below(3, 10**16)).cast(pa.string())
        return pa.record_batch(
            [
                pa.array(pid),
                pc.binary_join_element_wise(first, last, " "),
                pc.binary_join_element_wise(first, ids, "@example.com", ""),
                pc.utf8_lpad(card, 16, "0"),
                _strings(CITIES, r.below(4, len(CITIES))),
                _strings(STATES, r.below(5, len(STATES))),
                pa.array(self._time(n)),
                _empty_strings(len(n)),
            ],
            schema=SCHEMAS["persons"],
        )

    def _auctions(self, n: np.ndarray) -> pa.RecordBatch:
        r = _Random(n, self.seed)
        aid = FIRST_ID + _auctions_before(n)
        people = _persons_before(n)  # persons that exist when the auction opens
        hot = r.below(1, 4) > 0
        newest = np.maximum(people - 1, 0)
        seller = np.where(hot, (newest // 4) * 4, self._recent(r, 2, people, 1000))
        initial = prices(r.bits(3))
        times = self._time(n)
        length_ms = 10_000 + r.below(4, 10_001)
        return pa.record_batch(
            [
                pa.array(aid),
                pc.binary_join_element_wise("item-", pa.array(aid).cast(pa.string()), ""),
                _empty_strings(len(n)),
                pa.array(initial),
                pa.array(initial + prices(r.bits(5))),
                pa.array(times),
                pa.array(times + length_ms.astype("timedelta64[ms]")),
                pa.array(FIRST_ID + seller),
                pa.array(FIRST_CATEGORY + r.below(6, 5)),
                _empty_strings(len(n)),
            ],
            schema=SCHEMAS["auctions"],
        )

    def _bids(self, start: int, stop: int) -> pa.RecordBatch:
        auction, bidder, price, name_at, names, url_at, urls, ms = bid_columns(
            start, stop, self.seed % (1 << 64), self._step_us, self._base_us, CHANNELS, URLS
        )
        count = len(auction)
        return pa.record_batch(
            [
                pa.array(FIRST_ID + auction),
                pa.array(FIRST_ID + bidder),
                pa.array(price),
                pa.StringArray.from_buffers(count, pa.py_buffer(name_at), pa.py_buffer(names)),
                pa.StringArray.from_buffers(count, pa.py_buffer(url_at), pa.py_buffer(urls)),
                pa.array(ms.astype("datetime64[ms]")),
                _empty_strings(count),
            ],
            schema=SCHEMAS["bids"],
        )

    @staticmethod
    def _recent(r: _Random, salt: int, count: np.ndarray, window: int) -> np.ndarray:
        """One of the ``window`` newest of ``count`` ids (base 0) per event."""
        active = np.clip(np.minimum(count, window), 1, None)
        return np.maximum(count - active, 0) + r.below(salt, active)

    def _events(self, start: int, stop: int) -> pa.RecordBatch:
        n = np.arange(start, stop, dtype=np.int64)
        phase = n % PERIOD
        event_type = np.where(phase == 0, 0, np.where(phase <= 3, 1, 2)).astype(np.int8)
        parts = {}
        for code, kind in enumerate(("person", "auction", "bid")):
            rows = self._rows(f"{kind}s", start, stop)
            # each event's row in its kind's batch, null for the other kinds
            index = np.cumsum(event_type == code) - 1
            struct = pa.StructArray.from_arrays(rows.columns, fields=list(rows.schema))
            parts[kind] = struct.take(pa.array(index, mask=event_type != code))
        return pa.record_batch(
            [pa.array(event_type), *parts.values(), pa.array(self._time(n))],
            schema=SCHEMAS["events"],
        )

    def describe(self) -> str:
        count = "unbounded" if self.events is None else f"{self.events:,} events"
        return f"nexmark {self.stream} ({count}, seed {self.seed})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "stream": self.stream,
            "events": self.events,
            "rate": self.rate,
            "seed": self.seed,
            "first": self.first,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NexmarkSource:
        return cls(data["stream"], data["events"], data["rate"], data["seed"], data["first"])

    def split(self, n: int) -> list[SourceSpec]:
        """Consecutive ranges of events, one per split (an unbounded source is not split)."""
        if self.events is None or n <= 1:
            return [self]
        bounds = np.linspace(0, self.events, n + 1).astype(np.int64)
        return [
            NexmarkSource(self.stream, b - a, self.rate, self.seed, self.first + a)
            for a, b in itertools.pairwise(bounds.tolist())
        ]

    def estimated_rows(self) -> int | None:
        if self.events is None:
            return None
        share = {"persons": 1, "auctions": 3, "bids": 46, "events": PERIOD}[self.stream]
        return self.events * share // PERIOD

    def fingerprint(self) -> Hashable | None:
        return (self.kind, self.stream, self.events, self.rate, self.seed, self.first)
