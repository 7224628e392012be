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

4. Flink SQL texts (``--sql``): the 23 queries as Flink SQL scripts
   (:mod:`sabot_lab.examples.nexmark_flink`), each first checked against DuckDB on a
   20,000-event run (the references of tests/differential/test_nexmark_flink_texts.py; q10
   by its row count, q12 by its counts' sum), then run verbatim by ``SQLContext.execute``
   on ``--sql-events`` events (the ``datagen`` table bounded by ``'events.num'``, the
   blackhole sink; q10 writes its csv partitions to a temporary directory): events per
   second per core (CPU time, generation and planning the text included: 20-35 ms a run,
   so few events understate the fast queries) beside Flink's published per-core figures
   (:data:`FLINK_SOURCE`) with the ratio, and whether the query meets its goal: 10 M
   events/s per core for the stateless ones (:data:`STATELESS`), 1 M for the others.
   Arroyo publishes no per-core figures by query (:data:`ARROYO_SOURCE`); Bytewax is timed
   on q0, q1, q2 and q5 (3.), the queries its operators express directly.

Figures count all events of a run, as Nexmark does. Medians of ``--runs`` runs.

    python benchmarks/nexmark.py [--events 10000000] [--bytewax-events 1000000]
                                 [--bytewax-q5-events 10000] [--runs 3]
    python benchmarks/nexmark.py --long 100000000   # q5 on 100 M events, peak RSS
    python benchmarks/nexmark.py --sql [--sql-events 1000000]   # only the Flink SQL texts
    python benchmarks/nexmark.py --sql --queries q10,q22        # only these texts
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from _harness import median_cpu_ms, median_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' row comparison
import sabot_lab as sl
from sabot_lab.config import get_config, set_config
from sabot_lab.connectors.nexmark import NexmarkSource
from sabot_lab.examples import nexmark_flink
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL, QUERIES
from tests.differential.test_nexmark_flink_texts import REFERENCES
from tests.support.reference import assert_same_rows, duckdb_table, timed_rows

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


# -- Flink SQL texts -----------------------------------------------------------------------
FLINK_SOURCE = (
    "nexmark/nexmark README, 'Nexmark Benchmark Result': Flink 1.13, 8 TaskManagers of one "
    "slot, 100 M events, Throughput/Cores (events / (cores used x seconds)); q6 not run there"
)
FLINK_PER_CORE = {
    "q0": 155.02, "q1": 157.94, "q2": 175.21, "q3": 152.12, "q4": 34.33, "q5": 22.14,
    "q7": 12.33, "q8": 146.14, "q9": 14.24, "q10": 57.81, "q11": 39.7, "q12": 75.67,
    "q13": 130.73, "q14": 161.23, "q15": 72.42, "q16": 18.65, "q17": 116.8, "q18": 53.7,
    "q19": 44.04, "q20": 18.98, "q21": 98.49, "q22": 129.96,
}  # fmt: skip
"""Flink's thousands of events per second per core, from :data:`FLINK_SOURCE`."""
FLINK_CLOUD_SOURCE = (
    "Alibaba Cloud, Realtime Compute for Apache Flink, 'Performance white paper: Nexmark "
    "benchmark' (8 CU = 8 cores, 100 M events): q0-q2 4 to 6.5 M records/s (0.50-0.81 M per "
    "core), q4, q5 and q16 0.15 to 0.63 M records/s (0.02-0.08 M per core)"
)
ARROYO_SOURCE = (
    "no per-core Nexmark figures of Arroyo found in a published source (its blog and docs "
    "give no events/s per core by query): not quoted"
)
STATELESS = ("q0", "q1", "q2", "q10", "q14", "q21", "q22")
"""Queries keeping no state between events: their goal is 10 M events/s per core, the others' 1 M."""
SQL_CHECK_EVENTS, SQL_RATE = 20_000, 1_000


def _sql_run(name: str, events: int, workdir: str, run: str, sink: dict[str, str] | None) -> int:
    ctx = sl.SQLContext()
    ctx.execute(nexmark_flink.setup(events=events, rate=SQL_RATE))
    side_input = f"{workdir}/side_input.txt"
    text = nexmark_flink.script(
        name, nexmark_dir=workdir, submit_time=run, side_input=side_input, sink=sink
    )
    written = ctx.execute(text)
    assert isinstance(written, int)
    return written


def check_flink_texts(workdir: str, names: Sequence[str]) -> None:
    """Each text of ``names``: its rows on a small run against DuckDB (a SystemExit naming
    the first that differs)."""
    gen = sl.nexmark(events=SQL_CHECK_EVENTS, event_rate=SQL_RATE)
    tables = {}
    for kind in ("persons", "auctions", "bids"):
        table = getattr(gen, kind).collect()
        tables[kind] = table.append_column("ms", table["dateTime"].cast(pa.int64()))
    bids = tables["bids"].num_rows
    for name in names:
        if name == "q10":  # its csv partitions: every bid
            if _sql_run(name, SQL_CHECK_EVENTS, workdir, "check", None) != bids:
                raise SystemExit("q10 wrote another number of rows than there are bids")
            continue
        out = f"{workdir}/check-{name}"
        sink = {"connector": "filesystem", "path": out, "format": "parquet"}
        _sql_run(name, SQL_CHECK_EVENTS, workdir, "check", sink)
        rows = pq.read_table(out)
        try:
            if name in REFERENCES:
                assert_same_rows(rows, duckdb_table(REFERENCES[name], **tables))
            elif name == "q12":  # processing-time windows: each bid counted once
                assert sum(rows["bid_count"].to_pylist()) == bids
            elif name == "q19":
                expected = duckdb_table(
                    "SELECT auction, price, row_number() OVER (PARTITION BY auction ORDER BY "
                    "price DESC) AS r FROM bids QUALIFY r <= 10",
                    **tables,
                )
                assert_same_rows(rows.select(["auction", "price", "rank_number"]), expected)
        except AssertionError as err:
            message = f"{name} differs from its DuckDB reference: not timing it\n{err}"
            raise SystemExit(message) from None
    print(f"checked: {len(names)} Flink SQL texts equal DuckDB on {SQL_CHECK_EVENTS:,} events")


def _remove_outputs(workdir: str) -> None:
    """Remove the files the runs wrote under ``workdir`` (q10's csv directories): 40 MB a
    run, whose write-back by the system would otherwise charge later runs with CPU time."""
    shutil.rmtree(os.path.join(workdir, "data"), ignore_errors=True)


def flink_texts(
    events: int, runs: int, names: Sequence[str] = tuple(nexmark_flink.QUERIES)
) -> None:
    """The Flink SQL texts ``names`` (all 23 by default), verbatim, events per second per
    core beside Flink's."""
    with tempfile.TemporaryDirectory() as workdir:
        nexmark_flink.write_side_input(f"{workdir}/side_input.txt")
        check_flink_texts(workdir, names)
        print(f"Flink SQL texts: {events:,} events in-process, one worker, median of {runs} runs")
        print(f"  Flink per core: {FLINK_SOURCE}")
        print(f"  Flink (cloud): {FLINK_CLOUD_SOURCE}")
        print(f"  Arroyo per core: {ARROYO_SOURCE}")
        print(f"  {'query':<5} {'sabot-lab/core':>15} {'Flink/core':>11} {'ratio':>7} {'goal':>6}")
        runs_made = iter(range(1_000_000))  # q10 writes a new directory each run
        for name in names:

            def run(name: str = name) -> int:
                return _sql_run(name, events, workdir, f"run{next(runs_made)}", None)

            _, cpu = median_cpu_ms(run, runs, between=partial(_remove_outputs, workdir))
            rate = events / cpu * 1e3
            goal = 10e6 if name in STATELESS else 1e6
            flink = FLINK_PER_CORE.get(name)
            theirs = f"{flink:8.1f} K" if flink else "n/a"
            ratio = f"{rate / flink / 1e3:6.0f}x" if flink else ""
            met = "met" if rate >= goal else "missed"
            print(f"  {name:<5} {rate / 1e6:11.2f} M/s {theirs:>11} {ratio:>7} {met:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--bytewax-events", type=int, default=1_000_000)
    parser.add_argument("--bytewax-q5-events", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--long", type=int, default=0, help="only run q5 on this many events")
    parser.add_argument("--sql", action="store_true", help="only the Flink SQL texts")
    parser.add_argument("--sql-events", type=int, default=1_000_000)
    parser.add_argument(
        "--queries", default=",".join(nexmark_flink.QUERIES), help="Flink SQL texts: q10,q22"
    )
    args = parser.parse_args()
    names = args.queries.split(",")
    unknown = sorted(set(names) - set(nexmark_flink.QUERIES))
    if unknown:
        parser.error(f"no Nexmark query {', '.join(unknown)}: the queries are q0 to q22")
    set_config(get_config().replace(threads=1))
    if args.long:
        long_run(args.long)
        return
    if args.sql:
        flink_texts(args.sql_events, args.runs, names)
        return
    generator(args.events, args.runs)
    check_queries()
    queries(args.events, args.runs)
    bytewax(args.bytewax_events, args.runs, ("q0", "q1", "q2"))
    bytewax(args.bytewax_q5_events, args.runs, ("q5",))
    flink_texts(args.sql_events, args.runs, names)


if __name__ == "__main__":
    main()
