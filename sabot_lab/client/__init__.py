"""The client side of a cluster: ``connect`` to a JobManager, a ``LocalCluster`` started on
this machine through the command line, and the ``Job`` handle a submission returns.

Modules: :mod:`~sabot_lab.client.cluster` (``Cluster``, ``connect``),
:mod:`~sabot_lab.client.job` (``Job``), :mod:`~sabot_lab.client.local` (``LocalCluster``,
``stop_process``), :mod:`~sabot_lab.client.local_registry` (local clusters kept alive:
``local_clusters``, ``LocalClusterInfo``, ``AttachedCluster``).

May import: the wire layer (Flight calls and credentials, job states), :mod:`sabot_lab.display`
and :mod:`sabot_lab.errors`; never the runtime (JobManager, agent server) nor the notebook
plug-in. ``repr`` of a client object makes no network call.
"""

from sabot_lab.client.cluster import Cluster, connect
from sabot_lab.client.job import Job
from sabot_lab.client.local import LocalCluster, stop_process
from sabot_lab.client.local_registry import AttachedCluster, LocalClusterInfo, local_clusters

__all__ = [
    "AttachedCluster",
    "Cluster",
    "Job",
    "LocalCluster",
    "LocalClusterInfo",
    "connect",
    "local_clusters",
    "stop_process",
]
