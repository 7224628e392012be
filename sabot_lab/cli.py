"""The ``sabot-lab`` command line.

>>> from sabot_lab.cli import build_parser
>>> build_parser().parse_args(["demo", "--rows", "1000"]).rows
1000
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sabot-lab``."""
    parser = argparse.ArgumentParser(
        prog="sabot-lab", description="sabot-lab: lazy Arrow pipelines"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the fintech demo pipeline on generated data")
    demo.add_argument("--rows", type=int, default=5_000_000, help="quotes to generate (default 5M)")
    agent = _server_parser(
        commands, "agent", "run an agent: a Flight server executing tasks (token from SABOT_TOKEN)"
    )
    agent.add_argument("--slots", type=int, default=2, help="tasks run at once (default 2)")
    agent.add_argument("--jobmanager", help="URI of the JobManager to register with")
    agent.add_argument("--memory", type=parse_bytes, help="memory offered, e.g. 4GB")
    agent.add_argument("--heartbeat-interval", type=float, default=2.0, help="seconds (default 2)")
    jm = _server_parser(
        commands, "jobmanager", "run a JobManager (DBOS-backed; token from SABOT_TOKEN)"
    )
    jm.add_argument("--workdir", required=True, help="directory for its databases and results")
    jm.add_argument(
        "--db",
        default=os.environ.get("SABOT_DATABASE_URL"),
        help="postgresql:// URL (default: SQLite in --workdir)",
    )
    jm.add_argument("--heartbeat-timeout", type=float, default=10.0, help="seconds (default 10)")
    return parser


def _server_parser(commands: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand that runs a Flight server: ``--host`` and ``--port``."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sabot-lab`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from sabot_lab.demo import run_demo

        run_demo(args.rows, sys.stdout)
    elif args.command in ("agent", "jobmanager"):
        from sabot_lab.transport import serve_until_stopped

        serve_until_stopped(_server(args), args.command)
    return 0


def _server(args: argparse.Namespace) -> Any:
    """The agent or JobManager the command line asks for."""
    token = os.environ.get("SABOT_TOKEN")
    if args.command == "agent":
        from sabot_lab.agent import AgentServer

        return AgentServer(
            args.host,
            args.port,
            args.slots,
            token,
            jobmanager=args.jobmanager,
            memory_bytes=args.memory,
            heartbeat_interval=args.heartbeat_interval,
        )
    from sabot_lab.control.jobmanager import JobManager

    return JobManager(args.workdir, args.host, args.port, token, args.db, args.heartbeat_timeout)


if __name__ == "__main__":
    sys.exit(main())
