"""Fixed-width timestamp formatting (numpy) against Arrow's ``strftime`` over whole seconds,
on timestamps of every unit spread over years 0001-9999 or bunched in a few minutes (where
each distinct minute or day is formatted once and taken to its rows), in order or not, with
nulls."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from sabot_lab.engine.timestamp_format import format_timestamps

PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
FORMATS = ["%Y-%m-%d", "%H:%M", "%Y-%m-%d %H:%M:%S", "%%Y=%Y/%d.%m T%H", "%S"]


def arrow_text(values: pa.Array, fmt: str) -> pa.Array:
    seconds = pc.floor_temporal(values, unit="second").cast(pa.timestamp("s", values.type.tz))
    return pc.strftime(seconds, format=fmt)


@settings(max_examples=60, deadline=None)
@given(
    unit=st.sampled_from(list(PER_SECOND)),
    bunched=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(0, 9_000),
    fmt=st.sampled_from(FORMATS),
    tz=st.sampled_from([None, "UTC"]),
    ordered=st.booleans(),
)
def test_the_text_is_arrows(
    unit: str, bunched: bool, seed: int, rows: int, fmt: str, tz: str | None, ordered: bool
) -> None:
    rng = np.random.default_rng(seed)
    low, high = (-62_135_596_800, 253_402_300_799) if unit != "ns" else (-9 * 10**9, 9 * 10**9)
    if bunched:
        start = int(rng.integers(low, high - 600))
        seconds = rng.integers(start, start + 600, rows)
    else:
        seconds = rng.integers(low, high, rows)
    if ordered:  # as event times come: long runs of rows in one period
        seconds = np.sort(seconds)
    stamps = seconds * PER_SECOND[unit] + rng.integers(0, PER_SECOND[unit], rows)
    values = pa.array(stamps, pa.timestamp(unit, tz), mask=rng.random(rows) < 0.1)
    got = format_timestamps(values, fmt)
    assert got is not None
    assert got.equals(arrow_text(values, fmt))


def test_other_patterns_zones_and_years_are_left_to_arrow() -> None:
    t = pa.array([0], pa.timestamp("s"))
    assert format_timestamps(t, "%b %d") is None  # a month's name
    assert format_timestamps(t.cast(pa.timestamp("s", "Europe/Paris")), "%H") is None
    assert format_timestamps(pa.array([-70_000_000_000], pa.timestamp("s")), "%Y") is None
