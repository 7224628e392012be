"""The client side of ``benchmarks/multihost.py`` (not a benchmark itself): what it measures
from a client. The benchmark runs this file in the virtual cluster's ``client`` host, and
calls its functions itself for the loopback clusters. Run, it reads commands from its
standard input, one JSON object a line, ``{"id": N, "argv": [COMMAND, URI, ARGS...],
"env": {...}}``, and answers each with a line ``{"id": N, "reply": ...}`` (or ``"error"``).
``env`` holds the credentials: ``SABOT_TOKEN``, ``SABOT_CLUSTER_TOKEN`` (to read the agents'
shuffle counters) and, with TLS, ``SABOT_TLS_CA``, ``SABOT_TLS_CERT``, ``SABOT_TLS_KEY``.

- ``agents URI N``: wait until N agents are ACTIVE; their URIs.
- ``fintech URI QUOTES SECURITIES RUNS``: the fintech query (``benchmarks/fintech.py``) on the
  cluster, in this process (``collect()``) and in DuckDB, from the Parquet files: the three
  answers checked equal first, then the median ms of RUNS interleaved runs of each.
- ``shuffle URI WIDE ROWS RUNS``: ``distinct().agg(n=count())`` of the wide Parquet file WIDE
  (ROWS distinct rows), once to warm up and RUNS times: every row crosses the hash exchange
  between the stages. Per run: the bytes into the exchange, the bytes the agents sent each
  other (their ``shuffle_sent_bytes`` counters), the seconds of the stage reading the
  exchange and of the whole job.
- ``takeover URIS``: submit a job of three rows to the JobManagers at URIS (separated by
  commas; the client follows the leader); reply when (``time.time()``) it was accepted, once
  its rows are checked.
- ``watch URI ADDRESS STATE``: print ``watching N`` once the agent at ADDRESS is ACTIVE; reply
  when (``time.time()``) the JobManager first lists it in STATE (polled every 20 ms).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import duckdb
import pyarrow as pa
from _harness import interleaved_ms
from fintech import SQL, check

import sabot_lab as sl
from sabot_lab.client import Cluster
from sabot_lab.examples.demo import fintech_pipeline
from sabot_lab.runtime.protocol import Role
from sabot_lab.runtime.transport import Credentials, call

__all__ = ["CREDENTIALS", "agents", "fintech", "run", "serve", "shuffle_run", "takeover", "watch"]

POLL = 0.02
CREDENTIALS = ("SABOT_TOKEN", "SABOT_CLUSTER_TOKEN", "SABOT_TLS_CA", "SABOT_TLS_CERT",
               "SABOT_TLS_KEY")  # fmt: skip


def agents(cluster: Cluster, n: int, timeout: float = 120.0) -> list[str]:
    """The URIs of the ACTIVE agents, once there are ``n``; raises after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        active = [a["uri"] for a in cluster.agents() if a["state"] in ("ACTIVE", "BUSY")]
        if len(active) >= n:
            return sorted(active)
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(active)} of {n} agents ACTIVE after {timeout:g} s")
        time.sleep(0.1)


def fintech(cluster: Cluster, quotes: str, securities: str, runs: int) -> dict[str, Any]:
    """The fintech query on the cluster, in-process and in DuckDB: checked, then timed."""
    con = duckdb.connect()
    sql = SQL.format(quotes=f"read_parquet('{quotes}')", securities=f"read_parquet('{securities}')")

    def stream() -> sl.Stream:
        return fintech_pipeline(sl.from_parquet(quotes), sl.from_parquet(securities))

    runners = {
        "cluster": lambda: stream().submit(cluster, name="fintech").result(timeout=1800),
        "in-process": lambda: stream().collect(),
        "duckdb": lambda: con.sql(sql).to_arrow_table(),
    }
    reference: pa.Table = runners["duckdb"]()
    for name in ("cluster", "in-process"):
        check(name, runners[name](), reference)  # (exits saying how, if it differs)
    return {"groups": reference.num_rows, "ms": interleaved_ms(runners, runs)}


def _sent_bytes(uris: list[str], auth: Credentials) -> int:
    return sum(int(call(uri, "status", None, auth)["shuffle_sent_bytes"]) for uri in uris)


def shuffle_run(cluster: Cluster, wide: str, rows: int, auth: Credentials) -> dict[str, float]:
    """One run of the shuffle job (see the module's text); exits if its answer is not
    ``rows`` or a task ran twice (its bytes would count twice)."""
    uris = agents(cluster, 1)
    before = _sent_bytes(uris, auth)
    began = time.perf_counter()
    job = sl.from_parquet(wide).distinct().agg(n=sl.count()).submit(cluster, name="shuffle")
    got = job.result(timeout=1800).column("n").to_pylist()
    job_s = time.perf_counter() - began
    if got != [rows]:
        raise SystemExit(f"the shuffle job counted {got} distinct rows, not {rows}")
    sent = _sent_bytes(uris, auth) - before
    tasks = job.tasks()
    if any(t["attempt"] != 0 for t in tasks):
        raise SystemExit(f"a task of the shuffle job ran again: {tasks}")
    readers = [t for t in tasks if t["stage"] == 1]
    return {
        "exchanged": sum(t["bytes_out"] for t in tasks if t["stage"] == 0),
        "crossed": sent,
        "stage_s": max(t["completed_at"] for t in readers) - min(t["created_at"] for t in readers),
        "job_s": job_s,
        "agents": len({t["agent"] for t in tasks}),
    }


def takeover(cluster: Cluster) -> dict[str, float]:
    """When (``{"at": time.time()}``) a JobManager of ``cluster`` accepted a job; exits if the
    job's rows are not the ones submitted."""
    rows = {"x": [1, 2, 3]}
    job = sl.from_pydict(rows).submit(cluster, name="takeover")
    at = time.time()
    got = job.result(timeout=120).to_pydict()
    if got != rows:
        raise SystemExit(f"the job accepted after the takeover returned {got}, not {rows}")
    return {"at": at}


def watch(
    cluster: Cluster, address: str, state: str, ready: str, timeout: float = 300.0
) -> dict[str, float]:
    """When (``{"at": time.time()}``) the agent at ``address`` is first listed in ``state``,
    after printing ``ready`` once it is ACTIVE."""
    deadline = time.monotonic() + timeout

    def state_now() -> str | None:
        return next((a["state"] for a in cluster.agents() if a["host"] == address), None)

    while state_now() != "ACTIVE":
        if time.monotonic() > deadline:
            raise SystemExit(f"the agent at {address} is not ACTIVE: {cluster.agents()}")
        time.sleep(0.1)
    print(ready, flush=True)
    while state_now() != state:
        if time.monotonic() > deadline:
            raise SystemExit(f"the agent at {address} was not {state} within {timeout:g} s")
        time.sleep(POLL)
    return {"at": time.time()}


def run(ident: int, argv: list[str]) -> Any:
    """Run the command ``argv`` (see the module's text); its reply."""
    command, uri, *args = argv
    insecure = uri.startswith("grpc://")
    cluster = sl.connect(uri, insecure=insecure)
    if command == "agents":
        return agents(cluster, int(args[0]))
    if command == "fintech":
        return fintech(cluster, args[0], args[1], int(args[2]))
    if command == "shuffle":
        auth = Credentials.from_env(insecure=insecure, role=Role.CLUSTER)
        shuffle_run(cluster, args[0], int(args[1]), auth)  # (a warm-up run)
        return [shuffle_run(cluster, args[0], int(args[1]), auth) for _ in range(int(args[2]))]
    if command == "takeover":
        return takeover(cluster)
    if command == "watch":
        return watch(cluster, args[0], args[1], ready=f"watching {ident}")
    raise SystemExit(f"unknown command {command!r}")


def serve() -> None:
    """Run the commands of standard input (see the module's text), each with its own
    credentials, until it ends."""
    for line in sys.stdin:
        request = json.loads(line)
        for variable in CREDENTIALS:
            os.environ.pop(variable, None)
        os.environ.update(request["env"])
        try:
            answer = {"reply": run(request["id"], request["argv"])}
        except (SystemExit, Exception) as error:  # (said to the benchmark, which stops)
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps({"id": request["id"], **answer}), flush=True)


if __name__ == "__main__":
    serve()
