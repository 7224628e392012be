"""iter_batches streams: a generated source ten times larger than the memory budget keeps the
process's peak resident memory bounded (measured in a fresh process, so every spike counts)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

ROWS_PER_BATCH = 131_072
COLUMNS = 8
BATCHES = 160  # 160 batches x 8 MiB = 1.25 GiB generated
BATCH_BYTES = ROWS_PER_BATCH * COLUMNS * 8
BUDGET = 128 * 2**20  # peak growth allowed while building and streaming: 16 batches

SCRIPT = textwrap.dedent(
    f"""
    import json
    from tests.support.peak_memory import peak_rss
    import numpy as np, pyarrow as pa, pyarrow.compute as pc
    import sabot_lab as sl
    from sabot_lab import col

    def generated():
        base = np.arange({ROWS_PER_BATCH}, dtype=np.int64)
        for b in range({BATCHES}):
            columns = {{f"c{{k}}": base * (k + 1) + b for k in range(1, {COLUMNS})}}
            yield pa.record_batch({{"c0": base, **columns}})

    warm = sl.from_pydict({{"x": [1, 2]}}).filter(col("x") > 1).collect()  # pools and threads
    baseline = peak_rss()
    stream = (
        sl.from_iterable(generated)
        .filter(col("c0") % 4 != 0)
        .with_columns(total=col("c1") + col("c2"))
        .select("c0", "total")
    )
    rows = checksum = 0
    for batch in stream.iter_batches():
        rows += batch.num_rows
        checksum += pc.sum(batch["total"]).as_py()
    peak = peak_rss()
    print(json.dumps({{"rows": rows, "checksum": checksum, "growth": peak - baseline}}))
    """
)


def test_iter_batches_keeps_peak_rss_bounded_on_a_source_ten_times_the_budget() -> None:
    assert BATCHES * BATCH_BYTES >= 10 * BUDGET
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True, text=True, timeout=300, check=False,
        cwd=Path(__file__).resolve().parents[2],  # (the script imports tests.support.peak_memory)
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    kept = np.arange(ROWS_PER_BATCH, dtype=np.int64)
    kept = kept[kept % 4 != 0]
    assert out["rows"] == BATCHES * kept.size
    assert out["checksum"] == sum(int((kept * 5 + 2 * b).sum()) for b in range(BATCHES))
    growth = out["growth"]
    assert growth < BUDGET, f"peak RSS grew by {growth / 2**20:.0f} MiB while streaming"
