"""The demo pipeline: enrich generated quotes with their security's sector and total by sector.

>>> from sabot_lab.examples.demo import fintech_pipeline
>>> from sabot_lab.examples.datasets import quotes, securities
>>> import sabot_lab as sl
>>> out = fintech_pipeline(sl.from_arrow(quotes(1_000, 100)), sl.from_arrow(securities(100)))
>>> out.columns
['sector', 'total', 'n']
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.parquet as pq

import sabot_lab as sl
from sabot_lab.examples.datasets import quotes, securities

__all__ = ["fintech_pipeline", "format_table", "run_demo", "run_on_local_cluster"]


def format_table(table: pa.Table) -> str:
    """Aligned plain-text rows of a small table (numbers right-aligned, floats with 2 decimals).

    >>> print(format_table(pa.table({"sector": ["energy"], "total": [1234.5], "n": [3]})))
    sector    total  n
    energy  1234.50  3
    """

    def cell(value: object) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    columns = [
        [name, *(cell(v) for v in table.column(name).to_pylist())] for name in table.column_names
    ]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types]
    widths = [max(len(v) for v in c) for c in columns]
    lines = []
    for row in zip(*columns, strict=True):
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def fintech_pipeline(quotes_stream: sl.Stream, securities_stream: sl.Stream) -> sl.Stream:
    """Quotes above 100 with a rating of 3 or more, joined to securities, notional by sector."""
    return (
        quotes_stream.filter((sl.col("price") > 100) & (sl.col("rating") >= 3))
        .join(securities_stream, left_on="security_id", right_on="id", how="inner")
        .with_columns((sl.col("price") * sl.col("size")).alias("notional"))
        .group_by("sector")
        .agg(sl.col("notional").sum().alias("total"), sl.count().alias("n"))
        .sort("total", descending=True)
    )


def run_demo(rows: int, out: TextIO) -> None:
    """Generate ``rows`` quotes, print the plan, run it, print the result and the throughput."""
    print(f"generating {rows:,} quotes and 100,000 securities ...", file=out)
    q, s = quotes(rows, seed=0), securities(100_000)
    pipeline = fintech_pipeline(sl.from_arrow(q), sl.from_arrow(s))
    print("\nplan:", file=out)
    print(pipeline.explain(), file=out)
    pipeline.collect()  # warm-up: first-touch allocations
    start = time.perf_counter()
    result = pipeline.collect()
    elapsed = time.perf_counter() - start
    print("\nresult:", file=out)
    print(format_table(result), file=out)
    print(
        f"\n{rows:,} rows in {elapsed * 1000:.1f} ms = {rows / elapsed / 1e6:.1f} M rows/s",
        file=out,
    )
    run_on_local_cluster(q, s, result, out)


def run_on_local_cluster(q: pa.Table, s: pa.Table, expected: pa.Table, out: TextIO) -> None:
    """Run the demo again as a job on a 2-agent LocalCluster (quotes from Parquet) and check
    it gives the in-process answer."""
    with tempfile.TemporaryDirectory(prefix="sabot-demo-") as tmp:
        path = Path(tmp) / "quotes.parquet"
        pq.write_table(q, path, row_group_size=1 << 20)
        print("\nstarting a LocalCluster with 2 agents ...", file=out)
        with sl.LocalCluster(agents=2, workdir=Path(tmp) / "cluster") as cluster:
            start = time.perf_counter()
            job = fintech_pipeline(sl.from_parquet(path), sl.from_arrow(s)).submit(cluster)
            result = job.result()
            elapsed = time.perf_counter() - start
            tasks = len(job.tasks())
    same = result["sector"].equals(expected["sector"]) and result["n"].equals(expected["n"])
    print(
        f"job {job.job_id}: {q.num_rows:,} rows from Parquet in {elapsed * 1000:.0f} ms on 2 agents"
        f" ({tasks} tasks); same result as in-process: {'yes' if same else 'NO'}",
        file=out,
    )
    if not same:
        raise SystemExit("the cluster's result differs from the in-process result")
