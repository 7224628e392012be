"""Tracing overhead: Nexmark q5 on two 2-agent ``LocalCluster``s, one whose JobManager and
agents export every span (to a JSON lines file, ``SABOT_TRACE_FILE``: the exporter that
writes at each span's end, the costliest), one without tracing; the runs taken in turns,
medians of ``--runs``. Each run submits the job and waits for its result (fetched by the
client). In-process ``collect()`` makes no spans: its cost is unchanged by construction.

    python benchmarks/tracing_overhead.py [--events 2000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _harness import interleaved_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import sabot_lab as sl
from sabot_lab.examples.nexmark_queries import QUERIES
from sabot_lab.observability.tracing import TRACE_FILE, read_spans


def cluster(spans: Path | None) -> sl.LocalCluster:
    """A two-agent cluster, its processes exporting spans to ``spans`` when given (the
    variable is set only while they start: this process stays untraced)."""
    if spans is not None:
        os.environ[TRACE_FILE] = str(spans)
    try:
        return sl.LocalCluster(agents=2, slots=2)
    finally:
        os.environ.pop(TRACE_FILE, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    stream = QUERIES["q5"](sl.nexmark(events=args.events, seed=42))
    spans = Path(tempfile.mkdtemp()) / "spans.jsonl"
    with cluster(None) as plain, cluster(spans) as traced:
        times = interleaved_ms(
            {
                "off": lambda: stream.submit(plain).result(timeout=600),
                "on": lambda: stream.submit(traced).result(timeout=600),
            },
            args.runs,
        )
    written = read_spans(spans)
    print(f"Nexmark q5, {args.events:,} events, 2 agents, median of {args.runs} runs in turns")
    print(f"  tracing off {times['off']:9.1f} ms")
    print(f"  tracing on  {times['on']:9.1f} ms   ({len(written)} spans written)")
    print(f"  overhead    {100 * (times['on'] / times['off'] - 1):+9.2f} %")


if __name__ == "__main__":
    main()
