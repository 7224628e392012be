"""Row limits out of range get a clear error (not a raw ``OverflowError``), and plans name
each source once."""

from __future__ import annotations

import pytest

import sabot_lab as sl
from sabot_lab.connectors import ArrowSource
from sabot_lab.errors import PlanError

ROWS = sl.from_pydict({"x": [1, 2, 3]})
TOO_MANY = "of at most 9,223,372,036,854,775,807 \\(2\\*\\*63 - 1\\) rows"


@pytest.mark.parametrize("n", [10**30, 2**63])
def test_limits_past_the_largest_row_count_are_refused(n: int) -> None:
    with pytest.raises(PlanError, match=rf"limit\(\) takes a non-negative n {TOO_MANY}, got {n:,}"):
        ROWS.head(n)
    with pytest.raises(PlanError, match=rf"limit\(\) takes a non-negative offset {TOO_MANY}"):
        ROWS.limit(1, offset=n)


def test_negative_and_non_integer_limits_are_refused() -> None:
    with pytest.raises(PlanError, match=r"got -1; to take the last rows, sort descending"):
        ROWS.head(-1)
    with pytest.raises(PlanError, match=r"a whole number of rows as n, got 2.0 \(float\)"):
        ROWS.limit(2.0)  # type: ignore[arg-type]


def test_the_largest_limit_still_runs() -> None:
    assert ROWS.limit(2**63 - 1).collect().column("x").to_pylist() == [1, 2, 3]
    assert ROWS.limit(2**63 - 1, offset=1).collect().column("x").to_pylist() == [2, 3]
    assert ROWS.sort("x").limit(2**63 - 1, offset=2).collect().column("x").to_pylist() == [3]


@pytest.mark.parametrize(
    ("stream", "label"),
    [
        (sl.nexmark(events=None).bids, "nexmark bids (unbounded, seed 0)"),
        (sl.nexmark(events=10, seed=3).persons, "nexmark persons (10 events, seed 3)"),
        (sl.from_kafka("trades", "127.0.0.1:1", schema={"x": "int64"}), "kafka trades (json)"),
        (ROWS, "source arrow table (3 rows, 1 columns)"),
        (
            sl.from_source(ArrowSource(ROWS.collect()), "arrow table"),
            "arrow table (3 rows, 1 columns)",
        ),
    ],
    ids=["nexmark_unbounded", "nexmark", "kafka", "arrow", "named_like_its_source"],
)
def test_explain_names_each_source_once(stream: sl.Stream, label: str) -> None:
    for optimized in (False, True):
        first = stream.explain(optimized=optimized).splitlines()[0]
        assert first.split("  ")[0] == f"[P1] {label}"
