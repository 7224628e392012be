"""The watermark assigner's late rows and watermarks over batches without null times (counted
by a kernel first, the late ones found only when there are some) equal numpy's running
maximum over all the rows: in order, a little out of order, and far out of order."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest

from sabot_lab.engine.items import Watermark
from sabot_lab.engine.watermarks import WatermarkAssigner


@pytest.mark.parametrize("disorder", [0, 3_000, 60_000])
def test_late_rows_and_watermarks_are_numpys(disorder: int) -> None:
    rng = np.random.default_rng(disorder)
    times = np.arange(20_000, dtype=np.int64) * 10 + rng.integers(0, disorder + 1, 20_000)
    delay_ms = 5_000
    seen = np.maximum.accumulate(times)
    late = times < seen - delay_ms
    bounds = [0, 1, 7_000, 7_000, 13_001, 20_000]  # an empty batch among them
    batches = [
        pa.record_batch({"t": pa.array(times[a:b], pa.timestamp("ms")), "n": np.arange(a, b)})
        for a, b in itertools.pairwise(bounds)
    ]
    assigner = WatermarkAssigner("t", "ms", delay_us=delay_ms * 1_000)
    items = list(assigner.run(iter(batches)))
    kept = [n for b in items if isinstance(b, pa.RecordBatch) for n in b["n"].to_pylist()]
    assert kept == np.flatnonzero(~late).tolist()
    assert assigner.late_rows == int(late.sum())
    assert (assigner.late_rows > 0) == (disorder > delay_ms)
    marks = [w.time for w in items if isinstance(w, Watermark)]
    ends = sorted({int(seen[b - 1]) for a, b in itertools.pairwise(bounds) if b > a})
    assert marks == [(t - delay_ms) * 1_000 for t in ends]
