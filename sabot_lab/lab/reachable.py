"""The clusters the JupyterLab server extension can reach: this user's local clusters (from the
local registry, kept alive or not) and remote JobManagers added by URL with a read-only token.

Tokens stay here, on the server: :meth:`Reachable.reader` and :meth:`Reachable.controller` give
the connections the handlers call the JobManagers with, and nothing of a :class:`Reached`
cluster that is shown (see :meth:`Reached.to_dict`) holds a token.

May import: the client layer (:mod:`sabot_lab.client`, its local registry), the wire layer's
credentials and roles, :mod:`sabot_lab.errors`.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sabot_lab.client.cluster import Cluster
from sabot_lab.client.local_registry import AttachedCluster, ClusterRecord, running_clusters
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.protocol import Role
from sabot_lab.runtime.transport import Credentials

__all__ = ["NotReached", "Reachable", "Reached"]


class NotReached(ClusterError):
    """No cluster of this key is reached (any more): it stopped, or it was removed."""


@dataclass(frozen=True)
class Reached:
    """A cluster the sidebar lists: ``key`` (``local-…`` or ``remote-…``), its ``name``, the
    JobManager's ``uri``, whether it is ``local`` and whether it may be ``controlled`` (its jobs
    cancelled, it stopped: local clusters only, whose record holds the submit token). The
    credentials are kept apart from what is shown.

    >>> shown = Reached("remote-1", "prod", "grpc://127.0.0.1:1", False, False, Credentials("t"))
    >>> shown.to_dict()
    {'key': 'remote-1', 'name': 'prod', 'uri': 'grpc://127.0.0.1:1', 'local': False, 'controlled': False}
    """

    key: str
    name: str
    uri: str
    local: bool
    controlled: bool
    read: Credentials = field(repr=False)
    control: Credentials | None = field(default=None, repr=False)
    record: ClusterRecord | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """What the browser may see of it (no token)."""
        return {
            "key": self.key,
            "name": self.name,
            "uri": self.uri,
            "local": self.local,
            "controlled": self.controlled,
        }

    @classmethod
    def of_record(cls, record: ClusterRecord) -> Reached:
        """The local cluster of registry ``record``."""
        trusted = Path(record.tls_ca).read_bytes() if record.tls_ca else None
        return cls(
            key=f"local-{record.key}",
            name=record.name,
            uri=record.uri,
            local=True,
            controlled=True,
            read=Credentials(record.tokens[Role.READ.variable], trusted),
            control=Credentials(record.tokens[Role.SUBMIT.variable], trusted),
            record=record,
        )


class Reachable:
    """The clusters this server reaches: the running local ones, read from the registry at
    each :meth:`clusters`, then the remote ones :meth:`add`\\ ed (kept in memory, for the
    server's life).

    >>> reachable = Reachable()
    >>> all(cluster.local for cluster in reachable.clusters())
    True
    >>> reachable.add("grpc://127.0.0.1:1", "read-token")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.UnreachableError: grpc://127.0.0.1:1: unreachable ...
    """

    def __init__(self) -> None:
        self._remote: dict[str, Reached] = {}
        self._lock = threading.Lock()

    def clusters(self) -> list[Reached]:
        """Every cluster reached: local ones oldest first, then remote ones in order added."""
        local = []
        for record in running_clusters():
            try:
                local.append(Reached.of_record(record))
            except (OSError, KeyError):
                continue  # a record without its tokens or certificates: it cannot be reached
        with self._lock:
            return [*local, *self._remote.values()]

    def add(
        self, uri: str, token: str | None, name: str | None = None, tls_ca: str | None = None
    ) -> Reached:
        """Watch the JobManager at ``uri`` with ``token`` (a read-only one is enough; it is
        kept here, never shown); ``tls_ca``: a PEM file of the certificates to trust for a
        ``grpc+tls://`` one. It is checked with a first call: a :class:`ClusterError`
        says what was wrong."""
        credentials = Credentials.from_env(token or "", tls_ca, role=Role.READ)
        Cluster(uri, credentials).jobs(limit=1)
        reached = Reached(
            key=f"remote-{secrets.token_hex(6)}",
            name=name or uri,
            uri=uri,
            local=False,
            controlled=False,
            read=credentials,
        )
        with self._lock:
            self._remote[reached.key] = reached
        return reached

    def remove(self, key: str) -> None:
        """Stop watching the remote cluster ``key`` (a local one is listed while it runs)."""
        with self._lock:
            if self._remote.pop(key, None) is None:
                raise NotReached(f"no cluster added by URL has the key {key!r}")

    def find(self, key: str) -> Reached:
        """The cluster ``key``; :class:`NotReached` if it is not (or no longer) reached."""
        for reached in self.clusters():
            if reached.key == key:
                return reached
        raise NotReached(f"no cluster {key!r} is reached from here (it may have stopped)")

    def reader(self, key: str) -> Cluster:
        """A connection to cluster ``key`` with its read-only token."""
        reached = self.find(key)
        return Cluster(reached.uri, reached.read)

    def controller(self, key: str) -> Cluster:
        """A connection to cluster ``key`` with its submit token, for Cancel: local clusters
        only."""
        reached = self.find(key)
        if reached.control is None:
            raise ClusterError(
                f"cluster {reached.name!r} was added by URL with a read-only token: "
                "it can only be watched from here"
            )
        return Cluster(reached.uri, reached.control)

    def stop(self, key: str) -> None:
        """Stop the local cluster ``key``: its agents, then its JobManager."""
        reached = self.find(key)
        if reached.record is None:
            raise ClusterError(
                f"cluster {reached.name!r} was added by URL: only local clusters are stopped "
                "from here"
            )
        AttachedCluster(reached.record).close()
