"""Flink SQL's tables and statements (``CREATE TABLE ... WITH``, ``INSERT INTO``, ``CREATE
FUNCTION``, ``CUMULATE``, ``PROCTIME()``) on bounded data: what they write or give equals
DuckDB computing the same over the same rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from tests.support.reference import assert_same_rows, duckdb_table, timed_rows
from tests.support.sql_functions import count_char_reference

START = dt.datetime(2026, 1, 1)


def _events(rows: int, seed: int) -> pa.Table:
    """Rows with nulls in every column but the time, which goes out of order by under a
    second (a watermark 2 s behind sees no late row)."""
    rng = np.random.default_rng(seed)
    base = np.arange(rows) * 100 + rng.integers(0, 1_000, rows)  # milliseconds
    times = [START + dt.timedelta(milliseconds=int(ms)) for ms in base]

    def nulled(values: list[object]) -> list[object]:
        return [None if rng.random() < 0.1 else v for v in values]

    return pa.table(
        {
            "k": pa.array(nulled([f"k{v}" for v in rng.integers(0, 5, rows)]), pa.string()),
            "x": pa.array(nulled([int(v) for v in rng.integers(-50, 50, rows)]), pa.int64()),
            "price": pa.array(nulled([float(v) for v in rng.normal(100, 30, rows)]), pa.float64()),
            "ts": pa.array(times, pa.timestamp("ms")),
        }
    )


def _with_ms(table: pa.Table, column: str = "ts") -> pa.Table:
    """``table`` with ``ms``, the time as epoch milliseconds, which DuckDB buckets."""
    return table.append_column("ms", table[column].cast(pa.int64()))


def _write(table: pa.Table, directory: Path, file_format: str) -> None:
    directory.mkdir(parents=True)
    if file_format == "parquet":
        pq.write_table(table, directory / "part-0.parquet")
    else:  # Flink's csv format: no header line
        options = pacsv.WriteOptions(include_header=False)
        pacsv.write_csv(table, directory / "part-0.csv", write_options=options)


EVENTS_TABLE = """
CREATE TABLE events (
    k STRING, x BIGINT, price DOUBLE, ts TIMESTAMP(3),
    doubled AS x * 2,
    WATERMARK FOR ts AS ts - INTERVAL '2' SECOND
) WITH ('connector' = 'filesystem', 'path' = 'file://{path}', 'format' = '{format}');
"""


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_file_tables_insert_into_a_parquet_table_equals_duckdb(
    tmp_path: Path, file_format: str
) -> None:
    events = _events(3_000, seed=1)
    _write(events, tmp_path / "events", file_format)
    ctx = sl.SQLContext()
    ctx.execute(EVENTS_TABLE.format(path=tmp_path / "events", format=file_format))
    written = ctx.execute(
        f"""
        CREATE TABLE totals (k STRING, n BIGINT, total BIGINT, top DOUBLE)
        WITH ('connector' = 'filesystem', 'path' = '{tmp_path / "totals"}', 'format' = 'parquet');
        INSERT INTO totals SELECT k, COUNT(*), SUM(doubled), MAX(price) FROM events GROUP BY k;
        """
    )
    expected = duckdb_table(
        "SELECT k, COUNT(*), SUM(x * 2), MAX(price) FROM events GROUP BY k", events=events
    )
    back = pq.read_table(tmp_path / "totals")
    assert written == back.num_rows == expected.num_rows
    assert back.schema.types == [pa.string(), pa.int64(), pa.int64(), pa.float64()]
    assert_same_rows(back, expected)


def test_windows_of_a_watermarked_table_into_csv_and_read_back_equal_duckdb(
    tmp_path: Path,
) -> None:
    events = _events(2_000, seed=2)
    _write(events, tmp_path / "events", "parquet")
    ctx = sl.SQLContext()
    ctx.execute(EVENTS_TABLE.format(path=tmp_path / "events", format="parquet"))
    out = f"'connector' = 'filesystem', 'path' = '{tmp_path / 'windows'}', 'format' = 'csv'"
    columns = "k STRING, window_start TIMESTAMP(3), window_end TIMESTAMP(3), n BIGINT, s BIGINT"
    ctx.execute(
        f"""
        CREATE TABLE windows ({columns}) WITH ({out});
        INSERT INTO windows
        SELECT k, window_start, window_end, COUNT(*), SUM(x)
        FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '5' SECOND))
        GROUP BY k, window_start, window_end;
        """
    )
    back = ctx.execute("SELECT * FROM windows")
    assert isinstance(back, sl.Stream)
    expected = duckdb_table(
        "SELECT k, ms // 5000 * 5000 AS ws, ms // 5000 * 5000 + 5000, "
        "COUNT(*), SUM(x) FROM events GROUP BY k, ws",
        events=_with_ms(events),
    )
    assert timed_rows(back.collect()) == timed_rows(expected)


CUMULATE_SQL = """
SELECT k, window_start, window_end, COUNT(*) AS n, SUM(x) AS s, MAX(price) AS top,
       COUNT(DISTINCT x) AS d
FROM TABLE(CUMULATE(TABLE events, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
GROUP BY k, window_start, window_end
"""
CUMULATE_DUCKDB = """
WITH w AS (SELECT *, ms // 10000 * 10000 AS ws FROM events)
SELECT k, ws, ws + 2000 * step AS we, COUNT(*), SUM(x), MAX(price), COUNT(DISTINCT x)
FROM w, range(1, 6) AS steps(step)
WHERE ms < ws + 2000 * step
GROUP BY k, ws, we
"""


def test_cumulate_windows_equal_duckdb(tmp_path: Path) -> None:
    events = _events(2_500, seed=3)
    _write(events, tmp_path / "events", "parquet")
    ctx = sl.SQLContext()
    ctx.execute(EVENTS_TABLE.format(path=tmp_path / "events", format="parquet"))
    result = ctx.execute(CUMULATE_SQL)
    assert isinstance(result, sl.Stream)
    run = result.run()
    expected = duckdb_table(CUMULATE_DUCKDB, events=_with_ms(events))
    assert run.table.num_rows == expected.num_rows > 0
    assert timed_rows(run.table) == timed_rows(expected)
    assert run.metrics_total("late_rows") == 0


def test_cumulate_over_a_stream_given_as_a_table_equals_duckdb() -> None:
    events = _events(1_500, seed=4)
    result = sl.sql(CUMULATE_SQL, events=sl.from_arrow(events).with_watermark("ts", "2s"))
    assert timed_rows(result.collect()) == timed_rows(
        duckdb_table(CUMULATE_DUCKDB, events=_with_ms(events))
    )


# -- the Nexmark tables, as Flink's Nexmark suite defines them ------------------------------
EVENTS, RATE = 20_000, 1_000  # a 20-second run: several windows
NEXMARK_DDL = f"""
CREATE TABLE datagen (
    event_type INT,
    person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR,
               state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
    auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT,
                reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT,
                category BIGINT, extra VARCHAR>,
    bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
            `dateTime` TIMESTAMP(3), extra VARCHAR>,
    `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime`
                       WHEN event_type = 1 THEN auction.`dateTime`
                       ELSE bid.`dateTime` END,
    WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
) WITH (
    'connector' = 'nexmark',
    'first-event.rate' = '{RATE}',
    'next-event.rate' = '{RATE}',
    'events.num' = '{EVENTS}',
    'person.proportion' = '1',
    'auction.proportion' = '3',
    'bid.proportion' = '46'
);
CREATE VIEW bid AS
SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, `dateTime`, bid.extra
FROM datagen WHERE event_type = 2;
"""


@pytest.fixture(scope="module")
def nexmark() -> sl.SQLContext:
    ctx = sl.SQLContext()
    ctx.execute(NEXMARK_DDL)
    return ctx


@pytest.fixture(scope="module")
def bids() -> pa.Table:
    return sl.nexmark(events=EVENTS, event_rate=RATE).bids.collect()


def _parquet_sink(name: str, columns: str, path: Path) -> str:
    return (
        f"CREATE TABLE {name} ({columns}) WITH ('connector' = 'filesystem', "
        f"'path' = '{path}', 'format' = 'parquet');"
    )


def test_nexmark_q1_into_a_decimal_table_equals_duckdb(
    nexmark: sl.SQLContext, bids: pa.Table, tmp_path: Path
) -> None:
    columns = "auction BIGINT, bidder BIGINT, price DECIMAL(23, 3), `dateTime` TIMESTAMP(3), extra VARCHAR"
    nexmark.execute(
        _parquet_sink("q1", columns, tmp_path / "q1")
        + "INSERT INTO q1 SELECT auction, bidder, 0.908 * price as price, `dateTime`, extra FROM bid"
    )
    back = pq.read_table(tmp_path / "q1")
    assert back.schema.field("price").type == pa.decimal128(23, 3)
    expected = duckdb_table(
        "SELECT auction, bidder, CAST(0.908 * price AS DECIMAL(23, 3)), dateTime, extra FROM bids",
        bids=bids,
    )
    assert sorted(back.to_pylist(), key=repr) == sorted(
        [dict(zip(back.column_names, r.values(), strict=True)) for r in expected.to_pylist()],
        key=repr,
    )
    nexmark.unregister("q1")


def test_nexmark_q5_hop_windows_into_parquet_equal_duckdb(
    nexmark: sl.SQLContext, bids: pa.Table, tmp_path: Path
) -> None:
    nexmark.execute(
        _parquet_sink("q5", "auction BIGINT, num BIGINT", tmp_path / "q5")
        + """
        INSERT INTO q5
        SELECT AuctionBids.auction, AuctionBids.num
        FROM (
          SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
          FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
          GROUP BY auction, window_start, window_end
        ) AS AuctionBids
        JOIN (
          SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
          FROM (
            SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
            FROM TABLE(HOP(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
            GROUP BY auction, window_start, window_end
          ) AS CountBids
          GROUP BY CountBids.starttime, CountBids.endtime
        ) AS MaxBids
        ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
           AND AuctionBids.num >= MaxBids.maxn
        """
    )
    expected = duckdb_table(
        """
        WITH w AS (
          SELECT auction, ms // 2000 * 2000 - 2000 * s.i AS ws
          FROM bids, range(0, 5) AS s(i)
        ), counts AS (SELECT auction, ws, COUNT(*) AS num FROM w GROUP BY auction, ws)
        SELECT auction, num FROM counts
        JOIN (SELECT ws, MAX(num) AS maxn FROM counts GROUP BY ws) USING (ws)
        WHERE num >= maxn
        """,
        bids=_with_ms(bids, "dateTime"),
    )
    assert_same_rows(pq.read_table(tmp_path / "q5"), expected)
    nexmark.unregister("q5")


def test_nexmark_q14_with_a_python_function_equals_its_reference(
    nexmark: sl.SQLContext, bids: pa.Table, tmp_path: Path
) -> None:
    columns = (
        "auction BIGINT, bidder BIGINT, price DECIMAL(23, 3), bidTimeType VARCHAR, "
        "`dateTime` TIMESTAMP(3), extra VARCHAR, c_counts BIGINT"
    )
    nexmark.execute(
        "CREATE FUNCTION count_char AS 'tests.support.sql_functions.count_char';"
        + _parquet_sink("q14", columns, tmp_path / "q14")
        + """
        INSERT INTO q14
        SELECT auction, bidder, 0.908 * price as price,
            CASE
                WHEN HOUR(`dateTime`) >= 8 AND HOUR(`dateTime`) <= 18 THEN 'dayTime'
                WHEN HOUR(`dateTime`) <= 6 OR HOUR(`dateTime`) >= 20 THEN 'nightTime'
                ELSE 'otherTime'
            END AS bidTimeType,
            `dateTime`, extra, count_char(extra, 'c') AS c_counts
        FROM bid
        WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000
        """
    )
    back = pq.read_table(tmp_path / "q14")
    expected = duckdb_table(
        "SELECT auction, extra FROM bids WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000",
        bids=bids,
    )
    assert back.num_rows == expected.num_rows > 0
    assert sorted(
        zip(back["auction"].to_pylist(), back["c_counts"].to_pylist(), strict=True)
    ) == sorted(
        (a, count_char_reference(e, "c"))
        for a, e in zip(expected["auction"].to_pylist(), expected["extra"].to_pylist(), strict=True)
    )
    nexmark.unregister("q14")


def test_blackhole_and_print_tables_count_the_rows_they_take(
    nexmark: sl.SQLContext, bids: pa.Table, capsys: pytest.CaptureFixture[str]
) -> None:
    written = nexmark.execute(
        "CREATE TABLE nexmark_q2 (auction BIGINT, price BIGINT) WITH ('connector' = 'blackhole');"
        "INSERT INTO nexmark_q2 SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0"
    )
    expected = duckdb_table("SELECT auction, price FROM bids WHERE auction % 123 = 0", bids=bids)
    assert written == expected.num_rows > 0
    printed = nexmark.execute(
        "CREATE TABLE shown (auction BIGINT, price BIGINT) WITH ('connector' = 'print', "
        "'print-identifier' = 'q2');"
        "INSERT INTO shown SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0"
    )
    lines = capsys.readouterr().out.splitlines()
    assert printed == len(lines) == expected.num_rows
    assert sorted(lines) == sorted(
        f"q2> +I[{r['auction']}, {r['price']}]" for r in expected.to_pylist()
    )
    nexmark.unregister(["nexmark_q2", "shown"])


def test_cumulate_over_nexmark_bids_equals_duckdb(nexmark: sl.SQLContext, bids: pa.Table) -> None:
    result = nexmark.execute(
        "SELECT auction, window_start, window_end, COUNT(*) AS n, MAX(price) AS top "
        "FROM TABLE(CUMULATE(TABLE bid, DESCRIPTOR(`dateTime`), INTERVAL '1' SECOND, "
        "INTERVAL '4' SECOND)) GROUP BY auction, window_start, window_end"
    )
    assert isinstance(result, sl.Stream)
    expected = duckdb_table(
        "WITH w AS (SELECT *, ms // 4000 * 4000 AS ws FROM bids) "
        "SELECT auction, ws, ws + 1000 * step AS we, COUNT(*), MAX(price) "
        "FROM w, range(1, 5) AS steps(step) WHERE ms < ws + 1000 * step "
        "GROUP BY auction, ws, we",
        bids=_with_ms(bids, "dateTime"),
    )
    assert timed_rows(result.collect()) == timed_rows(expected)


# -- processing time -----------------------------------------------------------------------
def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def test_proctime_is_the_time_rows_are_computed_and_windows_read_it(tmp_path: Path) -> None:
    events = _events(500, seed=5)
    _write(events, tmp_path / "events", "parquet")
    ctx = sl.SQLContext()
    ctx.execute(
        "CREATE TABLE events (k STRING, x BIGINT, price DOUBLE, ts TIMESTAMP(3), "
        "p AS PROCTIME()) WITH ('connector' = 'filesystem', "
        f"'path' = '{tmp_path / 'events'}', 'format' = 'parquet');"
        "CREATE VIEW B AS SELECT *, PROCTIME() AS p_time FROM events"
    )
    before = _now().replace(microsecond=0)
    rows = ctx.execute("SELECT x, p, p_time FROM B")
    assert isinstance(rows, sl.Stream)
    table = rows.collect()
    after = _now() + dt.timedelta(milliseconds=1)
    assert table.schema.field("p").type == table.schema.field("p_time").type == pa.timestamp("ms")
    for column in ("p", "p_time"):
        assert all(before <= t <= after for t in table[column].to_pylist())
    windows = ctx.execute(
        "SELECT window_start, window_end, COUNT(*) AS n FROM TABLE(TUMBLE(TABLE B, "
        "DESCRIPTOR(p_time), INTERVAL '10' SECOND)) GROUP BY window_start, window_end"
    )
    assert isinstance(windows, sl.Stream)
    counted = windows.collect()
    assert sum(counted["n"].to_pylist()) == events.num_rows
    for start in counted["window_start"].to_pylist():
        assert before - dt.timedelta(seconds=10) <= start <= after
