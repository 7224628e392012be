"""JobManager failover benchmark: two JobManagers on one PostgreSQL database (the tests'
server), one agent, default lease settings (``lease_ttl`` 4 s, renewed every second).

Each run kills the leader with SIGKILL and times how long until a client given both
addresses has a job accepted and finished by the new leader (its rows checked); the killed
JobManager is then started again, as the next run's standby. Prints the p50 and the worst of
``--runs`` (goal: p50 under 5 s).

    python benchmarks/failover.py [--runs 10]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' PostgreSQL

import sabot_lab as sl
from tests.support.failover import FailoverCluster
from tests.support.postgres import PostgresServer


def takeover_seconds(cluster: FailoverCluster, client: sl.Cluster) -> float:
    """Kill the leader; seconds until the new one accepted a job (and ran it, checked)."""
    leader = cluster.leaders()[0]
    killed = time.monotonic()
    cluster.signal(f"jm-{leader}", signal.SIGKILL)
    job = sl.from_pydict({"x": [1, 2, 3]}).submit(client)
    accepted = time.monotonic() - killed
    assert job.result(timeout=120).column("x").to_pylist() == [1, 2, 3]
    port = int(cluster.uris[leader].rsplit(":", 1)[1])
    cluster.start_jobmanager(leader, port)  # the next run's standby, at the same address
    return accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    server = PostgresServer()
    try:
        with tempfile.TemporaryDirectory() as root:
            url = server.new_database()
            with FailoverCluster(Path(root), url, jobmanagers=2, agents=1) as cluster:
                client = cluster.connect()
                deadline = time.monotonic() + 60
                while len(cluster.leaders()) != 1 and time.monotonic() < deadline:
                    time.sleep(0.1)
                sl.from_pydict({"x": [1]}).submit(client).result(timeout=60)  # warm
                times = [takeover_seconds(cluster, client) for _ in range(args.runs)]
    finally:
        server.stop()
    print(f"failover: leader kill -> new leader accepting submissions, {args.runs} runs")
    print(f"  p50   {statistics.median(times):.2f} s   (goal < 5 s)")
    print(f"  worst {max(times):.2f} s")
    print(f"  all   {', '.join(f'{t:.2f}' for t in times)}")


if __name__ == "__main__":
    main()
