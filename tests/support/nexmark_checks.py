"""The Nexmark queries of :mod:`sabot_lab.examples.nexmark_flink` in DuckDB SQL, and the checks
of a run's rows against them on a prefix of the deterministic generator: events ``0`` to
``events - 1`` give the same rows however they were read, so the rows a job committed up to
a checkpoint (whose source position is that prefix) or the rows read so far in-process can
be compared with DuckDB over the same prefix, generated again here.

One checker per kind of result:

- :func:`check_appended`: an append-only result (a projection, a filter, a regular join):
  the rows equal DuckDB's over the prefix; in the generator's order when ``ordered``.
- :func:`check_windows`: windows that fire on the watermark: the rows of every window that
  ended by the last one given equal DuckDB's rows of those windows.
- :func:`check_snapshot`: an upsert changelog's current rows (one per key) equal DuckDB's
  result over the prefix.
- :func:`check_joined_windows`: windows joined as they close, whose rows carry no window
  bound (q5): DuckDB's rows of the first windows, each whole, then some of the next one's.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

import sabot_lab as sl
from sabot_lab.connectors.nexmark import BASE_TIME
from tests.support.reference import assert_same_rows, duckdb_table, normalized_rows

WINDOW_10S = "epoch_ms(ms // 10000 * 10000)"
RANKS = """
    count(*) FILTER (WHERE price < 10000),
    count(*) FILTER (WHERE price >= 10000 AND price < 1000000),
    count(*) FILTER (WHERE price >= 1000000)"""
DISTINCT_RANKS = """
    count(DISTINCT bidder),
    count(DISTINCT bidder) FILTER (WHERE price < 10000),
    count(DISTINCT bidder) FILTER (WHERE price >= 10000 AND price < 1000000),
    count(DISTINCT bidder) FILTER (WHERE price >= 1000000),
    count(DISTINCT auction),
    count(DISTINCT auction) FILTER (WHERE price < 10000),
    count(DISTINCT auction) FILTER (WHERE price >= 10000 AND price < 1000000),
    count(DISTINCT auction) FILTER (WHERE price >= 1000000)"""
WINNING_BIDS = """
    SELECT A.id, A.seller, A.category, B.price, B.dateTime, B.ms,
           row_number() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime) AS rownum
    FROM auctions A JOIN bids B ON A.id = B.auction
    WHERE B.dateTime BETWEEN A.dateTime AND A.expires"""
CHANNEL_ID = "regexp_extract(url, '(&|^)channel_id=([^&]*)', 2)"
"""DuckDB's regexp_extract gives '' where the pattern does not match, Flink's a null."""
MATCHED_ID = f"CASE WHEN regexp_matches(url, '(&|^)channel_id=') THEN {CHANNEL_ID} END"

Q5_BY_WINDOW = """
    WITH w AS (
        SELECT auction, ms // 2000 * 2000 - 2000 * s.i AS ws FROM bids, range(0, 5) AS s(i)
    ), c AS (SELECT auction, ws, count(*) AS num FROM w GROUP BY auction, ws)
    SELECT auction, num, ws FROM c JOIN (SELECT ws, max(num) AS maxn FROM c GROUP BY ws)
    USING (ws) WHERE num >= maxn"""
"""q5's rows with the start of their window (epoch ms; the windows are 10 s long)."""

REFERENCES: dict[str, str] = {
    "q0": "SELECT auction, bidder, price, dateTime, extra FROM bids",
    "q1": "SELECT auction, bidder, CAST(0.908 * price AS DECIMAL(23, 3)), dateTime, extra FROM bids",
    "q2": "SELECT auction, price FROM bids WHERE auction % 123 = 0",
    "q3": """
        SELECT P.name, P.city, P.state, A.id FROM auctions A JOIN persons P ON A.seller = P.id
        WHERE A.category = 10 AND P.state IN ('OR', 'ID', 'CA')""",
    "q4": f"""
        SELECT category, CAST(avg(price) AS BIGINT)
        FROM ({WINNING_BIDS}) WHERE rownum = 1 GROUP BY category""",
    "q5": f"SELECT auction, num FROM ({Q5_BY_WINDOW})",
    "q6": f"""
        WITH q AS (SELECT * FROM ({WINNING_BIDS}) WHERE rownum = 1)
        SELECT CAST(seller AS VARCHAR), CAST(avg(price) OVER (
            PARTITION BY seller ORDER BY dateTime ROWS BETWEEN 10 PRECEDING AND CURRENT ROW
        ) AS BIGINT) FROM q""",
    "q7": """
        WITH m AS (SELECT max(price) AS maxprice, ms // 10000 * 10000 + 10000 AS we
                   FROM bids GROUP BY ms // 10000)
        SELECT B.auction, B.bidder, B.price, B.dateTime, B.extra FROM bids B
        JOIN m ON B.price = m.maxprice WHERE B.ms BETWEEN m.we - 10000 AND m.we""",
    "q8": f"""
        WITH p AS (SELECT DISTINCT id, name, {WINDOW_10S} AS ws FROM persons),
             a AS (SELECT DISTINCT seller, {WINDOW_10S} AS ws FROM auctions)
        SELECT p.id, p.name, p.ws FROM p JOIN a ON p.id = a.seller AND p.ws = a.ws""",
    "q9": """
        SELECT A.id, A.itemName, A.description, A.initialBid, A.reserve, A.dateTime, A.expires,
               A.seller, A.category, A.extra, B.auction, B.bidder, B.price,
               B.dateTime AS bid_dateTime, B.extra AS bid_extra
        FROM auctions A JOIN bids B ON A.id = B.auction
        WHERE B.dateTime BETWEEN A.dateTime AND A.expires
        QUALIFY row_number() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.dateTime) = 1""",
    "q11": """
        WITH o AS (SELECT bidder, ms, lag(ms) OVER (PARTITION BY bidder ORDER BY ms) AS prev
                   FROM bids),
             s AS (SELECT *, sum(CASE WHEN prev IS NULL OR ms - prev >= 10000 THEN 1 ELSE 0 END)
                       OVER (PARTITION BY bidder ORDER BY ms RANGE UNBOUNDED PRECEDING) AS sid
                   FROM o)
        SELECT bidder, count(*), epoch_ms(min(ms)), epoch_ms(max(ms) + 10000)
        FROM s GROUP BY bidder, sid""",
    "q13": """
        SELECT auction, bidder, price, dateTime, CAST(auction % 10000 AS VARCHAR) FROM bids""",
    "q14": """
        SELECT auction, bidder, CAST(0.908 * price AS DECIMAL(23, 3)),
               CASE WHEN hour(dateTime) BETWEEN 8 AND 18 THEN 'dayTime'
                    WHEN hour(dateTime) <= 6 OR hour(dateTime) >= 20 THEN 'nightTime'
                    ELSE 'otherTime' END,
               dateTime, extra, length(extra) - length(replace(extra, 'c', ''))
        FROM bids WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000""",
    "q15": f"""
        SELECT strftime(dateTime, '%Y-%m-%d') AS day, count(*), {RANKS}, {DISTINCT_RANKS}
        FROM bids GROUP BY day""",
    "q16": f"""
        SELECT channel, strftime(dateTime, '%Y-%m-%d') AS day,
               max(strftime(dateTime, '%H:%M')), count(*), {RANKS}, {DISTINCT_RANKS}
        FROM bids GROUP BY channel, day""",
    "q17": f"""
        SELECT auction, strftime(dateTime, '%Y-%m-%d') AS day, count(*), {RANKS},
               min(price), max(price), CAST(avg(price) AS BIGINT), sum(price)
        FROM bids GROUP BY auction, day""",
    "q18": """
        SELECT auction, bidder, price, channel, url, dateTime, extra FROM bids
        QUALIFY row_number() OVER (PARTITION BY bidder, auction ORDER BY dateTime DESC) = 1""",
    "q20": """
        SELECT B.auction, B.bidder, B.price, B.channel, B.url, B.dateTime, B.extra,
               A.itemName, A.description, A.initialBid, A.reserve,
               A.dateTime AS auction_dateTime, A.expires, A.seller, A.category,
               A.extra AS auction_extra
        FROM bids B JOIN auctions A ON B.auction = A.id WHERE A.category = 10""",
    "q21": f"""
        SELECT auction, bidder, price, channel,
               CASE lower(channel) WHEN 'apple' THEN '0' WHEN 'google' THEN '1'
                    WHEN 'facebook' THEN '2' WHEN 'baidu' THEN '3' ELSE {MATCHED_ID} END
        FROM bids
        WHERE {MATCHED_ID} IS NOT NULL OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')""",
    "q22": "SELECT auction, bidder, price, channel, "
    + ", ".join(
        f"CASE WHEN len(string_split(url, '/')) > {i} THEN split_part(url, '/', {i + 1}) END"
        for i in (3, 4, 5)
    )
    + " FROM bids",
}
"""Each query in DuckDB SQL over ``persons``, ``auctions`` and ``bids`` (with ``ms``, the
event time in epoch milliseconds): windows are arithmetic on ``ms``; casts to BIGINT
round, as DuckDB's (and sabot-lab's INSERT INTO) do, where Flink's truncate."""


@dataclass(frozen=True)
class Check:
    """How a query's rows are checked: ``kind`` names the checker; ``reference`` its DuckDB
    query (:data:`REFERENCES` by default); ``ordered``: appended in the generator's order;
    ``shuffled``: a job's tasks interleave its rows (the generator's order is not kept);
    ``window_end``: DuckDB expression of a result row's window end in epoch ms (over its
    columns by position, ``c0``, ``c1``, ..., timestamps as epoch ms; of a reference row's
    for ``joined_windows``, whose reference has the result's columns first); ``key``: the upsert
    key; ``columns``: the result's columns compared (all by default)."""

    kind: Literal["appended", "windows", "snapshot", "joined_windows"]
    reference: str
    ordered: bool = False
    shuffled: bool = False
    window_end: str = ""
    key: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()


def _appended(name: str, ordered: bool = False, shuffled: bool = False) -> Check:
    return Check("appended", REFERENCES[name], ordered=ordered, shuffled=shuffled)


def _windows(name: str, window_end: str) -> Check:
    return Check("windows", REFERENCES[name], window_end=window_end)


def _snapshot(name: str, *key: str, reference: str = "", columns: tuple[str, ...] = ()) -> Check:
    return Check("snapshot", reference or REFERENCES[name], key=key, columns=columns)


Q19_RANKS = (
    "SELECT auction, price, row_number() OVER (PARTITION BY auction ORDER BY price DESC) "
    "AS r FROM bids QUALIFY r <= 10"
)
"""q19's ranks: ties in price make its top 10 rows ambiguous, not their prices."""

CHECKS: dict[str, Check] = {
    "q0": _appended("q0", ordered=True),
    "q1": _appended("q1", ordered=True),
    "q2": _appended("q2", ordered=True),
    "q3": _appended("q3"),
    "q5": Check("joined_windows", Q5_BY_WINDOW, window_end="c2 + 10000"),
    "q7": _windows("q7", "(c3 // 10000 + 1) * 10000"),
    "q8": _windows("q8", "c2 + 10000"),
    "q11": _windows("q11", "c3"),
    "q9": _snapshot("q9", "auction"),
    "q13": _appended("q13", ordered=True, shuffled=True),
    "q14": _appended("q14", ordered=True),
    "q15": _snapshot("q15", "day"),
    "q16": _snapshot("q16", "channel", "day"),
    "q17": _snapshot("q17", "auction", "day"),
    "q18": _snapshot("q18", "bidder", "auction"),
    "q19": _snapshot(
        "q19",
        "auction",
        "rank_number",
        reference=Q19_RANKS,
        columns=("auction", "price", "rank_number"),
    ),
    "q20": _appended("q20"),
    "q21": _appended("q21", ordered=True),
    "q22": _appended("q22", ordered=True),
}
"""How each Nexmark query checked on the never-ending generator is
checked, by name (the queries left out are named, with the reason, where it is used)."""


def nexmark_tables(events: int, rate: float) -> dict[str, pa.Table]:
    """``persons``, ``auctions`` and ``bids`` of events ``0`` to ``events - 1`` of the
    generator at ``rate`` events per second, each with ``ms`` (event time in epoch ms)."""
    gen = sl.nexmark(events=events, event_rate=rate)
    tables = {}
    for name in ("persons", "auctions", "bids"):
        table = getattr(gen, name).collect()
        tables[name] = table.append_column("ms", table["dateTime"].cast(pa.int64()))
    return tables


def reference(name: str, events: int, rate: float) -> pa.Table:
    """DuckDB's rows of query ``name`` (its :data:`CHECKS` reference) over the prefix."""
    return duckdb_table(CHECKS[name].reference, **nexmark_tables(events, rate))


def events_until(ms: int, rate: float) -> int:
    """How many events the generator at ``rate`` gives up to event time ``ms`` (epoch ms)
    inclusive: a prefix holding every event of that time."""
    base = int(BASE_TIME.timestamp() * 1000)
    return int((ms - base + 1) * rate / 1000) + 1


def check(name: str, rows: pa.Table, rate: float, events: int | None = None) -> None:
    """Check ``rows`` of query ``name`` against DuckDB over the first ``events`` events (a
    job's rows up to a checkpoint at that source position), with the checker of its kind
    (:data:`CHECKS`). ``events`` None: the first rows read of an ordered append-only result
    (as many of DuckDB's first rows) or of windows (DuckDB's over the events up to their
    last window end)."""
    spec = CHECKS[name]
    assert rows.num_rows > 0, f"{name}: no rows to check"
    if spec.columns:
        rows = rows.select(list(spec.columns))
    if spec.kind == "joined_windows":
        check_joined_windows(name, rows, _whole_windows(name, rows, rate, events), spec)
        return
    if spec.kind == "windows":
        last = pc.max(_window_ends(rows, spec.window_end)).as_py()
        expected = reference(name, max(events or 0, events_until(last, rate)), rate)
        check_windows(name, rows, expected, spec)
        return
    if events is None:
        assert spec.ordered, f"{name}: the prefix of an unordered result is not known"
        expected = _first_rows(name, rows.num_rows, rate)
    else:
        expected = reference(name, events, rate)
        if spec.shuffled:
            spec = dataclasses.replace(spec, ordered=False)
    _CHECKERS[spec.kind](name, rows, expected, spec)


def check_appended(name: str, rows: pa.Table, expected: pa.Table, spec: Check) -> None:
    """An append-only result: the same rows as DuckDB's, in its (the generator's) order
    when ``spec.ordered``."""
    assert_same_rows(rows, expected, ordered=spec.ordered)


def check_windows(name: str, rows: pa.Table, expected: pa.Table, spec: Check) -> None:
    """Windows fired on the watermark: the rows of every window that ended by the last
    window end among ``rows`` equal DuckDB's rows of those windows (each window whole, none
    twice, none left out)."""
    last = pc.max(_window_ends(rows, spec.window_end))
    ends = _window_ends(expected, spec.window_end)
    assert_same_rows(rows, expected.filter(pc.less_equal(ends, last)))


def check_snapshot(name: str, rows: pa.Table, expected: pa.Table, spec: Check) -> None:
    """An upsert changelog's current rows: one per key, equal to DuckDB's result."""
    keys = rows.group_by(list(spec.key)).aggregate([]).num_rows
    assert keys == rows.num_rows, f"{name}: {rows.num_rows} rows for {keys} keys"
    assert_same_rows(rows, expected)


def check_joined_windows(name: str, rows: pa.Table, expected: pa.Table, spec: Check) -> None:
    """Windows joined as they close, whose rows carry no window bound (q5): ``expected`` are
    DuckDB's rows of the windows a prefix holds whole (the result's columns, then what
    ``spec.window_end`` reads); ``rows`` are the rows of its first windows, each whole (at
    least one), then some rows of the next window (a window's rows may come in pieces, and
    the reading stopped between them)."""
    ends = _window_ends(expected, spec.window_end)
    result = expected.select(list(range(rows.num_columns)))
    windows = [
        Counter(normalized_rows(result.filter(pc.equal(ends, end))))
        for end in sorted(set(ends.to_pylist()))
    ]
    left, whole = Counter(normalized_rows(rows)), 0
    while whole < len(windows) and not windows[whole] - left:  # the window's rows all came
        left -= windows[whole]
        whole += 1
    assert whole, f"{name}: the rows of the first window did not all come: {windows[:1]}"
    stray = left - (windows[whole] if whole < len(windows) else Counter())
    assert not stray, f"{name}: rows not of the window after the first {whole}: {dict(stray)}"


def _whole_windows(name: str, rows: pa.Table, rate: float, events: int | None) -> pa.Table:
    """DuckDB's rows of query ``name`` (a ``joined_windows`` check) of the windows the first
    ``events`` events hold whole; ``events`` None: of enough windows for ``rows`` (more than
    five, with at least twice as many rows)."""
    spec, count = CHECKS[name], events or 10_000
    while True:
        tables = nexmark_tables(count, rate)
        expected = duckdb_table(spec.reference, **tables)
        ends = _window_ends(expected, spec.window_end)
        last = max(pc.max(t["ms"]).as_py() or 0 for t in tables.values())  # events after: later
        expected = expected.filter(pc.less_equal(ends, last))
        ends = _window_ends(expected, spec.window_end)
        enough = expected.num_rows >= 2 * rows.num_rows and len(pc.unique(ends)) > 5
        if events is not None or enough:
            return expected
        count *= 2


def _window_ends(rows: pa.Table, window_end: str) -> pa.Array:
    """``window_end`` of each row: a DuckDB expression over the columns named by position
    (``c0``, ``c1``, ...; timestamps as epoch ms)."""
    columns = [
        c.cast(pa.timestamp("ms")).cast(pa.int64()) if pa.types.is_timestamp(c.type) else c
        for c in rows.columns
    ]
    names = [f"c{i}" for i in range(len(columns))]
    timed = pa.table(columns, names=names)
    return duckdb_table(f"SELECT {window_end} AS e FROM rows", rows=timed)["e"].combine_chunks()


def _first_rows(name: str, count: int, rate: float) -> pa.Table:
    """DuckDB's first ``count`` rows of query ``name``, over as many events as they need."""
    events = 1_000
    while (expected := reference(name, events, rate)).num_rows < count:
        events *= 4
    return expected.slice(0, count)


_CHECKERS = {"appended": check_appended, "windows": check_windows, "snapshot": check_snapshot}


def select_of(ctx: sl.SQLContext, script: str) -> sl.Stream:
    """The query of the ``INSERT INTO`` of a Nexmark query's ``script``, as a stream of
    ``ctx`` (after the script's own functions and views; its result table left out)."""
    definitions, _, query = script.rpartition("INSERT INTO ")
    statements = [s for s in definitions.split(";") if s.strip()]
    kept = [s for s in statements if "CREATE TABLE nexmark_" not in s]
    if kept:
        ctx.execute(";".join(kept))
    stream = ctx.execute(query.split("\n", 1)[1])
    assert isinstance(stream, sl.Stream)
    return stream
