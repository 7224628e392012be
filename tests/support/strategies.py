"""Hypothesis strategies for random Arrow tables with nulls and small value domains."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import strategies as st

SCHEMA = pa.schema(
    [
        ("i", pa.int64()),
        ("j", pa.int64()),
        ("f", pa.float64()),
        ("s", pa.string()),
        ("b", pa.bool_()),
        ("t", pa.timestamp("us")),
    ]
)

BASE = dt.datetime(2024, 3, 9, 22, 30)
VALUES = {
    "i": st.integers(-20, 20),
    "j": st.integers(-1000, 1000),
    "f": st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 3)),
    "s": st.sampled_from(["", "a", "ab", "Abc", "b", "xyz", "ÄÖ", "a'b"]),
    "b": st.booleans(),
    "t": st.integers(0, 400 * 24 * 3600).map(lambda s: BASE + dt.timedelta(seconds=s)),
}


@st.composite
def tables(
    draw: st.DrawFn, min_rows: int = 0, max_rows: int = 40, schema: pa.Schema = SCHEMA
) -> pa.Table:
    """A table of ``schema`` with up to ``max_rows`` rows; about one value in six is null."""
    n = draw(st.integers(min_rows, max_rows))
    columns = {}
    for field in schema:
        cell = st.one_of(st.none(), VALUES[field.name]) if field.nullable else VALUES[field.name]
        columns[field.name] = pa.array(
            [draw(st.one_of(cell, VALUES[field.name], VALUES[field.name])) for _ in range(n)],
            type=field.type,
        )
    return pa.table(columns, schema=schema)


KEYED = pa.schema([("k", pa.int64()), ("g", pa.string()), ("x", pa.int64()), ("y", pa.float64())])
KEYED_VALUES = {
    "k": st.one_of(st.none(), st.integers(0, 4)),
    "g": st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),
    "x": st.one_of(st.none(), st.integers(-50, 50)),
    "y": st.one_of(st.none(), st.floats(-10, 10, allow_nan=False)),
}


@st.composite
def keyed_tables(draw: st.DrawFn, max_rows: int = 30) -> pa.Table:
    """Tables of ``KEYED``: a small join/group key k, a string g, ints x and floats y, with nulls."""
    n = draw(st.integers(0, max_rows))
    return pa.table(
        {f.name: pa.array([draw(KEYED_VALUES[f.name]) for _ in range(n)], f.type) for f in KEYED},
        schema=KEYED,
    )
