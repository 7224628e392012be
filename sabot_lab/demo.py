"""The demo pipeline: enrich generated quotes with their security's sector and total by sector.

>>> from sabot_lab.demo import fintech_pipeline
>>> from sabot_lab.datasets import quotes, securities
>>> import sabot_lab as sl
>>> out = fintech_pipeline(sl.from_arrow(quotes(1_000, 100)), sl.from_arrow(securities(100)))
>>> out.columns
['sector', 'total', 'n']
"""

from __future__ import annotations

import time
from typing import TextIO

import sabot_lab as sl
from sabot_lab.datasets import quotes, securities

__all__ = ["fintech_pipeline", "run_demo"]


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
    print(result.to_pandas().to_string(index=False), file=out)
    print(
        f"\n{rows:,} rows in {elapsed * 1000:.1f} ms = {rows / elapsed / 1e6:.1f} M rows/s",
        file=out,
    )
