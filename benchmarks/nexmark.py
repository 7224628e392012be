"""Nexmark benchmark: the generator, the queries, and Bytewax on q0, q1, q2 and q5.

1. Generator: every stream of ``sl.nexmark`` for ``--events`` events on one thread (row counts
   checked first: 1 person, 3 auctions and 46 bids in every 50 events).
2. Queries: each query is first checked against its DuckDB SQL on a 1 M-event run, then timed
   on ``--events`` events in-process with one worker thread (``Config(threads=1)``; queries
   joining two inputs read each on its own thread): events per second per core, from the
   process's CPU time, generation included; and per second of wall time. Results go to a discarding sink (batches counted, not
   kept), as in the Nexmark suites' blackhole sink.
3. Bytewax (``bench`` extra): q0, q1, q2 and q5 as Bytewax dataflows over the same bids as
   Python dicts (made before timing: Bytewax is not charged for generating them), on one
   worker, ``--bytewax-events`` events (``--bytewax-q5-events`` for q5: Bytewax's windows take
   time growing faster than the event count, about 4 s for 5,000 events and 40 s for 20,000);
   their output must equal sabot-lab's on those events, and sabot-lab is timed on the same
   events for the ratio.

Figures count all events of a run, as Nexmark does. Medians of ``--runs`` runs.

    python benchmarks/nexmark.py [--events 10000000] [--bytewax-events 1000000]
                                 [--bytewax-q5-events 10000] [--runs 3]
    python benchmarks/nexmark.py --long 100000000   # q5 on 100 M events, peak RSS
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from _harness import median_cpu_ms, median_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' row comparison
import sabot_lab as sl
from sabot_lab.config import get_config, set_config
from sabot_lab.connectors.nexmark import NexmarkSource
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL, QUERIES
from tests.support.reference import timed_rows

SHARE = {"persons": 1, "auctions": 3, "bids": 46, "events": 50}


def generator(events: int, runs: int) -> None:
    print(f"generator: {events:,} events, one thread, median of {runs} runs")
    for kind, share in SHARE.items():
        source = NexmarkSource(kind, events, seed=42)

        def rows(source: NexmarkSource = source) -> int:
            return sum(b.num_rows for b in source.scan(1 << 16))

        if rows() != events * share // 50:
            raise SystemExit(f"the {kind} stream has the wrong number of rows")
        ms = median_ms(rows, runs)
        print(f"  {kind:<9} {events / ms / 1e3:8.1f} M events/s   ({ms:7.1f} ms)")


def check_queries() -> None:
    gen = sl.nexmark(events=1_000_000, event_rate=10_000, seed=7)
    con = duckdb.connect()
    for name in ("persons", "auctions", "bids"):
        table = getattr(gen, name).collect()
        con.register(name, table.append_column("ms", table["dateTime"].cast(pa.int64())))
    for name, query in QUERIES.items():
        expected = con.sql(DUCKDB_SQL[name]).to_arrow_table()
        if timed_rows(query(gen).collect()) != timed_rows(expected):
            raise SystemExit(f"{name} differs from its DuckDB SQL: not timing it")
    print(f"checked: {', '.join(QUERIES)} equal their DuckDB SQL on 1 M events")


def queries(events: int, runs: int, names: Sequence[str] = tuple(QUERIES)) -> dict[str, float]:
    gen = sl.nexmark(events=events, seed=42)
    rates = {}
    print(f"sabot-lab: {events:,} events in-process, one worker, median of {runs} runs")
    for name in names:
        stream = QUERIES[name](gen)
        wall, cpu = median_cpu_ms(lambda stream=stream: discard(stream), runs)
        rates[name] = events / cpu * 1e3
        print(
            f"  {name:<4} {rates[name] / 1e6:8.2f} M events/s per core   "
            f"({events / wall / 1e3:6.2f} M/s wall, {wall:8.1f} ms, CPU {cpu:8.1f} ms)"
        )
    return rates


def discard(stream: sl.Stream) -> int:
    """Run ``stream`` to the end, keeping nothing: the rows it produced."""
    return sum(batch.num_rows for batch in stream.iter_batches())


# -- Bytewax -------------------------------------------------------------------------------
def bytewax_flows() -> dict[str, Callable[[list[dict[str, Any]]], list[Any]]]:
    import bytewax.operators as op
    import bytewax.operators.windowing as win
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    def run(name: str, bids: list[dict[str, Any]], build: Callable[[Any], Any]) -> list[Any]:
        flow = Dataflow(name)
        out: list[Any] = []
        op.output("out", build(op.input("in", flow, TestingSource(bids))), TestingSink(out))
        run_main(flow)
        return out

    def q0(bids: list[dict[str, Any]]) -> list[Any]:
        return run("q0", bids, lambda s: s)

    def q1(bids: list[dict[str, Any]]) -> list[Any]:
        return run(
            "q1", bids, lambda s: op.map("euro", s, lambda b: {**b, "price": b["price"] * 0.908})
        )

    def q2(bids: list[dict[str, Any]]) -> list[Any]:
        def pick(s: Any) -> Any:
            chosen = op.filter("pick", s, lambda b: b["auction"] % 123 == 0)
            return op.map("cols", chosen, lambda b: (b["auction"], b["price"]))

        return run("q2", bids, pick)

    def q5(bids: list[dict[str, Any]]) -> list[Any]:
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        clock = win.EventClock(lambda b: b["dateTime"], dt.timedelta(seconds=4))
        windows = win.SlidingWindower(dt.timedelta(seconds=10), dt.timedelta(seconds=2), epoch)

        def counts(s: Any) -> Any:
            out = win.count_window("count", s, clock, windows, lambda b: str(b["auction"]))
            return out.down

        per_window: dict[int, list[tuple[int, int]]] = {}
        for auction, (window, n) in run("q5", bids, counts):
            per_window.setdefault(window, []).append((int(auction), n))
        hot = []
        for window, found in per_window.items():
            most = max(n for _, n in found)
            start = window * 2_000  # window ids count slides from the epoch
            hot += [(a, n, start, start + 10_000) for a, n in found if n == most]
        return hot

    return {"q0": q0, "q1": q1, "q2": q2, "q5": q5}


def bytewax_rows(name: str, out: list[Any]) -> list[tuple[Any, ...]]:
    """Bytewax output in the shape of :func:`rows_of` of sabot-lab's."""
    if name == "q2":
        return sorted(out, key=repr)
    if name == "q5":
        return sorted(out, key=repr)
    columns = ["auction", "bidder", "price", "channel", "url", "dateTime", "extra"]
    if name == "q1":
        columns = ["auction", "bidder", "price", "dateTime", "extra"]
    shaped = []
    for b in out:
        row = [b[c] for c in columns]
        row[columns.index("dateTime")] = int(b["dateTime"].timestamp() * 1000)
        if name == "q1":
            row[2] = round(row[2], 6)
        shaped.append(tuple(row))
    return sorted(shaped, key=repr)


def bytewax(events: int, runs: int, names: Sequence[str]) -> None:
    try:
        flows = bytewax_flows()
    except ImportError:
        print("bytewax: not installed (pip install -e '.[bench]'), skipped")
        return
    ours = queries(events, runs, names)
    gen = sl.nexmark(events=events, seed=42)
    bids = gen.bids.collect().to_pylist()
    for b in bids:
        b["dateTime"] = b["dateTime"].replace(tzinfo=dt.timezone.utc)
    print(f"bytewax {_version()}: {events:,} events, one worker, median of {runs} runs")
    for name in names:
        theirs = flows[name](bids)
        if bytewax_rows(name, theirs) != timed_rows(QUERIES[name](gen).collect()):
            raise SystemExit(f"bytewax {name} differs from sabot-lab's: not timing it")
        ms = median_ms(lambda name=name: flows[name](bids), runs)
        rate = events / ms * 1e3
        print(
            f"  {name:<4} {rate / 1e6:8.3f} M events/s per core   ({ms:8.1f} ms)   "
            f"sabot-lab is {ours[name] / rate:6.1f}x faster"
        )


def _version() -> str:
    from importlib.metadata import version

    return version("bytewax")


def long_run(events: int) -> None:
    """q5 over ``events`` events with windows closed by the watermark: peak RSS."""
    gen = sl.nexmark(events=events, seed=42)
    counts: Counter[int] = Counter()
    for batch in QUERIES["q5"](gen).iter_batches():
        counts.update(batch.column("num").to_pylist())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"q5 on {events:,} events: {sum(counts.values()):,} hot rows, peak RSS {peak_mb:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--bytewax-events", type=int, default=1_000_000)
    parser.add_argument("--bytewax-q5-events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--long", type=int, default=0, help="only run q5 on this many events")
    args = parser.parse_args()
    set_config(get_config().replace(threads=1))
    if args.long:
        long_run(args.long)
        return
    generator(args.events, args.runs)
    check_queries()
    queries(args.events, args.runs)
    bytewax(args.bytewax_events, args.runs, ("q0", "q1", "q2"))
    bytewax(args.bytewax_q5_events, args.runs, ("q5",))


if __name__ == "__main__":
    main()
