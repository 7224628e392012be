"""CSV text of batches (the kernel's, or Arrow's writer where the kernel does not apply)
against Arrow's CSV writer byte for byte: integers of every width and number of digits,
booleans, dates and timestamps of every unit over years 0001-9999 or bunched in a few seconds,
strings with quotes, commas, line breaks and non-ASCII characters, nulls, sliced arrays, and any range of
rows; floats, zoned timestamps and years outside 1-9999 go through Arrow's writer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.csv as csv
from hypothesis import given, settings
from hypothesis import strategies as st

from sabot_lab.connectors.csv_rows import CsvRows

PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
INTEGERS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
PIECES = ["", "a", '"', '""', ",", "\n", "\r\n", " ", "é", "日本", "x,y", "'"]
FIRST_SECOND, LAST_SECOND = -62_135_596_800, 253_402_300_799  # 0001-01-01 .. 9999-12-31


def arrows(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    csv.write_csv(batch, sink, write_options=csv.WriteOptions(include_header=False))
    return bytes(sink.getvalue())


def _nulls(rng: np.random.Generator, rows: int) -> np.ndarray | None:
    return rng.random(rows) < 0.2 if rng.random() < 0.7 else None


def _integers(rng: np.random.Generator, name: str, rows: int) -> pa.Array:
    info = np.iinfo(name)
    values = rng.integers(info.min, info.max, rows, dtype=name, endpoint=True)
    small = rng.integers(-1000 if info.min else 0, 1000, rows).astype(name)
    # every number of digits up to the type's (below its largest, whose digits are all drawn)
    digits = rng.integers(1, len(str(info.max)), rows)
    every_length = (rng.random(rows) * 10.0**digits).astype(name)
    if info.min:
        every_length = np.where(rng.random(rows) < 0.5, -every_length, every_length)
    picked = rng.random(rows)
    values = np.where(picked < 1 / 3, small, np.where(picked < 2 / 3, every_length, values))
    return pa.array(values, mask=_nulls(rng, rows))


def _timestamps(rng: np.random.Generator, unit: str, rows: int, bunched: bool) -> pa.Array:
    per_second = PER_SECOND[unit]
    low, high = (FIRST_SECOND, LAST_SECOND) if unit != "ns" else (-9 * 10**9, 9 * 10**9)
    if bunched:  # a few seconds, in order: each second's text is reused
        start = int(rng.integers(low, high - 5))
        seconds = np.sort(rng.integers(start, start + 5, rows))
    else:
        seconds = rng.integers(low, high, rows)
    values = seconds * per_second + rng.integers(0, per_second, rows)
    return pa.array(values, pa.timestamp(unit), mask=_nulls(rng, rows))


def _strings(rng: np.random.Generator, rows: int, large: bool) -> pa.Array:
    texts = ["".join(rng.choice(PIECES, int(rng.integers(0, 5)))) for _ in range(rows)]
    return pa.array(texts, pa.large_string() if large else pa.string(), mask=_nulls(rng, rows))


def batch_of(seed: int, rows: int, bunched: bool) -> pa.RecordBatch:
    rng = np.random.default_rng(seed)
    columns = {name: _integers(rng, name, rows) for name in INTEGERS}
    columns |= {f"t_{u}": _timestamps(rng, u, rows, bunched) for u in PER_SECOND}
    days = rng.integers(FIRST_SECOND // 86_400, LAST_SECOND // 86_400, rows)
    columns["date"] = pa.array(days.astype(np.int32), pa.date32(), mask=_nulls(rng, rows))
    columns["bool"] = pa.array(rng.random(rows) < 0.5, mask=_nulls(rng, rows))
    columns["string"] = _strings(rng, rows, large=False)
    columns["large_string"] = _strings(rng, rows, large=True)
    names = list(columns)
    picked = sorted(rng.choice(len(names), int(rng.integers(1, len(names) + 1)), replace=False))
    return pa.record_batch({names[i]: columns[names[i]] for i in picked})


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.integers(1, 1_500),
    bunched=st.booleans(),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
)
def test_the_text_is_arrows(
    seed: int, rows: int, bunched: bool, cut: tuple[float, float, float]
) -> None:
    batch = batch_of(seed, rows, bunched)
    offset = int(cut[0] * (rows - 1))  # arrays that do not start at their buffers' start
    batch = batch.slice(offset)
    text = CsvRows(batch)
    assert text.encoded  # the kernel wrote it
    assert bytes(text.rows(0, batch.num_rows)) == arrows(batch)
    start, stop = sorted(int(c * batch.num_rows) for c in cut[1:])
    assert bytes(text.rows(start, stop)) == arrows(batch.slice(start, stop - start))


def test_what_the_kernel_does_not_write_is_arrows() -> None:
    years = pa.array([-1, 0, 253_402_300_800_000], pa.timestamp("ms"))  # 1969, 1970, year 10000
    batches = [
        pa.record_batch({"f": [0.1, None, 1e300], "n": [1, 2, 3]}),
        pa.record_batch({"t": pa.array([0, None, 5], pa.timestamp("ms", "UTC"))}),
        pa.record_batch({"t": years, "s": ["a", "b", "c"]}),
        pa.record_batch({"d": pa.array([0, 1, -719_163], pa.date32())}),  # year 0
    ]
    for batch in batches:
        text = CsvRows(batch)
        assert not text.encoded
        assert bytes(text.rows(0, 3)) == arrows(batch)
        assert bytes(text.rows(1, 3)) == arrows(batch.slice(1))
