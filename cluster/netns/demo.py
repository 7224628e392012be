"""``make cluster-demo``: a highly available sabot-lab cluster on virtual hosts (network
namespaces, :mod:`cluster.netns.ha_deployment`) runs the fintech pipeline and Nexmark q5
through a leader's death and an agent's partition, and shows that the results stay exact.
As root::

    python -m cluster.netns.demo [--rows 1000000] [--events 300000] [--q5-seconds 40]

It builds the hosts (PostgreSQL with SSL on ``db``, JobManagers ``jm1`` and ``jm2``, agents
``agent1..N`` with mutual TLS, a ``client``), then from the client host
(:mod:`cluster.netns.demo_client`):

1. runs the fintech pipeline over ``--rows`` generated quotes in Parquet, checked equal to
   DuckDB's answer;
2. runs Nexmark q5 over a bounded generator run of ``--events`` events (paced to last about
   ``--q5-seconds``) with checkpoints into a Parquet sink; once a checkpoint is complete it
   kills the leader JobManager (SIGKILL), waits for ``jm2`` to lead, cuts the link of an
   agent running one of the job's tasks, heals it once the agent is FAILED, and waits for
   the job to finish; the sink must equal DuckDB's q5 over the same events, each row once.

It prints a timeline (seconds since the start) and a PASS or FAIL line per check, exits 1
when a check fails (2 on a bad argument, 130 when interrupted), and tears every namespace
and process down, also after a failure or Ctrl-C.

May import the standard library, pyarrow, DuckDB, the other modules of
:mod:`cluster.netns` and sabot-lab's examples (the data and the reference SQL).

>>> parser().parse_args(["--rows", "1000"]).rows
1000
>>> main(["--agents", "2"])
Traceback (most recent call last):
SystemExit: 2
>>> same_totals({"a": (1.0, 2)}, {"a": (1.0 + 1e-12, 2)}), same_totals({"a": (1.0, 2)}, {})
(True, False)
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: import the package from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from cluster.netns.ha_deployment import HEARTBEAT, HaCluster, ha_hosts
from cluster.netns.host_process import HostProcess
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.examples.nexmark import nexmark
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL

__all__ = ["Report", "main", "parser", "same_totals"]

FINTECH_SQL = """
SELECT sector, SUM(price * size) AS total, COUNT(*) AS n
FROM read_parquet('{quotes}') q JOIN read_parquet('{securities}') s ON q.security_id = s.id
WHERE price > 100 AND rating >= 3
GROUP BY sector
"""
"""The fintech pipeline (:func:`sabot_lab.examples.demo.fintech_pipeline`) in DuckDB SQL."""
EVENT_RATE, SEED = 10_000.0, 5  # (as demo_client's q5 run)
STEP = 240.0
"""Seconds each step may take at most (a loaded machine)."""
CLIENT = "cluster.netns.demo_client"
REJOIN = 30.0
"""Seconds a healed agent may take to be ACTIVE again."""


def parser() -> argparse.ArgumentParser:
    """The command line's arguments."""
    made = argparse.ArgumentParser(
        prog="python -m cluster.netns.demo", description=__doc__.split("::")[0]
    )
    made.add_argument("--rows", type=int, default=1_000_000, help="fintech quotes (1,000,000)")
    made.add_argument("--securities", type=int, default=100_000, help="securities (100,000)")
    made.add_argument("--events", type=int, default=300_000, help="q5's Nexmark events (300,000)")
    made.add_argument("--q5-seconds", type=float, default=40.0,
                      help="seconds q5's generator takes to give its events (40)")  # fmt: skip
    made.add_argument("--agents", type=int, default=3, help="agent hosts (3)")
    return made


def same_totals(got: dict[str, tuple[float, int]], want: dict[str, tuple[float, int]]) -> bool:
    """The same groups with the same counts, and sums equal but for rounding."""
    return got.keys() == want.keys() and all(
        got[k][1] == want[k][1] and math.isclose(got[k][0], want[k][0], rel_tol=1e-9) for k in got
    )


def _totals(table: pa.Table) -> dict[str, tuple[float, int]]:
    rows = table.to_pydict()
    return {
        s: (float(t), int(n))
        for s, t, n in zip(rows["sector"], rows["total"], rows["n"], strict=True)
    }


@dataclass
class Report:
    """The timeline (seconds since :attr:`start`, printed as they happen) and the checks."""

    start: float = field(default_factory=time.time)
    checks: list[tuple[bool, str]] = field(default_factory=list)

    def at(self, when: float, what: str) -> None:
        """Print a timeline line: ``what`` happened at ``when`` (``time.time()``)."""
        print(f"{when - self.start:7.1f} s  {what}", flush=True)

    def now(self, what: str) -> float:
        """Print ``what`` as happening now; now."""
        when = time.time()
        self.at(when, what)
        return when

    def check(self, ok: bool, what: str) -> None:
        """Record a check."""
        self.checks.append((ok, what))

    def print_checks(self) -> bool:
        """Print the checks; whether they all passed (and there was one at least).

        >>> report = Report()
        >>> report.check(True, "one"); report.check(False, "two")
        >>> report.print_checks()
        <BLANKLINE>
        checks:
        PASS one
        FAIL two
        False
        """
        print("\nchecks:")
        for ok, what in self.checks:
            print(f"{'PASS' if ok else 'FAIL'} {what}")
        return bool(self.checks) and all(ok for ok, _ in self.checks)


def fintech(cluster: HaCluster, report: Report, rows: int, n_securities: int) -> None:
    """Generate the quotes into the shared directory, run the pipeline from the client host,
    check it against DuckDB."""
    shared = cluster.on.root
    paths = {"quotes": str(shared / "quotes.parquet"), "securities": str(shared / "sec.parquet")}
    pq.write_table(quotes(rows, n_securities=n_securities, seed=42), paths["quotes"])
    pq.write_table(securities(n_securities), paths["securities"])
    out = shared / "fintech-result.parquet"
    report.now(f"fintech: {rows:,} quotes x {n_securities:,} securities submitted")
    ran = cluster.client("fintech", paths["quotes"], paths["securities"], str(out),
                         module=CLIENT, timeout=STEP)  # fmt: skip
    report.now(f"fintech job {ran['state']} on {len(ran['agents'])} agents")
    got = _totals(pq.read_table(out))
    want = _totals(duckdb.connect().sql(FINTECH_SQL.format(**paths)).to_arrow_table())
    report.check(
        ran["state"] == "FINISHED" and same_totals(got, want),
        f"fintech on the cluster equals DuckDB ({len(want)} sectors, {rows:,} quotes)",
    )


def _line(client: HostProcess, start: str) -> tuple[list[str], float]:
    """The words of the client's line starting with ``start`` and its time."""
    *words, when = client.wait_for_line(start, timeout=STEP).split()
    return words, float(when)


def q5_reference(events: int) -> Counter[tuple[Any, ...]]:
    """DuckDB's q5 over the run's bids: ``(auction, num, window start ms, end ms)`` rows."""
    bids = nexmark(events, EVENT_RATE, SEED).bids.collect()
    bids = bids.append_column("ms", bids["dateTime"].cast(pa.int64()))
    con = duckdb.connect()
    con.register("bids", bids)
    return Counter(tuple(r) for r in con.sql(DUCKDB_SQL["q5"]).fetchall())


def sink_rows(sink: Path) -> Counter[tuple[Any, ...]]:
    """The sink's rows as :func:`q5_reference` gives them."""
    table = pq.read_table(sink)
    ms = [
        table[c].cast(pa.timestamp("ms")).cast(pa.int64()) for c in ("window_start", "window_end")
    ]
    columns = [table["auction"].to_pylist(), table["num"].to_pylist(), *(c.to_pylist() for c in ms)]
    return Counter(zip(*columns, strict=True))


def nexmark_q5(cluster: HaCluster, report: Report, events: int, seconds: float) -> None:
    """Run q5 from the client host through the faults (see the module's text); check."""
    sink = cluster.on.root / "q5-sink"
    host_of = {cluster.hosts.addresses[h]: h for h in cluster.hosts.addresses}

    def host(uri: str) -> str:
        return host_of[uri.split("://")[-1].rsplit(":", 1)[0]]

    client = cluster.start_client("q5", str(events), str(seconds), str(sink), module=CLIENT)
    report.now(f"nexmark q5: {events:,} events, checkpoints every 0.5 s into a Parquet sink")
    words, when = _line(client, "checkpointed ")
    report.at(when, "q5: a checkpoint is complete")
    cluster.jobmanagers["jm1"].popen.kill()
    killed = report.now("leader jm1 killed (SIGKILL)")
    words, led = _line(client, "leader ")
    report.at(led, f"{host(words[1])} leads")
    report.check(
        host(words[1]) == "jm2", f"jm2 took over the lead {led - killed:.1f} s after the kill"
    )
    words, when = _line(client, "victim ")
    victim = host(words[1])
    cluster.hosts.cut(victim)
    cut = report.now(f"{victim} cut off (it runs a task of q5)")
    words, failed = _line(client, "failed ")
    report.at(failed, f"{victim} FAILED")
    cluster.hosts.heal(victim)
    healed = report.now(f"{victim} healed")
    timeout = float(HEARTBEAT["SABOT_HEARTBEAT_TIMEOUT"])
    report.check(
        failed - cut <= timeout + 2.0,
        f"{victim} FAILED {failed - cut:.1f} s after the cut (heartbeat timeout {timeout:g} s)",
    )
    words, rejoined = _line(client, "rejoined ")
    report.at(rejoined, f"{victim} ACTIVE again")
    report.check(
        rejoined - healed <= REJOIN,
        f"{victim} registered again {rejoined - healed:.1f} s after the heal (within {REJOIN:g} s)",
    )
    words, when = _line(client, "finished ")
    reply = json.loads(client.wait_for_line("{", timeout=STEP))
    report.at(when, f"q5 job {reply['state']} (attempts {reply['attempts']})")
    report.check(
        reply["state"] == "FINISHED" and reply["jobs"].count([reply["job_id"], "FINISHED"]) == 1,
        f"q5 job FINISHED once ({reply['checkpoints']} checkpoints complete)",
    )
    got, want = sink_rows(sink), q5_reference(events)
    report.check(
        got == want and set(got.values()) == {1},
        f"q5 sink equals DuckDB's q5, each row once ({sum(got.values())} rows, "
        f"DuckDB {sum(want.values())})",
    )


def _interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo (see the module's text); its exit code."""
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.agents < 3:
        arguments.error(
            f"--agents {args.agents}: 3 at least (q5's 4 tasks need the 2 slots of 2 agents "
            "while a third is cut off)"
        )
    signal.signal(signal.SIGTERM, _interrupted)
    report = Report()
    root = Path(tempfile.mkdtemp(prefix="sabot-cluster-demo-"))
    try:
        with ha_hosts(root, args.agents) as on:
            report.now("hosts up: db (PostgreSQL, SSL), jm1, jm2, "
                       f"agent1..{args.agents}, client; certificates of a new CA")  # fmt: skip
            cluster = on.deploy(args.agents)
            try:
                report.now(f"jm1 leads, jm2 stands by, {args.agents} agents ACTIVE (mutual TLS)")
                fintech(cluster, report, args.rows, args.securities)
                nexmark_q5(cluster, report, args.events, args.q5_seconds)
            finally:
                cluster.stop()
        report.now("torn down")
    except KeyboardInterrupt:
        print("interrupted: everything torn down", file=sys.stderr)
        return 130
    except Exception as exc:  # (reported as a failed check, after the teardown)
        report.check(False, f"the demo ran to its end: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if report.print_checks() else 1


if __name__ == "__main__":
    sys.exit(main())
