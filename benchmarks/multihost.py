"""Multi-host benchmark: sabot-lab across hosts that are network namespaces on one bridge
(``cluster/netns``): a JobManager in ``jm1``, an agent (2 slots) in each of ``agent1..3``, the
client in ``client``; every byte between them crosses veth pairs and a bridge. Needs root.

1. Fintech (``benchmarks/fintech.py``'s query) from Parquet (generated on the first run into
   ``--dir``) on the 3 agent hosts vs in-process ``collect()`` vs DuckDB, in the same run from
   the client host: the answers checked equal first, then medians of ``--runs`` interleaved
   runs.
2. Shuffle throughput: ``distinct()`` of a wide table (8 x 8-byte columns, all rows
   distinct) moves every row through the hash exchange between its two stages; the bytes
   the agents sent each other (their counters) over the seconds of the stage reading them
   (which also runs the distinct), across the bridge and on loopback (``LocalCluster``,
   same agents and slots), plain and with mutual TLS (certificates of one CA, as
   ``sabot-lab certs`` makes them). Medians of ``--runs`` after a warm-up run; every run's
   count checked against DuckDB's.
3. Partition detection: an agent host's links cut (``VirtualCluster.cut``) until the
   JobManager lists the agent FAILED, with the default heartbeats (on the plain cluster)
   and with quick ones (on the mutual-TLS cluster), median of ``--detection-runs`` (healed
   and registered again between runs).
4. Failover across namespaces, on other virtual hosts (``cluster.netns.ha_deployment``):
   PostgreSQL (SSL) on ``db``, JobManagers in ``jm1`` and ``jm2`` on it with the default
   lease, an agent, mutual TLS. The leader is killed (SIGKILL) ``--failover-runs`` times;
   each time the client host, given both addresses, submits a job, timed from the kill to
   its acceptance by the new leader (its rows checked); the killed JobManager starts again
   as the next run's standby. p50, min and max. Beside it ``benchmarks/failover.py``'s
   figure on loopback (``--loopback-failover-runs``, by default as many; 0 skips it).

Prints what was checked, then a Markdown table of the figures.

    python benchmarks/multihost.py [--rows 10000000] [--shuffle-mb 256] [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import sabot_lab as sl
from sabot_lab.examples.datasets import quotes, securities
from sabot_lab.runtime.certificates import create_ca, create_host

# cluster/netns comes from the checkout; this directory goes on the path after it is
# imported, or its cluster.py would be found for ``cluster`` instead
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]
from cluster.netns.ha_deployment import JOBMANAGERS, HaCluster, ha_hosts  # noqa: E402
from cluster.netns.host_process import HostProcess  # noqa: E402
from cluster.netns.virtual_hosts import VirtualCluster, cluster_hosts  # noqa: E402

sys.path.insert(1, str(HERE))
from _multihost_client import shuffle_run  # noqa: E402

CLIENT = str(HERE / "_multihost_client.py")
AGENTS = ("agent1", "agent2", "agent3")
SLOTS = 2
DEFAULT_HEARTBEATS: dict[str, str] = {}
QUICK_HEARTBEATS = {"SABOT_HEARTBEAT_INTERVAL": "0.5", "SABOT_HEARTBEAT_TIMEOUT": "4"}
DEFAULT_SETTING = "default heartbeats (every 2 s, timeout 10 s)"
QUICK_SETTING = "quick heartbeats (every 0.5 s, timeout 4 s), mutual TLS"
SETTINGS = ("SABOT_HEARTBEAT_INTERVAL", "SABOT_HEARTBEAT_TIMEOUT", "SABOT_TLS_CA",
            "SABOT_TLS_CERT", "SABOT_TLS_KEY", "SABOT_TOKEN", "SABOT_READ_TOKEN",
            "SABOT_CLUSTER_TOKEN", "SABOT_JOBMANAGER")  # fmt: skip
WIDE_COLUMNS = 8  # (int64 and float64: 64 bytes a row)
Row = tuple[str, str, str]


# -- data --------------------------------------------------------------------------------


def fintech_data(directory: Path, rows: int) -> tuple[Path, Path]:
    """The quotes and securities Parquet files of ``rows`` quotes, written on the first run."""
    where = directory / f"fintech-{rows}"
    files = where / "quotes.parquet", where / "securities.parquet"
    if not all(f.exists() for f in files):
        where.mkdir(parents=True, exist_ok=True)
        print(f"generating {rows:,} quotes into {where} ...", flush=True)
        group = max(1024, min(1 << 19, rows // 12))  # (several splits for the agents)
        _write(quotes(rows, n_securities=100_000, seed=42), files[0], group)
        _write(securities(100_000), files[1], 1 << 19)
    return files


def wide_data(directory: Path, megabytes: int) -> tuple[Path, int]:
    """A Parquet file of ``megabytes`` MB of distinct 64-byte rows, and its rows."""
    rows = max(1, megabytes * (1 << 20) // (8 * WIDE_COLUMNS))
    path = directory / f"shuffle-{megabytes}MB" / "wide.parquet"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {rows:,} wide rows into {path} ...", flush=True)
        rng = np.random.default_rng(24)
        columns = {"k": np.arange(rows, dtype=np.int64)}
        columns |= {f"c{i}": rng.random(rows) for i in range(1, WIDE_COLUMNS)}
        _write(pa.table(columns), path, max(1024, rows // 24))
    return path, rows


def _write(table: pa.Table, path: Path, row_group_size: int) -> None:
    partial = path.with_suffix(".partial")  # (a run killed half-way leaves no file)
    pq.write_table(table, partial, row_group_size=row_group_size)
    partial.rename(path)


# -- deployments on the virtual hosts --------------------------------------------------------


@dataclass
class Deployment:
    """A JobManager in ``jm1`` and an agent in each agent host, and the client's settings."""

    uri: str
    client_env: dict[str, str]
    processes: list[HostProcess] = field(default_factory=list)


def make_certificates(hosts: VirtualCluster, directory: Path) -> Path:
    """A cluster CA and a certificate for every host (its name and address), and one for
    loopback (``localhost``), as ``sabot-lab certs`` makes them; the directory of the
    hosts' files (``ca.pem`` beside them)."""
    ca = create_ca(directory / "ca")
    for host, address in hosts.addresses.items():
        create_host(host, directory / "ca", directory, ips=[address])
    create_host("localhost", directory / "ca", directory, ips=["127.0.0.1"])
    shutil.copy(ca.cert, directory / "ca.pem")
    return directory


class Client:
    """``_multihost_client.py`` running in the client host: :meth:`ask` runs its commands."""

    def __init__(self, hosts: VirtualCluster) -> None:
        self.hosts = hosts
        log = hosts.workdir / "client.log"
        with log.open("w") as stderr:
            popen = subprocess.Popen(
                hosts.command("client", [sys.executable, CLIENT]),
                env=hosts.environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self.process = HostProcess("client", popen, log)
        hosts.processes.append(self.process)  # (stopped with the hosts)
        self._ids = itertools.count()

    def send(self, deployment: Deployment, *argv: str) -> int:
        """Start the command ``argv`` on ``deployment``; its number, for :meth:`reply`."""
        ident = next(self._ids)
        request = {"id": ident, "argv": [argv[0], deployment.uri, *argv[1:]],
                   "env": deployment.client_env}  # fmt: skip
        assert self.process.popen.stdin is not None
        self.process.popen.stdin.write(json.dumps(request) + "\n")
        self.process.popen.stdin.flush()
        return ident

    def reply(self, ident: int, timeout: float = 3600.0) -> Any:
        """The reply to command ``ident``; exits with its error if it failed."""
        answer = json.loads(self.process.wait_for_line(f'{{"id": {ident},', timeout))
        if "error" in answer:
            raise SystemExit(f"the client failed: {answer['error']}\n{self.process.log_tail()}")
        return answer["reply"]

    def ask(self, deployment: Deployment, *argv: str) -> Any:
        """Run the command ``argv`` on ``deployment``; its reply."""
        return self.reply(self.send(deployment, *argv))


@contextmanager
def deployed(
    client: Client, name: str, heartbeats: dict[str, str], tls: Path | None = None
) -> Iterator[Deployment]:
    """A JobManager and 3 agents started as the README's "Remote clusters" commands start
    them (``--host 0.0.0.0``; with ``tls``, mutual TLS with its certificates), until the
    three are ACTIVE; stopped at the end."""
    tokens = {v: secrets.token_urlsafe(32) for v in ("SABOT_TOKEN", "SABOT_CLUSTER_TOKEN")}

    def tls_of(host: str) -> tuple[list[str], dict[str, str]]:
        if tls is None:
            return ["--insecure"], {}
        cert, key = str(tls / f"{host}.pem"), str(tls / f"{host}-key.pem")
        return (
            ["--tls-cert", cert, "--tls-key", key, "--tls-verify-client"],
            {"SABOT_TLS_CA": str(tls / "ca.pem"), "SABOT_TLS_CERT": cert, "SABOT_TLS_KEY": key},
        )

    hosts = client.hosts
    args, env = tls_of("jm1")
    workdir = hosts.workdir / name
    jobmanager = hosts.sabot_lab(
        "jm1",
        *("jobmanager", "--host", "0.0.0.0", "--workdir", str(workdir), *args),
        env=heartbeats | tokens | env,
        ready="sabot-lab jobmanager ready ",
    )
    uri = jobmanager.wait_for_line("sabot-lab jobmanager ready ").split()[-1]
    made = Deployment(uri, tokens | tls_of("client")[1], [jobmanager])
    try:
        for host in AGENTS:  # (all at once; then each waited for)
            args, env = tls_of(host)
            made.processes.append(
                hosts.sabot_lab(
                    host,
                    *("agent", "--host", "0.0.0.0", "--jobmanager", uri, "--slots", str(SLOTS)),
                    *args,
                    env=heartbeats | {"SABOT_CLUSTER_TOKEN": tokens["SABOT_CLUSTER_TOKEN"]} | env,
                )
            )
        for agent in made.processes[1:]:
            agent.wait_for_line("sabot-lab agent ready ", timeout=120)
        client.ask(made, "agents", str(len(AGENTS)))
        yield made
    finally:
        for process in reversed(made.processes):
            process.stop(timeout=30)


# -- measurements --------------------------------------------------------------------------


def fintech_rows(
    client: Client, deployment: Deployment, data: Path, rows: int, runs: int
) -> list[Row]:
    """The fintech figures (see the module's text)."""
    q, s = fintech_data(data, rows)
    reply = client.ask(deployment, "fintech", str(q), str(s), str(runs))
    ms = reply["ms"]
    print(f"checked: fintech on 3 agent hosts == in-process == DuckDB ({reply['groups']} sectors)")
    figure = f"fintech, {rows:,} rows (Parquet)"
    return [
        (figure, where, f"{ms[name]:,.0f} ms ({rows / ms[name] / 1e3:.1f} M rows/s, "
                        f"{ms[name] / ms['duckdb']:.2f}x DuckDB)")
        for name, where in (("cluster", "3 agent hosts"), ("in-process", "`collect()`"),
                            ("duckdb", "DuckDB"))
    ]  # fmt: skip


def shuffle_row(link: str, security: str, runs: list[dict[str, float]]) -> Row:
    """A table row of the shuffle runs: the median rate and what it is made of."""
    rate = statistics.median(r["crossed"] / r["stage_s"] / 1e9 for r in runs)
    crossed = statistics.median(r["crossed"] for r in runs) / 1e6
    exchanged = statistics.median(r["exchanged"] for r in runs) / 1e6
    stage = statistics.median(r["stage_s"] for r in runs)
    job = statistics.median(r["job_s"] for r in runs)
    return (
        f"shuffle {link}",
        security,
        f"{rate:.3f} GB/s ({crossed:,.0f} of {exchanged:,.0f} MB between agents in "
        f"{stage:.2f} s; job {job:.2f} s)",
    )


def loopback_shuffle(
    wide: Path, rows: int, runs: int, tls: Path | None, workdir: Path
) -> list[dict[str, float]]:
    """The shuffle runs on a ``LocalCluster`` of as many agents and slots on loopback (with
    mutual TLS with the ``localhost`` certificate of ``tls``, when given)."""
    options: dict[str, Any] = {}
    if tls is not None:
        options = {"tls_cert": tls / "localhost.pem", "tls_key": tls / "localhost-key.pem",
                   "tls_ca": tls / "ca.pem", "tls_verify_client": True}  # fmt: skip
    with sl.LocalCluster(agents=len(AGENTS), slots=SLOTS, workdir=workdir, **options) as cluster:
        shuffle_run(cluster, str(wide), rows, cluster.cluster_auth)  # (a warm-up run)
        return [shuffle_run(cluster, str(wide), rows, cluster.cluster_auth) for _ in range(runs)]


def detection_seconds(client: Client, deployment: Deployment, runs: int) -> list[float]:
    """Seconds from cutting ``agent3``'s links to the JobManager listing it FAILED, ``runs``
    times (healed, and registered again, in between)."""
    hosts, victim, times = client.hosts, "agent3", []
    for _ in range(runs):
        ident = client.send(deployment, "watch", hosts.addresses[victim], "FAILED")
        client.process.wait_for_line(f"watching {ident}", timeout=120)
        cut_at = time.time()
        hosts.cut(victim)
        try:
            times.append(client.reply(ident, timeout=300)["at"] - cut_at)
        finally:
            hosts.heal(victim)
        client.ask(deployment, "agents", str(len(AGENTS)))
    return times


def detection_row(setting: str, times: list[float]) -> Row:
    return (
        "partition detected (agent FAILED)",
        setting,
        f"p50 {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, "
        f"{len(times)} runs)",
    )


def leader_of(cluster: HaCluster, timeout: float = 120.0) -> str:
    """The JobManager host that leads, once one does and the others serve as standbys."""
    deadline = time.monotonic() + timeout
    while True:
        roles = cluster.roles()
        leaders = [h for h, said in roles.items() if said.get("role") == "leader"]
        standbys = [h for h, said in roles.items() if said.get("role") == "standby"]
        if len(leaders) == 1 and len(leaders) + len(standbys) == len(JOBMANAGERS):
            return leaders[0]
        if time.monotonic() > deadline:
            raise SystemExit(f"no single leader and standby within {timeout:g} s: {roles}")
        time.sleep(0.1)


def failover_seconds(root: Path, runs: int) -> list[float]:
    """Seconds from killing the leader JobManager to the client host's job being accepted,
    ``runs`` times, on a highly available deployment of its own virtual hosts."""
    with ha_hosts(root, agents=1) as on:
        cluster = on.deploy(agents=1)
        try:
            client = Client(on.hosts)
            both = Deployment(cluster.uris, cluster.client_env())
            client.ask(both, "takeover")  # (a warm-up job)
            times = []
            for _ in range(runs):
                leader = leader_of(cluster)
                cluster.jobmanagers[leader].popen.kill()
                killed_at = time.time()
                times.append(client.ask(both, "takeover")["at"] - killed_at)
                cluster.jobmanagers[leader].popen.wait(timeout=60)
                cluster.start_jobmanager(leader)  # (the next run's standby)
            return times
        finally:
            cluster.stop()


def failover_rows(across: list[float], loopback_runs: int) -> list[Row]:
    """The failover figures: across namespaces (``across``, or skipped when empty) and
    ``benchmarks/failover.py``'s on loopback (``loopback_runs``, or skipped when 0)."""
    figure = "failover: leader killed → new leader accepts submissions"
    rows: list[Row] = [
        (
            figure,
            "across namespaces, 2 JobManagers on PostgreSQL (SSL) on `db`, mutual TLS, "
            "default lease",
            f"p50 {statistics.median(across):.2f} s (min {min(across):.2f}, "
            f"max {max(across):.2f}, {len(across)} runs)"
            if across
            else "skipped (--failover-runs 0)",
        )
    ]
    loopback = "loopback, 2 JobManagers on PostgreSQL, default lease"
    if loopback_runs == 0:
        return [*rows, (figure, loopback, "skipped (--loopback-failover-runs 0)")]
    done = subprocess.run(
        [sys.executable, str(HERE / "failover.py"), "--runs", str(loopback_runs)],
        capture_output=True,
        text=True,
    )
    print(done.stdout, end="")
    p50 = re.search(r"p50\s+([\d.]+) s", done.stdout)
    worst = re.search(r"worst\s+([\d.]+) s", done.stdout)
    if done.returncode != 0 or p50 is None or worst is None:
        raise SystemExit(f"benchmarks/failover.py failed:\n{done.stdout}{done.stderr[-3000:]}")
    result = f"p50 {p50[1]} s, worst {worst[1]} s of {loopback_runs} (`benchmarks/failover.py`)"
    return [*rows, (figure, loopback, result)]


def step(text: str) -> None:
    """Say what runs now (the figures come at the end)."""
    print(f"{time.strftime('%H:%M:%S')} {text} ...", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="quotes in fintech")
    parser.add_argument("--shuffle-mb", type=int, default=256, help="MB of the wide table")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--detection-runs", type=int, default=5)
    parser.add_argument("--failover-runs", type=int, default=10, help="leader kills")
    parser.add_argument(
        "--loopback-failover-runs", type=int, help="leader kills on loopback (default: as many)"
    )
    parser.add_argument("--dir", type=Path, default=HERE / "data", help="data directory")
    args = parser.parse_args()
    if args.loopback_failover_runs is None:
        args.loopback_failover_runs = args.failover_runs
    if os.geteuid() != 0:
        raise SystemExit("benchmarks/multihost.py needs root (network namespaces)")
    for variable in SETTINGS:  # (every process gets the benchmark's settings only)
        os.environ.pop(variable, None)
    wide, wide_rows = wide_data(args.dir, args.shuffle_mb)
    ((distinct,),) = duckdb.sql(
        f"SELECT COUNT(*) FROM (SELECT DISTINCT * FROM '{wide}')"
    ).fetchall()
    if distinct != wide_rows:
        raise SystemExit(f"{wide} has {distinct:,} distinct rows, not {wide_rows:,}")
    fintech_data(args.dir, args.rows)
    load = os.getloadavg()
    print(
        f"multihost: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} "
        f"cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; 3 agent hosts x {SLOTS} slots",
        flush=True,
    )
    rows: list[Row] = []
    shuffles: dict[tuple[str, str], list[dict[str, float]]] = {}
    detections: dict[str, list[float]] = {}
    shuffle_args = [str(wide), str(wide_rows), str(args.runs)]
    hosts = VirtualCluster(cluster_hosts(len(AGENTS), db=False, jobmanagers=1), "slabbench")
    with hosts, tempfile.TemporaryDirectory(prefix="sabot-bench-multihost-") as tmp:
        certs = make_certificates(hosts, Path(tmp) / "certs")
        client = Client(hosts)
        with deployed(client, "plain", DEFAULT_HEARTBEATS) as plain:
            step("fintech on 3 agent hosts, in-process and in DuckDB")
            rows += fintech_rows(client, plain, args.dir, args.rows, args.runs)
            step("shuffle across the bridge")
            shuffles["across the bridge", "plain"] = client.ask(plain, "shuffle", *shuffle_args)
            step("partition detection, default heartbeats")
            detections[DEFAULT_SETTING] = detection_seconds(client, plain, args.detection_runs)
        with deployed(client, "tls", QUICK_HEARTBEATS, tls=certs) as secure:
            step("shuffle across the bridge, mutual TLS")
            shuffles["across the bridge", "mutual TLS"] = client.ask(
                secure, "shuffle", *shuffle_args
            )
            step("partition detection, quick heartbeats")
            detections[QUICK_SETTING] = detection_seconds(client, secure, args.detection_runs)
        for security, tls in (("plain", None), ("mutual TLS", certs)):
            step(f"shuffle on loopback, {security}")
            workdir = Path(tmp) / f"loopback-{len(shuffles)}"
            shuffles["on loopback", security] = loopback_shuffle(
                wide, wide_rows, args.runs, tls, workdir
            )
        across: list[float] = []
        if args.failover_runs:
            step("failover across namespaces")
            across = failover_seconds(Path(tmp) / "ha", args.failover_runs)
            print(f"checked: {len(across)} jobs accepted after leader kills returned their rows")
    print(f"checked: every shuffle run counted {wide_rows:,} distinct rows, as DuckDB")
    if args.loopback_failover_runs:
        step("failover on loopback (benchmarks/failover.py)")
    rows += [shuffle_row(link, security, runs) for (link, security), runs in shuffles.items()]
    rows += [detection_row(setting, times) for setting, times in detections.items()]
    rows += failover_rows(across, args.loopback_failover_runs)
    print("| figure | setting | result |")
    print("|---|---|---|")
    for row in rows:
        print(f"| {' | '.join(row)} |")


if __name__ == "__main__":
    main()
