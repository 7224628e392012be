"""The local clusters the Jupyter server itself starts (the sidebar's "New local cluster"): a
:class:`~sabot_lab.client.LocalCluster` owned by the server process, its JobManager and
agents in a session of their own, so that they outlive every kernel. Each is kept alive
under a name of its own (``jupyter-1``, ...), so a notebook attaches to it
(``sl.LocalCluster.attach("jupyter-1")``), and the sidebar lists it like the clusters started
from kernels. Stop ends it; they all end when the Jupyter server exits
(:meth:`ServerClusters.close_all`).

May import: the client layer (:class:`~sabot_lab.client.LocalCluster`), :mod:`sabot_lab.errors`.
"""

from __future__ import annotations

import atexit
import threading

from sabot_lab.client.local import LocalCluster
from sabot_lab.client.local_registry import local_clusters, running_clusters
from sabot_lab.errors import ClusterError

__all__ = ["MAX_AGENTS", "ServerClusters"]

MAX_AGENTS = 8
"""Agents a cluster started from the sidebar may have at most."""


class ServerClusters:
    """The local clusters this Jupyter server started, by the key the sidebar knows them by
    (``local-<record key>``).

    >>> clusters = ServerClusters()
    >>> clusters.keys()
    []
    >>> clusters.start(agents=0)
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: a local cluster from the sidebar has 1 to 8 agents, not 0
    """

    def __init__(self) -> None:
        self._clusters: dict[str, LocalCluster] = {}
        self._lock = threading.Lock()
        self._starting = threading.Lock()
        atexit.register(self.close_all)

    def start(self, agents: int = 2) -> str:
        """Start a local cluster of ``agents`` agents (blocking, seconds: run it on a worker
        thread); return its key."""
        if isinstance(agents, bool) or not isinstance(agents, int) or not 1 <= agents <= MAX_AGENTS:
            raise ClusterError(
                f"a local cluster from the sidebar has 1 to {MAX_AGENTS} agents, not {agents!r}"
            )
        with self._starting:  # one at a time, so that two never take the same name
            taken = {info.name for info in local_clusters()}
            name = next(
                f"jupyter-{n}" for n in range(1, len(taken) + 2) if f"jupyter-{n}" not in taken
            )
            cluster = LocalCluster(agents=agents, keep_alive=True, name=name)
        record = next(r for r in running_clusters() if r.uri == cluster.uri)
        key = f"local-{record.key}"
        with self._lock:
            self._clusters[key] = cluster
        return key

    def keys(self) -> list[str]:
        """The keys of the clusters started here that still run."""
        with self._lock:
            return list(self._clusters)

    def stop(self, key: str) -> bool:
        """Stop the cluster ``key`` if this server started it; whether it did."""
        with self._lock:
            cluster = self._clusters.pop(key, None)
        if cluster is None:
            return False
        cluster.close()
        return True

    def close_all(self) -> None:
        """Stop every cluster started here."""
        for key in self.keys():
            self.stop(key)
