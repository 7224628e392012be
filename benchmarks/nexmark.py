"""Nexmark benchmark: the generator's throughput, in events per second on one core.

Every stream of ``sl.nexmark`` is generated for ``--events`` events on one thread (the count
of each kind is checked first: 1 person, 3 auctions and 46 bids in every 50 events). The
figure counts all events of the run, as Nexmark does, even for one kind's stream.

    python benchmarks/nexmark.py [--events 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse

from _harness import median_ms

from sabot_lab.connectors.nexmark import NexmarkSource

SHARE = {"persons": 1, "auctions": 3, "bids": 46, "events": 50}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"nexmark generator: {args.events:,} events, one thread, median of {args.runs} runs")
    for kind, share in SHARE.items():
        source = NexmarkSource(kind, args.events, seed=42)

        def rows(source: NexmarkSource = source) -> int:
            return sum(b.num_rows for b in source.scan(1 << 16))

        if rows() != args.events * share // 50:
            raise SystemExit(f"the {kind} stream has the wrong number of rows")
        ms = median_ms(rows, args.runs)
        print(f"  {kind:<9} {args.events / ms / 1e3:8.1f} M events/s   ({ms:7.1f} ms)")


if __name__ == "__main__":
    main()
