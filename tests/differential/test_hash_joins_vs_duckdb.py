"""Hash joins against DuckDB on random tables with nulls and duplicate keys, over each way the
join table looks keys up: one integer key over a narrow range (direct addressing) or a wide
one (open addressing behind a Bloom filter), two integer keys of different widths packed into
one code (probe values outside the build side's ranges included), and an integer and a string
key (hashed, matches confirmed); inner, left, semi and anti joins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab.kernels import JoinHashTable, key_codes, packed_key_ranges
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table

KEYS = {"one": ["a"], "two": ["a", "b"], "mixed": ["a", "s"]}
SPREADS = {"narrow": 40, "wide": 10**12}
SQL = {
    "inner": "SELECT l.*, r.w FROM l JOIN r ON {on}",
    "left": "SELECT l.*, r.w FROM l LEFT JOIN r ON {on}",
    "semi": "SELECT * FROM l WHERE EXISTS (SELECT 1 FROM r WHERE {on})",
    "anti": "SELECT * FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE {on})",
}


def _table(rng: np.random.Generator, rows: int, spread: int, value: str, low: int) -> pa.Table:
    """Keys ``a`` (int64, negative too), ``b`` (int32) and ``s`` (text) drawn from a few
    values each (fewer the higher ``low``), so keys repeat, with about one null in ten."""
    picks = rng.integers(low, 25 - low, rows)
    return pa.table(
        {
            "a": pa.array(
                picks * (spread // 25) - spread // 2, pa.int64(), mask=rng.random(rows) < 0.1
            ),
            "b": pa.array(
                rng.integers(low - 3, 5 - low, rows), pa.int32(), mask=rng.random(rows) < 0.1
            ),
            "s": pa.array([f"s{v % 4}" for v in picks], pa.string(), mask=rng.random(rows) < 0.1),
            value: pa.array(rng.integers(0, 1_000, rows)),
        }
    )


@pytest.mark.parametrize("optimize", [True, False])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    seed=st.integers(0, 2**32 - 1),
    how=st.sampled_from(sorted(SQL)),
    keys=st.sampled_from(sorted(KEYS)),
    spread=st.sampled_from(sorted(SPREADS)),
    rows=st.tuples(st.integers(0, 300), st.integers(0, 300)),
)
def test_hash_join_equals_duckdb(
    optimize: bool, seed: int, how: str, keys: str, spread: str, rows: tuple[int, int]
) -> None:
    rng = np.random.default_rng(seed)
    left = _table(rng, rows[0], SPREADS[spread], "v", low=0)
    right = _table(rng, rows[1], SPREADS[spread], "w", low=2)  # within the left side's ranges
    if keys == "two":  # the right side's second key is int64: packing reads both widths
        right = right.set_column(1, "b", right["b"].cast(pa.int64()))
    on = KEYS[keys]
    right_payload = right.select([*on, "w"]).rename_columns([f"r{k}" for k in on] + ["w"])
    joined = sl.from_arrow(left).join(
        sl.from_arrow(right_payload), left_on=on, right_on=[f"r{k}" for k in on], how=how
    )
    if how in ("inner", "left"):
        joined = joined.select([*left.column_names, "w"])
    condition = " AND ".join(f"l.{k} = r.{k}" for k in on)
    expected = duckdb_table(SQL[how].format(on=condition), l=left, r=right)
    assert_same_rows(joined.collect(optimize=optimize), expected)


def test_packed_keys_match_only_equal_pairs_and_drop_probe_rows_outside_the_ranges() -> None:
    build = [pa.array([5, 5, 7, None]), pa.array([-2, 3, 3, 1], pa.int32())]
    ranges = packed_key_ranges(build)
    assert ranges == [(5, 7), (-2, 3)]
    codes, valid, exact = key_codes(build, ranges)
    assert exact and valid.tolist() == [1, 1, 1, 0]
    table = JoinHashTable(codes, valid, exact)
    probe = [pa.array([5, 7, 7, 8, 4, 5]), pa.array([3, 3, -2, 3, 3, 4])]
    probe_codes, probe_valid, _ = key_codes(probe, ranges)
    assert probe_valid.tolist() == [1, 1, 1, 0, 0, 0]
    probe_idx, build_idx = table.probe(probe_codes, probe_valid)
    assert list(zip(probe_idx.tolist(), build_idx.tolist(), strict=True)) == [(0, 1), (1, 2)]


def test_keys_whose_combinations_exceed_63_bits_are_not_packed() -> None:
    wide = pa.array([-(2**40), 2**40])
    assert packed_key_ranges([wide, wide]) is None
    assert packed_key_ranges([wide, pa.array([1.5, 2.5])]) is None


@pytest.mark.parametrize("how", ["inner", "left"])
@pytest.mark.parametrize("left_keys", [50, 60])
def test_a_join_on_a_unique_build_key_equals_duckdb(how: str, left_keys: int) -> None:
    """Every left row matches one build row (50 keys), or some match none (60)."""
    rng = np.random.default_rng(7)
    right = pa.table({"rk": rng.permutation(50), "w": pa.array(rng.integers(0, 9, 50))})
    left = pa.table(
        {
            "k": rng.integers(0, left_keys, 400),
            "v": pa.array(rng.integers(0, 9, 400), mask=rng.random(400) < 0.2),
            "s": pa.array([f"s{i % 3}" for i in range(400)]),
        }
    )
    joined = sl.from_arrow(left).join(sl.from_arrow(right), left_on="k", right_on="rk", how=how)
    expected = duckdb_table(SQL[how].format(on="l.k = r.rk"), l=left, r=right)
    for result in collect_all_ways(joined.select(["k", "v", "s", "w"]), optimize=False):
        assert_same_rows(result, expected)
