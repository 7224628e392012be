"""The Nexmark auction generator as a source: persons, auctions and bids, vectorized.

Event number ``n`` (from 0) is a person when ``n % 50 == 0``, an auction when ``n % 50`` is 1 to
3, and a bid otherwise (1 : 3 : 46). Every field of event ``n`` is a function of the seed and
``n`` alone (a counter-based random stream: splitmix64 of the seed and the event number), so
any range of events is generated on its own, in whole numpy batches, identically however the
range is split into batches or tasks. Event time advances by ``1 / rate`` seconds per event.
One Cython kernel (:mod:`sabot_lab.kernels.nexmark`) writes every column of a range of
events in one pass, for one kind or, for the combined ``events`` stream, for the kinds whose
struct column is read with a row per event (each kind's struct column null where the event is
of another kind).

The choices follow the Flink/Beam generators: ids start at 1000; a bid goes to a "hot"
auction (the newest even-numbered one) half the time and otherwise to one of the 100 newest
auctions; a bidder is hot (the newest person id that is 1 modulo 4) three times in four,
otherwise one of the 1,000 newest persons; sellers are hot three times in four likewise;
``category = 10 + rand(5)``; ``price = round(10 ** (6 U) * 100)`` cents (``U`` of 30 bits);
an auction lasts 10 to 20 seconds of event time; a credit card is four groups of four digits.

A bid's ``channel`` and ``url`` come dictionary-encoded: each is one of four values, so a
batch holds each row's number and the four values (the same dictionary in every batch). The
engine takes an encoding as a layout of the schema's strings (see
:mod:`sabot_lab.logical.layouts`): expressions over these fields are computed once per value
(:mod:`sabot_lab.engine.distinct_strings`) and results come out as plain strings.

>>> source = NexmarkSource("bids", events=100, seed=1)
>>> batch = next(source.scan(1000))
>>> batch.num_rows, batch.schema.names[:3]
(92, ['auction', 'bidder', 'price'])
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import time
from collections.abc import Hashable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from sabot_lab.errors import SourceError
from sabot_lab.expr import Expr
from sabot_lab.expr.nodes import Cast, Column, Literal
from sabot_lab.kernels.nexmark import empty, nexmark_rows
from sabot_lab.logical.sources import ReplayableSource, SourceSpec, register_source

__all__ = ["KINDS", "SCHEMAS", "NexmarkSource"]

FIRST_ID = 1000
PERIOD = 50  # one person, three auctions and 46 bids in every 50 events
BASE_TIME = dt.datetime(2026, 1, 1)
FIRST_NAMES = [b"Peter", b"Paul", b"Luke", b"John", b"Saul", b"Vicky", b"Kate", b"Julie", b"Sarah", b"Deiter", b"Walter"]  # fmt: skip
LAST_NAMES = [b"Shultz", b"Abrams", b"Spencer", b"White", b"Bartels", b"Walton", b"Smith", b"Jones", b"Noris"]  # fmt: skip
CITIES = [b"Phoenix", b"Los Angeles", b"San Francisco", b"Boise", b"Portland", b"Bend", b"Redmond", b"Seattle", b"Kent", b"Cheyenne"]  # fmt: skip
STATES = [b"AZ", b"CA", b"ID", b"OR", b"WA", b"WY"]
CHANNELS = [b"Google", b"Facebook", b"Baidu", b"Apple"]
URLS = [b"https://nexmark.com/" + c.lower() for c in CHANNELS]
_TABLES = (FIRST_NAMES, LAST_NAMES, CITIES, STATES)
_POOLED = ("channel", "url")  # a bid's fields drawn from fixed pools, coded by the kernel


@functools.cache
def _pool(name: str) -> pa.Array:
    """The values a pooled field's codes number (made on first use: no Arrow arrays are built
    while ``sabot_lab`` is imported)."""
    return pa.array(CHANNELS if name == "channel" else URLS, pa.string())


_PACED_BATCH_SECONDS = 0.05
"""A paced source's batches hold at most this many seconds of events."""
_KERNEL_NAMES = {("persons", "id"): "person_id", ("auctions", "id"): "auction_id"}
"""Columns the kernel names apart because the combined events have both."""

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
_STRUCTS = ("person", "auction", "bid")
"""The combined events' struct columns, one per kind, in the order of ``event_type``."""
KINDS = tuple(SCHEMAS)
"""``persons``, ``auctions``, ``bids`` and ``events`` (all three, in event order)."""


def _as_generated(field: pa.Field) -> pa.Field:
    """``field`` as the generator's batches hold it: the pooled strings dictionary-encoded."""
    if pa.types.is_struct(field.type):
        return field.with_type(pa.struct([_as_generated(f) for f in field.type]))
    if field.name in _POOLED:
        return field.with_type(pa.dictionary(pa.int32(), field.type))
    return field


_GENERATED = {kind: pa.schema([_as_generated(f) for f in s]) for kind, s in SCHEMAS.items()}
"""The schema of each kind's batches (:data:`SCHEMAS` with the pooled strings encoded)."""


def _empty_strings(count: int) -> pa.Array:
    offsets = empty(count + 1, np.int32)
    offsets[:] = 0
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(b""))


def _columns(kind: str, rows: dict[str, Any], count: int, blank: pa.Array) -> list[pa.Array]:
    """Arrow arrays of ``kind``'s schema over the kernel's ``rows`` (``count`` of them), with
    ``blank`` for the strings the generator leaves empty, the pooled ones dictionary-encoded."""
    columns = []
    for field in SCHEMAS[kind]:
        value = rows.get(_KERNEL_NAMES.get((kind, field.name), field.name))
        if field.name in _POOLED:  # (a bid's: the kernel numbers its channel and url at once)
            codes = pa.Array.from_buffers(pa.int32(), count, [None, pa.py_buffer(rows["channel"])])
            columns.append(pa.DictionaryArray.from_arrays(codes, _pool(field.name), safe=False))
        elif value is None:
            columns.append(blank)
        elif isinstance(value, tuple):
            at, data = value
            columns.append(pa.StringArray.from_buffers(count, pa.py_buffer(at), pa.py_buffer(data)))
        else:
            columns.append(pa.Array.from_buffers(field.type, count, [None, pa.py_buffer(value)]))
    return columns


def _kind_kept(predicate: Expr) -> str | None:
    """The kind of event (``"bids"``, say) that ``predicate`` keeps of the combined events
    when it is ``event_type = k`` (the column possibly cast to another integer type), else
    None.

    >>> from sabot_lab.expr import col
    >>> _kind_kept(col("event_type") == 0), _kind_kept(col("event_type") == 3)
    ('persons', None)
    """
    if predicate.op != "eq":
        return None
    column, value = predicate.args
    if isinstance(column, Literal):
        column, value = value, column
    read = column.args[0] if isinstance(column, Cast) else column
    if not (isinstance(read, Column) and read.param("name") == "event_type"):
        return None
    if not pa.types.is_integer(column.output_field(SCHEMAS["events"]).type):
        return None
    code = value.param("value") if isinstance(value, Literal) else None
    if type(code) is not int or not 0 <= code < len(_STRUCTS):
        return None
    return f"{_STRUCTS[code]}s"


@register_source
class NexmarkSource(ReplayableSource):
    """Events ``first`` to ``first + events - 1`` of one kind (:data:`KINDS`); ``events=None``
    never ends. ``rate``: events per second of event time; ``paced``: also events per second
    of wall-clock time (a reader waits for each batch's events to be due, as the Flink
    generator does with ``'max-emit-speed' = 'false'``), else as fast as they are read."""

    kind = "nexmark"

    def __init__(
        self,
        stream: str,
        events: int | None = 1_000_000,
        rate: float = 1_000_000.0,
        seed: int = 0,
        first: int = 0,
        paced: bool = False,
    ) -> None:
        if stream not in SCHEMAS:
            raise SourceError(f"unknown Nexmark stream {stream!r}; use one of {', '.join(KINDS)}")
        if events is not None and events < 0:
            raise SourceError(f"events must be >= 0 (or None for no end), got {events}")
        if rate <= 0:
            raise SourceError(
                f"event_rate must be a positive number of events per second of event time, got {rate}"
            )
        self.stream, self.events, self.rate, self.seed, self.first = (
            stream,
            events,
            float(rate),
            int(seed),
            int(first),
        )
        self.paced = bool(paced)
        self._step_us = 1e6 / self.rate
        self._base_us = int(BASE_TIME.timestamp() * 1e6)

    @property
    def bounded(self) -> bool:
        return self.events is not None

    @property
    def schema(self) -> pa.Schema:
        return SCHEMAS[self.stream]

    @property
    def ordered_by(self) -> str:
        """Event time advances with the event number, in every stream and split."""
        return "dateTime"

    def accepts_filter(self, predicate: Expr) -> bool:
        """The combined events take ``event_type = k``: the generator then makes the events
        of that kind only (as the ``person``, ``auction`` and ``bid`` views read them).

        >>> from sabot_lab.expr import col
        >>> events = NexmarkSource("events")
        >>> events.accepts_filter(col("event_type").cast("int32") == 2)
        True
        >>> events.accepts_filter(col("event_type") > 1)
        False
        """
        return self.stream == "events" and _kind_kept(predicate) is not None

    def replay(
        self,
        batch_size: int,
        columns: list[str] | None = None,
        predicate: Expr | None = None,
        position: Any = None,
    ) -> Iterator[tuple[pa.RecordBatch | None, Any]]:
        """Batches of ``batch_size`` events from event number ``position`` (None: the first),
        each with the number of the event after it.

        >>> [(b.num_rows, n) for b, n in NexmarkSource("bids", 100).replay(60, position=40)]
        [(56, 100)]
        >>> paced = NexmarkSource("bids", 100, rate=1_000, paced=True).replay(60)
        >>> [n for _, n in paced]  # 50 ms of events a batch at most, each when due
        [50, 100]
        """
        start = self.first if position is None else int(position)
        end = None if self.events is None else self.first + self.events
        if self.paced:
            batch_size = min(batch_size, max(1, int(self.rate * _PACED_BATCH_SECONDS)))
        only = None
        if predicate is not None:
            only = _kind_kept(predicate) if self.stream == "events" else None
            if only is None:
                raise SourceError(f"{self.describe()} cannot apply the filter {predicate!r}")
        started, first = time.monotonic(), start
        while end is None or start < end:
            stop = start + batch_size if end is None else min(start + batch_size, end)
            if self.paced:
                time.sleep(max(0.0, started + (stop - first) / self.rate - time.monotonic()))
            batch = self.batch(start, stop, columns, only)
            yield (batch if batch.num_rows else None), stop
            start = stop

    def batch(
        self, start: int, stop: int, columns: list[str] | None = None, only: str | None = None
    ) -> pa.RecordBatch:
        """The ``stream``'s rows among events ``start`` to ``stop - 1``: the ``columns`` named
        (None: all). Of the combined events, the generator makes only the kinds whose struct
        column is read, and with ``only`` (``"bids"``, say) the rows of that kind alone.

        >>> NexmarkSource("persons").batch(0, 101)["id"].to_pylist()
        [1000, 1001, 1002]
        >>> NexmarkSource("events").batch(0, 4, ["event_type", "dateTime"]).schema.names
        ['event_type', 'dateTime']
        >>> NexmarkSource("bids").batch(0, 50)["url"].type  # the schema's strings, encoded
        DictionaryType(dictionary<values=string, indices=int32, ordered=0>)
        >>> NexmarkSource("events").batch(0, 100, ["event_type"], only="auctions").num_rows
        6
        """
        kind, seed = self.stream, self.seed % (1 << 64)
        names = self.schema.names if columns is None else columns
        if only is not None:
            return self._kind_only(start, stop, names, only)
        parts = frozenset(f"{name}s" for name in _STRUCTS if name in names)
        rows = nexmark_rows(
            start, stop, seed, self._step_us, self._base_us, FIRST_ID, _TABLES, kind, parts
        )
        count = len(rows["dateTime"])
        blank = _empty_strings(count)
        if kind != "events":
            batch = pa.record_batch(_columns(kind, rows, count, blank), schema=_GENERATED[kind])
            return batch if columns is None else batch.select(columns)
        arrays = {
            "event_type": pa.Array.from_buffers(
                pa.int8(), count, [None, pa.py_buffer(rows["event_type"])]
            ),
            "dateTime": pa.Array.from_buffers(_TIME, count, [None, pa.py_buffer(rows["dateTime"])]),
        }
        for name, valid in zip(_STRUCTS, rows["valid"], strict=True):
            if name in names:
                arrays[name] = pa.Array.from_buffers(
                    _GENERATED["events"].field(name).type,
                    count,
                    [pa.py_buffer(valid)],
                    children=_columns(f"{name}s", rows, count, blank),
                )
        schema = pa.schema([_GENERATED["events"].field(name) for name in names])
        return pa.record_batch([arrays[name] for name in names], schema=schema)

    def _kind_only(self, start: int, stop: int, names: list[str], kind: str) -> pa.RecordBatch:
        """The combined events' ``names`` columns of the events of ``kind`` among ``start`` to
        ``stop - 1``: the generator makes that kind's rows, whose struct column holds them
        and the others' are null."""
        rows = nexmark_rows(
            start, stop, self.seed % (1 << 64), self._step_us, self._base_us, FIRST_ID,
            _TABLES, kind,
        )  # fmt: skip
        count = len(rows["dateTime"])
        arrays = []
        for field in (_GENERATED["events"].field(name) for name in names):
            if field.name == "event_type":
                code = np.full(count, _STRUCTS.index(kind[:-1]), np.int8)
                arrays.append(pa.Array.from_buffers(pa.int8(), count, [None, pa.py_buffer(code)]))
            elif field.name == "dateTime":
                arrays.append(
                    pa.Array.from_buffers(_TIME, count, [None, pa.py_buffer(rows["dateTime"])])
                )
            elif field.name == kind[:-1]:
                children = _columns(kind, rows, count, _empty_strings(count))
                arrays.append(pa.Array.from_buffers(field.type, count, [None], children=children))
            else:
                arrays.append(pa.nulls(count, field.type))
        return pa.record_batch(
            arrays, schema=pa.schema([_GENERATED["events"].field(n) for n in names])
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
            "paced": self.paced,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NexmarkSource:
        return cls(
            data["stream"], data["events"], data["rate"], data["seed"], data["first"],
            data.get("paced", False),
        )  # fmt: skip

    def split(self, n: int) -> list[SourceSpec]:
        """Consecutive ranges of events, one per split (an unbounded source is not split)."""
        if self.events is None or n <= 1:
            return [self]
        bounds = np.linspace(0, self.events, n + 1).astype(np.int64)
        return [
            NexmarkSource(self.stream, b - a, self.rate, self.seed, self.first + a, self.paced)
            for a, b in itertools.pairwise(bounds.tolist())
        ]

    def estimated_rows(self) -> int | None:
        if self.events is None:
            return None
        share = {"persons": 1, "auctions": 3, "bids": 46, "events": PERIOD}[self.stream]
        return self.events * share // PERIOD

    def fingerprint(self) -> Hashable | None:
        return (self.kind, self.stream, self.events, self.rate, self.seed, self.first, self.paced)
