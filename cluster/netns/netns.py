"""Build, list and remove a virtual multi-host cluster of network namespaces (see
:mod:`virtual_hosts`), as root::

    python cluster/netns/netns.py up --agents 3     # db, jm1, jm2, agent1..3, client
                                                    # (or python -m cluster.netns.netns)
    ip netns exec slab-cli-jm1 sabot-lab jobmanager --host 0.0.0.0 ...
    python cluster/netns/netns.py up --postgres     # and PostgreSQL on db (SSL, SCRAM)
    python cluster/netns/netns.py status
    python cluster/netns/netns.py down

``up`` prints each host's address and namespace and leaves them up; with ``--postgres`` it
also makes a cluster CA and a certificate for each host (``sabot-lab certs``) and starts
PostgreSQL on ``db`` (:mod:`cluster.netns.postgres_host`), printing the JobManagers'
``sslmode=verify-full`` URL. ``down`` removes them (and the processes still running in them,
and the run's files). ``--prefix`` names another set.

>>> parser().parse_args(["up", "--agents", "2"]).agents
2
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the package from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cluster.netns.host_certificates import make_certificates
from cluster.netns.postgres_host import PostgresHost
from cluster.netns.virtual_hosts import (
    PREFIX,
    VirtualCluster,
    cluster_hosts,
    namespaces,
    remove_namespaces,
)

__all__ = ["main", "parser"]

_RUN = "cli"


def parser() -> argparse.ArgumentParser:
    """The command line's arguments."""
    commands = argparse.ArgumentParser(prog="netns.py", description=__doc__.split("::")[0])
    commands.add_argument("--prefix", default=PREFIX, help=f"namespace names' prefix ({PREFIX})")
    verbs = commands.add_subparsers(dest="command", required=True)
    up = verbs.add_parser("up", help="build the hosts and leave them up")
    up.add_argument("--agents", type=int, default=3, help="agent hosts (3)")
    up.add_argument("--jobmanagers", type=int, default=2, help="JobManager hosts (2)")
    up.add_argument("--no-db", action="store_true", help="without the db host")
    up.add_argument("--postgres", action="store_true",
                    help="start PostgreSQL on db, with host certificates of a new CA")  # fmt: skip
    verbs.add_parser("status", help="list the hosts and their addresses")
    verbs.add_parser("down", help="remove the hosts and what runs in them")
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; its exit code."""
    args = parser().parse_args(argv)
    mine = [n for n in namespaces(args.prefix) if n.startswith(f"{args.prefix}-{_RUN}-")]
    if args.command == "up":
        if mine:
            print(f"already up: {' '.join(mine)} (netns.py down first)", file=sys.stderr)
            return 1
        if args.postgres and args.no_db:
            print("--postgres runs on the db host: drop --no-db", file=sys.stderr)
            return 1
        hosts = cluster_hosts(args.agents, not args.no_db, args.jobmanagers)
        made = VirtualCluster(hosts, args.prefix, run=_RUN).up(keep=True)
        if args.postgres:
            try:
                _start_postgres(made)
            except BaseException:
                made.down()
                raise
        mine = [n for n in namespaces(args.prefix) if n.startswith(f"{args.prefix}-{_RUN}-")]
    if args.command == "down":
        remove_namespaces(mine)
        for files in Path(tempfile.gettempdir()).glob(f"{args.prefix}-{_RUN}-*"):
            shutil.rmtree(files, ignore_errors=True)
        print(f"removed {len(mine)} namespaces")
        return 0
    for name in mine:
        shown = subprocess.run(
            ["ip", "-n", name, "-4", "-br", "addr", "show", "dev", "eth0"],
            capture_output=True,
            text=True,
        ).stdout.split()
        address = shown[2].split("/")[0] if len(shown) > 2 else "(switch)"
        print(f"{name.removeprefix(f'{args.prefix}-{_RUN}-'):<10}{address:<14}{name}")
    return 0


def _start_postgres(made: VirtualCluster) -> None:
    """Certificates for every host and PostgreSQL on ``db``; print where they are."""
    pki = make_certificates(made, made.workdir / "pki")
    postgres = PostgresHost(made, pki.cert("db"), pki.key("db")).start()
    print(f"SABOT_TLS_CA={pki.ca}  (host certificates: {pki.root / 'hosts'})")
    print(f"SABOT_DATABASE_URL={postgres.url(pki.ca)}")


if __name__ == "__main__":
    sys.exit(main())
