"""SQL joins of event-time streams as interval and window joins: each form of time bound, the
same SQL text in DuckDB over the same rows (out of order within the watermark delay, keys and
values sometimes null); Nexmark q7 and q8 in Flink's text on bounded and never-ending
generators; regular joins of unbounded streams (q3, q4's join) as symmetric hash joins, their
state freed where the conditions allow; and the refusal, naming the SQL to write, of
unbounded joins without a key."""

from __future__ import annotations

import json
import re

import duckdb
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL
from sabot_lab.logical import JobGraph, SymmetricJoin
from tests.support.reference import timed_rows
from tests.support.running import run_to_end
from tests.support.stream_join_cases import (
    Q3,
    Q4_JOIN,
    Q4_JOIN_DUCKDB,
    Q7,
    Q8,
    REGULAR,
    SELECT,
    duck,
    endless,
    nexmark_tables,
    side,
    timed,
    until_side,
)

FORMS = {
    "between, right in terms of left": "FROM l JOIN r ON l.k = r.k AND r.t BETWEEN "
    "l.t - INTERVAL '2' SECOND AND l.t + INTERVAL '1' SECOND",
    "between, left in terms of right": "FROM l JOIN r ON r.k = l.k AND l.t BETWEEN r.t AND "
    "r.t + INTERVAL '5' SECOND",
    "comparisons": "FROM l JOIN r ON l.k = r.k AND r.t >= l.t AND r.t <= l.t + INTERVAL '3' SECOND",
    "strict comparisons, sides swapped": "FROM l JOIN r ON l.k = r.k AND l.t - INTERVAL '1' "
    "SECOND < r.t AND r.t - INTERVAL '1500' MILLISECOND < l.t",
    "in WHERE, with another condition": "FROM l, r WHERE r.t BETWEEN l.t AND l.t + INTERVAL "
    "'4' SECOND AND l.k = r.k AND l.v > r.w",
    "equal times": "FROM l JOIN r ON l.k = r.k AND l.t = r.t",
}


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("seed", [1, 2])
def test_a_join_bounded_by_event_times_is_an_interval_join_equal_to_duckdb(
    form: str, seed: int
) -> None:
    left, right = side(seed, 1_200, "v"), side(seed + 100, 500, "w")
    query = SELECT + FORMS[form]
    joined = sl.sql(query, l=timed(left), r=timed(right))
    assert "join_interval" in joined.explain(optimized=False)
    result = joined.collect()
    expected = duck(query, l=left, r=right)
    assert result.num_rows == expected.num_rows > 0
    assert timed_rows(result) == timed_rows(expected)


def test_without_event_time_the_same_join_stays_a_hash_join() -> None:
    left, right = side(3, 300, "v"), side(4, 300, "w")
    query = SELECT + FORMS["comparisons"]
    joined = sl.sql(query, l=left, r=right)
    assert "join_interval" not in joined.explain(optimized=False)
    assert timed_rows(joined.collect()) == timed_rows(duck(query, l=left, r=right))


WINDOWED = """
SELECT a.k, a.window_start, a.window_end, a.n, b.top FROM
  (SELECT k, window_start, window_end, COUNT(*) AS n
   FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(t), INTERVAL '5' SECONDS))
   GROUP BY k, window_start, window_end) a
JOIN
  (SELECT k, window_start, window_end, MAX(w) AS top
   FROM TABLE(TUMBLE(TABLE r, DESCRIPTOR(t), INTERVAL '5' SECONDS))
   GROUP BY k, window_start, window_end) b
ON a.k = b.k AND a.window_start = b.window_start AND a.window_end = b.window_end"""

WINDOWED_DUCKDB = """
WITH a AS (SELECT k, epoch_ms(t::TIMESTAMP) // 5000 * 5000 AS ws, COUNT(*) AS n FROM l
           WHERE t IS NOT NULL GROUP BY ALL),
     b AS (SELECT k, epoch_ms(t::TIMESTAMP) // 5000 * 5000 AS ws, MAX(w) AS top FROM r
           WHERE t IS NOT NULL GROUP BY ALL)
SELECT a.k, a.ws, a.ws + 5000, a.n, b.top FROM a JOIN b ON a.k = b.k AND a.ws = b.ws"""


@pytest.mark.parametrize("seed", [5, 6])
def test_a_window_join_of_two_windowed_queries_equals_duckdb(seed: int) -> None:
    left, right = side(seed, 1_000, "v"), side(seed + 100, 800, "w")
    joined = sl.sql(WINDOWED, l=timed(left), r=timed(right))
    assert "join_interval" in joined.explain(optimized=False)
    result = joined.collect()
    expected = duck(WINDOWED_DUCKDB, l=left, r=right)
    assert result.num_rows == expected.num_rows > 0
    assert timed_rows(result) == timed_rows(expected)


RATE = 5_000  # events per second of event time
EVENTS = 400_000  # 80 s of event time: eight 10-second windows
SEED = 11
FLINK = {"q7": Q7, "q8": Q8}


@pytest.fixture(scope="module")
def reference() -> duckdb.DuckDBPyConnection:
    gen = sl.nexmark(events=EVENTS, event_rate=RATE, seed=SEED)
    con = duckdb.connect()
    for kind in ("persons", "auctions", "bids"):
        table = getattr(gen, kind).collect()
        con.register(kind, table.append_column("ms", table["dateTime"].cast(pa.int64())))
    return con


@pytest.mark.parametrize("name", list(FLINK))
def test_flink_text_of_a_nexmark_join_equals_duckdb(
    reference: duckdb.DuckDBPyConnection, name: str
) -> None:
    tables = nexmark_tables(sl.nexmark(events=EVENTS, event_rate=RATE, seed=SEED))
    result = sl.sql(FLINK[name], tables).collect()
    expected = reference.sql(DUCKDB_SQL[name]).to_arrow_table()
    assert result.num_rows == expected.num_rows > 0
    assert timed_rows(result) == timed_rows(expected)


@pytest.mark.parametrize(("name", "rows"), [("q7", 4), ("q8", 300)])
def test_flink_text_of_a_nexmark_join_runs_on_the_never_ending_generator(
    reference: duckdb.DuckDBPyConnection, name: str, rows: int
) -> None:
    """The rows the unbounded run gives are the bounded run's over the same events (the
    reference's 80 s hold the windows the first rows come from)."""
    gen = sl.nexmark(events=None, event_rate=RATE, seed=SEED)
    stream = sl.sql(FLINK[name], nexmark_tables(gen))
    assert not stream.bounded
    got = stream.head(rows).collect()
    assert got.num_rows == rows
    expected = set(timed_rows(reference.sql(DUCKDB_SQL[name]).to_arrow_table()))
    assert set(timed_rows(got)) <= expected


@pytest.mark.parametrize(
    ("text", "duckdb_text", "rows"), [(Q3, DUCKDB_SQL["q3"], 40), (Q4_JOIN, Q4_JOIN_DUCKDB, 500)]
)
def test_a_regular_join_of_two_never_ending_streams_runs_as_flink_writes_it(
    reference: duckdb.DuckDBPyConnection, text: str, duckdb_text: str, rows: int
) -> None:
    """Nexmark q3 (auctions joined to their sellers) and q4's join (bids within their
    auction's life), verbatim on the never-ending generator: a symmetric hash join whose
    rows are the bounded run's over the same events."""
    stream = sl.sql(text, nexmark_tables(sl.nexmark(events=None, event_rate=RATE, seed=SEED)))
    assert "symmetric_join" in stream.explain()
    got = stream.head(rows).collect()
    assert got.num_rows == rows
    assert set(timed_rows(got)) <= set(timed_rows(reference.sql(duckdb_text).to_arrow_table()))


def test_explain_states_how_long_a_regular_join_keeps_each_side() -> None:
    tables = nexmark_tables(sl.nexmark(events=None))
    grows = sl.sql(Q3, tables).explain()
    assert "left rows kept forever (grows without bound), right rows kept forever" in grows
    freed = sl.sql(Q4_JOIN, tables).explain()
    assert re.search(
        r"state: left rows until the watermark passes expires, right rows until the "
        r"watermark passes _dateTime\d",
        freed,
    )


@pytest.mark.parametrize("form", list(REGULAR))
@pytest.mark.parametrize("size", [7, 400])
def test_a_symmetric_join_of_unbounded_streams_equals_duckdb(form: str, size: int) -> None:
    """Every pair once, however the rows arrive, with the state freed where the conditions
    let the watermark free it."""
    left, right = until_side(8, 1_500, "v"), side(9, 600, "w")
    text, freed = REGULAR[form]
    query = SELECT + text
    joined = sl.sql(query, l=endless(left, size, freed), r=endless(right, size + 3, freed))
    assert "symmetric_join" in joined.explain()
    result = run_to_end(joined)
    expected = duck(query, l=left, r=right)
    assert result.table.num_rows == expected.num_rows > 0
    assert timed_rows(result.table) == timed_rows(expected)
    peak = result.metrics_total("peak_state_rows")
    if freed:  # about 10 s of 40 s of rows held at most
        assert 0 < peak < (left.num_rows + right.num_rows) / 2
    else:
        assert peak == left.num_rows + right.num_rows


def test_a_symmetric_join_round_trips_through_json_and_runs_the_same() -> None:
    left, right = until_side(1, 300, "v"), side(2, 200, "w")
    query = SELECT + REGULAR["freed by a column of each side"][0]
    joined = sl.sql(query, l=endless(left, 40), r=endless(right, 40))
    text = joined.graph.to_json()
    rebuilt = JobGraph.from_json(text)
    assert json.loads(rebuilt.to_json()) == json.loads(text)
    (op,) = [n.op for n in rebuilt.topological_sort() if isinstance(n.op, SymmetricJoin)]
    assert (op.left_until, op.left_slack, op.right_until, op.right_slack) == ("u", 0, "_t0", 0)
    again = run_to_end(sl.Stream(rebuilt, joined.node_id)).table
    assert timed_rows(again) == timed_rows(duck(query, l=left, r=right))


def test_a_join_of_two_unbounded_streams_without_a_key_is_refused_naming_the_sql_fix() -> None:
    tables = nexmark_tables(sl.nexmark(events=None))
    with pytest.raises(sl.SQLError, match=r"needs a key .* BETWEEN a\.t - INTERVAL"):
        sl.sql(
            "SELECT * FROM bid B, auction A WHERE B.`dateTime` BETWEEN A.`dateTime` AND "
            "A.`dateTime` + INTERVAL '1' SECOND",
            tables,
        )
    with pytest.raises(sl.SQLError, match=r"needs a key \(an equality between the sides\)"):
        sl.sql("SELECT * FROM bid CROSS JOIN person", tables)
