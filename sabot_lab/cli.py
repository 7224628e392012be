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

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sabot-lab``."""
    parser = argparse.ArgumentParser(
        prog="sabot-lab", description="sabot-lab: lazy Arrow pipelines"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the fintech demo pipeline on generated data")
    demo.add_argument("--rows", type=int, default=5_000_000, help="quotes to generate (default 5M)")
    agent = commands.add_parser(
        "agent", help="run an agent: a Flight server executing tasks (token from SABOT_TOKEN)"
    )
    agent.add_argument("--host", default="127.0.0.1", help="address to listen on")
    agent.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    agent.add_argument("--slots", type=int, default=2, help="tasks run at once (default 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sabot-lab`` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from sabot_lab.demo import run_demo

        run_demo(args.rows, sys.stdout)
    elif args.command == "agent":
        from sabot_lab.agent import serve_agent

        serve_agent(args.host, args.port, args.slots, os.environ.get("SABOT_TOKEN"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
