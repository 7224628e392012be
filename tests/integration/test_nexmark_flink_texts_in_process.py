"""The query of each Nexmark Flink text (:data:`nexmark_flink.QUERIES`) on the never-ending
generator, read in this process with ``iter_batches()``: its first rows equal DuckDB's over
the generator's prefix they came from (:mod:`tests.support.nexmark_checks`). Append-only
results read in the generator's order are a prefix of DuckDB's rows; windows fired on the
watermark equal DuckDB's windows up to the last one read; q5's windows (its HOP window counts
grouped again by their window bounds, then joined to them as each window closes) are DuckDB's
first windows, each whole, then part of the next.

Left out here: the upsert results (q9, q15 to q19), whose rows read so far do not say which
prefix of the generator they reflect (their jobs are checked at a checkpoint on a cluster); the
joins q3 and q20, whose rows carry no event time to bound the prefix; q4, q6, q10 and q12,
checked in test_nexmark_flink_texts_on_cluster.py and the differential
test_nexmark_flink_texts.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from tests.support.nexmark_checks import CHECKS, check, select_of

RATE = 10_000
ROWS = 2_000
"""Read batches until this many rows came (a few batches); windows: :data:`WINDOW_ROWS`."""
WINDOW_ROWS = 5
"""Rows of fired windows to read (q7 gives one a window, every 100,000 events)."""
BATCH = 2_000
"""Events the source reads at a time."""

CHECKED = sorted(
    (n for n in nf.QUERIES if CHECKS.get(n) and (CHECKS[n].ordered or CHECKS[n].window_end)),
    key=lambda n: int(n[1:]),
)


@pytest.fixture(scope="module")
def side_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("side") / "side_input.txt"
    nf.write_side_input(path)
    return path


@pytest.fixture(autouse=True)
def small_batches() -> Iterator[None]:
    old = sl.get_config()
    sl.set_config(old.replace(batch_size=BATCH))
    yield
    sl.set_config(old)


def _first_rows(stream: sl.Stream, count: int) -> pa.Table:
    batches = []
    for batch in stream.iter_batches():
        batches.append(batch)
        if sum(b.num_rows for b in batches) >= count:
            break
    return pa.Table.from_batches(batches, schema=stream.schema)


def test_the_checked_queries_are_those_planned_on_the_never_ending_generator() -> None:
    assert set(CHECKED) == {"q0", "q1", "q2", "q5", "q7", "q8", "q11", "q13", "q14", "q21", "q22"}
    assert set(CHECKS) <= set(nf.QUERIES)


@pytest.mark.parametrize("name", CHECKED)
def test_the_first_rows_read_equal_duckdb_over_their_prefix(name: str, side_input: Path) -> None:
    ctx = sl.SQLContext()
    ctx.execute(nf.setup(events=0, rate=RATE))
    count = WINDOW_ROWS if CHECKS[name].window_end else ROWS
    rows = _first_rows(select_of(ctx, nf.script(name, side_input=side_input)), count)
    check(name, rows, RATE)
