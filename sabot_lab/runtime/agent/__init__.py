"""Agents: processes that run tasks and exchange rows over Arrow Flight.

Start one with ``sabot-lab agent --slots 2`` (the cluster token comes from
``SABOT_CLUSTER_TOKEN``); it prints ``sabot-lab agent ready <uri>`` once it serves.

May import ``runtime.protocol``, ``runtime.transport``, ``physical``, ``engine`` and
``logical``; never the JobManager, the client or the notebook.
"""

from sabot_lab.runtime.agent.server import AgentServer, TaskRecord, fetch_rows, rows_descriptor
from sabot_lab.runtime.agent.store import ShuffleStore

__all__ = [
    "AgentServer",
    "ShuffleStore",
    "TaskRecord",
    "fetch_rows",
    "rows_descriptor",
]
