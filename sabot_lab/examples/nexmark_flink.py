"""The 23 Nexmark queries (q0 to q22) as Flink SQL scripts, written for sabot-lab after the
benchmark's query definitions (the Flink suite of the ``nexmark/nexmark`` project): the same
dialect and constructs (backticks, ``CREATE TABLE nexmark_qN (...) WITH ('connector' =
'blackhole')``, ``INSERT INTO ... SELECT``, the ``person``/``auction``/``bid`` views over the
``datagen`` table of the ``nexmark`` connector, ``PROCTIME()``, ``FOR SYSTEM_TIME AS OF``,
``PARTITIONED BY``, window table functions and group windows).

- :data:`TABLES` creates ``datagen``, :data:`VIEWS` the three views over it; :func:`setup`
  gives both with their ``${...}`` settings filled in (events, rate).
- :data:`QUERIES` maps ``"q0"`` … ``"q22"`` to each query's script: its result table and its
  ``INSERT INTO``. q10 writes ``${NEXMARK_DIR}/data/output/${SUBMIT_TIME}/bid/`` and q13 reads
  its side input from ``${SIDE_INPUT}`` (:func:`write_side_input` writes one); :func:`script`
  fills these in, and can point the result table at another connector than the blackhole
  (to read the rows a query gives).
- All 23 run on a bounded generator run, and on the never-ending one (``'events.num' =
  '0'``) as jobs of a cluster: there q5's second ``GROUP BY`` of the windows' bounds is a
  cascaded window (each window's maximum once, as the watermark passes the window) and its
  join on those bounds a window join.

q7 selects ``bidder`` before ``price``, in its table's order (the benchmark's text lists
them the other way, so its table's ``bidder`` holds prices); q6 filters its ``ROW_NUMBER``
in an outer query, as SQL requires.

q14's ``count_char`` is :func:`count_char` here.

May import: :mod:`sabot_lab.udf` (the texts are data; :class:`~sabot_lab.SQLContext` runs them).

>>> import sabot_lab as sl
>>> ctx = sl.SQLContext()
>>> ctx.execute(setup(events=10_000, rate=1_000))
>>> ctx.execute(script("q2"))  # the rows the blackhole took
80
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from string import Template

import pyarrow as pa

from sabot_lab.udf import udf

__all__ = [
    "QUERIES",
    "TABLES",
    "VIEWS",
    "count_char",
    "script",
    "setup",
    "write_side_input",
]

TABLES = """\
CREATE TABLE datagen (
    event_type INT,
    person ROW<
        id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR,
        state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR
    >,
    auction ROW<
        id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT,
        `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT,
        extra VARCHAR
    >,
    bid ROW<
        auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
        `dateTime` TIMESTAMP(3), extra VARCHAR
    >,
    `dateTime` AS CASE
        WHEN event_type = 0 THEN person.`dateTime`
        WHEN event_type = 1 THEN auction.`dateTime`
        ELSE bid.`dateTime`
    END,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'nexmark',
    'first-event.rate' = '${TPS}',
    'next-event.rate' = '${TPS}',
    'events.num' = '${EVENTS_NUM}',
    'person.proportion' = '${PERSON_PROPORTION}',
    'auction.proportion' = '${AUCTION_PROPORTION}',
    'bid.proportion' = '${BID_PROPORTION}'
);
"""
"""The ``datagen`` table: every event of the generator, one struct column per kind."""

VIEWS = """\
CREATE VIEW person AS
SELECT person.id, person.name, person.emailAddress, person.creditCard, person.city,
       person.state, `dateTime`, person.extra
FROM ${NEXMARK_TABLE}
WHERE event_type = 0;

CREATE VIEW auction AS
SELECT auction.id, auction.itemName, auction.description, auction.initialBid,
       auction.reserve, `dateTime`, auction.expires, auction.seller, auction.category,
       auction.extra
FROM ${NEXMARK_TABLE}
WHERE event_type = 1;

CREATE VIEW bid AS
SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, `dateTime`, bid.extra
FROM ${NEXMARK_TABLE}
WHERE event_type = 2;
"""
"""The ``person``, ``auction`` and ``bid`` views over the ``${NEXMARK_TABLE}`` table."""

_BLACKHOLE = "WITH (\n    'connector' = 'blackhole'\n);"
"""How each query's result table is written: its rows dropped."""

_RANKS = """\
    COUNT(*) FILTER (WHERE price < 10000) AS rank1_bids,
    COUNT(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
    COUNT(*) FILTER (WHERE price >= 1000000) AS rank3_bids,"""
_DISTINCT_RANKS = """\
    COUNT(DISTINCT bidder) AS total_bidders,
    COUNT(DISTINCT bidder) FILTER (WHERE price < 10000) AS rank1_bidders,
    COUNT(DISTINCT bidder) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bidders,
    COUNT(DISTINCT bidder) FILTER (WHERE price >= 1000000) AS rank3_bidders,
    COUNT(DISTINCT auction) AS total_auctions,
    COUNT(DISTINCT auction) FILTER (WHERE price < 10000) AS rank1_auctions,
    COUNT(DISTINCT auction) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_auctions,
    COUNT(DISTINCT auction) FILTER (WHERE price >= 1000000) AS rank3_auctions"""
_RANK_COLUMNS = """\
    rank1_bids BIGINT,
    rank2_bids BIGINT,
    rank3_bids BIGINT,"""
_DISTINCT_RANK_COLUMNS = """\
    total_bidders BIGINT,
    rank1_bidders BIGINT,
    rank2_bidders BIGINT,
    rank3_bidders BIGINT,
    total_auctions BIGINT,
    rank1_auctions BIGINT,
    rank2_auctions BIGINT,
    rank3_auctions BIGINT"""
_BID_COLUMNS = """\
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    channel VARCHAR,
    url VARCHAR,
    `dateTime` TIMESTAMP(3),
    extra VARCHAR"""

QUERIES: dict[str, str] = {
    "q0": f"""\
CREATE TABLE nexmark_q0 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    `dateTime` TIMESTAMP(3),
    extra VARCHAR
) {_BLACKHOLE}

INSERT INTO nexmark_q0
SELECT auction, bidder, price, `dateTime`, extra
FROM bid;
""",
    "q1": f"""\
CREATE TABLE nexmark_q1 (
    auction BIGINT,
    bidder BIGINT,
    price DECIMAL(23, 3),
    `dateTime` TIMESTAMP(3),
    extra VARCHAR
) {_BLACKHOLE}

INSERT INTO nexmark_q1
SELECT auction, bidder, 0.908 * price AS price, `dateTime`, extra
FROM bid;
""",
    "q2": f"""\
CREATE TABLE nexmark_q2 (
    auction BIGINT,
    price BIGINT
) {_BLACKHOLE}

INSERT INTO nexmark_q2
SELECT auction, price
FROM bid
WHERE MOD(auction, 123) = 0;
""",
    "q3": f"""\
CREATE TABLE nexmark_q3 (
    name VARCHAR,
    city VARCHAR,
    state VARCHAR,
    id BIGINT
) {_BLACKHOLE}

INSERT INTO nexmark_q3
SELECT P.name, P.city, P.state, A.id
FROM auction AS A
INNER JOIN person AS P ON A.seller = P.id
WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
""",
    "q4": f"""\
CREATE TABLE nexmark_q4 (
    id BIGINT,
    final BIGINT
) {_BLACKHOLE}

INSERT INTO nexmark_q4
SELECT Q.category, AVG(Q.final)
FROM (
    SELECT MAX(B.price) AS final, A.category
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
    GROUP BY A.id, A.category
) Q
GROUP BY Q.category;
""",
    "q5": f"""\
CREATE TABLE nexmark_q5 (
    auction BIGINT,
    num BIGINT
) {_BLACKHOLE}

INSERT INTO nexmark_q5
SELECT AuctionBids.auction, AuctionBids.num
FROM (
    SELECT auction, COUNT(*) AS num, window_start AS starttime, window_end AS endtime
    FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
    GROUP BY auction, window_start, window_end
) AS AuctionBids
JOIN (
    SELECT MAX(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
    FROM (
        SELECT COUNT(*) AS num, window_start AS starttime, window_end AS endtime
        FROM TABLE(
            HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND)
        )
        GROUP BY auction, window_start, window_end
    ) AS CountBids
    GROUP BY CountBids.starttime, CountBids.endtime
) AS MaxBids
ON AuctionBids.starttime = MaxBids.starttime
    AND AuctionBids.endtime = MaxBids.endtime
    AND AuctionBids.num >= MaxBids.maxn;
""",
    "q6": f"""\
CREATE TABLE nexmark_q6 (
    seller VARCHAR,
    avg_price BIGINT
) {_BLACKHOLE}

INSERT INTO nexmark_q6
SELECT
    Q.seller,
    AVG(Q.price) OVER (
        PARTITION BY Q.seller ORDER BY Q.`dateTime` ROWS BETWEEN 10 PRECEDING AND CURRENT ROW
    )
FROM (
    SELECT *
    FROM (
        SELECT *, ROW_NUMBER() OVER (PARTITION BY W.id, W.seller ORDER BY W.price DESC) AS rownum
        FROM (
            SELECT A.id, A.seller, B.price, B.`dateTime`
            FROM auction AS A, bid AS B
            WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
        ) AS W
    )
    WHERE rownum <= 1
) AS Q;
""",
    "q7": f"""\
CREATE TABLE nexmark_q7 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    `dateTime` TIMESTAMP(3),
    extra VARCHAR
) {_BLACKHOLE}

INSERT INTO nexmark_q7
SELECT B.auction, B.bidder, B.price, B.`dateTime`, B.extra
FROM bid B
JOIN (
    SELECT MAX(price) AS maxprice, window_end AS `dateTime`
    FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
    GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.`dateTime` BETWEEN B1.`dateTime` - INTERVAL '10' SECOND AND B1.`dateTime`;
""",
    "q8": f"""\
CREATE TABLE nexmark_q8 (
    id BIGINT,
    name VARCHAR,
    stime TIMESTAMP(3)
) {_BLACKHOLE}

INSERT INTO nexmark_q8
SELECT P.id, P.name, P.starttime
FROM (
    SELECT id, name, window_start AS starttime, window_end AS endtime
    FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
    GROUP BY id, name, window_start, window_end
) P
JOIN (
    SELECT seller, window_start AS starttime, window_end AS endtime
    FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
    GROUP BY seller, window_start, window_end
) A
ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
""",
    "q9": f"""\
CREATE TABLE nexmark_q9 (
    id BIGINT,
    itemName VARCHAR,
    description VARCHAR,
    initialBid BIGINT,
    reserve BIGINT,
    `dateTime` TIMESTAMP(3),
    expires TIMESTAMP(3),
    seller BIGINT,
    category BIGINT,
    extra VARCHAR,
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    bid_dateTime TIMESTAMP(3),
    bid_extra VARCHAR
) {_BLACKHOLE}

INSERT INTO nexmark_q9
SELECT id, itemName, description, initialBid, reserve, `dateTime`, expires, seller, category,
       extra, auction, bidder, price, bid_dateTime, bid_extra
FROM (
    SELECT A.*, B.auction, B.bidder, B.price, B.`dateTime` AS bid_dateTime,
           B.extra AS bid_extra,
           ROW_NUMBER() OVER (PARTITION BY A.id ORDER BY B.price DESC, B.`dateTime` ASC) AS rownum
    FROM auction A, bid B
    WHERE A.id = B.auction AND B.`dateTime` BETWEEN A.`dateTime` AND A.expires
)
WHERE rownum <= 1;
""",
    "q10": """\
CREATE TABLE nexmark_q10 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    `dateTime` TIMESTAMP(3),
    extra VARCHAR,
    dt STRING,
    hm STRING
) PARTITIONED BY (dt, hm) WITH (
    'connector' = 'filesystem',
    'path' = 'file://${NEXMARK_DIR}/data/output/${SUBMIT_TIME}/bid/',
    'format' = 'csv',
    'sink.partition-commit.trigger' = 'partition-time',
    'sink.partition-commit.delay' = '1 min',
    'sink.partition-commit.policy.kind' = 'success-file',
    'partition.time-extractor.timestamp-pattern' = '$$dt $$hm:00',
    'sink.rolling-policy.rollover-interval' = '1min',
    'sink.rolling-policy.check-interval' = '1min'
);

INSERT INTO nexmark_q10
SELECT auction, bidder, price, `dateTime`, extra,
       DATE_FORMAT(`dateTime`, 'yyyy-MM-dd'), DATE_FORMAT(`dateTime`, 'HH:mm')
FROM bid;
""",
    "q11": f"""\
CREATE TABLE nexmark_q11 (
    bidder BIGINT,
    bid_count BIGINT,
    starttime TIMESTAMP(3),
    endtime TIMESTAMP(3)
) {_BLACKHOLE}

INSERT INTO nexmark_q11
SELECT
    B.bidder,
    COUNT(*) AS bid_count,
    SESSION_START(B.`dateTime`, INTERVAL '10' SECOND) AS starttime,
    SESSION_END(B.`dateTime`, INTERVAL '10' SECOND) AS endtime
FROM bid B
GROUP BY B.bidder, SESSION(B.`dateTime`, INTERVAL '10' SECOND);
""",
    "q12": f"""\
CREATE TABLE nexmark_q12 (
    bidder BIGINT,
    bid_count BIGINT,
    starttime TIMESTAMP(3),
    endtime TIMESTAMP(3)
) {_BLACKHOLE}

CREATE VIEW B AS SELECT *, PROCTIME() AS p_time FROM bid;

INSERT INTO nexmark_q12
SELECT bidder, COUNT(*) AS bid_count, window_start AS starttime, window_end AS endtime
FROM TABLE(TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND))
GROUP BY bidder, window_start, window_end;
""",
    "q13": f"""\
CREATE TABLE side_input (
    key BIGINT,
    `value` VARCHAR
) WITH (
    'connector.type' = 'filesystem',
    'connector.path' = 'file://${{SIDE_INPUT}}',
    'format.type' = 'csv'
);

CREATE TABLE nexmark_q13 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    `dateTime` TIMESTAMP(3),
    `value` VARCHAR
) {_BLACKHOLE}

INSERT INTO nexmark_q13
SELECT B.auction, B.bidder, B.price, B.`dateTime`, S.`value`
FROM (SELECT *, PROCTIME() AS p_time FROM bid) B
JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S
ON MOD(B.auction, 10000) = S.key;
""",
    "q14": f"""\
CREATE FUNCTION count_char AS 'sabot_lab.examples.nexmark_flink.count_char';

CREATE TABLE nexmark_q14 (
    auction BIGINT,
    bidder BIGINT,
    price DECIMAL(23, 3),
    bidTimeType VARCHAR,
    `dateTime` TIMESTAMP(3),
    extra VARCHAR,
    c_counts BIGINT
) {_BLACKHOLE}

INSERT INTO nexmark_q14
SELECT
    auction,
    bidder,
    0.908 * price AS price,
    CASE
        WHEN HOUR(`dateTime`) >= 8 AND HOUR(`dateTime`) <= 18 THEN 'dayTime'
        WHEN HOUR(`dateTime`) <= 6 OR HOUR(`dateTime`) >= 20 THEN 'nightTime'
        ELSE 'otherTime'
    END AS bidTimeType,
    `dateTime`,
    extra,
    count_char(extra, 'c') AS c_counts
FROM bid
WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000;
""",
    "q15": f"""\
CREATE TABLE nexmark_q15 (
    `day` VARCHAR,
    total_bids BIGINT,
{_RANK_COLUMNS}
{_DISTINCT_RANK_COLUMNS}
) {_BLACKHOLE}

INSERT INTO nexmark_q15
SELECT
    DATE_FORMAT(`dateTime`, 'yyyy-MM-dd') AS `day`,
    COUNT(*) AS total_bids,
{_RANKS}
{_DISTINCT_RANKS}
FROM bid
GROUP BY DATE_FORMAT(`dateTime`, 'yyyy-MM-dd');
""",
    "q16": f"""\
CREATE TABLE nexmark_q16 (
    channel VARCHAR,
    `day` VARCHAR,
    `minute` VARCHAR,
    total_bids BIGINT,
{_RANK_COLUMNS}
{_DISTINCT_RANK_COLUMNS}
) {_BLACKHOLE}

INSERT INTO nexmark_q16
SELECT
    channel,
    DATE_FORMAT(`dateTime`, 'yyyy-MM-dd') AS `day`,
    MAX(DATE_FORMAT(`dateTime`, 'HH:mm')) AS `minute`,
    COUNT(*) AS total_bids,
{_RANKS}
{_DISTINCT_RANKS}
FROM bid
GROUP BY channel, DATE_FORMAT(`dateTime`, 'yyyy-MM-dd');
""",
    "q17": f"""\
CREATE TABLE nexmark_q17 (
    auction BIGINT,
    `day` VARCHAR,
    total_bids BIGINT,
{_RANK_COLUMNS}
    min_price BIGINT,
    max_price BIGINT,
    avg_price BIGINT,
    sum_price BIGINT
) {_BLACKHOLE}

INSERT INTO nexmark_q17
SELECT
    auction,
    DATE_FORMAT(`dateTime`, 'yyyy-MM-dd') AS `day`,
    COUNT(*) AS total_bids,
{_RANKS}
    MIN(price) AS min_price,
    MAX(price) AS max_price,
    AVG(price) AS avg_price,
    SUM(price) AS sum_price
FROM bid
GROUP BY auction, DATE_FORMAT(`dateTime`, 'yyyy-MM-dd');
""",
    "q18": f"""\
CREATE TABLE nexmark_q18 (
{_BID_COLUMNS}
) {_BLACKHOLE}

INSERT INTO nexmark_q18
SELECT auction, bidder, price, channel, url, `dateTime`, extra
FROM (
    SELECT *,
           ROW_NUMBER() OVER (PARTITION BY bidder, auction ORDER BY `dateTime` DESC) AS rank_number
    FROM bid
)
WHERE rank_number <= 1;
""",
    "q19": f"""\
CREATE TABLE nexmark_q19 (
{_BID_COLUMNS},
    rank_number BIGINT
) {_BLACKHOLE}

INSERT INTO nexmark_q19
SELECT *
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY auction ORDER BY price DESC) AS rank_number
    FROM bid
)
WHERE rank_number <= 10;
""",
    "q20": f"""\
CREATE TABLE nexmark_q20 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    channel VARCHAR,
    url VARCHAR,
    bid_dateTime TIMESTAMP(3),
    bid_extra VARCHAR,
    itemName VARCHAR,
    description VARCHAR,
    initialBid BIGINT,
    reserve BIGINT,
    auction_dateTime TIMESTAMP(3),
    expires TIMESTAMP(3),
    seller BIGINT,
    category BIGINT,
    auction_extra VARCHAR
) {_BLACKHOLE}

INSERT INTO nexmark_q20
SELECT auction, bidder, price, channel, url, B.`dateTime`, B.extra,
       itemName, description, initialBid, reserve, A.`dateTime`, expires, seller, category,
       A.extra
FROM bid AS B
INNER JOIN auction AS A ON B.auction = A.id
WHERE A.category = 10;
""",
    "q21": f"""\
CREATE TABLE nexmark_q21 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    channel VARCHAR,
    channel_id VARCHAR
) {_BLACKHOLE}

INSERT INTO nexmark_q21
SELECT
    auction,
    bidder,
    price,
    channel,
    CASE
        WHEN LOWER(channel) = 'apple' THEN '0'
        WHEN LOWER(channel) = 'google' THEN '1'
        WHEN LOWER(channel) = 'facebook' THEN '2'
        WHEN LOWER(channel) = 'baidu' THEN '3'
        ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)
    END AS channel_id
FROM bid
WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL
    OR LOWER(channel) IN ('apple', 'google', 'facebook', 'baidu');
""",
    "q22": f"""\
CREATE TABLE nexmark_q22 (
    auction BIGINT,
    bidder BIGINT,
    price BIGINT,
    channel VARCHAR,
    dir1 VARCHAR,
    dir2 VARCHAR,
    dir3 VARCHAR
) {_BLACKHOLE}

INSERT INTO nexmark_q22
SELECT
    auction,
    bidder,
    price,
    channel,
    SPLIT_INDEX(url, '/', 3) AS dir1,
    SPLIT_INDEX(url, '/', 4) AS dir2,
    SPLIT_INDEX(url, '/', 5) AS dir3
FROM bid;
""",
}
"""Each query's script: ``CREATE TABLE nexmark_qN`` (a blackhole; q10 a partitioned directory
of csv files) and its ``INSERT INTO``."""


@udf(return_dtype=pa.int64())
def count_char(text: str, char: str) -> int:
    """How many times ``char`` occurs in ``text`` (q14's user function).

    >>> count_char("accept", "c")
    2
    """
    return text.count(char)


def setup(
    events: int | None = 1_000_000,
    rate: float = 10_000_000,
    *,
    table: str = "datagen",
    paced: bool = False,
) -> str:
    """The script creating the ``datagen`` table (``events`` events, 0 or None: no end, at
    ``rate`` events per second of event time; ``paced``: of wall-clock time too,
    ``'max-emit-speed' = 'false'``) and the ``person``, ``auction`` and ``bid`` views over
    ``table``, in Nexmark's proportions (1 : 3 : 46).

    >>> [line.strip() for line in setup(events=100, rate=10).splitlines() if "'10" in line]
    ["'first-event.rate' = '10',", "'next-event.rate' = '10',", "'events.num' = '100',"]
    >>> "'max-emit-speed' = 'false'" in setup(events=0, paced=True)
    True
    """
    values = {
        "TPS": f"{rate:g}",
        "EVENTS_NUM": str(events or 0),
        "PERSON_PROPORTION": "1",
        "AUCTION_PROPORTION": "3",
        "BID_PROPORTION": "46",
        "NEXMARK_TABLE": table,
    }
    tables = TABLES
    if paced:
        last = "'bid.proportion' = '${BID_PROPORTION}'"
        tables = tables.replace(last, f"{last},\n    'max-emit-speed' = 'false'")
    return Template(tables + VIEWS).substitute(values)


def script(
    name: str,
    *,
    nexmark_dir: str | os.PathLike[str] = ".",
    submit_time: str = "0",
    side_input: str | os.PathLike[str] = "side_input.txt",
    sink: dict[str, str] | None = None,
    primary_key: Sequence[str] = (),
) -> str:
    """Query ``name``'s script, its ``${...}`` settings filled in: q10 writes under
    ``nexmark_dir`` (``data/output/<submit_time>/bid/``), q13 reads ``side_input``. With
    ``sink`` (``WITH`` options), the result table writes to that connector instead of the
    blackhole, the rest of the script as it is; with ``primary_key``, the result table
    declares it (``PRIMARY KEY (...) NOT ENFORCED``, as a Flink upsert table does), so that
    it takes the updates of a query whose results change.

    >>> print(script("q2", sink={"connector": "print"}).splitlines()[3])
    ) WITH ('connector' = 'print');
    >>> print(script("q2", primary_key=["auction"]).splitlines()[3])
        PRIMARY KEY (auction) NOT ENFORCED
    >>> script("q23")
    Traceback (most recent call last):
    ...
    KeyError: "no Nexmark query 'q23': the queries are q0 to q22"
    """
    if name not in QUERIES:
        raise KeyError(f"no Nexmark query {name!r}: the queries are q0 to q22")
    text = Template(QUERIES[name]).substitute(
        NEXMARK_DIR=os.path.abspath(nexmark_dir),
        SUBMIT_TIME=submit_time,
        SIDE_INPUT=os.path.abspath(side_input),
    )
    if sink is None and not primary_key:
        return text
    if _BLACKHOLE not in text:
        raise ValueError(f"{name} writes no blackhole table: its sink is set in its text")
    with_options = _BLACKHOLE
    if sink is not None:
        options = ", ".join(f"'{key}' = '{value}'" for key, value in sink.items())
        with_options = f"WITH ({options});"
    if primary_key:
        with_options = (
            f",\n    PRIMARY KEY ({', '.join(primary_key)}) NOT ENFORCED\n) {with_options}"
        )
        return re.sub(r"\n\) " + re.escape(_BLACKHOLE), lambda _: with_options, text, count=1)
    return text.replace(_BLACKHOLE, with_options)


def write_side_input(path: str | os.PathLike[str], rows: int = 10_000) -> None:
    """Write q13's side input: ``rows`` lines ``key,value`` (``i,i`` for i from 0), as csv
    without a header, as the benchmark's generator does.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "side_input.txt"
    >>> write_side_input(path, rows=3)
    >>> path.read_text()
    '0,0\\n1,1\\n2,2\\n'
    """
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(f"{i},{i}\n" for i in range(rows))
