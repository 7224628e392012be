"""ROW_NUMBER top-N and deduplication on unbounded streams (Flink's patterns, Nexmark q18 and
q19): the same SQL gives DuckDB's rows on bounded data; on a stream whose source never says
it ends, the final state of the upsert changelog (rows applied by key, the latest winning)
equals DuckDB's top-N over the rows consumed; a top-N per event-time window comes once per
window, equal to DuckDB per window. Ties in the order go to any row in DuckDB, so rows are
compared on the partition, the row number and the order columns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import cast

import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.config import get_config
from sabot_lab.engine import Executor
from sabot_lab.errors import PlanError
from sabot_lab.logical import JobGraph, TopN
from tests.support.running import run_to_end
from tests.support.stream_join_cases import duck, endless

ROWS = 3_000


def _rows(seed: int, n: int = ROWS) -> pa.Table:
    """``t`` (up to 3 s out of order), a key ``k`` and a value ``v`` (both sometimes null),
    and ``id``, unique, which breaks the ties of an order."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, 60_000, n))
    order = np.argsort(times + rng.uniform(0, 3_000, n), kind="stable")
    return pa.table(
        {
            "t": pa.array(times[order], pa.timestamp("ms")),
            "k": pa.array(rng.integers(0, 12, n), mask=rng.random(n) < 0.05),
            "v": pa.array(rng.integers(0, 1_000, n), mask=rng.random(n) < 0.05),
            "id": pa.array(np.arange(n)),
        }
    )


def _final(changes: pa.Table, key: Sequence[str]) -> list[tuple[object, ...]]:
    """The rows of an upsert changelog once applied by ``key``: the latest row of a key."""
    state = {}
    for row in changes.to_pylist():
        state[tuple(row[k] for k in key)] = tuple(row.values())
    return sorted(state.values(), key=repr)


def _sorted(table: pa.Table, columns: Sequence[str]) -> list[tuple[object, ...]]:
    return sorted((tuple(r[c] for c in columns) for r in table.to_pylist()), key=repr)


TOP_N = {
    "subquery where <=": "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v "
    "DESC NULLS LAST, id) AS rn FROM l) WHERE rn <= 3",
    "subquery where <, order ascending": "SELECT t, k, v, id, rn FROM (SELECT *, ROW_NUMBER() "
    "OVER (PARTITION BY k ORDER BY v, id) AS rn FROM l) WHERE rn < 5",
    "qualify": "SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC NULLS LAST, id) AS rn "
    "FROM l QUALIFY rn <= 2",
    "dedup, keep the last": "SELECT t, k, v, id FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k "
    "ORDER BY t DESC, id DESC) AS rn FROM l) WHERE rn = 1",
    "dedup, keep the first": "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k "
    "ORDER BY t, id) AS rn FROM l) WHERE 1 >= rn",
}
KEYS = {
    "subquery where <=": ["k", "rn"],
    "subquery where <, order ascending": ["k", "rn"],
    "qualify": ["k", "rn"],
    "dedup, keep the last": ["k"],
    "dedup, keep the first": ["k"],
}


@pytest.mark.parametrize("query", list(TOP_N))
def test_top_n_on_bounded_rows_equals_duckdb(query: str) -> None:
    rows = _rows(1)
    result = sl.sql(TOP_N[query], l=rows)
    assert result.changelog == "append"
    expected = duck(TOP_N[query], l=rows)
    assert _sorted(result.collect(), expected.column_names) == _sorted(
        expected, expected.column_names
    )


@pytest.mark.parametrize("query", list(TOP_N))
@pytest.mark.parametrize("seed", [2, 3])
def test_top_n_on_an_unbounded_stream_ends_in_duckdbs_rows(query: str, seed: int) -> None:
    rows = _rows(seed)
    result = sl.sql(TOP_N[query], l=endless(rows, 200, watermark=False))
    assert result.changelog == "upsert"
    assert any(isinstance(n.op, TopN) for n in result.graph)
    changes = run_to_end(result).table
    assert changes.num_rows > 0
    expected = duck(TOP_N[query], l=rows)
    assert changes.column_names == expected.column_names
    assert _final(changes, KEYS[query]) == _sorted(expected, expected.column_names)


def test_top_n_updates_only_the_rank_positions_a_batch_changes() -> None:
    rows = pa.table({"k": [1, 1, 1, 2], "v": [5, 9, 1, 4]})
    batches = [rows.slice(0, 2), rows.slice(2, 1), rows.slice(3, 1)]
    stream = sl.from_generator(
        lambda i: batches[i] if i < len(batches) else None, schema=rows.schema
    )
    changes = run_to_end(stream.top_k(2, by="v", over="k")).table
    assert changes.to_pylist() == [
        {"k": 1, "v": 9, "rank": 1},
        {"k": 1, "v": 5, "rank": 2},
        {"k": 2, "v": 4, "rank": 1},
    ]  # 1 ranks below the two best: no update for it


@pytest.mark.parametrize("reverse", [False, True])
def test_top_k_on_an_unbounded_stream_ends_in_duckdbs_rows(reverse: bool) -> None:
    rows = _rows(4)
    stream = endless(rows, 300, watermark=False)
    result = stream.top_k(4, by=["v", "id"], over="k", reverse=reverse, name="place")
    changes = run_to_end(result).table
    order = "ASC" if reverse else "DESC"
    expected = duck(
        f"SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v {order} NULLS LAST, id {order}) "
        "AS place FROM l QUALIFY place <= 4",
        l=rows,
    )
    assert _final(changes, ["k", "place"]) == _sorted(expected, expected.column_names)
    bottom = run_to_end(
        stream.bottom_k(4, by=["v", "id"], over="k", reverse=not reverse, name="place")
    )
    assert _final(bottom.table, ["k", "place"]) == _sorted(expected, expected.column_names)


WINDOW_TOP_N = """
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY total DESC) AS rn
  FROM (SELECT window_start, window_end, k, SUM(v) AS total, COUNT(*) AS n
        FROM TABLE(TUMBLE(TABLE l, DESCRIPTOR(t), INTERVAL '5' SECOND))
        GROUP BY window_start, window_end, k)
) WHERE rn <= 3"""
WINDOW_TOP_N_DUCKDB = """
SELECT * FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY total DESC) AS rn
  FROM (SELECT window_start, window_end, k, SUM(v) AS total, COUNT(*) AS n
        FROM (SELECT *, time_bucket(INTERVAL '5 seconds', t) AS window_start,
              time_bucket(INTERVAL '5 seconds', t) + INTERVAL '5 seconds' AS window_end FROM l)
        GROUP BY window_start, window_end, k)
) WHERE rn <= 3"""


def test_a_top_n_per_window_comes_once_per_window_equal_to_duckdb() -> None:
    rows = _rows(5)
    result = sl.sql(WINDOW_TOP_N, l=endless(rows, 250))
    tops = [n for n in result.graph if isinstance(n.op, TopN)]
    assert [t.op.window_end for t in tops] == ["window_end"]
    assert result.changelog == "append"
    out = run_to_end(result)
    expected = duck(WINDOW_TOP_N_DUCKDB, l=rows).select(out.table.column_names)
    assert out.table.num_rows == expected.num_rows > 0
    # sums tie rarely, and then go to any key in DuckDB: compare the places and their sums
    places = ["window_start", "rn", "total"]
    assert _sorted(out.table, places) == _sorted(expected, places)
    # each window's rows are freed once it closes: at most the rows of a few open windows
    assert 0 < out.metrics[tops[0].operator_id]["peak_state_rows"] <= 3 * 3


Q18 = """
SELECT auction, bidder, price, channel, url, `dateTime`, extra
 FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY `dateTime` DESC) AS rank_number
       FROM bid)
 WHERE rank_number <= 1"""
Q19 = """
SELECT * FROM
(SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number FROM bid)
WHERE rank_number <= 10"""
Q19_DUCKDB = Q19.replace("price DESC", "price DESC, dateTime")


@pytest.fixture(scope="module")
def consumed() -> tuple[sl.Stream, pa.Table]:
    """The first bids of a never-ending generator, and the same bids as a table."""
    bids = sl.nexmark(events=None, event_rate=1_000).bids.head(6_000)
    return bids, bids.collect()


def test_nexmark_q19_on_a_never_ending_generator_ends_in_duckdbs_top_10(
    consumed: tuple[sl.Stream, pa.Table],
) -> None:
    bids, table = consumed
    result = sl.SQLContext(bid=bids).execute(Q19)
    assert result.changelog == "upsert"
    changes = result.collect()
    expected = duck(Q19_DUCKDB, bid=table)
    # price ties go to any bid in DuckDB: compare the places and their prices
    key = ["auction", "rank_number", "price"]
    assert _sorted(pa.Table.from_pylist([dict(zip(changes.column_names, r, strict=True))
                                         for r in _final(changes, ["auction", "rank_number"])]),
                   key) == _sorted(expected, key)  # fmt: skip


def test_nexmark_q18_keeps_each_bidders_last_bid_per_auction(
    consumed: tuple[sl.Stream, pa.Table],
) -> None:
    bids, table = consumed
    result = sl.SQLContext(bid=bids).execute(Q18)
    assert result.changelog == "upsert"
    changes = result.collect()
    expected = duck(Q18.replace("`", ""), bid=table)
    key = ["bidder", "auction", "dateTime"]
    final = pa.Table.from_pylist(
        [dict(zip(changes.column_names, r, strict=True)) for r in _final(changes, key[:2])]
    )
    assert final.num_rows == expected.num_rows > 0
    assert _sorted(final, key) == _sorted(expected, key)


def test_an_unbounded_row_number_without_a_bound_names_the_fix() -> None:
    bids = sl.nexmark(events=None).bids
    numbered = sl.SQLContext(bid=bids).execute(
        "SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rn FROM bid"
    )
    with pytest.raises(PlanError, match=r"WHERE rn <= N"):
        next(numbered.iter_batches())
    ranked = sl.SQLContext(bid=bids).execute(
        "SELECT * FROM (SELECT *, RANK() OVER (PARTITION BY auction ORDER BY price DESC) AS rn "
        "FROM bid) WHERE rn <= 3"
    )  # RANK may keep more rows than N: not a top-N the operator runs
    with pytest.raises(PlanError, match=r"ROW_NUMBER\(\)"):
        next(ranked.iter_batches())


def test_a_top_n_of_several_rows_refuses_to_drop_the_row_number() -> None:
    bids = sl.nexmark(events=None).bids
    query = (
        "SELECT auction, price FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY auction "
        "ORDER BY price DESC) AS rn FROM bid) WHERE rn <= 3"
    )
    dropped = sl.SQLContext(bid=bids).execute(query)
    with pytest.raises(PlanError, match=r"drops the row number: select it too"):
        next(dropped.iter_batches())
    with pytest.raises(PlanError, match=r"drops the row number"):  # before reaching a cluster
        dropped.submit(cast(sl.LocalCluster, None))
    kept = sl.SQLContext(bid=bids).execute(query.replace("auction, price", "auction, price, rn"))
    assert next(kept.iter_batches()).num_rows > 0


FIRST_BY_TIME = (
    "SELECT t, k, v, id FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY t) AS rn "
    "FROM l) WHERE rn = 1"
)


@pytest.mark.parametrize("seed", [7, 8])
def test_keeping_the_first_row_by_event_time_is_append_only_and_equals_duckdb(seed: int) -> None:
    rows = _rows(seed)
    result = sl.sql(FIRST_BY_TIME, l=endless(rows, 150))
    (top,) = [n for n in result.graph if isinstance(n.op, TopN)]
    assert top.op.first_at == "t"
    assert result.changelog == "append"
    assert "keeps the first row of every partition seen" in result.explain()
    out = run_to_end(result).table
    expected = duck(FIRST_BY_TIME, l=rows)
    # one row per key, each once; times tie rarely, and then go to any row in DuckDB
    assert sorted(out["k"].to_pylist(), key=repr) == sorted(expected["k"].to_pylist(), key=repr)
    assert _sorted(out, ["k", "t"]) == _sorted(expected, ["k", "t"])


def test_first_rows_come_as_the_watermark_passes_their_time() -> None:
    stream = sl.from_generator(
        lambda i: _rows(9, 600).slice(i * 50, 50) if i < 12 else None, schema=_rows(9, 1).schema
    ).with_watermark("t", "4s")
    first = stream.top_k(1, by="t", over="k", reverse=True)
    assert first.changelog == "append"
    plan = first.optimize()
    items = list(Executor(plan.graph, get_config()).run_items(plan.output)[0])
    batches = [i for i in items if isinstance(i, pa.RecordBatch) and i.num_rows]
    assert len(batches) > 1  # not all at the end: each as the watermark passes
    out = pa.Table.from_batches(batches)
    assert out.num_rows == len(set(out["k"].to_pylist())) == 13


def test_a_top_n_plan_round_trips_through_json_and_runs_the_same() -> None:
    rows = _rows(10)
    for stream in (
        sl.sql(TOP_N["subquery where <="], l=endless(rows, 200, watermark=False)),
        sl.sql(WINDOW_TOP_N, l=endless(rows, 200)),
        sl.sql(FIRST_BY_TIME, l=endless(rows, 200)),
    ):
        text = stream.graph.to_json()
        rebuilt = JobGraph.from_json(text)
        assert json.loads(rebuilt.to_json()) == json.loads(text)
        tops = [(n.op.describe(), n.output_schema) for n in rebuilt if isinstance(n.op, TopN)]
        assert tops == [
            (n.op.describe(), n.output_schema) for n in stream.graph if isinstance(n.op, TopN)
        ]
        again = run_to_end(sl.Stream(rebuilt, stream.node_id)).table
        assert again.equals(run_to_end(stream).table)


Q9 = """
SELECT
    id, itemName, description, initialBid, reserve, `dateTime`, expires, seller, category, extra,
    auction, bidder, price, bid_dateTime, bid_extra
FROM (
   SELECT A.*, B.auction, B.bidder, B.price, B.`dateTime` AS bid_dateTime, B.extra AS bid_extra,
     ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.`dateTime` ASC) AS rownum
   FROM auction A, bid B
   WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
)
WHERE rownum <= 1"""


def test_nexmark_q9_on_a_never_ending_generator_keeps_each_auctions_winning_bid() -> None:
    gen = sl.nexmark(events=None, event_rate=1_000)
    heads = {"auction": gen.auctions.head(150), "bid": gen.bids.head(2_300)}
    tables = {name: s.with_watermark("dateTime", "4s") for name, s in heads.items()}
    result = sl.sql(Q9, tables)
    assert result.changelog == "upsert"
    changes = result.collect()
    final = pa.Table.from_pylist(
        [dict(zip(changes.column_names, r, strict=True)) for r in _final(changes, ["id"])]
    )
    expected = duck(
        Q9.replace("`", ""), auction=heads["auction"].collect(), bid=heads["bid"].collect()
    )
    key = ["id", "price", "bid_dateTime", "bidder"]
    assert final.num_rows == expected.num_rows > 0
    assert _sorted(final, key) == _sorted(expected, key)


CLOSING = """
SELECT seller, AVG(w) OVER (
    PARTITION BY seller ORDER BY rt ROWS BETWEEN 3 PRECEDING AND CURRENT ROW
) AS a, rt FROM (
    SELECT * FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY W.id, W.seller ORDER BY W.w DESC) AS rn
        FROM (SELECT l.id, l.seller, r.w, r.t AS rt FROM l JOIN r
              ON l.id = r.k AND r.t BETWEEN l.t AND l.u) AS W
    ) WHERE rn <= 1
) AS Q"""
"""Nexmark q6's shape: the best right row of each left row (an auction's winning bid, until
its ``u``), then a window over those rows per seller ordered by their time."""


def _auctions_and_bids(seed: int, n: int = 400) -> tuple[pa.Table, pa.Table]:
    """Left rows with a unique ``id``, a ``seller`` and an end ``u`` 0 to 8 s after ``t``;
    right rows naming an ``id`` in ``k`` (sometimes null) with a unique value ``w``; both
    arriving up to 3 s out of order, times unique per side."""
    rng = np.random.default_rng(seed)

    def times(count: int) -> pa.Array:
        at = np.sort(rng.choice(60_000, count, replace=False))
        return pa.array(at[np.argsort(at + rng.uniform(0, 3_000, count), kind="stable")])

    left_t = times(n)
    left = pa.table(
        {
            "t": left_t.cast(pa.timestamp("ms")),
            "id": pa.array(np.arange(n)),
            "seller": pa.array(rng.integers(0, 6, n)),
            "u": pa.compute.add(left_t, pa.array(rng.integers(0, 8_000, n))).cast(
                pa.timestamp("ms")
            ),
        }
    )
    right = pa.table(
        {
            "t": times(8 * n).cast(pa.timestamp("ms")),
            "k": pa.array(rng.integers(0, n, 8 * n), mask=rng.random(8 * n) < 0.03),
            "w": pa.array(rng.permutation(8 * n)),
        }
    )
    return left, right


@pytest.mark.parametrize("seed", [11, 12])
def test_the_best_right_row_per_left_row_comes_as_its_end_passes_and_feeds_a_window(
    seed: int,
) -> None:
    left, right = _auctions_and_bids(seed)
    result = sl.sql(CLOSING, l=endless(left, 40), r=endless(right, 200))
    (top,) = [n.op for n in result.graph if isinstance(n.op, TopN)]
    assert (top.ends_at, top.time, top.emits_updates()) == ("__ends_at", "rt", False)
    assert "over_window" in {n.op.kind.value for n in result.graph}
    assert result.changelog == "append"
    out = run_to_end(result).table
    expected = duck(CLOSING, l=left, r=right)
    assert out.num_rows == expected.num_rows > 100
    assert _sorted(out, ["seller", "rt", "a"]) == _sorted(expected, ["seller", "rt", "a"])
