"""The 23 Nexmark queries as Flink SQL scripts (:mod:`sabot_lab.examples.nexmark_flink`), run
verbatim by ``SQLContext.execute`` on a bounded generator run: the blackhole takes as many
rows as DuckDB's reference gives, and the same script with its result table pointed at a
Parquet directory writes DuckDB's rows. On the never-ending generator, the queries sabot-lab
cannot run yet are refused when the ``INSERT INTO`` is planned, naming the clause."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.errors import PlanError, SQLError
from sabot_lab.examples import nexmark_flink as nf
from tests.support.nexmark_checks import REFERENCES
from tests.support.reference import assert_same_rows, duckdb_table

EVENTS, RATE = 20_000, 1_000  # 20 s of event time, one event per millisecond

SPECIAL = {
    "q10": "writes a partitioned directory of csv files: tests/differential/test_nexmark_flink_pieces.py",
    "q12": "windows on the processing time: its counts are checked below",
    "q19": "ties in price make the top 10 rows ambiguous: its ranks are checked below",
}

UNBOUNDED_REFUSALS = {
    "q4": r"drops the key column\(s\) \['id'\] of the upsert changelog",
    "q6": r"over\(\) computes window functions",
    "q12": r"TUMBLE over the processing time 'p_time' of an unbounded stream",
}
"""What the refusal of each query :data:`nexmark_flink.REFUSED` names says, on the generator
that never ends."""


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
    assert set(nf.REFUSED) == {*UNBOUNDED_REFUSALS, "q10"}  # q10: on a cluster only


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


@pytest.mark.parametrize("name", sorted(UNBOUNDED_REFUSALS, key=lambda n: int(n[1:])))
def test_on_the_never_ending_generator_the_query_is_refused_naming_the_clause(
    name: str, side_input: Path
) -> None:
    ctx = _context(events=0)
    with pytest.raises((SQLError, PlanError), match=UNBOUNDED_REFUSALS[name]) as info:
        ctx.execute(nf.script(name, side_input=side_input))
    message = str(info.value)
    assert f"INSERT INTO nexmark_{name}" in message or "GROUP BY" in message or "TUMBLE" in message


@pytest.mark.parametrize("name", sorted(nf.RUNNING, key=lambda n: int(n[1:])))
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
