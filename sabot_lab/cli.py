"""The ``sabot-lab`` command line.

A command that fails prints one line, ``sabot-lab <command>: error: <what> (<the fix>)``, and
exits with a code that says what went wrong (:data:`EXIT_CODES`): 1 any other error, 2 wrong
arguments, 3 no server at the address, 4 the token refused, 5 no such job, 6 the job already
ended (``--cancel``).

>>> from sabot_lab.cli import build_parser
>>> build_parser().parse_args(["demo", "--rows", "1000"]).rows
1000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from sabot_lab import __version__
from sabot_lab.config import COMPRESSIONS, LOG_LEVELS, check_schema_name, get_config
from sabot_lab.errors import AuthenticationError, ClusterError, JobNotFoundError, UnreachableError
from sabot_lab.runtime.protocol import JOBS_PAGE

__all__ = ["EXIT_CODES", "JobEndedError", "build_parser", "main", "print_logs"]


class JobEndedError(ClusterError):
    """``--cancel`` of a job that had already ended."""


EXIT_CODES: dict[type[ClusterError], int] = {
    UnreachableError: 3,
    AuthenticationError: 4,
    JobNotFoundError: 5,
    JobEndedError: 6,
}
"""The exit code of a command that failed with each kind of error (1 for any other, 2 for
wrong arguments, as ``argparse`` has it)."""

FIXES: dict[type[ClusterError], str] = {
    UnreachableError: "is a JobManager running there? `sabot-lab local` starts one and prints "
    "its address",
    AuthenticationError: "give the cluster's token: SABOT_TOKEN or --token; `sabot-lab local` "
    "prints it",
    JobNotFoundError: "`sabot-lab jobs --jobmanager URI` lists the cluster's jobs",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sabot-lab``; the defaults of its settings' flags are the
    process's :class:`~sabot_lab.config.Config`.

    >>> build_parser().parse_args(["jobmanager", "--workdir", "w"]).heartbeat_timeout
    10.0
    """
    cluster = get_config().cluster
    parser = argparse.ArgumentParser(
        prog="sabot-lab",
        description="sabot-lab: lazy Arrow pipelines",
        epilog="exit codes: 0 done, 1 error, 2 wrong arguments, 3 server unreachable, "
        "4 token refused, 5 no such job, 6 job already ended",
    )
    parser.add_argument("--version", action="version", version=f"sabot-lab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the fintech demo pipeline on generated data")
    demo.add_argument("--rows", type=int, default=5_000_000, help="quotes to generate (default 5M)")
    agent = _server_parser(
        commands,
        "agent",
        "run an agent: a Flight server executing tasks (token from SABOT_CLUSTER_TOKEN)",
    )
    agent.add_argument(
        "--slots",
        type=int,
        default=cluster.agent_slots,
        help=f"tasks run at once (default {cluster.agent_slots}, SABOT_AGENT_SLOTS)",
    )
    agent.add_argument(
        "--jobmanager",
        help="URI of the JobManager to register with, or of several sharing one database, "
        "separated by commas (the agent follows the leader; '-': read it from the first line of "
        "standard input, once the agent is loaded)",
    )
    agent.add_argument("--memory", type=parse_bytes, help="memory offered, e.g. 4GB")
    agent.add_argument(
        "--heartbeat-interval",
        type=float,
        default=cluster.heartbeat_interval,
        help=f"seconds (default {cluster.heartbeat_interval:g}, SABOT_HEARTBEAT_INTERVAL)",
    )
    agent.add_argument(
        "--shuffle-memory",
        type=parse_bytes,
        default=cluster.shuffle_memory,
        help="shuffle rows kept in memory before spilling to disk "
        f"(default {cluster.shuffle_memory >> 20}MB, SABOT_SHUFFLE_MEMORY in bytes)",
    )
    agent.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=cluster.shuffle_compression,
        help="IPC compression of shuffle streams and spill files "
        f"(default {cluster.shuffle_compression}, SABOT_SHUFFLE_COMPRESSION)",
    )
    agent.add_argument(
        "--workdir",
        help="directory for its spill files and RocksDB state (default: the temporary directory)",
    )
    agent.add_argument(
        "--spill-limit",
        type=parse_bytes,
        default=cluster.spill_limit,
        help="spill files kept on disk at most; a job needing more fails "
        f"(default {cluster.spill_limit >> 30}GB, SABOT_SPILL_LIMIT in bytes)",
    )
    agent.add_argument(
        "--drain-timeout",
        type=float,
        default=cluster.drain_timeout,
        help="on SIGTERM, seconds running tasks get to finish "
        f"(default {cluster.drain_timeout:g}, SABOT_DRAIN_TIMEOUT)",
    )
    jm = _server_parser(
        commands,
        "jobmanager",
        "run a JobManager (DBOS-backed; tokens from SABOT_TOKEN for clients that submit, "
        "SABOT_CLUSTER_TOKEN for agents, optionally SABOT_READ_TOKEN for those that only read)",
    )
    jm.add_argument("--workdir", required=True, help="directory for its databases and results")
    jm.add_argument(
        "--db",
        default=cluster.database_url,
        help="postgresql:// URL (default: SABOT_DATABASE_URL, else SQLite in --workdir)",
    )
    jm.add_argument(
        "--db-schema",
        type=_schema_name,
        default=cluster.database_schema,
        help="PostgreSQL schema of its tables, created when missing "
        f"(default {cluster.database_schema}, SABOT_DATABASE_SCHEMA)",
    )
    jm.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=cluster.heartbeat_timeout,
        help=f"seconds (default {cluster.heartbeat_timeout:g}, SABOT_HEARTBEAT_TIMEOUT)",
    )
    jm.add_argument(
        "--http-port", type=int, default=0, help="port of the HTTP status endpoint (default: any)"
    )
    local = commands.add_parser(
        "local", help="run a JobManager and agents on this machine until Ctrl-C"
    )
    local.add_argument("--agents", type=int, default=2, help="agent processes (default 2)")
    local.add_argument(
        "--slots", type=int, help="slots per agent (default: the cores shared out among agents)"
    )
    local.add_argument("--workdir", help="directory for databases, results and logs")
    jobs = commands.add_parser(
        "jobs", help="list a cluster's jobs, newest first (token from SABOT_TOKEN)"
    )
    jobs.add_argument("--jobmanager", required=True, help="URI of the JobManager")
    jobs.add_argument(
        "--token",
        help="the submit (or read-only) token; default SABOT_TOKEN, which is better: a command "
        "line is visible to the machine's other users",
    )
    jobs.add_argument(
        "--tls-ca",
        help="PEM certificates to trust for a grpc+tls:// JobManager "
        "(default SABOT_TLS_CA, else the system's)",
    )
    jobs.add_argument(
        "--tls-cert",
        help="PEM certificate this client presents to a JobManager that requires one "
        "(--tls-verify-client; default SABOT_TLS_CERT)",
    )
    jobs.add_argument("--tls-key", help="PEM private key of --tls-cert (default SABOT_TLS_KEY)")
    jobs.add_argument("--cancel", metavar="JOB_ID", help="cancel this job first")
    jobs.add_argument(
        "--insecure",
        action="store_true",
        help="allow a plain grpc:// JobManager off loopback (the token crosses in clear)",
    )
    jobs.add_argument(
        "--delete", metavar="JOB_ID", nargs="+", default=[],
        help="delete these ended jobs first: results, checkpoints, records",
    )  # fmt: skip
    jobs.add_argument(
        "--delete-ended-before", metavar="AGE", type=parse_age,
        help="delete the jobs that ended this long ago or earlier first (e.g. 7d, 12h, 30m)",
    )  # fmt: skip
    jobs.add_argument(
        "--logs", metavar="JOB_ID",
        help="print this job's log records (its tasks', from every agent) instead of the list",
    )  # fmt: skip
    jobs.add_argument(
        "--level", choices=[level.lower() for level in LOG_LEVELS],
        help="with --logs: only records this severe or more",
    )  # fmt: skip
    jobs.add_argument("--tail", type=int, help="with --logs: only the last TAIL records")
    jobs.add_argument("--limit", type=int, default=JOBS_PAGE, help="jobs listed at most")
    jobs.add_argument("--before", metavar="JOB_ID", help="list those submitted before this job")
    _certs_parser(commands)
    return parser


def _certs_parser(commands: Any) -> None:
    """``sabot-lab certs ca`` and ``sabot-lab certs host`` (their default validity is
    :mod:`sabot_lab.runtime.certificates`'s, which the parser does not import: it is slow)."""
    certs = commands.add_parser(
        "certs", help="make a cluster CA and host certificates (mutual TLS)"
    ).add_subparsers(dest="certs", required=True)
    ca = certs.add_parser("ca", help="make a cluster CA: ca.pem (trusted) and ca-key.pem")
    ca.add_argument("--out", required=True, help="directory to write them in")
    ca.add_argument("--days", type=int, help="days valid (default 3650)")
    ca.add_argument("--force", action="store_true", help="replace existing files")
    host = certs.add_parser("host", help="make a host certificate signed by the cluster CA")
    host.add_argument("name", help="the host's name (its certificate's first name)")
    host.add_argument("--ca", required=True, help="directory of the CA (sabot-lab certs ca)")
    host.add_argument("--out", required=True, help="directory to write NAME.pem, NAME-key.pem in")
    host.add_argument("--dns", action="append", default=[], help="another DNS name (repeat)")
    host.add_argument("--ip", action="append", default=[], help="an IP address (repeat)")
    host.add_argument("--days", type=int, help="days valid (default 397)")
    host.add_argument("--force", action="store_true", help="replace existing files")


def _server_parser(commands: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand that runs a Flight server: ``--host``, ``--port``, ``--advertise-host``,
    TLS and ``--insecure``."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    parser.add_argument(
        "--advertise-host",
        help="the address (or name) other hosts reach this server at (default: --host; on "
        "0.0.0.0 or ::, this host's address on its route toward the JobManager, for a "
        "JobManager its default route's, else its first interface's)",
    )
    parser.add_argument("--tls-cert", help="PEM certificate: serve TLS (with --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument(
        "--tls-ca",
        help="PEM certificates (the cluster CA) to trust for the servers it calls, and for "
        "clients' certificates with --tls-verify-client (default SABOT_TLS_CA)",
    )
    parser.add_argument(
        "--tls-verify-client",
        action="store_true",
        help="mutual TLS: accept only clients presenting a certificate signed by --tls-ca",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="serve without tokens (unset or short): loopback --host only; or serve and call "
        "plain grpc:// off loopback (tokens in clear; --tls-cert/--tls-key avoid it)",
    )
    return parser


def parse_bytes(text: str) -> int:
    """A size such as ``4GB``, ``512MB`` or ``1024``.

    >>> parse_bytes("4GB"), parse_bytes("512mb"), parse_bytes("100")
    (4294967296, 536870912, 100)
    """
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
    upper = text.strip().upper()
    for unit, factor in units.items():
        if upper.endswith(unit):
            return int(float(upper[: -len(unit)]) * factor)
    try:
        return int(upper)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 4GB or 512MB)") from None


def parse_age(text: str) -> float:
    """An age such as ``7d``, ``12h``, ``30m`` or ``90s`` (or a number of seconds), in seconds.

    >>> parse_age("7d"), parse_age("1.5h"), parse_age("90")
    (604800.0, 5400.0, 90.0)
    """
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    lower = text.strip().lower()
    factor = units.get(lower[-1:])
    try:
        age = float(lower[:-1] if factor else lower) * (factor or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an age: {text!r} (use e.g. 7d, 12h, 30m)") from None
    if not age >= 0:
        raise argparse.ArgumentTypeError(f"not an age: {text!r} (use e.g. 7d, 12h, 30m)")
    return age


def _schema_name(text: str) -> str:
    """A PostgreSQL schema name, as :func:`~sabot_lab.config.check_schema_name` accepts.

    >>> _schema_name("jobs_2")
    'jobs_2'
    """
    try:
        return check_schema_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sabot-lab`` console script."""
    args = build_parser().parse_args(argv)
    # gRPC's own log lines (a failed TLS handshake's, at info level) would bury the one
    # line an error here prints, with its cause and fix
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if args.command == "demo":
        from sabot_lab.examples.demo import run_demo

        run_demo(args.rows, sys.stdout)
    elif args.command in ("agent", "jobmanager"):
        from sabot_lab.observability.logs import configure_logging, set_process_fields
        from sabot_lab.runtime.transport import serve_until_stopped

        os.umask(0o077)  # a server's files (databases, results, spills) are its user's alone
        configure_logging(args.command)
        try:
            server = _server(args)
            if args.command == "agent":
                set_process_fields(agent_id=server.uri)
            serve_until_stopped(server, args.command)
        except ClusterError as exc:  # refused to start, or stopped on its own
            raise SystemExit(f"sabot-lab {args.command}: error: {exc}") from None
    elif args.command == "local":
        run_local(args.agents, args.slots, args.workdir, sys.stdout)
    elif args.command == "certs":
        from sabot_lab.errors import SabotError
        from sabot_lab.runtime.certificates import run_certs

        try:
            run_certs(args, sys.stdout)
        except SabotError as exc:
            print(f"sabot-lab certs: error: {exc}", file=sys.stderr)
            return 1
    elif args.command == "jobs":
        try:
            jobs(args, sys.stdout)
        except ClusterError as exc:  # refused, unreachable, refusing the token, no such job
            print(f"sabot-lab jobs: error: {failure(exc)}", file=sys.stderr)
            return exit_code(exc)
    return 0


def failure(exc: ClusterError) -> str:
    """The one line saying what failed and, where one is known, the fix.

    >>> failure(JobNotFoundError("no job 'x'"))
    "no job 'x' (`sabot-lab jobs --jobmanager URI` lists the cluster's jobs)"
    """
    fix = next((text for kind, text in FIXES.items() if isinstance(exc, kind)), None)
    message = " ".join(str(exc).split())  # one line
    return message if fix is None else f"{message} ({fix})"


def exit_code(exc: ClusterError) -> int:
    """The exit code for ``exc`` (:data:`EXIT_CODES`).

    >>> exit_code(UnreachableError("grpc://h:1: unreachable")), exit_code(ClusterError("x"))
    (3, 1)
    """
    return next((code for kind, code in EXIT_CODES.items() if isinstance(exc, kind)), 1)


def _jobmanager_uri(given: str | None) -> str | None:
    """The JobManager's URI: as given, or for ``-`` the first line of standard input (a
    ``LocalCluster`` starts its agents while its JobManager starts, and sends it then)."""
    if given != "-":
        return given
    line = sys.stdin.readline().strip()
    if not line:
        raise SystemExit("error: --jobmanager - read no URI from standard input")
    return line


def _server(args: argparse.Namespace) -> Any:
    """The agent or JobManager the command line asks for."""
    from sabot_lab.runtime.protocol import Role
    from sabot_lab.runtime.transport import Credentials, ServerTls

    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("error: --tls-cert and --tls-key go together")
    if args.tls_verify_client and not args.tls_cert:
        raise SystemExit("error: --tls-verify-client needs --tls-cert and --tls-key")
    tls = (
        ServerTls(Path(args.tls_cert), Path(args.tls_key), args.tls_verify_client)
        if args.tls_cert
        else None
    )
    auth = Credentials.from_env(tls_ca=args.tls_ca, insecure=args.insecure, role=Role.CLUSTER)
    if args.command == "agent":
        from sabot_lab.runtime.agent import AgentServer

        agent = AgentServer(
            args.host,
            args.port,
            args.slots,
            auth,
            jobmanager=_jobmanager_uri(args.jobmanager),
            memory_bytes=args.memory,
            heartbeat_interval=args.heartbeat_interval,
            tls=tls,
            drain_timeout=args.drain_timeout,
            shuffle_memory=args.shuffle_memory,
            compression=args.compression,
            insecure=args.insecure,
            workdir=args.workdir,
            spill_limit=args.spill_limit,
            advertise_host=args.advertise_host,
        )
        # Its other temporary files (RocksDB state, snapshots being staged) go with its spill
        # files: removed as it stops or, when it was killed, by the next agent to start there.
        tempfile.tempdir = str(agent.store.spill_dir)
        return agent
    from sabot_lab.runtime.jobmanager.server import JobManager

    return JobManager(
        args.workdir,
        args.host,
        args.port,
        auth,
        args.db,
        args.heartbeat_timeout,
        tls=tls,
        http_port=args.http_port,
        insecure=args.insecure,
        submit_token=os.environ.get(Role.SUBMIT.variable) or None,
        read_token=os.environ.get(Role.READ.variable) or None,
        database_schema=args.db_schema,
        advertise_host=args.advertise_host,
    )


def run_local(agents: int, slots: int | None, workdir: str | None, out: TextIO) -> None:
    """Start a :class:`~sabot_lab.client.LocalCluster`, say how to reach it, and keep it up
    until interrupted."""
    import signal
    import threading

    from sabot_lab.client import LocalCluster

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with LocalCluster(agents=agents, slots=slots, workdir=workdir) as cluster:
        print(
            f"sabot-lab local ready {cluster.uri}\n"
            f"  agents:     {agents} x {cluster.slots} slots\n"
            f"  token:      {cluster.token}\n"
            f"  dashboard:  {cluster.dashboard_link}\n"
            f"  workdir:    {cluster.workdir}\n"
            f"  connect:    sl.connect({cluster.uri!r}, token={cluster.token!r})\n"
            "Ctrl-C stops the cluster.",
            file=out,
            flush=True,
        )
        stop.wait()


def jobs(args: argparse.Namespace, out: TextIO) -> None:
    """``sabot-lab jobs``: cancel and delete the jobs asked for, then print a job's log
    records (``--logs``) or list a page of jobs (``--insecure`` allows a plain ``grpc://``
    JobManager off loopback)."""
    from sabot_lab.client import connect

    cluster = connect(
        args.jobmanager, args.token, args.tls_ca, args.insecure, args.tls_cert, args.tls_key
    )
    if args.cancel:
        state = cluster.job(args.cancel).cancel()
        if state in ("FINISHED", "FAILED"):  # (a cancel leaves an ended job as it was)
            raise JobEndedError(f"job {args.cancel} already ended {state}: nothing to cancel")
        print(f"{args.cancel}: {state}", file=out)
    for job_id in args.delete:
        cluster.job(job_id).delete()
        print(f"{job_id}: deleted", file=out)
    if args.delete_ended_before is not None:
        deleted = cluster.delete_ended(args.delete_ended_before)
        print(
            f"deleted {len(deleted)} jobs that ended {args.delete_ended_before:g} s ago or earlier",
            file=out,
        )
    if args.logs:
        print_logs(cluster.job(args.logs).logs(level=args.level, tail=args.tail), out)
        return
    list_jobs(cluster, args.limit, args.before, out)


def print_logs(records: Any, out: TextIO) -> None:
    """Print a job's log records (a table of :meth:`~sabot_lab.client.Job.logs`), one line
    each, a record's error text indented below it.

    >>> import io, sys
    >>> from sabot_lab.observability.log_records import log_table
    >>> print_logs(log_table([{"time": 0.5, "level": "error", "event": "task j1/0.0/0 failed",
    ...     "task_id": "j1/0.0/0", "error": "UDFError: boom"}]), sys.stdout)
    1970-01-01 00:00:00.500 ERROR    j1/0.0/0  task j1/0.0/0 failed
        UDFError: boom
    """
    from sabot_lab.observability.log_records import record_line

    for record in records.to_pylist():
        print(record_line(record), file=out)
        if record["error"]:
            for line in record["error"].splitlines():
                print(f"    {line}", file=out)


def list_jobs(cluster: Any, limit: int, before: str | None, out: TextIO) -> None:
    """Print a page of a cluster's jobs, newest first."""
    print(f"{'job':<18}{'state':<11}{'created':<21}name", file=out)
    for job in cluster.jobs(limit, before):
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job["created_at"]))
        print(f"{job['job_id']:<18}{job['state']:<11}{created:<21}{job['name']}", file=out)


if __name__ == "__main__":
    sys.exit(main())
