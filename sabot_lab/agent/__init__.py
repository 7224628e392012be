"""Agents: processes that run tasks and exchange rows over Arrow Flight.

Start one with ``sabot-lab agent --slots 2`` (the token comes from ``SABOT_TOKEN``); it prints
``sabot-lab agent ready <uri>`` once it serves.
"""

from sabot_lab.agent.server import RESULT, AgentServer, TaskRecord, fetch_rows, rows_ticket
from sabot_lab.agent.store import ShuffleStore

__all__ = [
    "RESULT",
    "AgentServer",
    "ShuffleStore",
    "TaskRecord",
    "fetch_rows",
    "rows_ticket",
    "serve_agent",
]


def serve_agent(
    host: str,
    port: int,
    slots: int,
    token: str | None,
    jobmanager: str | None = None,
    memory_bytes: int | None = None,
    heartbeat_interval: float = 2.0,
) -> None:
    """Run an agent in this process until it is stopped (SIGTERM or SIGINT)."""
    import signal
    import sys

    server = AgentServer(
        host,
        port,
        slots,
        token,
        jobmanager=jobmanager,
        memory_bytes=memory_bytes,
        heartbeat_interval=heartbeat_interval,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.shutdown())
    print(f"sabot-lab agent ready {server.uri}", flush=True)
    server.serve()
    sys.stdout.flush()
