"""The Nexmark generator: deterministic, independent of batching and splitting, and consistent
(bids and auctions refer to persons and auctions that exist), checked with DuckDB."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import sabot_lab as sl
from sabot_lab import col, lit, when
from sabot_lab.connectors.nexmark import SCHEMAS, NexmarkSource
from sabot_lab.errors import SourceError
from sabot_lab.logical import JobGraph
from tests.support.reference import assert_same_rows, duckdb_table

EVENTS = 20_000


def scanned(source: NexmarkSource, batch_size: int) -> pa.Table:
    """The source's rows, its pooled strings (dictionary-encoded) decoded to its schema."""
    batches = [b.cast(source.schema) for b in source.scan(batch_size)]
    return pa.Table.from_batches(batches, schema=source.schema)


@pytest.mark.parametrize("kind", ["persons", "auctions", "bids", "events"])
def test_the_same_seed_gives_the_same_events_however_they_are_batched_or_split(kind: str) -> None:
    whole = scanned(NexmarkSource(kind, EVENTS, seed=5), 4096)
    assert whole.equals(scanned(NexmarkSource(kind, EVENTS, seed=5), 7))
    parts = NexmarkSource(kind, EVENTS, seed=5).split(3)
    assert len(parts) == 3
    assert pa.concat_tables(scanned(p, 1000) for p in parts).equals(whole)  # type: ignore[arg-type]
    assert not whole.equals(scanned(NexmarkSource(kind, EVENTS, seed=6), 4096))
    assert whole.schema == SCHEMAS[kind]


def test_channel_and_url_come_encoded_and_leave_the_engine_as_the_schemas_strings() -> None:
    source = NexmarkSource("bids", EVENTS, seed=2)
    assert all(pa.types.is_dictionary(t) for t in next(source.scan(4096)).schema.types[3:5])
    bids = sl.nexmark(events=EVENTS, seed=2).bids
    lowered = when(col("channel").str.lower() == "apple").then(col("url")).otherwise(lit("-"))
    ours = bids.select("channel", "url", lowered.alias("apple_url")).collect()
    assert ours.schema.types == [pa.string()] * 3
    sql = "SELECT channel, url, CASE WHEN lower(channel) = 'apple' THEN url ELSE '-' END FROM b"
    assert_same_rows(ours, duckdb_table(sql, b=scanned(source, 4096)), ordered=True)


def test_events_interleave_one_person_three_auctions_and_46_bids_in_every_50() -> None:
    gen = sl.nexmark(events=EVENTS, event_rate=10_000, seed=1)
    events = gen.events.collect()
    assert events["event_type"].to_pylist()[:50] == [0, 1, 1, 1] + [2] * 46
    persons, auctions, bids = gen.persons.collect(), gen.auctions.collect(), gen.bids.collect()
    assert (persons.num_rows, auctions.num_rows, bids.num_rows) == (400, 1200, 18_400)
    for kind, table in (("person", persons), ("auction", auctions), ("bid", bids)):
        column = events[kind].drop_null().combine_chunks()
        assert pa.Table.from_struct_array(column).equals(table.combine_chunks())
    # event time advances 1/rate s per event: 20,000 events at 10,000/s span 2 s
    times = events["dateTime"].cast(pa.int64())
    assert pc.max(times).as_py() - pc.min(times).as_py() == pytest.approx(2000, abs=1)


def test_bids_and_auctions_refer_to_persons_and_auctions_that_exist_already() -> None:
    gen = sl.nexmark(events=EVENTS, seed=2)
    p, a, b = gen.persons.collect(), gen.auctions.collect(), gen.bids.collect()
    dangling = duckdb_table(
        """
        SELECT
          (SELECT count(*) FROM b LEFT JOIN a ON b.auction = a.id
            WHERE a.id IS NULL OR a.dateTime > b.dateTime) AS bids_without_auction,
          (SELECT count(*) FROM b LEFT JOIN p ON b.bidder = p.id
            WHERE p.id IS NULL OR p.dateTime > b.dateTime) AS bids_without_bidder,
          (SELECT count(*) FROM a LEFT JOIN p ON a.seller = p.id
            WHERE p.id IS NULL OR p.dateTime > a.dateTime) AS auctions_without_seller,
          (SELECT min(id) FROM p) AS first_person,
          (SELECT min(id) FROM a) AS first_auction,
          (SELECT count(*) FROM a WHERE category NOT BETWEEN 10 AND 14
             OR expires <= dateTime OR reserve < initialBid) AS odd_auctions,
          (SELECT count(*) FROM b WHERE price < 100 OR price > 100000000) AS odd_prices,
          (SELECT count(DISTINCT state) FROM p WHERE state IN ('OR', 'ID', 'CA')) AS states
        """,
        p=p,
        a=a,
        b=b,
    ).to_pylist()[0]
    assert dangling == {
        "bids_without_auction": 0,
        "bids_without_bidder": 0,
        "auctions_without_seller": 0,
        "first_person": 1000,
        "first_auction": 1000,
        "odd_auctions": 0,
        "odd_prices": 0,
        "states": 3,
    }
    # half the bids go to the hot auction (the newest even one), the rest to any recent one
    even = duckdb_table("SELECT avg(CASE WHEN auction % 2 = 0 THEN 1 ELSE 0 END) AS r FROM b", b=b)
    assert 0.7 < even["r"][0].as_py() < 0.8


def test_an_unbounded_generator_runs_as_far_as_it_is_read() -> None:
    rows = sl.nexmark(events=None).bids.head(5).collect()
    assert rows.num_rows == 5
    assert rows.equals(sl.nexmark(events=1_000).bids.head(5).collect())


def test_a_nexmark_plan_round_trips_through_json() -> None:
    stream = sl.nexmark(events=5_000, seed=3).bids.filter(sl.col("auction") % 123 == 0)
    again = sl.Stream(JobGraph.from_json(stream.graph.to_json()), stream.node_id)
    assert again.collect().equals(stream.collect())


def test_bad_generator_settings_are_clear_errors() -> None:
    with pytest.raises(SourceError, match="unknown Nexmark stream 'trades'"):
        NexmarkSource("trades")
    with pytest.raises(SourceError, match="events must be >= 0"):
        sl.nexmark(events=-1)
    with pytest.raises(SourceError, match="rate must be a positive"):
        sl.nexmark(event_rate=0)
