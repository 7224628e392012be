"""The 23 Nexmark queries as Flink SQL scripts (:mod:`sabot_lab.examples.nexmark_flink`), run
verbatim by ``SQLContext.execute`` on a bounded generator run: the blackhole takes as many
rows as DuckDB's reference gives, and the same script with its result table pointed at a
Parquet directory writes DuckDB's rows. On the never-ending generator every text is planned
and needs only a cluster (``test_nexmark_flink_texts_on_cluster.py`` runs them as jobs); q12's
processing-time windows close as the wall clock passes their end, q6's first rows are DuckDB's
for the auctions closed, and q4's query on events whose end the plan cannot know updates its
averages to DuckDB's."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.engine.retracting import latest_of
from sabot_lab.errors import SQLError
from sabot_lab.examples import nexmark_flink as nf
from tests.support.nexmark_checks import REFERENCES, WINNING_BIDS
from tests.support.processing_time_windows import assert_windows_count_a_prefix_of_the_bids
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.running import run_to_end

EVENTS, RATE = 20_000, 1_000  # 20 s of event time, one event per millisecond

SPECIAL = {
    "q10": "writes a partitioned directory of csv files: tests/differential/test_nexmark_flink_pieces.py",
    "q12": "windows on the processing time: its counts are checked below",
    "q19": "ties in price make the top 10 rows ambiguous: its ranks are checked below",
}


def _with_ms(table: pa.Table) -> pa.Table:
    return table.append_column("ms", table["dateTime"].cast(pa.int64()))


@pytest.fixture(scope="module")
def tables() -> dict[str, pa.Table]:
    gen = sl.nexmark(events=EVENTS, event_rate=RATE)
    return {
        name: _with_ms(getattr(gen, name).collect()) for name in ("persons", "auctions", "bids")
    }


@pytest.fixture(scope="module")
def side_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("side") / "side_input.txt"
    nf.write_side_input(path)
    return path


def _context(events: int = EVENTS) -> sl.SQLContext:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=events, rate=RATE))
    return ctx


def _run(name: str, tmp_path: Path, side_input: Path) -> tuple[int, pa.Table]:
    """The rows the verbatim script writes to its blackhole, and the rows the same script
    writes to a Parquet directory instead."""
    written = _context().execute(nf.script(name, side_input=side_input))
    out = tmp_path / name
    sink = {"connector": "filesystem", "path": str(out), "format": "parquet"}
    again = _context().execute(nf.script(name, side_input=side_input, sink=sink))
    assert isinstance(written, int) and written == again
    return written, pq.read_table(out)


def test_every_query_is_checked_here_or_named_elsewhere() -> None:
    assert sorted(nf.QUERIES, key=lambda n: int(n[1:])) == [f"q{i}" for i in range(23)]
    assert set(REFERENCES) | set(SPECIAL) == set(nf.QUERIES)


@pytest.mark.parametrize("name", sorted(REFERENCES, key=lambda n: int(n[1:])))
def test_a_bounded_run_of_the_text_equals_duckdb(
    name: str, tables: dict[str, pa.Table], tmp_path: Path, side_input: Path
) -> None:
    written, rows = _run(name, tmp_path, side_input)
    expected = duckdb_table(REFERENCES[name], **tables)
    assert written == rows.num_rows == expected.num_rows > 0
    assert_same_rows(rows, expected)


def test_q12_counts_each_bid_once_in_processing_time_windows_10_s_long(
    tables: dict[str, pa.Table], tmp_path: Path, side_input: Path
) -> None:
    written, rows = _run("q12", tmp_path, side_input)
    assert written == rows.num_rows > 0
    per_bidder: dict[int, int] = {}
    for row in rows.to_pylist():
        per_bidder[row["bidder"]] = per_bidder.get(row["bidder"], 0) + row["bid_count"]
        assert (row["endtime"] - row["starttime"]).total_seconds() == 10
        assert row["starttime"].timestamp() % 10 == 0
    expected = duckdb_table("SELECT bidder, count(*) FROM bids GROUP BY bidder", **tables)
    assert sorted(per_bidder.items()) == sorted(
        zip(expected["bidder"].to_pylist(), expected["count_star()"].to_pylist(), strict=True)
    )


def test_q12_on_the_never_ending_generator_closes_each_wall_clock_window_as_it_passes() -> None:
    # the text's query with 1 s windows (the verbatim 10 s: the cluster test); read until
    # a fourth window comes out, the first three are whole
    ctx = _context(events=0)
    text = nf.script("q12")
    ctx.execute(text[text.index("CREATE VIEW") : text.index("INSERT INTO")])
    query = text[text.index("SELECT bidder") :].rstrip().rstrip(";")
    stream = ctx.execute(query.replace("INTERVAL '10' SECOND", "INTERVAL '1' SECOND"))
    assert isinstance(stream, sl.Stream)
    read: list[pa.RecordBatch] = []
    for batch in stream.iter_batches():
        read.append(batch)
        if len(set(pa.Table.from_batches(read)["starttime"].to_pylist())) == 4:
            break
    rows = pa.Table.from_batches(read)
    last = max(rows["starttime"].to_pylist())
    whole = rows.filter(pa.compute.less(rows["starttime"], pa.scalar(last, rows["starttime"].type)))
    starts = [min(b["starttime"].to_pylist()) for b in read if b.num_rows]
    assert starts == sorted(starts)  # windows come out in the order they close
    assert assert_windows_count_a_prefix_of_the_bids(whole, 1, RATE) > 0


def test_q19_ranks_the_ten_highest_prices_of_each_auction(
    tables: dict[str, pa.Table], tmp_path: Path, side_input: Path
) -> None:
    written, rows = _run("q19", tmp_path, side_input)
    expected = duckdb_table(
        "SELECT auction, price, row_number() OVER (PARTITION BY auction ORDER BY price DESC) "
        "AS r FROM bids QUALIFY r <= 10",
        **tables,
    )
    assert written == rows.num_rows == expected.num_rows > 0
    assert_same_rows(rows.select(["auction", "price", "rank_number"]), expected)


def test_q6_on_the_never_ending_generator_gives_duckdbs_rows_of_the_auctions_closed() -> None:
    # each auction's winning bid comes once the watermark passes its expires, so the first
    # rows out are, per seller, the first of DuckDB's rows over a longer bounded run
    select = nf.QUERIES["q6"].split("INSERT INTO nexmark_q6")[1]
    first = next(iter(_context(events=0).execute(select).iter_batches()))
    gen = sl.nexmark(events=200_000, event_rate=RATE)
    tables = {name: _with_ms(getattr(gen, name).collect()) for name in ("auctions", "bids")}
    expected = duckdb_table(
        f"""WITH q AS (SELECT * FROM ({WINNING_BIDS}) WHERE rownum = 1)
        SELECT seller, avg(price) OVER (
            PARTITION BY seller ORDER BY dateTime ROWS BETWEEN 10 PRECEDING AND CURRENT ROW
        ) AS avg_price, dateTime FROM q ORDER BY dateTime""",
        **tables,
    ).to_pylist()
    sellers, prices = first.column(0).to_pylist(), first.column(1).to_pylist()
    came: dict[int, list[float]] = {}
    for seller, price in zip(sellers, prices, strict=True):
        came.setdefault(seller, []).append(price)
    due: dict[int, list[dict]] = {}
    for row in expected:
        due.setdefault(row["seller"], []).append(row)
    assert len(came) > 100
    for seller, got in came.items():
        assert got == pytest.approx([r["avg_price"] for r in due[seller][: len(got)]])
    # and they are all of DuckDB's rows up to a time: the watermark the window passed
    out = [r["dateTime"] for s, got in came.items() for r in due[s][: len(got)]]
    left = [r["dateTime"] for s, rows in due.items() for r in rows[len(came.get(s, [])) :]]
    assert max(out) < min(left)


@pytest.mark.parametrize("name", sorted(nf.QUERIES, key=lambda n: int(n[1:])))
def test_on_the_never_ending_generator_the_query_is_planned_and_needs_only_a_cluster(
    name: str, side_input: Path
) -> None:
    # every clause is planned; what stops it here is only that it never ends
    ctx = _context(events=0)
    with pytest.raises(
        SQLError,
        match=rf"INSERT INTO nexmark_{name} reads an unbounded stream, so running it here would never end: submit it to a cluster",
    ):
        ctx.execute(nf.script(name, side_input=side_input))


def test_q4_on_events_the_plan_cannot_see_end_updates_each_category_to_duckdbs(
    tables: dict[str, pa.Table],
) -> None:
    events = sl.nexmark(events=EVENTS, event_rate=RATE).events.collect()
    chunks = events.to_batches(max_chunksize=1_000)
    ctx = sl.SQLContext(events=sl.from_generator(lambda i: chunks[i] if i < len(chunks) else None))
    ctx.execute(nf.setup(table="events"))  # the views over those events
    query = nf.script("q4").split("INSERT INTO nexmark_q4\n")[1]
    stream = ctx.execute(query)
    assert isinstance(stream, sl.Stream) and stream.changelog == "upsert"
    updates = run_to_end(stream).table
    assert updates.num_rows > 5 * 2  # updates as each auction's winning bid rises
    expected = duckdb_table(
        f"SELECT category, avg(price) FROM ({WINNING_BIDS}) WHERE rownum = 1 GROUP BY category",
        **tables,
    )
    assert_same_rows(latest_of(updates, ["category"]), expected)
